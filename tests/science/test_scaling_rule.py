"""The scaling-rule referee: α against numpy's least-squares slope, synthetic grids whose
best rate scales with a known exponent, the verdict's honesty when the interval is wide,
diverged runs ranked last, and the small real batch × rate study from the command line."""
import json
import math

import numpy as np
import pytest

from hyperlab.cli.main import main
from hyperlab.science.grid import BatchRateGrid
from hyperlab.science.scaling import scaling_rule_from_grid, scaling_rule_from_values, slope

CONFIG = {"data": {"name": "blobs"}, "model": {"hidden": [4], "activation": "relu"},
          "compile": {"optimizer": {"name": "SGD"}}}
RATES = [float(r) for r in np.logspace(-4, 1, 31)]      # 1/6 decade apart


def _grid(batches, rates=RATES, seeds=8):
    return BatchRateGrid("synthetic", CONFIG, list(batches), list(rates), list(range(seeds)),
                         [1] * len(batches), [[{} for _ in rates] for _ in batches])


def _losses(batches, alpha, noise, seed, rates=RATES, seeds=8):
    """A loss bowl in log10(rate) around lr*(B) = 0.01 (B/8)^alpha, plus seed noise."""
    best = np.log10(0.01 * (np.asarray(batches) / 8) ** alpha)
    bowl = (np.log10(rates)[None, :, None] - best[:, None, None]) ** 2
    return bowl + np.random.default_rng(seed).normal(0, noise, (len(batches), len(rates), seeds))


def test_slope_is_the_least_squares_slope():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=7), rng.normal(size=(3, 7))
    assert slope(x, y) == pytest.approx([np.polyfit(x, row, 1)[0] for row in y])


@pytest.mark.parametrize("alpha, rule", [(1.0, "linear (α≈1)"), (0.5, "square root (α≈0.5)"),
                                         (0.0, "≈0 (adaptive)")])
def test_a_known_exponent_is_recovered_and_named(alpha, rule):
    batches = [8, 16, 32, 64, 128, 256, 512]
    r = scaling_rule_from_values(_grid(batches), "loss", _losses(batches, alpha, 0.02, 1),
                                 resamples=500)
    assert r.low <= alpha <= r.high and r.high - r.low < 0.3
    assert r.verdict()["rule"] == rule and rule in r.answer()


def test_a_wide_interval_names_no_rule():
    batches = [32, 64]                          # one octave, noisy: α is barely measured
    r = scaling_rule_from_values(_grid(batches), "loss", _losses(batches, 0.5, 0.5, 2),
                                 resamples=500)
    v = r.verdict()
    assert r.high - r.low > 1 and v["rule"] is None
    assert "does not decide" in r.answer() and "supports" not in r.answer()


def test_diverged_runs_rank_last_and_accuracy_ranks_highest_first():
    batches = [8, 64, 512]
    rates = [0.01, 0.1, 1.0]
    values = np.ones((3, 3, 5))
    values[:, 2, :] = 0.1                       # the top rate's finite runs are best...
    values[:, 2, :3] = np.inf                   # ...but 3 of 5 seeds diverged there
    values[:, 1, :] = 0.5
    r = scaling_rule_from_values(_grid(batches, rates, 5), "loss", values, resamples=100)
    assert r.best == [0.1, 0.1, 0.1] and r.alpha == pytest.approx(0.0, abs=1e-12)
    accuracy = np.stack([np.full((3, 5), 0.9 - 0.1 * j) for j in range(3)], axis=1)
    accuracy[2, 2] = 0.99                       # at batch 512 the top rate is best
    r = scaling_rule_from_values(_grid(batches, rates, 5), "val_accuracy", accuracy,
                                 resamples=100)
    assert r.best == [0.01, 0.01, 1.0]


def test_one_rate_is_refused():
    with pytest.raises(ValueError, match="one learning rate"):
        scaling_rule_from_grid(_grid([8, 64], [0.1]))


def test_the_real_grid_study_from_the_command_line(grid_study, capsys):
    path, out, results = grid_study
    assert main(["scaling-rule", str(path), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    finals = {}                                 # (batch, rate) -> final losses, failed: inf
    for value in results.values:
        finals[tuple(value.value)] = [r.history["loss"][-1] if r.diverged_epoch is None
                                      and math.isfinite(r.history["loss"][-1]) else math.inf
                                      for r in value.runs]
    best = [min(data["rates"], key=lambda r: (np.median(finals[(b, r)]), r))
            for b in data["batches"]]
    assert data["best_rate"] == best
    assert data["alpha"] == pytest.approx(np.polyfit(np.log(data["batches"]), np.log(best), 1)[0])
    assert data["low"] <= data["alpha"] <= data["high"]
    assert (out / "bs-lr-tiny" / "scaling-rule" / "scaling-rule.png").exists()
