"""How many epochs: the offline EarlyStopping rule against the engine's EarlyStopping on the
same seed, overfitting onset on curves with a known minimum, and the calibrated patience
and min_delta against their definitions."""
import json

import numpy as np
import pytest

import hyperlab as hl
from hyperlab.cli.main import main
from hyperlab.science.epochs import analyze, overfitting_onset, stopped_after
from hyperlab.studies.results import RunResult


def _model():
    model = hl.Sequential([hl.layers.Input((2,)), hl.layers.Dense(8, activation="relu"),
                           hl.layers.Dense(3, activation="softmax")], seed=4)
    model.compile(optimizer=hl.optimizers.SGD(0.05, momentum=0.9),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("patience, min_delta", [(1, 0.0), (3, 0.005), (2, 0.011)])
def test_stopped_after_matches_the_engines_early_stopping(patience, min_delta):
    (x, y), (xv, yv) = hl.datasets.blobs()
    y, yv = hl.datasets.to_categorical(y), hl.datasets.to_categorical(yv)
    args = dict(epochs=25, batch_size=64, validation_data=(xv, yv), seed=3, verbose=0)
    full = _model().fit(x, y, **args).history["val_accuracy"]
    stop = hl.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience,
                                      min_delta=min_delta)
    stopped = _model().fit(x, y, callbacks=[stop], **args).history["val_accuracy"]
    assert len(stopped) < len(full) and stopped == pytest.approx(full[:len(stopped)])
    assert stopped_after(np.array(full), patience, min_delta) == len(stopped)


def test_overfitting_onset_on_curves_with_a_known_minimum():
    epochs = np.arange(1, 61)
    rng = np.random.default_rng(0)
    train = 1.0 / epochs
    u_shape = 0.5 + 0.001 * (epochs - 20) ** 2 + rng.normal(0, 1e-4, 60)
    assert overfitting_onset(train, u_shape) == 20
    assert overfitting_onset(np.full(60, 0.5) + 0.01 * epochs, u_shape) is None  # train rises
    zigzag = 0.5 + 0.01 * (-1.0) ** epochs        # noise around a level: no rise beyond it
    assert overfitting_onset(train, zigzag) is None
    assert overfitting_onset(train, 0.5 + 1.0 / epochs) is None   # still falling at the end


def _run(seed, acc, loss, val_loss):
    return RunResult(key=str(seed), seed=seed, history={
        "loss": list(loss), "val_loss": list(val_loss), "val_accuracy": list(acc),
        "accuracy": list(acc)}, updates=len(acc), wall_time_s=0.0)


def test_the_calibrated_early_stopping_follows_its_definition():
    rng = np.random.default_rng(2)
    runs = []
    for seed in range(4):
        rise = 1 - np.exp(-np.arange(40) / (4 + 3 * seed))
        acc = np.round(0.5 + 0.4 * rise + rng.normal(0, 0.01, 40), 3)
        runs.append(_run(seed, acc, 1 / np.arange(1, 41), 1 / np.arange(1, 41)))
    advice = analyze(runs)
    accs = [np.array(r.history["val_accuracy"]) for r in runs]
    noise = [np.std(np.diff(a[20:]), ddof=1) for a in accs]
    assert advice.min_delta == pytest.approx(np.median(noise))
    plateaus = [np.flatnonzero(a >= a.max() - 0.01)[0] + 1 for a in accs]
    assert [s.plateau for s in advice.seeds] == plateaus

    def reaches(p):
        return all(stopped_after(a, p, advice.min_delta) >= e for a, e in zip(accs, plateaus))
    assert reaches(advice.patience) and (advice.patience == 1 or not reaches(advice.patience - 1))
    assert advice.cost == pytest.approx(
        [a.max() - a[:k].max() for a, k in zip(accs, advice.stopped)])
    assert advice.plateau.estimate == pytest.approx(np.median(plateaus))
    assert "patience=" in advice.answer()


def test_epochs_cli_end_to_end(tmp_path, capsys):
    """blobs, 2 seeds, 8 epochs: every seed's plateau, the calibrated EarlyStopping that lets
    each reach it, the JSON file; a second run reads the store and gives the same answer."""
    argv = ["epochs", "--seeds", "2", "--epochs", "8", "--out", str(tmp_path), "--json",
            "--no-progress"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    seeds, stop = out["per_seed"], out["early_stopping"]
    assert [s["seed"] for s in seeds] == [0, 1] and all(s["epochs"] == 8 for s in seeds)
    assert all(1 <= s["plateau"] <= k <= 8 for s, k in zip(seeds, stop["stopped_after"]))
    assert stop["patience"] >= 1 and stop["min_delta"] >= 0
    assert (tmp_path / "epochs" / "epochs.json").stat().st_size > 0
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == out
