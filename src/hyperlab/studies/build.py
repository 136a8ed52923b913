"""A training configuration as the engine's objects, and the vocabulary configurations
share: the tutorial's SGD, what ``fit`` logs each epoch, the callbacks a configuration may
name and what a batch size of ``"full"`` means. Studies (:mod:`hyperlab.studies.spec`
validates and resolves their configurations), ``hyperlab fit``, animations and landscapes
use it.

The engine (and JAX with it) is imported by the builders when they run, not with this module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperlab.engine.callbacks import Callback
    from hyperlab.engine.optimizers import Optimizer
    from hyperlab.engine.schedules import LearningRateSchedule

__all__ = ["TUTORIAL_SGD", "LOG_KEYS", "DIAGNOSTIC_LOGS", "CALLBACKS", "batch_size", "callback", "schedule",
           "optimizer_class", "split_schedule", "build_schedule", "build_optimizer", "build_callbacks",
           "build_layers"]

# The tutorial's optimizer: SGD's arguments in every tutorial run (and `hyperlab fit`).
TUTORIAL_SGD = {"learning_rate": 0.01, "momentum": 0.9}
# What fit logs each epoch with validation data: what a callback can monitor, what is stored.
LOG_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
# Per-epoch series a run logs when its configuration asks for them (fit.diagnostics), kept
# beside the per-layer diagnostics '<name>/<layer>'.
DIAGNOSTIC_LOGS = ("sharpness",)
# The callbacks a configuration may name (fit.callbacks).
CALLBACKS = ("EarlyStopping", "ReduceLROnPlateau")


def batch_size(value: int | str, n_train: int) -> int:
    """The samples per update of a configured batch size: ``"full"`` (or more than the
    training set) is the whole training set."""
    return n_train if value == "full" else min(int(value), n_train)


def callback(name: str, args: dict[str, Any]) -> Callback:
    """The callback ``fit.callbacks.<name>`` configures (``name`` in ``CALLBACKS``)."""
    from hyperlab.engine import callbacks

    return getattr(callbacks, name)(**args)


def schedule(name: str, args: dict[str, Any]) -> LearningRateSchedule:
    """The learning-rate schedule ``name`` (a class name) with ``args``."""
    from hyperlab.engine import schedules

    return schedules.get({"class_name": name, "config": args})


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class ``name`` (Keras's names, any case: ``"sgd"``, ``"Adam"``)."""
    from hyperlab.engine import optimizers

    return type(optimizers.get(name))


def build_schedule(spec: dict[str, Any]) -> LearningRateSchedule:
    """The schedule ``fit.schedule`` configures: ``{"name": ..., **arguments}``."""
    return schedule(spec["name"], {k: v for k, v in spec.items() if k != "name"})


def split_schedule(sched: LearningRateSchedule | None
                   ) -> tuple[LearningRateSchedule | None, list[Callback]]:
    """How ``fit`` uses a schedule: ``(the optimizer's learning rate or None, callbacks)``:
    a per-step schedule is the learning rate, a per-epoch one runs through a
    LearningRateScheduler."""
    if sched is None or not sched.per_epoch:
        return sched, []
    from hyperlab.engine import callbacks

    return None, [callbacks.LearningRateScheduler(sched)]


def _fit_schedule(config: dict[str, Any]) -> tuple[LearningRateSchedule | None, list[Callback]]:
    """The configured schedule, split by ``split_schedule``."""
    spec = config["fit"].get("schedule")
    return split_schedule(None if spec is None else build_schedule(spec))


def build_optimizer(config: dict[str, Any]) -> Optimizer:
    """The optimizer; a per-step schedule becomes its learning rate."""
    spec = dict(config["compile"]["optimizer"])
    cls = optimizer_class(spec.pop("name"))
    learning_rate, _ = _fit_schedule(config)
    if learning_rate is not None:
        spec["learning_rate"] = learning_rate
    return cls(**spec)


def build_callbacks(config: dict[str, Any]) -> list[Callback]:
    """The callbacks; a per-epoch schedule runs through a LearningRateScheduler (first)."""
    _, scheduler = _fit_schedule(config)
    return scheduler + [callback(n, args) for n, args in config["fit"].get("callbacks", {}).items()]


def build_layers(config: dict[str, Any], input_shape: int | tuple[int, ...],
                 n_classes: int) -> list:
    """Input (flattened if it is an image), the hidden Dense layers and a softmax output.

    ``batch_norm = "after"``: BatchNormalization after the input and after each hidden
    layer; ``"before"``: after the input, and between each hidden Dense (without bias, as
    its shift would be cancelled) and its activation — the lecture's two placements.
    ``dropout``: Dropout after the input and after each hidden layer.
    """
    from hyperlab.engine import layers, regularizers

    model = config["model"]
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    bn, rate = model.get("batch_norm", "none"), model.get("dropout", 0.0)
    reg = model.get("kernel_regularizer")
    reg = regularizers.L1L2(**reg) if reg else None
    stack: list = [layers.Input(shape)] + ([layers.Flatten()] if len(shape) > 1 else [])

    def regularize() -> None:  # after the input and after each hidden layer
        if bn != "none":
            stack.append(layers.BatchNormalization())
        if rate:
            stack.append(layers.Dropout(rate))

    regularize()
    for units in model["hidden"]:
        if bn == "before":
            stack.append(layers.Dense(units, use_bias=False, kernel_initializer=model["initializer"],
                                      kernel_regularizer=reg))
            stack.append(layers.BatchNormalization())
            stack.append(layers.Activation(model["activation"]))
            if rate:
                stack.append(layers.Dropout(rate))
        else:
            stack.append(layers.Dense(units, model["activation"],
                                      kernel_initializer=model["initializer"],
                                      kernel_regularizer=reg))
            regularize()
    stack.append(layers.Dense(n_classes, "softmax", kernel_regularizer=reg))
    return stack
