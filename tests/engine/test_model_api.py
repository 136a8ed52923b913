"""Keras's model API for Sequential MLPs: shapes, layer weights, configs and clone_model,
fit's validation_split / initial_epoch / sample_weight / class_weight, evaluate's
return_dict, and the regression and binary losses and metrics against closed forms.

The classification fits share the model and data shapes of test_python_callbacks and
test_keras_output (64 training and 32 validation samples, batch 16): one compiled program."""
from __future__ import annotations

import numpy as np
import pytest

import hyperlab as hl
from hyperlab.engine.model import clone_model

L = hl.layers


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 2)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    return x, hl.datasets.to_categorical(labels, 3), labels


def model(lr: float = 0.1, metrics=("acc",)) -> hl.Sequential:
    m = hl.Sequential([L.Input((2,)), L.Dense(4, "relu"), L.Dense(3, "softmax")], seed=0)
    m.compile(hl.optimizers.SGD(lr), "categorical_crossentropy", list(metrics))
    return m


def fit(m, x, y, **kwargs):
    """2 epochs on the first 64 samples, validated on the last 32."""
    if "validation_split" not in kwargs:
        x, y, kwargs["validation_data"] = x[:64], y[:64], (x[64:], y[64:])
    return m.fit(x, y, **({"epochs": 2, "batch_size": 16, "verbose": 0, "seed": 1} | kwargs))


def test_shapes_and_input_shape_on_any_first_layer():
    m = hl.Sequential([L.Flatten(input_shape=[1, 2]), L.Dense(4), L.Dropout(0.1), L.Dense(3)])
    assert m.built and m.output_shape == (None, 3) and m.input_shape == (1, 2)
    assert hl.Sequential([L.Dropout(0.5, input_shape=(2,)), L.Dense(4)]).output_shape == (None, 4)
    with pytest.raises(ValueError, match="input_shape must be positive ints"):
        L.Flatten(input_shape=[0, 3])


def test_layer_weights_read_and_write_the_model():
    m = hl.Sequential([L.Input((2,)), L.Dense(4), L.BatchNormalization(), L.Dense(1)])
    dense, bn, _ = m.layers
    kernel, bias = dense.get_weights()
    np.testing.assert_array_equal(kernel, m.get_weights()[0])
    dense.set_weights([np.ones((2, 4)), np.full(4, 2.0)])
    np.testing.assert_array_equal(m.get_weights()[1], np.full(4, 2.0, np.float32))
    assert [w.shape for w in dense.weights] == [(2, 4), (4,)] == [w.shape for w in dense.trainable_weights]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    dense.trainable = False
    assert dense.trainable_weights == [] and len(dense.non_trainable_weights) == 2
    assert L.Dense(3).get_weights() == []
    with pytest.raises(ValueError, match=r"dense.*/kernel needs shape \(2, 4\)"):
        dense.set_weights([np.ones((4, 2)), np.ones(4)])


def test_config_round_trip_and_clone_model():
    m = hl.Sequential([L.Input((2,)), L.Dense(4, "relu"), L.LeakyReLU(alpha=0.2), L.Dense(3)])
    config = m.get_config()
    again = hl.Sequential.from_config(config)
    assert again.get_config() == config and again.output_shape == (None, 3)
    clone = clone_model(m)
    assert clone.get_config() == config
    assert all(a is not b for a, b in zip(clone.layers, m.layers))
    before = m.get_weights()
    clone.set_weights([w + 1 for w in before])
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)   # the original shares nothing


def test_leaky_relu_alpha_in_a_model():
    m = hl.Sequential([L.Input((2,)), L.LeakyReLU(alpha=0.2)])
    x = np.array([[-2.0, 3.0]], np.float32)
    np.testing.assert_allclose(m.predict(x, verbose=0), [[-0.4, 3.0]], rtol=1e-6)


def test_validation_split_holds_out_the_last_samples(data):
    x, y, _ = data
    split = fit(model(), x, y, validation_split=1 / 3)    # 96 samples: the last 32
    assert split.history == fit(model(), x, y).history    # validation_data=(x[64:], y[64:])
    with pytest.raises(ValueError, match="not sufficient to split"):
        fit(model(), x[:1], y[:1], validation_split=0.5)


def test_initial_epoch_counts_from_there(data, capsys):
    x, y, _ = data
    late = fit(model(), x, y, epochs=4, initial_epoch=2, verbose=2)
    assert late.epoch == [2, 3] and len(late.history["loss"]) == 2
    headers = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Epoch")]
    assert headers == ["Epoch 3/4", "Epoch 4/4"]
    with pytest.raises(ValueError, match="initial_epoch"):
        fit(model(), x, y, epochs=2, initial_epoch=2)


