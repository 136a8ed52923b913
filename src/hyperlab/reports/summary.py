"""Tables and a verdict for a study: one row per swept value, statistics over its repeats.

Every statistic is over the runs (seeds) of one value and is NaN-aware: a run that
diverged (non-finite loss) or has no data for a metric is left out of that metric's
mean and sd instead of turning the whole row into NaN; the ``diverged`` column says how
many runs were affected.

- :func:`summarize` -> rows (list of dicts, one per value, in study order);
- :func:`verdict` -> the best value, its confidence interval and the values that are
  statistically indistinguishable from it (Welch's t-test);
- :func:`format_table`, :func:`to_csv`, :func:`to_markdown` -> renderings of the rows.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab._fileio import atomic_write
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

__all__ = ["COLUMNS", "summarize", "verdict", "format_table", "to_csv", "to_markdown"]

#: Column order of a summary row (and of the CSV header). Append only: this is a contract.
COLUMNS: tuple[str, ...] = (
    "value",
    "n",
    "val_accuracy_mean",
    "val_accuracy_sd",
    "accuracy_mean",
    "accuracy_sd",
    "val_loss_mean",
    "val_loss_sd",
    "loss_mean",
    "loss_sd",
    "best_val_accuracy_mean",
    "best_epoch_mean",
    "epochs_to_threshold_mean",
    "reached",
    "threshold",
    "updates_mean",
    "wall_time_s_mean",
    "diverged",
)

_FINAL_KEYS = ("val_accuracy", "accuracy", "val_loss", "loss")


# --------------------------------------------------------------------------- statistics

def _finite(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def _mean(x: Sequence[float] | np.ndarray) -> float:
    a = _finite(x)
    return float(a.mean()) if a.size else math.nan


def _sd(x: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation (ddof=1) of the finite values; NaN for fewer than two."""
    a = _finite(x)
    return float(a.std(ddof=1)) if a.size >= 2 else math.nan


def _final(run: RunResult, key: str) -> float:
    values = run.history.get(key) or []
    return float(values[-1]) if len(values) else math.nan


def _best(run: RunResult, key: str = "val_accuracy") -> tuple[float, float]:
    """(best value, its 1-based epoch) of ``key`` over the run's finite epochs."""
    a = np.asarray(run.history.get(key) or [], dtype=float)
    ok = np.isfinite(a)
    if not ok.any():
        return math.nan, math.nan
    i = int(np.argmax(np.where(ok, a, -np.inf)))
    return float(a[i]), float(i + 1)


def _epochs_to(run: RunResult, threshold: float, key: str = "val_accuracy") -> float:
    """1-based first epoch with ``key >= threshold``; NaN when never reached."""
    a = np.asarray(run.history.get(key) or [], dtype=float)
    hit = np.flatnonzero(np.isfinite(a) & (a >= threshold))
    return float(hit[0] + 1) if hit.size else math.nan


def final_values(value: ValueResult, key: str = "val_accuracy") -> np.ndarray:
    """The final-epoch ``key`` of every run of ``value`` (NaN where missing)."""
    return np.array([_final(r, key) for r in value.runs], dtype=float)


def _row(value: ValueResult, threshold: float) -> dict[str, Any]:
    runs = value.runs
    row: dict[str, Any] = {"value": value.label, "n": len(runs)}
    for key in _FINAL_KEYS:
        finals = final_values(value, key)
        row[f"{key}_mean"] = _mean(finals)
        row[f"{key}_sd"] = _sd(finals)
    best = [_best(r) for r in runs]
    row["best_val_accuracy_mean"] = _mean([b for b, _ in best])
    row["best_epoch_mean"] = _mean([e for _, e in best])
    to_thr = np.array([_epochs_to(r, threshold) for r in runs], dtype=float)
    row["epochs_to_threshold_mean"] = _mean(to_thr)
    row["reached"] = int(np.isfinite(to_thr).sum())
    row["threshold"] = float(threshold)
    row["updates_mean"] = _mean([r.updates for r in runs])
    row["wall_time_s_mean"] = _mean([r.wall_time_s for r in runs])
    row["diverged"] = sum(r.diverged_epoch is not None for r in runs)
    return {k: row[k] for k in COLUMNS}


