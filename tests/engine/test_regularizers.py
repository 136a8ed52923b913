from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab.engine import regularizers as R

W = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -0.25]], dtype=np.float32)
ABS, SQ = float(np.abs(W).sum()), float((W.astype(np.float64) ** 2).sum())


def test_closed_form():
    assert float(R.L1(0.1)(W)) == pytest.approx(0.1 * ABS, rel=1e-6)
    assert float(R.L2(0.1)(W)) == pytest.approx(0.1 * SQ, rel=1e-6)  # no 1/2
    assert float(R.L1L2(0.1, 0.2)(W)) == pytest.approx(0.1 * ABS + 0.2 * SQ, rel=1e-6)
    assert float(R.L1L2(l2=0.2)(W)) == pytest.approx(0.2 * SQ, rel=1e-6)
    assert float(R.L1L2()(W)) == 0.0


def test_keras_docstring_examples():
    assert float(R.L2(2.0)(jnp.ones((5, 5)))) == 50.0
    assert float(R.L1(0.01)(jnp.ones((5, 5)))) == pytest.approx(0.25)


def test_defaults():
    assert R.L1().l1 == 0.01 and R.L2().l2 == 0.01
    assert R.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.L2(None).l2 == 0.01 and R.L1L2(None, 0.1).l1 == 0.0


def test_output_scalar_dtype_and_jit_grad():
    reg = R.L1L2(0.1, 0.2)
    out = reg(jnp.asarray(W))
    assert out.shape == () and out.dtype == jnp.float32
    assert R.L2(0.5)(jnp.asarray(W, jnp.bfloat16)).dtype == jnp.bfloat16
    g = jax.jit(jax.grad(reg))(jnp.asarray(W))
    # np.sign(0) = 0: the L1 term has zero derivative at a zero weight, as TF's abs.
    np.testing.assert_allclose(np.asarray(g), 0.1 * np.sign(W) + 0.4 * W, rtol=1e-6)
    assert float(jax.jit(R.L2(0.3))(jnp.asarray(W))) == pytest.approx(0.3 * SQ, rel=1e-6)


def test_l1_gradient_is_zero_at_zero_weights():
    zeros = jnp.zeros((3,))
    np.testing.assert_array_equal(np.asarray(jax.grad(R.L1(0.5))(zeros)), 0.0)
    np.testing.assert_array_equal(np.asarray(jax.grad(R.L1L2(0.5, 0.5))(zeros)), 0.0)


def test_get():
    assert R.get(None) is None
    reg = R.L2(0.3)
    assert R.get(reg) is reg
    fn = lambda w: jnp.sum(w)  # noqa: E731
    assert R.get(fn) is fn
    assert R.get("l1").get_config() == {"l1": 0.01}
    assert R.get("l2").get_config() == {"l2": 0.01}
    assert R.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert R.get("L2").get_config() == {"l2": 0.01}
    assert R.get("L1L2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.get({"class_name": "L2", "config": {"l2": 0.05}}).l2 == 0.05
    assert R.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}).get_config() == {
        "l1": 0.1,
        "l2": 0.2,
    }


@pytest.mark.parametrize("reg", [R.L1(0.3), R.L2(0.02), R.L1L2(0.1, 0.2)], ids=repr)
def test_config_round_trip(reg):
    clone = type(reg).from_config(reg.get_config())
    assert clone.get_config() == reg.get_config()
    assert float(clone(W)) == float(reg(W))


def test_errors():
    with pytest.raises(ValueError, match="l2=-0.1"):
        R.L2(-0.1)
    with pytest.raises(ValueError, match="l1=-1"):
        R.L1(-1)
    with pytest.raises(ValueError, match="l1=-0.5"):
        R.L1L2(l1=-0.5)
    with pytest.raises(ValueError, match="l2=inf"):
        R.L1L2(l2=float("inf"))
    with pytest.raises(ValueError, match="l2='0.1'"):
        R.L2("0.1")
    with pytest.raises(ValueError, match="Valid names: l1, l2, l1_l2"):
        R.get("l3")
    with pytest.raises(ValueError, match="Valid class names"):
        R.get({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError, match="L2"):
        R.get({"class_name": "L2", "config": {"l1": 0.1}})
    with pytest.raises(ValueError):
        R.get(0.1)


def test_tf_keras_shortcuts():
    # tf.keras: l1 = L1, l2 = L2 (classes); l1_l2(l1=0.01, l2=0.01) a function.
    assert R.l1 is R.L1 and R.l2 is R.L2
    assert R.l1().get_config() == {"l1": 0.01} and R.l2().get_config() == {"l2": 0.01}
    assert R.l1_l2().get_config() == {"l1": 0.01, "l2": 0.01}
    # the lecture's l1_l2(0.01): both terms (tf.keras); L1L2(0.01): L1 alone (both Kerases)
    assert float(R.l1_l2(0.01)(W)) == pytest.approx(0.01 * ABS + 0.01 * SQ, rel=1e-6)
    assert float(R.L1L2(0.01)(W)) == pytest.approx(0.01 * ABS, rel=1e-6)
    assert float(R.l1_l2(l2=0.2)(W)) == pytest.approx(0.01 * ABS + 0.2 * SQ, rel=1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        R.l1_l2(-1.0)
