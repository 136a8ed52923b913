"""A Keras-shaped namespace: port Keras code by changing its imports only::

    import hyperlab.keras as keras            # was: import keras
    from hyperlab import keras                # was: from tensorflow import keras
    from hyperlab.keras.layers import Dense   # was: from keras.layers import Dense

The modules follow Keras 3's public API (``models``, ``layers``, ``optimizers`` with
``optimizers.schedules``, ``callbacks``, ``losses``, ``metrics``, ``regularizers``,
``initializers``, ``activations``, ``utils``, ``backend``, ``datasets``) for what hyperlab
supports, with the tf.keras spellings the tutorials use where the two differ (e.g.
``regularizers.l1_l2``). Each module is imported on first use.
"""
from __future__ import annotations

import importlib
_MODULES = ("activations", "backend", "callbacks", "datasets", "initializers", "layers",
            "losses", "metrics", "models", "optimizers", "regularizers", "utils")
_NAMES = {"Sequential": "models", "Input": "layers", "InputSpec": "layers"}

__all__ = [*_MODULES, *_NAMES]


def __getattr__(name: str) -> object:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
