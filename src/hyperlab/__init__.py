"""hyperlab: how training hyperparameters shape learning.

A Keras-shaped API (``Sequential``, ``layers``, ``optimizers``, ``schedules``,
``callbacks``, ``regularizers``) on a compiled, vectorized JAX engine::

    import hyperlab as hl
    (x, y), (vx, vy) = hl.datasets.blobs()
    model = hl.Sequential([hl.layers.Input((2,)),
                           hl.layers.Dense(50, "relu", kernel_initializer="he_uniform"),
                           hl.layers.Dense(3, "softmax")])
    model.compile(hl.optimizers.SGD(0.01, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    history = model.fit(x, hl.datasets.to_categorical(y), epochs=200,
                        validation_data=(vx, hl.datasets.to_categorical(vy)))

``hyperlab.layers``, ``hyperlab.optimizers`` (and ``activations``, ``callbacks``,
``initializers``, ``losses``, ``regularizers``, ``schedules``) give the engine's modules'
names; ``hyperlab.datasets`` the data sets. :mod:`hyperlab.keras` is a Keras-shaped namespace
for porting Keras code by its imports alone::

    from hyperlab import keras           # was: from tensorflow import keras

Names are imported on first use, so ``import hyperlab`` (and the command line's start, which
must answer Ctrl-C at once) does not wait for JAX.
"""
from __future__ import annotations

import importlib

from hyperlab._version import __version__

_NAMES = {"Sequential": "hyperlab.engine.model", "train_many": "hyperlab.engine.model",
          "History": "hyperlab.engine.history", "load_model": "hyperlab.engine.saving",
          "Study": "hyperlab.studies"}

__all__ = ["Sequential", "History", "load_model", "Study", "train_many", "studies", "keras",
           "activations", "callbacks", "datasets", "initializers", "layers", "losses",
           "optimizers", "regularizers", "schedules", "__version__"]


def __getattr__(name: str) -> object:
    """A public name or a subpackage (``keras``, ``layers``, ``studies``...), imported on
    first use."""
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
