from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hyperlab.engine import schedules as S

STEPS = [0, 1, 3, 7, 10, 15, 31, 99, 100, 101, 150, 1000]


# --- NumPy float64 references, written from the documented formulas -----------------


def ref_inverse_time(step, lr0, decay_steps, decay_rate, staircase=False):
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return lr0 / (1 + decay_rate * p)


def ref_exponential(step, lr0, decay_steps, decay_rate, staircase=False):
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return lr0 * decay_rate**p


def ref_piecewise(step, boundaries, values):
    for b, v in zip(boundaries, values):
        if step <= b:
            return v
    return values[-1]


def ref_polynomial(step, lr0, decay_steps, end=0.0001, power=1.0, cycle=False):
    if cycle:
        decay_steps = decay_steps * max(1, math.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (lr0 - end) * (1 - step / decay_steps) ** power + end


def ref_cosine(step, lr0, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    def decay(s, start):
        s = min(s, decay_steps)
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay_steps)) + alpha)

    if warmup_target is None:
        return decay(step, lr0)
    if step < warmup_steps:
        return lr0 + (warmup_target - lr0) * step / warmup_steps
    return decay(step - warmup_steps, warmup_target)


def ref_restarts(step, lr0, first, t_mul=2.0, m_mul=1.0, alpha=0.0):
    """Walks the periods one by one (independent of the closed form)."""
    start, length, scale = 0.0, float(first), 1.0
    while step >= start + length:
        start += length
        length *= t_mul
        scale *= m_mul
    c = (step - start) / length
    return lr0 * ((1 - alpha) * scale * 0.5 * (1 + math.cos(math.pi * c)) + alpha)


def ref_power(step, lr0, decay_steps, power=1.0):
    return lr0 / (1 + step / decay_steps) ** power


def ref_step_decay(epoch, lr0, drop=0.5, epochs_drop=10.0):
    return lr0 * drop ** math.floor((1 + epoch) / epochs_drop)


CASES = [
    (S.InverseTimeDecay(0.1, 1, 0.01), lambda s: ref_inverse_time(s, 0.1, 1, 0.01)),
    (S.InverseTimeDecay(0.5, 10, 0.5), lambda s: ref_inverse_time(s, 0.5, 10, 0.5)),
    (
        S.InverseTimeDecay(0.5, 10, 0.5, staircase=True),
        lambda s: ref_inverse_time(s, 0.5, 10, 0.5, True),
    ),
    (S.ExponentialDecay(0.1, 100, 0.96), lambda s: ref_exponential(s, 0.1, 100, 0.96)),
    (
        S.ExponentialDecay(0.1, 7, 0.5, staircase=True),
        lambda s: ref_exponential(s, 0.1, 7, 0.5, True),
    ),
    (
        S.PiecewiseConstantDecay([10, 100], [1.0, 0.5, 0.1]),
        lambda s: ref_piecewise(s, [10, 100], [1.0, 0.5, 0.1]),
    ),
    (
        S.PiecewiseConstantDecay([3, 15, 101, 500], [0.4, 0.3, 0.2, 0.1, 0.05]),
        lambda s: ref_piecewise(s, [3, 15, 101, 500], [0.4, 0.3, 0.2, 0.1, 0.05]),
    ),
    (S.PolynomialDecay(0.1, 100), lambda s: ref_polynomial(s, 0.1, 100)),
    (
        S.PolynomialDecay(0.1, 100, 0.01, power=0.5),
        lambda s: ref_polynomial(s, 0.1, 100, 0.01, 0.5),
    ),
    (
        S.PolynomialDecay(0.1, 30, 0.01, power=2.0, cycle=True),
        lambda s: ref_polynomial(s, 0.1, 30, 0.01, 2.0, True),
    ),
    (S.CosineDecay(0.1, 100), lambda s: ref_cosine(s, 0.1, 100)),
    (S.CosineDecay(0.1, 100, alpha=0.2), lambda s: ref_cosine(s, 0.1, 100, 0.2)),
    (
        S.CosineDecay(0.0, 90, alpha=0.1, warmup_target=0.2, warmup_steps=10),
        lambda s: ref_cosine(s, 0.0, 90, 0.1, 0.2, 10),
    ),
    (
        S.CosineDecay(0.05, 90, warmup_target=0.2, warmup_steps=0),
        lambda s: ref_cosine(s, 0.05, 90, 0.0, 0.2, 0),
    ),
    (S.CosineDecayRestarts(0.1, 10, t_mul=1.0), lambda s: ref_restarts(s, 0.1, 10, 1.0)),
    (
        S.CosineDecayRestarts(0.1, 10, t_mul=1.0, m_mul=0.5, alpha=0.1),
        lambda s: ref_restarts(s, 0.1, 10, 1.0, 0.5, 0.1),
    ),
    (S.PowerDecay(0.1, 10), lambda s: ref_power(s, 0.1, 10)),
    (S.PowerDecay(0.3, 20, power=0.5), lambda s: ref_power(s, 0.3, 20, 0.5)),
    (S.StepDecay(0.1), lambda s: ref_step_decay(s, 0.1)),
    (S.StepDecay(0.2, drop=0.9, epochs_drop=4), lambda s: ref_step_decay(s, 0.2, 0.9, 4)),
]


