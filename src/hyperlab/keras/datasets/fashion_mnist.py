"""``keras.datasets.fashion_mnist``."""
from __future__ import annotations

import os

import numpy as np

from hyperlab.data import images
from hyperlab.keras.datasets._cache import ORIGIN, datasets_dir

__all__ = ["load_data"]


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` and
    ``(10000, 28, 28)``, uint8 labels 0..9 (read-only, as Keras's).

    Read from Keras's cache ``<datasets>/fashion-mnist/`` (see :mod:`hyperlab.keras.datasets`),
    else from hyperlab's (``$HYPERLAB_FASHION_MNIST`` or
    :func:`hyperlab.data.images.cache_dir`), else downloaded into Keras's cache.
    """
    keras_dir = datasets_dir() / "fashion-mnist"
    if images.has_fashion_mnist(keras_dir):
        return images.load_fashion_mnist_raw(path=str(keras_dir), download=False)
    if os.environ.get(images.ENV_PATH) or images.has_fashion_mnist(images.cache_dir()):
        return images.load_fashion_mnist_raw(download=False)
    try:
        images.download_fashion_mnist(keras_dir, base_url=ORIGIN)
    except OSError as err:
        raise ValueError(
            f"Fashion-MNIST not found and the download failed ({err}): put "
            f"{', '.join(images.FASHION_MNIST_FILES.values())} in {keras_dir} (Keras's cache) "
            f"or {images.cache_dir()} (hyperlab's)"
        ) from None
    return images.load_fashion_mnist_raw(path=str(keras_dir), download=False)
