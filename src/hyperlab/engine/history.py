"""History: what ``fit`` returns, as in Keras, plus what a study needs to know."""
from __future__ import annotations

from typing import Any

import numpy as np

from hyperlab.engine.callbacks import Callback


class KerasLogs(dict):
    """``History.history``: a dict of Keras 3's keys that also answers the Keras 2 names for
    them (``h["acc"]`` is ``h["accuracy"]``, ``val_acc``, ``lr``), as code written for Keras 2
    reads them, without listing them twice when iterated."""

    ALIASES = {"acc": "accuracy", "val_acc": "val_accuracy", "lr": "learning_rate"}
    ALIASES.update({v: k for k, v in list(ALIASES.items())})

    def __missing__(self, key: str) -> list[float]:
        alias = self.ALIASES.get(key) if isinstance(key, str) else None
        if alias is not None and dict.__contains__(self, alias):
            return self[alias]
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


class History(Callback):
    """Per-epoch logs of one run; also Keras's ``History`` callback (``fit`` records into
    the one given in ``callbacks``, else a new one, and returns it).

    ``history`` maps Keras's keys (``loss``, the metrics as ``compile`` names them — e.g.
    ``accuracy`` or ``acc`` — their ``val_*``, and ``learning_rate`` when Keras logs it) to
    one float per epoch that ran (a :class:`KerasLogs`: Keras 2's names answer too);
    ``epoch`` lists those epochs. ``learning_rate`` is the rate of the epoch's first update.
    ``diverged_epoch`` is the first epoch (0-based) whose loss was not finite, else None;
    ``stopped_epoch`` the epoch at which EarlyStopping stopped the run; ``restored_epoch`` the epoch whose weights
    EarlyStopping(restore_best_weights) restored at the end of ``fit`` (the weights ``fit``
    returned are that epoch's: its ``val_*`` logs are the restored model's), else None.
    Epochs are 0-based.
    """

    def __init__(self, history: dict[str, list[float]] | None = None,
                 params: dict[str, Any] | None = None, stopped_epoch: int | None = None,
                 weights: list[np.ndarray] | None = None, restored_epoch: int | None = None,
                 epoch: list[int] | None = None) -> None:
        super().__init__()
        self.history = KerasLogs(history or {})
        self.epoch = (list(range(len(self.history.get("loss", [])))) if epoch is None
                      else list(epoch))
        self.params = params
        self.stopped_epoch = stopped_epoch
        self.restored_epoch = restored_epoch
        self.weights = weights

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self

    @property
    def diverged_epoch(self) -> int | None:
        losses = np.asarray(self.history.get("loss", []), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(losses))
        if not bad.size:
            return None
        return self.epoch[bad[0]] if len(self.epoch) == len(losses) else int(bad[0])

    @property
    def diverged(self) -> bool:
        return self.diverged_epoch is not None

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"<History epochs={len(self.epoch)} last={last}>"
