"""``keras.backend`` (tf.keras's): ``get_value``, ``set_value``, ``clear_session``."""
from __future__ import annotations

from typing import Any

import numpy as np

from hyperlab.keras._api import reexport

__all__ = ["get_value", "set_value",
           *reexport(globals(), ("hyperlab.engine.model", ["clear_session"]))]


def get_value(x: Any) -> Any:
    """The value of a variable or array as NumPy; anything else (a float, as an
    optimizer's ``learning_rate``) is returned as it is, as in tf.keras."""
    if hasattr(x, "numpy"):
        return x.numpy()
    if hasattr(x, "__array__") and not isinstance(x, np.ndarray):
        return np.asarray(x)
    return x


def set_value(x: Any, value: Any) -> None:
    """Assign ``value`` to the variable ``x`` (an object with ``assign``), as tf.keras."""
    assign = getattr(x, "assign", None)
    if not callable(assign):
        raise TypeError(
            f"set_value needs a variable (an object with .assign()); got {type(x).__name__}. "
            "To change an optimizer's rate, set it: optimizer.learning_rate = value"
        )
    dtype = getattr(x, "dtype", None)
    assign(np.asarray(value, dtype=dtype))
