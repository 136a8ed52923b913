"""Reports of a study: summary tables, a statistical verdict and figures.

Tables (:mod:`hyperlab.reports.summary`) need only NumPy and SciPy; figures
(:mod:`hyperlab.reports.figures` and the measure-vs-value figure
:func:`hyperlab.reports.measure_figure.measures`, not re-exported here because
:mod:`hyperlab.reports.measures` holds the measures themselves) import matplotlib lazily and
never open windows.
"""
from __future__ import annotations

from hyperlab.reports.figures import (
    LAYOUTS,
    gradients,
    median_band,
    overlay,
    panels,
    plateau,
    rate_steps,
    render,
    schedule_preview,
    schedules,
    stopping,
)
from hyperlab.reports.summary import COLUMNS, format_table, summarize, to_csv, to_markdown, verdict

__all__ = [
    "COLUMNS", "summarize", "verdict", "format_table", "to_csv", "to_markdown",
    "LAYOUTS", "median_band", "rate_steps", "panels", "overlay", "plateau", "gradients",
    "stopping", "schedules", "schedule_preview", "render",
]
