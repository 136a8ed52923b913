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

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from hyperlab.engine import activations, initializers, regularizers

Params = dict[str, jax.Array]


class Layer:
    """Base layer: no weights, identity call, linear activation."""

    kind = "layer"

    def __init__(self, name: str | None = None, trainable: bool = True) -> None:
        self.name = name
        self.trainable = trainable
        self.activation = "linear"
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None

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
        super().__init__(name, trainable)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"Dense units must be a positive int, got {units!r}")
        self.units = units
        self.activation = activations.serialize(activations.get(activation or "linear"))
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if input_dim is not None:
            input_shape = (input_dim,)
        self.declared_input_shape = tuple(input_shape) if input_shape is not None else None
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
                "kernel_initializer": self.kernel_initializer.get_config() | {"class_name": type(self.kernel_initializer).__name__},
                "bias_initializer": self.bias_initializer.get_config() | {"class_name": type(self.bias_initializer).__name__},
                "kernel_regularizer": _reg_config(self.kernel_regularizer),
                "bias_regularizer": _reg_config(self.bias_regularizer)}


def _reg_config(reg) -> dict | None:
    return None if reg is None else {"class_name": type(reg).__name__, "config": reg.get_config()}


class Activation(Layer):
    """Applies an activation function by Keras name."""

    kind = "activation"

    def __init__(self, activation: str, name: str | None = None) -> None:
        super().__init__(name)
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
                 trainable: bool = True) -> None:
        super().__init__(name, trainable)
        if axis != -1:
            raise ValueError(f"BatchNormalization supports axis=-1 (the features), got axis={axis}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"BatchNormalization momentum must be in [0, 1), got momentum={momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization epsilon must be > 0, got epsilon={epsilon}")
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

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got rate={rate}")
        self.rate = float(rate)

    def call(self, params, state, x, *, training, rng):
        if not training or self.rate == 0.0 or rng is None:
            return x, state
        keep = jax.random.bernoulli(rng, 1.0 - self.rate, x.shape)
        return jnp.where(keep, x / jnp.float32(1.0 - self.rate), 0.0), state

    def static_config(self):
        return super().static_config() + (self.rate,)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


__all__ = ["Layer", "Input", "InputSpec", "Dense", "Activation", "Flatten", "BatchNormalization",
           "Dropout"]
