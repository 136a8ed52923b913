"""Layers: Keras-shaped descriptions of pure JAX functions.

A layer is built for an input shape, creates its parameters from a PRNG key, and applies
them as a pure function. Parameters (trained) and state (not trained, e.g. moving
statistics) are separate dicts, so layers with state and randomness fit the same contract:

    params, state = layer.init(key)
    z, state = layer.call(params, state, x, training=..., rng=...)   # before the activation
    y = layer.activation_fn(z)

``call`` stops before the layer's activation so that the model can hand the output layer's
logits to the loss, as Keras's TensorFlow backend does for softmax/sigmoid outputs.
"""
from __future__ import annotations

import collections
import inspect
import math
import numbers
import weakref
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.engine import activations, initializers, regularizers
from hyperlab._constraints import (FINITE, NON_NEGATIVE, POSITIVE, UNIT_OPEN, Interval,
                                         Items, Optional, Options, check)

Params = dict[str, jax.Array]
_AXIS = Interval(1, integer=True)  # a feature axis or size (0 is the batch)

# Keras's automatic names: one counter per prefix for the whole process ("dense",
# "dense_1", ...), reset by ``clear_session()``.
_NAME_UIDS: collections.defaultdict[str, int] = collections.defaultdict(int)


def auto_name(prefix: str) -> str:
    """The next automatic name for ``prefix``, as Keras's ``naming.auto_name``."""
    n = _NAME_UIDS[prefix]
    _NAME_UIDS[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Start the automatic names again from ``dense``, ``sequential``... (``clear_session``)."""
    _NAME_UIDS.clear()


def _input_shape(input_shape: Sequence[int] | None, input_dim: int | None) -> tuple[int, ...] | None:
    """Keras's ``input_shape=`` / ``input_dim=`` of a first layer (without the batch axis)."""
    if input_dim is not None:
        input_shape = (input_dim,)
    if input_shape is None:
        return None
    shape = (input_shape,) if isinstance(input_shape, numbers.Integral) else tuple(input_shape)
    if not shape or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1
                        for d in shape):
        raise ValueError(f"input_shape must be positive ints (without the batch axis), got "
                         f"{input_shape!r}; e.g. input_shape=(28, 28)")
    return tuple(int(d) for d in shape)


