"""Figures of a study, in the layouts of the tutorials.

Every curve is the mean over a value's repeats (seeds) with a shaded band for their
spread (± 1 sample sd by default, or min–max; the figure says which). Runs that stopped
early are NaN-padded: the mean at an epoch is over the runs that reached it, and the band
is drawn only where at least two runs have data. Non-finite values (diverged runs) are
left out the same way.

Layouts (one function each; all return a :class:`matplotlib.figure.Figure`):

- :func:`panels`   grid of subplots, one per value: train ("train", blue) and validation
  ("test", orange) accuracy per epoch, titled ``Accuracy = 83.0%, Batch Size = 32``;
- :func:`overlay`  one axes, one line per value (e.g. val accuracy per optimizer);
- :func:`plateau`  learning rate, loss and accuracy per epoch side by side, one line per
  value (ReduceLROnPlateau patience);
- :func:`schedules` / :func:`schedule_preview`  learning-rate curves, one per label.

:func:`render` draws the layouts named in ``results.figures`` and saves PNG and SVG.

pyplot is imported lazily; if nothing has chosen a backend yet (no pyplot imported and
no ``MPLBACKEND``), the non-interactive Agg backend is selected, so nothing ever opens a
window. Figures returned by the layout functions are registered with pyplot: close them
(``plt.close(fig)``) when done; :func:`render` closes its own.
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperlab._fileio import OutputError, atomic_write, output_folder
from hyperlab.reports.summary import final_values
from hyperlab.studies.results import StudyResults, ValueResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["LAYOUTS", "panels", "overlay", "plateau", "schedules", "schedule_preview",
           "render", "mean_band"]

TRAIN_COLOR = "tab:blue"
TEST_COLOR = "tab:orange"
DPI = 100
BANDS = {"sd": "± 1 sd", "minmax": "min–max"}


def _pyplot():
    """pyplot, selecting Agg first if no backend has been chosen by anyone."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------- shared helpers

def mean_band(ax: Axes, curves: np.ndarray, *, color: Any = None, label: str | None = None,
              band: str = "sd", alpha: float = 0.2, **line_kw: Any):
    """Plot the NaN-aware mean of ``curves`` (runs, epochs) against 1-based epochs, with a
    shaded band (``band="sd"``: mean ± 1 sample sd; ``"minmax"``: min to max) where at
    least two runs have finite data. A 1-D array is one run. Returns the mean's Line2D.
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {sorted(BANDS)}, got {band!r}")
    a = np.atleast_2d(np.asarray(curves, dtype=float))
    a = np.where(np.isfinite(a), a, np.nan)
    count = np.isfinite(a).sum(axis=0)
    x = np.arange(1, a.shape[1] + 1)
    safe = np.where(np.isfinite(a), a, 0.0)
    mean = np.divide(safe.sum(axis=0), count, out=np.full(a.shape[1], np.nan), where=count > 0)
    (line,) = ax.plot(x, mean, color=color, label=label, **line_kw)
    two = count >= 2
    if two.any():
        if band == "sd":
            dev = np.where(np.isfinite(a), a - mean, 0.0)
            var = np.divide((dev**2).sum(axis=0), count - 1, out=np.zeros(a.shape[1]), where=two)
            lo, hi = mean - np.sqrt(var), mean + np.sqrt(var)
        else:
            lo = np.where(two, np.nanmin(np.where(two, a, 0.0), axis=0), mean)
            hi = np.where(two, np.nanmax(np.where(two, a, 0.0), axis=0), mean)
        lo, hi = np.where(two, lo, np.nan), np.where(two, hi, np.nan)
        ax.fill_between(x, lo, hi, where=two, color=line.get_color(), alpha=alpha,
                        linewidth=0, interpolate=False)
    return line


def _final_mean(value: ValueResult, key: str) -> float:
    """Mean over runs of each run's final ``key``, as in the summary table (NaN-aware)."""
    a = final_values(value, key)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else math.nan


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"


def _colors(n: int) -> list[Any]:
    plt = _pyplot()
    if n <= 10:
        cmap = plt.get_cmap("tab10")
        return [cmap(i) for i in range(n)]
    cmap = plt.get_cmap("viridis")
    return [cmap(t) for t in np.linspace(0, 0.95, n)]


