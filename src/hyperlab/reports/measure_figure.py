"""The first figure of a study: each of its measures against the swept value.

:func:`measures` draws one panel per measure (the leading one first, at most
:data:`MAX_PANELS`). The x axis is the swept values in study order: a log axis at the
values when all are positive numbers spanning at least a decade, else evenly spaced
categories. Every seed is a dot, spread by a small deterministic offset so equal results
stay visible; beside the dots, the value's estimate (the verdict's, with its interval) is
marked by its comparison with the best value: the best, those where no difference from it
was detected (not separable from the best at this n), and those worse or better (see
:func:`hyperlab.stats.compare_values`). A legend says what the marks mean, a note gives n,
the interval level and the test; titles claim only what the verdict supports.
"""
from __future__ import annotations

import math
import numbers
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperlab.reports._style import axis_name, pyplot
from hyperlab.studies.results import StudyResults

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from hyperlab.reports.measures import MeasureResult
    from hyperlab.stats import StudyVerdict

__all__ = ["measures", "measure_axes", "positions", "MAX_PANELS", "MARKS"]

MAX_PANELS = 4
SEED_OFFSET = -0.14   # the dots sit left of the value, the estimate right of it
ESTIMATE_OFFSET = 0.14
JITTER = 0.07         # half-width of the dots' spread, in units of the spacing of values
#: How each verdict is marked: matplotlib marker keywords.
MARKS: dict[str, dict[str, Any]] = {
    "best": {"marker": "*", "markersize": 14, "color": "tab:green", "markerfacecolor": "tab:green"},
    "no difference detected": {"marker": "o", "markersize": 8, "color": "tab:green",
                               "markerfacecolor": "white"},
    "worse": {"marker": "v", "markersize": 8, "color": "tab:red", "markerfacecolor": "tab:red"},
    "better": {"marker": "^", "markersize": 8, "color": "tab:blue",
               "markerfacecolor": "tab:blue"},
}


def positions(results: StudyResults) -> tuple[np.ndarray, bool]:
    """The x position of each value (study order) and whether the axis is logarithmic: the
    values themselves when all are positive numbers spanning at least one decade, else
    0, 1, 2, ..."""
    raw = [v.value for v in results.values]
    numeric = bool(raw) and all(isinstance(r, numbers.Real) and not isinstance(r, bool)
                                and math.isfinite(r) and r > 0 for r in raw)
    if numeric and max(raw) / min(raw) >= 10:
        return np.asarray(raw, dtype=float), True
    return np.arange(len(raw), dtype=float), False


def _shift(x: float, offset: float, log: bool, step: float) -> float:
    """``x`` moved by ``offset`` spacings of the values (multiplicatively on a log axis)."""
    return x * 10.0 ** (offset * step) if log else x + offset


def _versus(verdict: StudyVerdict, kind: str) -> str:
    refs = {v.versus for v in verdict.values if v.verdict == kind}
    who = {verdict.best: "the best", verdict.baseline: "the baseline"}
    names = sorted(who.get(r, str(r)) for r in refs)
    return " or ".join(names)


def _legend_label(verdict: StudyVerdict, kind: str) -> str:
    if kind == "best":
        return "best estimate"
    if kind == "no difference detected":
        return "no difference from the best detected"
    return f"{kind} than {_versus(verdict, kind)} (p_adj < {verdict.alpha:g})"


def _n_range(counts: Sequence[int]) -> str:
    counts = sorted(set(counts)) or [0]
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def _claim(results: StudyResults, verdict: StudyVerdict) -> str:
    """What the verdict supports about the best value, for a panel title."""
    if verdict.best is None:
        return "no value has a finite result"
    others = [v for v in verdict.values if v.label != verdict.best and v.estimate.n]
    # separable: its own comparison with the best is significant (a value may be "better"
    # than the baseline and still not separable from the best)
    ties = [v for v in others if not v.p_adj_to_best < verdict.alpha]
    best = f"{results.axis} = {verdict.best}"
    if not others:
        return f"only {best} has results"
    if not ties:
        return f"best: {best} (every other value differs from it)"
    word = "value" if len(ties) == 1 else "values"
    return f"best estimate at {best}; {len(ties)} {word} not separable from it"


