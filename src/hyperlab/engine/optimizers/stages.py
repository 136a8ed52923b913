"""The stages of one Keras 3 optimizer step, in order, optax-style: small pure functions,
each owning at most one state key.

    unscale         g / loss_scale_factor
    accumulate      "grad_accum": sum k gradients, then update with their mean
    clip            clipnorm | global_clipnorm | clipvalue
    decay_weights   w - w * weight_decay * lr
    (the rule)      "slots": the optimizer's update rule
    average         "ema": moving average of the weights, overwriting them periodically
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from hyperlab.engine.optimizers.numerics import F32, div, reciprocal

PyTree = Any
State = dict[str, Any]
CLIP_KINDS = ("clipnorm", "global_clipnorm", "clipvalue")


def unscale(grads: PyTree, factor: jax.Array) -> PyTree:
    """Keras ``scale_loss``'s inverse: gradients divided by the loss-scale factor."""
    return jax.tree_util.tree_map(lambda g: div(g, factor), grads)


def accumulate(
    params: PyTree,
    grads: PyTree,
    state: State,
    k: int,
    update: Callable[[PyTree, PyTree, State, jax.Array], tuple[PyTree, State]],
) -> tuple[PyTree, State, jax.Array]:
    """Keras gradient accumulation (``state["grad_accum"]``): every ``k``-th step updates
    with the mean of the last ``k`` gradients, other steps only add theirs. Returns the
    parameters, the state and the number of updates done before this step."""
    it = state["iterations"]
    summed = jax.tree_util.tree_map(jnp.add, grads, state["grad_accum"])

    def apply(_: None) -> tuple[PyTree, State]:
        mean = jax.tree_util.tree_map(lambda s: div(s, float(k)), summed)
        new_params, new_state = update(params, mean, state, it // k)
        new_state["grad_accum"] = jax.tree_util.tree_map(jnp.zeros_like, summed)
        return new_params, new_state

    def add(_: None) -> tuple[PyTree, State]:
        return params, {**state, "grad_accum": summed}

    params, state = jax.lax.cond((it + 1) % k == 0, apply, add, None)
    return params, state, it // k


def clip(grads: list[jax.Array], kind: str | None, c: jax.Array,
         c_lo: jax.Array) -> list[jax.Array]:
    """Keras ``_clip_gradients`` (``c_lo``: the float64 residual of ``c``); a clip value
    <= 0 leaves the gradients unchanged, as in Keras."""
    if kind is None:
        return grads
    if kind == "clipnorm":  # tf.clip_by_norm, per variable
        clipped = []
        for g in grads:
            l2sum = jnp.sum(g * g, keepdims=True)
            pred = l2sum > 0
            l2norm = jnp.where(pred, jnp.sqrt(jnp.where(pred, l2sum, 1.0)), l2sum)
            clipped.append(div(g * c, jnp.maximum(l2norm, c)))
    elif kind == "global_clipnorm":  # base_optimizer.clip_by_global_norm
        norm = jnp.sqrt(jnp.sum(jnp.stack([jnp.sum(g * g) for g in grads])))
        inv_c = reciprocal(c, c_lo)
        scale = c * jnp.minimum(div(1.0, norm), inv_c) + (norm - norm)
        clipped = [g * scale for g in grads]
    else:
        clipped = [jnp.clip(g, -c, c) for g in grads]
    return [jnp.where(c > 0, cg, g) for cg, g in zip(clipped, grads)]


def decay_weights(params: list[jax.Array], wd: jax.Array, lr: jax.Array) -> list[jax.Array]:
    """Keras's decoupled weight decay, ``w - w * weight_decay * lr``."""
    return [p - p * wd * lr for p in params]


def average(params: PyTree, state: State, momentum: jax.Array, updates_done: jax.Array,
            overwrite_every: int | None) -> tuple[PyTree, State]:
    """Keras ``_update_model_variables_moving_average`` (``state["ema"]``; the momentum is
    0 at the first update) and the overwrite of the weights by it every
    ``overwrite_every`` updates."""
    m = (updates_done != 0).astype(F32) * momentum
    ema = jax.tree_util.tree_map(lambda a, w: m * a + (1 - m) * w, state["ema"], params)
    if overwrite_every:  # Keras: overwrite when (iterations + 1) % f == 0, counting updates
        overwrite = (updates_done + 1) % overwrite_every == 0
        params = jax.tree_util.tree_map(lambda a, w: jnp.where(overwrite, a, w), ema, params)
    return params, {**state, "ema": ema}
