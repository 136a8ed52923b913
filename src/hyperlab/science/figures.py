"""Figures of :mod:`hyperlab.science`, drawn as :mod:`hyperlab.reports.figures` draws: every
seed visible as a thin line or dot, the median thick, intervals shaded, files written
atomically (PNG and SVG)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hyperlab._fileio import output_folder
from hyperlab.reports._style import pyplot
from hyperlab.reports.figures import MEDIAN_STYLE, SEED_STYLE, save_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from hyperlab.science.critical import CriticalBatch
    from hyperlab.science.noise import NoiseScaleCurve
    from hyperlab.science.scaling import ScalingRule
    from hyperlab.science.sharpness import Sharpness
    from hyperlab.science.sweep import LRSweep

__all__ = ["lr_sweep_figure", "sharpness_figure", "noise_scale_figure", "save",
           "save_lr_sweep", "save_noise_scale", "critical_batch_figure",
           "save_critical_batch", "scaling_rule_figure", "save_scaling_rule"]

SEED_COLOR = "tab:blue"
STABLE_COLOR = "tab:green"
EDGE_COLOR = "tab:red"
PICK_COLOR = "black"
LOSS_TOP = 3.0  # the loss axis ends at this times the largest initial loss


def _label(rate: float) -> str:
    return f"{rate:.3g}"


def _versus_rate(ax: Axes, sweep: LRSweep, values: np.ndarray, estimates: list, ylabel: str,
                 top: float | None = None) -> None:
    """Every seed's ``values`` (rates × seeds) as a thin line with dots, non-finite runs as
    crosses at the top (with their count), the median with its interval, and the stable
    region and edge. ``top``: a log y axis up to ``top``, values above it as triangles."""
    r, a = sweep.rates, sweep.analysis
    shown = values if top is None else np.where(values <= top, values, np.nan)
    for seed_values in shown.T:
        ok = np.isfinite(seed_values)
        ax.plot(r[ok], seed_values[ok], color=SEED_COLOR, marker="o", markersize=2.5,
                gid="seed", **SEED_STYLE)
    edge_of_axes = ax.get_xaxis_transform()
    for mask, marker, label in ((~np.isfinite(values), "x", "not finite (count)"),
                                (np.isfinite(values) & (values > (top or np.inf)), "^",
                                 "above the axis (count)")):
        count = mask.sum(axis=1)
        if count.any():
            ax.scatter(r[count > 0], np.full(int((count > 0).sum()), 0.96), marker=marker,
                       color=EDGE_COLOR, transform=edge_of_axes, label=label, zorder=4)
            for rate, k in zip(r[count > 0], count[count > 0]):
                ax.annotate(str(k), (rate, 0.96), xycoords=edge_of_axes, xytext=(4, -3),
                            textcoords="offset points", fontsize=7, color=EDGE_COLOR)
    med = np.array([e.estimate for e in estimates])
    lo = np.array([e.low for e in estimates])
    hi = np.array([e.high for e in estimates])
    if top is not None:
        med, lo, hi = (np.minimum(v, top) for v in (med, lo, hi))
    ax.plot(r, med, color=SEED_COLOR, label="median", gid="median", zorder=3, **MEDIAN_STYLE)
    level = estimates[0].level
    ax.fill_between(r, lo, hi, where=np.isfinite(lo) & np.isfinite(hi), color=SEED_COLOR,
                    alpha=0.2, linewidth=0, label=f"{level:.0%} CI of the median", gid="band")
    if a.stable is not None:
        ax.axvspan(a.stable.low, a.stable.high, color=STABLE_COLOR, alpha=0.12,
                   label=f"stable ({a.stable.decades:.1f} decades)", gid="stable")
    if a.edge is not None:
        ax.axvline(a.edge.rate, color=EDGE_COLOR, linestyle="--", linewidth=1.2,
                   label=f"divergence edge {_label(a.edge.rate)}", gid="edge")
    ax.set_xscale("log")
    if top is not None:
        ax.set_yscale("log")
        finite = values[np.isfinite(values) & (values > 0)]
        ax.set_ylim(0.7 * float(finite.min()) if finite.size else None, top)
    ax.set_xlabel("learning rate (constant)")
    ax.set_ylabel(ylabel)


def _loss_panel(ax: Axes, sweep: LRSweep) -> None:
    a = sweep.analysis
    _versus_rate(ax, sweep, sweep.final_loss, [x.final_loss for x in a.rates],
                 f"final training loss (epoch {sweep.epochs})",
                 top=LOSS_TOP * float(np.max(sweep.initial_loss)))
    ax.axhline(float(np.median(sweep.initial_loss)), color="gray", linestyle=":",
               linewidth=1.2, label="initial loss (median)")
    rec = a.recommended
    if rec is not None:
        y = next(x.final_loss.estimate for x in a.rates if x.rate == rec.rate)
        ax.errorbar([rec.rate], [y], xerr=[[rec.rate - rec.low], [rec.high - rec.rate]],
                    fmt="*", markersize=11, color=PICK_COLOR, capsize=4, zorder=5, gid="pick",
                    label=f"recommended {_label(rec.rate)} ({rec.level:.0%}: "
                          f"{_label(rec.low)}–{_label(rec.high)})")
    ax.set_title(f"Final loss against the rate, n = {len(sweep.seeds)} seeds", fontsize=10)
    ax.legend(fontsize=7, loc="best")


def _accuracy_panel(ax: Axes, sweep: LRSweep) -> None:
    _versus_rate(ax, sweep, sweep.val_accuracy, [x.val_accuracy for x in sweep.analysis.rates],
                 f"validation accuracy (epoch {sweep.epochs})")
    ax.set_title("Validation accuracy (non-finite runs left out)", fontsize=10)


def _range_panel(ax: Axes, sweep: LRSweep) -> None:
    t = sweep.range_test
    colors = pyplot().get_cmap("tab10")
    for i, (seed, losses, pick) in enumerate(zip(t.seeds, t.losses, t.suggested)):
        color = colors(i % 10)
        ax.plot(t.rates, losses, color=color, linewidth=1.0, alpha=0.8, gid="seed",
                label=f"seed {seed}: {'-' if pick is None else _label(pick)}")
        if pick is not None:
            j = int(np.argmin(np.abs(t.rates - pick)))
            ax.plot([pick], [losses[j]], "o", color=color, markersize=6, zorder=4, gid="pick")
    found = [s for s in t.suggested if s is not None]
    if found:
        ax.axvspan(min(found), max(found), color="gray", alpha=0.15, gid="spread",
                   label=f"suggestions span {t.spread_decades:.1f} decades")
    first = t.losses[:, 0]
    top = 1.3 * float(np.nanmax(first)) if np.isfinite(first).any() else None
    finite = t.losses[np.isfinite(t.losses)]
    if top is not None and finite.size:
        ax.set_ylim(0.0 if finite.min() >= 0 else finite.min(), top)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (×{:.3g} each epoch)".format(t.rates[1] / t.rates[0]))
    ax.set_ylabel("training loss (epoch mean)")
    ax.set_title("One-run range test per seed, its suggestion (dot)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")


def lr_sweep_figure(sweep: LRSweep) -> Figure:
    """The final loss and validation accuracy against the rate and, if it ran, the range
    test of every seed; close it with ``pyplot().close(fig)``."""
    plt = pyplot()
    panels = 3 if sweep.range_test is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.6), squeeze=False)
    _loss_panel(axes[0, 0], sweep)
    _accuracy_panel(axes[0, 1], sweep)
    if sweep.range_test is not None:
        _range_panel(axes[0, 2], sweep)
    fig.suptitle(f"Learning-rate sensitivity: {sweep.setup()}, {sweep.epochs} epochs",
                 fontsize=11)
    fig.tight_layout()
    return fig


def sharpness_figure(curves: Mapping[str, Sequence[Sharpness]], momentum: float = 0.0
                     ) -> Figure:
    """Each run's sharpness against the epoch (one colour per run, a dot per measurement)
    with its stability threshold (2 + 2·momentum)/η dashed in the same colour, on a log
    axis; runs whose rate is not one number (a schedule) get no threshold."""
    from hyperlab.science.sharpness import stability_threshold
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = plt.get_cmap("tab10")
    for i, (label, points) in enumerate(curves.items()):
        color = colors(i % 10)
        ax.plot([p.epoch for p in points], [p.eigenvalue for p in points], "o-", color=color,
                markersize=3, label=label, gid="sharpness")
        rates = {p.learning_rate for p in points}
        if len(rates) == 1 and None not in rates:
            ax.axhline(stability_threshold(rates.pop(), momentum), color=color, linestyle="--",
                       linewidth=1.0, gid="threshold")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top Hessian eigenvalue (sharpness)")
    what = "2/η" if momentum == 0 else f"(2 + 2·{momentum:g})/η"
    ax.set_title(f"Sharpness per run; dashed: its stability threshold {what}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save(fig: Figure, folder: Path, name: str, formats: tuple[str, ...] = ("png", "svg")
         ) -> list[Path]:
    """Write ``fig`` as ``folder/name.<fmt>``, each file atomically; close it; the paths."""
    return save_figure(fig, output_folder(folder, "figures"), name, formats)


def save_lr_sweep(sweep: LRSweep, folder: str | Path, name: str = "lr-sweep") -> list[Path]:
    """Draw :func:`lr_sweep_figure` into ``folder/name.png`` and ``.svg``; the paths."""
    return save(lr_sweep_figure(sweep), Path(folder), name)


def noise_scale_figure(curve: NoiseScaleCurve) -> Figure:
    """B_simple against the epoch: every seed a thin line, the median thick with its
    interval shaded, the batch size trained with as a dashed line, and the two regimes of
    McCandlish et al.'s rule of thumb on either side of it."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.8))
    epochs, values = np.array(curve.epochs), curve.b_simple
    for row in values:
        ok = np.isfinite(row) & (row > 0)
        ax.plot(epochs[ok], row[ok], color=SEED_COLOR, marker="o", markersize=2.5, gid="seed",
                **SEED_STYLE)
    med = np.array([m.estimate for m in curve.median])
    lo = np.array([m.low for m in curve.median])
    hi = np.array([m.high for m in curve.median])
    ax.plot(epochs, med, color=SEED_COLOR, label=f"median of {len(curve.seeds)} seeds",
            gid="median", zorder=3, **MEDIAN_STYLE)
    ax.fill_between(epochs, lo, hi, where=np.isfinite(lo) & np.isfinite(hi) & (lo > 0),
                    color=SEED_COLOR, alpha=0.2, linewidth=0, gid="band",
                    label=f"{curve.level:.0%} bootstrap CI of the median")
    ax.set_yscale("log")
    finite = values[np.isfinite(values) & (values > 0)]
    b = curve.batch_size
    low = min(float(finite.min()) if finite.size else b, b) / 3
    high = max(float(finite.max()) if finite.size else b, b) * 3
    ax.set_ylim(low, high)
    ax.axhline(b, color=EDGE_COLOR, linestyle="--", linewidth=1.2, gid="batch",
               label=f"batch size trained with: {b}")
    ax.axhspan(b, high, color=STABLE_COLOR, alpha=0.08, gid="perfect",
               label="B_simple above the batch: toward perfect scaling "
                     "(B << B_noise, rule of thumb)")
    ax.axhspan(low, b, color=EDGE_COLOR, alpha=0.06, gid="diminishing",
               label="B_simple below the batch: toward diminishing returns "
                     "(B >> B_noise, rule of thumb)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("simple noise scale B_simple = tr(Σ)/|G|²")
    p = curve.points[0][0]
    ax.set_title(f"Gradient noise scale: {curve.setup()}\n(unbiased two-batch estimate, "
                 f"B_small {p.b_small}, B_big {p.b_big}, probe {p.probe})", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def save_noise_scale(curve: NoiseScaleCurve, folder: str | Path, name: str = "noise-scale"
                     ) -> list[Path]:
    """Draw :func:`noise_scale_figure` into ``folder/name.png`` and ``.svg``; the paths."""
    return save(noise_scale_figure(curve), Path(folder), name)


def critical_batch_figure(result: CriticalBatch) -> Figure:
    """Steps to target against the batch size (log-log): every run at its batch size's
    chosen rate a dot, the medians, the fit S_min (1 + B_noise/B) with S_min as its
    asymptote, B_noise with its interval, the two regimes shaded, and B_simple (when
    given) beside it."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.8))
    g, f = result.grid, result.fit
    b = np.array(g.batches, dtype=float)
    chosen = [g.rates.index(r) for r in result.chosen]
    jitter = np.linspace(-0.04, 0.04, len(g.seeds)) if len(g.seeds) > 1 else np.zeros(1)
    for i, j in enumerate(chosen):
        s = result.steps[i, j]
        ok = np.isfinite(s)
        ax.scatter(b[i] * 10 ** jitter[ok], s[ok], s=9, color=SEED_COLOR, alpha=0.5,
                   gid="seed", label="a run (its steps to target)" if i == 0 else None)
    med = result.median
    ok = np.isfinite(med)
    ax.plot(b[ok], med[ok], color=SEED_COLOR, marker="o", gid="median", zorder=3,
            label=f"median of {len(g.seeds)} seeds", **MEDIAN_STYLE)
    lo_x, hi_x = b.min() / 2, b.max() * 2
    ax.set_xlim(lo_x, hi_x)
    if np.isfinite(f.b_noise):
        xs = np.geomspace(lo_x, hi_x, 200)
        ax.plot(xs, f.s_min * (1 + f.b_noise / xs), color=PICK_COLOR, linewidth=1.2,
                gid="fit", label=f"fit: S_min (1 + B_noise/B), S_min {f.s_min:.3g}, "
                                 f"B_noise {f.b_noise:.3g}")
        ax.axhline(f.s_min, color=PICK_COLOR, linestyle=":", linewidth=1, gid="s_min",
                   label="S_min (infinite batch)")
        ax.axvline(f.b_noise, color=EDGE_COLOR, linestyle="--", linewidth=1.2, gid="b_noise")
        if np.isfinite(f.b_noise_low):
            ax.axvspan(max(f.b_noise_low, lo_x), min(f.b_noise_high, hi_x), color=EDGE_COLOR,
                       alpha=0.12, gid="b_noise_ci",
                       label=f"B_noise, {f.level:.0%} bootstrap CI")
            ax.axvspan(lo_x, max(min(f.b_noise_low, hi_x), lo_x), color=STABLE_COLOR,
                       alpha=0.07, gid="perfect", label="perfect scaling (B << B_noise)")
            ax.axvspan(min(max(f.b_noise_high, lo_x), hi_x), hi_x, color="tab:orange",
                       alpha=0.07, gid="diminishing", label="diminishing returns (B >> B_noise)")
    if result.b_simple is not None:
        m, low, high = result.b_simple
        ax.errorbar([m], [np.nanmin(med[ok]) if ok.any() else 1], xerr=[[m - low], [high - m]],
                    fmt="D", color="tab:purple", capsize=3, gid="b_simple",
                    label=f"B_simple (noise scale): {m:.3g}")
    ax.set_xscale("log")
    if ok.any():
        ax.set_yscale("log")
    else:                                   # no run reached the target: nothing to plot
        ax.text(0.5, 0.5, "no batch size's median run reached the target",
                transform=ax.transAxes, ha="center", va="center", gid="nothing")
    ax.set_xlabel("batch size B")
    sign = "≥" if result.metric.endswith("accuracy") else "≤"
    ax.set_ylabel(f"updates to {result.metric} {sign} {result.target:g}")
    rate = "rate tuned per batch" if len(g.rates) > 1 else f"rate {g.rates[0]:.3g}"
    ax.set_title(f"Critical batch size: {result.setup()} ({rate})", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def save_critical_batch(result: CriticalBatch, folder: str | Path,
                        name: str = "critical-batch") -> list[Path]:
    """Draw :func:`critical_batch_figure` into ``folder/name.png`` and ``.svg``; the paths."""
    return save(critical_batch_figure(result), Path(folder), name)


def scaling_rule_figure(result: ScalingRule) -> Figure:
    """Left: the median final measure over the batch size × rate grid, the best rate per
    batch size marked. Right: the best rate against the batch size (log-log) with the
    fitted lr* ∝ B^α and the linear, square-root and constant rules through the same
    middle point."""
    from hyperlab.science.scaling import RULES, nan_median
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    g = result.grid
    med = nan_median(np.where(np.isfinite(result.values), result.values, np.nan))
    finite = med[np.isfinite(med)]
    norm, note = None, ""
    if "loss" in result.measure and finite.size and finite.min() > 0:
        from matplotlib.colors import LogNorm
        top = min(float(finite.max()), 100 * float(finite.min()))
        norm, note = LogNorm(float(finite.min()), top), f", log scale, above {top:.3g} clipped"
    image = left.imshow(med.T, origin="lower", aspect="auto", cmap="viridis", norm=norm,
                        gid="grid")
    fig.colorbar(image, ax=left, label=f"median final {result.measure} of the finite runs\n"
                                       f"(blank: none{note})")
    left.set_xticks(range(len(g.batches)), [str(b) for b in g.batches])
    left.set_yticks(range(len(g.rates)), [f"{r:.3g}" for r in g.rates])
    best = [g.rates.index(r) for r in result.best]
    left.plot(range(len(g.batches)), best, "w*", markersize=10, gid="best",
              label="best rate per batch size")
    left.set_xlabel("batch size")
    left.set_ylabel("learning rate")
    left.legend(fontsize=7, loc="upper left")
    b = np.array(g.batches, dtype=float)
    right.plot(b, result.best, "o", color=SEED_COLOR, gid="best", label="best rate")
    xs = np.geomspace(b.min() / 1.5, b.max() * 1.5, 50)
    centre_b, centre_r = np.exp(np.log(b).mean()), np.exp(np.log(result.best).mean())
    right.plot(xs, centre_r * (xs / centre_b) ** result.alpha, color=PICK_COLOR, gid="fit",
               label=f"fit: α = {result.alpha:.2f} ({result.level:.0%} CI {result.low:.2f} "
                     f"to {result.high:.2f})")
    for (a, name), style in zip(RULES, (":", "--", "-.")):
        right.plot(xs, centre_r * (xs / centre_b) ** a, color="gray", linestyle=style,
                   linewidth=1, gid=f"rule-{a:g}", label=name)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_ylim(g.rates[0] / 1.5, g.rates[-1] * 1.5)
    right.set_xlabel("batch size B")
    right.set_ylabel("best learning rate lr*")
    right.legend(fontsize=7, loc="best")
    fig.suptitle(f"Scaling rule: {result.setup()}", fontsize=10)
    fig.tight_layout()
    return fig


def save_scaling_rule(result: ScalingRule, folder: str | Path, name: str = "scaling-rule"
                      ) -> list[Path]:
    """Draw :func:`scaling_rule_figure` into ``folder/name.png`` and ``.svg``; the paths."""
    return save(scaling_rule_figure(result), Path(folder), name)
