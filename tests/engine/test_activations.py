from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab.engine import activations as A

X = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.5], dtype=np.float32)


def _erf(v):
    return np.array([math.erf(t) for t in v])


REFERENCES = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.log(np.exp(x) + 1),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: 1.05070098 * np.where(x > 0, x, 1.67326324 * (np.exp(x) - 1)),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "exponential": np.exp,
    "silu": lambda x: x / (1 + np.exp(-x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_closed_form(name):
    got = np.asarray(A.get(name)(jnp.asarray(X)), dtype=np.float64)
    np.testing.assert_allclose(got, REFERENCES[name](X.astype(np.float64)), rtol=2e-6, atol=1e-7)


def test_parameters():
    x = jnp.asarray(X)
    np.testing.assert_allclose(
        A.elu(x, alpha=0.5), np.where(X > 0, X, 0.5 * (np.exp(X) - 1)), rtol=1e-6
    )
    np.testing.assert_allclose(
        A.leaky_relu(x, negative_slope=0.01), np.where(X >= 0, X, 0.01 * X), rtol=1e-6
    )
    approx = 0.5 * X * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3)))
    np.testing.assert_allclose(A.gelu(x, approximate=True), approx, rtol=1e-5, atol=1e-7)
    # Keras 3's gelu is exact by default (jax.nn.gelu's own default is the approximation).
    assert not np.allclose(np.asarray(A.gelu(x)), approx, rtol=1e-6, atol=0)


def test_selu_constants_are_keras():
    assert np.float32(A.SELU_ALPHA) == np.float32(1.67326324)
    assert np.float32(A.SELU_SCALE) == np.float32(1.05070098)
    assert float(A.selu(jnp.float32(-50.0))) == pytest.approx(-1.67326324 * 1.05070098, rel=1e-6)


@pytest.mark.parametrize("name", [n for n in A.NAMES if n != "softmax"])
def test_derivative_matches_finite_difference(name):
    fn = A.get(name)
    points = np.array([-2.0, -0.5, 0.3, 1.7], dtype=np.float32)  # away from relu kinks
    h = np.float32(1e-3)
    # Central difference in float32: error O(h^2) plus rounding ~1e-4.
    fd = (
        np.asarray(fn(jnp.asarray(points + h)), np.float64)
        - np.asarray(fn(jnp.asarray(points - h)), np.float64)
    ) / (2 * 1e-3)
    grad = np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(points)))
    np.testing.assert_allclose(grad, fd, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("point, slope", [(-1.5, 0.0), (0.7, 1.0), (0.0, 0.0)])
def test_relu_derivative(point, slope):
    assert float(jax.grad(A.relu)(jnp.float32(point))) == slope


@pytest.mark.parametrize("point, slope", [(-1.5, 0.2), (0.7, 1.0), (0.0, 0.2)])
def test_leaky_relu_derivative(point, slope):
    assert float(jax.grad(A.leaky_relu)(jnp.float32(point))) == pytest.approx(slope)


@pytest.mark.parametrize(
    "name, slope", [("relu", 0.0), ("leaky_relu", 0.2), ("elu", 1.0), ("selu", 1.05070098)]
)
def test_derivative_at_zero_is_tensorflows(name, slope):
    assert float(jax.grad(A.get(name))(jnp.float32(0.0))) == pytest.approx(slope, rel=1e-6)


def test_softmax():
    logits = jnp.asarray([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-5.0, 10.0, 2.0]])
    p = np.asarray(A.softmax(logits))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-6)
    e = np.exp(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    # Large inputs: no overflow.
    big = np.asarray(A.softmax(jnp.asarray([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]])))
    assert np.all(np.isfinite(big))
    np.testing.assert_allclose(big[0], e / e.sum(), rtol=1e-5)
    np.testing.assert_allclose(big[1], [0.0, 0.0, 1.0], atol=1e-7)
    # Axis argument.
    cols = np.asarray(A.softmax(logits, axis=0))
    np.testing.assert_allclose(cols.sum(axis=0), 1.0, rtol=1e-6)


def test_softmax_jacobian_rows_sum_to_zero():
    jac = jax.jacobian(A.softmax)(jnp.asarray([0.1, -0.4, 2.0]))
    np.testing.assert_allclose(np.asarray(jac).sum(axis=0), 0.0, atol=1e-6)


def test_stable_at_extremes():
    x = jnp.asarray([-1e4, 1e4], dtype=jnp.float32)
    for name in ("sigmoid", "tanh", "softplus", "elu", "selu", "silu", "gelu"):
        assert np.all(np.isfinite(np.asarray(A.get(name)(x)))), name
        g = jax.grad(lambda v: A.get(name)(v).sum())(x)
        assert np.all(np.isfinite(np.asarray(g))), name
    np.testing.assert_allclose(np.asarray(A.softplus(x)), [0.0, 1e4])


def test_get_and_serialize():
    for name in A.NAMES:
        fn = A.get(name)
        assert callable(fn)
        assert A.serialize(fn) == ("silu" if name == "swish" else name)
    assert A.get("ReLU") is A.relu
    assert A.get(None) is A.linear
    custom = lambda x: x * 2  # noqa: E731
    assert A.get(custom) is custom
    assert A.swish is A.silu


def test_errors():
    with pytest.raises(ValueError, match="Valid names: linear, relu"):
        A.get("mish")
    with pytest.raises(ValueError, match="Valid names"):
        A.get(3)
    with pytest.raises(ValueError, match="not a built-in"):
        A.serialize(lambda x: x)
