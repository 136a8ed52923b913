"""Learning-rate schedules with Keras 3 names, arguments and float32 arithmetic.

Every schedule separates its numbers from its structure so that one compiled
program serves many settings:

- ``hyperparams()`` returns every numeric argument as floats; these become
  traced JAX inputs (and can be stacked and ``vmap``-ed over);
- ``static_config()`` is a hashable key of what changes the program's shape
  (class, ``staircase``, ``cycle``, number of boundaries, warmup on/off);
- ``evaluate(step, hparams)`` is pure: it reads numbers only from ``hparams``.

``__call__(step)`` evaluates with the schedule's own hyperparameters. The
arithmetic follows Keras's operation order in float32.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from hyperlab._constraints import (FINITE, NON_NEGATIVE, POSITIVE, UNIT, Items,
                                         Optional)
from hyperlab.engine.fields import REQUIRED, Declared, static, value

__all__ = [
    "LearningRateSchedule",
    "InverseTimeDecay",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "PowerDecay",
    "StepDecay",
    "NAMES",
    "get",
]

_F32 = jnp.float32

Hyperparams = dict[str, Any]


def _f32(value: Any) -> jax.Array:
    return jnp.asarray(value, dtype=_F32)


class LearningRateSchedule(Declared):
    """Base class: a pure function of the optimizer step and traced hyperparameters.

    Subclasses declare their arguments as fields (``value`` for numbers, ``static`` for
    structure), which give the constructor, its checks, ``hyperparams()``,
    ``static_config()``, ``get_config()`` and ``repr``; they write ``evaluate``.
    """

    per_epoch: ClassVar[bool] = False

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        """The learning rate at ``step`` as a float32 scalar, from ``hparams`` only."""
        raise NotImplementedError

    def __call__(self, step: Any) -> jax.Array:
        return self.evaluate(step, self.hyperparams())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        # Keras configs carry a `name`, which has no effect here.
        return _construct(cls, {k: v for k, v in config.items() if k != "name"})


class _DecayStepsSchedule(LearningRateSchedule):
    """Shared arguments of InverseTimeDecay and ExponentialDecay."""

    initial_learning_rate = value(REQUIRED, NON_NEGATIVE)
    decay_steps = value(REQUIRED, POSITIVE)
    decay_rate = value(REQUIRED, NON_NEGATIVE)
    staircase = static(False, convert=bool)

    def _progress(self, step: Any, hparams: Hyperparams) -> jax.Array:
        p = _f32(step) / _f32(hparams["decay_steps"])
        return jnp.floor(p) if self.staircase else p


class InverseTimeDecay(_DecayStepsSchedule):
    """Time-based decay: ``lr0 / (1 + decay_rate * p)`` with ``p = step / decay_steps``.

    With ``staircase=True``, ``p = floor(step / decay_steps)``. Keras 2's legacy
    ``decay`` argument is ``InverseTimeDecay(lr, 1, decay)``.
    """

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        p = self._progress(step, hparams)
        denom = _f32(1.0) + _f32(hparams["decay_rate"]) * p
        return _f32(hparams["initial_learning_rate"]) / denom


class ExponentialDecay(_DecayStepsSchedule):
    """``lr0 * decay_rate ** p`` with ``p = step / decay_steps`` (floored if ``staircase``)."""

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        p = self._progress(step, hparams)
        return _f32(hparams["initial_learning_rate"]) * jnp.power(_f32(hparams["decay_rate"]), p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` for ``step <= boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` for ``step > boundaries[-1]``.
    """

    boundaries = value(REQUIRED, Items(FINITE, min_len=1, increasing=True), prepare=list)
    values = value(REQUIRED, Items(NON_NEGATIVE, min_len=2), prepare=list)

    def _validate(self) -> None:
        if len(self.boundaries) != len(self.values) - 1:
            raise ValueError(
                "PiecewiseConstantDecay: the length of `boundaries` must be 1 less than the "
                f"length of `values`. Received: boundaries={self.boundaries} of length "
                f"{len(self.boundaries)}, values={self.values} of length {len(self.values)}"
            )

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        boundaries = _f32(hparams["boundaries"])
        values = _f32(hparams["values"])
        # Boundaries increase, so the interval index is the count of boundaries passed.
        index = jnp.sum(_f32(step) > boundaries)
        return values[index]


