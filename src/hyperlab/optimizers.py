"""``hyperlab.optimizers``: the names of :mod:`hyperlab.engine.optimizers`, imported on first use."""
import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__") and name != "__all__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("hyperlab.engine.optimizers"), name)


def __dir__() -> list[str]:
    return dir(importlib.import_module("hyperlab.engine.optimizers"))