class Layer:
    """Base layer: no weights, identity call, linear activation.

    ``name`` defaults to Keras's automatic name (``dense``, ``dense_1``... counted over the
    process). ``input_shape`` / ``input_dim`` on a model's first layer declare the model's
    input, as in Keras. ``get_weights``/``set_weights``/``weights``/``trainable_weights``
    read and write the layer's weights in the model it was last built in (NumPy copies,
    where Keras gives variables)."""

    kind = "layer"

    def __init__(self, name: str | None = None, trainable: bool = True,
                 input_shape: Sequence[int] | None = None, input_dim: int | None = None) -> None:
        self.name = auto_name(self.kind) if name is None else name
        self.trainable = trainable
        self.activation = "linear"
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.declared_input_shape = _input_shape(input_shape, input_dim)
        self.auto_named = name is None
        self._model: weakref.ref | None = None

    # -- weights, in the model that holds them -----------------------------------
    def _slot(self):
        """(params, state) dicts of this layer in its model, or None before it is built."""
        model = self._model() if self._model is not None else None
        if model is None or not model.built:
            return None
        for i, layer in enumerate(model.layers):
            if layer is self:
                return model.params[i], model.state[i]
        return None

    def get_weights(self) -> list[np.ndarray]:
        """The layer's weights in Keras order (``[]`` before it is built)."""
        slot = self._slot()
        if slot is None:
            return []
        return [np.array(slot[0][n] if n in slot[0] else slot[1][n]) for n in self.weight_order]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Replace the layer's weights (Keras order, same shapes)."""
        slot = self._slot()
        if slot is None:
            raise ValueError(f"layer {self.name!r} is not built yet: add it to a model with a "
                             "known input shape first")
        weights = list(weights)
        if len(weights) != len(self.weight_order):
            raise ValueError(f"layer {self.name!r} set_weights expected {len(self.weight_order)} "
                             f"arrays, got {len(weights)}")
        for name, value in zip(self.weight_order, weights):
            target = slot[0] if name in slot[0] else slot[1]
            value = np.asarray(value, np.float32)
            if value.shape != target[name].shape:
                raise ValueError(f"set_weights: {self.name}/{name} needs shape "
                                 f"{tuple(target[name].shape)}, got {value.shape}")
            target[name] = jnp.asarray(value)

    @property
    def weights(self) -> list[np.ndarray]:
        return self.get_weights()

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The trained parameters (``[]`` for a frozen layer), as Keras."""
        slot = self._slot()
        if slot is None or not self.trainable:
            return []
        return [np.array(slot[0][n]) for n in self.weight_order if n in slot[0]]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        slot = self._slot()
        if slot is None:
            return []
        return [np.array(slot[0][n] if n in slot[0] else slot[1][n]) for n in self.weight_order
                if n in slot[1] or not self.trainable]

    def count_params(self) -> int:
        return int(sum(np.size(w) for w in self.get_weights()))

    # -- construction ---------------------------------------------------------
    def build(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Fix the input shape (without batch axis); return the output shape."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        return self.output_shape

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def init(self, key: jax.Array) -> tuple[Params, Params]:
        return {}, {}

    # -- computation ----------------------------------------------------------
    def call(self, params: Params, state: Params, x: jax.Array, *, training: bool,
             rng: jax.Array | None) -> tuple[jax.Array, Params]:
        return x, state

    @property
    def activation_fn(self):
        return activations.get(self.activation)

    def penalty(self, params: Params) -> jax.Array:
        """Regularization penalty added to the loss."""
        return jnp.zeros((), jnp.float32)

    # -- description ----------------------------------------------------------
    weight_order: tuple[str, ...] = ()  # Keras get_weights() order over params and state
    needs_rng = False

    def static_config(self) -> tuple:
        """Everything that shapes this layer's computation (hashable)."""
        return (type(self).__name__, self.input_shape, self.activation, self.trainable)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        """The layer ``get_config()`` describes (a ValueError for unknown arguments)."""
        if not isinstance(config, dict):
            raise ValueError(f"{cls.__name__} config must be a dict, got {config!r}")
        config = dict(config)
        trainable = config.pop("trainable", True)
        try:
            inspect.signature(cls).bind(**config)
        except TypeError as err:
            raise ValueError(f"invalid {cls.__name__} config {config!r}: {err}") from None
        try:
            layer = cls(**config)
        except (TypeError, KeyError) as err:
            raise ValueError(f"invalid {cls.__name__} config {config!r}: {err}") from None
        layer.trainable = bool(trainable)
        return layer

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class InputSpec:
    """``hyperlab.layers.Input(shape)``: declares the model's input shape (no weights)."""

    def __init__(self, shape: Sequence[int] | int, name: str | None = None) -> None:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if not shape or any((not isinstance(d, int)) or d < 1 for d in shape):
            raise ValueError(f"Input shape must be a tuple of positive ints, got {shape!r}")
        self.shape = shape
        self.name = name


def Input(shape: Sequence[int] | int, name: str | None = None) -> InputSpec:
    return InputSpec(shape, name)


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)``; kernel of shape (in, units)."""

    kind = "dense"
    weight_order = ("kernel", "bias")

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_dim: int | None = None, input_shape: Sequence[int] | None = None,
                 name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name, trainable, input_shape, input_dim)
        self.units = int(check(units, Interval(1, integer=True), "units", "Dense"))
        self.activation = activations.serialize(activations.get(activation or "linear"))
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if not self.use_bias:
            self.weight_order = ("kernel",)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1] + (self.units,)

    def init(self, key):
        k_kernel, k_bias = jax.random.split(key)
        params = {"kernel": self.kernel_initializer(k_kernel, (self.input_shape[-1], self.units))}
        if self.use_bias:
            params["bias"] = self.bias_initializer(k_bias, (self.units,))
        return params, {}

    def call(self, params, state, x, *, training, rng):
        z = x @ params["kernel"]
        if self.use_bias:
            z = z + params["bias"]
        return z, state

    def penalty(self, params):
        total = jnp.zeros((), jnp.float32)
        if self.kernel_regularizer is not None:
            total = total + self.kernel_regularizer(params["kernel"])
        if self.bias_regularizer is not None and self.use_bias:
            total = total + self.bias_regularizer(params["bias"])
        return total

    def static_config(self):
        regs = tuple(None if r is None else tuple(sorted(r.get_config().items()))
                     for r in (self.kernel_regularizer, self.bias_regularizer))
        return super().static_config() + (self.units, self.use_bias, regs)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": _init_config(self.kernel_initializer),
                "bias_initializer": _init_config(self.bias_initializer),
                "kernel_regularizer": _reg_config(self.kernel_regularizer),
                "bias_regularizer": _reg_config(self.bias_regularizer)}


def _init_config(init) -> dict:
    """Keras's serialized form, which ``initializers.get`` reads back."""
    return {"class_name": type(init).__name__, "config": dict(init.get_config())}


