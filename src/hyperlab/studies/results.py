"""What a study produced: per swept value, the runs of every seed.

This is the contract between the executor (which fills it from training or from the
store), the figures and the summaries.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

# The layer above that draws tables, verdicts and figures of results (see StudyResults).
REPORTS = "hyperlab.reports"


@dataclass
class RunResult:
    """One trained run: a configuration and a seed."""

    key: str                              # content hash of (resolved config, seed, data)
    seed: int
    history: dict[str, list[float]]       # Keras keys: loss, accuracy, val_loss, val_accuracy, learning_rate
    updates: int                          # weight updates performed
    wall_time_s: float                    # this run's share of its cohort's training time
    diverged_epoch: int | None = None
    stopped_epoch: int | None = None
    restored_epoch: int | None = None     # whose weights EarlyStopping(restore_best_weights) restored

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("loss", []))


@dataclass
class ValueResult:
    """All repeats of one swept value."""

    label: str                            # how the value is shown, e.g. "32" or "Adam"
    value: Any                            # the swept value(s) as written in the study
    runs: list[RunResult] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)   # the value's resolved configuration

    def curves(self, key: str) -> np.ndarray:
        """(runs, epochs) array; runs that stopped early are padded with NaN."""
        n = max((len(r.history.get(key, [])) for r in self.runs), default=0)
        out = np.full((len(self.runs), n), np.nan)
        for i, r in enumerate(self.runs):
            values = r.history.get(key, [])
            out[i, : len(values)] = values
        return out


@dataclass
class StudyResults:
    """A study's results, ready for tables and figures."""

    name: str                             # e.g. "batch-size"
    description: str                      # one line
    axis: str                             # what is swept, for titles: "Batch Size"
    values: list[ValueResult]
    config: dict[str, Any]                # the resolved base configuration
    figures: list[str] = field(default_factory=lambda: ["panels"])  # layouts to draw
    threshold: float = 0.8                # val accuracy for "epochs to reach"
    measures: list[str] = field(default_factory=lambda: ["final_val_accuracy"])  # first leads
    baseline: str | None = None           # the label other values are also compared with

    # Tables, verdicts and figures are drawn by hyperlab.reports, a layer above this one:
    # these conveniences load it by name when first called (as pandas loads its plotting
    # backend), so that nothing here imports it.
    def summary(self) -> list[dict[str, Any]]:
        """One row per swept value (see ``hyperlab.reports.summary.summarize``)."""
        return _reports().summary.summarize(self)

    def verdict(self) -> dict[str, Any]:
        """The answer: the best value, its interval, the values worse than it and those where
        no difference was detected (see ``hyperlab.reports.summary.verdict``)."""
        return _reports().summary.verdict(self, self.summary())

    def table(self) -> str:
        """The summary as an aligned text table."""
        return _reports().summary.format_table(self.summary())

    def save_figures(self, out_dir: str | Path) -> list[Path]:
        """Draw the study's figures (PNG and SVG) into ``out_dir``; returns the paths."""
        reports = _reports()
        return reports.figures.render(self, Path(out_dir),
                                      measures=reports.measures.measure_study(self))


def _reports() -> ModuleType:
    """:mod:`hyperlab.reports`, with its ``summary``, ``measures`` and ``figures``."""
    reports = importlib.import_module(REPORTS)
    importlib.import_module(f"{REPORTS}.measures")
    return reports

