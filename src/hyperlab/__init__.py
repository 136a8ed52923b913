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

Names are imported on first use, so ``import hyperlab`` (and the command line's start, which
must answer Ctrl-C at once) does not wait for JAX.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import sys
from types import ModuleType

__version__ = "0.1.0"

# Keras-style modules: ``hl.layers``, ``from hyperlab.layers import Dense`` etc.
_MODULES = {"activations": "hyperlab.engine.activations", "callbacks": "hyperlab.engine.callbacks",
            "initializers": "hyperlab.engine.initializers", "layers": "hyperlab.engine.layers",
            "losses": "hyperlab.engine.losses", "optimizers": "hyperlab.engine.optimizers",
            "regularizers": "hyperlab.engine.regularizers",
            "schedules": "hyperlab.engine.schedules", "datasets": "hyperlab.data.datasets"}
_NAMES = {"Sequential": "hyperlab.engine.model", "train_many": "hyperlab.engine.model",
          "History": "hyperlab.engine.history", "load_model": "hyperlab.engine.saving",
          "Study": "hyperlab.studies"}

__all__ = ["Sequential", "History", "load_model", "Study", "train_many", "studies", "activations", "callbacks", "datasets",
           "initializers", "layers", "losses", "optimizers", "regularizers", "schedules",
           "__version__"]


def __getattr__(name: str) -> object:
    """A public name or a subpackage (``studies``, ``visual``...), imported on first use."""
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


class _KerasModules:
    """A finder and loader (``sys.meta_path``): ``import hyperlab.layers`` (and the like)
    gives the engine's module itself."""

    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in _MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(_MODULES[spec.name.rpartition(".")[2]])
        spec.loader_state = module.__spec__  # importing sets __spec__: exec_module restores it
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state


sys.meta_path.append(_KerasModules())
