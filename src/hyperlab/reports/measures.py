"""The measures a study's question is about, per run, and their comparison across values.

A study declares its measures (``[verdict] measures = [...]`` in its TOML, the first one
leads); :data:`MEASURES` documents the set. Each measure maps one run to one number (NaN
where the run does not define it: a threshold never reached, a diverged run's accuracy);
:func:`measure_study` compares the values of a study on each declared measure with
:func:`hyperlab.stats.compare_values`, seeds paired.
"""
from __future__ import annotations

from dataclasses import dataclass

from hyperlab.stats import StudyVerdict

__all__ = ["MeasureResult"]


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
