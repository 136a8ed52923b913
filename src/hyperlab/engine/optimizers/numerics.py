"""Float32 arithmetic that rounds as Keras 3 on TensorFlow does.

Bit-for-bit fidelity to Keras/TensorFlow needs three guards against float32 shortcuts:

* Keras evaluates ``1 - rho`` (RMSprop, Adadelta), ``1 - beta_1``/``1 - beta_2`` (Adam,
  Adamax) and ``1 / global_clipnorm`` on Python floats, i.e. in float64, then rounds to
  float32 (``1 - float32(0.999)`` is 1.3e-5 off). An optimizer state carries each
  hyperparameter's float32 rounding residual (``residuals``) so that ``one_minus`` and
  ``reciprocal`` round as in Keras. Build batched states by stacking ``init`` results so
  residuals match values; stale residuals degrade gracefully.
* XLA rewrites ``x / broadcast(y)`` into ``x * (1 / y)`` and ``x / sqrt(y)`` into
  ``x * rsqrt(y)``; ``div`` keeps true division.
* XLA's float32 ``pow`` is sometimes an ulp off TensorFlow's; ``power`` rounds correctly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["F32", "DoubleFloat", "to_f32", "div", "residuals", "one_minus", "reciprocal",
           "power"]

F32 = jnp.float32
DoubleFloat = tuple[jax.Array, jax.Array]  # hi + lo, two float32s


def to_f32(tree: Any) -> Any:
    """Every leaf of ``tree`` as a float32 array."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, F32), tree)


def div(x: Any, y: Any) -> jax.Array:
    """True IEEE ``x / y``: the barrier hides the divisor from XLA's reciprocal rewrites."""
    y = jnp.broadcast_to(y, jnp.broadcast_shapes(jnp.shape(x), jnp.shape(y)))
    return x / jax.lax.optimization_barrier(y)


def residuals(hp: dict[str, Any]) -> dict[str, jax.Array]:
    """``value - float32(value)`` of each top-level float, as float32 (see ``one_minus``)."""
    return {
        k: jnp.asarray(v - float(jnp.asarray(v, F32)), F32)
        for k, v in hp.items()
        if isinstance(v, float)
    }


def one_minus(hi: jax.Array, lo: jax.Array) -> jax.Array:
    """``1 - x`` rounded once to float32, for ``x = hi + lo`` (a float64 split in two float32).

    Keras computes ``1 - rho`` (etc.) on Python floats. ``s + err`` is exactly ``1 - hi``
    (Fast2Sum, valid as ``|hi| <= 1``).
    """
    s = 1.0 - hi
    err = (1.0 - s) - hi
    return s + (err - lo)


def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``x == hi + lo`` exactly, each with at most 12 significant bits (mask, no FMA risk)."""
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32) & jnp.uint32(0xFFFFF000)
    hi = jax.lax.bitcast_convert_type(bits, F32)
    return hi, x - hi


def ds_mul(x: DoubleFloat, y: DoubleFloat) -> DoubleFloat:
    """Product of two double-float32 numbers ``hi + lo`` (~48-bit precision)."""
    (xh, xl), (yh, yl) = x, y
    (ah, al), (bh, bl) = _split(xh), _split(yh)
    s, e1 = _two_sum(ah * bh, ah * bl)  # the four partial products are exact
    s, e2 = _two_sum(s, al * bh)
    tail = (e1 + e2 + al * bl) + (xh * yl + xl * yh)
    hi = s + tail
    return hi, tail - (hi - s)


def reciprocal(hi: jax.Array, lo: jax.Array) -> jax.Array:
    """``1 / x`` rounded once to float32, for ``x = hi + lo`` (one Newton step in double-float)."""
    r = div(1.0, hi)
    p, e = ds_mul((r, jnp.zeros_like(r)), (hi, lo))  # r * x == p + e, p within an ulp of 1
    return r - r * ((p - 1.0) + e)


def _pow_step(_: int, carry: tuple) -> tuple:
    """One step of binary exponentiation: ``r *= b`` if the low bit of ``n`` is set; ``b *= b``."""
    r, b, n = carry
    rb = ds_mul(r, b)
    r = tuple(jnp.where(n & 1 == 1, new, old) for new, old in zip(rb, r))
    return r, ds_mul(b, b), n >> 1


def power(base: jax.Array, n: jax.Array) -> jax.Array:
    """``base ** n`` for an integer ``n >= 0``, rounded correctly to float32.

    Keras's ``beta ** t`` came out correctly rounded from TensorFlow on every reference step,
    whereas XLA's ``pow`` is an ulp off now and then. Binary exponentiation in double-float32
    carries an error of about ``n * 2**-48``, so only results that close to a rounding
    midpoint can round differently -- and results below about 1e-28, where the products'
    low words fall below float32's normal range (XLA's CPU flushes them to zero): there
    it is an ulp off now and then (4 of 207 results between 1e-30 and 1e-29), harmless
    for Keras's ``1 - beta ** t``, which is 1 in float32 long before.
    """
    one, zero = jnp.ones((), F32), jnp.zeros((), F32)
    (hi, lo), _, _ = jax.lax.fori_loop(0, 31, _pow_step, ((one, zero), (base, zero), n))
    return hi + lo
