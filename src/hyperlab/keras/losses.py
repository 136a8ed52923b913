"""``keras.losses``: the loss functions hyperlab implements (by name in ``compile``)."""
from hyperlab.keras._api import reexport

__all__ = reexport(
    globals(),
    ("hyperlab.engine.losses", [
        "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
        "mean_squared_error", "mean_absolute_error", "get",
    ]),
)