@pytest.mark.parametrize("schedule, reference", CASES, ids=[repr(c[0]) for c in CASES])
def test_closed_form(schedule, reference):
    got = np.array([float(schedule(s)) for s in STEPS])
    want = np.array([reference(s) for s in STEPS])
    # atol covers float32 cancellation in 1 + cos(pi * f) near the end of a cosine period.
    np.testing.assert_allclose(got, want, rtol=3e-6, atol=5e-8)


@pytest.mark.parametrize(
    "schedule",
    [
        S.CosineDecayRestarts(0.1, 10),
        S.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.5, alpha=0.1),
        S.CosineDecayRestarts(0.2, 8, t_mul=3.0, m_mul=0.8),
    ],
)
def test_restarts_geometric_periods(schedule):
    c = schedule.get_config()
    # Avoid the exact restart steps, where the float32 log-ratio may land on either side.
    steps = [0, 1, 5, 9, 11, 20, 29, 31, 50, 69, 71, 100, 149, 151, 300]
    got = np.array([float(schedule(s)) for s in steps])
    want = np.array(
        [
            ref_restarts(
                s,
                c["initial_learning_rate"],
                c["first_decay_steps"],
                c["t_mul"],
                c["m_mul"],
                c["alpha"],
            )
            for s in steps
        ]
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def test_restarts_actually_restart():
    sched = S.CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5)
    assert float(sched(9)) < 0.05
    assert float(sched(11)) == pytest.approx(0.5 * 0.5 * (1 + math.cos(math.pi / 20)), rel=1e-5)
    assert float(sched(31)) == pytest.approx(0.25 * 0.5 * (1 + math.cos(math.pi / 40)), rel=1e-5)


def test_step_decay_is_the_tutorial_drop():
    sched = S.StepDecay(0.1, 0.5, 10.0)
    got = [float(sched(epoch)) for epoch in range(30)]
    want = [0.1] * 9 + [0.05] * 10 + [0.025] * 10 + [0.0125]
    np.testing.assert_allclose(got, want, rtol=1e-7)


def test_per_epoch_flags():
    assert S.StepDecay.per_epoch is True
    for name in S.NAMES:
        if name != "StepDecay":
            assert getattr(S, name).per_epoch is False


def test_legacy_decay_is_inverse_time_decay():
    lr, decay = 0.01, 1e-3
    sched = S.InverseTimeDecay(lr, 1, decay)
    for it in (0, 1, 10, 499):
        assert float(sched(it)) == pytest.approx(lr / (1 + decay * it), rel=1e-6)


@pytest.mark.parametrize(
    "step",
    [5, np.int64(5), np.int32(5), jnp.asarray(5), jnp.asarray(5, jnp.int32), 5.0, jnp.asarray(5.0)],
)
def test_step_types_and_output_dtype(step):
    out = S.ExponentialDecay(0.1, 10, 0.5)(step)
    assert isinstance(out, jax.Array)
    assert out.dtype == jnp.float32 and out.shape == ()
    assert float(out) == pytest.approx(0.1 * 0.5**0.5, rel=1e-6)


# --- purity / tracing contract ---------------------------------------------------------

