"""BatchNormalization and Dropout: formulas, modes, parameter counts (the lecture's figures)."""
from __future__ import annotations

import numpy as np
import pytest

import hyperlab as hl

L = hl.layers


def lecture_mlp(bn: str | None) -> hl.Sequential:
    """784-300-100-10; bn: None, 'after' (after the input and each hidden layer) or 'before'
    (after the input and before the activations, hidden Dense layers without bias)."""
    stack = [L.Input((28, 28)), L.Flatten()]
    if bn is not None:
        stack.append(L.BatchNormalization())
    for units in (300, 100):
        if bn == "before":
            stack += [L.Dense(units, use_bias=False), L.BatchNormalization(), L.Activation("elu")]
        else:
            stack.append(L.Dense(units, "elu", kernel_initializer="he_normal"))
            if bn == "after":
                stack.append(L.BatchNormalization())
    stack.append(L.Dense(10, "softmax"))
    return hl.Sequential(stack, seed=0)


@pytest.mark.parametrize("bn, total, trainable", [(None, 266_610, 266_610),
                                                  ("after", 271_346, 268_978),
                                                  ("before", 270_946, 268_578)])
def test_summary_counts_match_the_lecture(bn, total, trainable):
    model = lecture_mlp(bn)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert model.count_params() == total
    assert f"Total params: {total:,}" in text and f"Trainable params: {trainable:,}" in text
    assert f"Non-trainable params: {total - trainable:,}" in text


def test_batch_normalization_training_and_inference_modes():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(64, 3)) * [1.0, 5.0, 0.1] + [2.0, -3.0, 10.0]).astype(np.float32)
    layer = L.BatchNormalization(momentum=0.9)
    layer.build((3,))
    params, state = layer.init(None)
    y, new = layer.call(params, state, x, training=True, rng=None)
    # Oracle: the same formula in float64. In float32 the batch mean of n values is off by up
    # to about n ulps of |x| (summation in any order) and x - mean by one more, errors that the
    # division by the batch's sd magnifies (feature 2: |x| ~ 10, sd ~ 0.1): the tolerance is
    # that bound, not a fixed atol that one CPU's XLA happens to meet.
    x64 = x.astype(np.float64)
    scale = np.sqrt(x64.var(0) + 1e-3)
    eps = np.finfo(np.float32).eps
    rounding = eps * ((len(x) + 2) * np.abs(x64).max(0) / scale + 8)
    assert np.all(np.abs(y - (x64 - x64.mean(0)) / scale) <= rounding)
    assert np.all(np.abs(np.mean(y, 0)) <= rounding)
    np.testing.assert_allclose(np.var(y, 0), np.var(x, 0) / (np.var(x, 0) + 1e-3), rtol=1e-4)
    np.testing.assert_allclose(new["moving_mean"], 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(new["moving_variance"], 0.9 + 0.1 * x.var(0), rtol=1e-5)
    y_inf, same = layer.call(params, new, x, training=False, rng=None)
    expected = (x - new["moving_mean"]) / np.sqrt(new["moving_variance"] + 1e-3)
    np.testing.assert_allclose(y_inf, expected, rtol=1e-5, atol=1e-5)
    assert same is new
    layer.trainable = False  # a frozen layer normalizes with its moving statistics
    y_frozen, _ = layer.call(params, new, x, training=True, rng=None)
    np.testing.assert_allclose(y_frozen, y_inf)


def test_dropout_scales_kept_units_and_is_identity_at_inference():
    import jax
    layer = L.Dropout(0.25)
    x = np.ones((200, 50), np.float32)
    y, _ = layer.call({}, {}, x, training=True, rng=jax.random.PRNGKey(0))
    y = np.asarray(y)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs(np.mean(y == 0) - 0.25) < 0.02
    assert np.array_equal(layer.call({}, {}, x, training=False, rng=None)[0], x)
    with pytest.raises(ValueError, match="rate"):
        L.Dropout(1.0)


def test_dropout_runs_together_equal_runs_alone():
    (x, y), (vx, vy) = hl.datasets.moons(n_samples=200)
    y, vy = hl.datasets.to_categorical(y), hl.datasets.to_categorical(vy)

    def model(seed):
        m = hl.Sequential([L.Input((2,)), L.Dense(32, "relu"), L.Dropout(0.3),
                           L.BatchNormalization(), L.Dense(2, "softmax")], seed=seed)
        m.compile(hl.optimizers.Adam(0.01), "categorical_crossentropy", ["accuracy"])
        return m

    together = hl.train_many(model(0), x, y, seeds=[4, 5], epochs=3, batch_size=16,
                             validation_data=(vx, vy))
    for seed, h in zip([4, 5], together):
        alone = model(seed)
        solo = alone.fit(x, y, epochs=3, batch_size=16, seed=seed, verbose=0,
                         validation_data=(vx, vy))
        np.testing.assert_allclose(h.history["loss"], solo.history["loss"], rtol=2e-5)
        for a, b in zip(h.weights, alone.get_weights()):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert together[0].history["loss"] != together[1].history["loss"]


def test_bad_batch_normalization_arguments():
    with pytest.raises(ValueError, match="axis"):
        L.BatchNormalization(axis=1)
    with pytest.raises(ValueError, match="momentum"):
        L.BatchNormalization(momentum=1.0)
