"""Builds the ``hyperlab.keras`` modules from the engine's modules."""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from typing import Any


def reexport(namespace: dict[str, Any], *sources: tuple[str, Iterable[str]]) -> list[str]:
    """Copy the Keras names that each ``(module, names)`` source defines into ``namespace``
    (a module's globals) and return them (its ``__all__``).

    A listed name that the engine does not define (yet) is left out; asking the module for
    it raises an AttributeError saying so. A source module that does not exist counts as
    defining none of its names.
    """
    exported: list[str] = []
    missing: dict[str, str] = {}
    for module_name, names in sources:
        module = (importlib.import_module(module_name)
                  if importlib.util.find_spec(module_name) is not None else None)
        for name in names:
            if name in namespace:
                continue
            if module is not None and hasattr(module, name):
                namespace[name] = getattr(module, name)
                exported.append(name)
            else:
                missing.setdefault(name, module_name)
    namespace["__getattr__"] = _missing_names(namespace["__name__"], missing)
    return exported


def _missing_names(module: str, missing: dict[str, str]) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        if name in missing:
            raise AttributeError(
                f"{module}.{name} is not available: hyperlab does not implement Keras's "
                f"{name} yet ({missing[name]} does not define it)"
            )
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