def test_sample_and_class_weights_scale_the_loss(data):
    """Keras: batch loss sum(w * loss) / batch_size. With SGD, weights 2 train as rate 2x and
    log twice the loss; metrics are unweighted (and so is the validation here)."""
    x, y, labels = data
    twice = fit(model(lr=0.05), x, y, sample_weight=np.full(64, 2.0))
    plain_model = model(lr=0.1)
    plain = fit(plain_model, x, y)
    np.testing.assert_allclose(twice.history["loss"], 2 * np.asarray(plain.history["loss"]), rtol=1e-5)
    np.testing.assert_allclose(twice.history["acc"], plain.history["acc"])
    np.testing.assert_allclose(twice.history["val_loss"], plain.history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(twice.weights[0], plain_model.get_weights()[0], rtol=1e-5, atol=1e-6)
    per_class = {0: 0.5, 1: 2.0, 2: 3.0}
    by_class = fit(model(), x, y, class_weight=per_class)
    by_sample = fit(model(), x, y, sample_weight=np.array([per_class[c] for c in labels[:64]]))
    assert by_class.history == by_sample.history
    with pytest.raises(ValueError, match="cannot `class_weight` and `sample_weight`"):
        fit(model(), x, y, class_weight=per_class, sample_weight=np.ones(64))


def test_evaluate_returns_keras_order_and_dict(data):
    x, y, _ = data
    m = model(metrics=["accuracy", "categorical_crossentropy"])
    loss, acc, ce = m.evaluate(x, y, verbose=0)
    assert m.evaluate(x, y, verbose=0, return_dict=True) == {
        "loss": loss, "accuracy": acc, "categorical_crossentropy": ce}
    p = m.predict(x, verbose=0)
    assert acc == pytest.approx(np.mean(p.argmax(1) == y.argmax(1)))
    assert ce == pytest.approx(loss, rel=1e-6)  # no regularization: the loss itself


def test_regression_losses_and_metrics_match_closed_forms(data):
    x, _, _ = data
    target = (x @ np.array([[1.5], [-2.0]]) + 0.3).astype(np.float32)
    m = hl.Sequential([L.Input((2,)), L.Dense(1)], seed=3)
    m.compile(hl.optimizers.SGD(0.05), "mse", ["mae", "mean_squared_error"])
    err = m.predict(x, verbose=0) - target
    loss, mae, mse = m.evaluate(x, target, verbose=0)
    assert loss == pytest.approx(np.mean(err ** 2), rel=1e-5) == mse
    assert mae == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    m.compile(hl.optimizers.SGD(0.05), "mean_absolute_error")
    assert m.evaluate(x, target, verbose=0) == pytest.approx(
        np.mean(np.abs(m.predict(x, verbose=0) - target)), rel=1e-5)


def test_binary_crossentropy_and_binary_accuracy_match_closed_forms(data):
    x, _, _ = data
    y = (x[:, :1] > 0.2).astype(np.float32)
    m = hl.Sequential([L.Input((2,)), L.Dense(1, "sigmoid")], seed=4)
    m.compile("sgd", "binary_crossentropy", ["binary_accuracy"])
    p = m.predict(x, verbose=0).astype(np.float64)
    loss, acc = m.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))), rel=1e-5)
    assert acc == pytest.approx(np.mean(y == (p > 0.5)))


def test_unknown_metric_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'f1'.*'mae'"):
        model(metrics=["f1"])


def test_keras2_history_names_answer_without_being_listed(data):
    """Keras 2 logged metrics=['accuracy'] as 'acc' (the batch-size post reads
    history.history['acc']); Keras 3 lists 'accuracy'. Both names read the same list, and
    iterating gives Keras 3's keys only."""
    x, y, _ = data
    h = fit(model(metrics=["accuracy"]), x, y).history
    assert sorted(h) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h["acc"] is h["accuracy"] and h["val_acc"] is h["val_accuracy"]
    assert h.get("acc") is h["accuracy"] and h.get("lr") is None and "acc" not in h
    with pytest.raises(KeyError):
        h["learning_rate"]  # not logged without a callback that logs it, as in Keras
    named_acc = fit(model(metrics=["acc"]), x, y).history
    assert sorted(named_acc) == ["acc", "loss", "val_acc", "val_loss"]
    assert named_acc["val_accuracy"] is named_acc["val_acc"]
