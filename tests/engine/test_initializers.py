from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab.engine import initializers as I

KEY = jax.random.PRNGKey(0)
BIG = (400, 500)  # 200k samples: fan_in 400, fan_out 500


def _std_tolerance(n: int) -> float:
    # Relative standard error of a sample std is ~1/sqrt(2n); allow ~8 of them.
    return 8.0 / math.sqrt(2 * n)


# --- fans ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((3, 5), (3, 5)),
        ((3, 3, 4, 8), (36, 72)),
        ((2, 16, 32), (32, 64)),
    ],
)
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans


# --- shapes, dtypes, determinism ---------------------------------------------------------

ALL = list(I.NAMES)


@pytest.mark.parametrize("name", ALL)
def test_shape_and_dtype(name):
    out = I.get(name)(KEY, (3, 4))
    assert out.shape == (3, 4) and out.dtype == jnp.float32


@pytest.mark.parametrize(
    "name", ["zeros", "glorot_uniform", "he_normal", "variance_scaling", "random_normal"]
)
def test_other_float_dtype(name):
    out = I.get(name)(KEY, (3, 4), jnp.bfloat16)
    assert out.shape == (3, 4) and out.dtype == jnp.bfloat16


@pytest.mark.parametrize("name", ALL)
def test_deterministic_per_key(name):
    init = I.get(name)
    a = init(jax.random.PRNGKey(1), (3, 4))
    b = init(jax.random.PRNGKey(1), (3, 4))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    if name not in ("zeros", "ones", "constant"):
        c = init(jax.random.PRNGKey(2), (3, 4))
        assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_new_style_keys_and_jit():
    init = I.GlorotUniform()
    typed = init(jax.random.key(3), (3, 4))
    jitted = jax.jit(lambda k: init(k, (3, 4)))(jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(typed), np.asarray(jitted))
    batched = jax.vmap(lambda k: init(k, (3, 4)))(jax.random.split(KEY, 3))
    assert batched.shape == (3, 3, 4)


def test_seeded_initializer_ignores_key():
    init = I.HeNormal(seed=7)
    a = init(jax.random.PRNGKey(1), (3, 4))
    b = init(jax.random.PRNGKey(2), (3, 4))
    c = init(None, (3, 4))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    assert not np.array_equal(np.asarray(a), np.asarray(I.HeNormal(seed=8)(None, (3, 4))))


def test_unseeded_needs_key():
    with pytest.raises(ValueError, match="key"):
        I.GlorotUniform()(None, (2, 2))


# --- constant initializers ------------------------------------------------------------------