def summarize(results: StudyResults) -> list[dict[str, Any]]:
    """One row per swept value, in study order; columns as in :data:`COLUMNS`.

    Final-epoch metrics (``*_mean``/``*_sd``, sd with ddof=1, NaN for n < 2),
    ``best_val_accuracy_mean`` and ``best_epoch_mean`` (1-based), the mean 1-based first
    epoch at which val accuracy reaches ``results.threshold`` over the ``reached`` runs
    that did, mean weight updates and wall time, and the count of ``diverged`` runs.
    """
    return [_row(v, results.threshold) for v in results.values]


# --------------------------------------------------------------------------- verdict

def _join(labels: Sequence[str]) -> str:
    labels = [str(x) for x in labels]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Welch's t-test p-value; NaN if either sample has fewer than two values."""
    from scipy import stats

    if a.size < 2 or b.size < 2:
        return math.nan
    if np.ptp(a) == 0 and np.ptp(b) == 0:     # no spread at all: the t statistic is undefined
        return 1.0 if a[0] == b[0] else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def verdict(results: StudyResults, rows: list[dict[str, Any]] | None = None,
            confidence: float = 0.95) -> dict[str, Any]:
    """The value with the highest mean final validation accuracy, and how sure we are.

    Returns a dict with ``best`` (label, or None if no value has data), ``mean``, ``sd``,
    ``n`` (finite final val accuracies of the best value), ``ci_low``/``ci_high``/
    ``ci_half_width`` (t distribution at ``confidence``; NaN for n < 2), ``confidence``,
    ``alpha`` (= 1 - confidence), ``comparable`` (False when the repeats do not allow a
    test), ``p_values`` ({label: Welch p against the best}), ``indistinguishable``
    (labels with p >= alpha, in study order), ``not_comparable`` (labels with < 2
    repeats) and ``text``, one plain-English sentence.
    """
    from scipy import stats

    rows = summarize(results) if rows is None else rows
    alpha = 1.0 - confidence
    axis = results.axis
    samples = {v.label: _finite(final_values(v)) for v in results.values}
    candidates = [r for r in rows if np.isfinite(r["val_accuracy_mean"])]
    out: dict[str, Any] = {
        "best": None, "mean": math.nan, "sd": math.nan, "n": 0,
        "ci_low": math.nan, "ci_high": math.nan, "ci_half_width": math.nan,
        "confidence": confidence, "alpha": alpha, "test": "Welch's t-test",
        "comparable": False, "p_values": {}, "indistinguishable": [], "not_comparable": [],
    }
    if not candidates:
        out["text"] = f"No {axis} value has a finite final validation accuracy; nothing to compare."
        return out

    best_row = max(candidates, key=lambda r: r["val_accuracy_mean"])
    best = best_row["value"]
    a = samples.get(best, _finite([best_row["val_accuracy_mean"]]))
    n = int(a.size)
    out.update(best=best, mean=float(best_row["val_accuracy_mean"]), n=n)
    if n >= 2:
        sd = float(a.std(ddof=1))
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))
        out.update(sd=sd, ci_half_width=half, ci_low=out["mean"] - half, ci_high=out["mean"] + half)

    others = [r["value"] for r in rows if r["value"] != best]
    head = f"{axis} = {best} gives the best validation accuracy"
    conf = f"{round(100 * confidence):g}%"
    if n >= 2:
        head += f" ({_pct(out['mean'])} ± {_pct(out['ci_half_width'])}, {conf} CI, n={n})"
    else:
        head += f" ({_pct(out['mean'])}, n={n})"

    if not others:
        out["text"] = head + f"; it is the only {axis} value in the study."
        return out
    if n < 2:
        out["not_comparable"] = others
        out["text"] = head + "; no statistical comparison is possible (repeats < 2)."
        return out

    for label in others:
        b = samples.get(label, np.empty(0))
        p = _welch_p(a, b)
        if math.isnan(p):
            out["not_comparable"].append(label)
            continue
        out["p_values"][label] = p
        if p >= alpha:
            out["indistinguishable"].append(label)
    out["comparable"] = bool(out["p_values"])
    if not out["comparable"]:
        out["text"] = head + "; no statistical comparison is possible (repeats < 2)."
        return out

    a_txt = f"{alpha:g}"
    same = out["indistinguishable"]
    if same:
        verb = "is" if len(same) == 1 else "are"
        tail = (f"; {_join(same)} {verb} statistically indistinguishable from it "
                f"(Welch's t-test, p ≥ {a_txt})")
    else:
        tail = f"; every other {axis} value is significantly worse (Welch's t-test, p < {a_txt})"
    if out["not_comparable"]:
        tail += f"; {_join(out['not_comparable'])} could not be compared (repeats < 2)"
    out["text"] = head + tail + "."
    return out