def measure_axes(ax: Axes, results: StudyResults, measure: MeasureResult) -> dict[str, Any]:
    """Draw ``measure`` on ``ax``: the seeds' dots (gid ``"seeds"``, one collection per
    value), each value's estimate with its interval marked by its verdict (gid
    ``"estimate"``), the x axis from :func:`positions`, y-limits fitted to the dots and
    intervals. Returns the legend handles by label."""
    from matplotlib.lines import Line2D

    verdict = measure.verdict
    scale = 100.0 if measure.percent else 1.0
    xs, log = positions(results)
    step = (math.log10(xs.max() / xs.min()) / (len(xs) - 1)) if log and len(xs) > 1 else 1.0
    handles: dict[str, Any] = {"one seed": Line2D([], [], linestyle="", marker="o",
                                                  color="0.35", alpha=0.7, markersize=4,
                                                  label="one seed")}
    shown: list[float] = []
    for x, value in zip(xs, results.values):
        seeds = measure.samples.get(value.label, {})
        ys = np.array([seeds[s] for s in sorted(seeds)], dtype=float) * scale
        ok = np.isfinite(ys)
        offsets = np.linspace(-JITTER, JITTER, ys.size) if ys.size > 1 else np.zeros(ys.size)
        dots = [_shift(x, SEED_OFFSET + o, log, step) for o in offsets[ok]]
        ax.scatter(dots, ys[ok], s=16, color="0.35", alpha=0.7, zorder=3, linewidths=0,
                   gid="seeds")
        shown.extend(ys[ok])
        if (~ok).any():
            ax.annotate(f"{int((~ok).sum())} of {ys.size}\nno value", (x, 0.02),
                        xycoords=("data", "axes fraction"), ha="center", va="bottom",
                        fontsize=7, color="0.35")
        try:
            v = verdict.value(value.label)
        except KeyError:
            continue
        e = v.estimate
        if not e.n or not np.isfinite(e.estimate):
            continue
        mark = MARKS[v.verdict]
        xe = _shift(x, ESTIMATE_OFFSET, log, step)
        est = e.estimate * scale
        if np.isfinite(e.low) and np.isfinite(e.high):
            low, high = e.low * scale, e.high * scale
            ax.errorbar([xe], [est], yerr=[[est - low], [high - est]], linestyle="",
                        capsize=3, elinewidth=1.2, zorder=4, gid="estimate", **mark)
            shown.extend([low, high])
        else:
            ax.plot([xe], [est], linestyle="", zorder=4, gid="estimate", **mark)
        shown.append(est)
        label = _legend_label(verdict, v.verdict)
        handles.setdefault(label, Line2D([], [], linestyle="", label=label, **mark))
    ticks = ["\n".join(textwrap.wrap(str(v.label), 12)) or str(v.label) for v in results.values]
    if log:
        ax.set_xscale("log")
        ax.set_xlim(xs.min() / 10 ** (0.4 * step), xs.max() * 10 ** (0.4 * step))
    else:
        ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_xticks(xs, ticks, fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel(results.axis)
    unit = "%" if measure.percent else measure.unit
    ax.set_ylabel(f"{measure.title} ({unit})" if unit else measure.title, fontsize=9)
    finite = np.asarray(shown, dtype=float)
    finite = finite[np.isfinite(finite)]
    if measure.name == "diverged":
        ax.set_ylim(-5.0, 105.0)
    elif finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.08 * (hi - lo) or 0.05 * max(abs(hi), 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("\n".join(textwrap.wrap(measure.title[:1].upper() + measure.title[1:], 40)
                           + textwrap.wrap(_claim(results, verdict), 46)), fontsize=9)
    return handles


def _interval_name(measure: MeasureResult) -> str:
    methods = {e.method for e in (v.estimate for v in measure.verdict.values) if e.n}
    stats = {e.statistic for e in (v.estimate for v in measure.verdict.values) if e.n}
    method = "/".join(sorted(methods)) or "t"
    return f"{'/'.join(sorted(stats)) or 'mean'} with its {method} interval"


def measures(results: StudyResults, measures: Sequence[MeasureResult]) -> Figure:
    """One panel per measure (the first leads; at most :data:`MAX_PANELS`): every seed a
    dot, each value's estimate with its interval, marked best / no difference detected /
    worse / better; a shared legend and a note with n, the interval level and the tests."""
    if not measures:
        raise ValueError("the measure figure needs at least one measure; declare them in the "
                         "study ([verdict] measures = [...])")
    plt = pyplot()
    shown = list(measures)[:MAX_PANELS]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.6 * len(shown) + 0.4, 5.0),
                             squeeze=False, layout="constrained")
    handles: dict[str, Any] = {}
    for ax, m in zip(axes[0], shown):
        handles.update({k: h for k, h in measure_axes(ax, results, m).items() if k not in handles})
    lead = shown[0]
    counts = [len(s) for s in lead.samples.values()]
    fig.suptitle(f"{lead.title[:1].upper() + lead.title[1:]} by {axis_name(results.axis)} "
                 f"({_n_range(counts)} seeds each)", fontsize=11)
    levels = sorted({m.verdict.level for m in shown})
    paired = {m.verdict.paired for m in shown}
    alpha = sorted({m.verdict.alpha for m in shown})
    test = {frozenset({True}): "paired by seed", frozenset({False}): "unpaired"}.get(
        frozenset(paired), "paired or unpaired")
    intervals = "; ".join(dict.fromkeys(_interval_name(m) for m in shown))
    note = (f"dots: one per seed (n = {_n_range(counts)} per value); marker and bar: "
            f"{intervals} at {' / '.join(f'{100 * lv:g} %' for lv in levels)}; every pair of "
            f"values tested ({test}), Holm-corrected at α = {' / '.join(f'{a:g}' for a in alpha)}")
    if len(measures) > MAX_PANELS:
        note += f"; {len(measures) - MAX_PANELS} more measure(s) in the verdict, not drawn"
    fig.legend(handles=list(handles.values()), loc="outside lower center",
               ncol=min(5, len(handles)), fontsize=8, title="\n".join(textwrap.wrap(note, 160)),
               title_fontsize=8)
    return fig
