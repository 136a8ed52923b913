"""Tables and a verdict for a study: one row per swept value, statistics over its repeats.

Every statistic is over the runs (seeds) of one value and is NaN-aware: a run that
diverged (non-finite loss) or has no data for a metric is left out of that metric's
mean and sd instead of turning the whole row into NaN; the ``diverged`` column says how
many runs were affected.

- :func:`summarize` -> rows (list of dicts, one per value, in study order);
- :func:`verdict` -> the study's answer on its declared measures: per measure the best
  value with its interval, the values worse than it (paired tests, Holm-corrected), those
  where no difference was detected (with the seeds that would detect one) and those whose
  seeds split into outcomes;
- :func:`format_table`, :func:`to_csv`, :func:`to_markdown` -> renderings of the rows.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab._fileio import atomic_write
from hyperlab.reports.measures import MeasureResult, measure_study
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

def measure_json(m: MeasureResult) -> dict[str, Any]:
    """One measure's verdict as JSON types (NaN as None): per value its seeds' results, n,
    estimate and interval, verdict, the difference to the best with its interval, adjusted
    p-values, effect size, seeds needed and outcomes."""
    v = m.verdict
    values = []
    for value in v.values:
        est, best = value.estimate, value.to_best
        values.append({
            "label": value.label, "n": est.n, "excluded": est.excluded,
            "estimate": est.estimate, "low": est.low, "high": est.high, "interval": est.method,
            "verdict": value.verdict, "versus": value.versus, "p_adj": value.p_adj,
            "p_adj_to_best": value.p_adj_to_best, "p_adj_to_baseline": value.p_adj_to_baseline,
            "difference_to_best": best.difference if best else None,
            "difference_low": best.low if best else None,
            "difference_high": best.high if best else None,
            "effect_size": best.effect_size if best else None,
            "effect_size_name": best.effect_size_name if best else None,
            "seeds_needed": value.seeds_needed,
            "unstable": value.outcomes.unstable,
            "outcomes": [list(g) for g in value.outcomes.groups],
            "seeds": {str(seed): x for seed, x in m.samples[value.label].items()},
        })
    out = {"name": m.name, "title": m.title, "unit": m.unit, "percent": m.percent,
           "higher_is_better": m.higher_is_better, "best": v.best, "baseline": v.baseline,
           "level": v.level, "alpha": v.alpha, "paired": v.paired,
           "test": next((x.to_best.test for x in v.values if x.to_best), None),
           "comparisons": v.comparisons, "detect_difference": v.difference,
           "answer": v.answer, "values": values}
    return json.loads(json.dumps(out, default=float), parse_constant=lambda _: None)


def answer_lines(verdict: dict[str, Any]) -> list[str]:
    """A :func:`verdict`'s answer as ``hyperlab show`` prints it: the leading measure's
    sentence, then one ``Also: ...`` line per other declared measure."""
    return [verdict["text"], *(f"Also: {m['answer']}" for m in verdict["measures"][1:])]


def verdict(results: StudyResults, rows: list[dict[str, Any]] | None = None,
            confidence: float = 0.95, measures: list[MeasureResult] | None = None
            ) -> dict[str, Any]:
    """The study's answer on its declared measures (:func:`~hyperlab.reports.measures.measure_study`).

    Seeds are paired across values: seed s of every value starts from the same initial
    weights and data order wherever the architecture is the same, so each pair of values is
    compared on the seeds both have (a paired t-test; exact tests for the divergence rate),
    and the p-values of all pairs are Holm-corrected together, per measure. The leading
    (first) measure gives ``best`` (label or None), ``mean``, ``ci_low``/``ci_high``/
    ``ci_half_width`` (at ``confidence``; NaN for n < 2), ``n``, per label ``verdicts``
    ("best", "worse", "better", "no difference detected") and ``p_adjusted`` (against the
    best), the labels found ``worse``, ``no_difference_detected``, ``unstable`` (seeds split
    into separate outcomes) and ``seeds_needed`` (per label: seeds that would detect a
    1-point difference from the best); ``text`` is its answer in one sentence. ``measures``
    holds every measure as :func:`measure_json` gives it (what ``verdict.json`` holds).
    """
    measures = measures or measure_study(results, level=confidence)
    lead = measures[0]
    study = lead.verdict
    out: dict[str, Any] = {
        "measure": lead.title, "leading": lead.name, "best": study.best, "mean": math.nan,
        "n": 0, "ci_low": math.nan, "ci_high": math.nan, "ci_half_width": math.nan,
        "confidence": confidence, "alpha": study.alpha,
        "test": (f"{measure_json(lead)['test'] or 'paired t-test'} on shared seeds, "
                 "Holm-corrected over every pair of values"),
        "verdicts": {v.label: v.verdict for v in study.values},
        "p_adjusted": {v.label: v.p_adj_to_best for v in study.values if v.label != study.best},
        "worse": [v.label for v in study.values if v.verdict == "worse"],
        "no_difference_detected": [v.label for v in study.values if v.label != study.best
                                   and v.verdict == "no difference detected"],
        "unstable": [v.label for v in study.values if v.outcomes.unstable],
        "seeds_needed": {v.label: v.seeds_needed for v in study.values if v.label != study.best},
        "text": study.answer, "measures": [measure_json(m) for m in measures],
    }
    if study.best is None:
        out["text"] = f"No {results.axis} value has a finite {lead.title}; nothing to compare."
        return out
    est = study.value(study.best).estimate
    out.update(mean=est.estimate, n=est.n, ci_low=est.low, ci_high=est.high,
               ci_half_width=(est.high - est.low) / 2)
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


def to_markdown(rows: list[dict[str, Any]], verdict: dict[str, Any] | None = None, *,
                title: str | None = None, question: str = "",
                figures: Sequence[str] = ()) -> str:
    """A Markdown page: the ``title`` heading, the ``question``, the answer (the verdict's
    sentence), the table of the rows and links to the ``figures`` (file names)."""
    header = _display_header(rows)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:
        cells = [c.replace("|", "\\|") for c in _display_cells(r)]
        lines.append("| " + " | ".join(cells) + " |")
    parts = [f"# {title}"] if title else []
    if question:
        parts.append(f"**Question.** {question}")
    if verdict and verdict.get("text"):
        parts.append("**Answer.** " + verdict["text"])
        others = verdict.get("measures", [])[1:]
        if others:
            parts.append("**Other measures.**\n\n" + "\n".join(f"- {m['answer']}" for m in others))
    parts.append("\n".join(lines))
    if figures:
        parts.append("Figures: " + ", ".join(f"[{name}]({name})" for name in figures))
    return "\n\n".join(parts) + "\n"
