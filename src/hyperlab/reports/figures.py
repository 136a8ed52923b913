"""Figures of a study, in the layouts of the tutorials, drawn so that spread is visible.

Every curve figure draws each seed as a thin line and, per epoch, the median over the seeds
with a shaded interquartile band (``band="iqr"``; ``"range"``: min to max). On a log y axis
the median and quantiles are geometric (taken over the logarithms), so a band never
reaches below zero or fills the panel. A mean with ± 1 sd is never drawn: with a handful
of seeds that split into separate outcomes it is a line no run had. Runs that stopped early
are NaN-padded and diverged (non-finite) values left out; the band is drawn only where at
least two runs have data. Learning rates are drawn per seed as steps: averaging step
functions hides when each run dropped its rate. Where the rate changes within runs, the
curve layouts add a rate row under the accuracy panels, sharing their x axis.

Options shared by the curve layouts:

- ``x``: ``"epochs"``, ``"updates"`` (weight updates: ``RunResult.updates`` spread evenly
  over the run's epochs), ``"examples"`` (examples seen: ``train_size`` per epoch, which
  Keras's ``fit`` shows every training example once per epoch) or ``"time"`` (the run's
  ``wall_time_s`` spread evenly over its epochs; the axis label says so);
- ``y``: ``"fit"`` (limits fitted to the data) or ``"full"`` (0 to 1 for accuracies).

Layouts (one function each; all return a :class:`matplotlib.figure.Figure`):

- :func:`panels`    one panel per value: train and validation accuracy;
- :func:`overlay`   one axes, one colour per value (e.g. validation accuracy per optimizer);
- :func:`plateau`   learning rate, training loss and training accuracy side by side;
- :func:`gradients` one panel per value: a per-layer diagnostic on a log axis, one colour
  per layer across all panels;
- :func:`stopping`  runs of one seed set observed at different stopping points (the epochs
  study): the longest runs with the stops marked, the accuracy at each stop and the
  accuracy lost by stopping there;
- :func:`schedule_preview` every run's learning rate per epoch.

The measure-vs-value figure is :func:`hyperlab.reports.measure_figure.measures`.
:func:`render` draws it first, then the layouts named in ``results.figures``, and saves PNG
and SVG.

pyplot is imported lazily; if nothing has chosen a backend yet (no pyplot imported and
no ``MPLBACKEND``), the non-interactive Agg backend is selected, so nothing ever opens a
window. Figures returned by the layout functions are registered with pyplot: close them
(``plt.close(fig)``) when done; :func:`render` closes its own.
"""
from __future__ import annotations

import inspect
import math
import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperlab._fileio import OutputError, atomic_write, output_folder
from hyperlab.reports._style import axis_name
from hyperlab.reports._style import pyplot as _pyplot
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from hyperlab.reports.measures import MeasureResult

__all__ = ["LAYOUTS", "X_AXES", "Y_LIMITS", "BANDS", "panels", "overlay", "plateau",
           "gradients", "stopping", "schedules", "schedule_preview", "render", "median_band",
           "rate_steps", "axis_name"]

TRAIN_COLOR = "tab:blue"
VAL_COLOR = "tab:orange"
RATE_COLOR = "tab:purple"
DPI = 100
BANDS = {"iqr": "interquartile range", "range": "min–max"}
X_AXES = ("epochs", "updates", "examples", "time")
Y_LIMITS = ("fit", "full")
RATE_DECADES = 4   # a rate axis shows at most this many decades below the largest rate
SEED_STYLE = {"linewidth": 0.7, "alpha": 0.35}
MEDIAN_STYLE = {"linewidth": 1.8}


def _choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


# --------------------------------------------------------------------------- curves

def median_band(ax: Axes, curves: np.ndarray, x: np.ndarray | None = None, *,
                color: Any = None, label: str | None = None, log: bool = False,
                band: str = "iqr", seeds: bool = True, alpha: float = 0.2) -> Line2D:
    """Draw ``curves`` (runs, epochs): every run as a thin line (``seeds``), the per-epoch
    median over the runs with finite data as a thick line, and a shaded band (``"iqr"``:
    25th to 75th percentile; ``"range"``: min to max) where at least two runs have data.

    ``x`` is the runs' x positions, (runs, epochs) or one row for all (default: 1-based
    epochs); the median line sits at the runs' median x of each epoch. ``log=True`` takes
    the median and quantiles of the logarithms (geometric) and leaves out values <= 0.
    Returns the median's Line2D; artists carry the gids ``"seed"``, ``"median"``, ``"band"``.
    """
    _choice("band", band, tuple(BANDS))
    y = np.atleast_2d(np.asarray(curves, dtype=float))
    y = np.where(np.isfinite(y) & ((y > 0) if log else True), y, np.nan)
    xs = np.arange(1.0, y.shape[1] + 1) if x is None else np.asarray(x, dtype=float)
    xs = np.broadcast_to(np.atleast_2d(xs), y.shape)
    ok = np.isfinite(y)
    count = ok.sum(axis=0)
    t = np.log(y) if log else y
    has = count > 0
    cols = t[:, has]
    qs = (0.25, 0.5, 0.75) if band == "iqr" else (0.0, 0.5, 1.0)
    stats = np.full((3, y.shape[1]), np.nan)
    if cols.size:
        stats[:, has] = np.nanquantile(cols, qs, axis=0)
    lo, med, hi = np.exp(stats) if log else stats
    xm = np.full(y.shape[1], np.nan)
    if cols.size:
        xm[has] = np.nanmedian(np.where(ok, xs, np.nan)[:, has], axis=0)
    (line,) = ax.plot(xm, med, color=color, label=label, gid="median", zorder=3, **MEDIAN_STYLE)
    line_color = line.get_color()
    if seeds:
        for xi, yi, oi in zip(xs, y, ok):
            if oi.any():
                ax.plot(xi, yi, color=line_color, gid="seed", **SEED_STYLE)
    two = count >= 2
    if two.any():
        ax.fill_between(xm, np.where(two, lo, np.nan), np.where(two, hi, np.nan), where=two,
                        color=line_color, alpha=alpha, linewidth=0, gid="band")
    return line


