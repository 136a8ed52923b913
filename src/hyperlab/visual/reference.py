"""Reference figures: activation functions with their derivatives, and learning-rate
schedules (given as ``Name(arg=value, ...)`` specs, or read from a study's stored runs).

    import hyperlab.visual.reference as ref
    ref.activations_figure().savefig("activations.png")
    curves = ref.schedule_curves(["StepDecay(initial_learning_rate=0.1, drop=0.5, epochs_drop=10)",
                                  "PowerDecay(initial_learning_rate=0.1, decay_steps=100)"],
                                 epochs=100, steps_per_epoch=16)
    ref.schedule_figure(curves).savefig("schedules.png")

Derivatives come from ``jax.vmap(jax.grad(f))`` of hyperlab's own activations (so they are
what backpropagation uses, e.g. relu'(0) = 0). Schedules are evaluated as training uses
them: a per-epoch schedule (StepDecay) through ``LearningRateScheduler``'s table, one rate per
epoch; a per-update schedule at every optimizer update, drawn at ``update / steps_per_epoch``
epochs (so epoch e starts at the rate of its first update, as ``history["learning_rate"]``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.visual import _util

__all__ = ["ACTIVATIONS", "activation_curves", "activations_figure", "parse_schedule",
           "schedule_curves", "study_curves", "schedule_figure", "SUFFIXES"]

ACTIVATIONS = ("linear", "sigmoid", "tanh", "softplus", "relu", "leaky_relu", "elu", "selu")
SUFFIXES = (".png", ".svg", ".pdf")


# ---------------------------------------------------------------------------- activations
def activation_curves(names: Sequence[str] = ACTIVATIONS, x: Any = None
                      ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{name: (x, f(x), f'(x))}`` with f from ``hyperlab.activations`` and f' its
    ``jax.grad``, evaluated elementwise (float32) on ``x`` (default 401 points in [-5, 5])."""
    from hyperlab.engine import activations
    xs = np.linspace(-5.0, 5.0, 401) if x is None else np.asarray(x, np.float64).ravel()
    xj = jnp.asarray(xs, jnp.float32)
    out = {}
    for name in names:
        try:
            fn = activations.get(name)
        except ValueError as err:
            raise ValueError(f"--activation: {err}") from None
        if fn is activations.softmax:
            raise ValueError("--activation: softmax is not elementwise; it has no curve")
        scalar = lambda t, fn=fn: jnp.reshape(fn(jnp.reshape(t, (1,))), ())  # noqa: E731
        y = np.asarray(jax.vmap(scalar)(xj), np.float64)
        dy = np.asarray(jax.vmap(jax.grad(scalar))(xj), np.float64)
        out[name] = (xs, y, dy)
    return out


def activations_figure(names: Sequence[str] = ACTIVATIONS, x_range: tuple[float, float] = (-5, 5),
                       ncols: int = 4):
    """A grid of small panels: each activation (solid) and its derivative (dashed)."""
    plt = _util.pyplot()
    lo, hi = float(x_range[0]), float(x_range[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"--range needs LOW < HIGH, got {lo:g} {hi:g}")
    curves = activation_curves(names, np.linspace(lo, hi, 401))
    n = len(curves)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.6 * nrows),
                             layout="constrained", squeeze=False)
    for ax, (name, (x, y, dy)) in zip(axes.ravel(), curves.items()):
        ax.axhline(0, color="0.7", linewidth=0.8)
        ax.axvline(0, color="0.7", linewidth=0.8)
        ax.plot(x, y, color="tab:blue", linewidth=1.8, label="f(x)")
        ax.plot(x, dy, "--", color="tab:orange", linewidth=1.5, label="f′(x)")
        ax.set_title(name, fontsize=10)
        ax.set_xlim(lo, hi)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Activation functions (solid) and their derivatives (dashed)", fontsize=11)
    return fig