def _reg_config(reg) -> dict | None:
    """Keras's serialized form, which ``regularizers.get`` reads back (None: no regularizer)."""
    if reg is None:
        return None
    get_config = getattr(reg, "get_config", None)
    return {"class_name": type(reg).__name__,
            "config": dict(get_config()) if callable(get_config) else None}


class Activation(Layer):
    """Applies an activation function by Keras name."""

    kind = "activation"

    def __init__(self, activation: str, name: str | None = None, trainable: bool = True,
                 input_shape: Sequence[int] | None = None) -> None:
        super().__init__(name, trainable, input_shape)
        self.activation = activations.serialize(activations.get(activation))

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Flatten(Layer):
    """Flattens all axes but the batch axis."""

    kind = "flatten"

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def call(self, params, state, x, *, training, rng):
        return x.reshape(x.shape[0], -1), state


class BatchNormalization(Layer):
    """Keras 3 batch normalization over the last axis.

    Training (when the layer is trainable): the batch's mean and variance (``tf.nn.moments``:
    variance about the stopped-gradient mean) normalize it, and the moving statistics follow
    ``moving = moving * momentum + batch * (1 - momentum)``. Inference, or a frozen layer:
    the moving statistics. Then, as ``tf.nn.batch_normalization``::

        inv = gamma / sqrt(variance + epsilon)
        y = x * inv + (beta - mean * inv)

    ``gamma``/``beta`` are trained; ``moving_mean``/``moving_variance`` are state.
    """

    kind = "batch_normalization"
    weight_order = ("gamma", "beta", "moving_mean", "moving_variance")

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, name: str | None = None,
                 trainable: bool = True, input_shape: Sequence[int] | None = None) -> None:
        super().__init__(name, trainable, input_shape)
        check(axis, Options((-1,)), "axis", "BatchNormalization")  # the features
        check(momentum, UNIT_OPEN, "momentum", "BatchNormalization")
        check(epsilon, POSITIVE, "epsilon", "BatchNormalization")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.weight_order = tuple(n for n, keep in zip(self.weight_order, (scale, center, True, True)) if keep)

    def init(self, key):
        units = self.input_shape[-1]
        params = {}
        if self.scale:
            params["gamma"] = jnp.ones((units,), jnp.float32)
        if self.center:
            params["beta"] = jnp.zeros((units,), jnp.float32)
        return params, {"moving_mean": jnp.zeros((units,), jnp.float32),
                        "moving_variance": jnp.ones((units,), jnp.float32)}

    def call(self, params, state, x, *, training, rng):
        if training and self.trainable:
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axis=axes)
            variance = jnp.mean(jnp.square(x - jax.lax.stop_gradient(mean)), axis=axes)
            keep, new = jnp.float32(self.momentum), jnp.float32(1.0 - self.momentum)
            state = {"moving_mean": state["moving_mean"] * keep + mean * new,
                     "moving_variance": state["moving_variance"] * keep + variance * new}
        else:
            mean, variance = state["moving_mean"], state["moving_variance"]
        inv = jax.lax.rsqrt(variance + jnp.float32(self.epsilon))
        if self.scale:
            inv = inv * params["gamma"]
        offset = params["beta"] - mean * inv if self.center else -mean * inv
        return x * inv + offset, state

    def static_config(self):
        return super().static_config() + (self.momentum, self.epsilon, self.center, self.scale)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 during training and scales the rest by
    ``1 / (1 - rate)``; identity at inference. Randomness comes from the run's seed, a new
    mask every step."""

    kind = "dropout"
    needs_rng = True

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None,
                 trainable: bool = True, input_shape: Sequence[int] | None = None) -> None:
        super().__init__(name, trainable, input_shape)
        self.rate = float(check(rate, UNIT_OPEN, "rate", "Dropout"))
        self.seed = seed  # kept for the config; the masks come from the run's seed

    def call(self, params, state, x, *, training, rng):
        if not training or self.rate == 0.0 or rng is None:
            return x, state
        keep = jax.random.bernoulli(rng, 1.0 - self.rate, x.shape)
        return jnp.where(keep, x / jnp.float32(1.0 - self.rate), 0.0), state

    def static_config(self):
        return super().static_config() + (self.rate,)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


# -- activation layers (Keras 3 ``layers/activations``) ------------------------
class _DefaultSlope(float):
    """LeakyReLU's default ``negative_slope``: tells an omitted slope from an explicit one."""