def _epoch_count(run: RunResult) -> int:
    return max((len(v) for v in run.history.values()), default=0)


def _run_x(run: RunResult, x: str, train_size: int | None) -> np.ndarray:
    """The x position of the end of each of ``run``'s epochs."""
    n = _epoch_count(run)
    e = np.arange(1.0, n + 1)
    per = run.epochs_run or n
    if x == "updates":
        return e * (run.updates / per if per else math.nan)
    if x == "examples":
        return e * float(train_size)
    if x == "time":
        return e * (run.wall_time_s / per if per else math.nan)
    return e


def _xy(value: ValueResult, key: str, x: str, train_size: int | None
        ) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) arrays (runs, epochs) of ``key``, NaN-padded."""
    y = value.curves(key)
    xs = np.full(y.shape, np.nan)
    for i, run in enumerate(value.runs):
        xr = _run_x(run, x, train_size)[: y.shape[1]]
        xs[i, : xr.size] = xr
    return xs, y


def _xlabel(x: str, train_size: int | None) -> str:
    return {"epochs": "epoch", "updates": "weight updates",
            "examples": f"examples seen ({train_size} per epoch)",
            "time": "wall time (s; each run's time spread evenly over its epochs)"}[x]


def _check_x(x: str, train_size: int | None) -> None:
    _choice("x", x, X_AXES)
    if x == "examples" and (isinstance(train_size, bool) or not isinstance(train_size, int)
                            or train_size < 1):
        raise ValueError(f"x='examples' needs the number of training examples (seen once per "
                         f"epoch): pass train_size=N, a positive integer (got {train_size!r})")


def _finite(arrays: Sequence[np.ndarray], positive: bool = False) -> np.ndarray:
    flat = [np.asarray(a, dtype=float).ravel() for a in arrays]
    v = np.concatenate(flat) if flat else np.empty(0)
    keep = np.isfinite(v) & ((v > 0) if positive else True)
    return v[keep]


def _fit(ax: Axes, arrays: Sequence[np.ndarray], y: str, full: tuple[float, float] | None,
         bounds: tuple[float, float] | None = None) -> None:
    """Set ``ax``'s y-limits: ``full`` for ``y="full"`` (when given), else fitted to the
    finite data with a 5 % margin, kept within ``bounds``."""
    if y == "full" and full is not None:
        ax.set_ylim(*full)
        return
    v = _finite(arrays)
    if not v.size:
        return
    lo, hi = float(v.min()), float(v.max())
    pad = 0.05 * (hi - lo) or 0.05 * max(abs(hi), 1e-3)
    lo, hi = lo - pad, hi + pad
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    ax.set_ylim(lo, hi)


def _spans_decades(curves: list[np.ndarray], decades: float = 1.0) -> bool:
    vals = _finite(curves, positive=True)
    return bool(vals.size) and vals.max() / vals.min() > 10.0**decades


def _pretty(key: str) -> str:
    return {"val_accuracy": "validation accuracy", "accuracy": "training accuracy",
            "val_loss": "validation loss", "loss": "training loss",
            "learning_rate": "learning rate"}.get(key, key.replace("_", " "))


def _colors(n: int) -> list[Any]:
    plt = _pyplot()
    if n <= 10:
        cmap = plt.get_cmap("tab10")
        return [cmap(i) for i in range(n)]
    cmap = plt.get_cmap("viridis")
    return [cmap(t) for t in np.linspace(0, 0.95, n)]


def _pct(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{100 * v:.1f} %"


def _last(value: ValueResult, key: str) -> np.ndarray:
    """The last finite-or-not value of ``key`` per run (NaN for a run without it)."""
    return np.array([(r.history.get(key) or [math.nan])[-1] for r in value.runs], dtype=float)


def _median(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else math.nan


def _n_seeds(results: StudyResults) -> str:
    ns = sorted({len(v.runs) for v in results.values}) or [0]
    return f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"


def _note(results: StudyResults, band: str, log: bool = False) -> str:
    geo = " (geometric on log axes)" if log else ""
    return (f"thin lines: each seed (n = {_n_seeds(results)} per value); thick: median{geo}; "
            f"shaded: {BANDS[band]} across seeds")


def _suptitle(fig: Figure, results: StudyResults, note: str, title: str | None = None) -> None:
    head = title or results.description or results.name
    fig.suptitle(f"{head}\n{note}", fontsize=10)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _diverged(value: ValueResult) -> str:
    k = sum(r.diverged_epoch is not None for r in value.runs)
    return f"; {k} of {len(value.runs)} seeds diverged" if k else ""


def _panel_title(results: StudyResults, value: ValueResult, width: int) -> str:
    acc = _median(_last(value, "val_accuracy"))
    return (f"{_wrap(f'{results.axis} = {value.label}', width)}\n"
            f"last-epoch validation accuracy: median {_pct(acc)}{_diverged(value)}")


# --------------------------------------------------------------------------- learning rates

def _rate_changes(results: StudyResults) -> bool:
    """Whether the learning rate changes within any run (a schedule or a callback)."""
    for value in results.values:
        for run in value.runs:
            lr = _finite([np.asarray(run.history.get("learning_rate") or [])])
            if lr.size and lr.max() > lr.min() * (1 + 1e-6):
                return True
    return False


def rate_steps(ax: Axes, value: ValueResult, *, x: str = "epochs", train_size: int | None = None,
               color: Any = RATE_COLOR, label: str | None = None) -> list[Line2D]:
    """Each run's learning rate as steps: the rate logged for epoch ``e`` (the one it
    trained with) holds from the end of epoch ``e - 1`` to the end of epoch ``e``, so a drop
    lines up with the epoch after which it happened. Returns the lines (gid ``"rate"``)."""
    lines = []
    for run in value.runs:
        lr = np.asarray(run.history.get("learning_rate") or [], dtype=float)
        if not lr.size:
            continue
        xr = _run_x(run, x, train_size)[: lr.size]
        xs = np.concatenate([[0.0], xr])
        (ln,) = ax.plot(xs, np.append(lr, lr[-1]), drawstyle="steps-post", color=color,
                        label=label if not lines else None, gid="rate", linewidth=1.0,
                        alpha=0.7)
        lines.append(ln)
    return lines


def _rate_axis(ax: Axes, values: Sequence[ValueResult]) -> None:
    """Scale ``ax`` for the rates of ``values``: log when they span more than a decade, and
    at most :data:`RATE_DECADES` below the largest rate (smaller rates change nothing that
    a figure can show; a note gives how low they went)."""
    rates = _finite([np.asarray(r.history.get("learning_rate") or [], dtype=float)
                     for v in values for r in v.runs])
    positive = rates[rates > 0]
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3, which="both")
    if not positive.size:
        return
    top = float(positive.max())
    if not _spans_decades([positive]):
        _fit(ax, [rates], "fit", None, (0.0, math.inf))
        return
    floor = top * 10.0 ** -RATE_DECADES
    ax.set_yscale("log")
    ax.set_ylim(max(float(positive.min()), floor) / 1.5, top * 1.5)
    lowest = float(rates.min())
    if lowest < floor:
        below = sum(np.nanmin(np.asarray(r.history.get("learning_rate") or [np.inf], float))
                    < floor for v in values for r in v.runs)
        ax.text(0.01, 0.02, f"{below} run(s) fell below {floor:.0e} (lowest {lowest:.0e})",
                transform=ax.transAxes, fontsize=7, color="0.3", va="bottom")


# --------------------------------------------------------------------------- layouts

def _legend_handles(kinds: Sequence[tuple[str, Any]], band: str, rates: bool) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=c, label=f"{name}: median", **MEDIAN_STYLE)
               for name, c in kinds]
    handles += [Line2D([], [], color="0.3", label="one seed", **SEED_STYLE),
                Patch(color="0.3", alpha=0.2, label=BANDS[band])]
    if rates:
        handles.append(Line2D([], [], color=RATE_COLOR, drawstyle="steps-post",
                              label="learning rate (each seed)"))
    return handles


def _restored_points(value: ValueResult, x: str, train_size: int | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(x, validation accuracy) of the epoch whose weights each run returned, for the runs
    where EarlyStopping restored its best weights."""
    px, py = [], []
    for run in value.runs:
        val = run.history.get("val_accuracy") or []
        if run.restored_epoch is not None and run.restored_epoch < len(val):
            px.append(_run_x(run, x, train_size)[run.restored_epoch])
            py.append(val[run.restored_epoch])
    return np.asarray(px, dtype=float), np.asarray(py, dtype=float)


