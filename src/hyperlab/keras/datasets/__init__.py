"""``keras.datasets``: ``mnist.load_data()`` and ``fashion_mnist.load_data()``.

Both read the files where Keras caches them, ``$KERAS_HOME/datasets/`` (else
``~/.keras/datasets/``), in Keras's layout (``fashion-mnist/train-images-idx3-ubyte.gz``...,
``mnist.npz``), so a Keras cache serves both. Missing files are downloaded there (checked
against Keras's SHA-256 digests) when a network exists. Cached files are read as they are
(no digest check), with hyperlab's bounded, checked readers.
"""
from hyperlab.keras.datasets import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
