"""The critical batch size (McCandlish et al. 2018, *An Empirical Model of Large-Batch
Training*, §2.3 and §3): from a batch-size study, the steps each run needed to reach a
target, and the fit of

    S(B) = S_min (1 + B_noise / B)        (equivalently E = S·B = E_min (1 + B / B_noise))

with a seed-bootstrap interval for S_min and B_noise.

**The fit.** Least squares on log S over the batch sizes (the per-batch median over the
seeds), by profiling: for a given B_noise the best log S_min is the mean of
log S − log(1 + B_noise/B), so the fit is a one-dimensional search over log B_noise on a
fine log grid (refined by a parabola through the best three points). Why log S and not
S against 1/B (which is linear, S = S_min + S_min·B_noise/B): steps-to-target spans
decades across the batch sizes and its seed noise is roughly proportional to it, so least
squares on S itself is ruled by the smallest batches; on log S every batch size weighs
the same, as a relative error. The search is vectorized, so every bootstrap resample is
fitted the same way in one pass.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hyperlab.science._text import columns
from hyperlab.science.grid import BatchRateGrid, batch_rate_grid
from hyperlab.stats import jsonable

__all__ = ["METRICS", "steps_to_target", "fit_critical", "CriticalFit", "CriticalBatch",
           "critical_batch", "critical_batch_from_grid"]

# the logged keys a target may be set on; accuracies must rise to it, losses fall to it
METRICS = ("val_accuracy", "accuracy", "val_loss", "loss")
GRID_DECADES = 2.0        # B_noise is searched from min(B)/100 to max(B)*100
GRID_POINTS = 2001


def _rising(metric: str) -> bool:
    return metric.endswith("accuracy")


def steps_to_target(values: Sequence[float], steps_per_epoch: int, target: float,
                    rising: bool) -> float:
    """The updates a run needed to reach ``target`` (``rising``: a value >= it, else <=)
    from its per-epoch ``values`` (the value after epoch e is taken at e × steps_per_epoch
    updates): linearly interpolated between the last epoch short of the target and the
    first that reaches it; ``steps_per_epoch`` if the first epoch already does (an upper
    bound); +inf if no epoch does."""
    v = np.asarray(values, dtype=float)
    reached = (v >= target) if rising else (v <= target)
    reached &= np.isfinite(v)
    if not reached.any():
        return math.inf
    e = int(np.argmax(reached))
    if e == 0:
        return float(steps_per_epoch)
    before, after = v[e - 1], v[e]
    frac = (target - before) / (after - before) if math.isfinite(before) else 1.0
    return float(steps_per_epoch * (e + min(max(frac, 0.0), 1.0)))


def _profile_fit(batches: np.ndarray, log_s: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Least squares of ``log_s`` (resamples × batches; non-finite: left out) on
    log S_min + log(1 + B_noise/B): per resample (S_min, B_noise, at_edge), NaN where
    fewer than three batch sizes are finite; ``at_edge`` where the best B_noise is the
    end of the searched range (the data do not bound it)."""
    log_b = np.log(batches)
    grid = np.linspace(log_b.min() - GRID_DECADES * math.log(10),
                       log_b.max() + GRID_DECADES * math.log(10), GRID_POINTS)
    f = np.log1p(np.exp(grid[:, None] - log_b[None, :]))            # (G, nb)
    w = np.isfinite(log_s).astype(float)
    y = np.where(w > 0, log_s, 0.0)
    n = w.sum(axis=1)                                               # (R,)
    wy, wf = (w * y).sum(axis=1), w @ f.T                           # (R,), (R, G)
    sse = ((w * y * y).sum(axis=1)[:, None] - 2 * (w * y) @ f.T + w @ (f * f).T
           - (wy[:, None] - wf) ** 2 / np.maximum(n, 1)[:, None])
    best = np.argmin(sse, axis=1)
    edge = (best == 0) | (best == GRID_POINTS - 1)
    inner = np.clip(best, 1, GRID_POINTS - 2)
    rows = np.arange(len(best))
    s0, s1, s2 = sse[rows, inner - 1], sse[rows, inner], sse[rows, inner + 1]
    curve = s0 - 2 * s1 + s2
    shift = np.where(~edge & (curve > 0), 0.5 * (s0 - s2) / np.where(curve > 0, curve, 1), 0)
    step = grid[1] - grid[0]
    log_noise = grid[best] + np.clip(shift, -1, 1) * step
    fitted = np.log1p(np.exp(log_noise[:, None] - log_b[None, :]))
    log_min = (w * (y - fitted)).sum(axis=1) / np.maximum(n, 1)
    bad = n < 3
    return (np.where(bad, np.nan, np.exp(log_min)), np.where(bad, np.nan, np.exp(log_noise)),
            edge & ~bad)