# --------------------------------------------------------------------------- renderings

def _fmt_pct(mean: float, sd: float = math.nan) -> str:
    if not np.isfinite(mean):
        return "n/a"
    s = f"{100 * mean:.1f}"
    return f"{s} ± {100 * sd:.1f}" if np.isfinite(sd) else s


def _fmt_num(x: float, fmt: str = ".3f", sd: float = math.nan) -> str:
    if not np.isfinite(x):
        return "n/a"
    s = format(x, fmt)
    return f"{s} ± {format(sd, fmt)}" if np.isfinite(sd) else s


def _display_cells(row: dict[str, Any]) -> list[str]:
    thr = "n/a" if not np.isfinite(row["epochs_to_threshold_mean"]) else f"{row['epochs_to_threshold_mean']:.1f}"
    return [
        str(row["value"]),
        str(row["n"]),
        _fmt_pct(row["val_accuracy_mean"], row["val_accuracy_sd"]),
        _fmt_pct(row["accuracy_mean"], row["accuracy_sd"]),
        _fmt_num(row["val_loss_mean"], ".3f", row["val_loss_sd"]),
        _fmt_num(row["best_epoch_mean"], ".1f"),
        f"{thr} ({row['reached']}/{row['n']})",
        "n/a" if not np.isfinite(row["updates_mean"]) else f"{row['updates_mean']:,.0f}",
        _fmt_num(row["wall_time_s_mean"], ".2f"),
        str(row["diverged"]),
    ]


def _display_header(rows: list[dict[str, Any]]) -> list[str]:
    thr = rows[0].get("threshold") if rows else None
    to_thr = f"epochs to {100 * thr:g}%" if thr is not None and np.isfinite(thr) else "epochs to threshold"
    return ["value", "n", "val acc % (±sd)", "train acc % (±sd)", "val loss (±sd)",
            "best epoch", to_thr + " (reached)", "updates", "wall s", "diverged"]


def format_table(rows: list[dict[str, Any]]) -> str:
    """Aligned plain-text table for the terminal (means ± sample sd over repeats)."""
    header = _display_header(rows)
    body = [_display_cells(r) for r in rows]
    widths = [max(len(c) for c in col) for col in zip(header, *body)]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(c) for c in body)])


def to_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the rows as CSV (header = :data:`COLUMNS`, one row per value); returns the path.

    Missing numbers are written as ``nan``. The file is replaced atomically: a failed write
    (a full disk: one :class:`~hyperlab._fileio.OutputError`) leaves the old file as it was.
    """
    path = Path(path)
    extra = [k for r in rows for k in r if k not in COLUMNS]
    fields = list(COLUMNS) + list(dict.fromkeys(extra))
    with atomic_write(path, "summary table", text=True) as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (repr(float(v)) if isinstance(v, float) else v) for k, v in r.items()})
    return path


def to_markdown(rows: list[dict[str, Any]], verdict: dict[str, Any] | None = None) -> str:
    """A Markdown table of the rows, followed by the verdict sentence when given."""
    header = _display_header(rows)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:
        cells = [c.replace("|", "\\|") for c in _display_cells(r)]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    if verdict and verdict.get("text"):
        text += "\n\n**Verdict.** " + verdict["text"]
    return text + "\n"
