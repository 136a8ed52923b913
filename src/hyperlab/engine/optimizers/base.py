"""The base optimizer: its arguments, declared once, and Keras 3's step around a rule."""

from __future__ import annotations

import numbers
import re
from types import SimpleNamespace
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hyperlab._constraints import (FINITE, NON_NEGATIVE, POSITIVE, UNIT, AnyOf, Boolean,
                                         Duck, Interval, Optional, check)
from hyperlab.engine.fields import Declared, setting, static, value
from hyperlab.engine.optimizers import stages
from hyperlab.engine.optimizers.numerics import F32, div, residuals, to_f32

PyTree = Any
State = dict[str, Any]
Slots = dict[str, jax.Array]  # one parameter's accumulators, by slot name
LeafRule = Callable[[jax.Array, jax.Array, Slots], tuple[jax.Array, Slots]]
SCHEDULE = Duck(("evaluate", "hyperparams"), "a hyperlab schedule object")


class Step(SimpleNamespace):
    """The scalars of one update: each traced hyperparameter by name (float32), ``lr`` (the
    learning rate of this step), ``t`` (updates done, plus one) and ``lo`` (each
    hyperparameter's float64 rounding residual, for ``numerics.one_minus``)."""


class LearningRate(float):
    """``optimizer.learning_rate`` of a float rate: the value, which also reads and assigns
    like Keras's learning-rate variable (``numpy()``, ``assign(v)``, ``dtype``), so that
    ``keras.backend.get_value(opt.lr)`` / ``set_value(opt.lr, v)`` and ``opt.lr.assign(v)``
    work. Assigning sets the optimizer's rate; the float itself keeps the value it was read
    with (read ``optimizer.learning_rate`` again for the current one)."""

    dtype = "float32"

    def __new__(cls, value: float, optimizer: "Optimizer") -> "LearningRate":
        rate = super().__new__(cls, value)
        rate._optimizer = optimizer
        return rate

    def numpy(self) -> np.float32:
        return np.float32(self)

    def assign(self, value: Any) -> None:
        self._optimizer.learning_rate = value

    def __reduce__(self):  # copies and pickles are plain floats
        return (float, (float(self),))


class _KerasDefault(float):
    """A default argument value; tells an omitted ``learning_rate`` from an explicit one."""


def is_schedule(value: Any) -> bool:
    """Whether ``value`` is a hyperlab learning-rate schedule object."""
    return SCHEDULE.accepts(value)


def _rate(value: Any) -> Any:
    return value if is_schedule(value) else float(value)


def _or_none(value: Any) -> Any:
    return value or None


def _ema_on(opt: "Optimizer") -> bool:
    return opt.use_ema


def _optional_float(bounds: Interval = FINITE) -> Any:
    """A traced float that may be left out (None: the stage it configures is off)."""
    return value(None, Optional(bounds), convert=float)


class _LearningRateVariable:
    """Keras's learning-rate variable on an optimizer whose rate is ``_learning_rate``."""

    _learning_rate: Any

    @property
    def learning_rate(self) -> Any:
        """The learning rate: its schedule, or a ``LearningRate`` (a float that also reads and
        assigns like Keras's learning-rate variable). Settable with a float unless it is a
        schedule, as in Keras; during ``fit`` the value set reaches the next epoch."""
        if is_schedule(self._learning_rate):
            return self._learning_rate
        return LearningRate(self._learning_rate, self)

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        owner = type(self).__name__
        if is_schedule(self._learning_rate):
            raise TypeError(
                f"{owner} was created with a learning-rate schedule as its `learning_rate`, "
                "hence its learning rate is not settable; create the optimizer with a float "
                "`learning_rate` to set it."
            )
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: `learning_rate` must be set to a float. "
                             f"Received: learning_rate={value!r}") from None
        self._learning_rate = check(value, NON_NEGATIVE, "learning_rate", owner)

    lr = learning_rate  # the Keras 2 / tf.keras name

    @property
    def learning_rate_settable(self) -> bool:
        """False when ``learning_rate`` is a schedule (Keras forbids setting it then)."""
        return not is_schedule(self._learning_rate)


