"""Keras 3 optimizers as pure JAX update rules.

Each optimizer reproduces the float32 arithmetic of Keras 3 (``keras/src/optimizers/*.py``
and ``base_optimizer.py``, TensorFlow backend): the same formulas, operand order and epsilon
placement, plus the base-optimizer machinery (loss-scale unscaling, gradient accumulation,
clipping, decoupled weight decay, EMA of the weights) and the Keras 2 ``decay`` argument,
``lr = learning_rate / (1 + decay * iterations)``.

The optimizer object only holds configuration. Every number that may vary between runs lives
in the state pytree, so one compiled ``apply`` serves all hyperparameter values and states
with different values can be stacked and ``jax.vmap``-ed::

    opt = SGD(learning_rate=0.1, momentum=0.9)
    state = opt.init(params)
    params, state = opt.apply(params, grads, state)

State layout::

    {"iterations": int32 scalar,             # steps applied so far (Keras `_iterations`)
     "learning_rate": float32 scalar,        # the settable learning-rate variable
     "hparams": {name: float32 scalar, ...}, # every other numeric hyperparameter
     "hparams_lo": {name: float32 scalar},   # value - float32(value), see below
     "slots": {slot: tree like params, ...}, # per-parameter accumulators
     # only when configured:
     "ema": tree like params,                # use_ema: moving average of the weights
     "grad_accum": tree like params,         # gradient_accumulation_steps
     "u_product": float32 scalar}            # Nadam: running product of mu_t

Bit-for-bit fidelity to Keras/TensorFlow needs three guards against float32 shortcuts:

* Keras evaluates ``1 - rho`` (RMSprop, Adadelta), ``1 - beta_1``/``1 - beta_2`` (Adam,
  Adamax) and ``1 / global_clipnorm`` on Python floats, i.e. in float64, then rounds to
  float32 (``1 - float32(0.999)`` is 1.3e-5 off). ``state["hparams_lo"]`` carries each
  hyperparameter's float32 rounding residual so these round as in Keras. Build batched states
  by stacking ``init`` results so residuals match values; stale residuals degrade gracefully.
* XLA rewrites ``x / broadcast(y)`` into ``x * (1 / y)`` and ``x / sqrt(y)`` into
  ``x * rsqrt(y)``; ``_div`` keeps true division.
* XLA's float32 ``pow`` is sometimes an ulp off TensorFlow's; ``_pow`` rounds correctly.

Op by op (no ``jit``) the public Keras reference trajectories are reproduced bit for bit, except
that norms for ``clipnorm``/``global_clipnorm`` sum in XLA's order rather than Eigen's (an ulp).
Under ``jit`` on FMA hardware XLA also fuses ``a * b + c``: an ulp per operation, which
cancellation can grow (to ~1e-6 relative over 25 reference steps). On CPU,
``XLA_FLAGS=--xla_cpu_max_isa=AVX`` turns that fusion off.
"""

from __future__ import annotations

import inspect
import numbers
import re
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

PyTree = Any
Hparams = dict[str, Any]
Slots = dict[str, jax.Array]  # one parameter's accumulators, by slot name
Update = tuple[jax.Array, Slots]  # a parameter and its accumulators after one step
State = dict[str, Any]
DoubleFloat = tuple[jax.Array, jax.Array]  # hi + lo, two float32s
_F32 = jnp.float32
_CLIP_KINDS = ("clipnorm", "global_clipnorm", "clipvalue")


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
    return hasattr(value, "evaluate") and hasattr(value, "hyperparams")


def _to_f32(tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, _F32), tree)


def _div(x: Any, y: Any) -> jax.Array:
    """True IEEE ``x / y``: the barrier hides the divisor from XLA's reciprocal rewrites."""
    y = jnp.broadcast_to(y, jnp.broadcast_shapes(jnp.shape(x), jnp.shape(y)))
    return x / jax.lax.optimization_barrier(y)


