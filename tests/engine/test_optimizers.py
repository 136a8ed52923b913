"""Tests for hyperlab.engine.optimizers.

Oracles: Keras 3.15.1 trajectories (shared/keras_reference), and NumPy float64 transcriptions
of the update equations documented in Keras 3's optimizer sources.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperlab.engine import optimizers
from hyperlab.engine.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    Nadam,
    Optimizer,
    RMSprop,
)

# tests/engine/test_optimizers.py -> parents[3] is the directory holding the repo and shared/
_DEFAULT_REFERENCE = (
    Path(__file__).resolve().parents[3] / "shared/keras_reference/keras_reference_public.json"
)
REFERENCE = (
    _DEFAULT_REFERENCE
    if _DEFAULT_REFERENCE.exists()
    else Path(os.environ.get("HYPERLAB_KERAS_REFERENCE", _DEFAULT_REFERENCE))
)
CASES: list[dict[str, Any]] = (
    json.loads(REFERENCE.read_text())["optimizer_cases"] if REFERENCE.exists() else []
)


def case_id(case: dict[str, Any]) -> str:
    return case["id"]


def _make(case: dict[str, Any]) -> Optimizer:
    return getattr(optimizers, case["optimizer"])(**case["kwargs"])


def _grads(seed: int, n: int, shapes: dict[str, tuple[int, ...]]) -> list:
    rng = np.random.default_rng(seed)
    return [
        {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
        for _ in range(n)
    ]


def _run(opt: Optimizer, params: Any, grads: list, jit: bool = True) -> tuple[list, dict]:
    """Apply ``grads`` in turn; returns the params after every step and the final state."""
    step = jax.jit(opt.apply) if jit else opt.apply
    state = opt.init(params)
    out = []
    for g in grads:
        params, state = step(params, g, state)
        out.append(params)
    return out, state


# ------------------------------------------------------------------ Keras reference replay
def test_reference_file_is_present() -> None:
    assert REFERENCE.exists(), (
        f"Keras reference not found at {REFERENCE}; clone shared/ beside the repository "
        "or set HYPERLAB_KERAS_REFERENCE"
    )
    assert len(CASES) == 15


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_keras_reference_case(case: dict[str, Any]) -> None:
    w0 = jnp.asarray(case["w0"], jnp.float32)
    grads = [[jnp.asarray(g, jnp.float32)] for g in case["grads"]]
    trajectory, state = _run(_make(case), [w0], grads)
    for k, ((w,), expected) in enumerate(zip(trajectory, case["weights"])):
        np.testing.assert_allclose(w, expected, rtol=1e-5, atol=1e-6, err_msg=f"step {k + 1}")
    assert int(state["iterations"]) == len(grads)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="IEEE op-by-op check on CPU")
@pytest.mark.parametrize(
    # clip_by_norm's sum runs in XLA's order, not Eigen's: an ulp apart (tolerance test above)
    "case", [c for c in CASES if "clipnorm" not in c["kwargs"]], ids=case_id
)
def test_keras_reference_bit_exact_op_by_op(case: dict[str, Any]) -> None:
    """Without jit (no FMA fusion) the float32 operations are Keras's, bit for bit."""
    w0 = jnp.asarray(case["w0"], jnp.float32)
    grads = [[jnp.asarray(g, jnp.float32)] for g in case["grads"]]
    trajectory, _ = _run(_make(case), [w0], grads, jit=False)
    for k, ((w,), expected) in enumerate(zip(trajectory, case["weights"])):
        np.testing.assert_array_equal(w, np.float32(expected), err_msg=f"step {k + 1}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_keras_reference_case_via_optax(case: dict[str, Any]) -> None:
    tx = _make(case).transformation()
    params = {"w": jnp.asarray(case["w0"], jnp.float32)}
    state = tx.init(params)

    @jax.jit
    def step(params: dict, state: Any, g: jax.Array) -> tuple[dict, Any]:
        updates, state = tx.update({"w": g}, state, params)
        return optax.apply_updates(params, updates), state

    for k, (g, expected) in enumerate(zip(case["grads"], case["weights"])):
        params, state = step(params, state, jnp.asarray(g, jnp.float32))
        np.testing.assert_allclose(params["w"], expected, rtol=1e-5, atol=1e-6, err_msg=f"{k}")


def test_transformation_requires_params() -> None:
    tx = SGD(0.1).transformation()
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match="params"):
        tx.update(params, tx.init(params))


