"""The ``hyperlab`` command line: ``main([...])`` in-process, plus one real subprocess."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hyperlab.cli._common import parse_pairs, parse_value
from hyperlab.cli.main import build_parser, fit_config, main

FINAL_LINE = re.compile(r"^Train: \d\.\d{3}, Test: \d\.\d{3}$")
QUICK = ["--epochs", "3", "--verbose", "0"]


@pytest.fixture(scope="module", autouse=True)
def _jax_started():
    """Start JAX outside the captured tests, so a one-time backend notice is not in them."""
    import jax.numpy as jnp

    jnp.zeros(1).block_until_ready()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, "fit", "--json", *args)
    assert code == 0, err
    return json.loads(out)


# ------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("text, value", [
    ("3", 3), ("-2", -2), ("0.1", 0.1), ("1e-3", 1e-3), ("true", True), ("False", False),
    ("none", None), ("null", None), ("val_accuracy", "val_accuracy"), ("[10,20]", [10, 20]),
    ("[]", []), ("[0.1, 0.01]", [0.1, 0.01]),
])
def test_parse_value(text, value):
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_parse_pairs_merges_repeated_flags_and_comma_lists():
    assert parse_pairs(["a=1,b=x", "c=[1,2]"], "--f") == {"a": 1, "b": "x", "c": [1, 2]}
    assert parse_pairs(None, "--f") == {} and parse_pairs("", "--f") == {}


@pytest.mark.parametrize("items", [["a"], ["=1"], ["a=1", "a=2"], ["not a key=1"]])
def test_parse_pairs_rejects_bad_items_naming_the_flag(items):
    with pytest.raises(ValueError, match="--flag"):
        parse_pairs(items, "--flag")


def test_defaults_are_the_tutorials_run():
    config = fit_config(build_parser().parse_args(["fit"]))
    assert config == {
        "dataset": {"name": "blobs", "args": {}},
        "model": {"hidden": [50], "activation": "relu", "initializer": "he_uniform"},
        "optimizer": {"name": "sgd", "args": {"learning_rate": 0.01, "momentum": 0.9}},
        "schedule": None, "plateau": None, "early_stopping": None,
        "batch_size": 32, "epochs": 200, "seed": 0, "shuffle": True, "diagnostics": [],
    }


# --------------------------------------------------------------------------- help, version
def test_version(capsys):
    from hyperlab import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"hyperlab {__version__}"


def test_help_says_each_flags_default_and_an_example(capsys):
    code, out, _ = run(capsys, "fit", "--help")
    assert code == 0 and "--learning-rate" in out and "examples:" in out
    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    for action in fit._actions:
        if action.dest == "help":
            continue
        assert "default" in action.help, action.option_strings
        if action.nargs != 0:  # flags that take a value show one
            assert "e.g." in action.help, action.option_strings


def test_no_command_is_a_usage_error(capsys):
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert err.startswith("hyperlab: error:") and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------- fit
def test_text_output_ends_with_the_tutorials_line(capsys):
    code, out, err = run(capsys, "fit", *QUICK)
    assert code == 0, err
    assert FINAL_LINE.match(out.strip().splitlines()[-1])


def test_verbose_2_prints_one_line_per_epoch(capsys):
    code, out, _ = run(capsys, "fit", "--epochs", "3", "--verbose", "2")
    lines = out.strip().splitlines()
    assert code == 0
    # Keras 3's verbose=2: "Epoch i/N", then one line "steps/steps - time - time/step - logs"
    assert lines[0:6:2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all(re.match(r"16/16 - \d+s - \d+(us|ms|s)/step - accuracy: [\d.]+ - loss: ", ln)
               for ln in lines[1:6:2])
    assert FINAL_LINE.match(lines[-1])


@pytest.mark.parametrize("verbose", ["1", "2"])
def test_json_is_one_object_with_the_history(capsys, verbose):
    code, out, err = run(capsys, "fit", "--json", "--epochs", "3", "--verbose", verbose)
    assert code == 0, err
    result = json.loads(out)  # nothing but the JSON object on stdout
    for key in ("config", "train_accuracy", "test_accuracy", "train_loss", "test_loss",
                "history", "diverged_epoch", "stopped_epoch", "wall_time_s"):
        assert key in result
    assert result["config"]["epochs"] == 3 and result["epochs_run"] == 3
    assert set(result["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy",
                                      "learning_rate"}
    assert all(len(v) == 3 for v in result["history"].values())
    assert result["test_accuracy"] == pytest.approx(result["history"]["val_accuracy"][-1])
    assert result["diverged_epoch"] is None and result["stopped_epoch"] is None
    assert result["wall_time_s"] > 0


def test_same_seed_same_run(capsys):
    a = run_json(capsys, *QUICK, "--seed", "3")
    b = run_json(capsys, *QUICK, "--seed", "3")
    assert a["history"] == b["history"]


def test_flags_reach_the_model_and_the_optimizer(capsys):
    result = run_json(capsys, *QUICK, "--optimizer", "adam", "--lr", "0.1", "--hidden", "8", "8",
                      "--activation", "tanh", "--opt-arg", "amsgrad=true")
    assert result["config"]["optimizer"] == {"name": "adam",
                                             "args": {"amsgrad": True, "learning_rate": 0.1}}
    opt = result["optimizer_config"]
    assert opt["class_name"] == "Adam" and opt["learning_rate"] == 0.1 and opt["amsgrad"] is True
    layers = [(layer["units"], layer["activation"]) for layer in result["layers"]]
    assert layers == [(8, "tanh"), (8, "tanh"), (3, "softmax")]
    assert result["params"] == (2 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)
    assert result["history"]["learning_rate"] == pytest.approx([0.1] * 3)


def test_data_args_full_batch_and_no_hidden_layer(capsys):
    result = run_json(capsys, *QUICK, "--dataset", "moons", "--data-arg", "noise=0.3",
                      "--data-arg", "n_samples=200", "--batch-size", "full", "--no-shuffle",
                      "--hidden", "--opt-arg", "nesterov=true")
    config = result["config"]
    assert config["dataset"] == {"name": "moons", "args": {"noise": 0.3, "n_samples": 200}}
    assert config["batch_size"] == "full" and config["shuffle"] is False
    assert [layer["units"] for layer in result["layers"]] == [2]
    assert result["optimizer_config"]["nesterov"] is True


def test_step_decay_runs_per_epoch(capsys):
    result = run_json(capsys, "--epochs", "4", "--verbose", "0",
                      "--schedule", "StepDecay:initial_learning_rate=0.1,drop=0.5,epochs_drop=2")
    assert result["history"]["learning_rate"] == pytest.approx([0.1, 0.05, 0.05, 0.025])


def test_per_step_schedule_becomes_the_learning_rate(capsys):
    result = run_json(capsys, *QUICK, "--schedule",
                      "InverseTimeDecay:initial_learning_rate=0.1,decay_steps=1,decay_rate=0.01")
    assert result["optimizer_config"]["learning_rate"]["class_name"] == "InverseTimeDecay"
    lrs = result["history"]["learning_rate"]
    assert lrs[0] == pytest.approx(0.1) and lrs[0] > lrs[1] > lrs[2]


def test_plateau_reduces_the_learning_rate(capsys):
    # min_delta=100: no epoch after the first counts as an improvement
    result = run_json(capsys, "--epochs", "4", "--verbose", "0",
                      "--plateau", "patience=1,factor=0.5,min_delta=100")
    assert result["config"]["plateau"] == {"patience": 1, "factor": 0.5, "min_delta": 100}
    assert result["history"]["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025])


def test_early_stopping_stops_and_is_reported(capsys):
    # the learning rate is constant, so it never improves: the run stops after epoch 2
    args = ["--epochs", "10", "--verbose", "0",
            "--early-stopping", "monitor=learning_rate,mode=min,patience=0"]
    result = run_json(capsys, *args)
    assert result["stopped_epoch"] == 1 and result["epochs_run"] == 2
    assert len(result["history"]["loss"]) == 2
    code, out, _ = run(capsys, "fit", *args)
    lines = out.strip().splitlines()
    assert code == 0 and "stopped" in lines[-2] and FINAL_LINE.match(lines[-1])


def test_divergence_is_reported_as_json_null_not_nan(capsys):
    code, out, _ = run(capsys, "fit", "--json", *QUICK, "--lr", "1e6")
    assert code == 0 and "NaN" not in out and "Infinity" not in out
    result = json.loads(out)
    assert result["diverged_epoch"] == 0 and result["history"]["loss"][0] is None


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("args, names", [
    (["--optimizer", "nosuch"], "nosuch"),
    (["--lr", "-1"], "learning_rate"),
    (["--lr", "abc"], "--lr"),
    (["--opt-arg", "momentum"], "--opt-arg"),
    (["--opt-arg", "bogus=1"], "bogus"),
    (["--optimizer", "adam", "--momentum", "0.5"], "momentum"),
    (["--data-arg", "noise"], "--data-arg"),
    (["--data-arg", "bogus=1"], "bogus"),
    (["--dataset", "nosuch"], "nosuch"),
    (["--epochs", "0"], "epochs"),
    (["--batch-size", "many"], "--batch-size"),
    (["--hidden", "0"], "units"),
    (["--activation", "nosuch"], "nosuch"),
    (["--schedule", "Nosuch"], "Nosuch"),
    (["--schedule", "ExponentialDecay:initial_learning_rate=0.1"], "decay_steps"),
    (["--schedule", "InverseTimeDecay:initial_learning_rate=0.1,decay_steps=1,decay_rate=0.01",
      "--lr", "0.1"], "--lr"),
    (["--plateau", "patience=x"], "--plateau"),
    (["--plateau", "factor=2"], "factor"),
    (["--early-stopping", "bogus=1"], "bogus"),
    (["--early-stopping", "monitor=val_acc"], "val_acc"),
    (["--plateau", "monitor=nosuch"], "nosuch"),
    (["--no-such-flag"], "--no-such-flag"),
    (["--seed", "-1"], "--seed"),
])
def test_bad_input_is_one_error_line_and_exit_2(capsys, args, names):
    code, out, err = run(capsys, "fit", *QUICK, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hyperlab: error: ") and names in lines[0]
    assert "Traceback" not in err


# ---------------------------------------------------------------------------- subprocess
def test_python_dash_m_hyperlab():
    ok = subprocess.run([sys.executable, "-m", "hyperlab", "fit", "--epochs", "2", "--verbose", "0"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert FINAL_LINE.match(ok.stdout.strip().splitlines()[-1])
    bad = subprocess.run([sys.executable, "-m", "hyperlab", "fit", "--optimizer", "nosuch"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("hyperlab: error: ") and "Traceback" not in bad.stderr


def test_fit_logs_sharpness_and_names_sgds_stability_threshold(capsys):
    code, out, err = run(capsys, "fit", "--epochs", "4", "--diagnostics", "sharpness",
                         "--verbose", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    sharp = data["history"]["sharpness"]
    assert len(sharp) == 4 and all(v > 0 for v in sharp)
    code, text, _ = run(capsys, "fit", "--epochs", "4", "--diagnostics", "sharpness",
                        "--verbose", "0")
    # the tutorial's SGD: rate 0.01, momentum 0.9 -> (2 + 2 * 0.9) / 0.01 = 380
    assert f"after the last epoch: {sharp[-1]:.4g}, below SGD's stability threshold " \
           "(2 + 2·0.9)/η = 380." in text
