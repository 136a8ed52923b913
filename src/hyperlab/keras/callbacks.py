"""``keras.callbacks``: the ``Callback`` base class and the callbacks hyperlab implements."""
from hyperlab.keras._api import reexport

__all__ = reexport(
    globals(),
    ("hyperlab.engine.callbacks", [
        "Callback", "History", "LearningRateScheduler", "ReduceLROnPlateau", "EarlyStopping",
        "ModelCheckpoint", "CSVLogger", "LambdaCallback", "TerminateOnNaN", "ProgbarLogger",
    ]),
    ("hyperlab.engine.history", ["History"]),
)