@dataclass(frozen=True)
class CriticalFit:
    """S_min and B_noise with their bootstrap percentile intervals; ``edge``: the point
    fit's B_noise lies at the end of the searched range, ``edge_share`` the share of
    resamples whose did; ``rms_log`` the root-mean-square residual of the fit in natural
    log (0.1: the curve misses the medians by about 10 %)."""

    s_min: float
    s_min_low: float
    s_min_high: float
    b_noise: float
    b_noise_low: float
    b_noise_high: float
    level: float
    resamples: int
    edge: bool
    edge_share: float
    rms_log: float

    @property
    def e_min(self) -> float:
        """The fewest examples: E_min = S_min · B_noise."""
        return self.s_min * self.b_noise

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**self.__dict__, "e_min": self.e_min})


def _pick(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per batch size the median steps over the seeds of its best rate (the lowest median;
    the lowest rate on a tie) and that rate's index, from steps (..., batches, rates,
    seeds); +inf where no rate's median is finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # a cell no seed reached: NaN
        med = np.nanmedian(steps, axis=-1)
    med = np.where(np.isnan(med), np.inf, med)
    return med.min(axis=-1), med.argmin(axis=-1)


def fit_critical(batches: Sequence[int], steps: np.ndarray, *, level: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> CriticalFit:
    """Fit S = S_min (1 + B_noise/B) to ``steps`` (batches × rates × seeds, or batches ×
    seeds for one rate; +inf: never reached, NaN: missing) at ``batches``: the point fit to
    each batch size's median over the seeds at its best rate, and the percentile interval
    over ``resamples`` resamples of whole seeds (each resample picks the best rates again,
    so the choice of rate is part of the uncertainty)."""
    b = np.asarray(batches, dtype=float)
    s = np.asarray(steps, dtype=float)
    if s.ndim == 2:
        s = s[:, None, :]
    if s.shape[0] != len(b) or len(b) < 3:
        raise ValueError(f"the fit needs steps for each of at least 3 batch sizes, got "
                         f"{len(b)} batch sizes and steps of shape {np.shape(steps)}")
    med, _ = _pick(s)
    with np.errstate(divide="ignore"):
        s_min, b_noise, edge = _profile_fit(b, np.log(med)[None, :])
        pred = np.log(s_min[0] * (1 + b_noise[0] / b))
        ok = np.isfinite(med)
        rms = float(np.sqrt(np.mean((np.log(med[ok]) - pred[ok]) ** 2))) if ok.sum() else math.nan
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, s.shape[-1], size=(resamples, s.shape[-1]))
        boot, _ = _pick(s[:, :, picks].transpose(2, 0, 1, 3))       # (R, batches)
        bs_min, bb_noise, bedge = _profile_fit(b, np.log(boot))
    tail = (1 - level) / 2 * 100

    def interval(x: np.ndarray) -> tuple[float, float]:
        x = x[np.isfinite(x)]
        return ((float(np.percentile(x, tail)), float(np.percentile(x, 100 - tail)))
                if x.size else (math.nan, math.nan))

    return CriticalFit(float(s_min[0]), *interval(bs_min), float(b_noise[0]),
                       *interval(bb_noise), level, resamples, bool(edge[0]),
                       float(bedge.mean()), rms)


def _batches(sizes: list[int]) -> str:
    """'Batch size 4 lies' or 'Batch sizes 16 to 450 lie'."""
    if len(sizes) == 1:
        return f"Batch size {sizes[0]} lies"
    return f"Batch sizes {sizes[0]} to {sizes[-1]} lie"


