"""The gradient noise scale: B_simple = tr(Σ)/|G|² (McCandlish et al. 2018, "An Empirical
Model of Large-Batch Training", §2.2 and appendix A), where G is the true (expected)
gradient of the training loss and Σ the covariance of the per-example gradients. Training
with a batch much smaller than the noise scale is, by the paper's rule of thumb, in the
regime where a larger batch cuts the steps needed almost in proportion ("perfect
scaling"); much larger, in the regime of diminishing returns.

Both quantities come from per-example gradients (``jax.vmap`` of ``jax.grad``) on a probe
drawn from the training set. The plug-in |ḡ|² of a probe's mean gradient is biased:
E|G_B|² = |G|² + tr(Σ)/B for the mean gradient of B examples, so it overestimates |G|²
and the plug-in noise scale underestimates B_simple, by a relative bias of about
B_simple/B. The paper's appendix A.1 gives unbiased estimates from the squared norms of
mean gradients at two batch sizes B_small < B_big::

    |G|²   ≈ (B_big |G_big|² - B_small |G_small|²) / (B_big - B_small)
    tr(Σ)  ≈ (|G_small|² - |G_big|²) / (1/B_small - 1/B_big)

(each |G_b|² averaged over the disjoint groups of b examples in the probe). That is the
main estimate here. With B_small = 1 and B_big = the probe size n, tr(Σ) is the sum over
the parameters of the per-coordinate unbiased (n - 1) sample variance, and |G|² is
|ḡ|² - tr(Σ)/n. B_simple is their ratio: a ratio of unbiased estimates, consistent but
itself not unbiased; when the noise swamps the probe the |G|² estimate can be <= 0, and
B_simple is then reported as not finite (a larger probe measures it).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from hyperlab.science._text import columns
from hyperlab.science.segments import epochs_to_measure, train_in_segments
from hyperlab.science.sharpness import model_loss
from hyperlab.stats import Estimate, estimate
from hyperlab.stats import jsonable

__all__ = ["NoiseScale", "NoiseScaleCurve", "PROBE", "SEEDS", "EPOCHS", "per_example_gradients",
           "batch_norms", "two_batch_estimate", "noise_scale", "noise_scale_curve"]

PROBE = 1024   # examples of the probe, drawn from the training set (all of it if fewer)
SEEDS, EPOCHS = 5, 10


@dataclass(frozen=True)
class NoiseScale:
    """The simple noise scale of a model at its current weights (``epoch``: epochs trained,
    None if not known): ``b_simple = trace / gradient_sq`` from the two-batch unbiased
    estimates, and ``plugin = trace / |ḡ|²`` with the biased plug-in denominator."""

    b_simple: float
    trace: float
    gradient_sq: float
    plugin: float
    probe: int
    b_small: int
    b_big: int
    epoch: int | None = None


def per_example_gradients(loss: Callable[[Any, Any, Any], jax.Array], params: Any, x: Any,
                          y: Any) -> jax.Array:
    """The gradient of ``loss(params, x_i, y_i)`` for every example i, flattened: an array
    (examples, parameters), by ``jax.vmap`` of ``jax.grad`` over the examples."""
    def one(xi, yi):
        return ravel_pytree(jax.grad(loss)(params, xi, yi))[0]
    return jax.vmap(one)(x, y)


def batch_norms(grads: Any, b_small: int, b_big: int) -> tuple[float, float]:
    """|G_small|² and |G_big|²: the squared norm of the mean gradient of each disjoint group
    of ``b_small`` (``b_big``) consecutive rows of ``grads`` (examples × parameters),
    averaged over the groups; rows beyond the last whole group are left out."""
    g = np.asarray(grads, dtype=np.float64)

    def mean_sq(b: int) -> float:
        groups = len(g) // b
        means = g[:groups * b].reshape(groups, b, -1).mean(axis=1)
        return float(np.mean(np.sum(means ** 2, axis=1)))

    return mean_sq(b_small), mean_sq(b_big)


def two_batch_estimate(small_sq: float, big_sq: float, b_small: int, b_big: int
                       ) -> tuple[float, float]:
    """McCandlish et al.'s unbiased (|G|², tr(Σ)) from E|G_b|² = |G|² + tr(Σ)/b at the two
    batch sizes ``b_small`` < ``b_big``."""
    gradient_sq = (b_big * big_sq - b_small * small_sq) / (b_big - b_small)
    trace = (small_sq - big_sq) / (1 / b_small - 1 / b_big)
    return gradient_sq, trace


def _check_sizes(probe: int, b_small: int, b_big: int | None, n: int) -> tuple[int, int, int]:
    """The probe's size (``probe``, at most the ``n`` examples), ``b_small`` and ``b_big``
    (default: the probe rounded down to a multiple of ``b_small``); a ValueError naming
    the fix unless 1 <= b_small < b_big <= the probe and b_small divides b_big."""
    for name, value in (("probe", probe), ("b_small", b_small)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    size = min(probe, n)
    big = size // b_small * b_small if b_big is None else b_big
    if isinstance(big, bool) or not isinstance(big, int) or big <= b_small:
        raise ValueError(f"b_big must be an int > b_small = {b_small}, got {big!r} (with "
                         f"a probe of {size}: use a larger probe or a smaller b_small)")
    if big % b_small or big > size:
        raise ValueError(f"b_big ({big}) must be a multiple of b_small ({b_small}) and at "
                         f"most the probe ({size} examples)")
    return size, b_small, big


def noise_scale(model, x: Any, y: Any, *, probe: int = PROBE, b_small: int = 1,
                b_big: int | None = None, seed: int = 0) -> NoiseScale:
    """The simple noise scale of a compiled, built model's training loss at its current
    weights, from per-example gradients with respect to its trainable weights on ``probe``
    examples of ``x``, ``y`` drawn without replacement (``seed``; all of them, in order,
    if there are not more), in inference mode (dropout off, batch normalization with its
    moving statistics; regularization adds to G, not to Σ). ``b_small``, ``b_big``
    (default: the probe, rounded down to a multiple of ``b_small``) are the two batch
    sizes of the unbiased estimate."""
    if getattr(model, "loss", None) is None or not model.built:
        raise ValueError("noise_scale needs a built, compiled model (call compile and fit "
                         "first)")
    xs, ys = np.asarray(x), np.asarray(y)
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"x and y must hold the same number (>= 2) of samples, got "
                         f"{len(xs)} and {len(ys)}")
    size, b_small, b_big = _check_sizes(probe, b_small, b_big, len(xs))
    if size < len(xs):
        pick = np.sort(np.random.default_rng(seed).choice(len(xs), size, replace=False))
        xs, ys = xs[pick], ys[pick]
    dtype = jnp.int32 if model.loss == "sparse_categorical_crossentropy" else jnp.float32

    def loss(trained, xi, yi):
        return model_loss(model, xi[None], yi[None])(trained)

    grads = jax.jit(per_example_gradients, static_argnums=0)(
        loss, model.trainable_view(model.params), jnp.asarray(xs, jnp.float32),
        jnp.asarray(ys, dtype))
    small_sq, big_sq = batch_norms(grads, b_small, b_big)
    gradient_sq, trace = two_batch_estimate(small_sq, big_sq, b_small, b_big)
    plugin_sq = float(np.sum(np.asarray(grads, np.float64).mean(axis=0) ** 2))
    ratio = trace / gradient_sq if gradient_sq > 0 else math.nan
    return NoiseScale(ratio, trace, gradient_sq,
                      trace / plugin_sq if plugin_sq > 0 else math.nan, len(xs), b_small, b_big)


@dataclass
class NoiseScaleCurve:
    """The noise scale of every seed (rows) at every measured epoch (columns), with the
    median over the seeds and its bootstrap interval per epoch."""

    config: dict[str, Any]
    seeds: list[int]
    epochs: list[int]
    batch_size: int
    points: list[list[NoiseScale]]
    level: float = 0.95
    median: list[Estimate] = field(init=False)

    def __post_init__(self) -> None:
        self.median = [estimate(column, self.level, method="bootstrap", statistic="median")
                       for column in self.b_simple.T]

    @property
    def b_simple(self) -> np.ndarray:
        """B_simple, seeds × epochs (NaN where the |G|² estimate was <= 0)."""
        return np.array([[p.b_simple for p in row] for row in self.points])

    def setup(self) -> str:
        """The trained configuration in a few words."""
        c = self.config
        hidden = "-".join(str(h) for h in c["model"]["hidden"]) or "no"
        opt = c["compile"]["optimizer"]
        rate = opt.get("learning_rate")
        rate = f"rate {rate:g}" if isinstance(rate, (int, float)) else "scheduled rate"
        momentum = f", momentum {opt['momentum']:g}" if opt.get("momentum") else ""
        return (f"{c['data']['name']}, {hidden} hidden {c['model']['activation']}, "
                f"{opt['name']} ({rate}{momentum}), batch "
                f"{self.batch_size}")

    def answer(self) -> str:
        """The findings in one paragraph, claiming no more than the data show."""
        n, first, last = len(self.seeds), self.median[0], self.median[-1]
        p = self.points[0][0]
        sizes = f"B_small {p.b_small}, B_big {p.b_big}, probe {p.probe}"
        parts = [f"{self.setup()}; the simple noise scale B_simple = tr(Σ)/|G|² from per-"
                 f"example gradients ({sizes}; McCandlish et al.'s unbiased two-batch "
                 f"estimates) at epochs {self.epochs[0]} to {self.epochs[-1]}, n = {n} "
                 f"seeds."]

        def says(e: Estimate, epoch: int) -> str:
            if not math.isfinite(e.estimate):
                return f"not measurable at epoch {epoch} (|G|² estimate <= 0 for every seed)"
            ci = (f", {e.level:.0%} bootstrap CI {e.low:.3g} to {e.high:.3g}"
                  if math.isfinite(e.low) else "")
            return f"{e.estimate:.3g} at epoch {epoch}{ci}"

        parts.append(f"Median B_simple: {says(first, self.epochs[0])}; "
                     f"{says(last, self.epochs[-1])}.")
        lost = int(np.sum(~np.isfinite(self.b_simple)))
        if lost:
            parts.append(f"{lost} of {self.b_simple.size} measurements had a |G|² estimate "
                         f"<= 0 (noise swamps the probe) and are left out.")
        if math.isfinite(last.estimate):
            b = self.batch_size
            ratio = b / last.estimate
            if math.isfinite(last.low) and last.low > b:
                where = ("below the whole interval: by the paper's rule of thumb (B << "
                         "B_noise), a larger batch would still cut the steps needed nearly "
                         "in proportion")
            elif math.isfinite(last.high) and last.high < b:
                where = ("above the whole interval: by the paper's rule of thumb (B >> "
                         "B_noise), returns from a larger batch diminish")
            else:
                where = "not clearly on either side of it"
            parts.append(f"The batch size {b} is {ratio:.2g} × the final median, {where}. "
                         f"B_simple equals the critical batch size only when the Hessian is "
                         f"a multiple of the identity; it is a rough guide to it.")
        if n < 10:
            parts.append(f"With {n} seeds the bootstrap interval of the median tends to be "
                         f"too narrow.")
        return " ".join(parts)

    def table(self) -> str:
        """Per epoch: the median B_simple with its interval, then every seed's value."""
        rows = [("epoch", "median B_simple (CI)", *(f"seed {s}" for s in self.seeds))]
        for epoch, m, column in zip(self.epochs, self.median, self.b_simple.T):
            ci = f" ({m.low:.3g}-{m.high:.3g})" if math.isfinite(m.low) else ""
            rows.append((str(epoch), f"{m.estimate:.3g}{ci}" if math.isfinite(m.estimate)
                         else "-", *(f"{v:.3g}" if math.isfinite(v) else "-" for v in column)))
        return columns(rows)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON types: setup, per-seed measurements, medians, the answer."""
        keys = ("b_simple", "trace", "gradient_sq", "plugin")
        return jsonable({
            "setup": self.setup(), "config": self.config, "seeds": self.seeds,
            "epochs": self.epochs, "batch_size": self.batch_size,
            "probe": self.points[0][0].probe, "b_small": self.points[0][0].b_small,
            "b_big": self.points[0][0].b_big, "estimator": "two-batch unbiased "
            "(McCandlish et al. 2018, appendix A.1)",
            **{k: [[getattr(p, k) for p in row] for row in self.points] for k in keys},
            "median": [{"epoch": e, "estimate": m.estimate, "low": m.low, "high": m.high,
                        "n": m.n, "level": m.level} for e, m in zip(self.epochs, self.median)],
            "answer": self.answer()})


def noise_scale_curve(config: dict[str, Any] | None = None, *, seeds: int = SEEDS,
                      epochs: int | Sequence[int] = EPOCHS, probe: int = PROBE,
                      b_small: int = 1, b_big: int | None = None, level: float = 0.95
                      ) -> NoiseScaleCurve:
    """Train the model ``config`` describes (the sections ``data``, ``model``, ``compile``,
    ``fit`` of a study file; default: the tutorial's blobs MLP with SGD) once per seed
    0 .. ``seeds``-1 with ``fit`` in segments, and measure its :func:`noise_scale` on the
    training set at each epoch 0 .. ``epochs`` (or at the listed epochs). Seed s is the
    seed of the initial weights, the shuffling and the probe."""
    from hyperlab.data import datasets
    from hyperlab.engine.model import Sequential
    from hyperlab.studies import build, from_dict
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    if isinstance(epochs, int) and not isinstance(epochs, bool):
        if epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
        epochs = range(epochs + 1)
    wanted = epochs_to_measure(epochs)
    base = copy.deepcopy(config or {})
    if base.get("fit", {}).get("callbacks"):
        raise ValueError("fit.callbacks: the noise-scale curve trains without callbacks; "
                         "remove them")
    resolved = from_dict({**base, "name": "noise-scale", "axis": "run", "repeats": seeds},
                         source="noise-scale").variants()[0].config
    ds = datasets.get(**resolved["data"])
    sparse = resolved["compile"]["loss"] == "sparse_categorical_crossentropy"
    y = ds.y_train if sparse else datasets.to_categorical(ds.y_train, ds.n_classes)
    _check_sizes(probe, b_small, b_big, len(y))
    batch = build.batch_size(resolved["fit"]["batch_size"], len(y))
    points = []
    for seed in range(seeds):
        model = Sequential(build.build_layers(resolved, tuple(ds.x_train.shape[1:]),
                                              ds.n_classes), seed=seed)
        model.compile(build.build_optimizer(resolved), resolved["compile"]["loss"])
        row = []
        for epoch in train_in_segments(model, ds.x_train, y, wanted, batch_size=batch,
                                       shuffle=resolved["fit"].get("shuffle", True),
                                       callbacks=build.build_callbacks(resolved), seed=seed):
            found = noise_scale(model, ds.x_train, y, probe=probe, b_small=b_small,
                                b_big=b_big, seed=seed)
            row.append(NoiseScale(found.b_simple, found.trace, found.gradient_sq,
                                  found.plugin, found.probe, found.b_small, found.b_big,
                                  epoch))
        points.append(row)
    out = {k: resolved[k] for k in ("data", "model", "compile", "fit")}
    out["fit"] = {k: v for k, v in out["fit"].items() if k != "epochs"}
    return NoiseScaleCurve(out, list(range(seeds)), wanted, batch, points, level)
