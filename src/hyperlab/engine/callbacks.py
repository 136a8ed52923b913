"""Keras callbacks.

``LearningRateScheduler``, ``ReduceLROnPlateau`` and ``EarlyStopping`` run inside the
compiled training loop: each is a Keras-shaped description (same names, arguments,
defaults) plus a pure per-epoch update on a small state pytree, so a whole run — schedule,
plateau reductions and early stopping included — is one XLA program, and runs with
different callback *values* (patience, factor, ...) share it. The formulas follow Keras 3's
``on_epoch_end``; with ``verbose=1`` they print Keras's messages.

``Callback`` subclasses (and ``LambdaCallback``, ``TerminateOnNaN``, ``CSVLogger``,
``ModelCheckpoint``, ``ProgbarLogger``) run in Python between epochs.
"""
from __future__ import annotations

import collections.abc
import csv
import inspect
import math
import os
import sys
import time
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from hyperlab.engine import losses as losses_mod
from hyperlab._constraints import NON_NEGATIVE, UNIT_OPEN, Interval, Options
from hyperlab.engine.fields import Declared, setting, static, value


class Callback:
    """Base class of callbacks, as ``keras.callbacks.Callback``.

    A subclass overrides the hooks it needs: ``on_train_begin/end(logs)`` and
    ``on_epoch_begin/end(epoch, logs)``, with ``self.model`` (the model being trained; set
    ``self.model.stop_training = True`` to stop after the epoch, read or set
    ``self.model.optimizer.learning_rate``) and ``self.params`` (``verbose``, ``epochs``,
    ``steps``). ``logs`` holds the epoch's results as ``History`` keys them.

    Python callbacks run between epochs: with one present, ``fit`` runs the compiled
    training program one epoch per call (the same program, so the same numbers). The
    callbacks EarlyStopping, ReduceLROnPlateau and LearningRateScheduler run inside the
    program. Batch-level hooks (``on_train_batch_begin/end``, ``on_batch_*``,
    ``on_test_batch_*``, ``on_predict_batch_*``) and the validation/predict hooks
    (``on_test_begin/end``, ``on_predict_begin/end``) would need Python inside the compiled
    epoch: ``fit`` refuses a callback that overrides them, in one line.
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] | None = None
        self.model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called when ``fit`` starts."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called when ``fit`` ends, with the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called before epoch ``epoch`` (0-based) trains."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called after epoch ``epoch`` with its logs (``loss``, metrics, ``val_*``)."""

    def get_config(self) -> dict[str, Any]:
        return {}


# Keras's batch-level and evaluate/predict hooks: not run (the epoch is one compiled program)
BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
               "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
               "on_predict_batch_end", "on_test_begin", "on_test_end", "on_predict_begin",
               "on_predict_end")


def batch_hooks(callback: Callback) -> list[str]:
    """The batch-level (and evaluate/predict) hooks that ``callback`` defines."""
    return [h for h in BATCH_HOOKS if h in callback.__dict__
            or any(h in vars(cls) for cls in type(callback).__mro__
                   if cls not in (Callback, object))]


