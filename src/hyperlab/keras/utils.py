"""``keras.utils``: ``to_categorical`` and ``set_random_seed``."""
from __future__ import annotations

import random
from typing import Any

import numpy as np

from hyperlab.data.datasets import to_categorical

__all__ = ["to_categorical", "set_random_seed"]


def set_random_seed(seed: Any) -> None:
    """Seed Python's ``random`` and NumPy's global generator, as Keras does. (A hyperlab
    model's weights follow ``Sequential(seed=...)`` and ``fit(seed=...)``.)"""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"Expected `seed` argument to be an integer. Received: seed={seed!r} "
            f"(of type {type(seed)})"
        )
    random.seed(int(seed))
    np.random.seed(int(seed))
