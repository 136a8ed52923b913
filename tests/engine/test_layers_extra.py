"""LeakyReLU, PReLU, ELU and AlphaDropout: Keras 3 formulas, arguments, training vs inference,
(de)serialization, and a model using each that trains and survives save/load."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hyperlab as hl
from hyperlab.engine.model import clear_session

L = hl.layers
ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def _call(layer, x, params=None, *, training=False, rng=None, shape=None):
    layer.build(shape or x.shape[1:])
    if params is None:
        params, _ = layer.init(jax.random.PRNGKey(0))
    y, _ = layer.call(params, {}, jnp.asarray(x), training=training, rng=rng)
    return np.asarray(y)


X = np.array([[-3.0, -1.0, -0.25, 0.0, 0.5, 2.0]], np.float32)


# -- LeakyReLU -----------------------------------------------------------------------------
def test_leaky_relu_keras3_default_slope_and_formula():
    layer = L.LeakyReLU()
    assert layer.negative_slope == 0.3 and layer.kind == "leaky_re_lu"
    np.testing.assert_array_equal(_call(layer, X), np.where(X > 0, X, np.float32(0.3) * X))
    np.testing.assert_array_equal(_call(L.LeakyReLU(0.5), X), np.where(X > 0, X, 0.5 * X))
    assert layer.activation == "linear" and layer.weight_order == ()


def test_leaky_relu_accepts_keras2_alpha_but_not_both():
    assert L.LeakyReLU(alpha=0.1).negative_slope == 0.1
    assert L.LeakyReLU(alpha=0.1).get_config()["negative_slope"] == 0.1
    with pytest.raises(ValueError, match="not both"):
        L.LeakyReLU(negative_slope=0.2, alpha=0.1)
    with pytest.raises(ValueError, match="not both"):
        L.LeakyReLU(0.3, alpha=0.1)  # an explicit value equal to the default still counts
    with pytest.raises(ValueError, match="negative_slope"):
        L.LeakyReLU(-0.1)
    with pytest.raises(ValueError, match="alpha"):
        L.LeakyReLU(alpha=float("nan"))
    with pytest.raises(ValueError, match="unknown argument"):
        L.LeakyReLU(slope=0.1)


# -- ELU -----------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_formula(alpha):
    expected = np.where(X > 0, X, alpha * np.expm1(X.astype(np.float64)))
    np.testing.assert_allclose(_call(L.ELU(alpha), X), expected, rtol=1e-6, atol=1e-7)
    assert L.ELU().alpha == 1.0 and L.ELU().kind == "elu"
    with pytest.raises(ValueError, match="alpha"):
        L.ELU("big")


# -- PReLU ---------------------------------------------------------------------------------
def test_prelu_formula_and_default_zero_slopes():
    layer = L.PReLU()
    assert layer.kind == "p_re_lu" and layer.weight_order == ("alpha",)
    np.testing.assert_array_equal(_call(layer, X), np.maximum(X, 0))  # alpha starts at 0
    alpha = np.linspace(-0.5, 1.5, X.shape[1]).astype(np.float32)
    y = _call(L.PReLU(), X, {"alpha": jnp.asarray(alpha)})
    np.testing.assert_allclose(y, np.where(X >= 0, X, alpha * X), rtol=1e-7)


def test_prelu_shared_axes_and_parameter_shape():
    layer = L.PReLU(alpha_initializer=hl.initializers.Constant(0.25), shared_axes=[1, 2])
    layer.build((3, 4, 5))
    params, _ = layer.init(jax.random.PRNGKey(0))
    assert params["alpha"].shape == (1, 1, 5)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    y, _ = layer.call(params, {}, x, training=False, rng=None)
    np.testing.assert_allclose(y, np.where(x >= 0, x, 0.25 * x), rtol=1e-7)
    assert L.PReLU(shared_axes=2).shared_axes == (2,)
    with pytest.raises(ValueError, match="shared_axes"):
        L.PReLU(shared_axes=[0])
    with pytest.raises(ValueError, match="shared_axes"):
        L.PReLU(shared_axes=[3]).build((4, 5))
    model = hl.Sequential([L.Input((4, 5)), L.PReLU(shared_axes=[1]), L.Flatten(), L.Dense(1)])
    assert model.count_params() == 5 + 21


def test_prelu_alpha_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 6)).astype(np.float32)
    w = rng.normal(size=(16, 6)).astype(np.float32)
    layer = L.PReLU()
    layer.build((6,))

    def loss(alpha):
        y, _ = layer.call({"alpha": alpha}, {}, x, training=True, rng=None)
        return jnp.sum(w * y)

    alpha = rng.uniform(0.0, 0.5, size=6).astype(np.float32)
    grad = np.asarray(jax.grad(loss)(jnp.asarray(alpha)))
    np.testing.assert_allclose(grad, np.sum(w * np.minimum(x, 0), axis=0), rtol=1e-5, atol=1e-6)
    loss64 = lambda a: float(np.sum(w.astype(np.float64) * np.where(x >= 0, x, a * x)))  # noqa: E731
    eps = 1e-3
    fd = [(loss64(alpha + eps * e) - loss64(alpha - eps * e)) / (2 * eps) for e in np.eye(6)]
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)


def test_prelu_regularizer_penalty():
    layer = L.PReLU(alpha_regularizer=hl.regularizers.L2(0.1))
    layer.build((3,))
    alpha = jnp.asarray([1.0, -2.0, 0.5])
    np.testing.assert_allclose(layer.penalty({"alpha": alpha}), 0.1 * (1 + 4 + 0.25), rtol=1e-6)
    assert float(L.PReLU().penalty({"alpha": alpha})) == 0.0


# -- AlphaDropout --------------------------------------------------------------------------
def test_alpha_dropout_inference_is_identity_and_training_formula():
    rate = 0.2
    layer = L.AlphaDropout(rate)
    assert layer.needs_rng and layer.kind == "alpha_dropout"
    x = np.random.default_rng(2).normal(size=(64, 10)).astype(np.float32)
    np.testing.assert_array_equal(_call(layer, x), x)
    np.testing.assert_array_equal(_call(layer, x, training=True, rng=None), x)
    key = jax.random.PRNGKey(7)
    y = _call(layer, x, training=True, rng=key)
    kept = np.asarray(jax.random.uniform(key, x.shape)) >= rate
    a = ((1 - rate) * (1 + rate * ALPHA_P**2)) ** -0.5
    b = -a * ALPHA_P * rate
    expected = a * np.where(kept, x.astype(np.float64), ALPHA_P) + b
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    assert 0.1 < np.mean(~kept) < 0.3
    np.testing.assert_allclose(y[~kept], np.float32(a * ALPHA_P + b), rtol=1e-6)
    assert not np.array_equal(y, _call(layer, x, training=True, rng=jax.random.PRNGKey(8)))
    np.testing.assert_array_equal(_call(L.AlphaDropout(0.0), x, training=True, rng=key), x)


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_mean_and_variance_of_selu_normalized_inputs(rate):
    n = 2_000_000
    rng = np.random.default_rng(3)
    # standard normal inputs, and SELU outputs of them (self-normalized: mean ~0, var ~1)
    for x in (rng.standard_normal(n), np.asarray(hl.activations.selu(rng.standard_normal(n)))):
        x = x.astype(np.float32).reshape(-1, 100)
        y = _call(L.AlphaDropout(rate), x, training=True, rng=jax.random.PRNGKey(11))
        # the affine correction maps mean 0 / variance 1 to mean 0 / variance 1 exactly;
        # sampling error at n = 2e6 is ~1e-3
        assert abs(y.mean() - x.mean()) < 6e-3
        assert abs(y.var() - x.var()) < 1e-2
        assert abs(x.mean()) < 0.02 and abs(x.var() - 1) < 0.03


def test_alpha_dropout_noise_shape_shares_the_mask():
    layer = L.AlphaDropout(0.5, noise_shape=(None, 1, 3))
    x = np.ones((8, 5, 3), np.float32)
    y = _call(layer, x, training=True, rng=jax.random.PRNGKey(0))
    assert np.all(y == y[:, :1, :])  # the same mask along axis 1
    assert len(np.unique(y)) == 2
    with pytest.raises(ValueError, match="noise_shape"):
        L.AlphaDropout(0.5, noise_shape=(None, 2, 3)).build((5, 3))
    with pytest.raises(ValueError, match="noise_shape"):
        L.AlphaDropout(0.5, noise_shape=(None, 3)).build((5, 3))
    with pytest.raises(ValueError, match="noise_shape"):
        L.AlphaDropout(0.5, noise_shape=(None, 0))


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, "0.1", True])
def test_alpha_dropout_rate_must_be_in_unit_interval(rate):
    with pytest.raises(ValueError, match="rate"):
        L.AlphaDropout(rate)


# -- serialization -------------------------------------------------------------------------
LAYERS = [L.LeakyReLU(0.1, name="lr"), L.LeakyReLU(alpha=0.2),
          L.PReLU(alpha_initializer=hl.initializers.RandomNormal(0.1, 0.02, seed=3),
                  alpha_regularizer=hl.regularizers.L1L2(l1=0.01, l2=0.02), shared_axes=[1]),
          L.ELU(0.7), L.AlphaDropout(0.1, noise_shape=[None, 4], seed=5),
          L.Dense(3, "tanh", kernel_initializer="he_normal", bias_regularizer="l2"),
          L.Dropout(0.3, seed=2), L.BatchNormalization(momentum=0.9, center=False),
          L.Activation("selu"), L.Flatten(trainable=False)]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda l: type(l).__name__)
def test_layers_round_trip_through_their_config(layer):
    config = L.serialize(layer)
    rebuilt = L.deserialize(config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()
    shape = (4,)
    assert rebuilt.build(shape) == layer.build(shape)
    assert rebuilt.static_config() == layer.static_config()


def test_deserialize_rejects_unknown_classes_and_arguments():
    with pytest.raises(ValueError, match="unknown layer class 'Conv2D'"):
        L.deserialize({"class_name": "Conv2D", "config": {}})
    with pytest.raises(ValueError, match="class_name"):
        L.deserialize({"config": {}})
    with pytest.raises(ValueError, match="ELU"):
        L.deserialize({"class_name": "ELU", "config": {"alpha": 1.0, "beta": 2}})


def test_static_config_separates_values():
    assert L.LeakyReLU(0.1).static_config() != L.LeakyReLU(0.2).static_config()
    assert L.ELU(0.1).static_config() != L.ELU(0.2).static_config()
    assert L.AlphaDropout(0.1).static_config() != L.AlphaDropout(0.2).static_config()


# -- in a model ----------------------------------------------------------------------------
def _model(seed=0):
    model = hl.Sequential([
        L.Input((2,)),
        L.Dense(16, kernel_initializer="lecun_normal"), L.PReLU(alpha_initializer="ones"),
        L.Dense(16), L.LeakyReLU(),
        L.Dense(16), L.ELU(0.8),
        L.Dense(16, "selu", kernel_initializer="lecun_normal"), L.AlphaDropout(0.1),
        L.Dense(3, "softmax")], seed=seed)
    model.compile(hl.optimizers.Adam(0.01), "categorical_crossentropy", ["accuracy"])
    return model


def test_a_model_with_each_layer_trains_and_survives_save_and_load(tmp_path):
    (x, y), (vx, vy) = hl.datasets.blobs()
    y, vy = hl.datasets.to_categorical(y), hl.datasets.to_categorical(vy)
    clear_session()  # Keras's automatic names start again
    model = _model()
    names = [layer.name for layer in model.layers]
    assert names[1:8:2] == ["p_re_lu", "leaky_re_lu", "elu", "alpha_dropout"]
    alpha0 = np.asarray(model.params[1]["alpha"])
    history = model.fit(x, y, epochs=6, batch_size=32, seed=1, verbose=0,
                        validation_data=(vx, vy))
    loss = history.history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    assert not np.array_equal(np.asarray(model.params[1]["alpha"]), alpha0)  # slopes learn
    model.save(tmp_path / "m.npz")
    loaded = hl.load_model(tmp_path / "m.npz")
    assert [layer.name for layer in loaded.layers] == names
    np.testing.assert_array_equal(loaded.predict(vx), model.predict(vx))
    a = model.fit(x, y, epochs=2, seed=2, verbose=0).history
    b = loaded.fit(x, y, epochs=2, seed=2, verbose=0).history
    assert a == b
    for u, v in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(u, v)
