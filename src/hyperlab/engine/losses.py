"""Losses and metrics, with Keras 3 (TensorFlow backend) semantics.

Every loss is computed per sample and reduced by the mean over the batch (Keras's
``sum_over_batch_size``; with sample weights ``sum(w * loss) / batch_size``). Metrics are
per-sample values averaged over the epoch's samples (Keras's ``metrics`` are unweighted). When the model's output layer ends in softmax (or sigmoid) the
TensorFlow backend computes the cross-entropy from the logits, without clipping the
probabilities; the engine does the same by passing the pre-activation ``logits``.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

EPSILON = 1e-7  # keras.config.epsilon()

Array = jax.Array


@jax.custom_vjp
def _softmax_cross_entropy(labels: Array, logits: Array) -> Array:
    """TensorFlow's fused ``softmax_cross_entropy_with_logits``, gradient included."""
    return _softmax_cross_entropy_fwd(labels, logits)[0]


def _softmax_cross_entropy_fwd(labels, logits):
    shifted = logits - jnp.max(logits, axis=-1, keepdims=True)
    exp = jnp.exp(shifted)
    sum_exp = jnp.sum(exp, axis=-1, keepdims=True)
    loss = jnp.sum(labels * (jnp.log(sum_exp) - shifted), axis=-1)
    return loss, (labels, exp / sum_exp)


def _softmax_cross_entropy_bwd(residuals, g):
    labels, softmax = residuals
    return None, g[:, None] * (softmax - labels)  # TF's kernel: backprop = softmax - labels


_softmax_cross_entropy.defvjp(_softmax_cross_entropy_fwd, _softmax_cross_entropy_bwd)


def categorical_crossentropy(y_true: Array, y_pred: Array, logits: Array | None = None) -> Array:
    """-sum(y · log p) per sample; from logits when the output is a softmax."""
    if logits is not None:
        return _softmax_cross_entropy(y_true.astype(logits.dtype), logits)
    p = y_pred / jnp.sum(y_pred, axis=-1, keepdims=True)
    p = jnp.clip(p, EPSILON, 1.0 - EPSILON)
    return -jnp.sum(y_true * jnp.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true: Array, y_pred: Array, logits: Array | None = None) -> Array:
    """-log p[label] per sample, labels as integers."""
    labels = y_true.reshape(y_true.shape[0]).astype(jnp.int32)
    if logits is not None:
        log_p = jax.nn.log_softmax(logits, axis=-1)
    else:
        log_p = jnp.log(jnp.clip(y_pred, EPSILON, 1.0 - EPSILON))
    return -jnp.take_along_axis(log_p, labels[:, None], axis=-1)[:, 0]


def binary_crossentropy(y_true: Array, y_pred: Array, logits: Array | None = None) -> Array:
    """Mean over the last axis of -(y log p + (1 - y) log(1 - p)); from logits after a sigmoid."""
    y_true = y_true.reshape(y_pred.shape).astype(y_pred.dtype)
    if logits is not None:
        z = logits
        bce = jnp.maximum(z, 0.0) - z * y_true + jnp.log1p(jnp.exp(-jnp.abs(z)))
    else:
        p = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
        bce = -(y_true * jnp.log(p + EPSILON) + (1.0 - y_true) * jnp.log(1.0 - p + EPSILON))
    return jnp.mean(bce, axis=-1)


def mean_squared_error(y_true: Array, y_pred: Array, logits: Array | None = None) -> Array:
    """mean((y - p)^2) over the last axis."""
    y_true = y_true.reshape(y_pred.shape).astype(y_pred.dtype)
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true: Array, y_pred: Array, logits: Array | None = None) -> Array:
    """mean(|y - p|) over the last axis."""
    y_true = y_true.reshape(y_pred.shape).astype(y_pred.dtype)
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


LossFn = Callable[[Array, Array, "Array | None"], Array]

LOSSES: dict[str, LossFn] = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
}
# Keras's other spellings: aliases and class names (``losses.get`` resolves both)
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
            "bce": "binary_crossentropy", "meansquarederror": "mean_squared_error",
            "meanabsoluteerror": "mean_absolute_error", "binarycrossentropy": "binary_crossentropy",
            "categoricalcrossentropy": "categorical_crossentropy",
            "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy"}