def panels(results: StudyResults, *, x: str = "epochs", y: str = "fit", band: str = "iqr",
           ncols: int = 4, train_size: int | None = None) -> Figure:
    """One panel per value (up to ``ncols`` columns): train and validation accuracy of each
    seed, their medians and bands; titled with the value and its median last-epoch
    validation accuracy. Accuracy panels share the y axis; where the learning rate changes
    within runs, a rate row under each row of panels shares their x axis."""
    _check_x(x, train_size)
    _choice("y", y, Y_LIMITS)
    plt = _pyplot()
    n = max(len(results.values), 1)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    rates = _rate_changes(results)
    per = 2 if rates else 1
    fig = plt.figure(figsize=(4.2 * cols, (3.4 + 1.1 * rates) * rows + 1.3), layout="constrained")
    grid = fig.add_gridspec(rows * per, cols, height_ratios=[3, 1] * rows if rates else None)
    first = None
    acc_axes, data = [], []
    for i, value in enumerate(results.values):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[r * per, c], sharey=first)
        first = first or ax
        for key, color in (("accuracy", TRAIN_COLOR), ("val_accuracy", VAL_COLOR)):
            xs, ys = _xy(value, key, x, train_size)
            median_band(ax, ys, xs, color=color, band=band,
                        label="train" if key == "accuracy" else "validation")
            data.append(ys)
        restored = _restored_points(value, x, train_size)
        if restored[0].size:
            ax.plot(*restored, linestyle="", marker="o", markersize=5, markerfacecolor="white",
                    color=VAL_COLOR, zorder=4, gid="restored")
        ax.set_title(_panel_title(results, value, 44), fontsize=9)
        ax.grid(alpha=0.3)
        if c == 0:
            ax.set_ylabel("accuracy")
        if rates:
            rax = fig.add_subplot(grid[r * per + 1, c], sharex=ax)
            rate_steps(rax, value, x=x, train_size=train_size)
            _rate_axis(rax, results.values)
            ax.tick_params(labelbottom=False)
            rax.set_xlabel(_xlabel(x, train_size))
            if c:
                rax.set_ylabel("")
        else:
            ax.set_xlabel(_xlabel(x, train_size))
        acc_axes.append(ax)
    if first is not None:
        _fit(first, data, y, (0.0, 1.0), (0.0, 1.0))
    handles = _legend_handles([("train", TRAIN_COLOR), ("validation", VAL_COLOR)], band, rates)
    if any(_restored_points(v, x, train_size)[0].size for v in results.values):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], linestyle="", marker="o", markerfacecolor="white",
                              color=VAL_COLOR, label="restored weights (each seed)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=8)
    _suptitle(fig, results, _note(results, band))
    return fig


