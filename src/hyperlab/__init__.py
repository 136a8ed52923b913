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
"""
import sys as _sys

from hyperlab.data import datasets
from hyperlab.engine import (activations, callbacks, initializers, layers, losses, optimizers,
                             regularizers, schedules)
from hyperlab.engine.history import History
from hyperlab.engine.model import Sequential, train_many
from hyperlab.engine.saving import load_model
from hyperlab import studies
from hyperlab.studies import Study

__version__ = "0.1.0"

# Keras-style imports: ``from hyperlab.layers import Dense`` etc.
for _name, _module in {"activations": activations, "callbacks": callbacks,
                       "initializers": initializers, "layers": layers, "losses": losses,
                       "optimizers": optimizers, "regularizers": regularizers,
                       "schedules": schedules, "datasets": datasets}.items():
    _sys.modules[f"{__name__}.{_name}"] = _module

__all__ = ["Sequential", "History", "load_model", "Study", "train_many", "studies", "activations", "callbacks", "datasets",
           "initializers", "layers", "losses", "optimizers", "regularizers", "schedules",
           "__version__"]
