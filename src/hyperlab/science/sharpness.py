"""Sharpness: the top eigenvalue of the Hessian of the training loss, by power iteration on
Hessian-vector products (``jax.jvp`` of ``jax.grad``: the Hessian itself is never formed).

Gradient descent with rate η on a quadratic is stable only while every Hessian eigenvalue
is below 2/η (heavy-ball momentum β: (2 + 2β)/η); Cohen et al. (2021, "Gradient descent
on neural networks typically occurs at the edge of stability") found full-batch training
drives the top eigenvalue up to that threshold and holds it there. :func:`sharpness`
measures it for a model on a fixed probe batch; :func:`sharpness_curve` at chosen epochs
of a training run.

Power iteration converges to the eigenvalue of largest magnitude; when that one is
negative (a saddle), it is run again on the Hessian shifted by it, whose top eigenvalue
is then the largest of all.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from hyperlab.engine import losses
from hyperlab.science.segments import train_in_segments

__all__ = ["Eigen", "Sharpness", "top_eigenvalue", "model_loss", "sharpness", "sharpness_curve",
           "stability_threshold", "PROBE", "ITERATIONS", "TOLERANCE"]

PROBE = 1024          # samples of the probe batch: the first ones of the training data
ITERATIONS = 200      # most power iterations
TOLERANCE = 1e-5      # relative change of the estimate that ends the iteration


@dataclass(frozen=True)
class Eigen:
    """An eigenvalue found by power iteration: how many iterations, whether it converged."""

    value: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class Sharpness:
    """The top Hessian eigenvalue of the loss on ``probe`` samples, and at which epoch (the
    number of epochs trained; None if not known) with which learning rate."""

    eigenvalue: float
    iterations: int
    converged: bool
    probe: int
    epoch: int | None = None
    learning_rate: float | None = None


def _power(hvp: Callable[[jax.Array], jax.Array], v: jax.Array, shift: jax.Array,
           iterations: int, tol: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Power iteration on ``hvp(v) - shift · v`` from ``v`` until the Rayleigh quotient
    changes by at most ``tol`` relative, or ``iterations``: (its eigenvalue of largest
    magnitude plus ``shift``, the iterations run, whether it converged)."""
    def step(carry):
        i, v, value, _ = carry
        hv = hvp(v) - shift * v
        new = jnp.vdot(v, hv)
        norm = jnp.linalg.norm(hv)
        stop = (jnp.abs(new - value) <= tol * jnp.abs(new)) | (norm == 0) | ~jnp.isfinite(norm)
        return i + 1, jnp.where(norm > 0, hv / norm, v), new, stop

    def going(carry):
        i, _, _, stop = carry
        return (i < iterations) & ~stop

    start = (jnp.int32(0), v / jnp.linalg.norm(v), jnp.asarray(jnp.nan, v.dtype), jnp.bool_(False))
    i, _, value, stop = jax.lax.while_loop(going, step, start)
    return value + shift, i, stop & jnp.isfinite(value)