def overlay(results: StudyResults, key: str = "val_accuracy", *, x: str = "epochs",
            y: str = "fit", band: str = "iqr", train_size: int | None = None) -> Figure:
    """One axes: every seed of ``key`` per value as thin lines, one colour per value, with
    its median and band; legend ``<label>: <median last value>``. A rate row below shares
    the x axis where the learning rate changes within runs."""
    _check_x(x, train_size)
    _choice("y", y, Y_LIMITS)
    plt = _pyplot()
    rates = _rate_changes(results)
    if rates:
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True, layout="constrained",
                                      gridspec_kw={"height_ratios": [3, 1]})
    else:
        fig, ax = plt.subplots(figsize=(10, 6.3), layout="constrained")
    is_acc = "accuracy" in key
    log = not is_acc and _spans_decades([v.curves(key) for v in results.values], 2.0)
    data = []
    for value, color in zip(results.values, _colors(len(results.values))):
        final = _median(_last(value, key))
        shown = _pct(final) if is_acc else ("n/a" if not np.isfinite(final) else f"{final:.3g}")
        xs, ys = _xy(value, key, x, train_size)
        median_band(ax, ys, xs, color=color, label=f"{value.label}: {shown}", band=band, log=log)
        data.append(ys)
        if rates:
            rate_steps(rax, value, x=x, train_size=train_size, color=color)
    if log:
        ax.set_yscale("log")
    else:
        _fit(ax, data, y, (0.0, 1.0) if is_acc else None, (0.0, 1.0) if is_acc else None)
    ax.set_ylabel(_pretty(key))
    ax.set_title(f"{_pretty(key).capitalize()} by {axis_name(results.axis)} (legend: median at "
                 "the last epoch)", fontsize=10)
    ax.grid(alpha=0.3)
    bottom = ax
    if rates:
        _rate_axis(rax, results.values)
        ax.tick_params(labelbottom=False)
        bottom = rax
    bottom.set_xlabel(_xlabel(x, train_size))
    if results.values:  # below the axes, as in the tutorial
        fig.legend(title=results.axis, loc="outside lower center",
                   ncol=min(6, len(results.values)), fontsize=9)
    _suptitle(fig, results, _note(results, band, log))
    return fig


