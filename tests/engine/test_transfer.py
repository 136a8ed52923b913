"""Frozen layers and transfer learning: what Keras's ``trainable = False`` promises."""
import jax
import numpy as np
import pytest

import hyperlab as hl
from hyperlab.layers import BatchNormalization, Dense, Input
from hyperlab.regularizers import L2


@pytest.fixture(scope="module")
def data():
    (x, y), (vx, vy) = hl.datasets.blobs()
    return x[:200], hl.datasets.to_categorical(y[:200]), vx[:100], hl.datasets.to_categorical(vy[:100])


def _model(seed=0, frozen=False, reg=None):
    m = hl.Sequential([Input((2,)), Dense(8, "relu", kernel_regularizer=reg),
                       Dense(3, "softmax")], seed=seed)
    m.layers[0].trainable = not frozen
    m.compile(hl.optimizers.SGD(0.05, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    return m


def test_frozen_layer_keeps_its_weights_and_the_rest_trains(data):
    x, y, _, _ = data
    m = _model(frozen=True)
    before = m.get_weights()
    m.fit(x, y, epochs=3, batch_size=32, verbose=0, seed=1)
    after = m.get_weights()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.allclose(before[2], after[2])
    assert m._opt_state["slots"]["momentum"][0] == {}  # no optimizer slots for a frozen layer


def test_frozen_feature_layer_trains_like_a_model_on_fixed_features(data):
    """Oracle: a frozen relu layer is a fixed feature map; training on top of it is training
    a softmax layer on the precomputed features (full batch, no shuffling)."""
    x, y, _, _ = data
    m = _model(frozen=True)
    w = m.get_weights()
    features = np.maximum(x @ w[0] + w[1], 0)
    top = hl.Sequential([Input((8,)), Dense(3, "softmax")], seed=0)
    top.compile(hl.optimizers.SGD(0.05, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    top.set_weights(w[2:])
    h_frozen = m.fit(x, y, epochs=5, batch_size=None, shuffle=False, verbose=0)
    h_top = top.fit(features, y, epochs=5, batch_size=None, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_frozen.history["loss"], h_top.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(m.get_weights()[2], top.get_weights()[0], rtol=1e-5, atol=1e-6)


def test_frozen_layer_regularization_leaves_the_loss(data):
    x, y, _, _ = data
    plain, regularized = _model(frozen=True), _model(frozen=True, reg=L2(1.0))
    loss = lambda m: m.evaluate(x, y, return_dict=True)["loss"]  # noqa: E731
    assert loss(regularized) == pytest.approx(loss(plain), rel=1e-6)
    regularized.layers[0].trainable = True
    w = regularized.get_weights()[0]
    assert loss(regularized) == pytest.approx(loss(plain) + float(np.sum(w * w)), rel=1e-5)


def test_frozen_batchnorm_runs_in_inference_mode(data):
    x, y, _, _ = data
    m = hl.Sequential([Input((2,)), BatchNormalization(), Dense(3, "softmax")], seed=0)
    m.layers[0].trainable = False
    m.compile("sgd", "categorical_crossentropy")
    moving = m.get_weights()[2:4]
    m.fit(x, y, epochs=2, verbose=0, seed=0)
    np.testing.assert_array_equal(m.get_weights()[2], moving[0])
    np.testing.assert_array_equal(m.get_weights()[3], moving[1])
    z_train, _ = m.layers[0].call(m.params[0], m.state[0], x, training=True, rng=None)
    z_infer, _ = m.layers[0].call(m.params[0], m.state[0], x, training=False, rng=None)
    np.testing.assert_array_equal(np.asarray(z_train), np.asarray(z_infer))


def test_transfer_copies_weights_and_leaves_the_source_untouched(data):
    x, y, vx, vy = data
    source = _model(seed=3)
    source.fit(x, y, epochs=5, verbose=0, seed=0)
    source_weights = source.get_weights()
    source_pred = source.predict(vx)

    reused = source.layers[:-1]
    target = hl.Sequential(reused + [Dense(3, "softmax", name="new_output")], seed=9)
    np.testing.assert_array_equal(target.get_weights()[0], source_weights[0])
    np.testing.assert_array_equal(target.get_weights()[1], source_weights[1])
    for layer in reused:
        layer.trainable = False
    target.compile(hl.optimizers.SGD(0.05), "categorical_crossentropy", ["accuracy"])
    target.fit(x, y, epochs=3, verbose=0, seed=0)
    np.testing.assert_array_equal(target.get_weights()[0], source_weights[0])

    for layer in reused:  # unfreeze with a lower learning rate, as the lecture recommends
        layer.trainable = True
    with pytest.raises(ValueError, match="compile"):
        target.fit(x, y, epochs=1, verbose=0)
    target.compile(hl.optimizers.SGD(1e-3), "categorical_crossentropy", ["accuracy"])
    target.fit(x, y, epochs=2, verbose=0, seed=0)
    assert not np.array_equal(target.get_weights()[0], source_weights[0])
    for a, b in zip(source.get_weights(), source_weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(source.predict(vx), source_pred)


def test_reused_layer_on_a_different_input_shape_is_refused(data):
    source = _model()
    with pytest.raises(ValueError, match="same shape"):
        hl.Sequential([Input((5,)), source.layers[0], Dense(2)])


def test_get_layer_finds_layers_and_names_the_missing_one():
    m = _model()
    first, last = (layer.name for layer in m.layers)  # numbered across the process, as in Keras
    m.get_layer(first).trainable = False
    assert m.layers[0].trainable is False and m.get_layer(index=-1) is m.layers[-1]
    with pytest.raises(ValueError, match=rf"no layer named 'dense_x'.*\['{first}', '{last}'\]"):
        m.get_layer("dense_x")
    with pytest.raises(ValueError, match="out of range"):
        m.get_layer(index=5)
