"""Keras callbacks that run inside the compiled training loop.

Each callback is a Keras-shaped description (same names, arguments, defaults) plus a pure
per-epoch update on a small state pytree, so a whole run — schedule, plateau reductions and
early stopping included — is one XLA program, and runs with different callback *values*
(patience, factor, ...) share it. The formulas follow Keras 3's ``on_epoch_end``.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np


class Callback:
    """Base class of the built-in callbacks (arbitrary Python callbacks are not supported:
    they would put Python in the compiled loop)."""

    def get_config(self) -> dict[str, Any]:
        return {}


def _direction(monitor: str, mode: str, who: str) -> bool:
    """True when the monitored quantity should decrease (``mode="min"``)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who} mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode == "min"
    if who == "ReduceLROnPlateau":  # Keras: "acc" in the name means maximise
        return "acc" not in monitor
    name = monitor.removeprefix("val_")
    if name == "loss":
        return True
    if name in ("accuracy", "acc"):
        return False
    raise ValueError(f"EarlyStopping cannot tell whether {monitor!r} should be minimised or "
                     "maximised; pass mode='min' or mode='max'")


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to ``schedule(epoch)`` or
    ``schedule(epoch, lr)`` (Keras semantics).

    The function is evaluated in Python once per epoch *before* training (chaining ``lr``
    from the optimizer's initial rate), and the table of rates is an input of the compiled
    run: runs with different tables share one program. A function whose value depends on
    something only known during training is therefore not supported.
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        if not callable(schedule):
            raise ValueError(f"LearningRateScheduler needs a callable schedule, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def static_config(self) -> tuple:
        return ("LearningRateScheduler",)

    def table(self, epochs: int, initial_lr: float) -> np.ndarray:
        """The rate of every epoch, as float32."""
        try:
            n_args = len(inspect.signature(self.schedule).parameters)
        except (TypeError, ValueError):
            n_args = 1
        rates, lr = [], float(initial_lr)
        for epoch in range(epochs):
            value = self.schedule(epoch, lr) if n_args >= 2 else self.schedule(epoch)
            lr = float(value)
            if not np.isfinite(lr) or lr < 0:
                raise ValueError(f"LearningRateScheduler schedule returned {value!r} for epoch "
                                 f"{epoch}; it must return a finite rate >= 0")
            rates.append(lr)
        return np.asarray(rates, np.float32)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved by more
    than ``min_delta`` for ``patience`` epochs; then wait ``cooldown`` epochs; never go
    below ``min_lr``. The logged ``learning_rate`` is the rate used during the epoch."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, **kwargs: Any) -> None:
        if "epsilon" in kwargs:  # Keras 2 name of min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise ValueError(f"ReduceLROnPlateau got unknown arguments {sorted(kwargs)}")
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got factor={factor}")
        if factor < 0:
            raise ValueError(f"ReduceLROnPlateau factor must be >= 0, got factor={factor}")
        for arg, value in (("patience", patience), ("cooldown", cooldown)):
            if int(value) != value or value < 0:
                raise ValueError(f"ReduceLROnPlateau {arg} must be an int >= 0, got {arg}={value!r}")
        if min_lr < 0:
            raise ValueError(f"ReduceLROnPlateau min_lr must be >= 0, got min_lr={min_lr}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.verbose, self.mode, self.min_delta = verbose, mode, float(min_delta)
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        self.minimize = _direction(monitor, mode, "ReduceLROnPlateau")

    def hyperparams(self) -> dict[str, float]:
        return {"factor": self.factor, "patience": self.patience, "min_delta": self.min_delta,
                "cooldown": self.cooldown, "min_lr": self.min_lr}

    def static_config(self) -> tuple:
        return ("ReduceLROnPlateau", self.monitor, self.minimize)

    def init_state(self) -> dict:
        return {"best": jnp.float32(np.inf if self.minimize else -np.inf),
                "wait": jnp.int32(0), "cooldown": jnp.int32(0)}

    def update(self, cs: dict, hp: dict, current, lr):
        """One ``on_epoch_end``: returns the new state and the rate for the next epoch."""
        delta = hp["min_delta"]
        better = current < cs["best"] - delta if self.minimize else current > cs["best"] + delta
        in_cooldown = cs["cooldown"] > 0
        cooldown = jnp.where(in_cooldown, cs["cooldown"] - 1, cs["cooldown"])
        wait = jnp.where(in_cooldown, 0, cs["wait"])
        best = jnp.where(better, current, cs["best"])
        counting = ~better & ~(cooldown > 0)
        wait = jnp.where(better, 0, jnp.where(counting, wait + 1, wait))
        reduce = counting & (wait >= hp["patience"]) & (lr > hp["min_lr"])
        new_lr = jnp.where(reduce, jnp.maximum(lr * hp["factor"], hp["min_lr"]), lr)
        cooldown = jnp.where(reduce, hp["cooldown"].astype(jnp.int32), cooldown)
        wait = jnp.where(reduce, 0, wait)
        return {"best": best, "wait": wait, "cooldown": cooldown}, new_lr

    def get_config(self):
        return {"monitor": self.monitor, "factor": self.factor, "patience": self.patience,
                "mode": self.mode, "min_delta": self.min_delta, "cooldown": self.cooldown,
                "min_lr": self.min_lr}


class EarlyStopping(Callback):
    """Stop a run once ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (not before ``start_from_epoch``; improvements must also beat
    ``baseline`` to reset the count). With ``restore_best_weights`` the best epoch's weights
    are restored when training ends (Keras 3). A stopped run freezes while runs trained
    beside it go on."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        for arg, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if int(value) != value or value < 0:
                raise ValueError(f"EarlyStopping {arg} must be an int >= 0, got {arg}={value!r}")
        self.monitor, self.min_delta, self.patience = monitor, abs(float(min_delta)), int(patience)
        self.verbose, self.mode, self.baseline = verbose, mode, baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.minimize = _direction(monitor, mode, "EarlyStopping")

    def hyperparams(self) -> dict[str, float]:
        return {"min_delta": self.min_delta, "patience": self.patience,
                "baseline": np.nan if self.baseline is None else float(self.baseline),
                "start_from_epoch": self.start_from_epoch}

    def static_config(self) -> tuple:
        return ("EarlyStopping", self.monitor, self.minimize, self.restore_best_weights)

    def init_state(self) -> dict:
        return {"best": jnp.float32(np.inf if self.minimize else -np.inf), "wait": jnp.int32(0),
                "best_epoch": jnp.int32(0), "has_weights": jnp.bool_(False)}

    def _improves(self, value, reference, delta):
        """Keras's ``_is_improvement``: better than ``reference`` by more than ``delta``."""
        return value + delta < reference if self.minimize else value - delta > reference

    def update(self, cs: dict, hp: dict, current, epoch):
        """One ``on_epoch_end``: returns (state, stop, take_weights)."""
        considered = epoch >= hp["start_from_epoch"]
        take_first = considered & ~cs["has_weights"]
        improved = considered & self._improves(current, cs["best"], hp["min_delta"])
        beats_baseline = jnp.isnan(hp["baseline"]) | self._improves(current, hp["baseline"], hp["min_delta"])
        wait = jnp.where(considered, cs["wait"] + 1, cs["wait"])
        wait = jnp.where(improved & beats_baseline, 0, wait)
        stop = considered & ~improved & (wait >= hp["patience"]) & (epoch > 0)
        take = take_first | improved
        state = {"best": jnp.where(improved, current, cs["best"]), "wait": wait,
                 "best_epoch": jnp.where(take, epoch, cs["best_epoch"]),
                 "has_weights": cs["has_weights"] | take}
        return state, stop, take

    def get_config(self):
        return {"monitor": self.monitor, "min_delta": self.min_delta, "patience": self.patience,
                "mode": self.mode, "baseline": self.baseline,
                "restore_best_weights": self.restore_best_weights,
                "start_from_epoch": self.start_from_epoch}