PAIRS = [
    (S.InverseTimeDecay(0.1, 1, 0.01), S.InverseTimeDecay(0.3, 5, 0.5)),
    (S.InverseTimeDecay(0.1, 4, 0.01, True), S.InverseTimeDecay(0.3, 5, 0.5, True)),
    (S.ExponentialDecay(0.1, 10, 0.9), S.ExponentialDecay(0.02, 3, 0.5)),
    (S.ExponentialDecay(0.1, 10, 0.9, True), S.ExponentialDecay(0.02, 3, 0.5, True)),
    (
        S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]),
        S.PiecewiseConstantDecay([5, 50], [0.3, 0.2, 0.01]),
    ),
    (S.PolynomialDecay(0.1, 100), S.PolynomialDecay(0.5, 20, 0.01, 2.0)),
    (S.PolynomialDecay(0.1, 30, cycle=True), S.PolynomialDecay(0.5, 20, 0.01, 0.5, cycle=True)),
    (S.CosineDecay(0.1, 100), S.CosineDecay(0.2, 40, alpha=0.3)),
    (S.CosineDecay(0.0, 100, 0.1, 0.1, 10), S.CosineDecay(0.01, 40, 0.0, 0.3, 25)),
    (
        S.CosineDecayRestarts(0.1, 10, t_mul=1.0),
        S.CosineDecayRestarts(0.2, 7, t_mul=2.0, m_mul=0.5),
    ),
    (S.PowerDecay(0.1, 10), S.PowerDecay(0.5, 3, 2.0)),
    (S.StepDecay(0.1), S.StepDecay(0.3, 0.8, 3)),
]


def _stack(*trees):
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs]), *trees)


@pytest.mark.parametrize("a, b", PAIRS, ids=[type(p[0]).__name__ for p in PAIRS])
def test_vmap_over_stacked_hparams(a, b):
    assert a.static_config() == b.static_config()
    hash(a.static_config())
    stacked = _stack(a.hyperparams(), b.hyperparams())
    fn = jax.jit(jax.vmap(a.evaluate, in_axes=(None, 0)))
    for step in (0, 3, 12, 40, 250):
        out = fn(jnp.asarray(step), stacked)
        assert out.shape == (2,) and out.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(out), [float(a(step)), float(b(step))], rtol=1e-6)


@pytest.mark.parametrize("a, b", PAIRS, ids=[type(p[0]).__name__ for p in PAIRS])
def test_evaluate_reads_numbers_only_from_hparams(a, b):
    fn = jax.jit(a.evaluate)
    for step in (0, 7, 33):
        assert float(fn(step, b.hyperparams())) == pytest.approx(float(b(step)), rel=1e-6)


def test_vmap_over_steps_and_no_nan_from_discarded_branches():
    sched = S.CosineDecay(0.0, 90, warmup_target=0.2, warmup_steps=0)
    out = jax.vmap(lambda s: sched(s))(jnp.arange(100))
    assert np.all(np.isfinite(np.asarray(out)))
    g = jax.grad(lambda h: sched.evaluate(5, h))(sched.hyperparams())
    assert all(np.isfinite(float(v)) for v in jax.tree.leaves(g))
    restarts = S.CosineDecayRestarts(0.1, 10, t_mul=1.0)
    g = jax.grad(lambda h: restarts.evaluate(15, h))(restarts.hyperparams())
    assert all(np.isfinite(float(v)) for v in jax.tree.leaves(g))


def test_static_config_distinguishes_structure():
    assert (
        S.ExponentialDecay(0.1, 10, 0.9).static_config()
        != S.ExponentialDecay(0.1, 10, 0.9, True).static_config()
    )
    assert (
        S.PolynomialDecay(0.1, 10).static_config()
        != S.PolynomialDecay(0.1, 10, cycle=True).static_config()
    )
    assert (
        S.CosineDecay(0.1, 10).static_config()
        != S.CosineDecay(0.1, 10, warmup_target=0.2).static_config()
    )
    two = S.PiecewiseConstantDecay([1, 2], [3.0, 2.0, 1.0])
    three = S.PiecewiseConstantDecay([1, 2, 3], [3.0, 2.0, 1.0, 0.5])
    assert two.static_config() != three.static_config()
    assert (
        S.InverseTimeDecay(0.1, 1, 0.1).static_config()
        != S.ExponentialDecay(0.1, 1, 0.1).static_config()
    )


def test_hyperparams_are_floats():
    for sched, _ in CASES:
        for value in sched.hyperparams().values():
            if isinstance(value, list):
                assert all(type(v) is float for v in value)
            else:
                assert type(value) is float
    assert "warmup_target" not in S.CosineDecay(0.1, 10).hyperparams()


# --- config and lookup -------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [c[0] for c in CASES], ids=[repr(c[0]) for c in CASES])
def test_config_round_trip(schedule):
    clone = type(schedule).from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    assert float(clone(17)) == float(schedule(17))