def top_eigenvalue(loss: Callable[[Any], jax.Array], params: Any, *,
                   iterations: int = ITERATIONS, tol: float = TOLERANCE, seed: int = 0) -> Eigen:
    """The largest eigenvalue of the Hessian of ``loss`` (a scalar function of the pytree
    ``params``) at ``params``, by power iteration from a random start (``seed``)."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be strictly between 0 and 1, got {tol!r}")
    flat, unravel = ravel_pytree(params)
    if flat.size == 0:
        raise ValueError("the loss has no parameters to differentiate")
    grad = jax.grad(lambda w: loss(unravel(w)))
    hvp = lambda v: jax.jvp(grad, (flat,), (v,))[1]  # noqa: E731
    power = jax.jit(functools.partial(_power, hvp, iterations=iterations, tol=tol))
    start = jax.random.normal(jax.random.PRNGKey(seed), flat.shape, flat.dtype)
    value, used, converged = (x.item() for x in power(start, jnp.zeros((), flat.dtype)))
    if value < 0:   # the largest in magnitude is negative: the top one of H - value·I
        shifted, more, converged = (x.item() for x in power(start, jnp.asarray(value, flat.dtype)))
        value, used = shifted, used + more
    return Eigen(float(value), int(used), bool(converged))


def model_loss(model, x: jax.Array, y: jax.Array) -> Callable[[list[dict]], jax.Array]:
    """The loss ``model.evaluate`` reports (inference mode, mean over the samples, plus
    regularization) as a function of the trainable layers' parameters."""
    frozen = model.params
    state = model.state
    activation = losses.FROM_LOGITS.get(model.loss)

    def loss(trained: list[dict]) -> jax.Array:
        params = model.merge_trainable(frozen, trained)
        out, logits, _ = model.apply(params, state, x, training=False,
                                     logits_activation=activation)
        return jnp.mean(losses.LOSSES[model.loss](y, out, logits)) + model.penalty(params)

    return loss


def sharpness(model, x: Any, y: Any, *, probe: int = PROBE, iterations: int = ITERATIONS,
              tol: float = TOLERANCE, seed: int = 0) -> Sharpness:
    """The top Hessian eigenvalue of a compiled, built model's loss with respect to its
    trainable weights, on the first ``probe`` samples of ``x``, ``y`` (labels as the loss
    takes them, e.g. one-hot for categorical cross-entropy), in inference mode (dropout
    off, batch normalization with its moving statistics)."""
    if getattr(model, "loss", None) is None or not model.built:
        raise ValueError("sharpness needs a built, compiled model (call compile and fit first)")
    if isinstance(probe, bool) or not isinstance(probe, int) or probe < 1:
        raise ValueError(f"probe must be an int >= 1, got {probe!r}")
    xs, ys = np.asarray(x)[:probe], np.asarray(y)[:probe]
    if len(xs) != len(ys) or not len(xs):
        raise ValueError(f"x and y must hold the same number (>= 1) of samples, got "
                         f"{len(np.asarray(x))} and {len(np.asarray(y))}")
    dtype = jnp.int32 if model.loss == "sparse_categorical_crossentropy" else jnp.float32
    loss = model_loss(model, jnp.asarray(xs, jnp.float32), jnp.asarray(ys, dtype))
    found = top_eigenvalue(loss, model.trainable_view(model.params), iterations=iterations,
                           tol=tol, seed=seed)
    return Sharpness(found.value, found.iterations, found.converged, len(xs))


def stability_threshold(learning_rate: float, momentum: float = 0.0) -> float:
    """The largest curvature gradient descent is stable on: 2/η, and (2 + 2β)/η with
    heavy-ball momentum β (the threshold Cohen et al. 2021 compare sharpness with)."""
    return (2.0 + 2.0 * momentum) / learning_rate


def sharpness_curve(model, x: Any, y: Any, epochs: Sequence[int], *, probe: int = PROBE,
                    iterations: int = ITERATIONS, tol: float = TOLERANCE,
                    **fit_args: Any) -> list[Sharpness]:
    """Train ``model`` with ``model.fit(x, y, **fit_args)`` epoch segment by epoch segment
    (``initial_epoch`` continuing where the last one ended) and measure its sharpness at each
    of ``epochs`` (epochs trained; 0: before training), with the learning rate it has then.
    With fit's ``seed`` given, the segments train exactly as one uninterrupted ``fit``."""
    out = []
    for epoch in train_in_segments(model, x, y, epochs, **fit_args):
        found = sharpness(model, x, y, probe=probe, iterations=iterations, tol=tol)
        try:  # a constant rate; a schedule's has no single value
            rate = float(model.optimizer.learning_rate)
        except (TypeError, ValueError):
            rate = None
        out.append(Sharpness(found.eigenvalue, found.iterations, found.converged, found.probe,
                             epoch, rate))
    return out
