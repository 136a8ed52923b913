"""Tests for hyperlab.engine.optimizers.numerics: float32 arithmetic that rounds as
Keras/TensorFlow does. Oracles: exact rational arithmetic (fractions.Fraction) and NumPy."""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hyperlab.engine.optimizers import numerics as N

F32 = np.float32


def _round_f32(x: Fraction) -> np.float32:
    """``x`` rounded to the nearest float32 (the float64 rounding's neighbours compared)."""
    candidate = F32(float(x))
    below, above = np.nextafter(candidate, F32(-np.inf)), np.nextafter(candidate, F32(np.inf))
    best = min((below, candidate, above), key=lambda c: (abs(Fraction(float(c)) - x)))
    return best


@pytest.mark.parametrize("x", [0.9, 0.95, 0.99, 0.999, 0.9999, 0.1, 0.0, 0.5])
def test_one_minus_rounds_the_float64_difference(x: float) -> None:
    hi = N.to_f32(x)
    lo = N.residuals({"x": x})["x"]
    assert N.one_minus(hi, lo) == F32(1.0 - x)  # Keras: 1 - x in float64, then float32


def test_one_minus_differs_from_the_float32_shortcut() -> None:
    x = 0.999
    shortcut = F32(1.0) - F32(x)
    exact = N.one_minus(N.to_f32(x), N.residuals({"x": x})["x"])
    assert exact == F32(1.0 - x) and exact != shortcut


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-3, 1e3, allow_nan=False))
def test_reciprocal_rounds_once(x: float) -> None:
    hi, lo = N.to_f32(x), N.residuals({"x": x})["x"]
    assert N.reciprocal(hi, lo) == F32(1.0 / x)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.5, 1.0, width=32, exclude_max=True), st.integers(0, 2000))
def test_power_is_correctly_rounded(base: float, n: int) -> None:
    exact = Fraction(float(F32(base))) ** n
    assume(exact > Fraction(1, 10**28))  # below, the low words underflow (see power)
    assert N.power(jnp.float32(base), jnp.int32(n)) == _round_f32(exact)


def test_power_under_jit_matches_op_by_op() -> None:
    bases, ns = jnp.float32([0.9, 0.999, 0.96]), jnp.int32([1, 25, 1000])
    jitted = jax.jit(jax.vmap(N.power))(bases, ns)
    np.testing.assert_array_equal(jitted, [N.power(b, n) for b, n in zip(bases, ns)])


def test_div_is_true_division_under_jit() -> None:
    x = jnp.float32([1.0, 3.0, 7.0, 10.0])
    y = jnp.float32(3.0)
    np.testing.assert_array_equal(jax.jit(N.div)(x, y), np.float32(x) / np.float32(3.0))


def test_residuals_only_of_floats() -> None:
    res = N.residuals({"a": 0.1, "n": 3, "s": {"x": 0.1}})
    assert set(res) == {"a"}
    assert float(res["a"]) == pytest.approx(0.1 - float(F32(0.1)))
