"""A study's declared analyses (``analyses = [...]`` in its file, ``spec.ANALYSES``) on its
stored runs: what ``hyperlab run`` and ``hyperlab reproduce`` add to a study's folder and
the lab shows under a study's answer.

Each analysis is computed with the defaults of its own command (``hyperlab <name> STUDY``):
:func:`compute` gives its result (``answer()``, ``to_dict()``), :func:`run_analyses` writes
``OUT/<study>/<name>/`` -- its figure (where it has one) and ``<name>.json``.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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


@dataclass(frozen=True)
class LongestEpochs:
    """The epochs analysis of the seeds of the value that trained longest."""

    label: str
    advice: Any                                 # hyperlab.science.epochs.EpochsAdvice

    def answer(self) -> str:
        return f"Of the value {self.label!r}: {self.advice.answer()}"

    def table(self) -> str:
        return self.advice.table()

    def to_dict(self) -> dict[str, Any]:
        return {**self.advice.to_dict(), "value": self.label, "answer": self.answer()}


def _critical_batch(study: Study, results: StudyResults) -> Any:
    from hyperlab.science.critical import critical_batch
    return critical_batch(study, results, metric="val_accuracy", target=study.threshold)


def _scaling_rule(study: Study, results: StudyResults) -> Any:
    from hyperlab.science.scaling import scaling_rule
    return scaling_rule(study, results, measure="loss")


def _epochs(study: Study, results: StudyResults) -> LongestEpochs:
    from hyperlab.science.epochs import analyze
    longest = max(results.values, key=lambda v: max((len(r.history.get("loss") or [])
                                                      for r in v.runs), default=0))
    if not longest.runs:
        raise ValueError("no stored runs to analyse")
    return LongestEpochs(longest.label, analyze(sorted(longest.runs, key=lambda r: r.seed)))


def _lr_sweep(study: Study, results: StudyResults) -> Any:
    from hyperlab.science.sweep import lr_sweep_of_study
    return lr_sweep_of_study(study, results)


def _lr_sweep_figure(result: Any) -> Any:
    from hyperlab.science.figures import lr_sweep_figure
    return lr_sweep_figure(result)


def _critical_figure(result: Any) -> Any:
    from hyperlab.science.figures import critical_batch_figure
    return critical_batch_figure(result)


def _scaling_figure(result: Any) -> Any:
    from hyperlab.science.figures import scaling_rule_figure
    return scaling_rule_figure(result)


# name: (title, compute, figure or None)
KINDS: dict[str, tuple[str, Callable[[Study, StudyResults], Any], Callable[[Any], Any] | None]] = {
    "lr-sweep": ("Learning-rate sensitivity", _lr_sweep, _lr_sweep_figure),
    "critical-batch": ("Critical batch size", _critical_batch, _critical_figure),
    "scaling-rule": ("Learning-rate scaling rule", _scaling_rule, _scaling_figure),
    "epochs": ("How many epochs", _epochs, None),
}


_DONE: OrderedDict[tuple, Any] = OrderedDict()   # the last few results (or errors)
_DONE_LOCK = threading.Lock()


def compute(name: str, study: Study, results: StudyResults) -> Any:
    """The analysis ``name`` of the study's stored ``results``; a ValueError says why the
    runs cannot answer it (say, no batch size reached the target). The last few are kept
    per study and stored runs: ``reproduce`` writes a study's files and then its page, and
    the lab's page asks again every few seconds, while an analysis may take seconds
    (bootstrap resamples, initial losses)."""
    key = (name, json.dumps([study.name, study.base, study.sweeps, study.threshold],
                            sort_keys=True, default=str),
           tuple(sorted(r.key for v in results.values for r in v.runs)))
    with _DONE_LOCK:
        found = _DONE.get(key)
    if found is None:
        try:
            found = KINDS[name][1](study, results)
        except ValueError as err:
            found = err
        with _DONE_LOCK:
            _DONE[key] = found
            while len(_DONE) > 32:
                _DONE.popitem(last=False)
    if isinstance(found, ValueError):
        raise ValueError(str(found))
    return found


def run_analyses(study: Study, results: StudyResults, out: Path,
                 formats: tuple[str, ...] = ("png", "svg")) -> list[Analysis]:
    """Run ``study.analyses`` on ``results`` into ``out/<study>/<name>/``. An analysis the
    stored runs cannot answer gives its reason as its answer instead of failing the
    study's publication."""
    from hyperlab.science.figures import save
    done = []
    for name in study.analyses:
        title, _, figure = KINDS[name]
        folder = output_folder(out / results.name / name, f"the {name} analysis")
        try:
            result = compute(name, study, results)
        except ValueError as err:
            answer, data, paths = f"Not computed: {err}", {"error": str(err)}, []
        else:
            answer, data = result.answer(), result.to_dict()
            paths = save(figure(result), folder, name, formats) if figure else []
        data = {**data, "figures": [str(p) for p in paths]}
        paths = [*paths, write_text(folder / f"{name}.json", json.dumps(data, indent=1) + "\n",
                                    f"the {name} analysis")]
        done.append(Analysis(name, title, answer, paths))
    return done
