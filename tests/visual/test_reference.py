"""Reference figures: activation derivatives against finite differences, schedules as
training evaluates them, a stored study's learning rates."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import hyperlab.visual.reference as ref
from hyperlab.engine import activations
from hyperlab.studies import planner
from hyperlab.studies.results import RunResult
from hyperlab.studies.store import Store

KINKS = {"relu": 0.0, "leaky_relu": 0.0, "elu": 0.0, "selu": 0.0}


def test_derivatives_match_central_differences():
    x = np.linspace(-4, 4, 161)
    curves = ref.activation_curves(ref.ACTIVATIONS, x)
    assert list(curves) == list(ref.ACTIVATIONS)
    h = 1e-2
    for name, (xs, y, dy) in curves.items():
        fn = activations.get(name)
        f = lambda t: np.asarray(fn(np.asarray(t, np.float32)), np.float64)  # noqa: E731
        assert np.allclose(y, f(xs), atol=1e-6), name
        fd = (f(xs + h) - f(xs - h)) / (2 * h)
        smooth = np.abs(xs - KINKS.get(name, np.inf)) > 2 * h
        assert np.allclose(dy[smooth], fd[smooth], atol=2e-3, rtol=1e-3), name


def test_derivatives_known_values():
    curves = ref.activation_curves(ref.ACTIVATIONS, [-2.0, 0.0, 2.0])
    d = {name: c[2] for name, c in curves.items()}
    assert np.allclose(d["linear"], 1)
    assert np.isclose(d["sigmoid"][1], 0.25) and np.isclose(d["tanh"][1], 1.0)
    assert np.allclose(d["relu"], [0, 0, 1])                  # relu'(0) = 0, as TF
    assert np.allclose(d["leaky_relu"], [0.2, 0.2, 1])        # Keras 3 slope 0.2
    assert np.isclose(d["softplus"][1], 0.5)
    assert np.isclose(d["elu"][0], math.exp(-2)) and np.isclose(d["elu"][2], 1)
    assert np.isclose(d["selu"][2], activations.SELU_SCALE)
    assert np.isclose(d["selu"][0], activations.SELU_SCALE * activations.SELU_ALPHA * math.exp(-2))


def test_activations_figure_panels(tmp_path):
    fig = ref.activations_figure()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(ref.ACTIVATIONS)
    assert all(len(ax.get_lines()) == 4 for ax in visible)  # f, f', two zero lines
    path = ref.save_figure(fig, tmp_path / "act.png")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (520, 1200, 3) and img.std() > 20
    with pytest.raises(ValueError, match="softmax"):
        ref.activation_curves(["softmax"])
    with pytest.raises(ValueError, match="Unknown activation"):
        ref.activation_curves(["nope"])


def test_schedule_curves_are_what_training_uses():
    curves = ref.schedule_curves(
        ["StepDecay(initial_learning_rate=0.1, drop=0.5, epochs_drop=10)",
         "PowerDecay(initial_learning_rate=0.1, decay_steps=100, power=1)",
         "PiecewiseConstantDecay(boundaries=[100, 200], values=[0.1, 0.01, 0.001])"],
        epochs=40, steps_per_epoch=16)
    (step_label, (sx, sy)), (pow_label, (px, py)), (_, (cx, cy)) = curves.items()
    assert step_label == "StepDecay(initial_learning_rate=0.1, drop=0.5, epochs_drop=10)"
    assert np.array_equal(sx, np.arange(40))
    expected = [0.1 * 0.5 ** math.floor((1 + e) / 10) for e in range(40)]
    assert np.allclose(sy, expected, rtol=1e-6)
    assert len(px) == 40 * 16 and px[16] == 1.0  # one point per update, x in epochs
    assert np.allclose(py, 0.1 / (1 + np.arange(640) / 100), rtol=1e-6)
    assert cy[100] == pytest.approx(0.1) and cy[101] == pytest.approx(0.01)
    assert cy[-1] == pytest.approx(0.001)


@pytest.mark.parametrize("spec, kwargs, message", [
    ("PowerDecay(initial_learning_rate=0.1, decay_steps=100)", {}, "--steps-per-epoch"),
    ("Nope(a=1)", {"steps_per_epoch": 4}, "Unknown schedule"),
    ("StepDecay(0.1)", {}, "keyword arguments"),
    ("StepDecay(initial_learning_rate=0.1, drop=-1)", {}, "drop"),
    ("StepDecay(initial_learning_rate=open('x'))", {}, "not a literal"),
    ("StepDecay(initial_learning_rate=0.1)", {"epochs": 0}, "--epochs"),
])
def test_schedule_errors(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ref.schedule_curves([spec], **kwargs)


@pytest.fixture
def study_file(tmp_path):
    lines = ['name = "tiny-lr"', 'description = "two learning rates"',
             'axis = "Learning Rate"', "repeats = 2", "[fit]", "epochs = 6",
             "batch_size = 100", "[[sweep]]", 'field = "compile.optimizer.learning_rate"',
             "values = [0.1, 0.01]"]
    path = tmp_path / "tiny-lr.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def fill_store(db, study_path) -> dict:
    """Stored runs of the study, with made-up learning-rate histories (no training)."""
    from hyperlab.studies import get
    study = get(str(study_path))
    _, runs = planner.plan(study)
    rows, expected = [], {}
    for run in runs:
        lr0 = run.config["compile"]["optimizer"]["learning_rate"]
        rates = [lr0 * (0.5 ** (e // 2)) * (1 + run.seed) for e in range(6)]
        hist = {k: [0.5] * 6 for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        hist["learning_rate"] = rates
        rows.append((RunResult(key=run.key, seed=run.seed, history=hist, updates=30,
                               wall_time_s=0.1), run.config))
        expected.setdefault(lr0, []).append(rates)
    with Store(db) as store:
        store.put_runs(rows, study=study.name, versions={})
    return expected


def test_stored_study_learning_rates(tmp_path, study_file):
    db = tmp_path / "runs.db"
    expected = fill_store(db, study_file)
    curves = ref.study_curves(db, str(study_file))
    assert list(curves) == ["tiny-lr: Learning Rate = 0.1", "tiny-lr: Learning Rate = 0.01"]
    x, rates = curves["tiny-lr: Learning Rate = 0.1"]
    assert np.array_equal(x, np.arange(6)) and rates.shape == (2, 6)
    assert np.allclose(rates, expected[0.1])
    fig = ref.schedule_figure(curves)
    assert fig.axes[0].get_yscale() == "log"  # 0.2 ... 0.000625 spans decades
    path = ref.save_figure(fig, tmp_path / "lr.png")
    assert np.asarray(Image.open(path).convert("RGB")).std() > 10


def test_stored_study_errors(tmp_path, study_file):
    with pytest.raises(ValueError, match="no such results store"):
        ref.study_curves(tmp_path / "missing.db", str(study_file))
    empty = tmp_path / "empty.db"
    Store(empty).close()
    with pytest.raises(ValueError, match="no stored runs of study 'tiny-lr'"):
        ref.study_curves(empty, str(study_file))
