"""``hyperlab lr-sweep`` and ``hyperlab.science.sweep`` end to end on a tiny
configuration, the range test's schedule against the engine's, the figure, and bad input."""
import json
import math

import numpy as np
import pytest

from hyperlab.cli import science as cli_science
from hyperlab.cli.main import main
from hyperlab.engine import schedules
from hyperlab.science import sweep as api
from hyperlab.science import sensitivity as sens
from hyperlab.science.figures import lr_sweep_figure


def test_the_cli_defaults_are_the_librarys():
    assert (cli_science.LOW, cli_science.HIGH, cli_science.COUNT, cli_science.SEEDS,
            cli_science.EPOCHS, cli_science.RANGE_EPOCHS) == (
        api.LOW, api.HIGH, api.COUNT, api.SEEDS, api.EPOCHS, api.RANGE_EPOCHS)


def test_log_rates_are_evenly_spaced_in_log10():
    rates = api.log_rates(1e-5, 10.0, 13)
    assert rates[0] == pytest.approx(1e-5) and rates[-1] == pytest.approx(10.0)
    assert np.diff(np.log10(rates)) == pytest.approx(np.full(12, 0.5))


def test_range_schedule_holds_each_epochs_rate_for_the_whole_epoch():
    steps, epochs = 7, 9
    spec = api.range_schedule(1e-4, 1.0, epochs, steps)
    schedule = schedules.get({"class_name": spec.pop("name"), "config": spec})
    expected = api.range_rates(1e-4, 1.0, epochs)
    assert expected[0] == pytest.approx(1e-4) and expected[-1] == pytest.approx(1.0)
    for epoch in range(epochs):
        for step in (epoch * steps, epoch * steps + steps - 1):
            assert float(schedule(step)) == pytest.approx(expected[epoch], rel=1e-5)


def test_lr_sweep_end_to_end(tmp_path, capsys):
    """blobs, 2 seeds, 5 rates, 2 epochs, a 6-epoch range test: the JSON holds every
    seed's result and an analysis that agrees with them; the figure is written; a second
    run trains nothing new and gives the same numbers."""
    argv = ["lr-sweep", "--seeds", "2", "--rates", "5", "--epochs", "2", "--low", "1e-9",
            "--high", "10", "--range-epochs", "6", "--out", str(tmp_path), "--json",
            "--no-progress"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    final = np.array(out["final_loss"], dtype=float)
    initial = np.array(out["initial_loss"], dtype=float)
    assert final.shape == (5, 2) and out["seeds"] == [0, 1] and out["epochs"] == 2
    assert np.array(out["rates"]) == pytest.approx(np.logspace(-9, 1, 5))
    # at 1e-9 training barely moves: the final loss is each seed's own initial loss, so
    # the initial losses are those of the very weights each seed's runs started from
    assert final[0] == pytest.approx(initial, rel=1e-4)
    assert initial[0] != pytest.approx(initial[1], rel=1e-3)
    rows = out["analysis"]["rates"]
    div = sens.diverged(final, initial)
    assert [r["diverged"] for r in rows] == div.sum(axis=1).tolist()
    assert [r["stable"] for r in rows] == sens.stable_rates(final, initial).tolist()
    test = out["range_test"]
    assert np.array(test["rates"]) == pytest.approx(api.range_rates(1e-9, 10.0, 6))
    assert [p["seed"] for p in test["per_seed"]] == [0, 1]
    assert all(len(p["losses"]) == 6 for p in test["per_seed"])
    assert "n = 2 seeds" in out["answer"]
    folder = tmp_path / "lr-sweep"
    for name in ("lr-sweep.png", "lr-sweep.svg", "lr-sweep.json"):
        assert (folder / name).stat().st_size > 0
    assert json.loads((folder / "lr-sweep.json").read_text())["answer"] == out["answer"]
    assert main(argv[:-2] + ["--no-progress"]) == 0      # text output, from the store
    text = capsys.readouterr().out
    assert out["answer"] in text and "range test" in text


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds must be an int >= 1"),
    (["--rates", "1"], "--rates must be an int >= 2"),
    (["--low", "1", "--high", "0.1"], "--low and --high need 0 < low < high"),
    (["--opt-arg", "learning_rate=0.1"], "the learning rate is what lr-sweep sweeps"),
    (["--optimizer", "sgdd"], "--optimizer: Unknown optimizer 'sgdd'"),
    (["--dataset", "blob"], "--dataset blob: unknown dataset"),
    (["--momentum", "0.5", "--opt-arg", "momentum=0.1"], "both given"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main(["lr-sweep", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "hyperlab.db").exists()


def test_figure_marks_the_stable_region_edge_and_recommendation():
    rates = np.logspace(-5, 1, 13)
    lam = 40.0                                  # gradient descent on λ w²/2: stable below 2/λ
    w0 = np.array([1.0, -0.5, 2.0])
    initial = 0.5 * lam * w0 ** 2
    with np.errstate(over="ignore"):
        final = initial * (1 - np.outer(rates, np.full(3, lam))) ** 100
    final[-1, 0] = np.nan
    grid = api.range_rates(1e-5, 10.0, 8)
    losses = np.vstack([np.linspace(2, 0.5, 8), np.linspace(2.2, 0.4, 8)])
    losses[:, -1] = np.inf
    test = api.RangeTest(grid, [0, 1], losses,
                         [float(grid[i]) for i in (sens.steepest_descent(grid, l) for l in losses)])
    sweep = api.LRSweep(
        config={"data": {"name": "blobs"}, "model": {"hidden": [4], "activation": "relu"},
                "compile": {"optimizer": {"name": "SGD", "momentum": 0.0}},
                "fit": {"batch_size": 32}},
        rates=rates, seeds=[0, 1, 2], epochs=2, initial_loss=initial, final_loss=final,
        val_accuracy=np.full_like(final, 0.5),
        analysis=sens.analyze(rates, final, initial, resamples=200), range_test=test)
    fig = lr_sweep_figure(sweep)
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children()}
    assert {"seed", "median", "band", "stable", "edge", "pick", "spread"} <= gids
    assert math.isclose(sweep.analysis.edge.rate, rates[rates > 2 / lam][0])
    assert "No rate" not in sweep.answer() and "n = 3 seeds" in sweep.answer()
