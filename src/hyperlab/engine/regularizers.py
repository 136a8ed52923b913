"""Weight regularizers with Keras 3 names and penalties (L2 has no 1/2 factor), and
tf.keras's shortcuts ``l1``, ``l2`` (the classes) and ``l1_l2`` (a function)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from hyperlab._constraints import NON_NEGATIVE
from hyperlab.engine.fields import Declared, static

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "NAMES", "get"]


def _factor(default: float) -> Any:
    """A non-negative finite penalty factor, part of the program (``None`` means
    ``default``, as in Keras)."""
    return static(default, NON_NEGATIVE, prepare=lambda v: default if v is None else v,
                  convert=float)


class Regularizer(Declared):
    """Base class: ``reg(weights) -> scalar penalty`` added to the loss. Subclasses declare
    their factors as fields (``get_config``, ``from_config`` and ``repr`` follow)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError


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

    l1 = _factor(0.0)
    l2 = _factor(0.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        penalty = jnp.zeros((), x.dtype)
        if self.l1:
            penalty = penalty + _l1(self.l1, x)
        if self.l2:
            penalty = penalty + _l2(self.l2, x)
        return penalty


class L1(Regularizer):
    """``l1 * sum(|x|)``."""

    l1 = _factor(0.01)

    def __call__(self, x: jax.Array) -> jax.Array:
        return _l1(self.l1, jnp.asarray(x))


class L2(Regularizer):
    """``l2 * sum(x**2)`` (no 1/2 factor)."""

    l2 = _factor(0.01)

    def __call__(self, x: jax.Array) -> jax.Array:
        return _l2(self.l2, jnp.asarray(x))


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