class PolynomialDecay(LearningRateSchedule):
    """``(lr0 - end) * (1 - s / d) ** power + end`` with ``s = min(step, d)``, ``d = decay_steps``.

    With ``cycle=True``, ``s = step`` and ``d = decay_steps * ceil(step / decay_steps)``
    (``d = decay_steps`` at step 0).
    """

    initial_learning_rate = value(REQUIRED, NON_NEGATIVE)
    decay_steps = value(REQUIRED, POSITIVE)
    end_learning_rate = value(0.0001, NON_NEGATIVE)
    power = value(1.0, NON_NEGATIVE)
    cycle = static(False, convert=bool)

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        lr0 = _f32(hparams["initial_learning_rate"])
        end = _f32(hparams["end_learning_rate"])
        decay_steps = _f32(hparams["decay_steps"])
        step = _f32(step)
        if self.cycle:
            multiplier = jnp.where(step == 0, _f32(1.0), jnp.ceil(step / decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            step = jnp.minimum(step, decay_steps)
        p = step / decay_steps
        return (lr0 - end) * jnp.power(_f32(1.0) - p, _f32(hparams["power"])) + end


def _cosine(fraction: jax.Array, alpha: jax.Array) -> jax.Array:
    """``(1 - alpha) * 0.5 * (1 + cos(pi * fraction)) + alpha``."""
    cosine_decayed = _f32(0.5) * (_f32(1.0) + jnp.cos(_f32(math.pi) * fraction))
    return (_f32(1.0) - alpha) * cosine_decayed + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup.

    Without ``warmup_target``:
    ``lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``
    with ``s = min(step, decay_steps)``. With ``warmup_target``, ``s = min(step, warmup_steps +
    decay_steps)``; for ``s < warmup_steps`` the rate is ``(warmup_target - lr0) * s / warmup_steps
    + lr0``, afterwards the cosine decay from ``warmup_target`` at ``s - warmup_steps``.
    """

    initial_learning_rate = value(REQUIRED, NON_NEGATIVE)
    decay_steps = value(REQUIRED, POSITIVE)
    alpha = value(0.0, UNIT)
    warmup_target = value(None, Optional(NON_NEGATIVE))
    warmup_steps = value(0, NON_NEGATIVE)

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        lr0 = _f32(hparams["initial_learning_rate"])
        decay_steps = _f32(hparams["decay_steps"])
        alpha = _f32(hparams["alpha"])
        step = _f32(step)
        if self.warmup_target is None:
            step = jnp.minimum(step, decay_steps)
            return lr0 * _cosine(step / decay_steps, alpha)
        target = _f32(hparams["warmup_target"])
        warmup_steps = _f32(hparams["warmup_steps"])
        step = jnp.minimum(step, decay_steps + warmup_steps)
        # The warmup branch is discarded when warmup_steps == 0; avoid dividing by it.
        safe_warmup = jnp.where(warmup_steps > 0, warmup_steps, _f32(1.0))
        warm = (target - lr0) * (step / safe_warmup) + lr0
        decayed = target * _cosine((step - warmup_steps) / decay_steps, alpha)
        return jnp.where(step < warmup_steps, warm, decayed)


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR: cosine decay with warm restarts.

    With ``f = step / first_decay_steps``: for ``t_mul == 1``, ``i = floor(f)`` and ``c = f - i``;
    otherwise ``i = floor(log(1 - f * (1 - t_mul)) / log(t_mul))`` and
    ``c = (f - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i``. The rate is
    ``lr0 * ((1 - alpha) * 0.5 * m_mul**i * (1 + cos(pi * c)) + alpha)``.
    """

    initial_learning_rate = value(REQUIRED, NON_NEGATIVE)
    first_decay_steps = value(REQUIRED, POSITIVE)
    t_mul = value(2.0, POSITIVE)
    m_mul = value(1.0, NON_NEGATIVE)
    alpha = value(0.0, UNIT)

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        lr0 = _f32(hparams["initial_learning_rate"])
        alpha = _f32(hparams["alpha"])
        t_mul = _f32(hparams["t_mul"])
        m_mul = _f32(hparams["m_mul"])
        fraction = _f32(step) / _f32(hparams["first_decay_steps"])

        one = _f32(1.0)
        # Periods of equal length.
        i_equal = jnp.floor(fraction)
        c_equal = fraction - i_equal
        # Geometrically growing periods; t_mul == 1 would divide by zero, so substitute.
        t_geo = jnp.where(t_mul == one, _f32(2.0), t_mul)
        i_geo = jnp.floor(jnp.log(one - fraction * (one - t_geo)) / jnp.log(t_geo))
        sum_r = (one - jnp.power(t_geo, i_geo)) / (one - t_geo)
        c_geo = (fraction - sum_r) / jnp.power(t_geo, i_geo)

        equal = t_mul == one
        i_restart = jnp.where(equal, i_equal, i_geo)
        completed = jnp.where(equal, c_equal, c_geo)

        m_fac = jnp.power(m_mul, i_restart)
        cosine_decayed = _f32(0.5) * m_fac * (one + jnp.cos(_f32(math.pi) * completed))
        return lr0 * ((one - alpha) * cosine_decayed + alpha)


class PowerDecay(LearningRateSchedule):
    """Power scheduling: ``lr0 / (1 + step / decay_steps) ** power``.

    The lecture's ``eta0 / (1 + t / s) ** c`` with ``s = decay_steps``, ``c = power``.
    """

    initial_learning_rate = value(REQUIRED, NON_NEGATIVE)
    decay_steps = value(REQUIRED, POSITIVE)
    power = value(1.0, NON_NEGATIVE)

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        base = _f32(1.0) + _f32(step) / _f32(hparams["decay_steps"])
        return _f32(hparams["initial_learning_rate"]) / jnp.power(base, _f32(hparams["power"]))


class StepDecay(LearningRateSchedule):
    """Epoch-based drop: ``lr0 * drop ** floor((1 + epoch) / epochs_drop)``.

    A function of the EPOCH index (0-based), not of the optimizer step: use it with
    ``LearningRateScheduler``, which passes the epoch; ``evaluate``'s ``step`` is that epoch.
    """

    per_epoch: ClassVar[bool] = True
    initial_learning_rate = value(REQUIRED, NON_NEGATIVE)
    drop = value(0.5, POSITIVE)
    epochs_drop = value(10.0, POSITIVE)

    def evaluate(self, step: Any, hparams: Hyperparams) -> jax.Array:
        drops = jnp.floor((_f32(1.0) + _f32(step)) / _f32(hparams["epochs_drop"]))
        return _f32(hparams["initial_learning_rate"]) * jnp.power(_f32(hparams["drop"]), drops)


_SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls
    for cls in (
        InverseTimeDecay,
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        CosineDecay,
        CosineDecayRestarts,
        PowerDecay,
        StepDecay,
    )
}

NAMES: tuple[str, ...] = tuple(_SCHEDULES)


def get(
    identifier: str | dict[str, Any] | LearningRateSchedule, **kwargs: Any
) -> LearningRateSchedule:
    """Resolve a schedule: an instance (returned as is), a ``{"class_name": ..., "config": ...}``
    dict, or a class name with its constructor arguments as keywords.
    """
    if isinstance(identifier, LearningRateSchedule) and not kwargs:
        return identifier
    if isinstance(identifier, dict) and not kwargs:
        if "class_name" not in identifier:
            raise ValueError(
                f"A schedule config dict needs a 'class_name' key. Received: {identifier!r}"
            )
        return _lookup(identifier["class_name"]).from_config(dict(identifier.get("config", {})))
    if isinstance(identifier, str):
        return _construct(_lookup(identifier), kwargs)
    raise ValueError(
        f"Could not interpret schedule identifier {identifier!r}"
        + (f" with arguments {kwargs}" if kwargs else "")
    )


def _construct(cls: type[LearningRateSchedule], kwargs: dict[str, Any]) -> LearningRateSchedule:
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as err:
        raise ValueError(f"Invalid arguments for {cls.__name__}: {err}") from None
    return cls(**kwargs)


def _lookup(name: Any) -> type[LearningRateSchedule]:
    if name not in _SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}. Valid names: {', '.join(NAMES)}")
    return _SCHEDULES[name]