# ------------------------------------------------------------------ one program, many values
PARAMS = [{"kernel": jnp.ones((3, 2), jnp.float32), "bias": jnp.zeros((2,), jnp.float32)}]
SHAPES = {"kernel": (3, 2), "bias": (2,)}


def _stack(trees: list) -> Any:
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


@pytest.mark.parametrize(
    "opts",
    [
        [SGD(0.1, momentum=0.0), SGD(0.1, momentum=0.9), SGD(0.05, momentum=0.5, decay=0.01)],
        [Adam(0.01), Adam(0.02, beta_1=0.8, beta_2=0.99), Adam(0.005, beta_2=0.9999)],
        [RMSprop(0.01), RMSprop(0.02, rho=0.8, momentum=0.5), RMSprop(0.01, rho=0.99)],
    ],
    ids=["sgd", "adam", "rmsprop"],
)
def test_vmap_over_hyperparameters_matches_separate_runs(opts: list[Optimizer]) -> None:
    assert len({o.static_config() for o in opts}) == 1
    template = opts[0]
    traces: list[int] = []

    def step(params: Any, grads: Any, state: dict) -> tuple[Any, dict]:
        traces.append(1)  # runs only while tracing
        return template.apply(params, grads, state)

    batched = jax.jit(jax.vmap(step, in_axes=(0, None, 0)))
    grads = [[g] for g in _grads(0, 8, SHAPES)]
    params, state = _stack([PARAMS] * len(opts)), _stack([o.init(PARAMS) for o in opts])
    for g in grads:
        params, state = batched(params, g, state)
    assert len(traces) == 1

    single = jax.jit(step)  # one compiled program serves every optimizer's values
    for i, opt in enumerate(opts):
        alone, alone_state = PARAMS, opt.init(PARAMS)
        for g in grads:
            alone, alone_state = single(alone, g, alone_state)
        mine = jax.tree_util.tree_map(lambda x: x[i], params)
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), mine, alone
        )
    assert len(traces) == 2


