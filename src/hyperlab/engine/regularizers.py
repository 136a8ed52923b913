"""Weight regularizers with Keras 3 names and penalties (L2 has no 1/2 factor), and
tf.keras's shortcuts ``l1``, ``l2`` (the classes) and ``l1_l2`` (a function)."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "NAMES", "get"]


def _factor(name: str, value: Any, default: float) -> float:
    """A non-negative finite penalty factor (``None`` means ``default``, as in Keras)."""
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value!r}"
        )
    return float(value)


class Regularizer:
    """Base class: ``reg(weights) -> scalar penalty`` added to the loss."""

    def __call__(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def get_config(self) -> dict[str, float]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _l1(factor: float, x: jax.Array) -> jax.Array:
    # |x| as x * sign(x): equal values, but derivative sign(x) = 0 at 0 as TF's abs
    # (jnp.abs has derivative 1 there, which would move zero-initialized weights).
    return jnp.asarray(factor, x.dtype) * jnp.sum(x * jnp.sign(x))


def _l2(factor: float, x: jax.Array) -> jax.Array:
    return jnp.asarray(factor, x.dtype) * jnp.sum(jnp.square(x))


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)`` (a zero factor's term is omitted).

    Both factors default to 0, as in Keras: ``L1L2(0.01)`` is an L1 penalty alone. The
    string ``"l1_l2"`` and :func:`l1_l2` default both to 0.01.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("l1", l1, 0.0)
        self.l2 = _factor("l2", l2, 0.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        penalty = jnp.zeros((), x.dtype)
        if self.l1:
            penalty = penalty + _l1(self.l1, x)
        if self.l2:
            penalty = penalty + _l2(self.l2, x)
        return penalty

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``."""

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _factor("l1", l1, 0.01)

    def __call__(self, x: jax.Array) -> jax.Array:
        return _l1(self.l1, jnp.asarray(x))

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x**2)`` (no 1/2 factor)."""

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _factor("l2", l2, 0.01)

    def __call__(self, x: jax.Array) -> jax.Array:
        return _l2(self.l2, jnp.asarray(x))

    def get_config(self) -> dict[str, float]:
        return {"l2": self.l2}


# tf.keras's aliases: ``l1(0.01)`` is ``L1(0.01)``.
l1 = L1
l2 = L2


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """tf.keras's ``l1_l2``: an :class:`L1L2` whose factors default to 0.01 each, so
    ``l1_l2(0.01)`` has both terms. (Keras 3 makes ``l1_l2`` another name of ``L1L2``,
    whose factors default to 0, so there ``l1_l2(0.01)`` has no L2 term.)"""
    return L1L2(l1=l1, l2=l2)


_CLASSES: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2}

# Keras's documented string shortcuts; "l1_l2" means l1 = l2 = 0.01.
_NAMED: dict[str, Callable[[], Regularizer]] = {
    "l1": L1,
    "l2": L2,
    "l1_l2": l1_l2,
}

NAMES: tuple[str, ...] = tuple(_NAMED)


def get(
    identifier: str | dict[str, Any] | Regularizer | Callable | None
) -> Regularizer | Callable | None:
    """Resolve ``None`` (no regularizer), an instance or callable (returned as is), a name
    (``"l1"``, ``"l2"``, ``"l1_l2"``, or a class name with its defaults) or a
    ``{"class_name": ..., "config": ...}`` dict.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier in _NAMED:
            return _NAMED[identifier]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(
            f"Unknown regularizer {identifier!r}. Valid names: {', '.join(NAMES + tuple(_CLASSES))}"
        )
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in _CLASSES:
            raise ValueError(
                f"Unknown regularizer class_name {name!r} in {identifier!r}. "
                f"Valid class names: {', '.join(_CLASSES)}"
            )
        try:
            return _CLASSES[name].from_config(dict(identifier.get("config") or {}))
        except TypeError as err:
            raise ValueError(f"Invalid config for {name}: {err}") from None
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
