"""The documented set of measures a study may declare (``[verdict] measures = [...]``).

A measure maps one run to one number, NaN where the run does not define it (a threshold
it never reached, a metric it never logged; a run that diverged has no accuracy after it
diverged). Epoch counts are 1-based: "epochs to 80 %" is 3 when the third epoch was the
first to reach 80 %. The comparison of a study's values on its measures is
:func:`hyperlab.reports.measures.measure_study`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hyperlab.studies.results import RunResult

__all__ = ["Measure", "MEASURES", "DEFAULT_MEASURES", "PLATEAU_TOLERANCE", "VOLATILITY_TAIL"]

PLATEAU_TOLERANCE = 0.01   # "at the plateau": within 1 point of the run's best val accuracy
VOLATILITY_TAIL = 0.5      # volatility is measured over the last half of the epochs


@dataclass(frozen=True)
class Measure:
    """One measure: ``title`` names it in prose, ``unit`` counts its numbers ("" for a
    fraction shown as a percentage, ``percent``), ``higher_is_better`` orders its values,
    ``doc`` defines it, ``of(run, threshold)`` computes it (``threshold``: the study's
    validation accuracy for "to reach"), ``bounds`` are the values it can take."""

    name: str
    title: str
    unit: str
    percent: bool
    higher_is_better: bool
    doc: str
    of: Callable[[RunResult, float], float]
    uses_threshold: bool = False
    bounds: tuple[float, float] = (0.0, math.inf)


def _series(run: RunResult, key: str) -> np.ndarray:
    return np.asarray(run.history.get(key) or [], dtype=float)


def _final(key: str) -> Callable[[RunResult, float], float]:
    def of(run: RunResult, _: float) -> float:
        a = _series(run, key)
        return float(a[-1]) if a.size else math.nan
    return of


def _best(key: str, pick: Callable[[np.ndarray], float]) -> Callable[[RunResult, float], float]:
    def of(run: RunResult, _: float) -> float:
        a = _series(run, key)
        a = a[np.isfinite(a)]
        return float(pick(a)) if a.size else math.nan
    return of


def epochs_to(run: RunResult, threshold: float) -> float:
    """The 1-based first epoch whose validation accuracy is at least ``threshold``."""
    a = _series(run, "val_accuracy")
    hit = np.flatnonzero(np.isfinite(a) & (a >= threshold))
    return float(hit[0] + 1) if hit.size else math.nan


def _updates_per_epoch(run: RunResult) -> float:
    return run.updates / run.epochs_run if run.epochs_run else math.nan


def _updates_to(run: RunResult, threshold: float) -> float:
    return epochs_to(run, threshold) * _updates_per_epoch(run)


def _auc(run: RunResult, _: float) -> float:
    a = _series(run, "val_accuracy")
    return float(np.where(np.isfinite(a), a, 0.0).mean()) if a.size else math.nan


def _volatility(run: RunResult, _: float) -> float:
    a = _series(run, "val_accuracy")
    tail = a[int(len(a) * (1 - VOLATILITY_TAIL)):]
    steps = np.diff(tail)
    return float(np.std(steps, ddof=1)) if steps.size >= 2 and np.isfinite(steps).all() else math.nan


def _gap(run: RunResult, _: float) -> float:
    return _final("accuracy")(run, 0.0) - _final("val_accuracy")(run, 0.0)


def epochs_to_plateau(run: RunResult, _: float = 0.0) -> float:
    """The 1-based first epoch within :data:`PLATEAU_TOLERANCE` of the run's best
    validation accuracy."""
    a = _series(run, "val_accuracy")
    ok = np.isfinite(a)
    if not ok.any():
        return math.nan
    best = a[ok].max()
    return float(np.flatnonzero(ok & (a >= best - PLATEAU_TOLERANCE))[0] + 1)


def _restored(run: RunResult, _: float) -> float:
    a = _series(run, "val_accuracy")
    if run.restored_epoch is not None and run.restored_epoch < a.size:
        return float(a[run.restored_epoch])
    return float(a[-1]) if a.size else math.nan


def _diverged(run: RunResult, _: float) -> float:
    return float(run.diverged_epoch is not None)


_ALL = (
    Measure("final_val_accuracy", "final validation accuracy", "", True, True,
            "validation accuracy after the last epoch", _final("val_accuracy"),
            bounds=(0.0, 1.0)),
    Measure("best_val_accuracy", "best validation accuracy", "", True, True,
            "the highest validation accuracy of any epoch", _best("val_accuracy", np.max),
            bounds=(0.0, 1.0)),
    Measure("final_val_loss", "final validation loss", "", False, False,
            "validation loss after the last epoch (including any weight penalty)",
            _final("val_loss")),
    Measure("best_val_loss", "best validation loss", "", False, False,
            "the lowest validation loss of any epoch (including any weight penalty)",
            _best("val_loss", np.min)),
    Measure("restored_val_accuracy", "validation accuracy of the returned weights", "", True,
            True, "validation accuracy of the weights fit returns: the restored epoch's under "
            "EarlyStopping(restore_best_weights), else the last epoch's", _restored,
            bounds=(0.0, 1.0)),
    Measure("epochs_to_threshold", "epochs to the threshold", "epochs", False, False,
            "the first epoch whose validation accuracy reaches the study's threshold "
            "(undefined for a run that never does)", epochs_to, uses_threshold=True),
    Measure("updates_to_threshold", "weight updates to the threshold", "updates", False, False,
            "weight updates until the epoch that first reaches the threshold", _updates_to,
            uses_threshold=True),
    Measure("val_accuracy_auc", "mean validation accuracy over training", "", True, True,
            "the area under the validation accuracy curve per epoch (its mean over the "
            "epochs run): high when a run learns early and stays", _auc,
            bounds=(0.0, 1.0)),
    Measure("volatility", "epoch-to-epoch volatility", "", True, False,
            "the standard deviation of the epoch-to-epoch changes of validation accuracy "
            "over the last half of training", _volatility),
    Measure("gap", "train - validation accuracy gap", "", True, False,
            "final training accuracy minus final validation accuracy", _gap,
            bounds=(-1.0, 1.0)),
    Measure("epochs_to_plateau", "epochs to the plateau", "epochs", False, False,
            "the first epoch within 1 point of the run's best validation accuracy",
            epochs_to_plateau),
    Measure("epochs_trained", "epochs trained", "epochs", False, False,
            "the epochs the run trained (fewer when EarlyStopping stopped it)",
            lambda run, _: float(run.epochs_run)),
    Measure("diverged", "divergence rate", "", True, False,
            "1 for a run whose loss became non-finite, else 0: its mean is the rate",
            _diverged),
)

#: Every measure a study may declare, by name.
MEASURES: dict[str, Measure] = {m.name: m for m in _ALL}
DEFAULT_MEASURES: tuple[str, ...] = ("final_val_accuracy",)
