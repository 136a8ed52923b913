"""Weight initializers with Keras 3 names, arguments and distributions.

Each initializer is called as ``init(key, shape, dtype=jnp.float32)`` and draws from
the JAX key it is given: the values cannot reproduce TensorFlow's random stream, but
the distributions are Keras's. A random initializer built with an integer ``seed``
ignores ``key`` (which may then be ``None``) and draws from ``PRNGKey(seed)``, so,
as in Keras, it returns the same values on every call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from hyperlab._constraints import POSITIVE, Interval, Optional, Options
from hyperlab.engine.fields import Declared, setting

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "compute_fans",
    "NAMES",
    "get",
]

Shape = Sequence[int]

# Standard deviation of the standard normal truncated to [-2, 2].
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras.

    Rank 0: (1, 1); rank 1: (n, n); rank 2 ``(in, out)``: (in, out); higher ranks are
    convolution kernels ``(..., in, out)`` scaled by the receptive field size.
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


class Initializer(Declared):
    """Base class: ``init(key, shape, dtype=jnp.float32) -> jax.Array``. Subclasses declare
    their arguments as fields (``get_config``, ``from_config`` and ``repr`` follow)."""

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.zeros(tuple(shape), dtype=dtype)


class Ones(Initializer):
    """All ones."""

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.ones(tuple(shape), dtype=dtype)


class Constant(Initializer):
    """Every entry equal to ``value``."""

    value = setting(0.0)

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.full(tuple(shape), self.value, dtype=dtype)


class _RandomInitializer(Initializer):
    _trailing = ("seed",)
    seed = setting(None, Optional(Interval(integer=True)))

    def _key(self, key: jax.Array | None) -> jax.Array:
        if self.seed is not None:
            return jax.random.PRNGKey(self.seed)
        if key is None:
            raise ValueError(
                f"{type(self).__name__} without a seed needs a PRNG key. Received: key=None"
            )
        return key


def _floating(dtype: Any, name: str) -> Any:
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name} draws floating-point values. Received: dtype={dtype}")
    return dtype


def _normal(key: jax.Array, shape: Shape, dtype: Any, mean: float, stddev: float) -> jax.Array:
    return jax.random.normal(key, tuple(shape), dtype) * jnp.asarray(stddev, dtype) + jnp.asarray(
        mean, dtype
    )


def _truncated(key: jax.Array, shape: Shape, dtype: Any, mean: float, stddev: float) -> jax.Array:
    """Normal(mean, stddev) with values beyond two stddev from the mean redrawn."""
    unit = jax.random.truncated_normal(key, -2.0, 2.0, tuple(shape), dtype)
    return unit * jnp.asarray(stddev, dtype) + jnp.asarray(mean, dtype)


def _uniform(key: jax.Array, shape: Shape, dtype: Any, minval: float, maxval: float) -> jax.Array:
    return jax.random.uniform(key, tuple(shape), dtype, minval, maxval)


class RandomNormal(_RandomInitializer):
    """Normal(mean, stddev)."""

    mean = setting(0.0)
    stddev = setting(0.05)

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        return _normal(
            self._key(key), shape, _floating(dtype, "RandomNormal"), self.mean, self.stddev
        )


class TruncatedNormal(_RandomInitializer):
    """Normal(mean, stddev) truncated at two ``stddev`` from the mean."""

    mean = setting(0.0)
    stddev = setting(0.05)

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        return _truncated(
            self._key(key), shape, _floating(dtype, "TruncatedNormal"), self.mean, self.stddev
        )


class RandomUniform(_RandomInitializer):
    """Uniform on ``[minval, maxval)``."""

    minval = setting(-0.05)
    maxval = setting(0.05)

    def _validate(self) -> None:
        if not self.minval < self.maxval:
            raise ValueError(
                f"RandomUniform: `minval` must be < `maxval`. Received: minval={self.minval}, "
                f"maxval={self.maxval}"
            )

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        return _uniform(
            self._key(key), shape, _floating(dtype, "RandomUniform"), self.minval, self.maxval
        )


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def _distribution(name: Any) -> str:
    """Keras's spelling: any case, ``"normal"`` for ``"truncated_normal"``."""
    name = str(name).lower()
    return "truncated_normal" if name == "normal" else name


