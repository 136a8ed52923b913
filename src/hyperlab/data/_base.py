"""What every loader of :mod:`hyperlab.data` shares: the :class:`Dataset` it returns and the
checks of its arguments (the constraint vocabulary's one message format)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperlab._constraints import Interval, check

__all__ = ["Dataset", "check_int", "check_real"]

OWNER = "hyperlab.datasets"  # who the one message format names


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
    return int(check(value, Interval(minimum, integer=True), name, OWNER))


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
    closed = {(False, False): "both", (True, False): "right", (False, True): "left",
              (True, True): "neither"}[open_low, open_high]
    return float(check(value, Interval(minimum, maximum, closed), name, OWNER))
