"""The training loop: epoch semantics against a NumPy oracle, K runs together equal K runs
alone, callbacks inside the compiled loop, divergence, compilation sharing."""
from __future__ import annotations

import jax
import numpy as np
import pytest

import hyperlab as hl
from hyperlab.engine import training

L = hl.layers


def softmax_regression(seed: int = 0, units: int = 3, features: int = 2) -> hl.Sequential:
    model = hl.Sequential([L.Input((features,)), L.Dense(units, "softmax")], seed=seed)
    model.compile(hl.optimizers.SGD(0.1), "categorical_crossentropy", ["accuracy"])
    return model


def numpy_softmax_regression(w, b, x, y, lr, batch, epochs):
    """Float64 oracle of Keras's epoch: batches in order, the last one smaller, the epoch's
    loss/accuracy the sample-weighted mean over batches as they trained."""
    logs = []
    for _ in range(epochs):
        loss_sum = correct = 0.0
        for start in range(0, len(x), batch):
            xb, yb = x[start:start + batch], y[start:start + batch]
            z = xb @ w + b
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            loss_sum += -np.sum(yb * np.log(p))
            correct += np.sum(p.argmax(1) == yb.argmax(1))
            g = (p - yb) / len(xb)
            w, b = w - lr * xb.T @ g, b - lr * g.sum(0)
        logs.append((loss_sum / len(x), correct / len(x)))
    return w, b, logs


@pytest.mark.parametrize("batch", [1, 7, 20, None])
def test_epoch_semantics_match_numpy_oracle(batch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2)).astype(np.float32)
    y = hl.datasets.to_categorical(rng.integers(0, 3, 20), 3)
    model = softmax_regression()
    w0, b0 = (np.asarray(a, np.float64) for a in model.get_weights())
    history = model.fit(x, y, batch_size=batch, epochs=3, shuffle=False, verbose=0)
    w, b, logs = numpy_softmax_regression(w0, b0, x.astype(np.float64), y, 0.1, batch or 20, 3)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], [l for l, _ in logs], rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"], [a for _, a in logs], atol=1e-6)
    assert history.params["steps"] == -(-20 // (batch or 20))


def blobs_model(seed=0, optimizer=None):
    model = hl.Sequential([L.Input((2,)), L.Dense(16, "relu", kernel_initializer="he_uniform"),
                           L.Dense(3, "softmax")], seed=seed)
    model.compile(optimizer or hl.optimizers.SGD(0.01, momentum=0.9),
                  "categorical_crossentropy", ["accuracy"])
    return model


@pytest.fixture(scope="module")
def blobs():
    (x, y), (vx, vy) = hl.datasets.blobs()
    return x, hl.datasets.to_categorical(y), vx, hl.datasets.to_categorical(vy)


def _assert_same(h1: hl.History, h2: hl.History):
    """Bit for bit: in one process every run of one program shape is computed by the same
    executable (``training._EXECUTABLES``), whichever cohort it trains in."""
    assert h1.history.keys() == h2.history.keys()
    for key in h1.history:
        assert np.array_equal(h1.history[key], h2.history[key], equal_nan=True), key
    for a, b in zip(h1.weights, h2.weights, strict=True):
        assert np.array_equal(a, b)


def test_train_many_seeds_equal_runs_one_by_one(blobs):
    x, y, vx, vy = blobs
    together = hl.train_many(blobs_model(), x, y, seeds=[3, 4, 5], batch_size=32, epochs=6,
                             validation_data=(vx, vy))
    for seed, h in zip([3, 4, 5], together):
        alone = blobs_model(seed=seed).fit(x, y, batch_size=32, epochs=6, seed=seed, verbose=0,
                                           validation_data=(vx, vy), log_learning_rate=True)
        alone.weights = alone.model.get_weights()
        _assert_same(h, alone)
    assert not np.allclose(together[0].history["loss"], together[1].history["loss"])


def test_a_run_does_not_depend_on_its_cohort_or_how_its_epochs_are_chunked(blobs):
    x, y, vx, vy = blobs
    model = blobs_model()
    runs = {k: hl.train_many(model, x, y, seeds=range(k), batch_size=50, epochs=7,
                             validation_data=(vx, vy)) for k in (1, 3, 16)}
    _assert_same(runs[3][0], runs[1][0])
    for seed in range(3):
        _assert_same(runs[16][seed], runs[3][seed])
    training._EXECUTABLES.clear()     # compiled anew, one epoch a chunk: the same numbers
    data = {"x": x, "y": y, "vx": vx, "vy": vy}
    weights = model.init_weights(jax.random.PRNGKey(2))
    key = jax.random.fold_in(jax.random.PRNGKey(2), 1)       # train_many's key for seed 2
    cohort = training.Cohort(model, weights=[weights], keys=[key], optimizers=[model.optimizer],
                             callbacks=[[]], epochs=[7], batch_size=50, data=data, shuffle=True,
                             chunk_epochs=1)
    cohort.fit()
    assert len(cohort.logs) == 7
    _assert_same(cohort.histories()[0], runs[3][2])


def test_train_many_optimizer_and_callback_values_equal_runs_one_by_one(blobs):
    x, y, vx, vy = blobs
    opts = [hl.optimizers.SGD(0.05, momentum=m, decay=d) for m, d in [(0.0, 0.0), (0.9, 1e-3), (0.5, 0.0)]]
    cbs = [[hl.callbacks.ReduceLROnPlateau(patience=p, factor=0.5),
            hl.callbacks.EarlyStopping(patience=q, restore_best_weights=True)]
           for p, q in [(1, 2), (2, 100), (3, 1)]]
    model = blobs_model(seed=1)
    start = model.get_weights()
    together = hl.train_many(model, x, y, optimizers=opts, callbacks=cbs, batch_size=64,
                             epochs=12, validation_data=(vx, vy), seeds=[7])
    # early stopping froze some runs while the others went on
    assert len({len(h.history["loss"]) for h in together}) > 1
    for opt, cb, h in zip(opts, cbs, together):
        alone = blobs_model(seed=7, optimizer=opt)
        solo = alone.fit(x, y, callbacks=cb, batch_size=64, epochs=12, seed=7, verbose=0,
                         validation_data=(vx, vy))
        solo.weights = alone.get_weights()
        _assert_same(h, solo)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), start))