def plateau(results: StudyResults, *, x: str = "epochs", y: str = "fit", band: str = "iqr",
            train_size: int | None = None) -> Figure:
    """Learning rate (each seed as steps), training loss and training accuracy (seeds,
    median, band) side by side with a shared x axis, one colour per value. The rate axis is
    logarithmic when it spans more than a decade and shows at most
    :data:`RATE_DECADES` below the largest rate."""
    _check_x(x, train_size)
    _choice("y", y, Y_LIMITS)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.0), sharex=True, layout="constrained")
    colors = _colors(len(results.values))
    rax, lax, aax = axes
    losses, accs = [], []
    log_loss = _spans_decades([v.curves("loss") for v in results.values], 2.0)
    for value, color in zip(results.values, colors):
        rate_steps(rax, value, x=x, train_size=train_size, color=color)
        xs, ys = _xy(value, "loss", x, train_size)
        median_band(lax, ys, xs, color=color, band=band, log=log_loss)
        losses.append(ys)
        xs, ys = _xy(value, "accuracy", x, train_size)
        median_band(aax, ys, xs, color=color, band=band, label=str(value.label))
        accs.append(ys)
    _rate_axis(rax, results.values)
    if log_loss:
        lax.set_yscale("log")
    else:
        _fit(lax, losses, y, None, (0.0, math.inf))
    _fit(aax, accs, y, (0.0, 1.0), (0.0, 1.0))
    for ax, name, data in ((rax, "learning rate (each seed)", None), (lax, "training loss", losses),
                           (aax, "training accuracy", accs)):
        if data is not None and not _finite(data).size:
            ax.text(0.5, 0.5, f"no {name} recorded", ha="center", va="center",
                    transform=ax.transAxes, color="gray")
        ax.set_title(name.capitalize(), fontsize=10)
        ax.set_xlabel(_xlabel(x, train_size))
        ax.set_ylabel(name.split(" (")[0])
        ax.grid(alpha=0.3, which="both")
    if results.values:
        aax.legend(title=results.axis, fontsize=9, loc="lower right")
    _suptitle(fig, results, _note(results, band, log_loss))
    return fig


def _layer_order(results: StudyResults, prefix: str) -> list[str]:
    """Every layer with a ``prefix`` diagnostic in any run, input to output: each value's
    layers in their own order, merged (a layer first seen in a later value goes after the
    layer it follows there)."""
    order: list[str] = []
    for value in results.values:
        names = list(dict.fromkeys(k for r in value.runs for k in r.history
                                   if k.startswith(prefix)))
        at = 0
        for name in names:
            if name in order:
                at = order.index(name) + 1
            else:
                order.insert(at, name)
                at += 1
    return order


def _log_panels(results: StudyResults, ncols: int, legend_room: float, xlabel: str,
                ylabel: str) -> tuple[Figure, list[tuple[Axes, ValueResult]]]:
    """One log-scaled panel per value (shared y, titled by the value and its divergence,
    ``ylabel`` on the first column), ``legend_room`` inches added for a legend; the figure
    and the (panel, value) pairs, unused panels removed."""
    plt = _pyplot()
    n = max(len(results.values), 1)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.2 * rows + legend_room),
                             sharey=True, squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    for i, (ax, value) in enumerate(zip(flat, results.values)):
        ax.set_yscale("log")
        ax.set_title(_wrap(f"{results.axis} = {value.label}", 34) + _diverged(value).replace(
            "; ", "\n", 1), fontsize=9)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, which="both")
        if i % cols == 0:
            ax.set_ylabel(ylabel)
    for ax in flat[len(results.values):]:
        fig.delaxes(ax)
    return fig, list(zip(flat, results.values))


def gradients(results: StudyResults, key: str = "grad_norm", *, x: str = "epochs",
              band: str = "iqr", ncols: int = 5, train_size: int | None = None) -> Figure:
    """One panel per value: the per-layer ``key`` diagnostic (default: gradient norm) on a
    log scale, each seed thin with the geometric median and band, one colour per layer
    (input dark to output light) shared by every panel; the legend lists every layer of any
    panel. Gradients vanish when the input layers' lines lie decades below the output's;
    they explode when they lie above. Needs runs trained with ``fit.diagnostics = true``."""
    _check_x(x, train_size)
    plt = _pyplot()
    from matplotlib.lines import Line2D

    prefix = f"{key}/"
    layers = _layer_order(results, prefix)
    if not layers:
        raise ValueError(f"study {results.name!r} has no {key!r} diagnostics; run it with "
                         "fit.diagnostics = true")
    colors = dict(zip(layers, plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(layers)))))
    kinds = list(dict.fromkeys(name[len(prefix):].rstrip("0123456789").rstrip("_")
                               for name in layers))
    styles = dict(zip(kinds, ["-", "--", ":", "-."] * len(kinds)))

    def style(name: str) -> str:
        return styles[name[len(prefix):].rstrip("0123456789").rstrip("_")]

    fig, panels = _log_panels(results, ncols, 1.2, _xlabel(x, train_size), _pretty(key))
    for ax, value in panels:
        for name in layers:
            if any(name in r.history for r in value.runs):
                xs, ys = _xy(value, name, x, train_size)
                line = median_band(ax, ys, xs, color=colors[name], band=band, log=True)
                line.set_linestyle(style(name))
    handles = [Line2D([], [], color=colors[name], linestyle=style(name),
                      label=name[len(prefix):], **MEDIAN_STYLE) for name in layers]
    fig.legend(handles=handles, loc="outside right center", fontsize=7, title="layer (median)")
    _suptitle(fig, results, _note(results, band, True),
              f"{results.description or results.name}: per-layer {_pretty(key)}")
    return fig


