"""Learning-rate sensitivity from per-seed results: pure functions of arrays.

The inputs are one number per (rate, seed): ``final_loss`` of shape (rates, seeds), the
runs' ``initial_loss`` (one per seed, or per rate and seed), on a grid of increasing
``rates``. Seed ``s`` of every rate starts from the same weights and data order, so the
bootstrap over seeds resamples whole seeds (every rate's result of a drawn seed at once).

- a run **diverged** when its final loss is not finite or above its initial loss;
- a rate is **stable** when every seed's final loss is finite and below its initial loss;
  the stable region is the longest run of consecutive stable rates on the grid;
- the **divergence edge** is the smallest rate where at least half the seeds diverged;
- the **recommended rate** has the lowest median final loss over the seeds (a diverged,
  non-finite loss counts as +inf, so a rate where most seeds blow up is never chosen); its
  interval is the percentile interval, on the log-rate grid, of the recommended rate
  over bootstrap resamples of the seeds;
- the **range test** (Smith 2017, "Cyclical learning rates for training neural networks",
  section 3.3): one run whose rate grows exponentially; its suggestion is the rate where
  the loss falls fastest per decade of rate (the most negative slope d loss / d log10 rate,
  central differences), on the curve up to where it blows up (a non-finite loss or one
  above ``BLOWUP`` times the lowest loss so far, the cut fastai's ``lr_find`` uses).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hyperlab.stats import Estimate, estimate, proportion
from hyperlab.stats import jsonable

__all__ = ["DIVERGENCE_RULE", "RECOMMENDATION_RULE", "RANGE_TEST_RULE", "BLOWUP", "RateResult",
           "Region", "Recommendation", "Sensitivity", "diverged", "stable_rates",
           "stable_region", "divergence_edge", "recommend", "steepest_descent", "analyze"]

DIVERGENCE_RULE = "its final loss is not finite or above its initial loss"
RECOMMENDATION_RULE = "the rate with the lowest median final training loss over the seeds"
RANGE_TEST_RULE = ("the rate where the loss falls fastest per decade of rate, before the "
                   "loss blows up")
BLOWUP = 4.0  # the range test's curve ends where the loss exceeds this times its lowest


@dataclass(frozen=True)
class RateResult:
    """One rate's seeds: median final loss and validation accuracy (bootstrap intervals),
    the divergence rate (Clopper–Pearson interval) and whether the rate is stable."""

    rate: float
    final_loss: Estimate
    val_accuracy: Estimate
    divergence: Estimate
    diverged: int
    n: int
    stable: bool


@dataclass(frozen=True)
class Region:
    """Consecutive grid rates ``low`` .. ``high``: ``count`` rates, ``decades`` wide."""

    low: float
    high: float
    count: int
    decades: float


@dataclass(frozen=True)
class Recommendation:
    """The recommended rate, its bootstrap interval on the grid (``low`` .. ``high``) and the
    share of resamples that chose the same rate."""

    rate: float
    low: float
    high: float
    agreement: float
    level: float
    resamples: int
    rule: str = RECOMMENDATION_RULE


@dataclass(frozen=True)
class Sensitivity:
    """Everything :func:`analyze` finds; ``to_dict()`` gives JSON types."""

    rates: list[RateResult]
    n_seeds: int
    grid_decades: float          # the grid's step in decades: the resolution of every answer
    stable: Region | None
    edge: RateResult | None
    recommended: Recommendation | None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)


def _grid(rates: ArrayLike) -> np.ndarray:
    r = np.asarray(rates, dtype=float)
    if r.ndim != 1 or r.size < 2 or not np.all(np.isfinite(r)) or np.any(r <= 0) \
            or np.any(np.diff(r) <= 0):
        raise ValueError(f"rates must be at least two increasing positive numbers, got {rates!r}")
    return r


def _table(rates: np.ndarray, values: ArrayLike, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[0] != rates.size or v.shape[1] < 1:
        raise ValueError(f"{name} must have shape (rates, seeds) = ({rates.size}, n), "
                         f"got {v.shape}")
    return v


def diverged(final_loss: ArrayLike, initial_loss: ArrayLike) -> np.ndarray:
    """Per run, whether it diverged: a final loss that is not finite or above its initial
    loss (``initial_loss`` broadcasts: one per seed, or one per run)."""
    final = np.asarray(final_loss, dtype=float)
    initial = np.broadcast_to(np.asarray(initial_loss, dtype=float), final.shape)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(final) | (final > initial)


def stable_rates(final_loss: ArrayLike, initial_loss: ArrayLike) -> np.ndarray:
    """Per rate (rows of ``final_loss``), whether every seed's final loss is finite and below
    its initial loss."""
    final = np.asarray(final_loss, dtype=float)
    initial = np.broadcast_to(np.asarray(initial_loss, dtype=float), final.shape)
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(final) & (final < initial), axis=1)


def stable_region(rates: ArrayLike, stable: ArrayLike) -> Region | None:
    """The longest run of consecutive stable ``rates`` (the lower one on a tie); None when
    no rate is stable."""
    r, ok = _grid(rates), np.asarray(stable, dtype=bool)
    best: tuple[int, int] | None = None
    start = None
    for i, good in enumerate([*ok, False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    if best is None:
        return None
    low, high = r[best[0]], r[best[1] - 1]
    return Region(float(low), float(high), best[1] - best[0], math.log10(high / low))


def divergence_edge(div: ArrayLike) -> int | None:
    """Index of the first rate (row of ``div``, runs that diverged) where at least half the
    seeds diverged; None when there is none."""
    share = np.asarray(div, dtype=float).mean(axis=1)
    hits = np.flatnonzero(share >= 0.5)
    return int(hits[0]) if hits.size else None


def _ranked(final_loss: np.ndarray) -> np.ndarray:
    """Final losses with non-finite ones (diverged runs) as +inf."""
    return np.where(np.isfinite(final_loss), final_loss, np.inf)


def recommend(rates: ArrayLike, final_loss: ArrayLike, *, level: float = 0.95,
              resamples: int = 2000, seed: int = 0) -> Recommendation | None:
    """The rate with the lowest median final loss (non-finite counts as +inf; the lowest
    rate on a tie) and its ``level`` percentile interval over ``resamples`` bootstrap
    resamples of the seeds (columns), read off the log-rate grid outward (the lower end
    rounded down, the upper up, to grid rates). None when every rate's median is +inf."""
    r = _grid(rates)
    loss = _ranked(_table(r, final_loss, "final_loss"))
    median = np.median(loss, axis=1)
    if not np.isfinite(median).any():
        return None
    best = int(np.argmin(median))
    n = loss.shape[1]
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    chosen = np.argmin(np.median(loss[:, draws], axis=2), axis=0)  # (resamples,)
    lo = int(np.quantile(chosen, (1 - level) / 2, method="lower"))
    hi = int(np.quantile(chosen, (1 + level) / 2, method="higher"))
    return Recommendation(float(r[best]), float(r[lo]), float(r[hi]),
                          float(np.mean(chosen == best)), level, resamples)