# ---------------------------------------------------------------------------- schedules
def parse_schedule(spec: Any):
    """A schedule from an instance or ``"Name(key=value, ...)"`` (literal values only)."""
    from hyperlab.engine import schedules
    if isinstance(spec, schedules.LearningRateSchedule):
        return spec, _util.format_call(type(spec).__name__, spec.get_config())
    name, args, kwargs = _util.parse_call(spec, "--schedule")
    if args:
        raise ValueError(f"--schedule: {name}(...) takes keyword arguments only, e.g. "
                         f"{name}(initial_learning_rate=0.1, ...)")
    try:
        sched = schedules.get(name, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--schedule: {err}") from None
    return sched, f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def schedule_curves(specs: Sequence[Any], epochs: int = 100,
                    steps_per_epoch: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{label: (epoch, learning_rate)}`` for each schedule spec over ``epochs`` epochs.

    Per-epoch schedules give one rate per epoch (x = 0 .. epochs-1); per-update schedules
    need ``steps_per_epoch`` and give the rate of every update (x = update / steps_per_epoch).
    """
    from hyperlab.engine.callbacks import LearningRateScheduler
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"--epochs must be an integer >= 1, got {epochs!r}")
    if steps_per_epoch is not None and (isinstance(steps_per_epoch, bool) or not isinstance(
            steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1):
        raise ValueError(f"--steps-per-epoch must be an integer >= 1, got {steps_per_epoch!r}")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for spec in specs:
        sched, label = parse_schedule(spec)
        if sched.per_epoch:
            rates = LearningRateScheduler(sched).table(int(epochs), 0.0)
            x = np.arange(epochs, dtype=np.float64)
        else:
            if steps_per_epoch is None:
                raise ValueError(f"--schedule {type(sched).__name__} counts optimizer updates, "
                                 "not epochs: give --steps-per-epoch N (e.g. 16 for 500 samples "
                                 "in batches of 32)")
            steps = np.arange(epochs * steps_per_epoch)
            rates = jax.vmap(sched)(jnp.asarray(steps, jnp.int32))
            x = steps / float(steps_per_epoch)
        if label in out:
            label = f"{label} #{sum(k.startswith(label) for k in out) + 1}"
        out[label] = (x, np.asarray(rates, np.float64))
    return out


def study_curves(db: str | Path, study: str, repeats: int | None = None
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{value label: (epoch, learning_rate of each stored run)}`` of a study's stored runs
    (a built-in study name or a study file, planned as ``hyperlab show`` plans it; the
    rates are (runs, epochs), NaN-padded). Raises ValueError when nothing is stored."""
    from hyperlab import studies
    from hyperlab.studies.executors import stored_results
    from hyperlab.studies.store import Store
    path = Path(db)
    if not path.is_file():
        raise ValueError(f"--db {path}: no such results store; run 'hyperlab run {study} "
                         f"--db {path}' first")
    spec = studies.get(study).with_overrides(repeats=repeats)
    with Store(path) as store:
        results, stored = stored_results(spec, store)
    if not stored:
        raise ValueError(f"--db {path}: no stored runs of study {spec.name!r} (with these "
                         f"repeats and settings); run 'hyperlab run {study} --db {path}' first")
    out = {}
    for value in results.values:
        if not value.runs:
            continue
        rates = value.curves("learning_rate")
        if rates.size == 0:
            continue
        label = f"{spec.name}: {results.axis} = {value.label}"
        out[label] = (np.arange(rates.shape[1], dtype=np.float64), rates)
    if not out:
        raise ValueError(f"--db {path}: the stored runs of {spec.name!r} have no learning-rate "
                         "history")
    return out


def schedule_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], *,
                    logy: bool | None = None, title: str = "Learning-rate schedules",
                    xlabel: str = "epoch"):
    """Learning rate against epochs, one line per label; 2-D rates (runs, epochs) are drawn
    as their mean with a min-max band. ``logy=None``: log scale when the rates span more
    than a decade."""
    plt = _util.pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    colors = plt.get_cmap("tab10")
    positive = []
    for k, (label, (x, y)) in enumerate(curves.items()):
        y = np.asarray(y, np.float64)
        color = colors(k % 10)
        if y.ndim == 2:
            with np.errstate(all="ignore"):
                mean = np.nanmean(np.where(np.isfinite(y), y, np.nan), axis=0)
                lo, hi = np.nanmin(y, axis=0), np.nanmax(y, axis=0)
            n = np.isfinite(y).sum(axis=0).max()
            ax.plot(x, mean, color=color, linewidth=1.6, drawstyle="steps-post",
                    label=f"{label} (n={n})")
            if y.shape[0] > 1 and np.any(hi > lo):
                ax.fill_between(x, lo, hi, color=color, alpha=0.2, step="post", linewidth=0)
            values = y
        else:
            ax.plot(x, y, color=color, linewidth=1.6, drawstyle="steps-post", label=label)
            values = y
        positive.append(values[np.isfinite(values) & (values > 0)])
    vals = np.concatenate(positive) if positive else np.empty(0)
    if logy or (logy is None and vals.size and vals.max() / vals.min() > 10):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    return fig


def save_figure(fig, out: str | Path) -> Path:
    """Save ``fig`` to ``out`` (.png, .svg or .pdf; no creation date, so files repeat) and
    close it."""
    return _util.save_figure(fig, _util.check_output(out, SUFFIXES))
