"""The measures a study's question is about, per run, and their comparison across values.

A study declares its measures (``[verdict] measures = [...]`` in its TOML, the first one
leads); :data:`hyperlab.studies.measures.MEASURES` documents the set. Each measure maps one
run to one number (NaN where the run does not define it: a threshold never reached);
:func:`measure_study` compares the values of a study on each declared measure with
:func:`hyperlab.stats.compare_values`, seeds paired.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hyperlab.stats import StudyVerdict
from hyperlab.studies.measures import MEASURES, Measure
from hyperlab.studies.results import StudyResults

__all__ = ["MeasureResult", "measure_study", "samples", "title", "DETECT"]

DETECT = 0.01   # the difference (1 point) whose seeds-needed figure an answer gives


@dataclass(frozen=True)
class MeasureResult:
    """One measure of a study: every seed's value per swept value, and their verdict.

    ``name`` is the measure's key (``"final_val_accuracy"``), ``title`` how prose names it
    ("final validation accuracy"), ``unit`` what its numbers count ("" for fractions shown
    as percentages, "epochs", "updates", ...); ``percent`` says values in [0, 1] are shown
    as percentages; ``samples`` maps each value's label (in study order) to ``{seed: value}``.
    """

    name: str
    title: str
    unit: str
    percent: bool
    higher_is_better: bool
    samples: dict[str, dict[int, float]]
    verdict: StudyVerdict


def title(measure: Measure, threshold: float) -> str:
    """How prose names ``measure`` in a study with this accuracy ``threshold``."""
    if measure.uses_threshold:
        return measure.title.replace("the threshold", f"{100 * threshold:g} % validation accuracy")
    return measure.title


def samples(results: StudyResults, name: str) -> dict[str, dict[int, float]]:
    """``{label: {seed: value}}`` of the measure ``name`` over every run of the study."""
    measure = MEASURES[name]
    return {v.label: {r.seed: measure.of(r, results.threshold) for r in v.runs}
            for v in results.values}


def measure_study(results: StudyResults, *, level: float = 0.95,
                  difference: float = DETECT) -> list[MeasureResult]:
    """The study's declared measures (``results.measures``, the leading one first), each
    compared across the values with :func:`hyperlab.stats.compare_values`: seeds paired,
    every pair Holm-corrected, against ``results.baseline`` where one is declared; the
    divergence rate with exact tests. ``difference`` (in points, for measures shown as
    percentages) is the difference whose seeds-needed figure the answer gives. Seeds split
    into separate outcomes only at gaps of at least 5 points (percentages) or a quarter of
    the study's median (counts and losses). The answer says how many seeds of a value have
    no result (a threshold never reached, a run that logged no such metric)."""
    from hyperlab import stats

    out = []
    for name in results.measures:
        m = MEASURES[name]
        values = samples(results, name)
        finite = np.array([x for by_seed in values.values() for x in by_seed.values()], float)
        finite = np.abs(finite[np.isfinite(finite)])
        floor = 0.05 if m.percent else 0.25 * float(np.median(finite)) if finite.size else 0.0
        verdict = stats.compare_values(
            values, higher_is_better=m.higher_is_better, baseline=results.baseline,
            level=level, alpha=1.0 - level, difference=difference if m.percent else None,
            measure=title(m, results.threshold), name=results.axis, percent=m.percent,
            rate=name == "diverged", floor=floor, bounds=m.bounds)
        verdict = replace(verdict, answer=verdict.answer + _missing(results, m, values))
        out.append(MeasureResult(name, title(m, results.threshold), m.unit, m.percent,
                                 m.higher_is_better, values, verdict))
    return out


def _missing(results: StudyResults, m: Measure, values: dict[str, dict[int, float]]) -> str:
    """`` k of n seeds of X never reached 80 %: left out of the estimate.`` where seeds of
    values have no result ("" where every seed has one)."""
    what = (f"never reached {100 * results.threshold:g} %" if m.uses_threshold
            else "have no result")
    gaps = [f"{k} of {len(by_seed)} seeds of {results.axis} = {label}"
            for label, by_seed in values.items()
            if (k := sum(not np.isfinite(x) for x in by_seed.values()))]
    return f" {'; '.join(gaps)} {what}: left out of the estimate." if gaps else ""