class Optimizer(_LearningRateVariable, Declared):
    """Base class: Keras 3 ``BaseOptimizer.apply`` around a per-parameter update rule.

    One step (Keras 3 ``BaseOptimizer.apply`` / ``_backend_apply_gradients``), in the stages
    of ``hyperlab.engine.optimizers.stages``::

        g = g / loss_scale_factor               # if loss_scale_factor is set
        # gradient_accumulation_steps = k: sum k gradients, then update with their mean
        g = clip(g)                             # clipnorm | global_clipnorm | clipvalue
        w = w - w * weight_decay * lr           # if weight_decay is set
        w, slots = rule(w, g, slots)            # the subclass's `_rule`
        ema = m * ema + (1 - m) * w             # if use_ema; m = ema_momentum, 0 at first
        w = ema every ema_overwrite_frequency   # if use_ema and a frequency is set
        iterations += 1

    with ``lr = learning_rate / (1 + decay * iterations)`` (``learning_rate`` evaluated at
    ``iterations`` when it is a schedule). With gradient accumulation, update rules, EMA
    and overwrite frequency count updates (``iterations // k``) while the learning rate
    counts steps, as in Keras.

    The optimizer object only holds configuration. Every number that may vary between runs
    lives in the state pytree, so one compiled ``apply`` serves all hyperparameter values::

        {"iterations": int32 scalar,             # steps applied so far (Keras `_iterations`)
         "learning_rate": float32 scalar,        # the settable learning-rate variable
         "hparams": {name: float32 scalar, ...}, # every other traced hyperparameter
         "hparams_lo": {name: float32 scalar},   # value - float32(value) (see numerics)
         "slots": {slot: tree like params, ...}, # per-parameter accumulators
         # only when configured:
         "ema": tree like params,                # use_ema: moving average of the weights
         "grad_accum": tree like params,         # gradient_accumulation_steps
         "u_product": float32 scalar}            # Nadam: running product of mu_t

    Arguments of every optimizer: ``weight_decay``, ``clipnorm``, ``clipvalue``,
    ``global_clipnorm`` (one clip at most; a clip value <= 0 is ignored, as in Keras),
    ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``, ``loss_scale_factor``,
    ``gradient_accumulation_steps``, ``name``, plus ``lr`` (alias of ``learning_rate``)
    and the Keras 2 ``decay``.
    """

    _leading = ("learning_rate",)
    _var_keyword = True
    _slots: ClassVar[tuple[str, ...]] = ()  # per-parameter accumulators
    _numeric: ClassVar[tuple[str, ...]] = ()  # the subclass's own traced hyperparameters
    _flags: ClassVar[tuple[str, ...]] = ()  # the subclass's own structural switches

    learning_rate = value(_KerasDefault(0.001), AnyOf((SCHEDULE, NON_NEGATIVE)), convert=_rate,
                          attr="_learning_rate", nested_key="schedule")
    weight_decay = _optional_float()
    clipnorm = _optional_float()
    clipvalue = _optional_float()
    global_clipnorm = _optional_float()
    use_ema = static(False, Boolean())
    ema_momentum = value(0.99, UNIT, convert=float, when=_ema_on)
    ema_overwrite_frequency = static(None, Optional(Interval(1, integer=True)),
                                     prepare=_or_none, when=_ema_on)
    loss_scale_factor = _optional_float(POSITIVE)
    gradient_accumulation_steps = static(None, Optional(Interval(2, integer=True)),
                                         prepare=_or_none)
    name = setting(None)
    decay = value(0.0, NON_NEGATIVE, convert=float, init=False)  # Keras 2's, via **kwargs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [f for k, f in cls._fields.items() if k not in Optimizer._fields]
        cls._numeric = tuple(f.name for f in own if f.role == "value")
        cls._flags = tuple(f.name for f in own if f.role == "static")

    def _prepare(self, values: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        if "lr" in extra:
            if not isinstance(values["learning_rate"], _KerasDefault):
                raise ValueError(
                    f"{self._cls}: pass either `learning_rate` or its alias `lr`, not both. "
                    f"Received: learning_rate={values['learning_rate']!r}, lr={extra['lr']!r}"
                )
            values["learning_rate"] = extra.pop("lr")
        values["decay"] = extra.pop("decay", None) or 0.0  # None as in Keras 3
        if extra:
            valid = [p for p in type(self)._signature.parameters][:-1]
            raise ValueError(
                f"{self._cls}: unknown keyword argument(s) {sorted(extra)}. "
                f"Valid arguments: {', '.join(valid + ['lr', 'decay'])}"
            )
        values["name"] = values["name"] or re.sub(r"(?<!^)(?=[A-Z])", "_", self._cls).lower()
        return values

    def _validate(self) -> None:
        clips = {k: getattr(self, k) for k in stages.CLIP_KINDS}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(
                f"{self._cls}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` "
                f"can be set. Received: clipnorm={self.clipnorm}, clipvalue={self.clipvalue}, "
                f"global_clipnorm={self.global_clipnorm}"
            )

    @property
    def _cls(self) -> str:
        return type(self).__name__

    @property
    def _clip_kind(self) -> str | None:
        return next((k for k in stages.CLIP_KINDS if getattr(self, k) is not None), None)

    # ----------------------------------------------------------------------- public API
    def get_config(self) -> dict[str, Any]:
        """Keras-style constructor arguments, ``name`` first (``from_config`` inverts it)."""
        config = super().get_config()
        return {"name": config.pop("name"), **config}

    def init(self, params: PyTree) -> State:
        """Initial state. ``state["hparams"]`` is ``hyperparams()`` without "learning_rate",
        which lives in ``state["learning_rate"]`` (for a schedule: its value at step 0,
        unused)."""
        py_hparams = {k: v for k, v in self.hyperparams().items() if k != "learning_rate"}
        hp = to_f32(py_hparams)
        if self.learning_rate_settable:
            lr = jnp.asarray(self._learning_rate, F32)
        else:
            lr = jnp.asarray(self._learning_rate.evaluate(jnp.int32(0), hp["schedule"]), F32)
        state: State = {
            "iterations": jnp.zeros((), jnp.int32),
            "learning_rate": lr,
            "hparams": hp,
            "hparams_lo": residuals(py_hparams),
            "slots": {
                s: jax.tree_util.tree_map(lambda p, s=s: self._slot_init(s, p), params)
                for s in self._slot_names()
            },
        }
        if self.use_ema:
            state["ema"] = jax.tree_util.tree_map(jnp.zeros_like, params)
        if self.gradient_accumulation_steps:
            state["grad_accum"] = jax.tree_util.tree_map(jnp.zeros_like, params)
        return state

    def learning_rate_at(self, state: State) -> jax.Array:
        """The learning rate the next step uses: ``lr(iterations) / (1 + decay * iterations)``."""
        it = state["iterations"]
        hp = state["hparams"]
        if self.learning_rate_settable:
            lr = state["learning_rate"]
        else:
            lr = jnp.asarray(self._learning_rate.evaluate(it, hp["schedule"]), F32)
        return div(lr, 1.0 + hp["decay"] * it.astype(F32))

    def set_learning_rate(self, state: State, value: Any) -> State:
        """``state`` with the learning-rate variable replaced by ``value``."""
        if not self.learning_rate_settable:
            raise TypeError(
                f"{self._cls} was created with a learning-rate schedule, so its learning rate "
                "is not settable; create it with a float `learning_rate` instead."
            )
        if isinstance(value, numbers.Real):
            check(value, NON_NEGATIVE, "learning_rate", self._cls)
        return {**state, "learning_rate": jnp.asarray(value, F32)}

    def apply(self, params: PyTree, grads: PyTree, state: State) -> tuple[PyTree, State]:
        """One Keras optimizer step; returns ``(new_params, new_state)``. Pure."""
        hp, it = state["hparams"], state["iterations"]
        lr = self.learning_rate_at(state)
        if self.loss_scale_factor is not None:
            grads = stages.unscale(grads, hp["loss_scale_factor"])

        def update(params: PyTree, grads: PyTree, state: State,
                   updates_done: jax.Array) -> tuple[PyTree, State]:
            return self._update(params, grads, state, lr, updates_done)

        if self.gradient_accumulation_steps:
            params, state, updates_done = stages.accumulate(
                params, grads, state, self.gradient_accumulation_steps, update)
        else:
            params, state = update(params, grads, state, it)
            updates_done = it
        if self.use_ema:
            params, state = stages.average(params, state, hp["ema_momentum"], updates_done,
                                           self.ema_overwrite_frequency)
        return params, {**state, "iterations": it + 1}

    def finalize_variable_values(self, params: PyTree, state: State) -> PyTree:
        """Weights at the end of training: the EMA if ``use_ema`` (as Keras ``fit`` does)."""
        return state["ema"] if self.use_ema else params

    def transformation(self) -> optax.GradientTransformation:
        """This optimizer as an optax transformation (``update`` requires ``params``)."""

        def update_fn(
            updates: PyTree, state: State, params: PyTree | None = None
        ) -> tuple[PyTree, State]:
            if params is None:
                raise ValueError(
                    f"{self._cls}.transformation().update needs `params` (Keras updates read "
                    "the weights, e.g. for weight decay): call update(grads, state, params)."
                )
            new_params, state = self.apply(params, updates, state)
            return jax.tree_util.tree_map(jnp.subtract, new_params, params), state

        return optax.GradientTransformation(self.init, update_fn)

    # ---------------------------------------------------------------------- internals
    def _slot_names(self) -> tuple[str, ...]:
        return self._slots

    def _slot_init(self, slot: str, param: jax.Array) -> jax.Array:
        return jnp.zeros_like(param)

    def _begin_step(self, state: State, h: Step) -> tuple[State, Step]:
        """Per-step (not per-parameter) work before the update."""
        return state, h

    def _rule(self, h: Step) -> LeafRule:
        """The update rule of one step: ``(w, g, slots) -> (w, slots)`` for each parameter."""
        raise NotImplementedError

    def _update(self, params: PyTree, grads: PyTree, state: State, lr: jax.Array,
                updates_done: jax.Array) -> tuple[PyTree, State]:
        """Clip, decay the weights and apply the rule (Keras ``_backend_apply_gradients``)."""
        hp, lo = state["hparams"], state["hparams_lo"]
        leaves, treedef = jax.tree_util.tree_flatten(params)
        g_leaves = treedef.flatten_up_to(grads)
        g_leaves = [jnp.asarray(g, p.dtype) for g, p in zip(g_leaves, leaves)]
        kind = self._clip_kind
        if kind is not None:
            g_leaves = stages.clip(g_leaves, kind, hp[kind], lo.get(kind))
        if self.weight_decay is not None:
            leaves = stages.decay_weights(leaves, hp["weight_decay"], lr)

        h = Step(**hp, lr=lr, t=updates_done + 1, lo=SimpleNamespace(**lo))
        state, h = self._begin_step(state, h)
        rule = self._rule(h)
        slots = {s: treedef.flatten_up_to(t) for s, t in state["slots"].items()}
        new_leaves = []
        for i, (p, g) in enumerate(zip(leaves, g_leaves)):
            p, s = rule(p, g, {k: v[i] for k, v in slots.items()})
            new_leaves.append(p)
            for k in slots:
                slots[k][i] = s[k]
        new_slots = {k: jax.tree_util.tree_unflatten(treedef, v) for k, v in slots.items()}
        return jax.tree_util.tree_unflatten(treedef, new_leaves), {**state, "slots": new_slots}
