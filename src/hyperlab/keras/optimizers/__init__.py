"""``keras.optimizers``: the optimizers hyperlab implements, and ``schedules``.

The Keras 2 arguments the tutorials use keep working: ``lr=`` (for ``learning_rate``) and
``decay=`` (``lr / (1 + decay * iterations)``).
"""
from hyperlab.keras._api import reexport
from hyperlab.keras.optimizers import schedules

__all__ = [
    "schedules",
    *reexport(
        globals(),
        ("hyperlab.engine.optimizers", [
            "Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam", "get",
        ]),
    ),
]