def _seed_note(results: StudyResults, band: str) -> str:
    ns = sorted({len(v.runs) for v in results.values}) or [0]
    n = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
    return f"lines: mean over n = {n} seeds; shaded: {BANDS[band]} (where ≥ 2 runs)"


def _suptitle(fig: Figure, results: StudyResults, band: str, title: str | None = None) -> None:
    head = title or results.description or results.name
    fig.suptitle(f"{head}\n{_seed_note(results, band)}", fontsize=11)


def _spans_decades(curves: list[np.ndarray], decades: float = 1.0) -> bool:
    vals = np.concatenate([np.asarray(c, dtype=float).ravel() for c in curves]) if curves else np.empty(0)
    vals = vals[np.isfinite(vals) & (vals > 0)]
    return bool(vals.size) and vals.max() / vals.min() > 10.0**decades


def _pretty(key: str) -> str:
    return {"val_accuracy": "validation accuracy", "accuracy": "training accuracy",
            "val_loss": "validation loss", "loss": "training loss",
            "learning_rate": "learning rate"}.get(key, key.replace("_", " "))


# --------------------------------------------------------------------------- layouts

def panels(results: StudyResults, *, band: str = "sd", ncols: int = 4) -> Figure:
    """One subplot per value (up to ``ncols`` columns): train and test accuracy per epoch,
    titled ``Accuracy = <mean final val acc>, <axis> = <label>``; shared y axis 0..1."""
    plt = _pyplot()
    n = max(len(results.values), 1)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.2 * rows + 0.8), sharey=True,
                             squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    for ax, value in zip(flat, results.values):
        mean_band(ax, value.curves("accuracy"), color=TRAIN_COLOR, label="train", band=band)
        mean_band(ax, value.curves("val_accuracy"), color=TEST_COLOR, label="test", band=band)
        acc = _final_mean(value, "val_accuracy")
        ax.set_title(f"Accuracy = {_pct(acc)}, {results.axis} = {value.label}", fontsize=10)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    for i, ax in enumerate(flat):
        if i % cols == 0 and i < len(results.values):
            ax.set_ylabel("accuracy")
    for ax in flat[len(results.values):]:
        fig.delaxes(ax)
    _suptitle(fig, results, band)
    return fig


def overlay(results: StudyResults, key: str = "val_accuracy", *, band: str = "sd") -> Figure:
    """One axes, one mean line + band of ``key`` per value; legend ``<label>: <final>``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 6), layout="constrained")
    is_acc = "accuracy" in key
    for value, color in zip(results.values, _colors(len(results.values))):
        final = _final_mean(value, key)
        shown = _pct(final) if is_acc else ("n/a" if not np.isfinite(final) else f"{final:.3g}")
        mean_band(ax, value.curves(key), color=color, label=f"{value.label}: {shown}", band=band)
    ax.set_xlabel("epoch")
    ax.set_ylabel(_pretty(key))
    ax.set_title(f"{results.axis}: {_pretty(key)}")
    if is_acc:
        ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    if results.values:  # below the axes, as in the tutorial
        fig.legend(title=results.axis, loc="outside lower center",
                   ncol=min(6, len(results.values)), fontsize=9)
    _suptitle(fig, results, band)
    return fig


def plateau(results: StudyResults, *, band: str = "sd") -> Figure:
    """Learning rate, training loss and training accuracy per epoch in three subplots,
    one line per value; the learning-rate axis is logarithmic if it spans > 1 decade."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), layout="constrained")
    colors = _colors(len(results.values))
    panels_ = [("learning_rate", "learning rate"), ("loss", "training loss"),
               ("accuracy", "training accuracy")]
    for ax, (key, name) in zip(axes, panels_):
        curves = [v.curves(key) for v in results.values]
        for value, c, color in zip(results.values, curves, colors):
            mean_band(ax, c, color=color, label=str(value.label), band=band)
        if key == "learning_rate" and _spans_decades(curves):
            ax.set_yscale("log")
        if key == "accuracy":
            ax.set_ylim(0.0, 1.0)
        if not any(np.isfinite(c).any() for c in curves):
            ax.text(0.5, 0.5, f"no {name} recorded", ha="center", va="center",
                    transform=ax.transAxes, color="gray")
        ax.set_title(name.capitalize())
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    if results.values:
        axes[-1].legend(title=results.axis, fontsize=9, loc="lower right")
    _suptitle(fig, results, band)
    return fig


