"""``keras.initializers``: the classes, and Keras's snake_case names for them
(``he_normal`` is ``HeNormal``)."""
from hyperlab.keras._api import reexport

_CLASSES = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
    "HeNormal", "LecunUniform", "LecunNormal",
]

__all__ = reexport(globals(), ("hyperlab.engine.initializers", [*_CLASSES, "get"]))

for _name in _CLASSES[1:]:
    _alias = "".join("_" + c.lower() if c.isupper() else c for c in _name).lstrip("_")
    globals()[_alias] = globals()[_name]
    __all__.append(_alias)
del _name, _alias
