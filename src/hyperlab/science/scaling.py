"""The scaling-rule referee: from a batch size × learning rate grid study, the best rate per
batch size and the exponent α of lr* ∝ B^α, with a seed-bootstrap interval, against the
rules practitioners quote: linear (α = 1; Goyal et al. 2017, *Accurate, Large Minibatch
SGD*), square root (α = 0.5; Krizhevsky 2014, *One weird trick*; Hoffer et al. 2017) and
no scaling (α = 0, as often reported for adaptive optimizers).

Per batch size the best rate is the grid rate with the best median over the seeds of the
chosen measure (the final training loss by default; a run whose loss is not finite counts
as the worst). α is the least-squares slope of log lr* on log B. Its interval is the
percentile interval over resamples of whole seeds, each resample choosing the best rates
again. A rule is named only when the interval contains its α and excludes the other two.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperlab.science._text import columns
from hyperlab.science.grid import BatchRateGrid, batch_rate_grid
from hyperlab.stats import jsonable

__all__ = ["RULES", "MEASURES", "best_rates", "nan_median", "slope", "ScalingRule", "scaling_rule",
           "scaling_rule_from_grid", "scaling_rule_from_values"]

RULES = ((1.0, "linear (α≈1)"), (0.5, "square root (α≈0.5)"), (0.0, "≈0 (adaptive)"))
# the final value of a logged key; True: higher is better
MEASURES = {"loss": False, "val_loss": False, "val_accuracy": True, "accuracy": True}


def best_rates(cost: np.ndarray) -> np.ndarray:
    """Per batch size (and any leading axes) the index of the rate with the lowest median
    ``cost`` over the seeds, from ``cost`` (..., batches, rates, seeds; +inf: a failed run,
    NaN: missing; a cell missing at every seed counts as +inf); the lowest rate on a tie."""
    med = nan_median(cost)
    return np.where(np.isnan(med), np.inf, med).argmin(axis=-1)


def nan_median(values: np.ndarray) -> np.ndarray:
    """The median over the last axis leaving NaN (missing) out; NaN where all are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=-1)


def slope(log_b: np.ndarray, log_r: np.ndarray) -> np.ndarray:
    """The least-squares slope of ``log_r`` (..., batches) on ``log_b`` (batches)."""
    xb = log_b - log_b.mean()
    return ((log_r - log_r.mean(axis=-1, keepdims=True)) * xb).sum(axis=-1) / (xb * xb).sum()


