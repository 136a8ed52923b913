"""The gradient noise scale against independent oracles: per-example gradients from vmap
against a loop of jax.grad, linear regression's tr(Σ) and |G|² from its closed-form
per-example gradients in numpy, the two-batch estimator's expectation by simulation, and
``hyperlab noise-scale`` end to end."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import hyperlab as hl
from hyperlab.cli.main import main
from hyperlab.science.noise import (batch_norms, noise_scale, per_example_gradients,
                                    two_batch_estimate)


def test_per_example_gradients_equal_a_loop_of_grad():
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
              "b": jnp.asarray(rng.normal(size=4), jnp.float32)}
    x = jnp.asarray(rng.normal(size=(7, 3)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(7, 4)), jnp.float32)

    def loss(p, xi, yi):
        return jnp.sum((jnp.tanh(xi @ p["w"] + p["b"]) - yi) ** 2)

    got = np.asarray(per_example_gradients(loss, params, x, y))
    looped = np.stack([np.asarray(ravel_pytree(jax.grad(loss)(params, x[i], y[i]))[0])
                       for i in range(len(x))])
    assert got.shape == (7, 16)
    np.testing.assert_allclose(got, looped, rtol=1e-5, atol=1e-6)


def _linear_regression(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 + rng.normal(scale=0.5, size=n)).astype(np.float32)
    model = hl.Sequential([hl.layers.Input((3,)), hl.layers.Dense(1)], seed=seed)
    model.compile(optimizer=hl.optimizers.SGD(0.01), loss="mse")
    return model, x, y


def test_linear_regression_against_its_closed_form():
    """loss_i = (x_i·w + b - y_i)²: g_i = 2 r_i (x_i, 1); tr(Σ) is the sum of the unbiased
    per-coordinate variances of g_i, E|ḡ|² = |G|² + tr(Σ)/n."""
    model, x, y = _linear_regression()
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_weights())
    r = x @ kernel[:, 0] + bias[0] - y
    g = 2 * r[:, None] * np.hstack([x, np.ones((len(x), 1))])
    trace = g.var(axis=0, ddof=1).sum()
    mean_sq = np.sum(g.mean(axis=0) ** 2)
    found = noise_scale(model, x, y[:, None], probe=len(x))
    assert (found.probe, found.b_small, found.b_big) == (40, 1, 40)
    assert found.trace == pytest.approx(trace, rel=1e-4)
    assert found.gradient_sq == pytest.approx(mean_sq - trace / len(x), rel=1e-4)
    assert found.b_simple == pytest.approx(trace / (mean_sq - trace / len(x)), rel=1e-3)
    assert found.plugin == pytest.approx(trace / mean_sq, rel=1e-3)
    assert found.plugin < found.b_simple   # the plug-in |ḡ|² overestimates |G|²


def test_the_probe_is_a_seeded_draw_without_replacement():
    model, x, y = _linear_regression(n=60)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_weights())
    pick = np.sort(np.random.default_rng(5).choice(60, 24, replace=False))
    r = x[pick] @ kernel[:, 0] + bias[0] - y[pick]
    g = 2 * r[:, None] * np.hstack([x[pick], np.ones((24, 1))])
    found = noise_scale(model, x, y[:, None], probe=24, b_small=1, b_big=24, seed=5)
    assert found.trace == pytest.approx(g.var(axis=0, ddof=1).sum(), rel=1e-4)


def test_the_two_batch_estimates_are_unbiased_by_simulation():
    """Per-example gradients drawn from N(G, diag(σ²)): over many probes, the mean of the
    two-batch estimates is |G|² and tr(Σ) = Σσ² (within 4 standard errors), while the
    plug-in |G_big|² sits tr(Σ)/B_big above |G|²."""
    rng = np.random.default_rng(1)
    mean, sd = np.array([1.0, -0.5, 0.2, 0.0]), np.array([1.0, 2.0, 0.5, 1.5])
    true_sq, true_trace = float(mean @ mean), float(sd @ sd)
    b_small, b_big, draws = 4, 32, 3000
    results = []
    for _ in range(draws):
        small_sq, big_sq = batch_norms(mean + sd * rng.normal(size=(64, 4)), b_small, b_big)
        results.append((*two_batch_estimate(small_sq, big_sq, b_small, b_big), big_sq))
    sq, trace, plug = np.array(results).T
    for values, truth in ((sq, true_sq), (trace, true_trace),
                          (plug, true_sq + true_trace / b_big)):
        assert abs(values.mean() - truth) < 4 * values.std(ddof=1) / np.sqrt(draws)
    assert plug.mean() - true_sq > 10 * plug.std(ddof=1) / np.sqrt(draws)


@pytest.mark.parametrize("kwargs, message", [
    ({"b_small": 0}, "b_small must be an int >= 1"),
    ({"b_small": 8, "b_big": 12}, "multiple of b_small"),
    ({"b_small": 4, "b_big": 4}, "b_big must be an int > b_small"),
    ({"probe": 10, "b_big": 20}, "at most the probe"),
])
def test_bad_batch_sizes_are_named(kwargs, message):
    model, x, y = _linear_regression()
    with pytest.raises(ValueError, match=message):
        noise_scale(model, x, y[:, None], **kwargs)


def test_noise_scale_cli_end_to_end(tmp_path, capsys):
    """blobs, 2 seeds, 2 epochs: the JSON holds every seed's measurement at epochs 0..2,
    B_simple = tr(Σ)/|G|², medians over the seeds, and the figure files."""
    argv = ["noise-scale", "--seeds", "2", "--epochs", "2", "--probe", "200", "--out",
            str(tmp_path), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == [0, 1] and out["epochs"] == [0, 1, 2] and out["batch_size"] == 32
    assert (out["probe"], out["b_small"], out["b_big"]) == (200, 1, 200)
    b, trace, sq = (np.array(out[k], dtype=float) for k in ("b_simple", "trace", "gradient_sq"))
    assert b.shape == (2, 3) and np.all(trace > 0)
    ok = sq > 0
    np.testing.assert_allclose(b[ok], trace[ok] / sq[ok], rtol=1e-9)
    medians = [m["estimate"] for m in out["median"]]
    np.testing.assert_allclose(medians, np.nanmedian(b, axis=0), rtol=1e-9)
    folder = tmp_path / "noise-scale"
    for name in ("noise-scale.png", "noise-scale.svg", "noise-scale.json"):
        assert (folder / name).stat().st_size > 0
    assert json.loads((folder / "noise-scale.json").read_text())["b_simple"] == out["b_simple"]
    assert "batch size 32" in out["answer"]


@pytest.mark.parametrize("argv, words", [
    (["--b-small", "2", "--b-big", "3"], "--b-big 3"),
    (["--seeds", "0"], "--seeds must be"),
    (["--lr", "-1"], "--lr must be > 0"),
    (["--dataset", "nope"], "--dataset nope"),
])
def test_noise_scale_cli_bad_input_is_one_line(argv, words, tmp_path, capsys):
    assert main(["noise-scale", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hyperlab: error: ") and words in err


def test_the_cli_defaults_are_the_librarys():
    from hyperlab.cli import science as cli_science
    from hyperlab.science import epochs, noise
    assert (cli_science.NOISE_SEEDS, cli_science.NOISE_EPOCHS, cli_science.PROBE) == (
        noise.SEEDS, noise.EPOCHS, noise.PROBE)
    assert (cli_science.EPOCHS_SEEDS, cli_science.EPOCHS_BUDGET) == (epochs.SEEDS,
                                                                      epochs.EPOCHS)
