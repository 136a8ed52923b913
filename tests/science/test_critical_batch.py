"""The critical batch size: steps to target against hand-computed crossings, the fit of
S = S_min (1 + B_noise/B) against noise-free and simulated curves with known S_min and
B_noise, the rate chosen per batch size, and a small real study from the command line."""
import json
import math

import numpy as np
import pytest

from hyperlab.cli.main import main
from hyperlab.science.critical import fit_critical, steps_to_target

BATCHES = np.array([4, 8, 16, 32, 64, 128, 256, 512])


def _curve(s_min, b_noise, batches=BATCHES):
    return s_min * (1 + b_noise / np.asarray(batches, float))


def test_steps_to_target_interpolates_between_epochs():
    acc = 0.1 * np.arange(1, 11)                  # 0.1 after epoch 1, ... 1.0 after 10
    assert steps_to_target(acc, 20, 0.35, rising=True) == pytest.approx(3.5 * 20)
    loss = 2.0 - 0.25 * np.arange(1, 9)           # 1.75, 1.5, ...
    assert steps_to_target(loss, 7, 1.1, rising=False) == pytest.approx(3.6 * 7)
    assert steps_to_target(acc, 20, 0.05, rising=True) == 20        # first epoch: a bound
    assert steps_to_target(acc, 20, 1.5, rising=True) == math.inf
    assert steps_to_target([0.5, math.nan, 0.9], 4, 0.8, rising=True) == 12  # NaN: not reached


def test_a_noise_free_curve_is_recovered_exactly():
    steps = np.repeat(_curve(300.0, 45.0)[:, None], 3, axis=1)
    f = fit_critical(BATCHES, steps, resamples=50)
    assert f.s_min == pytest.approx(300.0, rel=1e-4)
    assert f.b_noise == pytest.approx(45.0, rel=1e-4)
    assert f.e_min == pytest.approx(300.0 * 45.0, rel=1e-3)
    assert f.rms_log < 1e-5 and not f.edge


def test_the_interval_covers_known_values_in_simulations():
    rng = np.random.default_rng(3)
    covered = 0
    for k in range(20):                           # 10 seeds, 15 % multiplicative noise
        steps = _curve(200.0, 64.0)[:, None] * np.exp(rng.normal(0, 0.15, (8, 10)))
        f = fit_critical(BATCHES, steps, resamples=500, seed=k)
        covered += f.b_noise_low <= 64.0 <= f.b_noise_high and f.s_min_low <= 200 <= f.s_min_high
    assert covered >= 16                          # 95 % intervals: P(<= 15 of 20) < 2 %


def test_the_best_rate_per_batch_size_is_the_one_fitted():
    truth = _curve(150.0, 30.0)
    rates = 3
    best = np.arange(len(BATCHES)) % rates        # the best rate moves with the batch size
    rng = np.random.default_rng(0)
    steps = np.empty((len(BATCHES), rates, 8))
    for j in range(rates):
        penalty = 1 + 2.0 * np.abs(j - best)      # other rates need 3x or 5x the steps
        steps[:, j] = (truth * penalty)[:, None] * np.exp(rng.normal(0, 0.05, (len(BATCHES), 8)))
    steps[0, best[0], 0] = np.inf                 # one run never reached the target
    f = fit_critical(BATCHES, steps, resamples=300)
    assert f.b_noise_low <= 30.0 <= f.b_noise_high
    assert f.s_min == pytest.approx(150.0, rel=0.1)


def test_steps_that_do_not_depend_on_the_batch_leave_b_noise_unbounded():
    rng = np.random.default_rng(1)
    steps = 100.0 * np.exp(rng.normal(0, 0.05, (len(BATCHES), 6)))
    f = fit_critical(BATCHES, steps, resamples=200)
    assert f.b_noise_high < BATCHES.min()         # every batch is past B_noise


def test_a_real_grid_study_from_the_command_line(grid_study, capsys):
    path, out, results = grid_study
    assert main([CRITICAL, str(path), "--out", str(out), "--target", "0.7", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["batches"] == [10, 50, 250] and data["steps_per_epoch"] == [50, 10, 2]
    assert data["rates"] == [0.01, 0.04, 0.16]
    for value in results.values:              # the crossing epoch, found independently
        batch, rate = value.value
        i, j = data["batches"].index(batch), data["rates"].index(rate)
        spe = data["steps_per_epoch"][i]
        for run in value.runs:
            e = next((k for k, a in enumerate(run.history["val_accuracy"], 1) if a >= 0.7), None)
            got = data["steps"][i][j][data["seeds"].index(run.seed)]
            assert (got is None) if e is None else (e - 1) * spe <= got <= e * spe
    for i, rate in enumerate(data["chosen_rate"]):     # the rate with the fewest median steps
        medians = [np.median([math.inf if s is None else s for s in row])
                   for row in data["steps"][i]]
        assert medians[data["rates"].index(rate)] == min(medians)
    assert (out / "bs-lr-tiny" / CRITICAL / "critical-batch.png").exists()


CRITICAL = "critical-batch"


@pytest.mark.parametrize("argv, words", [
    (["--metric", "loss"], "--target"),
    (["--noise-scale", "missing.json"], "--noise-scale"),
    ([], "hyperlab run"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, words):
    code = main([CRITICAL, "batch-size", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and "\n" not in err and "Traceback" not in err