# ------------------------------------------------------------------ callbacks, as Keras writes them
def keras_plateau(values, lr, factor, patience, min_delta, cooldown, min_lr):
    """Keras 3's ReduceLROnPlateau.on_epoch_end, transcribed imperatively (mode min)."""
    best, wait, cool, rates = np.inf, 0, 0, []
    for current in values:
        rates.append(lr)
        if cool > 0:
            cool, wait = cool - 1, 0
        if current < best - min_delta:
            best, wait = current, 0
        elif not cool > 0:
            wait += 1
            if wait >= patience and lr > np.float32(min_lr):
                lr, cool, wait = max(lr * factor, min_lr), cooldown, 0
    return rates


def keras_early_stopping(values, patience, min_delta, baseline, start_from_epoch):
    """Keras 3's EarlyStopping.on_epoch_end (mode min): the epoch it stops at, or None."""
    best, wait = np.inf, 0
    for epoch, current in enumerate(values):
        if epoch < start_from_epoch:
            continue
        wait += 1
        if current + min_delta < best:
            best = current
            if baseline is None or current + min_delta < baseline:
                wait = 0
            continue
        if wait >= patience and epoch > 0:
            return epoch
    return None


SEQUENCES = [[5, 4, 4.5, 4.2, 4.1, 4.0, 3.99, 3.0, 3.5, 3.4, 3.3, 3.2],
             [1, 1, 1, 1, 1, 1, 1, 1], [3, 2, 1, 0.5, 0.4, 0.39, 0.38, 0.5, 0.6, 0.7]]


@pytest.mark.parametrize("values", SEQUENCES)
@pytest.mark.parametrize("patience, cooldown, min_delta, min_lr", [(1, 0, 0.0, 0.0), (2, 1, 0.05, 0.0),
                                                                    (3, 2, 1e-4, 0.004)])
def test_plateau_update_matches_keras(values, patience, cooldown, min_delta, min_lr):
    cb = hl.callbacks.ReduceLROnPlateau(factor=0.5, patience=patience, cooldown=cooldown,
                                        min_delta=min_delta, min_lr=min_lr)
    hp = {k: np.float32(v) for k, v in cb.hyperparams().items()}
    state, lr, rates = cb.init_state(), np.float32(0.1), []
    for v in values:
        rates.append(float(lr))
        state, lr = cb.update(state, hp, np.float32(v), lr)
    expected = keras_plateau(values, 0.1, 0.5, patience, min_delta, cooldown, min_lr)
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


