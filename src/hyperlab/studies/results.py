"""What a study produced: per swept value, the runs of every seed.

This is the contract between the executor (which fills it from training or from the
store), the figures and the summaries.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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

    def summary(self) -> list[dict[str, Any]]:
        """One row per swept value (see ``hyperlab.reports.summary.summarize``)."""
        from hyperlab.reports import summary
        return summary.summarize(self)

    def verdict(self) -> dict[str, Any]:
        """The answer: the best value, its interval, the values worse than it and those where
        no difference was detected (see ``hyperlab.reports.summary.verdict``)."""
        from hyperlab.reports import summary
        return summary.verdict(self, self.summary())

    def table(self) -> str:
        from hyperlab.reports import summary
        return summary.format_table(self.summary())

    def save_figures(self, out_dir) -> list:
        """Draw the study's figures (PNG and SVG) into ``out_dir``; returns the paths."""
        from pathlib import Path
        from hyperlab.reports import figures
        from hyperlab.reports.measures import measure_study
        return figures.render(self, Path(out_dir), measures=measure_study(self))
