"""``keras.metrics``: the metric functions hyperlab implements (by name in ``compile``:
``"accuracy"``/``"acc"``, ``"mse"``, ``"mae"``...)."""
from hyperlab.keras._api import reexport

_FUNCTIONS = [
    "categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy",
    "mean_squared_error", "mean_absolute_error", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_crossentropy",
]

__all__ = reexport(
    globals(),
    ("hyperlab.engine.metrics", _FUNCTIONS),
    ("hyperlab.engine.losses", _FUNCTIONS),
)
