"""The doctor: the chance loss against the loss of a constant prediction computed directly,
the mismatch and spike rules on their own, runs built to show each pathology (and a
healthy one that shows none), and the command line."""
import json
import math
import subprocess

import numpy as np
import pytest

import hyperlab as hl
from hyperlab.cli.main import main
from hyperlab.science.doctor import _spike, chance_loss, diagnose, mismatch

(X, Y), _ = hl.datasets.blobs()
Y1 = hl.datasets.to_categorical(Y)


def test_the_chance_loss_is_the_loss_of_the_best_constant_prediction():
    y = np.eye(4)[np.random.default_rng(0).choice(4, 300, p=[0.1, 0.2, 0.3, 0.4])]
    p = y.mean(axis=0)
    assert chance_loss("categorical_crossentropy", y) == pytest.approx(
        np.mean(-np.sum(y * np.log(p), axis=1)))
    assert chance_loss("sparse_categorical_crossentropy", y.argmax(1)) == pytest.approx(
        chance_loss("categorical_crossentropy", y))
    assert chance_loss("mean_squared_error", y) == pytest.approx(np.mean((y - p) ** 2))
    assert chance_loss("binary_crossentropy", y) == pytest.approx(
        np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    # no other constant does better (the constant p is the minimizer)
    for q in (np.full(4, 0.25), np.array([0.4, 0.3, 0.2, 0.1])):
        assert np.mean(-np.sum(y * np.log(q), axis=1)) > chance_loss("categorical_crossentropy", y)


def test_mismatch_rules():
    assert mismatch("softmax", "categorical_crossentropy", 3) is None
    assert mismatch("sigmoid", "binary_crossentropy", 1) is None
    assert "softmax" in mismatch("linear", "categorical_crossentropy", 3)
    assert "softmax" in mismatch("sigmoid", "sparse_categorical_crossentropy", 3)
    assert "categorical_crossentropy" in mismatch("softmax", "binary_crossentropy", 3)
    assert "sigmoid" in mismatch("linear", "binary_crossentropy", 1)


def test_a_spike_is_measured_against_the_earlier_epochs():
    assert _spike(np.array([3.0, 2.0, 1.5, 30.0, 1.0]), 10) == (3, pytest.approx(15.0))
    assert _spike(np.array([3.0, 2.0, 1.5, 15.0]), 10) is None     # 7.5 x the median
    assert _spike(np.array([1.0, 50.0]), 10) is None                # one earlier epoch only


def _model(lr, out="softmax", loss="categorical_crossentropy", bias="zeros", momentum=0.9,
           hidden=16, seed=0):
    model = hl.Sequential([hl.layers.Input((2,)),
                           hl.layers.Dense(hidden, activation="relu", bias_initializer=bias,
                                           kernel_initializer="he_uniform"),
                           hl.layers.Dense(3, activation=out)], seed=seed)
    model.compile(hl.optimizers.SGD(lr, momentum=momentum), loss, ["accuracy"])
    return model


def _kinds(model, **kw):
    found = diagnose(model, X, Y1, epochs=kw.pop("epochs", 8), **kw)
    return found, [f.kind for f in found.findings]


def test_a_healthy_run_has_no_finding():
    found, kinds = _kinds(_model(0.05))
    assert kinds == [] and found.lines()[0].startswith("no finding")
    assert min(found.history["loss"]) < 0.9 * found.chance
    assert found.sharpness.eigenvalue < found.threshold == pytest.approx(2 * 1.9 / 0.05)


def test_a_rate_far_too_high_gives_nan_at_its_epoch():
    found, kinds = _kinds(_model(50.0))
    first = next(i for i, v in enumerate(found.history["loss"]) if not math.isfinite(v))
    assert kinds[0] == "nan" and found.findings[0].epoch == first + 1
    assert "chance" not in kinds


def test_a_linear_output_with_cross_entropy_is_a_mismatch():
    _, kinds = _kinds(_model(0.05, out="linear"), epochs=3)
    assert kinds[0] == "mismatch"


def test_a_large_negative_bias_kills_relu_units():
    found, kinds = _kinds(_model(0.05, bias=hl.initializers.Constant(-10.0)))
    dead = found.history["dead_fraction/dense"][-1]
    assert "dead_relu" in kinds and dead >= 0.5
    assert found.findings[kinds.index("dead_relu")].values["dead_fraction"] == dead


def test_a_rate_far_too_low_stays_at_chance():
    found, kinds = _kinds(_model(1e-6), epochs=4)
    assert kinds == ["chance"] and min(found.history["loss"]) >= 0.9 * found.chance


def test_full_batch_gd_above_its_stability_threshold():
    found, kinds = _kinds(_model(0.01, momentum=0.0, hidden=50, seed=1), epochs=20,
                          batch_size=None)
    assert "sharpness" in kinds and found.threshold == pytest.approx(200.0)
    assert found.sharpness.eigenvalue > 200.0


def test_the_command_line_reports_and_runs_the_follow_up(capsys, monkeypatch):
    argv = ["doctor", "--lr", "50", "--hidden", "8", "--epochs", "4", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in data["findings"]] == ["nan"]
    command = data["findings"][0]["follow_up"]
    assert command.startswith("hyperlab lr-sweep") and "--high 50" in command
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda words: ran.append(words)
                        or subprocess.CompletedProcess(words, 0))
    assert main(argv + ["--run"]) == 0
    assert ran and ran[0][1:3] == ["-m", "hyperlab"] and ran[0][3:5] == ["lr-sweep", "--dataset"]


