"""``keras.activations``: activation functions by Keras's names."""
from hyperlab.keras._api import reexport

__all__ = reexport(
    globals(),
    ("hyperlab.engine.activations", [
        "linear", "relu", "sigmoid", "tanh", "softmax", "softplus", "elu", "selu",
        "leaky_relu", "exponential", "silu", "swish", "gelu", "get", "serialize",
    ]),
)
