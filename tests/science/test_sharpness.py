"""Sharpness by Hessian-vector-product power iteration against exact eigenvalues: quadratics
(numpy's eigvalsh) and a tiny network's full Hessian (jax.hessian of a loss written here
independently of the engine)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import hyperlab as hl
from hyperlab.science.sharpness import (sharpness, sharpness_curve, stability_threshold,
                                        top_eigenvalue)


def _symmetric(eigenvalues, seed=0):
    q = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))[0]
    return q @ np.diag(eigenvalues) @ q.T


@pytest.mark.parametrize("eigenvalues, unused", [
    ([0.5, 1.0, 3.0, 10.0, -2.0], False),   # the top one is also the largest in magnitude
    ([-8.0, -1.0, 0.5, 2.0], False),        # the largest in magnitude is negative: top is 2
    ([-3.0, -1.0, -0.5], False),            # all negative: top is -0.5
    ([-3.0, -1.0, -0.5], True),             # parameters the loss ignores add eigenvalues 0
])
def test_top_eigenvalue_of_a_quadratic(eigenvalues, unused):
    a = _symmetric(eigenvalues)
    params = {"w": jnp.zeros(len(eigenvalues))} | ({"b": jnp.ones(2)} if unused else {})
    found = top_eigenvalue(lambda p: 0.5 * p["w"] @ jnp.asarray(a, jnp.float32) @ p["w"],
                           params, iterations=2000, tol=1e-7)
    exact = max(np.linalg.eigvalsh(a).max(), 0.0) if unused else np.linalg.eigvalsh(a).max()
    assert found.converged
    assert found.value == pytest.approx(exact, rel=1e-3, abs=1e-3)


def _tiny(frozen_first: bool = False):
    (x, y), _ = hl.datasets.blobs()
    y = hl.datasets.to_categorical(y)
    model = hl.Sequential([hl.layers.Input((2,)), hl.layers.Dense(4, activation="tanh"),
                           hl.layers.Dense(3, activation="softmax")], seed=3)
    model.layers[0].trainable = not frozen_first
    model.compile(optimizer=hl.optimizers.SGD(0.05), loss="categorical_crossentropy")
    return model, x[:40], y[:40]


def _exact_top(weights, x, y, frozen_first):
    """The largest eigenvalue of the full Hessian of the mean cross-entropy, written with
    jnp from the Keras weight list, over the trainable weights only."""
    w1, b1, w2, b2 = (jnp.asarray(w, jnp.float32) for w in weights)
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

    def loss(p):
        k1, c1 = (w1, b1) if frozen_first else (p["w1"], p["b1"])
        logits = jnp.tanh(x @ k1 + c1) @ p["w2"] + p["b2"]
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=1))

    params = {"w2": w2, "b2": b2} if frozen_first else {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    flat, unravel = ravel_pytree(params)
    hessian = jax.hessian(lambda v: loss(unravel(v)))(flat)
    return float(np.linalg.eigvalsh(np.asarray(hessian, np.float64)).max()), flat.size


@pytest.mark.parametrize("frozen_first", [False, True])
def test_sharpness_of_a_tiny_network_is_its_full_hessians_top_eigenvalue(frozen_first):
    model, x, y = _tiny(frozen_first)
    exact, size = _exact_top(model.get_weights(), x, y, frozen_first)
    assert size == (15 if frozen_first else 27)
    found = sharpness(model, x, y, probe=40, iterations=3000, tol=1e-7)
    assert found.converged and found.probe == 40
    assert found.eigenvalue == pytest.approx(exact, rel=2e-3)


def test_sharpness_curve_measures_at_the_chosen_epochs_of_one_run():
    (x, y), _ = hl.datasets.blobs()
    y = hl.datasets.to_categorical(y)

    def model():
        m = hl.Sequential([hl.layers.Input((2,)), hl.layers.Dense(4, activation="tanh"),
                           hl.layers.Dense(3, activation="softmax")], seed=3)
        m.compile(optimizer=hl.optimizers.SGD(0.05, momentum=0.5),
                  loss="categorical_crossentropy")
        return m

    segmented = model()
    curve = sharpness_curve(segmented, x, y, [4, 0, 2], probe=64, batch_size=50, seed=7)
    assert [s.epoch for s in curve] == [0, 2, 4]
    assert all(s.learning_rate == pytest.approx(0.05) for s in curve)
    whole = model()
    assert curve[0].eigenvalue == pytest.approx(sharpness(whole, x, y, probe=64).eigenvalue)
    whole.fit(x, y, epochs=4, batch_size=50, seed=7, verbose=0)
    for a, b in zip(segmented.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert curve[-1].eigenvalue == pytest.approx(sharpness(whole, x, y, probe=64).eigenvalue)


def test_stability_threshold_of_gradient_descent_on_a_quadratic():
    """Heavy-ball iterates on λ w²/2 stay bounded exactly while λ < (2 + 2β)/η."""
    eta, beta = 0.1, 0.5
    edge = stability_threshold(eta, beta)
    assert edge == pytest.approx(30.0) and stability_threshold(eta) == pytest.approx(20.0)
    for lam, bounded in ((0.98 * edge, True), (1.02 * edge, False)):
        w, v = 1.0, 0.0
        for _ in range(2000):
            v = beta * v - eta * lam * w
            w = w + v
        assert (abs(w) < 1.0) == bounded


def test_bad_input_names_the_problem():
    model, x, y = _tiny()
    with pytest.raises(ValueError, match="probe must be an int >= 1"):
        sharpness(model, x, y, probe=0)
    with pytest.raises(ValueError, match="same number"):
        sharpness(model, x, y[:5])
    with pytest.raises(ValueError, match="compiled model"):
        sharpness(hl.Sequential([hl.layers.Input((2,)), hl.layers.Dense(3)]), x, y)
    with pytest.raises(ValueError, match="epoch counts >= 0"):
        sharpness_curve(model, x, y, [-1])


def test_sharpness_figure_draws_each_runs_threshold_at_two_over_its_rate():
    from hyperlab.reports._style import pyplot
    from hyperlab.science.figures import sharpness_figure
    from hyperlab.science.sharpness import Sharpness
    curves = {f"{lr}": [Sharpness(10.0 * e + 1, 5, True, 8, e, lr) for e in range(3)]
              for lr in (0.1, 0.01)}
    curves["schedule"] = [Sharpness(3.0, 5, True, 8, 0, None)]
    fig = sharpness_figure(curves, momentum=0.5)
    ax = fig.axes[0]
    thresholds = sorted(line.get_ydata()[0] for line in ax.get_lines()
                        if line.get_gid() == "threshold")
    assert thresholds == pytest.approx([3.0 / 0.1, 3.0 / 0.01])
    assert sum(line.get_gid() == "sharpness" for line in ax.get_lines()) == 3
    pyplot().close(fig)
