"""Sequential: construction, weights in Keras order, summary, predict/evaluate, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import hyperlab as hl

L = hl.layers


def tutorial_model(**kwargs) -> hl.Sequential:
    model = hl.Sequential([L.Dense(50, input_dim=2, activation="relu", kernel_initializer="he_uniform"),
                           L.Dense(3, activation="softmax")], **kwargs)
    model.compile(hl.optimizers.SGD(lr=0.01, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    return model


def test_weights_in_keras_order_and_round_trip():
    model = tutorial_model(seed=0)
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(2, 50), (50,), (50, 3), (3,)]
    assert model.count_params() == 2 * 50 + 50 + 50 * 3 + 3
    new = [np.full(s, i, np.float32) for i, s in enumerate(shapes)]
    model.set_weights(new)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), new))
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([np.zeros((3, 50))] + new[1:])
    with pytest.raises(ValueError, match="expected 4 arrays"):
        model.set_weights(new[:2])


def test_same_seed_same_weights_different_seed_different():
    a, b, c = tutorial_model(seed=5), tutorial_model(seed=5), tutorial_model(seed=6)
    assert np.array_equal(a.get_weights()[0], b.get_weights()[0])
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_deferred_build_and_flatten():
    model = hl.Sequential([L.Flatten(), L.Dense(4, "relu"), L.Activation("softmax")])
    assert not model.built
    out = model.predict(np.ones((5, 2, 3), np.float32))
    assert out.shape == (5, 4) and np.allclose(out.sum(1), 1, atol=1e-6)
    assert model.layers[1].input_shape == (6,)


def test_summary_lists_layers_and_totals():
    lines = []
    tutorial_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(Dense)" in text and "(None, 50)" in text
    assert "Total params: 303" in text and "Trainable params: 303" in text


def test_predict_and_evaluate_agree():
    (x, y), _ = hl.datasets.blobs()
    yc = hl.datasets.to_categorical(y)
    model = tutorial_model(seed=1)
    model.fit(x, yc, epochs=3, verbose=0)
    p = model.predict(x)
    loss, acc = model.evaluate(x, yc)
    assert acc == pytest.approx(np.mean(p.argmax(1) == y), abs=1e-6)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(len(y)), y])), rel=1e-4)
    assert model.evaluate(x, yc, return_dict=True).keys() == {"loss", "accuracy"}


def test_sparse_and_binary_losses_train():
    (x, y), (vx, vy) = hl.datasets.blobs()
    sparse = hl.Sequential([L.Input((2,)), L.Dense(3, "softmax")], seed=0)
    sparse.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    h = sparse.fit(x, y, epochs=3, verbose=0, validation_data=(vx, vy))
    assert h.history["loss"][-1] < h.history["loss"][0]
    (mx, my), _ = hl.datasets.moons()
    binary = hl.Sequential([L.Input((2,)), L.Dense(8, "tanh"), L.Dense(1, "sigmoid")], seed=0)
    binary.compile(hl.optimizers.Adam(0.05), "binary_crossentropy", ["accuracy"])
    h = binary.fit(mx, my, epochs=5, verbose=0)
    assert h.history["accuracy"][-1] > 0.7


def test_l2_penalty_is_part_of_the_loss():
    x = np.ones((4, 2), np.float32)
    y = hl.datasets.to_categorical([0, 1, 2, 0], 3)
    plain = hl.Sequential([L.Input((2,)), L.Dense(3, "softmax")], seed=0)
    reg = hl.Sequential([L.Input((2,)), L.Dense(3, "softmax", kernel_regularizer=hl.regularizers.L2(0.1))], seed=0)
    for m in (plain, reg):
        m.compile("sgd", "categorical_crossentropy")
    kernel = reg.get_weights()[0]
    assert reg.evaluate(x, y) == pytest.approx(plain.evaluate(x, y) + 0.1 * np.sum(kernel ** 2), rel=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size"), (dict(epochs=0), "epochs"), (dict(epochs=2.5), "epochs"),
])
def test_bad_fit_arguments(kwargs, match):
    (x, y), _ = hl.datasets.blobs()
    with pytest.raises(ValueError, match=match):
        tutorial_model().fit(x, hl.datasets.to_categorical(y), verbose=0, **kwargs)


def test_bad_data():
    (x, y), _ = hl.datasets.blobs()
    yc = hl.datasets.to_categorical(y)
    model = tutorial_model()
    with pytest.raises(ValueError, match="500 samples but y has 499"):
        model.fit(x, yc[:499], verbose=0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, yc, verbose=0)
    with pytest.raises(ValueError, match="to_categorical"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="feature shape"):
        model.fit(np.ones((500, 3), np.float32), yc, verbose=0)
    sparse = hl.Sequential([L.Input((2,)), L.Dense(3, "softmax")])
    sparse.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        sparse.fit(x, y + 1, verbose=0)


@pytest.mark.parametrize("make, match", [
    (lambda: tutorial_model().compile("nosuch", "categorical_crossentropy"), "nosuch"),
    (lambda: tutorial_model().compile("sgd", "hinge_loss"), "categorical_crossentropy"),
    (lambda: tutorial_model().compile("sgd", "mse", ["f1"]), "accuracy"),
    (lambda: L.Dense(3, activation="swoosh"), "relu"),
    (lambda: L.Dense(3, kernel_initializer="he_unform"), "he_uniform"),
    (lambda: L.Dense(0), "units"),
    (lambda: hl.callbacks.EarlyStopping(monitor="val_f1"), "mode"),
    (lambda: hl.callbacks.ReduceLROnPlateau(factor=1.5), "factor"),
])
def test_unknown_names_list_the_valid_ones(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unlogged_monitor_is_rejected():
    (x, y), _ = hl.datasets.blobs()
    with pytest.raises(ValueError, match="available"):
        tutorial_model().fit(x, hl.datasets.to_categorical(y), verbose=0,
                             callbacks=[hl.callbacks.EarlyStopping(monitor="val_loss")])
