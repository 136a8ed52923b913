"""The playground's fields (one-line messages, the size limit) and its endpoint: a setup's
seeds trained as one cohort, with one decision-region PNG per kept epoch and the history."""
from __future__ import annotations

import base64

import pytest

from hyperlab.lab import playground
from hyperlab.lab.views import KnobError


def test_absent_or_empty_fields_keep_the_defaults():
    assert playground.parse({}) == playground.Setup()
    setup = playground.parse({"hidden": "8, 4", "dataset": "spiral", "l2": "0.001", "seeds": ""})
    assert (setup.hidden, setup.dataset, setup.l2, setup.seeds) == ((8, 4), "spiral", 0.001, 3)


@pytest.mark.parametrize("knobs, knob, words", [
    ({"dataset": "mnist"}, "dataset", "expected one of moons, blobs, circles, spiral"),
    ({"hidden": "8, x"}, "hidden", "hidden: expected an int from 1 to 128, found 'x'"),
    ({"hidden": "1,1,1,1,1"}, "hidden", "at most 4 layers"),
    ({"learning_rate": "nan"}, "learning_rate", "expected a number from 1e-07 to 10.0"),
    ({"batch_size": "0"}, "batch_size", "expected an int >= 1, found '0'"),
    ({"seeds": "5", "epochs": "601"}, "epochs", "more than the playground's 3000 run-epochs"),
    ({"momentum": "0.9"}, "momentum", "not a field of the playground"),
    ({"batch_size": "1", "epochs": "200"}, "batch_size", "100,000 weight updates a seed"),
])
def test_a_bad_field_is_named_with_one_line(knobs, knob, words):
    with pytest.raises(KnobError, match=words) as info:
        playground.parse(knobs)
    assert info.value.knob == knob


def test_the_endpoint_trains_every_seed_and_draws_each_kept_epoch(client):
    answer = client.post("/api/playground", json={"hidden": "4", "seeds": "2", "epochs": "4"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["epochs"] == [0, 1, 2, 3, 4]                     # the initial weights, then each
    assert [s["seed"] for s in body["seeds"]] == [0, 1]
    for seed in body["seeds"]:
        assert len(seed["frames"]) == 5 and len(seed["history"]["loss"]) == 4
        png = base64.b64decode(seed["frames"][-1].removeprefix("data:image/png;base64,"))
        assert png.startswith(b"\x89PNG")
    assert body["seeds"][0]["frames"][0] != body["seeds"][0]["frames"][-1]   # it learned
    assert body["seeds"][0]["history"]["loss"] != body["seeds"][1]["history"]["loss"]
    assert len(body["points"]["x"]) == len(body["points"]["label"]) > 100
    assert len(body["colors"]) == 2                               # moons: two classes
    # B_simple after the last epoch: seed 0's model trained alone by fit, then measured
    from hyperlab.science import noise_scale
    setup = playground.parse({"hidden": "4", "seeds": "2", "epochs": "4"})
    model, _, (x, y), validation = playground._build(setup)
    model.fit(x, y, epochs=4, batch_size=setup.batch_size, seed=0, verbose=0,
              validation_data=validation)
    expect = noise_scale(model, x, y, probe=len(x)).b_simple
    assert body["seeds"][0]["noise_scale"] == pytest.approx(expect, rel=1e-3)


def test_the_endpoint_answers_a_bad_field_with_400_and_its_name(client):
    answer = client.post("/api/playground", json={"seeds": "9"})
    assert answer.status_code == 400
    assert answer.json() == {"error": "seeds: expected an int from 1 to 5, found '9'",
                             "knob": "seeds"}
    assert client.get("/api/playground").json()["form"][0]["key"] == "dataset"


def test_the_doctor_endpoint_reports_what_hyperlab_doctor_finds_on_seed_0(client, capsys):
    import shlex

    from hyperlab.cli.main import main
    knobs = {"dataset": "moons", "hidden": "8", "learning_rate": "10", "epochs": "6"}
    answer = client.post("/api/playground/doctor", json=knobs)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    kinds = [f["kind"] for f in body["findings"]]
    assert kinds and all(f["try"] == playground.FIXES[f["kind"]] for f in body["findings"])
    # the command line it names diagnoses the same run: the same findings
    assert body["command"].startswith("hyperlab doctor --dataset moons --hidden 8 ")
    assert main([*shlex.split(body["command"])[1:], "--json"]) == 0
    import json
    cli = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in cli["findings"]] == kinds
    assert [f["message"] for f in cli["findings"]] == [f["message"] for f in body["findings"]]
    healthy = client.post("/api/playground/doctor", json={"hidden": "8", "epochs": "30"}).json()
    assert healthy["findings"] == [] and healthy["lines"][0].startswith("no finding")
    bad = client.post("/api/playground/doctor", json={"epochs": "x"})
    assert bad.status_code == 400 and bad.json()["knob"] == "epochs"
