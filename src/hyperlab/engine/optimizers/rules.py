"""The seven Keras 3 optimizers: each its update rule, its arguments and the rule in code.

``h`` holds the step's scalars (``base.Step``): the hyperparameters, ``h.lr`` and ``h.t``;
``one_minus(h.x, h.lo.x)`` is ``1 - x`` rounded from float64 as Keras computes it, and
``power(x, t)`` a correctly rounded ``x ** t`` (see ``numerics``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hyperlab._constraints import NON_NEGATIVE, UNIT, UNIT_OPEN, Boolean, Constraint
from hyperlab.engine.fields import default, static, value
from hyperlab.engine.optimizers.base import (LeafRule, Optimizer, Slots, State, Step,
                                             _KerasDefault)
from hyperlab.engine.optimizers.numerics import F32, div, one_minus, power

__all__ = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam"]


def _traced(initial: float, constraint: Constraint = NON_NEGATIVE) -> Any:
    """A traced float hyperparameter, ``initial`` by default."""
    return value(initial, constraint, convert=float)


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum; Keras 3 ``optimizers/sgd.py``.

    Update (``mu = momentum``; ``mu = 0`` is plain SGD, bit-identically)::

        m = m * mu - g * lr
        w = w + m                                  # nesterov=False
        w = w + (m * mu - g * lr)                  # nesterov=True

    Nesterov momentum: Sutskever et al., "On the importance of initialization and momentum
    in deep learning", ICML 2013.
    """

    learning_rate = default(_KerasDefault(0.01))
    momentum = _traced(0.0, UNIT)
    nesterov = static(False, Boolean())
    name = default("SGD")
    _slots = ("momentum",)

    def _rule(self, h: Step) -> LeafRule:
        def leaf(w: jax.Array, g: jax.Array, s: Slots) -> tuple[jax.Array, Slots]:
            m = s["momentum"] * h.momentum - g * h.lr
            step = m * h.momentum - g * h.lr if self.nesterov else m
            return w + step, {"momentum": m}
        return leaf


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum; Keras 3 ``optimizers/rmsprop.py``.

    Update::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g                # centered=True
        d = v - a**2 + epsilon                     # centered=True
        d = v + epsilon                            # centered=False
        inc = lr * g / sqrt(d)
        m = momentum * m + inc                     # momentum = 0 gives m = inc
        w = w - m

    Hinton, Srivastava and Swersky, "Neural networks for machine learning", lecture 6e
    (2012); the centered form: Graves, "Generating sequences with recurrent neural
    networks" (2013).
    """

    rho = _traced(0.9, UNIT_OPEN)
    momentum = _traced(0.0, UNIT)
    epsilon = _traced(1e-7)
    centered = static(False, Boolean())
    name = default("rmsprop")
    _slots = ("velocity", "momentum")

    def _slot_names(self) -> tuple[str, ...]:
        return self._slots + (("average_gradient",) if self.centered else ())

    def _rule(self, h: Step) -> LeafRule:
        c = one_minus(h.rho, h.lo.rho)

        def leaf(w: jax.Array, g: jax.Array, s: Slots) -> tuple[jax.Array, Slots]:
            v = h.rho * s["velocity"] + c * (g * g)
            new = {"velocity": v}
            if self.centered:
                a = new["average_gradient"] = h.rho * s["average_gradient"] + c * g
                denominator = v - a * a + h.epsilon
            else:
                denominator = v + h.epsilon
            increment = div(h.lr * g, jnp.sqrt(denominator))
            new["momentum"] = h.momentum * s["momentum"] + increment
            return w - new["momentum"], new
        return leaf


class Adagrad(Optimizer):
    """Adagrad; Keras 3 ``optimizers/adagrad.py``.

    Update (``acc`` starts at ``initial_accumulator_value``)::

        acc = acc + g**2
        w = w - lr * g / sqrt(acc + epsilon)

    Duchi, Hazan and Singer, "Adaptive subgradient methods for online learning and
    stochastic optimization", JMLR 12 (2011).
    """

    initial_accumulator_value = _traced(0.1)
    epsilon = _traced(1e-7)
    _slots = ("accumulator",)

    def _slot_init(self, slot: str, param: jax.Array) -> jax.Array:
        return jnp.full_like(param, jnp.asarray(self.initial_accumulator_value, F32))

    def _rule(self, h: Step) -> LeafRule:
        def leaf(w: jax.Array, g: jax.Array, s: Slots) -> tuple[jax.Array, Slots]:
            acc = s["accumulator"] + g * g
            return w - div(h.lr * g, jnp.sqrt(acc + h.epsilon)), {"accumulator": acc}
        return leaf


class Adadelta(Optimizer):
    """Adadelta; Keras 3 ``optimizers/adadelta.py``.

    Update (``rms(x) = sqrt(x + epsilon)``)::

        acc_g = rho * acc_g + (1 - rho) * g**2
        delta = -(rms(acc_d) * g / rms(acc_g))
        acc_d = rho * acc_d + (1 - rho) * delta**2
        w = w + lr * delta

    Zeiler, "ADADELTA: an adaptive learning rate method", arXiv:1212.5701 (2012).
    """

    rho = _traced(0.95, UNIT_OPEN)
    epsilon = _traced(1e-7)
    name = default("adadelta")
    _slots = ("accumulated_grad", "accumulated_delta_var")

    def _rule(self, h: Step) -> LeafRule:
        c = one_minus(h.rho, h.lo.rho)

        def leaf(w: jax.Array, g: jax.Array, s: Slots) -> tuple[jax.Array, Slots]:
            acc_g = h.rho * s["accumulated_grad"] + c * (g * g)
            acc_d = s["accumulated_delta_var"]
            delta = -div(jnp.sqrt(acc_d + h.epsilon) * g, jnp.sqrt(acc_g + h.epsilon))
            acc_d = h.rho * acc_d + c * (delta * delta)
            return w + h.lr * delta, {"accumulated_grad": acc_g, "accumulated_delta_var": acc_d}
        return leaf


class Adam(Optimizer):
    """Adam, optionally AMSGrad; Keras 3 ``optimizers/adam.py``.

    Update at step ``t = updates_done + 1``::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        v_hat = max(v_hat, v)                      # amsgrad=True; then v_hat replaces v
        w = w - m * alpha / (sqrt(v) + epsilon)

    Kingma and Ba, "Adam: a method for stochastic optimization", ICLR 2015; AMSGrad:
    Reddi, Kale and Kumar, "On the convergence of Adam and beyond", ICLR 2018.
    """

    beta_1 = _traced(0.9, UNIT_OPEN)
    beta_2 = _traced(0.999, UNIT_OPEN)
    epsilon = _traced(1e-7)
    amsgrad = static(False, Boolean())
    name = default("adam")
    _slots = ("momentum", "velocity")

    def _slot_names(self) -> tuple[str, ...]:
        return self._slots + (("velocity_hat",) if self.amsgrad else ())

    def _rule(self, h: Step) -> LeafRule:
        c1, c2 = one_minus(h.beta_1, h.lo.beta_1), one_minus(h.beta_2, h.lo.beta_2)
        beta_1_t, beta_2_t = power(h.beta_1, h.t), power(h.beta_2, h.t)

        def leaf(w: jax.Array, g: jax.Array, s: Slots) -> tuple[jax.Array, Slots]:
            alpha = div(h.lr * jnp.sqrt(1 - beta_2_t), 1 - beta_1_t)
            m = s["momentum"] + (g - s["momentum"]) * c1
            v = s["velocity"] + (g * g - s["velocity"]) * c2
            new = {"momentum": m, "velocity": v}
            if self.amsgrad:
                v = new["velocity_hat"] = jnp.maximum(s["velocity_hat"], v)
            return w - div(m * alpha, jnp.sqrt(v) + h.epsilon), new
        return leaf


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm); Keras 3 ``optimizers/adamax.py``.

    Update at step ``t``::

        m = m + (g - m) * (1 - beta_1)
        u = max(beta_2 * u, |g|)
        w = w - lr * m / ((1 - beta_1**t) * (u + epsilon))

    Kingma and Ba, "Adam: a method for stochastic optimization", ICLR 2015, section 7.1.
    """

    beta_1 = _traced(0.9, UNIT_OPEN)
    beta_2 = _traced(0.999, UNIT_OPEN)
    epsilon = _traced(1e-7)
    name = default("adamax")
    _slots = ("momentum", "norm")

    def _rule(self, h: Step) -> LeafRule:
        c1, beta_1_t = one_minus(h.beta_1, h.lo.beta_1), power(h.beta_1, h.t)

        def leaf(w: jax.Array, g: jax.Array, s: Slots) -> tuple[jax.Array, Slots]:
            m = s["momentum"] + (g - s["momentum"]) * c1
            u = jnp.maximum(h.beta_2 * s["norm"], jnp.abs(g))
            step = div(h.lr * m, (1 - beta_1_t) * (u + h.epsilon))
            return w - step, {"momentum": m, "norm": u}
        return leaf


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum); Keras 3 ``optimizers/nadam.py``.

    Once per step ``t`` (Keras ``_backend_update_step``), with
    ``mu(t) = beta_1 * (1 - 0.5 * 0.96**t)``::

        u_product = u_product * beta_1 * (1 - 0.5 * 0.96**t)    # starts at 1

    then per parameter::

        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        m_hat = mu(t+1) * m / (1 - u_product * mu(t+1)) + (1 - mu(t)) * g / (1 - u_product)
        v_hat = v / (1 - beta_2**t)
        w = w - m_hat * lr / (sqrt(v_hat) + epsilon)

    Dozat, "Incorporating Nesterov momentum into Adam", ICLR 2016 workshop.
    """

    beta_1 = _traced(0.9, UNIT_OPEN)
    beta_2 = _traced(0.999, UNIT_OPEN)
    epsilon = _traced(1e-7)
    name = default("nadam")
    _slots = ("momentum", "velocity")

    def init(self, params: dict) -> State:
        return {**super().init(params), "u_product": jnp.ones((), F32)}

    def _begin_step(self, state: State, h: Step) -> tuple[State, Step]:
        decay = jnp.asarray(0.96, F32)
        decay_t = power(decay, h.t)
        u_product = state["u_product"] * h.beta_1 * (1.0 - 0.5 * decay_t)
        mu_t = h.beta_1 * (1.0 - 0.5 * decay_t)
        mu_t1 = h.beta_1 * (1.0 - 0.5 * power(decay, h.t + 1))
        h = Step(**{**vars(h), "u_product": u_product, "mu_t": mu_t, "mu_t1": mu_t1})
        return {**state, "u_product": u_product}, h

    def _rule(self, h: Step) -> LeafRule:
        beta_2_t = power(h.beta_2, h.t)

        def leaf(w: jax.Array, g: jax.Array, s: Slots) -> tuple[jax.Array, Slots]:
            m = s["momentum"] + (g - s["momentum"]) * (1 - h.beta_1)
            v = s["velocity"] + (g * g - s["velocity"]) * (1 - h.beta_2)
            m_hat = (div(h.mu_t1 * m, 1 - h.u_product * h.mu_t1)
                     + div((1 - h.mu_t) * g, 1 - h.u_product))
            v_hat = div(v, 1 - beta_2_t)
            return w - div(m_hat * h.lr, jnp.sqrt(v_hat) + h.epsilon), {"momentum": m,
                                                                        "velocity": v}
        return leaf
