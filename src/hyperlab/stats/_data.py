"""Samples as the statistics take them, and results as JSON takes them.

A sample is one value's results, one number per seed: an array (position ``i`` is seed
``i``) or a mapping ``{seed: value}``. A non-finite number (a diverged run) or ``None`` is a
missing result: the statistics exclude it and count it.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

#: One value's results: an array indexed by seed, or a mapping ``{seed: result}``.
Samples: TypeAlias = ArrayLike | Mapping[Hashable, Any]

#: A spread at or below this multiple of the data's magnitude is rounding noise, not spread.
_ROUNDING = 16 * float(np.finfo(float).eps)


def series(samples: Samples) -> tuple[list[Hashable], np.ndarray]:
    """The seeds and the results (float, NaN where missing) of ``samples``."""
    if isinstance(samples, Mapping):
        seeds = list(samples)
        values = np.array([samples[s] for s in seeds], dtype=float)
    else:
        values = np.asarray(samples, dtype=float)
        seeds = list(range(values.size))
    if values.ndim != 1:
        raise ValueError(f"samples must be one-dimensional, got shape {values.shape}")
    return seeds, values


def finite(samples: Samples) -> tuple[np.ndarray, int]:
    """The finite results of ``samples`` and how many were excluded."""
    values = series(samples)[1]
    keep = np.isfinite(values)
    return values[keep], int(values.size - keep.sum())


def shared_seeds(a: Samples, b: Samples) -> tuple[np.ndarray, np.ndarray]:
    """The results of ``a`` and ``b`` on the seeds where both are finite, in ``a``'s order."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        seeds_a, x = series(a)
        seeds_b, y = series(b)
        in_b = dict(zip(seeds_b, y))
        common = [i for i, s in enumerate(seeds_a) if s in in_b]
        x, y = x[common], np.array([in_b[seeds_a[i]] for i in common], dtype=float)
    else:
        x, y = series(a)[1], series(b)[1]
        m = min(x.size, y.size)
        x, y = x[:m], y[:m]
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def negligible(spread: float, scale: float) -> bool:
    """Whether ``spread`` is within rounding noise of data of magnitude ``scale``."""
    return spread <= _ROUNDING * scale


def check_probability(value: float, name: str) -> None:
    """Raise ``ValueError`` unless ``0 < value < 1``."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def jsonable(obj: Any) -> Any:
    """``obj`` (dataclasses, sequences, mappings, numbers) as plain JSON types.

    Non-finite floats become ``None`` (strict JSON has no NaN or Infinity), tuples become
    lists, mapping keys and any other object their ``str``.
    """
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)