@pytest.mark.parametrize("values", SEQUENCES)
@pytest.mark.parametrize("patience, min_delta, baseline, start", [(0, 0.0, None, 0), (2, 0.05, None, 0),
                                                                  (1, 0.0, 0.45, 0), (2, 0.0, None, 3)])
def test_early_stopping_update_matches_keras(values, patience, min_delta, baseline, start):
    cb = hl.callbacks.EarlyStopping(patience=patience, min_delta=min_delta, baseline=baseline,
                                    start_from_epoch=start)
    hp = {k: np.float32(v) for k, v in cb.hyperparams().items()}
    state, stopped_at = cb.init_state(), None
    for epoch, v in enumerate(values):
        state, stop, _ = cb.update(state, hp, np.float32(v), np.int32(epoch))
        if bool(stop):
            stopped_at = epoch
            break
    assert stopped_at == keras_early_stopping(values, patience, min_delta, baseline, start)


def test_learning_rate_scheduler_drives_the_rate(blobs):
    x, y, vx, vy = blobs
    model = blobs_model(optimizer=hl.optimizers.SGD(learning_rate=0.0, momentum=0.5))
    step = hl.schedules.StepDecay(0.1, drop=0.5, epochs_drop=3)
    h = model.fit(x, y, epochs=7, batch_size=128, verbose=0,
                  callbacks=[hl.callbacks.LearningRateScheduler(step)])
    expected = [0.1 * 0.5 ** np.floor((1 + e) / 3) for e in range(7)]
    np.testing.assert_allclose(h.history["learning_rate"], expected, rtol=1e-6)
    chained = hl.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    h = blobs_model().fit(x, y, epochs=3, batch_size=128, verbose=0, callbacks=[chained])
    np.testing.assert_allclose(h.history["learning_rate"], [0.005, 0.0025, 0.00125], rtol=1e-6)


def test_schedule_as_learning_rate_is_logged_per_epoch(blobs):
    x, y, _, _ = blobs
    schedule = hl.schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.01)
    h = blobs_model(optimizer=hl.optimizers.SGD(schedule)).fit(x, y, epochs=3, batch_size=100,
                                                               verbose=0, log_learning_rate=True)
    np.testing.assert_allclose(h.history["learning_rate"], [0.1 / (1 + 0.01 * 5 * e) for e in range(3)],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="not settable"):
        blobs_model(optimizer=hl.optimizers.SGD(schedule)).fit(
            x, y, epochs=2, verbose=0, callbacks=[hl.callbacks.ReduceLROnPlateau(monitor="loss")])


# ------------------------------------------------------------------ divergence and sharing
def test_diverged_run_is_reported_and_does_not_disturb_others(blobs):
    x, y, vx, vy = blobs
    opts = [hl.optimizers.SGD(0.01), hl.optimizers.SGD(1e6)]
    h_ok, h_bad = hl.train_many(blobs_model(), x, y, optimizers=opts, seeds=[2], epochs=4,
                                validation_data=(vx, vy))
    assert h_bad.diverged and h_bad.diverged_epoch is not None and not h_ok.diverged
    solo = hl.train_many(blobs_model(), x, y, optimizers=opts[:1], seeds=[2], epochs=4,
                         validation_data=(vx, vy))[0]
    _assert_same(h_ok, solo)


def test_runs_differing_in_values_share_one_compiled_program(blobs):
    x, y, _, _ = blobs
    training._EXECUTABLES.clear()
    for lr, momentum, patience in [(0.01, 0.9, 2), (0.3, 0.0, 5), (0.05, 0.5, 1)]:
        model = blobs_model(optimizer=hl.optimizers.SGD(lr, momentum=momentum, decay=lr / 10))
        model.fit(x, y, epochs=5, verbose=0,
                  callbacks=[hl.callbacks.EarlyStopping(monitor="loss", patience=patience)])
    assert len(training._EXECUTABLES) == 1


def test_fit_continues_with_optimizer_state(blobs):
    x, y, _, _ = blobs
    once = blobs_model(optimizer=hl.optimizers.Adam(0.01))
    once.fit(x, y, epochs=4, shuffle=False, verbose=0)
    twice = blobs_model(optimizer=hl.optimizers.Adam(0.01))
    twice.fit(x, y, epochs=2, shuffle=False, verbose=0)
    twice.fit(x, y, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(once.get_weights(), twice.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