def _residuals(hp: Hparams) -> Hparams:
    """``value - float32(value)`` of each top-level float, as float32 (see ``_one_minus``)."""
    return {
        k: jnp.asarray(v - float(jnp.asarray(v, _F32)), _F32)
        for k, v in hp.items()
        if isinstance(v, float)
    }


def _one_minus(hi: jax.Array, lo: jax.Array) -> jax.Array:
    """``1 - x`` rounded once to float32, for ``x = hi + lo`` (a float64 split in two float32).

    Keras computes ``1 - rho`` (etc.) on Python floats. ``s + err`` is exactly ``1 - hi``
    (Fast2Sum, valid as ``|hi| <= 1``).
    """
    s = 1.0 - hi
    err = (1.0 - s) - hi
    return s + (err - lo)


def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``x == hi + lo`` exactly, each with at most 12 significant bits (mask, no FMA risk)."""
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32) & jnp.uint32(0xFFFFF000)
    hi = jax.lax.bitcast_convert_type(bits, _F32)
    return hi, x - hi


def _ds_mul(x: DoubleFloat, y: DoubleFloat) -> DoubleFloat:
    """Product of two double-float32 numbers ``hi + lo`` (~48-bit precision)."""
    (xh, xl), (yh, yl) = x, y
    (ah, al), (bh, bl) = _split(xh), _split(yh)
    s, e1 = _two_sum(ah * bh, ah * bl)  # the four partial products are exact
    s, e2 = _two_sum(s, al * bh)
    tail = (e1 + e2 + al * bl) + (xh * yl + xl * yh)
    hi = s + tail
    return hi, tail - (hi - s)


def _reciprocal(hi: jax.Array, lo: jax.Array) -> jax.Array:
    """``1 / x`` rounded once to float32, for ``x = hi + lo`` (one Newton step in double-float)."""
    r = _div(1.0, hi)
    p, e = _ds_mul((r, jnp.zeros_like(r)), (hi, lo))  # r * x == p + e, p within an ulp of 1
    return r - r * ((p - 1.0) + e)


def _pow_step(_: int, carry: tuple) -> tuple:
    """One step of binary exponentiation: ``r *= b`` if the low bit of ``n`` is set; ``b *= b``."""
    r, b, n = carry
    rb = _ds_mul(r, b)
    r = tuple(jnp.where(n & 1 == 1, new, old) for new, old in zip(rb, r))
    return r, _ds_mul(b, b), n >> 1


def _pow(base: jax.Array, n: jax.Array) -> jax.Array:
    """``base ** n`` for an integer ``n >= 0``, rounded correctly to float32.

    Keras's ``beta ** t`` came out correctly rounded from TensorFlow on every reference step,
    whereas XLA's ``pow`` is an ulp off now and then. Binary exponentiation in double-float32
    carries an error of about ``n * 2**-48``, so only results that close to a rounding
    midpoint (or below ~1e-30, where the low words underflow) can round differently.
    """
    one, zero = jnp.ones((), _F32), jnp.zeros((), _F32)
    (hi, lo), _, _ = jax.lax.fori_loop(0, 31, _pow_step, ((one, zero), (base, zero), n))
    return hi + lo


class Optimizer:
    """Base class: Keras 3 ``BaseOptimizer.apply`` around a per-parameter update rule.

    One step (Keras 3 ``BaseOptimizer.apply`` / ``_backend_apply_gradients``)::

        g = g / loss_scale_factor               # if loss_scale_factor is set
        # gradient_accumulation_steps = k: sum k gradients, then update with their mean
        g = clip(g)                             # clipnorm | global_clipnorm | clipvalue
        w = w - w * weight_decay * lr           # if weight_decay is set
        w, slots = update_rule(w, g, slots)     # the subclass's `_update_leaf`
        ema = m * ema + (1 - m) * w             # if use_ema; m = ema_momentum, 0 at first
        w = ema every ema_overwrite_frequency   # if use_ema and a frequency is set
        iterations += 1

    with ``lr = learning_rate / (1 + decay * iterations)`` (``learning_rate`` evaluated at
    ``iterations`` when it is a schedule). With gradient accumulation, update rules, EMA
    and overwrite frequency count updates (``iterations // k``) while the learning rate
    counts steps, as in Keras.
    """

    _numeric: ClassVar[tuple[str, ...]] = ()  # optimizer-specific numeric hyperparameters
    _flags: ClassVar[tuple[str, ...]] = ()  # optimizer-specific structural booleans
    _slots: ClassVar[tuple[str, ...]] = ()  # per-parameter accumulators
    _complements: ClassVar[tuple[str, ...]] = ()  # h["1-x"]: `1 - x` as Keras (float64) rounds it
    _powers: ClassVar[tuple[str, ...]] = ()  # h["x^t"]: x ** t at update count t

    def __init__(
        self,
        learning_rate: Any,
        *,
        weight_decay: float | None,
        clipnorm: float | None,
        clipvalue: float | None,
        global_clipnorm: float | None,
        use_ema: bool,
        ema_momentum: float,
        ema_overwrite_frequency: int | None,
        loss_scale_factor: float | None,
        gradient_accumulation_steps: int | None,
        name: str | None,
        kwargs: dict[str, Any],
    ) -> None:
        kwargs = dict(kwargs)
        if "lr" in kwargs:
            if not isinstance(learning_rate, _KerasDefault):
                raise ValueError(
                    f"{self._cls}: pass either `learning_rate` or its alias `lr`, not both. "
                    f"Received: learning_rate={learning_rate!r}, lr={kwargs['lr']!r}"
                )
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", None) or 0.0  # Keras 2's argument; None as in Keras 3
        if kwargs:
            valid = [p for p in inspect.signature(type(self).__init__).parameters][1:-1]
            raise ValueError(
                f"{self._cls}: unknown keyword argument(s) {sorted(kwargs)}. "
                f"Valid arguments: {', '.join(valid + ['lr', 'decay'])}"
            )

        if is_schedule(learning_rate):
            self._learning_rate: Any = learning_rate
        elif callable(learning_rate):
            raise ValueError(
                f"{self._cls}: `learning_rate` must be a float or a hyperlab schedule object "
                "(with `evaluate` and `hyperparams`); plain callables are not supported. "
                f"Received: learning_rate={learning_rate!r}"
            )
        else:
            self._learning_rate = self._real("learning_rate", learning_rate, low=0.0)
        self.decay = self._real("decay", decay, low=0.0)

        clips = dict(zip(_CLIP_KINDS, (clipnorm, global_clipnorm, clipvalue)))
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(
                f"{self._cls}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` "
                f"can be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        # Keras ignores a clip value <= 0; so does `_clip` (elementwise, so it stays traced).
        self.clipnorm, self.global_clipnorm, self.clipvalue = (
            None if v is None else self._real(k, v) for k, v in clips.items()
        )
        self._clip_kind = next((k for k, v in clips.items() if v is not None), None)

        self.weight_decay = (
            None if weight_decay is None else self._real("weight_decay", weight_decay)
        )
        self.loss_scale_factor = (
            None
            if loss_scale_factor is None
            else self._real("loss_scale_factor", loss_scale_factor, low=0.0, low_open=True)
        )
        if gradient_accumulation_steps and (
            not isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                f"{self._cls}: `gradient_accumulation_steps` must be an integer >= 2 or None. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}"
            )
        self.gradient_accumulation_steps = gradient_accumulation_steps or None

        self.use_ema = self._bool("use_ema", use_ema)
        self.ema_momentum = self._real("ema_momentum", ema_momentum, low=0.0, high=1.0)
        if ema_overwrite_frequency and (
            not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
        ):
            raise ValueError(
                f"{self._cls}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}"
            )
        self.ema_overwrite_frequency = ema_overwrite_frequency or None
        self.name = name or re.sub(r"(?<!^)(?=[A-Z])", "_", self._cls).lower()

    # ----------------------------------------------------------------- validation helpers
    @property
    def _cls(self) -> str:
        return type(self).__name__

    def _real(
        self,
        arg: str,
        value: Any,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
    ) -> float:
        """``value`` as a float, or a ValueError naming ``arg`` when it is out of range."""
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = value == value and abs(value) != float("inf")
            ok = ok and (low is None or value > low or (value == low and not low_open))
            ok = ok and (high is None or value < high or (value == high and not high_open))
        if not ok:
            lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
            hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
            raise ValueError(
                f"{self._cls}: `{arg}` must be a finite float in {lo}, {hi}. "
                f"Received: {arg}={value!r}"
            )
        return value

    def _bool(self, arg: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{self._cls}: `{arg}` must be a bool. Received: {arg}={value!r}")
        return value

    # ----------------------------------------------------------------------- public API
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
        if is_schedule(self._learning_rate):
            raise TypeError(
                f"{self._cls} was created with a learning-rate schedule as its `learning_rate`, "
                "hence its learning rate is not settable; create the optimizer with a float "
                "`learning_rate` to set it."
            )
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self._cls}: `learning_rate` must be set to a float. "
                             f"Received: learning_rate={value!r}") from None
        self._learning_rate = self._real("learning_rate", value, low=0.0)

    lr = learning_rate  # the Keras 2 / tf.keras name

    @property
    def learning_rate_settable(self) -> bool:
        """False when ``learning_rate`` is a schedule (Keras forbids setting it then)."""
        return not is_schedule(self._learning_rate)

    def hyperparams(self) -> Hparams:
        """Every numeric hyperparameter as a float (schedule ones nested under "schedule")."""
        hp: Hparams = {"decay": self.decay}
        if self.learning_rate_settable:
            hp["learning_rate"] = self._learning_rate
        else:
            hp["schedule"] = self._learning_rate.hyperparams()
        hp.update({k: getattr(self, k) for k in self._numeric})
        if self._clip_kind is not None:
            hp[self._clip_kind] = getattr(self, self._clip_kind)
        for k in ("weight_decay", "loss_scale_factor"):
            if getattr(self, k) is not None:
                hp[k] = getattr(self, k)
        if self.use_ema:
            hp["ema_momentum"] = self.ema_momentum
        return hp

    def static_config(self) -> tuple:
        """Everything that shapes the computation; equal configs share one program."""
        schedule = None if self.learning_rate_settable else self._learning_rate.static_config()
        return (
            self._cls,
            tuple((k, getattr(self, k)) for k in self._flags),
            self._clip_kind,
            self.weight_decay is not None,
            self.loss_scale_factor is not None,
            self.use_ema,
            self.ema_overwrite_frequency if self.use_ema else None,
            self.gradient_accumulation_steps,
            schedule,
        )

    def init(self, params: PyTree) -> State:
        """Initial state. ``state["hparams"]`` is ``hyperparams()`` without "learning_rate",
        which lives in ``state["learning_rate"]`` (for a schedule: its value at step 0,
        unused)."""
        py_hparams = {k: v for k, v in self.hyperparams().items() if k != "learning_rate"}
        hp = _to_f32(py_hparams)
        if self.learning_rate_settable:
            lr = jnp.asarray(self._learning_rate, _F32)
        else:
            lr = jnp.asarray(self._learning_rate.evaluate(jnp.int32(0), hp["schedule"]), _F32)
        state: State = {
            "iterations": jnp.zeros((), jnp.int32),
            "learning_rate": lr,
            "hparams": hp,
            "hparams_lo": _residuals(py_hparams),
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
            lr = jnp.asarray(self._learning_rate.evaluate(it, hp["schedule"]), _F32)
        return _div(lr, 1.0 + hp["decay"] * it.astype(_F32))

    def set_learning_rate(self, state: State, value: Any) -> State:
        """``state`` with the learning-rate variable replaced by ``value``."""
        if not self.learning_rate_settable:
            raise TypeError(
                f"{self._cls} was created with a learning-rate schedule, so its learning rate "
                "is not settable; create it with a float `learning_rate` instead."
            )
        if isinstance(value, numbers.Real):
            self._real("learning_rate", value, low=0.0)
        return {**state, "learning_rate": jnp.asarray(value, _F32)}

    def apply(
        self, params: PyTree, grads: PyTree, state: State
    ) -> tuple[PyTree, State]:
        """One Keras optimizer step; returns ``(new_params, new_state)``. Pure."""
        hp = state["hparams"]
        it = state["iterations"]
        lr = self.learning_rate_at(state)
        if self.loss_scale_factor is not None:
            grads = jax.tree_util.tree_map(lambda g: _div(g, hp["loss_scale_factor"]), grads)

        k = self.gradient_accumulation_steps
        if k:
            summed = jax.tree_util.tree_map(jnp.add, grads, state["grad_accum"])

            def update(_: None) -> tuple[PyTree, State]:
                mean = jax.tree_util.tree_map(lambda s: _div(s, float(k)), summed)
                new_params, new_state = self._update(params, mean, state, lr, it // k)
                new_state["grad_accum"] = jax.tree_util.tree_map(jnp.zeros_like, summed)
                return new_params, new_state

            def accumulate(_: None) -> tuple[PyTree, State]:
                return params, {**state, "grad_accum": summed}

            params, state = jax.lax.cond((it + 1) % k == 0, update, accumulate, None)
            updates_done = it // k
        else:
            params, state = self._update(params, grads, state, lr, it)
            updates_done = it

        if self.use_ema:
            params, state = self._ema(params, state, updates_done)
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

    def get_config(self) -> dict[str, Any]:
        """Keras-style constructor arguments (``from_config`` inverts it)."""
        config = {
            "name": self.name,
            "learning_rate": self._learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "decay": self.decay,
        }
        config.update({k: getattr(self, k) for k in self._numeric + self._flags})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{self._cls}({args})"

    # ---------------------------------------------------------------------- internals
    def _slot_names(self) -> tuple[str, ...]:
        return self._slots

    def _slot_init(self, slot: str, param: jax.Array) -> jax.Array:
        return jnp.zeros_like(param)

    def _begin_step(self, state: State, h: Hparams) -> tuple[State, Hparams]:
        """Per-step (not per-parameter) work before the update; ``h`` holds the step scalars."""
        return state, h

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        """The update rule for one parameter: ``(p, slots) -> (p, slots)``."""
        raise NotImplementedError

    def _update(
        self,
        params: PyTree,
        grads: PyTree,
        state: State,
        lr: jax.Array,
        updates_done: jax.Array,
    ) -> tuple[PyTree, State]:
        """Clip, weight-decay and apply the update rule (Keras ``_backend_apply_gradients``)."""
        leaves, treedef = jax.tree_util.tree_flatten(params)
        g_leaves = treedef.flatten_up_to(grads)
        g_leaves = [jnp.asarray(g, p.dtype) for g, p in zip(g_leaves, leaves)]
        g_leaves = self._clip(g_leaves, state["hparams"], state["hparams_lo"])
        if self.weight_decay is not None:
            wd = state["hparams"]["weight_decay"]
            leaves = [p - p * wd * lr for p in leaves]

        h = {**state["hparams"], "lr": lr, "t": updates_done + 1}
        for k in self._complements:
            h[f"1-{k}"] = _one_minus(h[k], state["hparams_lo"][k])
        for k in self._powers:
            h[f"{k}^t"] = _pow(h[k], h["t"])
        state, h = self._begin_step(state, h)
        slots = {s: treedef.flatten_up_to(t) for s, t in state["slots"].items()}
        new_leaves = []
        for i, (p, g) in enumerate(zip(leaves, g_leaves)):
            p, s = self._update_leaf(p, g, {k: v[i] for k, v in slots.items()}, h)
            new_leaves.append(p)
            for k in slots:
                slots[k][i] = s[k]
        new_slots = {k: jax.tree_util.tree_unflatten(treedef, v) for k, v in slots.items()}
        return jax.tree_util.tree_unflatten(treedef, new_leaves), {**state, "slots": new_slots}

    def _clip(self, grads: list[jax.Array], hp: Hparams, lo: Hparams) -> list[jax.Array]:
        """Keras ``_clip_gradients``; a clip value <= 0 leaves the gradients unchanged."""
        if self._clip_kind is None:
            return grads
        c = hp[self._clip_kind]
        if self._clip_kind == "clipnorm":  # tf.clip_by_norm, per variable
            clipped = []
            for g in grads:
                l2sum = jnp.sum(g * g, keepdims=True)
                pred = l2sum > 0
                l2norm = jnp.where(pred, jnp.sqrt(jnp.where(pred, l2sum, 1.0)), l2sum)
                clipped.append(_div(g * c, jnp.maximum(l2norm, c)))
        elif self._clip_kind == "global_clipnorm":  # base_optimizer.clip_by_global_norm
            norm = jnp.sqrt(jnp.sum(jnp.stack([jnp.sum(g * g) for g in grads])))
            inv_c = _reciprocal(c, lo["global_clipnorm"])
            scale = c * jnp.minimum(_div(1.0, norm), inv_c) + (norm - norm)
            clipped = [g * scale for g in grads]
        else:
            clipped = [jnp.clip(g, -c, c) for g in grads]
        return [jnp.where(c > 0, cg, g) for cg, g in zip(clipped, grads)]

    def _ema(
        self, params: PyTree, state: State, updates_done: jax.Array
    ) -> tuple[PyTree, State]:
        """Keras ``_update_model_variables_moving_average`` and the periodic overwrite."""
        m = (updates_done != 0).astype(_F32) * state["hparams"]["ema_momentum"]
        ema = jax.tree_util.tree_map(lambda a, w: m * a + (1 - m) * w, state["ema"], params)
        f = self.ema_overwrite_frequency
        if f:  # Keras: overwrite when (iterations + 1) % f == 0, counting updates
            overwrite = (updates_done + 1) % f == 0
            params = jax.tree_util.tree_map(lambda a, w: jnp.where(overwrite, a, w), ema, params)
        return params, {**state, "ema": ema}


_BASE_DOC = """
    Base-optimizer arguments (all optimizers): ``weight_decay``, ``clipnorm``, ``clipvalue``,
    ``global_clipnorm``, ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``,
    ``loss_scale_factor``, ``gradient_accumulation_steps``, ``name`` (see ``Optimizer``),
    plus ``lr`` (alias of ``learning_rate``) and the Keras 2 ``decay``.
"""


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum; Keras 3 ``optimizers/sgd.py``.

    Update (``mu = momentum``; ``mu = 0`` is plain SGD, bit-identically)::

        m = m * mu - g * lr
        w = w + m                                  # nesterov=False
        w = w + (m * mu - g * lr)                  # nesterov=True
    """

    _numeric = ("momentum",)
    _flags = ("nesterov",)
    _slots = ("momentum",)

    def __init__(
        self,
        learning_rate: Any = _KerasDefault(0.01),
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = "SGD",
        **kwargs: Any,
    ) -> None:
        self.momentum = self._real("momentum", momentum, low=0.0, high=1.0)
        self.nesterov = self._bool("nesterov", nesterov)
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, kwargs=kwargs,
        )

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        mu, lr = h["momentum"], h["lr"]
        m = s["momentum"] * mu - g * lr
        step = m * mu - g * lr if self.nesterov else m
        return p + step, {"momentum": m}


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
    """

    _numeric = ("rho", "momentum", "epsilon")
    _complements = ("rho",)
    _flags = ("centered",)
    _slots = ("velocity", "momentum")

    def __init__(
        self,
        learning_rate: Any = _KerasDefault(0.001),
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = "rmsprop",
        **kwargs: Any,
    ) -> None:
        self.rho = self._real("rho", rho, low=0.0, high=1.0, high_open=True)
        self.momentum = self._real("momentum", momentum, low=0.0, high=1.0)
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        self.centered = self._bool("centered", centered)
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, kwargs=kwargs,
        )

    def _slot_names(self) -> tuple[str, ...]:
        return self._slots + (("average_gradient",) if self.centered else ())

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        rho, c, eps = h["rho"], h["1-rho"], h["epsilon"]
        v = rho * s["velocity"] + c * (g * g)
        new = {"velocity": v}
        if self.centered:
            a = rho * s["average_gradient"] + c * g
            new["average_gradient"] = a
            denominator = v - a * a + eps
        else:
            denominator = v + eps
        increment = _div(h["lr"] * g, jnp.sqrt(denominator))
        new["momentum"] = h["momentum"] * s["momentum"] + increment
        return p - new["momentum"], new


class Adagrad(Optimizer):
    """Adagrad; Keras 3 ``optimizers/adagrad.py``.

    Update (``acc`` starts at ``initial_accumulator_value``)::

        acc = acc + g**2
        w = w - lr * g / sqrt(acc + epsilon)
    """

    _numeric = ("initial_accumulator_value", "epsilon")
    _slots = ("accumulator",)

    def __init__(
        self,
        learning_rate: Any = _KerasDefault(0.001),
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.initial_accumulator_value = self._real(
            "initial_accumulator_value", initial_accumulator_value, low=0.0
        )
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, kwargs=kwargs,
        )

    def _slot_init(self, slot: str, param: jax.Array) -> jax.Array:
        return jnp.full_like(param, jnp.asarray(self.initial_accumulator_value, _F32))

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        acc = s["accumulator"] + g * g
        return p - _div(h["lr"] * g, jnp.sqrt(acc + h["epsilon"])), {"accumulator": acc}


class Adadelta(Optimizer):
    """Adadelta; Keras 3 ``optimizers/adadelta.py``.

    Update (``rms(x) = sqrt(x + epsilon)``)::

        acc_g = rho * acc_g + (1 - rho) * g**2
        delta = -(rms(acc_d) * g / rms(acc_g))
        acc_d = rho * acc_d + (1 - rho) * delta**2
        w = w + lr * delta
    """

    _numeric = ("rho", "epsilon")
    _complements = ("rho",)
    _slots = ("accumulated_grad", "accumulated_delta_var")

    def __init__(
        self,
        learning_rate: Any = _KerasDefault(0.001),
        rho: float = 0.95,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = "adadelta",
        **kwargs: Any,
    ) -> None:
        self.rho = self._real("rho", rho, low=0.0, high=1.0, high_open=True)
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, kwargs=kwargs,
        )

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        rho, c, eps = h["rho"], h["1-rho"], h["epsilon"]
        acc_g = rho * s["accumulated_grad"] + c * (g * g)
        acc_d = s["accumulated_delta_var"]
        delta = -_div(jnp.sqrt(acc_d + eps) * g, jnp.sqrt(acc_g + eps))
        acc_d = rho * acc_d + c * (delta * delta)
        return p + h["lr"] * delta, {"accumulated_grad": acc_g, "accumulated_delta_var": acc_d}


class Adam(Optimizer):
    """Adam, optionally AMSGrad; Keras 3 ``optimizers/adam.py``.

    Update at step ``t = updates_done + 1``::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        v_hat = max(v_hat, v)                      # amsgrad=True; then v_hat replaces v
        w = w - m * alpha / (sqrt(v) + epsilon)
    """

    _numeric = ("beta_1", "beta_2", "epsilon")
    _complements = ("beta_1", "beta_2")
    _powers = ("beta_1", "beta_2")
    _flags = ("amsgrad",)
    _slots = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = _KerasDefault(0.001),
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = "adam",
        **kwargs: Any,
    ) -> None:
        self.beta_1 = self._real("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = self._real("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        self.amsgrad = self._bool("amsgrad", amsgrad)
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, kwargs=kwargs,
        )

    def _slot_names(self) -> tuple[str, ...]:
        return self._slots + (("velocity_hat",) if self.amsgrad else ())

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        alpha = _div(h["lr"] * jnp.sqrt(1 - h["beta_2^t"]), 1 - h["beta_1^t"])
        m = s["momentum"] + (g - s["momentum"]) * h["1-beta_1"]
        v = s["velocity"] + (g * g - s["velocity"]) * h["1-beta_2"]
        new = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new["velocity_hat"] = jnp.maximum(s["velocity_hat"], v)
        return p - _div(m * alpha, jnp.sqrt(v) + h["epsilon"]), new


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm); Keras 3 ``optimizers/adamax.py``.

    Update at step ``t``::

        m = m + (g - m) * (1 - beta_1)
        u = max(beta_2 * u, |g|)
        w = w - lr * m / ((1 - beta_1**t) * (u + epsilon))
    """

    _numeric = ("beta_1", "beta_2", "epsilon")
    _complements = ("beta_1",)
    _powers = ("beta_1",)
    _slots = ("momentum", "norm")

    def __init__(
        self,
        learning_rate: Any = _KerasDefault(0.001),
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = "adamax",
        **kwargs: Any,
    ) -> None:
        self.beta_1 = self._real("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = self._real("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, kwargs=kwargs,
        )

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        m = s["momentum"] + (g - s["momentum"]) * h["1-beta_1"]
        u = jnp.maximum(h["beta_2"] * s["norm"], jnp.abs(g))
        step = _div(h["lr"] * m, (1 - h["beta_1^t"]) * (u + h["epsilon"]))
        return p - step, {"momentum": m, "norm": u}


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
    """

    _numeric = ("beta_1", "beta_2", "epsilon")
    _powers = ("beta_2",)
    _slots = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = _KerasDefault(0.001),
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = "nadam",
        **kwargs: Any,
    ) -> None:
        self.beta_1 = self._real("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = self._real("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, kwargs=kwargs,
        )

    def init(self, params: PyTree) -> State:
        return {**super().init(params), "u_product": jnp.ones((), _F32)}

    def _begin_step(self, state: State, h: Hparams) -> tuple[State, Hparams]:
        t, b1 = h["t"], h["beta_1"]
        decay = jnp.asarray(0.96, _F32)
        decay_t = _pow(decay, t)
        u_product = state["u_product"] * b1 * (1.0 - 0.5 * decay_t)
        mu_t = b1 * (1.0 - 0.5 * decay_t)
        mu_t1 = b1 * (1.0 - 0.5 * _pow(decay, t + 1))
        h = {**h, "u_product": u_product, "mu_t": mu_t, "mu_t1": mu_t1}
        return {**state, "u_product": u_product}, h

    def _update_leaf(self, p: jax.Array, g: jax.Array, s: Slots, h: Hparams) -> Update:
        mu_t, mu_t1, u_product = h["mu_t"], h["mu_t1"], h["u_product"]
        m = s["momentum"] + (g - s["momentum"]) * (1 - h["beta_1"])
        v = s["velocity"] + (g * g - s["velocity"]) * (1 - h["beta_2"])
        m_hat = _div(mu_t1 * m, 1 - u_product * mu_t1) + _div((1 - mu_t) * g, 1 - u_product)
        v_hat = _div(v, 1 - h["beta_2^t"])
        w = p - _div(m_hat * h["lr"], jnp.sqrt(v_hat) + h["epsilon"])
        return w, {"momentum": m, "velocity": v}


_OPTIMIZERS: dict[str, type[Optimizer]] = {
    c.__name__.lower(): c for c in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)
}
for _c in _OPTIMIZERS.values():
    _c.__doc__ = (_c.__doc__ or "") + _BASE_DOC
del _c


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from a Keras name (case-insensitive, Keras defaults) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Valid names (case-insensitive): "
        f"{', '.join(sorted(_OPTIMIZERS))}, or pass an Optimizer instance."
    )