def steepest_descent(rates: ArrayLike, losses: ArrayLike, blowup: float = BLOWUP) -> int | None:
    """The range test's suggestion: the index of the most negative slope of ``losses``
    against log10(``rates``) (central differences), on the curve up to its first
    non-finite loss or loss above ``blowup`` times the lowest loss before it; the curve's
    two ends, which have no central difference, are never suggested. None when fewer than
    three points remain or the loss never falls."""
    r = _grid(rates)
    loss = np.asarray(losses, dtype=float)
    if loss.shape != r.shape:
        raise ValueError(f"losses must have one value per rate ({r.size}), got {loss.shape}")
    end = 0
    lowest = math.inf
    while end < loss.size and math.isfinite(loss[end]) and loss[end] <= blowup * lowest:
        lowest = min(lowest, loss[end])
        end += 1
    if end < 3:
        return None
    slope = np.gradient(loss[:end], np.log10(r[:end]))[1:-1]  # interior: central differences
    best = int(np.argmin(slope))
    return best + 1 if slope[best] < 0 else None


def analyze(rates: ArrayLike, final_loss: ArrayLike, initial_loss: ArrayLike,
            val_accuracy: ArrayLike | None = None, *, level: float = 0.95,
            resamples: int = 2000, seed: int = 0) -> Sensitivity:
    """The sensitivity of a (rates, seeds) sweep: per rate the median final loss and
    validation accuracy with bootstrap intervals and the divergence rate with its exact
    interval; the stable region, the divergence edge and the recommended rate."""
    r = _grid(rates)
    loss = _table(r, final_loss, "final_loss")
    acc = (np.full_like(loss, np.nan) if val_accuracy is None
           else _table(r, val_accuracy, "val_accuracy"))
    div = diverged(loss, initial_loss)
    ok = stable_rates(loss, initial_loss)
    rows = []
    for i, rate in enumerate(r):
        rows.append(RateResult(
            float(rate),
            estimate(loss[i], level, "bootstrap", "median", resamples=resamples, seed=seed),
            estimate(acc[i], level, "bootstrap", "median", resamples=resamples, seed=seed),
            proportion(div[i].astype(float), level), int(div[i].sum()), loss.shape[1],
            bool(ok[i])))
    edge = divergence_edge(div)
    return Sensitivity(rows, loss.shape[1], float(np.mean(np.diff(np.log10(r)))),
                       stable_region(r, ok), None if edge is None else rows[edge],
                       recommend(r, loss, level=level, resamples=resamples, seed=seed))
