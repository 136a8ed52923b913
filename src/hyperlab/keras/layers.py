"""``keras.layers``: the layers hyperlab implements, with Keras's names and arguments."""
from hyperlab.keras._api import reexport

__all__ = reexport(
    globals(),
    ("hyperlab.engine.layers", [
        "Layer", "Input", "InputSpec", "Dense", "Activation", "Flatten",
        "BatchNormalization", "Dropout", "AlphaDropout", "LeakyReLU", "PReLU", "ELU",
        "serialize", "deserialize",
    ]),
)