@dataclass
class CriticalBatch:
    """The steps to target of every run (``steps``: batches × rates × seeds), the rate
    chosen per batch size, the fit, and (when given) B_simple from ``hyperlab noise-scale``
    as (median, low, high)."""

    grid: BatchRateGrid
    metric: str
    target: float
    steps: np.ndarray
    fit: CriticalFit
    b_simple: tuple[float, float, float] | None = None

    @property
    def median(self) -> np.ndarray:
        """Per batch size the median steps over the seeds at its chosen rate."""
        return _pick(self.steps)[0]

    @property
    def chosen(self) -> list[float]:
        """Per batch size the rate with the lowest median steps."""
        return [self.grid.rates[j] for j in _pick(self.steps)[1]]

    @property
    def first_epoch(self) -> list[int]:
        """Per batch size, the seeds (at its chosen rate) that reached the target in the
        first epoch: their steps are upper bounds."""
        out = []
        for i, j in enumerate(_pick(self.steps)[1]):
            out.append(int(np.sum(self.steps[i, j] == self.grid.steps_per_epoch[i])))
        return out

    def setup(self) -> str:
        c = self.grid.config
        hidden = "-".join(str(h) for h in c["model"]["hidden"]) or "no"
        opt = c["compile"]["optimizer"]
        return (f"study {self.grid.name}: {c['data']['name']}, {hidden} hidden "
                f"{c['model']['activation']}, {opt['name']}")

    def answer(self) -> str:
        """The findings in one paragraph, claiming no more than the data show."""
        g, f, n = self.grid, self.fit, len(self.grid.seeds)
        sign = ">=" if _rising(self.metric) else "<="
        rates = (f"the rate tuned per batch size (the lowest median steps of {len(g.rates)} "
                 f"rates, {g.rates[0]:.3g} to {g.rates[-1]:.3g})" if len(g.rates) > 1
                 else f"one rate ({g.rates[0]:.3g}) at every batch size")
        parts = [f"{self.setup()}; updates to reach {self.metric} {sign} {self.target:g} at "
                 f"{len(g.batches)} batch sizes from {g.batches[0]} to {g.batches[-1]}, "
                 f"{rates}, n = {n} seeds."]
        med = self.median
        never = [b for b, m in zip(g.batches, med) if not math.isfinite(m)]
        if never:
            parts.append(f"At batch size {', '.join(map(str, never))} the median run never "
                         f"reached the target: left out of the fit.")
        if not math.isfinite(f.b_noise):
            parts.append("Fewer than three batch sizes reached the target: no fit.")
            return " ".join(parts)
        ci = lambda lo, hi: (f"{f.level:.0%} bootstrap CI {lo:.3g} to {hi:.3g}"
                             if math.isfinite(lo) else "no interval")
        parts.append(f"Least squares on log S over the per-batch medians gives B_noise = "
                     f"{f.b_noise:.3g} ({ci(f.b_noise_low, f.b_noise_high)}) and S_min = "
                     f"{f.s_min:.3g} updates ({ci(f.s_min_low, f.s_min_high)}), so E_min = "
                     f"{f.e_min:.3g} examples; the curve misses the medians by "
                     f"{math.expm1(f.rms_log):.0%} (root mean square, relative).")
        lo_b, hi_b = min(g.batches) / 10 ** GRID_DECADES, max(g.batches) * 10 ** GRID_DECADES
        if f.edge or f.edge_share > (1 - f.level) / 2:
            parts.append(f"B_noise is not bounded by these data: {f.edge_share:.0%} of "
                         f"resamples put it at the end of the searched range ({lo_b:.3g} to "
                         f"{hi_b:.3g}); the steps {'barely depend on' if f.b_noise < min(g.batches) else 'fall nearly in proportion to'} "
                         f"the batch size over the whole measured range.")
        else:
            measured = [b for b, m in zip(g.batches, med) if math.isfinite(m)]
            small = [b for b in measured if b < f.b_noise_low]
            large = [b for b in measured if b > f.b_noise_high]
            if small:
                parts.append(f"{_batches(small)} below the interval: "
                             f"perfect-scaling side (B < B_noise: doubling the batch cuts "
                             f"the steps by a quarter to a half).")
            if large:
                parts.append(f"{_batches(large)} above it: "
                             f"diminishing returns (B > B_noise: doubling the batch cuts "
                             f"the steps by less than a quarter and costs more examples).")
        early = sum(self.first_epoch)
        if early:
            parts.append(f"{early} of the chosen runs reached the target within their first "
                         f"epoch, so their steps are upper bounds (one epoch's updates).")
        if len(g.rates) == 1:
            parts.append("With one rate for every batch size the fit describes that rate, "
                         "not the tuned optimum the model assumes.")
        if self.b_simple is not None:
            m, lo, hi = self.b_simple
            side = ("inside" if f.b_noise_low <= m <= f.b_noise_high else "below"
                    if m < f.b_noise_low else "above")
            parts.append(f"B_simple from the noise scale: {m:.3g} (CI {lo:.3g} to {hi:.3g}), "
                         f"{side} B_noise's interval; B_simple estimates B_noise only when the "
                         f"Hessian is a multiple of the identity.")
        if n < 10:
            parts.append(f"With {n} seeds bootstrap intervals tend to be too narrow.")
        return " ".join(parts)

    def table(self) -> str:
        """Per batch size: the chosen rate, steps per epoch, median steps, the fit's steps,
        seeds that reached the target."""
        rows = [("batch", "rate", "steps/epoch", "median steps", "fit", "reached")]
        f = self.fit
        for i, (b, r, m) in enumerate(zip(self.grid.batches, self.chosen, self.median)):
            j = self.grid.rates.index(r)
            reached = int(np.sum(np.isfinite(self.steps[i, j])))
            total = int(np.sum(~np.isnan(self.steps[i, j])))
            pred = f.s_min * (1 + f.b_noise / b) if math.isfinite(f.b_noise) else math.nan
            rows.append((str(b), f"{r:.3g}", str(self.grid.steps_per_epoch[i]),
                         f"{m:.4g}" if math.isfinite(m) else "never",
                         f"{pred:.4g}" if math.isfinite(pred) else "-", f"{reached}/{total}"))
        return columns(rows)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON types (never-reached steps as null)."""
        g = self.grid
        return jsonable({
            "setup": self.setup(), "study": g.name, "config": g.config,
            "metric": self.metric, "target": self.target, "batches": g.batches,
            "rates": g.rates, "seeds": g.seeds, "steps_per_epoch": g.steps_per_epoch,
            "steps": self.steps, "chosen_rate": self.chosen, "median_steps": self.median,
            "model": "S = S_min (1 + B_noise / B), least squares on log S",
            "fit": self.fit.to_dict(),
            "b_simple": None if self.b_simple is None else dict(zip(
                ("median", "low", "high"), self.b_simple)),
            "answer": self.answer()})


def critical_batch_from_grid(grid: BatchRateGrid, *, metric: str = "val_accuracy",
                             target: float = 0.8, level: float = 0.95, resamples: int = 2000,
                             b_simple: tuple[float, float, float] | None = None
                             ) -> CriticalBatch:
    """Steps to ``target`` of ``metric`` for every run of ``grid``, and the fit."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: choose one of {', '.join(METRICS)}")
    if not math.isfinite(target):
        raise ValueError(f"the target must be a finite number, got {target!r}")
    steps = grid.measure(lambda run, spe: steps_to_target(
        run.history.get(metric, []), spe, target, _rising(metric)))
    if metric.startswith("val_") and not any(
            run.history.get(metric) for row in grid.runs for cell in row for run in cell.values()):
        raise ValueError(f"no run logged {metric!r} (no validation data?); choose "
                         f"another metric")
    fit = fit_critical(grid.batches, steps, level=level, resamples=resamples)
    return CriticalBatch(grid, metric, target, steps, fit, b_simple)


def critical_batch(study, results, **options: Any) -> CriticalBatch:
    """:func:`critical_batch_from_grid` of a batch-size study's stored ``results``."""
    return critical_batch_from_grid(batch_rate_grid(study, results), **options)
