"""History: what ``fit`` returns, as in Keras, plus what a study needs to know."""
from __future__ import annotations

from typing import Any

import numpy as np


class History:
    """Per-epoch logs of one run.

    ``history`` maps Keras's keys (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
    ``learning_rate``) to one float per epoch that ran. ``learning_rate`` is the rate of the
    epoch's first update. ``diverged_epoch`` is the first epoch (0-based) whose loss was not
    finite, else None; ``stopped_epoch`` the epoch at which EarlyStopping stopped the run;
    ``restored_epoch`` the epoch whose weights EarlyStopping(restore_best_weights) restored at
    the end of ``fit`` (the weights ``fit`` returned are that epoch's: its ``val_*`` logs are
    the restored model's), else None. Epochs are 0-based.
    """

    def __init__(self, history: dict[str, list[float]], params: dict[str, Any],
                 stopped_epoch: int | None = None, weights: list[np.ndarray] | None = None,
                 restored_epoch: int | None = None) -> None:
        self.history = history
        self.epoch = list(range(len(history.get("loss", []))))
        self.params = params
        self.stopped_epoch = stopped_epoch
        self.restored_epoch = restored_epoch
        self.weights = weights
        self.model = None
        losses = np.asarray(history.get("loss", []), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(losses))
        self.diverged_epoch: int | None = int(bad[0]) if bad.size else None

    @property
    def diverged(self) -> bool:
        return self.diverged_epoch is not None

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"<History epochs={len(self.epoch)} last={last}>"