def stability_threshold(value: ValueResult) -> tuple[float, str] | None:
    """The momentum β and the name of plain SGD's stability threshold ``(2 + 2β)/η`` for the
    value's optimizer (Cohen et al. 2021: gradient descent oscillates where the top Hessian
    eigenvalue lies above it); None for another optimizer, or SGD with Nesterov momentum."""
    opt = value.config.get("compile", {}).get("optimizer", {})
    if opt.get("name") != "SGD" or opt.get("nesterov"):
        return None
    beta = float(opt.get("momentum", 0.0))
    return beta, "2/η" if beta == 0 else f"(2 + 2·{beta:g})/η"


def sharpness(results: StudyResults, *, x: str = "epochs", band: str = "iqr", ncols: int = 4,
              train_size: int | None = None) -> Figure:
    """One panel per value: the top Hessian eigenvalue of the training loss per epoch (runs
    trained with ``fit.diagnostics = ["sharpness"]``), each seed thin with the geometric
    median and band, and for SGD its stability threshold (2 + 2β)/η at the median rate
    (dashed): gradient descent on a quadratic with a curvature above it diverges (Cohen et
    al. 2021 find training's sharpness rising to it and hovering there)."""
    _check_x(x, train_size)
    if not any("sharpness" in r.history for v in results.values for r in v.runs):
        raise ValueError(f"study {results.name!r} has no sharpness; run it with "
                         "fit.diagnostics = [\"sharpness\"]")
    fig, panels = _log_panels(results, ncols, 1.0, _xlabel(x, train_size),
                              "top Hessian eigenvalue")
    for ax, value in panels:
        if any("sharpness" in r.history for r in value.runs):
            xs, ys = _xy(value, "sharpness", x, train_size)
            median_band(ax, ys, xs, color=TRAIN_COLOR, band=band, log=True, label="sharpness")
            limit = stability_threshold(value)
            rates = value.curves("learning_rate")
            if limit is not None and rates.size:
                beta, name = limit
                with np.errstate(divide="ignore", invalid="ignore"):
                    line = (2 + 2 * beta) / np.nanmedian(rates, axis=0)
                ax.plot(np.nanmedian(xs, axis=0)[: line.size], line, color="k", linestyle="--",
                        linewidth=1.0, gid="threshold", label=f"stability threshold {name}")
        ax.legend(fontsize=7)                  # each panel names its own threshold
    _suptitle(fig, results, _note(results, band, True),
              f"{results.description or results.name}: sharpness per epoch")
    return fig


def _by_seed(value: ValueResult) -> dict[int, RunResult]:
    return {r.seed: r for r in value.runs}


