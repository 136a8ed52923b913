"""Reports of a study: summary tables, a statistical verdict and figures.

Tables (:mod:`hyperlab.reports.summary`) need only NumPy and SciPy; figures
(:mod:`hyperlab.reports.figures`) import matplotlib lazily and never open windows.
"""
from __future__ import annotations

from hyperlab.reports.figures import (
    LAYOUTS,
    mean_band,
    overlay,
    panels,
    plateau,
    render,
    schedule_preview,
    schedules,
)
from hyperlab.reports.summary import COLUMNS, format_table, summarize, to_csv, to_markdown, verdict

__all__ = [
    "COLUMNS", "summarize", "verdict", "format_table", "to_csv", "to_markdown",
    "LAYOUTS", "mean_band", "panels", "overlay", "plateau", "schedules", "schedule_preview",
    "render",
]