class LeakyReLU(Layer):
    """Leaky ReLU, as ``keras.layers.LeakyReLU``: ``x`` for ``x > 0``, ``negative_slope * x``
    otherwise. Keras 3's default slope is 0.3; Keras 2's argument name ``alpha`` is accepted
    too (same meaning; give one of the two)."""

    kind = "leaky_re_lu"

    def __init__(self, negative_slope: float = _DefaultSlope(0.3), name: str | None = None,
                 trainable: bool = True, input_shape: Sequence[int] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, trainable, input_shape)
        arg = "negative_slope"
        if "alpha" in kwargs:
            if not isinstance(negative_slope, _DefaultSlope):
                raise ValueError("LeakyReLU: give either `negative_slope` or its Keras 2 name "
                                 f"`alpha`, not both; got negative_slope={negative_slope!r}, "
                                 f"alpha={kwargs['alpha']!r}")
            negative_slope, arg = kwargs.pop("alpha"), "alpha"
        if kwargs:
            raise ValueError(f"LeakyReLU: unknown argument(s) {sorted(kwargs)}; valid: "
                             "negative_slope (or alpha), name, trainable, input_shape")
        self.negative_slope = float(check(negative_slope, NON_NEGATIVE, arg, "LeakyReLU"))

    def call(self, params, state, x, *, training, rng):
        return activations.leaky_relu(x, self.negative_slope), state

    def static_config(self):
        return super().static_config() + (self.negative_slope,)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Parametric ReLU, as ``keras.layers.PReLU``: learned slopes ``alpha`` with the input's
    shape (size 1 along ``shared_axes``, counted as Keras does with the batch axis as 0)::

        y = relu(x) - alpha * relu(-x)       # x for x >= 0, alpha * x otherwise
    """

    kind = "p_re_lu"
    weight_order = ("alpha",)

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None,
                 shared_axes: int | Sequence[int] | None = None, name: str | None = None,
                 trainable: bool = True, input_shape: Sequence[int] | None = None) -> None:
        super().__init__(name, trainable, input_shape)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            axes: tuple[int, ...] | None = None
        else:
            axes = (shared_axes,) if isinstance(shared_axes, numbers.Integral) else tuple(shared_axes)
            check(axes, Items(_AXIS), "shared_axes", "PReLU")  # axis 0 is the batch axis
            axes = tuple(sorted({int(a) for a in axes}))
        self.shared_axes = axes

    def compute_output_shape(self, input_shape):
        if self.shared_axes and max(self.shared_axes) > len(input_shape):
            raise ValueError(f"PReLU shared_axes={list(self.shared_axes)} do not fit inputs of "
                             f"shape (batch,) + {tuple(input_shape)}")
        return input_shape

    @property
    def alpha_shape(self) -> tuple[int, ...]:
        shared = set(self.shared_axes or ())
        return tuple(1 if i + 1 in shared else d for i, d in enumerate(self.input_shape))

    def init(self, key):
        return {"alpha": self.alpha_initializer(key, self.alpha_shape)}, {}

    def call(self, params, state, x, *, training, rng):
        pos = activations.relu(x)
        neg = -params["alpha"] * activations.relu(-x)
        return pos + neg, state

    def penalty(self, params):
        if self.alpha_regularizer is None:
            return jnp.zeros((), jnp.float32)
        return jnp.zeros((), jnp.float32) + self.alpha_regularizer(params["alpha"])

    def static_config(self):
        reg = _reg_config(self.alpha_regularizer)
        reg = None if reg is None else (reg["class_name"], tuple(sorted((reg["config"] or {}).items())))
        return super().static_config() + (self.shared_axes, reg)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": _init_config(self.alpha_initializer),
                "alpha_regularizer": _reg_config(self.alpha_regularizer),
                "shared_axes": None if self.shared_axes is None else list(self.shared_axes)}


class ELU(Layer):
    """Exponential linear unit, as ``keras.layers.ELU``: ``x`` for ``x > 0``,
    ``alpha * (exp(x) - 1)`` otherwise."""

    kind = "elu"

    def __init__(self, alpha: float = 1.0, name: str | None = None, trainable: bool = True,
                 input_shape: Sequence[int] | None = None) -> None:
        super().__init__(name, trainable, input_shape)
        self.alpha = float(check(alpha, FINITE, "alpha", "ELU"))

    def call(self, params, state, x, *, training, rng):
        return activations.elu(x, self.alpha), state

    def static_config(self):
        return super().static_config() + (self.alpha,)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


# -- regularization -------------------------------------------------------------
class AlphaDropout(Layer):
    """Alpha dropout for self-normalizing (SELU) networks, as ``keras.layers.AlphaDropout``.

    During training each input is dropped with probability ``rate`` to SELU's negative
    saturation value ``alpha_p = -scale * alpha`` (about -1.7581), then an affine correction
    keeps a zero-mean unit-variance input's mean and variance::

        kept = uniform(noise_shape) >= rate
        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * rate
        y = a * (x * kept + alpha_p * (1 - kept)) + b

    Identity at inference. ``noise_shape`` (with the batch axis; None entries take the
    input's size) shares the mask along axes of size 1. The masks come from the run's seed
    (a new one every step); ``seed`` is kept for the config only, as in ``Dropout``.
    """

    kind = "alpha_dropout"
    needs_rng = True

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, name: str | None = None, trainable: bool = True,
                 input_shape: Sequence[int] | None = None) -> None:
        super().__init__(name, trainable, input_shape)
        check(rate, UNIT_OPEN, "rate", "AlphaDropout")
        check(seed, Optional(Interval(integer=True)), "seed", "AlphaDropout")
        if noise_shape is not None:
            noise_shape = check(tuple(noise_shape), Items(Optional(_AXIS)), "noise_shape",
                                "AlphaDropout")
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = None if seed is None else int(seed)

    def compute_output_shape(self, input_shape):
        ns = self.noise_shape
        if ns is not None:
            if len(ns) != len(input_shape) + 1:
                raise ValueError(f"AlphaDropout noise_shape={list(ns)} needs {len(input_shape) + 1} "
                                 f"entries (batch axis first) for inputs of shape (batch,) + "
                                 f"{tuple(input_shape)}")
            for d, n in zip(ns[1:], input_shape):
                if d is not None and d not in (1, n):
                    raise ValueError(f"AlphaDropout noise_shape={list(ns)} does not broadcast to "
                                     f"inputs of shape (batch,) + {tuple(input_shape)}")
        return input_shape

    def call(self, params, state, x, *, training, rng):
        if not training or self.rate == 0.0 or rng is None:
            return x, state
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(n if d is None else d for d, n in zip(self.noise_shape, x.shape))
            if shape[0] not in (1, x.shape[0]):
                raise ValueError(f"AlphaDropout noise_shape batch entry {shape[0]} does not "
                                 f"broadcast to a batch of {x.shape[0]}")
        rate = self.rate
        alpha_p = -activations.SELU_ALPHA * activations.SELU_SCALE
        kept = (jax.random.uniform(rng, shape) >= rate).astype(x.dtype)
        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * rate
        y = x * kept + alpha_p * (1 - kept)
        return a * y + b, state

    def static_config(self):
        return super().static_config() + (self.rate, self.noise_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}


# -- (de)serialization ----------------------------------------------------------------
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, Activation, Flatten, BatchNormalization, Dropout,
                                  LeakyReLU, PReLU, ELU, AlphaDropout)
}


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": layer.get_config()}`` (Keras's form)."""
    if type(layer).__name__ not in LAYERS or LAYERS[type(layer).__name__] is not type(layer):
        raise ValueError(f"{layer!r} is not a built-in hyperlab layer; serializable layers: "
                         f"{', '.join(LAYERS)}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict[str, Any]) -> Layer:
    """The layer of a ``serialize`` dict; the class is looked up among the built-in layers
    only (``LAYERS``), never imported by name."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config needs a 'class_name' key, got {config!r}")
    name = config["class_name"]
    if not isinstance(name, str) or name not in LAYERS:
        raise ValueError(f"unknown layer class {name!r}; known layers: {', '.join(LAYERS)}")
    return LAYERS[name].from_config(config.get("config") or {})


__all__ = ["Layer", "Input", "InputSpec", "Dense", "Activation", "Flatten", "BatchNormalization",
           "Dropout", "LeakyReLU", "PReLU", "ELU", "AlphaDropout", "LAYERS", "serialize",
           "deserialize"]
