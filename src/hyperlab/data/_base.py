"""What every loader of :mod:`hyperlab.data` shares: the :class:`Dataset` it returns and the
checks of its arguments (one message format: the argument, what it must be, what it was)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Dataset", "check_int", "check_real"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/validation split; iterates as ``(x_train, y_train), (x_val, y_val)``.

    ``n_features`` is the number of values in one sample (the product of its shape);
    ``class_names`` names the labels 0..n_classes-1 where the data have names.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    name: str
    n_classes: int
    n_features: int
    class_names: tuple[str, ...] | None = None

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield self.x_train, self.y_train
        yield self.x_val, self.y_val


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, if it is an integer >= ``minimum`` (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"Argument `{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )
    return int(value)


def check_real(
    name: str,
    value: Any,
    minimum: float,
    maximum: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """``value`` as a float, if it is a finite number in the interval from ``minimum`` to
    ``maximum`` (closed ends unless ``open_low``/``open_high``)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > minimum if open_low else v >= minimum)
        if ok and maximum is not None:
            ok = v < maximum if open_high else v <= maximum
    if not ok:
        low = f"{'(' if open_low else '['}{minimum}"
        high = "inf)" if maximum is None else f"{maximum}{')' if open_high else ']'}"
        raise ValueError(
            f"Argument `{name}` must be a number in {low}, {high}. Received: {name}={value!r}"
        )
    return float(value)