# Losses that the TensorFlow backend computes from the logits of this output activation.
FROM_LOGITS = {
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
}


def get(identifier: Any) -> str:
    """Resolve a Keras loss name, alias, class name or one of this module's loss functions
    to its canonical name."""
    if callable(identifier) and LOSSES.get(getattr(identifier, "__name__", "")) is identifier:
        return identifier.__name__
    if not isinstance(identifier, str):
        raise ValueError(f"loss must be a Keras loss name, got {identifier!r}; valid names: {sorted(LOSSES)}")
    name = _ALIASES.get(identifier.lower(), identifier.lower())
    if name not in LOSSES:
        raise ValueError(f"unknown loss {identifier!r}; valid names: "
                         f"{sorted(LOSSES) + ['bce', 'mae', 'mse']}")
    return name


def accuracy_kind(y_shape: tuple[int, ...], output_units: int) -> str:
    """Which accuracy Keras 3 resolves "accuracy" to, from the label and output shapes."""
    if output_units == 1:
        return "binary"
    if len(y_shape) == 1 or y_shape[-1] == 1:
        return "sparse_categorical"
    return "categorical"


def correct(kind: str, y_true: Array, y_pred: Array) -> Array:
    """Per-sample 1.0/0.0 for the resolved accuracy metric."""
    if kind == "binary":
        hit = y_true.reshape(y_pred.shape) == (y_pred > 0.5).astype(y_pred.dtype)
        return jnp.mean(hit.astype(jnp.float32), axis=-1)
    predicted = jnp.argmax(y_pred, axis=-1)
    if kind == "sparse_categorical":
        return (y_true.reshape(predicted.shape).astype(jnp.int32) == predicted).astype(jnp.float32)
    return (jnp.argmax(y_true, axis=-1) == predicted).astype(jnp.float32)


def binary_accuracy(y_true: Array, y_pred: Array) -> Array:
    """Per sample: mean over the last axis of ``y_true == (y_pred > 0.5)``."""
    return correct("binary", y_true, y_pred)


def categorical_accuracy(y_true: Array, y_pred: Array) -> Array:
    """Per sample: 1.0 where ``argmax(y_true) == argmax(y_pred)`` (one-hot labels)."""
    return correct("categorical", y_true, y_pred)


def sparse_categorical_accuracy(y_true: Array, y_pred: Array) -> Array:
    """Per sample: 1.0 where the integer label equals ``argmax(y_pred)``."""
    return correct("sparse_categorical", y_true, y_pred)


def _loss_metric(fn: LossFn) -> Callable[[Array, Array], Array]:
    return lambda y_true, y_pred: fn(y_true, y_pred, None)


# metric kind -> per-sample values; a loss used as a metric works on the probabilities
METRICS: dict[str, Callable[[Array, Array], Array]] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    **{name: _loss_metric(fn) for name, fn in LOSSES.items()},
}
ACCURACY_NAMES = ("accuracy", "acc")  # resolved from the label and output shapes


def metric_kind(identifier: Any) -> tuple[str, str | None]:
    """``(log name, kind)`` of a ``compile(metrics=...)`` entry, as Keras names it: the
    string itself (``"acc"`` logs ``acc``, ``"mse"`` logs ``mse``) or a function's name.
    ``kind`` is None for "accuracy"/"acc", which the data resolve (``accuracy_kind``)."""
    if isinstance(identifier, str):
        if identifier.lower() in ACCURACY_NAMES:
            return identifier, None
        key = identifier.lower()
        kind = key if key in METRICS else _ALIASES.get(key)
        if kind is not None:
            return identifier, kind
    elif callable(identifier):
        name = getattr(identifier, "__name__", "")
        if identifier is globals().get(name) and name in METRICS:
            return name, name
    valid = sorted(set(METRICS) | {"accuracy", "acc", "mse", "mae", "bce"})
    raise ValueError(f"unknown metric {identifier!r}; valid metrics: {valid}")