def test_constants():
    np.testing.assert_array_equal(np.asarray(I.Zeros()(KEY, (2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(np.asarray(I.Ones()(None, (2, 3))), np.ones((2, 3)))
    np.testing.assert_array_equal(np.asarray(I.Constant(0.25)(None, (4,))), np.full(4, 0.25))
    assert I.Zeros()(None, (3,), jnp.int32).dtype == jnp.int32


# --- distributions ----------------------------------------------------------------------------


def _uniform_case(init, limit, shape=BIG, key=KEY):
    x = np.asarray(init(key, shape), dtype=np.float64)
    assert x.min() >= -limit and x.max() < limit
    assert x.min() < -0.99 * limit and x.max() > 0.99 * limit
    n = x.size
    assert abs(x.mean()) < 8 * (limit / math.sqrt(3)) / math.sqrt(n)
    assert x.std() == pytest.approx(limit / math.sqrt(3), rel=_std_tolerance(n))


def _truncated_case(init, variance, shape=BIG, key=KEY):
    """Variance after truncation equals ``variance``; values lie within 2 pre-truncation stddev."""
    x = np.asarray(init(key, shape), dtype=np.float64)
    bound = 2 * math.sqrt(variance) / 0.87962566103423978
    assert np.abs(x).max() <= bound * (1 + 1e-6)
    assert np.abs(x).max() > 0.99 * bound
    assert abs(x.mean()) < 8 * math.sqrt(variance / x.size)
    assert x.std() == pytest.approx(math.sqrt(variance), rel=_std_tolerance(x.size))


@pytest.mark.parametrize(
    "init, limit",
    [
        (I.GlorotUniform(), math.sqrt(6 / (400 + 500))),
        (I.HeUniform(), math.sqrt(6 / 400)),
        (I.LecunUniform(), math.sqrt(3 / 400)),
        (I.VarianceScaling(2.5, "fan_out", "uniform"), math.sqrt(3 * 2.5 / 500)),
    ],
    ids=["glorot_uniform", "he_uniform", "lecun_uniform", "variance_scaling_uniform"],
)
def test_uniform_presets(init, limit):
    _uniform_case(init, limit)


@pytest.mark.parametrize(
    "init, variance",
    [
        (I.GlorotNormal(), 2 / (400 + 500)),
        (I.HeNormal(), 2 / 400),
        (I.LecunNormal(), 1 / 400),
        (I.VarianceScaling(), 1 / 400),
        (I.VarianceScaling(0.5, "fan_avg", "normal"), 0.5 / 450),
    ],
    ids=[
        "glorot_normal",
        "he_normal",
        "lecun_normal",
        "variance_scaling",
        "variance_scaling_normal_alias",
    ],
)
def test_truncated_presets(init, variance):
    _truncated_case(init, variance)


def test_untruncated_normal():
    x = np.asarray(
        I.VarianceScaling(2.0, "fan_in", "untruncated_normal")(KEY, BIG), dtype=np.float64
    )
    std = math.sqrt(2.0 / 400)
    assert x.std() == pytest.approx(std, rel=_std_tolerance(x.size))
    # Unlike the truncated form, values beyond 2 stddev occur (~4.6% of them).
    assert np.mean(np.abs(x) > 2 * std) == pytest.approx(0.0455, abs=0.005)


def test_conv_kernel_uses_receptive_field():
    shape = (3, 3, 32, 64)  # fan_in 288, fan_out 576
    _uniform_case(I.GlorotUniform(), math.sqrt(6 / (288 + 576)), shape)
    _truncated_case(I.HeNormal(), 2 / 288, shape)


def test_random_normal_uniform_truncated():
    x = np.asarray(I.RandomNormal()(KEY, BIG), dtype=np.float64)
    assert x.std() == pytest.approx(0.05, rel=_std_tolerance(x.size))
    assert abs(x.mean()) < 8 * 0.05 / math.sqrt(x.size)
    x = np.asarray(I.RandomNormal(mean=1.0, stddev=2.0)(KEY, BIG), dtype=np.float64)
    assert x.mean() == pytest.approx(1.0, abs=8 * 2 / math.sqrt(x.size))
    assert x.std() == pytest.approx(2.0, rel=_std_tolerance(x.size))

    x = np.asarray(I.RandomUniform()(KEY, BIG), dtype=np.float64)
    assert x.min() >= -0.05 and x.max() < 0.05
    x = np.asarray(I.RandomUniform(1.0, 3.0)(KEY, BIG), dtype=np.float64)
    assert x.min() >= 1.0 and x.max() < 3.0
    assert x.mean() == pytest.approx(2.0, abs=0.01)

    x = np.asarray(I.TruncatedNormal(mean=0.5, stddev=0.1)(KEY, BIG), dtype=np.float64)
    assert np.all(np.abs(x - 0.5) <= 0.2 * (1 + 1e-6))
    # A standard normal truncated at +-2 has stddev 0.8796.
    assert x.std() == pytest.approx(0.1 * 0.87962566103423978, rel=_std_tolerance(x.size))


# --- lookup and config ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("glorot_uniform", I.GlorotUniform),
        ("GlorotUniform", I.GlorotUniform),
        ("GLOROT_NORMAL", I.GlorotNormal),
        ("he_uniform", I.HeUniform),
        ("he_normal", I.HeNormal),
        ("HeNormal", I.HeNormal),
        ("lecun_uniform", I.LecunUniform),
        ("lecun_normal", I.LecunNormal),
        ("zeros", I.Zeros),
        ("ones", I.Ones),
        ("constant", I.Constant),
        ("random_normal", I.RandomNormal),
        ("random_uniform", I.RandomUniform),
        ("truncated_normal", I.TruncatedNormal),
        ("variance_scaling", I.VarianceScaling),
        ("uniform", I.RandomUniform),
        ("normal", I.RandomNormal),
    ],
)
def test_get_by_name(identifier, cls):
    assert type(I.get(identifier)) is cls


def test_get_instance_and_dict():
    init = I.HeUniform(seed=3)
    assert I.get(init) is init
    built = I.get(
        {
            "class_name": "VarianceScaling",
            "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"},
        }
    )
    assert (built.scale, built.mode, built.distribution) == (2.0, "fan_out", "uniform")
    assert I.get({"class_name": "Constant", "config": {"value": 3.0}}).value == 3.0


@pytest.mark.parametrize(
    "init",
    [
        I.Zeros(),
        I.Ones(),
        I.Constant(0.3),
        I.RandomNormal(0.1, 0.2, seed=1),
        I.RandomUniform(-1.0, 2.0),
        I.TruncatedNormal(stddev=0.3),
        I.VarianceScaling(3.0, "fan_avg", "uniform", seed=4),
        I.GlorotUniform(seed=2),
        I.GlorotNormal(),
        I.HeUniform(),
        I.HeNormal(),
        I.LecunUniform(),
        I.LecunNormal(),
    ],
    ids=repr,
)
def test_config_round_trip(init):
    clone = I.get({"class_name": type(init).__name__, "config": init.get_config()})
    assert type(clone) is type(init) and clone.get_config() == init.get_config()
    np.testing.assert_array_equal(np.asarray(clone(KEY, (3, 4))), np.asarray(init(KEY, (3, 4))))


def test_preset_configs_match_keras():
    assert I.GlorotUniform().get_config() == {"seed": None}
    assert I.VarianceScaling().get_config() == {
        "scale": 1.0,
        "mode": "fan_in",
        "distribution": "truncated_normal",
        "seed": None,
    }
    he = I.HeNormal()
    assert (he.scale, he.mode, he.distribution) == (2.0, "fan_in", "truncated_normal")
    glorot = I.GlorotUniform()
    assert (glorot.scale, glorot.mode, glorot.distribution) == (1.0, "fan_avg", "uniform")


def test_errors():
    with pytest.raises(ValueError, match="Valid names: glorot_uniform"):
        I.get("xavier")
    with pytest.raises(ValueError, match="Valid names"):
        I.get({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError, match="class_name"):
        I.get({"config": {}})
    with pytest.raises(ValueError, match="Constant"):
        I.get({"class_name": "Constant", "config": {"bogus": 1}})
    with pytest.raises(ValueError):
        I.get(3)
    with pytest.raises(ValueError, match="scale=0"):
        I.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match="scale=-1.0"):
        I.VarianceScaling(scale=-1.0)
    with pytest.raises(ValueError, match="mode.*fan_sum"):
        I.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution.*cauchy"):
        I.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="seed"):
        I.RandomNormal(seed="one")
    with pytest.raises(ValueError, match="minval"):
        I.RandomUniform(1.0, 1.0)
    with pytest.raises(ValueError, match="dtype"):
        I.GlorotUniform()(KEY, (2, 2), jnp.int32)