@pytest.mark.parametrize(
    "cls, a, b",
    [
        (SGD, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
         {"learning_rate": 0.03, "momentum": 0.2, "nesterov": True, "decay": 0.3}),
        (RMSprop, {"centered": True}, {"learning_rate": 0.1, "rho": 0.5, "momentum": 0.7,
                                       "epsilon": 1e-3, "centered": True}),
        (Adagrad, {}, {"learning_rate": 0.2, "initial_accumulator_value": 1.0, "epsilon": 1e-3}),
        (Adadelta, {}, {"learning_rate": 1.0, "rho": 0.5, "epsilon": 1e-4}),
        (Adam, {"amsgrad": True}, {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.9,
                                   "epsilon": 1e-3, "amsgrad": True}),
        (Adamax, {}, {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
        (Nadam, {}, {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
        (SGD, {"weight_decay": 0.1, "global_clipnorm": 1.0, "use_ema": True},
         {"weight_decay": 0.3, "global_clipnorm": 0.2, "use_ema": True, "ema_momentum": 0.5}),
    ],
    ids=lambda x: x.__name__ if isinstance(x, type) else "",
)
def test_apply_reads_numbers_from_state_only(cls: type, a: dict, b: dict) -> None:
    """Equal static_config => the same computation: A.apply on B's state is B's update."""
    opt_a, opt_b = cls(**a), cls(**b)
    assert opt_a.static_config() == opt_b.static_config()
    step_a, step_b = jax.jit(opt_a.apply), jax.jit(opt_b.apply)
    pa, sa = pb, sb = PARAMS, opt_b.init(PARAMS)
    for g in _grads(1, 4, SHAPES):
        pa, sa = step_a(pa, [g], sa)
        pb, sb = step_b(pb, [g], sb)
    jax.tree_util.tree_map(np.testing.assert_array_equal, (pa, sa), (pb, sb))


# ------------------------------------------------------------------ float64 oracles
def _oracle(update: Callable, w0: dict, grads: list, state: dict) -> list[dict]:
    """Iterate ``update(w, g, state, t)`` (t = 1, 2, ...) in float64 on dicts of arrays."""
    w = {k: np.float64(v) for k, v in w0.items()}
    out = []
    for t, g in enumerate(grads, start=1):
        w = update(w, {k: np.float64(v) for k, v in g.items()}, state, t)
        out.append(dict(w))
    return out


def _check(opt: Optimizer, update: Callable, state: dict, grads: list, rtol: float = 1e-5,
           params: dict | None = None) -> tuple[list, dict]:
    params = params or {k: np.asarray(v) for k, v in PARAMS[0].items()}
    mine, final = _run(opt, {k: jnp.asarray(v) for k, v in params.items()}, grads)
    expected = _oracle(update, params, grads, state)
    for k, (m, e) in enumerate(zip(mine, expected)):
        for name in e:
            np.testing.assert_allclose(m[name], e[name], rtol=rtol, atol=1e-6,
                                       err_msg=f"step {k + 1}, {name}")
    return mine, final


def _per_leaf(fn: Callable) -> Callable:
    """Oracle update applied leaf by leaf; ``state[name][leaf]`` holds the accumulators."""

    def update(w: dict, g: dict, state: dict, t: int) -> dict:
        return {k: fn(w[k], g[k], state, k, t) for k in w}

    return update


def test_rmsprop_centered_with_momentum() -> None:
    lr, rho, mom, eps = 0.01, 0.8, 0.6, 1e-3
    state: dict = {"v": {}, "a": {}, "m": {}}

    def fn(w, g, s, k, t):
        v = s["v"][k] = rho * s["v"].get(k, 0.0) + (1 - rho) * g**2
        a = s["a"][k] = rho * s["a"].get(k, 0.0) + (1 - rho) * g
        m = s["m"][k] = mom * s["m"].get(k, 0.0) + lr * g / np.sqrt(v - a**2 + eps)
        return w - m

    opt = RMSprop(lr, rho=rho, momentum=mom, epsilon=eps, centered=True)
    _check(opt, _per_leaf(fn), state, _grads(2, 12, SHAPES))


def test_adam_amsgrad() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-7
    state: dict = {"m": {}, "v": {}, "vhat": {}}

    def fn(w, g, s, k, t):
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = s["m"][k] = s["m"].get(k, 0.0) + (g - s["m"].get(k, 0.0)) * (1 - b1)
        v = s["v"][k] = s["v"].get(k, 0.0) + (g**2 - s["v"].get(k, 0.0)) * (1 - b2)
        vhat = s["vhat"][k] = np.maximum(s["vhat"].get(k, 0.0), v)
        return w - m * alpha / (np.sqrt(vhat) + eps)

    # shrinking gradients make v decrease, so the running max matters
    grads = [{k: v / (1 + 3 * i) for k, v in g.items()}
             for i, g in enumerate(_grads(3, 12, SHAPES))]
    amsgrad, _ = _check(Adam(lr, beta_2=b2, amsgrad=True), _per_leaf(fn), state, grads)
    plain, _ = _run(Adam(lr, beta_2=b2), PARAMS[0], grads)
    assert not np.allclose(amsgrad[-1]["kernel"], plain[-1]["kernel"], rtol=1e-4)


def test_adagrad_initial_accumulator_value() -> None:
    lr, init, eps = 0.1, 0.5, 1e-3
    state: dict = {"acc": {}}

    def fn(w, g, s, k, t):
        acc = s["acc"][k] = s["acc"].get(k, init) + g**2
        return w - lr * g / np.sqrt(acc + eps)

    _check(Adagrad(lr, initial_accumulator_value=init, epsilon=eps), _per_leaf(fn), state,
           _grads(4, 10, SHAPES))
    assert Adagrad().init(PARAMS)["slots"]["accumulator"][0]["bias"][0] == np.float32(0.1)


@pytest.mark.parametrize("clip", [0.3, 5.0])
def test_global_clipnorm_with_sgd_momentum(clip: float) -> None:
    lr, mom = 0.1, 0.9
    state: dict = {"m": {}}

    def update(w, g, s, t):
        norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
        g = {k: v * min(1.0, clip / norm) for k, v in g.items()}
        for k in w:
            s["m"][k] = s["m"].get(k, 0.0) * mom - g[k] * lr
        return {k: w[k] + s["m"][k] for k in w}

    _check(SGD(lr, momentum=mom, global_clipnorm=clip), update, state, _grads(5, 10, SHAPES))


def test_clipnorm_is_per_variable_and_nonpositive_clip_is_ignored() -> None:
    g = [{"kernel": np.full((3, 2), 3.0, np.float32), "bias": np.full((2,), 0.1, np.float32)}]
    zero = [{k: jnp.zeros_like(v) for k, v in PARAMS[0].items()}]
    (clipped,), _ = _run(SGD(1.0, clipnorm=1.0), zero, [g])
    assert np.linalg.norm(clipped[0]["kernel"]) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(clipped[0]["bias"], -g[0]["bias"], rtol=1e-6)
    (unclipped,), _ = _run(SGD(1.0, clipnorm=0.0), zero, [g])  # Keras: clipnorm <= 0 is off
    np.testing.assert_array_equal(unclipped[0]["kernel"], -g[0]["kernel"])


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_weight_decay_and_nesterov(nesterov: bool) -> None:
    lr, mom, wd = 0.05, 0.9, 0.1
    state: dict = {"m": {}}

    def fn(w, g, s, k, t):
        w = w - w * wd * lr
        m = s["m"][k] = s["m"].get(k, 0.0) * mom - g * lr
        return w + (m * mom - g * lr if nesterov else m)

    opt = SGD(lr, momentum=mom, nesterov=nesterov, weight_decay=wd)
    _check(opt, _per_leaf(fn), state, _grads(6, 10, SHAPES))


def test_adam_weight_decay_uses_decayed_learning_rate() -> None:
    lr, wd, decay, b1, b2, eps = 0.01, 0.5, 0.2, 0.9, 0.999, 1e-7
    state: dict = {"m": {}, "v": {}}

    def fn(w, g, s, k, t):
        rate = lr / (1 + decay * (t - 1))
        w = w - w * wd * rate
        m = s["m"][k] = s["m"].get(k, 0.0) + (g - s["m"].get(k, 0.0)) * (1 - b1)
        v = s["v"][k] = s["v"].get(k, 0.0) + (g**2 - s["v"].get(k, 0.0)) * (1 - b2)
        return w - m * (rate * np.sqrt(1 - b2**t) / (1 - b1**t)) / (np.sqrt(v) + eps)

    _check(Adam(lr, weight_decay=wd, decay=decay), _per_leaf(fn), state, _grads(7, 10, SHAPES))


def test_nadam_u_product_with_other_beta() -> None:
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-6
    state: dict = {"m": {}, "v": {}, "u": 1.0}

    def mu(t: int) -> float:
        return b1 * (1 - 0.5 * 0.96**t)

    def update(w, g, s, t):
        s["u"] *= mu(t)
        out = {}
        for k in w:
            m = s["m"][k] = s["m"].get(k, 0.0) + (g[k] - s["m"].get(k, 0.0)) * (1 - b1)
            v = s["v"][k] = s["v"].get(k, 0.0) + (g[k] ** 2 - s["v"].get(k, 0.0)) * (1 - b2)
            m_hat = mu(t + 1) * m / (1 - s["u"] * mu(t + 1)) + (1 - mu(t)) * g[k] / (1 - s["u"])
            out[k] = w[k] - m_hat * lr / (np.sqrt(v / (1 - b2**t)) + eps)
        return out

    _, final = _check(Nadam(lr, beta_1=b1, beta_2=b2, epsilon=eps), update, state,
                      _grads(8, 12, SHAPES))
    assert float(final["u_product"]) == pytest.approx(state["u"], rel=1e-5)


def test_ema_with_overwrite_frequency_and_finalize() -> None:
    lr, ema_m, freq = 0.1, 0.8, 3
    state: dict = {"ema": {}}

    def update(w, g, s, t):
        w = {k: w[k] - g[k] * lr for k in w}
        m = ema_m if t > 1 else 0.0
        s["ema"] = {k: m * s["ema"].get(k, 0.0) + (1 - m) * w[k] for k in w}
        return dict(s["ema"]) if t % freq == 0 else w

    opt = SGD(lr, use_ema=True, ema_momentum=ema_m, ema_overwrite_frequency=freq)
    mine, final = _check(opt, update, state, _grads(9, 10, SHAPES))
    finalized = opt.finalize_variable_values(mine[-1], final)
    np.testing.assert_allclose(finalized["kernel"], state["ema"]["kernel"], rtol=1e-5)
    assert SGD().finalize_variable_values(PARAMS, SGD().init(PARAMS)) is PARAMS


def test_gradient_accumulation_with_adam_and_decay() -> None:
    lr, decay, k_steps, b1, b2, eps = 0.01, 0.1, 3, 0.9, 0.999, 1e-7
    state: dict = {"m": {}, "v": {}, "acc": {}, "calls": 0}

    def update(w, g, s, t):
        it = s["calls"]  # real iterations: the learning rate counts every call
        s["calls"] += 1
        acc = {k: s["acc"].get(k, 0.0) + g[k] for k in w}
        if s["calls"] % k_steps:
            s["acc"] = acc
            return w
        s["acc"] = {}
        n = s["calls"] // k_steps  # Adam's step counts updates
        rate = lr / (1 + decay * it)
        out = {}
        for k in w:
            gk = acc[k] / k_steps
            m = s["m"][k] = s["m"].get(k, 0.0) + (gk - s["m"].get(k, 0.0)) * (1 - b1)
            v = s["v"][k] = s["v"].get(k, 0.0) + (gk**2 - s["v"].get(k, 0.0)) * (1 - b2)
            out[k] = w[k] - m * (rate * np.sqrt(1 - b2**n) / (1 - b1**n)) / (np.sqrt(v) + eps)
        return out

    opt = Adam(lr, decay=decay, gradient_accumulation_steps=k_steps)
    mine, final = _check(opt, update, state, _grads(10, 10, SHAPES))
    np.testing.assert_array_equal(mine[0]["kernel"], PARAMS[0]["kernel"])
    assert int(final["iterations"]) == 10


def test_loss_scale_factor_unscales_gradients() -> None:
    g = _grads(11, 3, SHAPES)
    scaled = [{k: v * 8.0 for k, v in gi.items()} for gi in g]
    plain, _ = _run(SGD(0.1, momentum=0.5), PARAMS[0], g)
    mine, _ = _run(SGD(0.1, momentum=0.5, loss_scale_factor=8.0), PARAMS[0], scaled)
    jax.tree_util.tree_map(np.testing.assert_array_equal, mine, plain)


class InverseTimeDecay:
    """Minimal stand-in with the hyperlab schedule interface."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float):
        self.initial_learning_rate, self.decay_steps, self.decay_rate = (
            initial_learning_rate, decay_steps, decay_rate)

    def hyperparams(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate}

    def static_config(self) -> tuple:
        return ("InverseTimeDecay",)

    def evaluate(self, step: Any, hp: dict) -> jax.Array:
        p = jnp.asarray(step, jnp.float32) / hp["decay_steps"]
        return hp["initial_learning_rate"] / (1 + hp["decay_rate"] * p)

    def __call__(self, step: Any) -> jax.Array:
        return self.evaluate(step, jax.tree_util.tree_map(jnp.float32, self.hyperparams()))


def test_schedule_learning_rate_with_weight_decay_and_legacy_decay() -> None:
    schedule = InverseTimeDecay(0.1, 2.0, 0.5)
    wd, decay = 0.2, 0.1
    state: dict = {}

    def fn(w, g, s, k, t):
        rate = 0.1 / (1 + 0.5 * (t - 1) / 2.0) / (1 + decay * (t - 1))
        return (w - w * wd * rate) - g * rate

    opt = SGD(schedule, weight_decay=wd, decay=decay)
    _, final = _check(opt, _per_leaf(fn), state, _grads(12, 8, SHAPES))
    assert not opt.learning_rate_settable
    assert opt.learning_rate is schedule
    hp = opt.hyperparams()
    assert "learning_rate" not in hp and hp["schedule"] == schedule.hyperparams()
    assert opt.static_config()[-1] == ("InverseTimeDecay",)
    assert float(opt.learning_rate_at(final)) == pytest.approx(
        0.1 / (1 + 0.5 * 8 / 2.0) / (1 + decay * 8), rel=1e-6)
    with pytest.raises(TypeError, match="schedule"):
        opt.set_learning_rate(final, 0.5)


def test_learning_rate_state_and_legacy_decay() -> None:
    opt = SGD(0.2, momentum=0.5, decay=0.25)
    state = opt.init(PARAMS)
    assert state["learning_rate"].dtype == jnp.float32 and int(state["iterations"]) == 0
    assert "learning_rate" not in state["hparams"]
    _, state = _run(opt, PARAMS, [[g] for g in _grads(13, 4, SHAPES)])
    assert float(opt.learning_rate_at(state)) == pytest.approx(0.2 / (1 + 0.25 * 4))
    state = opt.set_learning_rate(state, 0.0)  # 0 is a legal learning rate
    zeros = [{k: jnp.zeros_like(v) for k, v in PARAMS[0].items()}]
    params, _ = opt.apply(PARAMS, zeros, {**state, "slots": opt.init(PARAMS)["slots"]})
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, PARAMS)


# ------------------------------------------------------------------ properties
_CLIP_STEP = jax.jit(SGD(1.0, clipnorm=1.0).apply)  # one program for every clip value


@settings(max_examples=40, deadline=None)
@given(
    g=st.lists(st.floats(-100, 100, width=32), min_size=6, max_size=6),
    clip=st.floats(0.0625, 64.0, width=32),
)
def test_clipnorm_bounds_the_update_and_keeps_direction(g: list[float], clip: float) -> None:
    params = [jnp.zeros(6, jnp.float32)]
    grads = [np.asarray(g, np.float32)]
    (out,), _ = _CLIP_STEP(params, grads, SGD(1.0, clipnorm=clip).init(params))
    norm, out = float(np.linalg.norm(grads[0])), -np.asarray(out)
    assert np.linalg.norm(out) <= clip * (1 + 1e-6)
    expected = grads[0] * min(1.0, clip / norm) if norm > 0 else grads[0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6 * clip)


# ------------------------------------------------------------------ construction and errors
@pytest.mark.parametrize(
    "cls, defaults",
    [
        (SGD, {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "name": "SGD"}),
        (RMSprop, {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                   "centered": False, "name": "rmsprop"}),
        (Adagrad, {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
                   "name": "adagrad"}),
        (Adadelta, {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7, "name": "adadelta"}),
        (Adam, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                "amsgrad": False, "name": "adam"}),
        (Adamax, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                  "name": "adamax"}),
        (Nadam, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                 "name": "nadam"}),
    ],
)
def test_keras_defaults_config_roundtrip_and_get(cls: type, defaults: dict) -> None:
    opt = cls()
    config = opt.get_config()
    assert {k: config[k] for k in defaults} == defaults
    assert config["weight_decay"] is None and config["use_ema"] is False
    assert config["ema_momentum"] == 0.99 and config["decay"] == 0.0
    assert cls.from_config(config).get_config() == config
    assert type(config["learning_rate"]) is float
    hp = opt.hyperparams()
    assert hp["decay"] == 0.0 and hp["learning_rate"] == defaults["learning_rate"]
    assert all(type(v) is float for v in hp.values())
    for name in (cls.__name__, cls.__name__.lower(), cls.__name__.upper()):
        assert optimizers.get(name).get_config() == config
    assert optimizers.get(opt) is opt
    assert cls(lr=0.5).learning_rate == 0.5
    assert cls(0.0).learning_rate == 0.0
    static = {cls(0.3, decay=0.1).static_config(), opt.static_config()}
    assert len(static) == 1  # decay and the learning rate are values, not structure


def test_static_config_tracks_structure() -> None:
    configs = {
        SGD().static_config(), SGD(nesterov=True).static_config(),
        SGD(clipnorm=1.0).static_config(), SGD(clipvalue=1.0).static_config(),
        SGD(weight_decay=0.1).static_config(), SGD(use_ema=True).static_config(),
        SGD(gradient_accumulation_steps=2).static_config(), Adam().static_config(),
        Adam(amsgrad=True).static_config(), RMSprop(centered=True).static_config(),
    }
    assert len(configs) == 10
    assert SGD(clipnorm=1.0).hyperparams()["clipnorm"] == 1.0
    assert "ema_momentum" in SGD(use_ema=True).hyperparams()
    assert "weight_decay" not in SGD().hyperparams()


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: SGD(learning_rate=-0.1), "learning_rate"),
        (lambda: SGD(lr=-1.0), "learning_rate"),
        (lambda: Adam(learning_rate="fast"), "learning_rate"),
        (lambda: Adam(learning_rate=lambda: 0.1), "learning_rate"),
        (lambda: SGD(learning_rate=0.1, lr=0.2), "lr"),
        (lambda: SGD(momentum=1.5), "momentum"),
        (lambda: SGD(momentum=-0.1), "momentum"),
        (lambda: RMSprop(momentum=2.0), "momentum"),
        (lambda: Adam(epsilon=-1e-7), "epsilon"),
        (lambda: Adagrad(epsilon=-1.0), "epsilon"),
        (lambda: RMSprop(rho=1.0), "rho"),
        (lambda: Adadelta(rho=-0.1), "rho"),
        (lambda: Adam(beta_1=1.0), "beta_1"),
        (lambda: Adamax(beta_2=1.5), "beta_2"),
        (lambda: Nadam(beta_1=-0.5), "beta_1"),
        (lambda: Adagrad(initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: SGD(decay=-0.1), "decay"),
        (lambda: SGD(nesterov="yes"), "nesterov"),
        (lambda: SGD(clipnorm=1.0, clipvalue=1.0), "clipvalue"),
        (lambda: SGD(clipnorm=1.0, global_clipnorm=1.0), "global_clipnorm"),
        (lambda: Adam(gradient_accumulation_steps=1), "gradient_accumulation_steps"),
        (lambda: Adam(use_ema=True, ema_overwrite_frequency=-2), "ema_overwrite_frequency"),
        (lambda: Adam(ema_momentum=1.5), "ema_momentum"),
        (lambda: Adam(loss_scale_factor=0.0), "loss_scale_factor"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(make: Callable, arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        make()


def test_unknown_keyword_lists_valid_arguments() -> None:
    with pytest.raises(ValueError, match="momentum") as info:
        Adam(momentum=0.9)
    assert "beta_1" in str(info.value) and "decay" in str(info.value)


def test_boundary_values_are_accepted() -> None:
    SGD(0.0, momentum=1.0)
    RMSprop(rho=0.0, momentum=0.0, epsilon=0.0)
    Adam(beta_1=0.0, beta_2=0.0)


def test_get_unknown_names_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="adadelta, adagrad, adam, adamax, nadam, rmsprop, sgd"):
        optimizers.get("adamw")
    with pytest.raises(ValueError, match="Unknown optimizer"):
        optimizers.get(3)
