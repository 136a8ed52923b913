"""How many epochs: per seed, where the validation accuracy stops improving (the plateau,
:func:`hyperlab.studies.measures.epochs_to_plateau`) and where overfitting starts (the
validation loss rising from its minimum while the training loss falls); and an
``EarlyStopping(monitor="val_accuracy")`` whose ``min_delta`` is the measured
epoch-to-epoch noise of the validation accuracy (the ``volatility`` measure) and whose
``patience`` is the smallest that would have let every seed reach its plateau.

Epochs are 1-based counts, as in :mod:`hyperlab.studies.measures`.
"""
from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab.science._text import columns
from hyperlab.stats import Estimate, estimate
from hyperlab.stats import jsonable
from hyperlab.studies.measures import MEASURES, epochs_to_plateau
from hyperlab.studies.results import RunResult

__all__ = ["SeedEpochs", "EpochsAdvice", "stopped_after", "overfitting_onset", "analyze",
           "how_many_epochs", "SEEDS", "EPOCHS"]

SEEDS, EPOCHS = 5, 100
RISE = 2.0   # overfitting: the validation loss ends this many noise units above its minimum


def stopped_after(values: np.ndarray, patience: int, min_delta: float) -> int:
    """The epochs ``EarlyStopping(monitor=<a metric to maximize>, patience, min_delta)``
    trains on a run whose metric per epoch is ``values`` (Keras's rule: an epoch improves
    when it beats the best so far by more than ``min_delta``; training stops after the
    first epoch that does not improve once ``patience`` epochs have passed without an
    improvement); ``len(values)`` if it never stops."""
    best, wait = -math.inf, 0
    for epoch, value in enumerate(values):
        wait += 1
        if value - min_delta > best:
            best, wait = value, 0
        elif wait >= patience and epoch > 0:
            return epoch + 1
    return len(values)


def overfitting_onset(loss: np.ndarray, val_loss: np.ndarray) -> int | None:
    """The epoch of the lowest validation loss when, over the epochs after it (at least 3),
    the validation loss ends more than :data:`RISE` times the standard deviation of its
    epoch-to-epoch changes above that minimum while the training loss falls; else None."""
    ok = np.isfinite(val_loss) & np.isfinite(loss)
    if not ok.all() or len(val_loss) < 4:
        return None
    best = int(np.argmin(val_loss))
    after = val_loss[best:]
    if len(after) < 4:
        return None
    noise = float(np.std(np.diff(after), ddof=1))
    rose = after[-1] - after[0] > RISE * noise
    return best + 1 if rose and loss[-1] < loss[best] else None


def _span(values: list[int]) -> str:
    """'330' or '112 to 161'."""
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)} to {max(values)}"


@dataclass(frozen=True)
class SeedEpochs:
    """One seed's answer: plateau and overfitting epochs (None: no overfitting within the
    budget), the noise of its validation accuracy, and its best validation accuracy."""

    seed: int
    epochs: int
    plateau: float
    overfitting: int | None
    noise: float
    best_val_accuracy: float


