"""fit(diagnostics=True): per-layer gradient/weight/activation statistics computed inside the
compiled loop, checked against closed-form gradients of softmax regression."""
import numpy as np
import pytest

import hyperlab as hl
from hyperlab.engine.training import diagnostic_names
from hyperlab.layers import Dense, Input


@pytest.fixture(scope="module")
def data():
    (x, y), _ = hl.datasets.blobs()
    return x[:120].astype(np.float64), hl.datasets.to_categorical(y[:120]).astype(np.float64)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sgd_oracle(x, y, w, b, lr, batch):
    """Plain SGD on softmax regression in float64; per step (grad norm, update ratio)."""
    stats = []
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        d = (_softmax(xb @ w + b) - yb) / len(xb)
        gw, gb = xb.T @ d, d.sum(axis=0)
        gnorm = np.sqrt(np.sum(gw**2) + np.sum(gb**2))
        stats.append((gnorm, lr * gnorm / np.sqrt(np.sum(w**2) + np.sum(b**2))))
        w, b = w - lr * gw, b - lr * gb
    return w, b, np.mean(stats, axis=0)


@pytest.mark.parametrize("batch", [120, 40])
def test_softmax_regression_diagnostics_match_closed_form(data, batch):
    x, y = data
    m = hl.Sequential([Input((2,)), Dense(3, "softmax", name="out")], seed=0)
    m.compile(hl.optimizers.SGD(0.1), "categorical_crossentropy")
    w, b = (np.asarray(a, np.float64) for a in m.get_weights())
    h = m.fit(x, y, epochs=2, batch_size=batch, shuffle=False, verbose=0, diagnostics=True)
    for epoch in range(2):
        w, b, (gnorm, ratio) = _sgd_oracle(x, y, w, b, 0.1, batch)
        assert h.history["grad_norm/out"][epoch] == pytest.approx(gnorm, rel=1e-4)
        assert h.history["update_ratio/out"][epoch] == pytest.approx(ratio, rel=1e-4)
        assert h.history["weight_norm/out"][epoch] == pytest.approx(
            np.sqrt(np.sum(w**2) + np.sum(b**2)), rel=1e-5)
    p = _softmax(x @ w + b)
    assert h.history["activation_mean/out"][-1] == pytest.approx(p.mean(), rel=1e-5)
    assert h.history["activation_std/out"][-1] == pytest.approx(p.std(), rel=1e-4)
    assert h.history["dead_fraction/out"] == [0.0, 0.0]


def test_dead_relu_units_are_counted(data):
    x, y = data
    m = hl.Sequential([Input((2,)), Dense(4, "relu", name="hidden"), Dense(3, "softmax")], seed=0)
    m.compile(hl.optimizers.SGD(0.01), "categorical_crossentropy")
    kernel, bias, *rest = m.get_weights()
    bias[:2] = -1e3  # two units never fire, so they get no gradient and stay dead
    m.set_weights([kernel, bias, *rest])
    h = m.fit(x, y, epochs=3, verbose=0, diagnostics=True)
    assert h.history["dead_fraction/hidden"] == [0.5, 0.5, 0.5]
    assert set(h.history) >= {"loss", "grad_norm/hidden", "grad_norm/dense", "activation_std/hidden"}


def test_deep_sigmoid_network_shows_vanishing_gradients(data):
    """The lecture's observation: with sigmoid + a normal init, gradients shrink towards the
    input layers; ReLU + He keeps them comparable. Four seeds trained as one program."""
    x, y = data
    ratio = {}
    for act, init in (("sigmoid", "random_normal"), ("relu", "he_normal")):
        m = hl.Sequential([Input((2,))] + [Dense(32, act, kernel_initializer=init)
                                           for _ in range(8)] + [Dense(3, "softmax")])
        m.compile(hl.optimizers.SGD(0.01), "categorical_crossentropy")
        hs = hl.train_many(m, x, y, seeds=range(4), epochs=2, diagnostics=True)
        first = np.mean([h.history["grad_norm/dense"][0] for h in hs])
        last = np.mean([h.history["grad_norm/dense_7"][0] for h in hs])
        ratio[act] = first / last
    assert ratio["sigmoid"] < 1e-3 < ratio["relu"]


def test_diagnostics_do_not_change_training(data):
    x, y = data
    runs = []
    for diag in (False, True):
        m = hl.Sequential([Input((2,)), Dense(8, "relu"), Dense(3, "softmax")], seed=1)
        m.compile(hl.optimizers.Adam(0.01), "categorical_crossentropy", ["accuracy"])
        runs.append(m.fit(x, y, epochs=3, verbose=0, seed=2, diagnostics=diag))
    for key in ("loss", "accuracy"):
        assert runs[0].history[key] == runs[1].history[key]
    assert "grad_norm/dense" not in runs[0].history



def _hessian_top(x, y, w, b):
    """The top eigenvalue of the Hessian of softmax regression's mean cross-entropy in
    (W, b), in closed form: the mean over samples of (diag(p) - p pᵀ) ⊗ x̃ x̃ᵀ, x̃ = (x, 1)."""
    xt = np.hstack([x, np.ones((len(x), 1))])
    p = _softmax(x @ w + b)
    h = sum(np.kron(np.outer(xi, xi), np.diag(pi) - np.outer(pi, pi)) for xi, pi in zip(xt, p))
    return float(np.linalg.eigvalsh(h / len(x))[-1])


def test_sharpness_per_epoch_matches_the_hessian(data):
    x, y = data
    m = hl.Sequential([Input((2,)), Dense(3, "softmax")], seed=3)
    m.compile(hl.optimizers.SGD(0.5), "categorical_crossentropy")
    for epoch in range(3):    # one epoch per fit: the weights after each to compare with
        h = m.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=40, verbose=0,
                  seed=0, diagnostics=["sharpness"])
        w, b = (np.asarray(a, np.float64) for a in m.get_weights())
        assert h.history["sharpness"] == [pytest.approx(_hessian_top(x, y, w, b), rel=1e-3)]


def test_sharpness_is_logged_beside_the_layer_diagnostics_and_changes_no_training(data):
    x, y = data
    runs = {}
    for diag in (False, ["layers", "sharpness"]):
        m = hl.Sequential([Input((2,)), Dense(3, "softmax")], seed=1)
        m.compile(hl.optimizers.SGD(0.5), "categorical_crossentropy")
        runs[str(diag)] = m.fit(x, y, epochs=3, batch_size=40, verbose=0, seed=2,
                                diagnostics=diag).history
    both = runs[str(["layers", "sharpness"])]
    assert len(both["sharpness"]) == 3 and "grad_norm/dense" in both
    assert "sharpness" not in runs["False"]
    assert both["loss"] == pytest.approx(runs["False"]["loss"], rel=1e-6)
    assert diagnostic_names(True) == ("layers",) and diagnostic_names(False) == ()
    with pytest.raises(ValueError, match="diagnostics: unknown"):
        m.fit(x, y, epochs=1, verbose=0, diagnostics=["curvature"])
