"""Activation functions by Keras 3 name, as pure ``jax.numpy`` functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "softplus",
    "elu",
    "selu",
    "leaky_relu",
    "exponential",
    "silu",
    "swish",
    "gelu",
    "NAMES",
    "get",
    "serialize",
]

Activation = Callable[..., jax.Array]

# Keras documents these as alpha=1.67326324, scale=1.05070098 (equal in float32).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def linear(x: Any) -> jax.Array:
    """Identity: ``x``."""
    return jnp.asarray(x)


def relu(x: Any) -> jax.Array:
    """``max(x, 0)`` (derivative 0 at 0)."""
    return jax.nn.relu(x)


def sigmoid(x: Any) -> jax.Array:
    """``1 / (1 + exp(-x))``."""
    return jax.nn.sigmoid(x)


def tanh(x: Any) -> jax.Array:
    """``(exp(x) - exp(-x)) / (exp(x) + exp(-x))``."""
    return jnp.tanh(x)


def softmax(x: Any, axis: int = -1) -> jax.Array:
    """``exp(x) / sum(exp(x))`` along ``axis``, computed stably (max subtracted)."""
    return jax.nn.softmax(x, axis=axis)


def softplus(x: Any) -> jax.Array:
    """``log(exp(x) + 1)``, computed stably."""
    return jax.nn.softplus(x)


def elu(x: Any, alpha: float = 1.0) -> jax.Array:
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""
    return jax.nn.elu(x, alpha)


def selu(x: Any) -> jax.Array:
    """``scale * x`` for ``x >= 0``, ``scale * alpha * (exp(x) - 1)`` otherwise, with Keras's
    constants ``alpha ~ 1.67326324``, ``scale ~ 1.05070098`` (derivative ``scale`` at 0, as TF).
    """
    x = jnp.asarray(x)
    negative = jnp.asarray(SELU_ALPHA, x.dtype) * jnp.expm1(jnp.minimum(x, 0))
    return jnp.asarray(SELU_SCALE, x.dtype) * jnp.where(x >= 0, x, negative)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> jax.Array:
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (Keras 3 default slope 0.2;
    derivative ``negative_slope`` at 0, as TF).
    """
    x = jnp.asarray(x)
    return jnp.where(x > 0, x, jnp.asarray(negative_slope, x.dtype) * x)


def exponential(x: Any) -> jax.Array:
    """``exp(x)``."""
    return jnp.exp(x)


def silu(x: Any) -> jax.Array:
    """Swish / SiLU: ``x * sigmoid(x)``."""
    return jax.nn.silu(x)


swish = silu


def gelu(x: Any, approximate: bool = False) -> jax.Array:
    """``0.5 * x * (1 + erf(x / sqrt(2)))``; with ``approximate``, Keras's tanh approximation."""
    return jax.nn.gelu(x, approximate=approximate)


_BY_NAME: dict[str, Activation] = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "softplus": softplus,
    "elu": elu,
    "selu": selu,
    "leaky_relu": leaky_relu,
    "exponential": exponential,
    "silu": silu,
    "gelu": gelu,
}

NAMES: tuple[str, ...] = (*_BY_NAME, "swish")

_NAME_OF: dict[Activation, str] = {fn: name for name, fn in _BY_NAME.items()}


def get(identifier: str | Activation | None) -> Activation:
    """The activation for a Keras name (case-insensitive; ``None`` is ``linear``) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        name = identifier.lower()
        if name == "swish":
            return silu
        if name in _BY_NAME:
            return _BY_NAME[name]
        raise ValueError(f"Unknown activation {identifier!r}. Valid names: {', '.join(NAMES)}")
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret activation identifier {identifier!r}. Valid names: {', '.join(NAMES)}"
    )


def serialize(fn: Activation) -> str:
    """The Keras name of a built-in activation (``swish`` serializes as ``silu``, as in Keras 3)."""
    try:
        return _NAME_OF[fn]
    except (KeyError, TypeError):
        raise ValueError(
            f"{fn!r} is not a built-in activation; serializable ones: {', '.join(NAMES)}"
        ) from None