def stopping(results: StudyResults, measures: Sequence[MeasureResult] | None = None, *,
             y: str = "fit") -> Figure:
    """A study whose values are epoch counts, read as one set of runs observed at different
    stopping points (with fixed seeds, a shorter run is the first epochs of the longest).

    Panels: the longest runs' validation accuracy per seed with a vertical marker at each
    stopping value; the validation accuracy at each stop (a dot per seed, the median
    joined); the accuracy lost by stopping there (the seed's best over its longest run
    minus its accuracy at the stop, in points); and, when ``measures`` include one named
    ``"epochs_to_plateau"``, its distribution per stopping value (the plateau epochs of the
    longest runs are also marked on the first panel). The title says whether the shorter
    runs do equal the first epochs of the longest ones with the same seed."""
    _choice("y", y, Y_LIMITS)
    plt = _pyplot()
    values = [v for v in results.values if v.runs]
    if not values:
        raise ValueError(f"study {results.name!r} has no runs to draw")
    stops = [max(r.epochs_run for r in v.runs) for v in values]
    longest = values[int(np.argmax(stops))]
    long_runs = _by_seed(longest)
    plateau_m = next((m for m in measures or () if m.name == "epochs_to_plateau"), None)
    fig, axes = plt.subplots(1, 4 if plateau_m else 3, figsize=(19 if plateau_m else 15, 5.0),
                             layout="constrained")
    cax, sax, lax = axes[:3]
    log_x = max(stops) / max(min(stops), 1) >= 10
    seed_colors = dict(zip(sorted(long_runs), _colors(len(long_runs))))

    # the longest runs, with the stopping points
    curves = []
    for seed, run in sorted(long_runs.items()):
        a = 100 * np.asarray(run.history.get("val_accuracy") or [], dtype=float)
        cax.plot(np.arange(1, a.size + 1), a, color=seed_colors[seed], linewidth=0.9,
                 label=f"seed {seed}", gid="seed")
        curves.append(a)
        if plateau_m is not None:
            e = plateau_m.samples.get(longest.label, {}).get(seed, math.nan)
            if np.isfinite(e) and 1 <= e <= a.size:
                cax.plot([e], [a[int(e) - 1]], "o", color=seed_colors[seed], markersize=5,
                         gid="plateau")
    for s in sorted(set(stops)):
        cax.axvline(s, color="0.5", linestyle="--", linewidth=0.8, gid="stop")
    cax.set_title(f"Validation accuracy of the {max(stops)}-epoch runs\n(dashed: the stopping "
                  "points" + ("; dots: plateau reached" if plateau_m else "") + ")", fontsize=9)
    cax.set_ylabel("validation accuracy (%)")
    cax.legend(fontsize=7, loc="lower right")

    # accuracy at each stop and accuracy lost by stopping there
    at, lost = [], []
    pairs = same = 0
    for v, stop in zip(values, stops):
        acc, drop = [], []
        for seed, run in sorted(_by_seed(v).items()):
            a = np.asarray(run.history.get("val_accuracy") or [], dtype=float)
            final = a[-1] if a.size else math.nan
            acc.append(100 * final)
            ref = long_runs.get(seed)
            if ref is None:
                drop.append(math.nan)
                continue
            r = np.asarray(ref.history.get("val_accuracy") or [], dtype=float)
            best = np.nanmax(r) if np.isfinite(r).any() else math.nan
            drop.append(100 * (best - final))
            if v is not longest:
                pairs += 1
                same += bool(a.size <= r.size and np.allclose(a, r[: a.size], atol=1e-6,
                                                             equal_nan=True))
        at.append(np.asarray(acc))
        lost.append(np.asarray(drop))
    for ax, data, name in ((sax, at, "validation accuracy at the stop (%)"),
                           (lax, lost, "accuracy lost by stopping there (points)")):
        for stop, d in zip(stops, data):
            ok = d[np.isfinite(d)]
            ax.plot(np.full(ok.size, stop), ok, "o", color="0.35", alpha=0.7, markersize=4,
                    gid="seed")
        meds = [_median(d) for d in data]
        ax.plot(stops, meds, "-D", color="tab:red", markersize=5, label="median", gid="median")
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
    sax.set_title("Validation accuracy at each stop\n(dots: seeds)", fontsize=9)
    lax.set_title(f"Accuracy lost by stopping there\n(each seed's best over {max(stops)} epochs "
                  "minus its accuracy at the stop)", fontsize=9)
    _fit(cax, curves + at, y, (0.0, 100.0), (0.0, 100.0))
    sax.set_ylim(cax.get_ylim())
    _fit(lax, lost, "fit", None)

    if plateau_m is not None:
        pax = axes[3]
        for v, stop in zip(values, stops):
            d = np.array([e for e in plateau_m.samples.get(v.label, {}).values()], dtype=float)
            ok = d[np.isfinite(d)]
            pax.plot(np.full(ok.size, stop), ok, "o", color="0.35", alpha=0.7, markersize=4,
                     gid="seed")
            pax.plot([stop], [_median(d)], "D", color="tab:red", markersize=5, gid="median")
        pax.plot([min(stops), max(stops)], [min(stops), max(stops)], ":", color="0.5",
                 label="plateau = the stop (still climbing)")
        pax.set_title(f"{plateau_m.title.capitalize()}\n(dots: seeds; diamonds: median)",
                      fontsize=9)
        pax.set_ylabel(plateau_m.unit or plateau_m.title)
        pax.legend(fontsize=8, loc="upper left")
        if log_x:
            pax.set_yscale("log")
    for ax in axes:
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(sorted(set(stops)), [str(s) for s in sorted(set(stops))], fontsize=7,
                      rotation=90 if log_x else 0)
        ax.minorticks_off()
        ax.set_xlabel("epoch" if ax is cax else f"{results.axis} (stopping point)")
        ax.grid(alpha=0.3, which="both")
    shorter = len(values) - 1
    if pairs and same == pairs:
        claim = (f"the {shorter} shorter run lengths are the first epochs of the "
                 f"{max(stops)}-epoch runs (identical for all {pairs} seed pairs): one set of "
                 f"runs observed at {len(values)} stopping points")
    elif pairs:
        claim = (f"{pairs - same} of {pairs} shorter runs differ from the first epochs of the "
                 f"{max(stops)}-epoch run with the same seed: not one set of runs")
    else:
        claim = "no shorter run shares a seed with the longest runs"
    fig.suptitle(f"{results.description or results.name}\n{claim} "
                 f"(n = {_n_seeds(results)} seeds)", fontsize=10)
    return fig


