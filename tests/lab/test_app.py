"""The lab's routes against a real tiny study trained into a store: the token, the studies
list, one study's answer, measures and curves, bad knobs, training with progress as
server-sent events, cancel."""
from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest

from hyperlab import studies
from hyperlab.cli.main import main
from hyperlab.lab.app import create_app
from hyperlab.lab.jobs import partial_histories
from starlette.testclient import TestClient  # conftest imported it, quietly

from lab_cases import TOKEN

PAGES = ["/", "/static/lab.js", "/static/vendor/plotly-basic.min.js", "/api/studies",
         "/api/studies/lab-tiny", "/api/jobs/current"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def events(client, job_id: str) -> list[dict]:
    """Every progress event of the job, until the stream ends with the job."""
    found = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line:
                assert line.startswith("data: ")
                found.append(json.loads(line[len("data: "):]))
    return found


# ------------------------------------------------------------------------------ the token
@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_every_request_without_the_token_is_refused(trained, token):
    path, db = trained
    with TestClient(create_app(db, TOKEN, (path,))) as bare:
        for page in PAGES:
            params = {} if token is None else {"token": token}
            answer = bare.get(page, params=params)
            assert answer.status_code == 403, page
            assert "token" in answer.text
        assert bare.post("/api/studies/lab-tiny/run", json={}).status_code == 403


def test_the_token_in_the_query_or_the_header_opens_every_page(trained, client):
    path, db = trained
    with TestClient(create_app(db, TOKEN, (path,))) as bare:
        for page in PAGES:
            assert bare.get(page, params={"token": TOKEN}).status_code == 200, page
    for page in PAGES:
        assert client.get(page).status_code == 200, page


def test_the_page_carries_the_token_and_forbids_other_sources(client):
    answer = client.get("/")
    assert f'content="{TOKEN}"' in answer.text
    assert f"/static/lab.js?token={TOKEN}" in answer.text
    assert "default-src 'self'" in answer.headers["content-security-policy"]


# ------------------------------------------------------------------------------ reading
def test_the_list_holds_every_builtin_study_and_the_file_with_its_answer(client, trained, capsys):
    body = client.get("/api/studies").json()
    names = [s["name"] for s in body["studies"]]
    assert names == studies.builtin_names() + ["lab-tiny"]
    tiny = body["studies"][-1]
    assert (tiny["stored"], tiny["planned"], tiny["builtin"]) == (4, 4, False)
    assert tiny["question"] == "Does momentum help a tiny network?"
    path, db = trained
    code, out, _ = cli(capsys, "show", path, "--db", db)
    assert code == 0 and tiny["answer"] in out.splitlines()
    assert all(s["answer"] is None and s["stored"] == 0 for s in body["studies"][:-1])


def test_a_study_shows_the_answer_measures_and_every_seed_with_median_and_band(client, trained,
                                                                               capsys):
    body = client.get("/api/studies/lab-tiny").json()
    path, db = trained
    code, out, _ = cli(capsys, "show", path, "--db", db)
    assert code == 0
    assert body["answer"] == out.strip().splitlines()[-len(body["answer"]):]
    assert body["table"] in out
    assert (body["stored"], body["planned"], body["axis"]) == (4, 4, "Momentum")
    assert body["metrics"] == ["val_accuracy", "accuracy", "val_loss", "loss", "learning_rate"]
    assert [v["label"] for v in body["values"]] == ["0.0", "0.9"]
    for value in body["values"]:
        assert value["seeds"] == [0, 1]
        per_epoch = value["per_epoch"]
        assert per_epoch["updates"] == [5.0, 5.0]             # 500 examples, batch 100
        assert per_epoch["examples"] == [500, 500]
        assert all(t > 0 for t in per_epoch["time"])
        curves = value["curves"]["val_accuracy"]
        seeds = np.array(curves["seeds"], float)
        assert seeds.shape == (2, 3)
        assert np.allclose(curves["median"], np.median(seeds, axis=0))
        assert np.all(np.array(curves["low"]) <= np.array(curves["median"]))
        assert np.all(np.array(curves["median"]) <= np.array(curves["high"]))
    lead = body["measures"][0]
    assert lead["name"] == "final_val_accuracy" and lead["answer"] == body["answer"][0]
    finals = {v["label"]: v["curves"]["val_accuracy"]["seeds"] for v in body["values"]}
    for value in lead["values"]:
        assert value["seeds"] == pytest.approx(
            {str(s): finals[value["label"]][s][-1] for s in (0, 1)}, rel=1e-6)


def test_the_form_offers_the_knobs_and_marks_the_swept_field(client):
    form = {f["key"]: f for f in client.get("/api/studies/lab-tiny").json()["form"]}
    assert form["values0"]["value"] == "0.0, 0.9"
    assert (form["repeats"]["value"], form["epochs"]["value"]) == ("2", "3")
    assert form["optimizer"]["value"] == "SGD" and "Adam" in form["optimizer"]["choices"]
    assert form["learning_rate"]["value"] == "0.05"
    assert all(f["swept"] is None for f in form.values())


def test_knobs_select_other_runs_and_say_none_is_stored(client):
    body = client.get("/api/studies/lab-tiny", params={"epochs": "4", "values0": "0.0, 0.5"}).json()
    assert (body["stored"], body["planned"], body["answer"]) == (0, 4, None)
    assert [v["label"] for v in body["values"]] == ["0.0", "0.5"]
    assert all(v["seeds"] == [] for v in body["values"])
    assert {f["key"]: f["value"] for f in body["form"]}["epochs"] == "4"


def test_a_builtin_study_opens_with_nothing_stored(client):
    body = client.get("/api/studies/momentum").json()
    assert body["stored"] == 0 and body["answer"] is None
    assert {f["key"]: f["swept"] for f in body["form"]}["optimizer"] is None
    body = client.get("/api/studies/optimizers").json()
    assert {f["key"]: f["swept"] for f in body["form"]}["optimizer"] == "compile.optimizer"


# ------------------------------------------------------------------------------ bad input
def test_a_bad_knob_gets_the_command_lines_one_line_message(client, trained, capsys):
    answer = client.get("/api/studies/lab-tiny", params={"epochs": "x"})
    assert answer.status_code == 400 and answer.json()["knob"] == "epochs"
    path, db = trained
    code, _, err = cli(capsys, "show", path, "--db", db, "--set", "fit.epochs=x")
    assert code == 2 and err.strip() == f"hyperlab: error: {answer.json()['error']}"
    answer = client.post("/api/studies/lab-tiny/run", json={"repeats": "0"})
    assert answer.status_code == 400 and answer.json()["knob"] == "repeats"
    code, _, err = cli(capsys, "show", path, "--db", db, "--repeats", "0")
    assert err.strip() == f"hyperlab: error: {answer.json()['error']}"


@pytest.mark.parametrize("knobs, knob, words", [
    ({"values0": "0.0, x"}, "values0", "expected values separated by commas"),
    ({"values0": "0.0, 0.0"}, "values0", "labels must be distinct"),
    ({"learning_rate": "-1"}, "learning_rate", "non-negative"),
    ({"optimizer": "Foo"}, "optimizer", "Unknown optimizer 'Foo'"),
    ({"speed": "1"}, "speed", "not a knob"),
    ({"repeats": "100000", "epochs": "100"}, "repeats", "the lab trains at most"),
])
def test_bad_knobs_are_400_naming_the_field_and_train_nothing(client, knobs, knob, words):
    answer = client.post("/api/studies/lab-tiny/run", json=knobs)
    assert answer.status_code == 400
    assert answer.json()["knob"] == knob and words in answer.json()["error"]
    assert client.get("/api/jobs/current").json() is None


def test_unknown_studies_and_jobs_are_404(client):
    assert client.get("/api/studies/nope").status_code == 404
    assert client.post("/api/studies/nope/run", json={}).status_code == 404
    assert client.get("/api/jobs/nope/events").status_code == 404
    assert client.post("/api/jobs/nope/cancel").status_code == 404
    assert client.post("/api/studies/lab-tiny/run", content=b"[1]").status_code == 400


# ------------------------------------------------------------------------------ training
def test_run_trains_what_is_missing_and_streams_progress(own_client):
    answer = own_client.post("/api/studies/lab-tiny/run", json={"epochs": "4"})
    assert answer.status_code == 202
    seen = events(own_client, answer.json()["id"])
    last = seen[-1]
    assert last["state"] == "done"
    assert (last["done"], last["total"]) == (2 * 2 * 4, 2 * 2 * 4)   # run-epochs
    assert (last["cohorts_done"], last["cohorts"]) == (1, 1)
    done = [e["done"] for e in seen]
    assert done == sorted(done)
    body = own_client.get("/api/studies/lab-tiny", params={"epochs": "4"}).json()
    assert (body["stored"], body["planned"]) == (4, 4) and body["answer"]
    again = own_client.post("/api/studies/lab-tiny/run", json={"epochs": "4"}).json()
    last = events(own_client, again["id"])[-1]
    assert (last["state"], last["total"]) == ("done", 0)
    assert "in the store already" in last["message"]


def test_runs_in_training_are_drawn_and_cancel_keeps_their_checkpoint(own_client, trained):
    answer = own_client.post("/api/studies/lab-tiny/run", json={"epochs": "20000"})
    job = answer.json()["id"]
    busy = own_client.post("/api/studies/lab-tiny/run", json={})
    assert busy.status_code == 409 and "is training" in busy.json()["error"]
    with own_client.stream("GET", f"/api/jobs/{job}/events") as stream:
        for line in stream.iter_lines():
            if line and json.loads(line[len("data: "):])["chunks_done"] >= 1:
                break
    body = own_client.get("/api/studies/lab-tiny", params={"epochs": "20000"}).json()
    assert (body["stored"], body["answer"], body["measures"]) == (0, None, [])
    for value in body["values"]:                   # every seed so far, marked as training
        assert value["seeds"] == [0, 1] and value["training"] == [True, True]
        assert all(len(c) >= 25 for c in value["curves"]["val_accuracy"]["seeds"])
    assert own_client.post(f"/api/jobs/{job}/cancel").status_code == 200
    last = events(own_client, job)[-1]
    assert last["state"] == "cancelled" and "resume" in last["message"]
    assert own_client.get("/api/studies/lab-tiny", params={"epochs": "20000"}).json()["stored"] == 0
    assert own_client.get("/api/jobs/current").json()["state"] == "cancelled"


def test_partial_histories_read_a_cohorts_checkpoint(trained, tmp_path):
    """The checkpoint a cancel leaves holds every run's epochs so far: their first three are
    the stored three-epoch runs' (a run's numbers do not depend on its epoch count)."""
    path, db = trained
    copy = tmp_path / "hyperlab.db"
    shutil.copy(db, copy)
    with TestClient(create_app(copy, TOKEN, (path,)), headers={"X-Lab-Token": TOKEN}) as lab:
        job = lab.post("/api/studies/lab-tiny/run", json={"epochs": "20000"}).json()["id"]
        with lab.stream("GET", f"/api/jobs/{job}/events") as stream:
            for line in stream.iter_lines():
                if line and json.loads(line[len("data: "):])["chunks_done"] >= 1:
                    break
        lab.post(f"/api/jobs/{job}/cancel")
        assert events(lab, job)[-1]["state"] == "cancelled"
        stored = lab.get("/api/studies/lab-tiny").json()["values"]
    with sqlite3.connect(copy) as conn:
        epochs, blob = conn.execute("SELECT epochs_done, blob FROM checkpoints").fetchone()
    partial = partial_histories(blob, 4)
    assert all(len(h["val_loss"]) == epochs >= 25 for h in partial)
    three = [run[:3] for v in stored for run in v["curves"]["val_loss"]["seeds"]]
    for h in partial:
        assert sum(np.allclose(h["val_loss"][:3], run, rtol=1e-6) for run in three) == 1


def test_runs_another_process_stores_show_on_the_next_request(trained, tmp_path):
    path, db = trained
    copy = tmp_path / "shared.db"
    shutil.copy(db, copy)
    with TestClient(create_app(copy, TOKEN, (path,)), headers={"X-Lab-Token": TOKEN}) as lab:
        knobs = {"epochs": "2"}
        assert lab.get("/api/studies/lab-tiny", params=knobs).json()["stored"] == 0
        assert main(["run", str(path), "--db", str(copy), "--set", "fit.epochs=2",
                     "--out", str(tmp_path), "--no-progress"]) == 0     # as 'hyperlab run'
        body = lab.get("/api/studies/lab-tiny", params=knobs).json()
        assert body["stored"] == 4 and body["answer"]


def test_a_study_file_edited_into_a_bad_one_is_a_one_line_400(trained, tmp_path):
    path, db = trained
    copy = tmp_path / "lab-tiny.toml"
    copy.write_text(path.read_text())
    with TestClient(create_app(db, TOKEN, (copy,)), headers={"X-Lab-Token": TOKEN}) as lab:
        assert lab.get("/api/studies/lab-tiny").status_code == 200
        copy.write_text("name = ")
        for page in ("/api/studies", "/api/studies/lab-tiny"):
            answer = lab.get(page)
            assert answer.status_code == 400 and "not valid TOML" in answer.json()["error"]