@dataclass
class EpochsAdvice:
    """Every seed's epochs, their medians with intervals, and the calibrated
    EarlyStopping: ``min_delta`` (the median noise over the seeds), ``patience`` and, per
    seed, the epochs it would train and the validation accuracy that would cost."""

    config: dict[str, Any]
    seeds: list[SeedEpochs]
    min_delta: float
    patience: int
    stopped: list[int]
    cost: list[float]
    plateau: Estimate
    level: float = 0.95

    def answer(self) -> str:
        """The findings in one paragraph, claiming no more than the data show."""
        n, e = len(self.seeds), self.seeds[0].epochs
        p = self.plateau
        ci = (f", {p.level:.0%} bootstrap CI {p.low:.3g} to {p.high:.3g}"
              if math.isfinite(p.low) else "")
        over = [s.overfitting for s in self.seeds if s.overfitting is not None]
        parts = [f"{n} seeds trained {e} epochs each. The validation accuracy came within "
                 f"1 point of its best at epoch {p.estimate:.3g} (median{ci}; per seed "
                 f"{', '.join(f'{s.plateau:.0f}' for s in self.seeds)})."]
        if over:
            parts.append(f"Overfitting (the validation loss rising from its minimum while the "
                         f"training loss falls) started for {len(over)} of {n} seeds, after "
                         f"epoch {_span(over)}.")
        else:
            parts.append(f"No seed overfitted within {e} epochs by this rule (validation loss "
                         f"rising more than {RISE:g} × its epoch-to-epoch noise while the "
                         f"training loss falls).")
        parts.append(f"The validation accuracy moves {self.min_delta:.3g} from epoch to "
                     f"epoch (median over the seeds of the standard deviation of its changes "
                     f"over the last half): EarlyStopping(monitor='val_accuracy', "
                     f"min_delta={self.min_delta:.3g}, patience={self.patience}) is the "
                     f"smallest patience with which every one of these seeds would have "
                     f"reached its plateau; on their histories it stops after "
                     f"{_span(self.stopped)} epochs, giving up at most "
                     f"{max(self.cost):.3f} of the best validation accuracy.")
        if n < 10:
            parts.append(f"With {n} seeds, a new seed may well need a larger patience.")
        return " ".join(parts)

    def table(self) -> str:
        """Per seed: plateau, overfitting onset, noise, where the calibrated EarlyStopping
        stops and the validation accuracy that costs."""
        rows = [("seed", "plateau", "overfitting", "noise", "stops after", "gives up")]
        rows += [(str(s.seed), f"{s.plateau:.0f}", "-" if s.overfitting is None
                  else str(s.overfitting), f"{s.noise:.3g}", str(k), f"{c:.3f}")
                 for s, k, c in zip(self.seeds, self.stopped, self.cost)]
        return columns(rows)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON types."""
        return jsonable({
            "config": self.config, "per_seed": [s.__dict__ for s in self.seeds],
            "plateau": self.plateau, "early_stopping": {
                "monitor": "val_accuracy", "min_delta": self.min_delta,
                "patience": self.patience, "stopped_after": self.stopped,
                "val_accuracy_given_up": self.cost},
            "answer": self.answer()})


def analyze(runs: list[RunResult], config: dict[str, Any] | None = None,
            level: float = 0.95) -> EpochsAdvice:
    """The advice from runs that logged ``loss``, ``val_loss`` and ``val_accuracy`` and
    were not stopped early."""
    if not runs:
        raise ValueError("no runs to analyse")
    volatility = MEASURES["volatility"].of
    seeds, histories = [], []
    for run in runs:
        h = {k: np.asarray(run.history.get(k) or [], float)
             for k in ("loss", "val_loss", "val_accuracy")}
        if not h["val_accuracy"].size:
            raise ValueError("the runs logged no val_accuracy: train with validation data")
        acc = h["val_accuracy"]
        seeds.append(SeedEpochs(run.seed, len(acc), epochs_to_plateau(run),
                                overfitting_onset(h["loss"], h["val_loss"]),
                                volatility(run, 0.0), float(np.nanmax(acc))))
        histories.append(acc)
    noises = [s.noise for s in seeds if math.isfinite(s.noise)]
    min_delta = float(np.median(noises)) if noises else 0.0
    patience = 1
    while any(stopped_after(a, patience, min_delta) < s.plateau
              for a, s in zip(histories, seeds)):
        patience += 1
    stopped = [stopped_after(a, patience, min_delta) for a in histories]
    cost = [s.best_val_accuracy - float(np.nanmax(a[:k]))
            for s, a, k in zip(seeds, histories, stopped)]
    plateau = estimate([s.plateau for s in seeds], level, method="bootstrap",
                       statistic="median")
    return EpochsAdvice(config or {}, seeds, min_delta, patience, stopped, cost, plateau, level)


def how_many_epochs(config: dict[str, Any] | None = None, *, seeds: int = SEEDS,
                    epochs: int = EPOCHS, level: float = 0.95, db: str | Path | None = None,
                    progress: bool = False, **run_options: Any) -> EpochsAdvice:
    """Train the model ``config`` describes (a study's ``data``, ``model``, ``compile`` and
    ``fit`` sections; default: the tutorial's blobs MLP with SGD) for ``epochs`` epochs
    with seeds 0 .. ``seeds``-1, without callbacks, as a study (``db``: its SQLite store;
    None: a temporary one), and :func:`analyze` the runs."""
    from hyperlab.studies import from_dict
    from hyperlab.studies.executors import run_studies
    from hyperlab.studies.store import Store
    for name, value, least in (("seeds", seeds, 1), ("epochs", epochs, 4)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    base = copy.deepcopy(config or {})
    fit = base.setdefault("fit", {})
    if fit.get("callbacks"):
        raise ValueError("fit.callbacks: how-many-epochs trains the full budget without "
                         "callbacks; remove them")
    fit["epochs"] = epochs
    study = from_dict({**base, "name": "epochs", "axis": "run", "repeats": seeds},
                      source="how many epochs")
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(db) if db is not None else Path(tmp) / "epochs.db") as store:
            results = run_studies([study], store, progress=progress, **run_options)
    resolved = study.variants()[0].config
    runs = sorted(results[0].values[0].runs, key=lambda r: r.seed)
    return analyze(runs, {k: resolved[k] for k in ("data", "model", "compile", "fit")}, level)
