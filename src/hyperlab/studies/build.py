"""A resolved study configuration as the engine's objects: its schedule, optimizer,
callbacks and layers. (Configurations are validated and resolved by
:mod:`hyperlab.studies.spec`, which imports this module, and the engine with it, only when
it resolves one.)"""
from __future__ import annotations

from typing import Any

from hyperlab.engine import callbacks, layers, optimizers, regularizers, schedules

__all__ = ["CALLBACKS", "callback", "build_schedule", "build_optimizer", "build_callbacks",
           "build_layers"]

CALLBACKS = {"ReduceLROnPlateau": callbacks.ReduceLROnPlateau,
             "EarlyStopping": callbacks.EarlyStopping}


def callback(name: str, args: dict[str, Any]) -> callbacks.Callback:
    """The callback ``fit.callbacks.<name>`` configures."""
    return CALLBACKS[name](**args)


def build_schedule(spec: dict[str, Any]) -> schedules.LearningRateSchedule:
    """The schedule ``fit.schedule`` configures: ``{"name": ..., **arguments}``."""
    args = {k: v for k, v in spec.items() if k != "name"}
    return schedules.get({"class_name": spec["name"], "config": args})


def _fit_schedule(config: dict[str, Any]):
    """The configured schedule, or None."""
    spec = config["fit"].get("schedule")
    return None if spec is None else build_schedule(spec)


def build_optimizer(config: dict[str, Any]):
    """The optimizer; a per-step schedule becomes its learning rate."""
    spec = dict(config["compile"]["optimizer"])
    cls = type(optimizers.get(spec.pop("name")))
    schedule = _fit_schedule(config)
    if schedule is not None and not schedule.per_epoch:
        spec["learning_rate"] = schedule
    return cls(**spec)


def build_callbacks(config: dict[str, Any]) -> list:
    """The callbacks; a per-epoch schedule runs through a LearningRateScheduler."""
    cbs = [callback(n, args) for n, args in config["fit"].get("callbacks", {}).items()]
    schedule = _fit_schedule(config)
    if schedule is not None and schedule.per_epoch:
        cbs.insert(0, callbacks.LearningRateScheduler(schedule))
    return cbs


def build_layers(config: dict[str, Any], input_shape: int | tuple[int, ...],
                 n_classes: int) -> list:
    """Input (flattened if it is an image), the hidden Dense layers and a softmax output.

    ``batch_norm = "after"``: BatchNormalization after the input and after each hidden
    layer; ``"before"``: after the input, and between each hidden Dense (without bias, as
    its shift would be cancelled) and its activation — the lecture's two placements.
    ``dropout``: Dropout after the input and after each hidden layer.
    """
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