def print_msg(message: str) -> None:
    """Print as Keras's ``io_utils.print_msg``: to stdout, flushed."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


_COUNT = Interval(0, whole=True)  # patience and the like: 3 or 3.0
_MODES = Options(("auto", "min", "max"))


def _direction(monitor: str, mode: str, who: str) -> bool:
    """True when the monitored quantity should decrease (``mode="min"``)."""
    if mode != "auto":
        return mode == "min"
    if who == "ReduceLROnPlateau":  # Keras: "acc" in the name means maximise
        return "acc" not in monitor
    name = monitor.removeprefix("val_")
    if name == "loss" or name.lower() in losses_mod.LOSSES or name.lower() in ("mse", "mae", "bce"):
        return True
    if name == "acc" or name.endswith("accuracy"):
        return False
    raise ValueError(f"{who} cannot tell whether {monitor!r} should be minimised or "
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

    def values(self, epochs: int, initial_lr: float, start: int = 0) -> list[float]:
        """The rate of every epoch from ``start`` (``initial_lr`` before it, unused)."""
        try:
            n_args = len(inspect.signature(self.schedule).parameters)
        except (TypeError, ValueError):
            n_args = 1
        rates, lr = [float(initial_lr)] * min(start, epochs), float(initial_lr)
        for epoch in range(start, epochs):
            value = self.schedule(epoch, lr) if n_args >= 2 else self.schedule(epoch)
            lr = float(value)
            if not np.isfinite(lr) or lr < 0:
                raise ValueError(f"LearningRateScheduler schedule returned {value!r} for epoch "
                                 f"{epoch}; it must return a finite rate >= 0")
            rates.append(lr)
        return rates

    def table(self, epochs: int, initial_lr: float, start: int = 0) -> np.ndarray:
        """The rate of every epoch, as float32."""
        return np.asarray(self.values(epochs, initial_lr, start), np.float32)


class ReduceLROnPlateau(Declared, Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved by more
    than ``min_delta`` for ``patience`` epochs; then wait ``cooldown`` epochs; never go
    below ``min_lr``. The logged ``learning_rate`` is the rate used during the epoch.
    ``epsilon`` is Keras 2's name of ``min_delta``."""

    _var_keyword = True
    monitor = static("val_loss")
    factor = value(0.1, UNIT_OPEN, convert=float)
    patience = value(10, _COUNT, convert=int)
    verbose = setting(0, config=False)
    mode = static("auto", _MODES)
    min_delta = value(1e-4, convert=float)
    cooldown = value(0, _COUNT, convert=int)
    min_lr = value(0.0, NON_NEGATIVE, convert=float)

    def _prepare(self, values: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        if "epsilon" in extra:
            values["min_delta"] = extra.pop("epsilon")
        if extra:
            raise ValueError(f"ReduceLROnPlateau got unknown arguments {sorted(extra)}")
        return values

    def _validate(self) -> None:
        self.minimize = _direction(self.monitor, self.mode, "ReduceLROnPlateau")

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


class EarlyStopping(Declared, Callback):
    """Stop a run once ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (not before ``start_from_epoch``; improvements must also beat
    ``baseline`` to reset the count). With ``restore_best_weights`` the best epoch's weights
    are restored when training ends (Keras 3). A stopped run freezes while runs trained
    beside it go on."""

    monitor = static("val_loss")
    min_delta = value(0.0, convert=lambda v: abs(float(v)))
    patience = value(0, _COUNT, convert=int)
    verbose = setting(0, config=False)
    mode = static("auto", _MODES)
    baseline = value(None)
    restore_best_weights = static(False, convert=bool)
    start_from_epoch = value(0, _COUNT, convert=int)

    def _validate(self) -> None:
        self.minimize = _direction(self.monitor, self.mode, "EarlyStopping")

    def hyperparams(self) -> dict[str, float]:
        """The traced values; no ``baseline`` is NaN (one program with and without)."""
        return {**super().hyperparams(),
                "baseline": np.nan if self.baseline is None else float(self.baseline)}

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


# ---------------------------------------------------------------- Python callbacks
class LambdaCallback(Callback):
    """A callback from functions, as ``keras.callbacks.LambdaCallback``: ``on_epoch_begin``
    and ``on_epoch_end`` take ``(epoch, logs)``, ``on_train_begin``/``on_train_end`` take
    ``(logs)``; other hooks by keyword (batch-level ones are refused by ``fit``)."""

    def __init__(self, on_epoch_begin: Callable | None = None,
                 on_epoch_end: Callable | None = None, on_train_begin: Callable | None = None,
                 on_train_end: Callable | None = None, on_train_batch_begin: Callable | None = None,
                 on_train_batch_end: Callable | None = None, **kwargs: Callable) -> None:
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stop training when the loss is NaN or infinite, as ``keras.callbacks.TerminateOnNaN``
    (``raise_error=True``: a RuntimeError instead). Keras checks after every batch; here the
    check is at the end of the epoch (the epoch is one compiled program), so the epoch that
    diverged finishes first."""

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at epoch {epoch}. Loss value: "
                                   f"{loss}. Terminating training immediately.")
            print_msg(f"Epoch {epoch + 1}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file, as ``keras.callbacks.CSVLogger``: a header
    ``epoch,<sorted keys>`` then one row per epoch (0-based epoch)."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        super().__init__()
        self.sep, self.filename, self.append = separator, os.fspath(filename), append
        self.writer: Any = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer, self.keys = None, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}

        def handle_value(k):
            zero_dim = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not zero_dim:
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch} | {k: handle_value(logs.get(k, "NA")) for k in self.keys}
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class ModelCheckpoint(Callback):
    """Save the model after every epoch, as ``keras.callbacks.ModelCheckpoint``: with
    ``model.save(path)`` (``.keras`` or ``.h5``), or ``model.save_weights(path)``
    (``save_weights_only=True``, ``.weights.h5``). ``filepath`` may name the epoch (1-based)
    and any log: ``"w.{epoch:02d}-{val_loss:.2f}.keras"``. ``save_best_only`` saves only when
    ``monitor`` improves (``mode`` as EarlyStopping's; ``initial_value_threshold`` the value
    to beat first)."""

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: str = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose, self.mode = monitor, verbose, mode
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint save_freq={save_freq!r} is not supported: "
                             "checkpoints are taken at epoch ends (save_freq='epoch')")
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self.minimize = _direction(monitor, mode, "ModelCheckpoint") if save_best_only else True
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the "
                                 "filepath provided must end in `.weights.h5` (Keras weights "
                                 f"format). Received: filepath={self.filepath}")
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                             f"Received: filepath={self.filepath}")

    def _path(self, epoch: int, logs: dict) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as err:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {err}") from None

    def _should_save(self, epoch: int, logs: dict, path: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            return True  # Keras warns and saves
        best = "None" if self.best is None else f"{self.best:.5f}"
        better = self.best is None or (current < self.best if self.minimize
                                       else current > self.best)
        if better:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                          f"{current:.5f}, saving model to {path}")
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        path = self._path(epoch, logs)
        if not self._should_save(epoch, logs, path):
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if os.path.isdir(path):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {path}")


# ---------------------------------------------------------------- Keras's progress output
def _format_time(seconds_per_unit: float, unit: str) -> str:
    if seconds_per_unit >= 1 or seconds_per_unit == 0:
        return f" {seconds_per_unit:.0f}s/{unit}"
    if seconds_per_unit >= 1e-3:
        return f" {seconds_per_unit * 1000.0:.0f}ms/{unit}"
    return f" {seconds_per_unit * 1000000.0:.0f}us/{unit}"


def progress_line(steps: int, seconds: float, logs: dict[str, float], verbose: int) -> str:
    """Keras 3's finished ``Progbar`` line (``keras.utils.Progbar``, unit "step"), newline
    included: ``verbose=1`` the bar, ``verbose=2`` the plain line."""
    digits = int(math.log10(steps)) + 1
    count = f"%{digits}d/%d" % (steps, steps)
    per_step = seconds / steps
    if verbose == 2:
        info = f"{count} - {seconds:.0f}s -{_format_time(per_step, 'step')}"
        for k, v in logs.items():
            info += f" - {k}: {v:.4f}" if v > 1e-3 else f" - {k}: {v:.4e}"
        return info + "\n"
    bar = f"\x1b[1m{count}\x1b[0m \33[32m{'━' * 20}\x1b[0m\33[37m\x1b[0m"
    info = f" \x1b[1m{seconds:.0f}s\x1b[0m" + _format_time(per_step, "step")
    for k, v in logs.items():
        info += f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}"
    return "\r" + bar + info + "\n"


class ProgbarLogger(Callback):
    """Print Keras's training progress to stdout, as ``keras.callbacks.ProgbarLogger``:
    ``Epoch i/N`` (when N > 1) before each epoch and, after it, the finished progress bar
    (``verbose=1``: ``k/k ━━━━ 0s 2ms/step - accuracy: ... - loss: ...``) or line
    (``verbose=2``). An epoch's steps run in one compiled call, so the bar is drawn once,
    complete (Keras redraws it after every step). ``fit`` adds one when ``verbose != 0``.
    Its time per step is the epoch's wall time over its steps; ``fit`` sets
    ``epoch_seconds`` when it prints the epochs of a compiled chunk together."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose, self.epochs, self.target = 1, 1, None
        self.epoch_seconds: float | None = None
        self._start = time.perf_counter()

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params["verbose"]
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs, self.target = params["epochs"], params["steps"]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = (time.perf_counter() - self._start if self.epoch_seconds is None
                   else self.epoch_seconds)
        if self.verbose in (1, 2):
            sys.stdout.write(progress_line(self.target, seconds, dict(logs or {}), self.verbose))
            sys.stdout.flush()