def test_from_keras_config_with_name():
    config = {
        "initial_learning_rate": 0.1,
        "decay_steps": 10,
        "decay_rate": 0.5,
        "staircase": False,
        "name": "ExponentialDecay",
    }
    assert float(S.ExponentialDecay.from_config(config)(10)) == pytest.approx(0.05)


def test_get():
    sched = S.PowerDecay(0.1, 10)
    assert S.get(sched) is sched
    from_dict = S.get(
        {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 10}}
    )
    assert isinstance(from_dict, S.CosineDecay) and from_dict.decay_steps == 10
    by_name = S.get("InverseTimeDecay", initial_learning_rate=0.1, decay_steps=1, decay_rate=0.5)
    assert float(by_name(2)) == pytest.approx(0.05)
    assert set(S.NAMES) >= {
        "InverseTimeDecay",
        "ExponentialDecay",
        "PiecewiseConstantDecay",
        "PolynomialDecay",
        "CosineDecay",
        "CosineDecayRestarts",
        "PowerDecay",
        "StepDecay",
    }


def test_get_errors():
    with pytest.raises(ValueError, match="Valid names: .*ExponentialDecay"):
        S.get("exp_decay")
    with pytest.raises(ValueError, match="Valid names"):
        S.get({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="class_name"):
        S.get({"config": {}})
    with pytest.raises(ValueError, match="ExponentialDecay"):
        S.get("ExponentialDecay", initial_learning_rate=0.1)
    with pytest.raises(ValueError, match="PowerDecay"):
        S.PowerDecay.from_config({"initial_learning_rate": 0.1, "decay_steps": 1, "bogus": 2})
    with pytest.raises(ValueError):
        S.get(0.1)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: S.ExponentialDecay(-0.1, 10, 0.9), "initial_learning_rate=-0.1"),
        (lambda: S.ExponentialDecay(0.1, 0, 0.9), "decay_steps=0"),
        (lambda: S.ExponentialDecay(0.1, -5, 0.9), "decay_steps=-5"),
        (lambda: S.ExponentialDecay(0.1, 10, -0.9), "decay_rate=-0.9"),
        (lambda: S.InverseTimeDecay(0.1, 0, 0.5), "decay_steps=0"),
        (lambda: S.InverseTimeDecay(0.1, 1, -0.5), "decay_rate=-0.5"),
        (lambda: S.InverseTimeDecay(float("nan"), 1, 0.5), "initial_learning_rate=nan"),
        (lambda: S.InverseTimeDecay("0.1", 1, 0.5), "initial_learning_rate='0.1'"),
        (lambda: S.PiecewiseConstantDecay([10, 5], [1.0, 0.5, 0.1]), "boundaries=\\[10, 5\\]"),
        (lambda: S.PiecewiseConstantDecay([10, 10], [1.0, 0.5, 0.1]), "increasing"),
        (lambda: S.PiecewiseConstantDecay([10], [1.0, 0.5, 0.1]), "length"),
        (lambda: S.PiecewiseConstantDecay([], [1.0]), "boundaries"),
        (lambda: S.PiecewiseConstantDecay([10], [1.0, -0.5]), "values\\[1\\]=-0.5"),
        (lambda: S.PolynomialDecay(0.1, 0), "decay_steps=0"),
        (lambda: S.PolynomialDecay(0.1, 10, end_learning_rate=-1.0), "end_learning_rate=-1.0"),
        (lambda: S.PolynomialDecay(0.1, 10, power=-1.0), "power=-1.0"),
        (lambda: S.CosineDecay(0.1, 0), "decay_steps=0"),
        (lambda: S.CosineDecay(0.1, 10, alpha=1.5), "alpha=1.5"),
        (lambda: S.CosineDecay(0.1, 10, warmup_target=-0.2), "warmup_target=-0.2"),
        (lambda: S.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1), "warmup_steps=-1"),
        (lambda: S.CosineDecayRestarts(0.1, 0), "first_decay_steps=0"),
        (lambda: S.CosineDecayRestarts(0.1, 10, t_mul=0.0), "t_mul=0.0"),
        (lambda: S.CosineDecayRestarts(0.1, 10, m_mul=-1.0), "m_mul=-1.0"),
        (lambda: S.PowerDecay(0.1, 0), "decay_steps=0"),
        (lambda: S.PowerDecay(0.1, 10, power=-2.0), "power=-2.0"),
        (lambda: S.StepDecay(0.1, drop=0.0), "drop=0.0"),
        (lambda: S.StepDecay(0.1, epochs_drop=0), "epochs_drop=0"),
    ],
)
def test_validation_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()