@pytest.mark.parametrize("argv, words", [(["--loss", "foo"], "--loss"),
                                         (["--output-activation", "nope"], "--output-activation"),
                                         (["--epochs", "1"], "--epochs")])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    assert main(["doctor", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperlab: error: " + words) and "\n" not in err


STUDY = """name = "rates-doctor"
repeats = 1
[model]
hidden = [8]
[fit]
epochs = 4
batch_size = 100
[[sweep]]
field = "compile.optimizer.learning_rate"
values = [0.05, 50.0]
"""


def test_a_studys_value_is_diagnosed_as_its_own_run(tmp_path, capsys):
    from hyperlab import studies
    from hyperlab.studies import build
    path = tmp_path / "rates.toml"
    path.write_text(STUDY)
    assert main(["doctor", "--study", str(path), "--value", "50.0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    config = studies.load(path).variants()[1].config           # the same run, built here
    ds = hl.datasets.get(**config["data"])
    model = hl.Sequential(build.build_layers(config, (2,), 3), seed=0)
    model.compile(build.build_optimizer(config), "categorical_crossentropy", ["accuracy"])
    expect = diagnose(model, ds.x_train, hl.datasets.to_categorical(ds.y_train, 3), epochs=4,
                      batch_size=100, seed=0, validation_data=(
                          ds.x_val, hl.datasets.to_categorical(ds.y_val, 3)))
    assert [f["kind"] for f in data["findings"]] == [f.kind for f in expect.findings] != []
    assert [f["message"] for f in data["findings"]] == [f.message for f in expect.findings]
    follow = data["findings"][0]["follow_up"]
    assert follow == (f"hyperlab doctor --study {path} --value 50.0 --epochs 4 --seed 0 "
                      "--set compile.optimizer.learning_rate=5")
    # the fix's value replaces an earlier --set of the same field
    assert main(["doctor", "--study", str(path), "--value", "50.0", "--set",
                 "compile.optimizer.learning_rate=20", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["findings"][0]["follow_up"]
    assert again.endswith("--seed 0 --set compile.optimizer.learning_rate=2")


@pytest.mark.parametrize("argv, words", [
    (["--value", "x"], "--value 'x': not a value of study 'rates-doctor'; choose one of "
                       "'0.05', '50.0'"),
    (["--lr", "0.1"], "--lr: with --study the run is the study's; change it with --set"),
    (["--hidden", "4"], "--hidden: with --study the run is the study's"),
])
def test_a_flag_the_study_mode_cannot_take_is_one_line(tmp_path, capsys, argv, words):
    path = tmp_path / "rates.toml"
    path.write_text(STUDY)
    assert main(["doctor", "--study", str(path), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_value_without_a_study_is_one_line(capsys):
    assert main(["doctor", "--value", "1"]) == 2
    assert "--value chooses a study's run: give --study" in capsys.readouterr().err
