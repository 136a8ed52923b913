"""``keras.optimizers.schedules``: learning-rate schedules with Keras's names and formulas."""
from hyperlab.keras._api import reexport

__all__ = reexport(
    globals(),
    ("hyperlab.engine.schedules", [
        "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
        "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts",
    ]),
)