def schedules(curves: dict[str, np.ndarray], xlabel: str = "epoch", *,
              title: str = "Learning-rate schedule", logy: bool | None = False,
              legend_title: str | None = None, steps: bool = False) -> Figure:
    """Learning-rate curves, one colour per label; every row of a 2-D array (runs, steps)
    is drawn as its own line (``steps=True``: as steps). ``logy=None`` chooses a log y axis
    when the curves span more than one decade."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    arrays = {str(k): np.atleast_2d(np.asarray(v, dtype=float)) for k, v in curves.items()}
    for (label, a), color in zip(arrays.items(), _colors(len(arrays))):
        for i, row in enumerate(a):
            ax.plot(np.arange(row.size), row, color=color, label=None if i else label,
                    drawstyle="steps-post" if steps else "default", linewidth=1.0)
    if logy or (logy is None and _spans_decades(list(arrays.values()))):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if arrays:
        ax.legend(title=legend_title)
    return fig


def schedule_preview(results: StudyResults, *, x: str = "epochs",
                     train_size: int | None = None) -> Figure:
    """Every run's logged learning rate per epoch, as steps (:func:`rate_steps`), one colour
    per value; the axis is scaled as in :func:`plateau`."""
    _check_x(x, train_size)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for value, color in zip(results.values, _colors(len(results.values))):
        rate_steps(ax, value, x=x, train_size=train_size, color=color, label=str(value.label))
    _rate_axis(ax, results.values)
    ax.set_xlabel(_xlabel(x, train_size))
    ax.set_title(f"Learning rate by {axis_name(results.axis)} (each seed; the rate each epoch "
                 "trained with)", fontsize=10)
    if results.values:
        ax.legend(title=results.axis, fontsize=9)
    return fig


LAYOUTS: dict[str, Callable[..., Figure]] = {
    "panels": panels,
    "overlay": overlay,
    "plateau": plateau,
    "schedules": schedule_preview,
    "gradients": gradients,
    "sharpness": sharpness,
    "stopping": stopping,
}


# --------------------------------------------------------------------------- render

def _writable_dir(out_dir: Path) -> Path:
    out = output_folder(out_dir, "figures")
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write figures to {out}: the folder is not writable; write "
                          "elsewhere (--out DIR)")
    return out


def _safe_name(name: str) -> str:
    bad = {os.sep, "/", "\\", ":"} | ({os.altsep} if os.altsep else set())
    return "".join("_" if ch in bad else ch for ch in name).strip() or "study"


def _draw(name: str, results: StudyResults, options: dict[str, Any]) -> Figure:
    """The layout ``name`` with the ``options`` it takes."""
    layout = LAYOUTS[name]
    accepted = inspect.signature(layout).parameters
    return layout(results, **{k: v for k, v in options.items() if k in accepted})


def render(results: StudyResults, out_dir: str | Path, *,
           measures: Sequence[MeasureResult] | None = None, x: str = "epochs", y: str = "fit",
           band: str = "iqr", train_size: int | None = None, dpi: int = DPI,
           formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Draw the study's figures and save ``<study>-<name>.<fmt>``: first, when ``measures``
    are given, the measure-vs-value figure (``<study>-measures``), then every layout in
    ``results.figures`` with the options it takes (``x``, ``y``, ``band``, ``train_size``;
    :func:`stopping` gets ``measures``).

    Returns the written paths (figure order, then format order). Each file is replaced
    atomically, so a failure never leaves a truncated figure. Raises ValueError for an
    unknown layout or option and :class:`~hyperlab._fileio.OutputError` (an OSError and a
    ValueError, naming the path) when ``out_dir`` or a figure cannot be written.
    """
    unknown = [name for name in results.figures if name not in LAYOUTS]
    if unknown:
        raise ValueError(f"unknown figure layout(s) {unknown} in study {results.name!r}; "
                         f"known: {sorted(LAYOUTS)}")
    _check_x(x, train_size)
    _choice("y", y, Y_LIMITS)
    _choice("band", band, tuple(BANDS))
    out = _writable_dir(Path(out_dir))
    stem = _safe_name(results.name)
    options = {"x": x, "y": y, "band": band, "train_size": train_size, "measures": measures}
    todo: list[tuple[str, Callable[[], Figure]]] = []
    if measures:
        from hyperlab.reports.measure_figure import measures as measure_figure

        todo.append(("measures", lambda: measure_figure(results, measures)))
    todo += [(name, lambda name=name: _draw(name, results, options))
             for name in dict.fromkeys(results.figures)]
    paths: list[Path] = []
    for name, draw in todo:
        paths += save_figure(draw(), out, f"{stem}-{name}", formats, dpi)
    return paths


def save_figure(fig: Figure, out: Path, stem: str, formats: tuple[str, ...] = ("png", "svg"),
                dpi: int = DPI) -> list[Path]:
    """Write ``fig`` as ``out/<stem>.<fmt>`` for each format, each file atomically, then
    close it; the paths written."""
    paths = []
    try:
        for fmt in formats:
            path = out / f"{stem}.{fmt}"
            with atomic_write(path, "figure") as fh:
                fig.savefig(fh, dpi=dpi, format=fmt)
            paths.append(path)
    finally:
        _pyplot().close(fig)
    return paths