@dataclass
class ScalingRule:
    """The final ``measure`` of every run (``values``: batches × rates × seeds), the best
    rate per batch size, α with its bootstrap interval and the share of resamples that
    chose the same best rates."""

    grid: BatchRateGrid
    measure: str
    values: np.ndarray
    best: list[float]
    alpha: float
    low: float
    high: float
    level: float
    resamples: int
    agreement: float

    def verdict(self) -> dict[str, Any]:
        """The rule named (or None), and the rules the interval includes and excludes."""
        inside = [name for a, name in RULES if self.low <= a <= self.high]
        outside = [name for a, name in RULES if not self.low <= a <= self.high]
        return {"rule": inside[0] if len(inside) == 1 else None, "consistent": inside,
                "excluded": outside}

    @property
    def edges(self) -> list[int]:
        """Batch sizes whose best rate is the lowest or highest of the grid."""
        r = self.grid.rates
        return [b for b, x in zip(self.grid.batches, self.best) if x in (r[0], r[-1])]

    def setup(self) -> str:
        c = self.grid.config
        hidden = "-".join(str(h) for h in c["model"]["hidden"]) or "no"
        return (f"study {self.grid.name}: {c['data']['name']}, {hidden} hidden "
                f"{c['model']['activation']}, {c['compile']['optimizer']['name']}")

    def answer(self) -> str:
        """The findings in one paragraph, claiming no more than the data show."""
        g, n = self.grid, len(self.grid.seeds)
        better = "highest" if MEASURES[self.measure] else "lowest"
        spacing = math.log10(g.rates[1] / g.rates[0]) if len(g.rates) > 1 else math.nan
        span = math.log10(g.batches[-1] / g.batches[0])
        best = ", ".join(f"{b}: {r:.3g}" for b, r in zip(g.batches, self.best))
        parts = [f"{self.setup()}; per batch size the rate of {len(g.rates)} ({g.rates[0]:.3g} "
                 f"to {g.rates[-1]:.3g}) with the {better} median final {self.measure} over "
                 f"n = {n} seeds: {best}.",
                 f"The fitted exponent of lr* ∝ B^α is α = {self.alpha:.2f} "
                 f"({self.level:.0%} bootstrap CI {self.low:.2f} to {self.high:.2f}; "
                 f"{self.agreement:.0%} of resamples chose the same rates)."]
        v = self.verdict()
        if v["rule"] is not None:
            parts.append(f"The interval supports {v['rule']} and excludes "
                         f"{' and '.join(v['excluded'])}.")
        elif v["consistent"]:
            parts.append(f"The interval does not decide between {' and '.join(v['consistent'])}"
                         + (f"; it excludes {' and '.join(v['excluded'])}." if v["excluded"]
                            else "."))
        else:
            parts.append(f"The interval excludes all three rules ({', '.join(v['excluded'])}).")
        parts.append(f"The grid's rates are {spacing:.2g} decades apart and its batch sizes "
                     f"span {span:.2g} decades, so α is read to about {spacing / span:.2g} "
                     f"(one rate step across the batch range).")
        if self.edges:
            parts.append(f"At batch size {', '.join(map(str, self.edges))} the best rate is at "
                         f"an end of the grid: the optimum may lie beyond it, which pulls α "
                         f"toward 0 there; widen the rates.")
        if n < 10:
            parts.append(f"With {n} seeds bootstrap intervals tend to be too narrow.")
        return " ".join(parts)

    def table(self) -> str:
        """Median final measure per batch size (rows) and rate (columns; "diverged": most
        seeds' runs failed); * the best."""
        g = self.grid
        head = ("batch", *(f"{r:.3g}" for r in g.rates))
        rows = [head]
        for b, row, best in zip(g.batches, nan_median(self.values), self.best):
            rows.append((str(b), *(("-" if math.isnan(m) else "diverged" if math.isinf(m)
                                    else f"{m:.3g}")
                                   + ("*" if r == best else "") for r, m in zip(g.rates, row))))
        return columns(rows)

    def to_dict(self) -> dict[str, Any]:
        g = self.grid
        return jsonable({
            "setup": self.setup(), "study": g.name, "config": g.config,
            "measure": self.measure, "batches": g.batches, "rates": g.rates,
            "seeds": g.seeds, "values": self.values, "best_rate": self.best,
            "alpha": self.alpha, "low": self.low, "high": self.high, "level": self.level,
            "resamples": self.resamples, "agreement": self.agreement,
            "verdict": self.verdict(), "edges": self.edges, "answer": self.answer()})


def scaling_rule_from_grid(grid: BatchRateGrid, *, measure: str = "loss", level: float = 0.95,
                           resamples: int = 2000, seed: int = 0) -> ScalingRule:
    """The referee's answer for ``grid`` on the final ``measure``."""
    if measure not in MEASURES:
        raise ValueError(f"measure {measure!r}: choose one of {', '.join(MEASURES)}")
    if len(grid.rates) < 2:
        raise ValueError(f"study {grid.name!r} has one learning rate; the referee needs a "
                         f"batch size x learning rate grid (sweep both)")

    def final(run, _spe: int) -> float:
        values = run.history.get(measure, [])
        last = float(values[-1]) if values else math.nan
        return last if math.isfinite(last) and run.diverged_epoch is None else math.inf

    values = grid.measure(final)
    if np.all(np.isinf(values) | np.isnan(values)):
        raise ValueError(f"no run logged a finite final {measure!r}; choose another measure")
    return scaling_rule_from_values(grid, measure, values, level=level, resamples=resamples,
                                    seed=seed)


def scaling_rule_from_values(grid: BatchRateGrid, measure: str, values: np.ndarray, *,
                             level: float = 0.95, resamples: int = 2000, seed: int = 0
                             ) -> ScalingRule:
    """The referee's answer from ``values`` (batches × rates × seeds; +inf: a run that
    failed, NaN: missing)."""
    cost = np.where(np.isinf(values), np.inf, -values if MEASURES[measure] else values)
    log_b, log_r = np.log(grid.batches), np.log(grid.rates)
    pick = best_rates(cost)
    alpha = float(slope(log_b, log_r[pick]))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.shape[-1], size=(resamples, values.shape[-1]))
    picks = best_rates(cost[:, :, draws].transpose(2, 0, 1, 3))    # (resamples, batches)
    alphas = slope(log_b, log_r[picks])
    tail = (1 - level) / 2 * 100
    return ScalingRule(grid, measure, values, [grid.rates[j] for j in pick], alpha,
                       float(np.percentile(alphas, tail)),
                       float(np.percentile(alphas, 100 - tail)), level, resamples,
                       float(np.mean(np.all(picks == pick, axis=1))))


def scaling_rule(study, results, **options: Any) -> ScalingRule:
    """:func:`scaling_rule_from_grid` of a batch size × rate study's stored ``results``."""
    return scaling_rule_from_grid(batch_rate_grid(study, results), **options)
