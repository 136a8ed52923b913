"""``keras.datasets.mnist``."""
from __future__ import annotations

import os

import numpy as np

from hyperlab.data import images
from hyperlab.keras.datasets._cache import ORIGIN, datasets_dir

__all__ = ["load_data"]

#: SHA-256 of Keras's ``mnist.npz``.
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path: str = "mnist.npz"
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` and
    ``(10000, 28, 28)``, uint8 labels 0..9 (fresh arrays, as Keras's).

    ``path`` is relative to Keras's cache ``<datasets>/`` (see :mod:`hyperlab.keras.datasets`);
    a missing file is downloaded there.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"Argument `path` must be a file name. Received: path={path!r}")
    target = datasets_dir() / path
    if not target.is_file():
        try:
            images.download_file(ORIGIN + "mnist.npz", target, MNIST_SHA256,
                                 fix=f"or put Keras's mnist.npz at {target}",
                                 folder_fix="set $KERAS_HOME to a folder you can write")
        except OSError as err:
            raise ValueError(
                f"MNIST not found and the download failed ({err}): put Keras's mnist.npz "
                f"at {target}"
            ) from None
    a = images.read_keras_npz(target)
    return (a["x_train"].copy(), a["y_train"].copy()), (a["x_test"].copy(), a["y_test"].copy())