def schedules(curves: dict[str, np.ndarray], xlabel: str = "epoch", *,
              title: str = "Learning-rate schedule", logy: bool | None = False,
              band: str = "sd", legend_title: str | None = None) -> Figure:
    """Learning-rate curves, one line per label (the notebook's decay curves).

    A 2-D array (runs, steps) is drawn as mean + band. ``logy=None`` chooses a log
    y axis when the curves span more than one decade.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    arrays = {str(k): np.asarray(v, dtype=float) for k, v in curves.items()}
    for (label, a), color in zip(arrays.items(), _colors(len(arrays))):
        mean_band(ax, a, color=color, label=label, band=band)
    if logy or (logy is None and _spans_decades(list(arrays.values()))):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if arrays:
        ax.legend(title=legend_title)
    return fig


def schedule_preview(results: StudyResults, **kwargs: Any) -> Figure:
    """:func:`schedules` of the ``learning_rate`` history of each value's first run."""
    curves = {v.label: np.asarray(v.runs[0].history["learning_rate"], dtype=float)
              for v in results.values if v.runs and v.runs[0].history.get("learning_rate")}
    kwargs.setdefault("title", f"Learning-rate schedule by {results.axis}")
    kwargs.setdefault("legend_title", results.axis)
    return schedules(curves, **kwargs)


def gradients(results: StudyResults, key: str = "grad_norm", *, band: str = "sd",
              ncols: int = 5) -> Figure:
    """One subplot per value: the per-layer ``key`` diagnostic (default: gradient norm) over
    epochs on a log scale, one line per layer from input (dark) to output (light). Gradients
    vanish when the input layers' lines lie decades below the output's; they explode when
    they lie above. Needs runs trained with ``fit.diagnostics = true``."""
    plt = _pyplot()
    prefix = f"{key}/"
    n = max(len(results.values), 1)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.9), sharey=True,
                             squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    found = False
    for ax, value in zip(flat, results.values):
        names = list(dict.fromkeys(k for r in value.runs for k in r.history if k.startswith(prefix)))
        colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(len(names), 1)))
        for color, name in zip(colors, names):
            curves = np.where(value.curves(name) > 0, value.curves(name), np.nan)
            mean_band(ax, curves, color=color, label=name[len(prefix):], band=band)
            found = True
        ax.set_yscale("log")
        ax.set_title(f"{results.axis} = {value.label}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
    if not found:
        plt.close(fig)
        raise ValueError(f"study {results.name!r} has no {key!r} diagnostics; run it with "
                         "fit.diagnostics = true")
    flat[0].set_ylabel(_pretty(key))
    handles, labels = flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7, title="layer")
    for ax in flat[len(results.values):]:
        fig.delaxes(ax)
    _suptitle(fig, results, band, f"{results.description or results.name}: per-layer {_pretty(key)}")
    return fig


LAYOUTS: dict[str, Callable[[StudyResults], Figure]] = {
    "panels": panels,
    "overlay": overlay,
    "plateau": plateau,
    "schedules": schedule_preview,
    "gradients": gradients,
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


def render(results: StudyResults, out_dir: str | Path, *, dpi: int = DPI,
           formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Draw every layout in ``results.figures`` and save ``<study>-<layout>.<fmt>``.

    Returns the written paths (layout order, then format order). Each file is replaced
    atomically, so a failure never leaves a truncated figure. Raises ValueError for an
    unknown layout and :class:`~hyperlab._fileio.OutputError` (an OSError and a ValueError,
    naming the path) when ``out_dir`` or a figure cannot be written.
    """
    unknown = [name for name in results.figures if name not in LAYOUTS]
    if unknown:
        raise ValueError(f"unknown figure layout(s) {unknown} in study {results.name!r}; "
                         f"known: {sorted(LAYOUTS)}")
    out = _writable_dir(Path(out_dir))
    plt = _pyplot()
    stem = _safe_name(results.name)
    paths: list[Path] = []
    for name in dict.fromkeys(results.figures):
        fig = LAYOUTS[name](results)
        try:
            for fmt in formats:
                path = out / f"{stem}-{name}.{fmt}"
                with atomic_write(path, "figure") as fh:
                    fig.savefig(fh, dpi=dpi, format=fmt)
                paths.append(path)
        finally:
            plt.close(fig)
    return paths
