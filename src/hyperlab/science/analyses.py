"""A study's declared analyses (``analyses = [...]`` in its file, ``spec.ANALYSES``) on its
stored runs: what ``hyperlab run`` and ``hyperlab reproduce`` add to a study's folder.

Each analysis writes ``OUT/<study>/<name>/`` -- its figure (where it has one) and
``<name>.json`` -- exactly as its own command (``hyperlab <name> STUDY``) would with its
default options, and returns its answer for the study's summary.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperlab._fileio import output_folder, write_text
from hyperlab.studies.results import StudyResults
from hyperlab.studies.spec import Study


@dataclass(frozen=True)
class Analysis:
    """One analysis's answer and the files it wrote."""

    name: str
    title: str
    answer: str
    paths: list[Path]


def _critical_batch(study: Study, results: StudyResults, folder: Path,
                    formats: tuple[str, ...]) -> tuple[str, dict[str, Any], list[Path]]:
    from hyperlab.science import figures
    from hyperlab.science.critical import critical_batch
    result = critical_batch(study, results, metric="val_accuracy", target=study.threshold)
    drawn = figures.save(figures.critical_batch_figure(result), folder, "critical-batch", formats)
    return result.answer(), result.to_dict(), drawn


def _scaling_rule(study: Study, results: StudyResults, folder: Path,
                  formats: tuple[str, ...]) -> tuple[str, dict[str, Any], list[Path]]:
    from hyperlab.science import figures
    from hyperlab.science.scaling import scaling_rule
    result = scaling_rule(study, results, measure="loss")
    drawn = figures.save(figures.scaling_rule_figure(result), folder, "scaling-rule", formats)
    return result.answer(), result.to_dict(), drawn


def _epochs(study: Study, results: StudyResults, folder: Path,
            formats: tuple[str, ...]) -> tuple[str, dict[str, Any], list[Path]]:
    """The EarlyStopping calibration from the seeds of the value that trained longest."""
    from hyperlab.science.epochs import analyze
    longest = max(results.values, key=lambda v: max((len(r.history.get("loss") or [])
                                                      for r in v.runs), default=0))
    if not longest.runs:
        raise ValueError("no stored runs to analyse")
    advice = analyze(sorted(longest.runs, key=lambda r: r.seed))
    return f"Of the value {longest.label!r}: {advice.answer()}", advice.to_dict(), []


RUNNERS = {"critical-batch": ("Critical batch size", _critical_batch),
           "scaling-rule": ("Learning-rate scaling rule", _scaling_rule),
           "epochs": ("How many epochs", _epochs)}


def run_analyses(study: Study, results: StudyResults, out: Path,
                 formats: tuple[str, ...] = ("png", "svg")) -> list[Analysis]:
    """Run ``study.analyses`` on ``results`` into ``out/<study>/<name>/``. An analysis the
    stored runs cannot answer (say, no value reached the target) gives its reason as its
    answer instead of failing the study's publication."""
    done = []
    for name in study.analyses:
        title, runner = RUNNERS[name]
        folder = output_folder(out / results.name / name, f"the {name} analysis")
        try:
            answer, data, paths = runner(study, results, folder, formats)
        except ValueError as err:
            answer, data, paths = f"Not computed: {err}", {"error": str(err)}, []
        data = {**data, "figures": [str(p) for p in paths]}
        paths = [*paths, write_text(folder / f"{name}.json", json.dumps(data, indent=1) + "\n",
                                    f"the {name} analysis")]
        done.append(Analysis(name, title, answer, paths))
    return done
