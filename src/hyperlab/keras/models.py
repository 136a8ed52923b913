"""``keras.models``: ``Sequential``, ``load_model``, ``save_model``, ``clone_model``."""
from hyperlab.keras._api import reexport

__all__ = reexport(
    globals(),
    ("hyperlab.engine.model", ["Sequential", "clone_model"]),
    ("hyperlab.engine.saving", ["load_model", "save_model"]),
)