class VarianceScaling(_RandomInitializer):
    """Scale-aware initializer, with ``n`` = fan_in, fan_out or their mean (by ``mode``).

    - ``truncated_normal``: stddev ``sqrt(scale / n) / 0.87962566103423978``, truncated at
      two stddev (so the variance after truncation is ``scale / n``);
    - ``untruncated_normal``: stddev ``sqrt(scale / n)``;
    - ``uniform``: on ``[-limit, limit)`` with ``limit = sqrt(3 * scale / n)``.

    ``distribution="normal"`` is Keras's alias of ``"truncated_normal"``. ``n`` is at least 1.
    """

    scale = setting(1.0, POSITIVE)
    mode = setting("fan_in", Options(_MODES))
    distribution = setting("truncated_normal", Options(_DISTRIBUTIONS), prepare=_distribution)

    def variance(self, shape: Shape) -> float:
        """The target variance ``scale / n`` for ``shape``."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def __call__(self, key: jax.Array | None, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        dtype = _floating(dtype, type(self).__name__)
        key = self._key(key)
        variance = self.variance(shape)
        if self.distribution == "truncated_normal":
            return _truncated(key, shape, dtype, 0.0, math.sqrt(variance) / _TRUNCATED_STDDEV)
        if self.distribution == "untruncated_normal":
            return _normal(key, shape, dtype, 0.0, math.sqrt(variance))
        limit = math.sqrt(3.0 * variance)
        return _uniform(key, shape, dtype, -limit, limit)


class _Preset(VarianceScaling):
    _preset: tuple[float, str, str]

    def __init__(self, seed: int | None = None) -> None:
        scale, mode, distribution = self._preset
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    """Uniform on ``[-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``."""

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal with variance ``2 / (fan_in + fan_out)``."""

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Preset):
    """Uniform on ``[-limit, limit)``, ``limit = sqrt(6 / fan_in)``."""

    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    """Truncated normal with variance ``2 / fan_in``."""

    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """Uniform on ``[-limit, limit)``, ``limit = sqrt(3 / fan_in)``."""

    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal with variance ``1 / fan_in``."""

    _preset = (1.0, "fan_in", "truncated_normal")


_BY_NAME: dict[str, type[Initializer]] = {
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
}

NAMES: tuple[str, ...] = tuple(_BY_NAME)

# Lower-cased class names and Keras's short aliases resolve too.
_LOOKUP: dict[str, type[Initializer]] = {
    **_BY_NAME,
    **{cls.__name__.lower(): cls for cls in _BY_NAME.values()},
    "uniform": RandomUniform,
    "normal": RandomNormal,
    "zero": Zeros,
    "one": Ones,
}


def _lookup(name: Any) -> type[Initializer]:
    cls = _LOOKUP.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"Unknown initializer {name!r}. Valid names: {', '.join(NAMES)}")
    return cls


def get(identifier: str | dict[str, Any] | Initializer) -> Initializer:
    """Resolve an initializer instance, a name (case-insensitive; Keras snake-case names
    or class names) or a ``{"class_name": ..., "config": ...}`` dict.
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(
                f"An initializer config dict needs a 'class_name' key. Received: {identifier!r}"
            )
        cls = _lookup(identifier["class_name"])
        try:
            return cls.from_config(dict(identifier.get("config") or {}))
        except TypeError as err:
            raise ValueError(f"Invalid config for {cls.__name__}: {err}") from None
    raise ValueError(
        f"Could not interpret initializer identifier: {identifier!r}. "
        f"Valid names: {', '.join(NAMES)}"
    )
