"""Small classification problems for hyperparameter experiments.

Every loader returns a :class:`Dataset`; it unpacks as ``(x, y), (vx, vy) = blobs()``.
Features are float32, labels int32 in 0..n_classes-1. The synthetic generators (blobs,
moons, circles, spiral) put their first rows in the training set and their last
``round(n_samples * validation_fraction)`` rows in the validation set. The image sets
(:func:`digits`, :func:`fashion_mnist`, in :mod:`hyperlab.data.images`) keep a sample's 2-D
shape; :func:`csv` and :func:`npz` (in :mod:`hyperlab.data.files`) read the user's files.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from hyperlab.data._base import Dataset, check_int, check_real
from hyperlab.data.files import csv, npz
from hyperlab.data.images import digits, fashion_mnist

__all__ = [
    "Dataset", "blobs", "moons", "circles", "spiral", "digits", "fashion_mnist", "csv", "npz",
    "to_categorical", "NAMES", "get",
]


def _split(
    x: np.ndarray, y: np.ndarray, validation_fraction: float, name: str, n_classes: int
) -> Dataset:
    """First rows train, last ``round(n * validation_fraction)`` rows validate."""
    n = len(x)
    n_val = int(round(n * validation_fraction))
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} of n_samples={n} leaves an empty "
            "training or validation set"
        )
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int32)
    k = n - n_val
    return Dataset(
        x[:k], y[:k], x[k:], y[k:], name=name, n_classes=n_classes, n_features=x.shape[1]
    )


def _common(n_samples: Any, seed: Any, validation_fraction: Any) -> tuple[int, int, float]:
    n = check_int("n_samples", n_samples, 2)
    s = check_int("seed", seed, 0)
    v = check_real(
        "validation_fraction", validation_fraction, 0.0, 1.0, open_low=True, open_high=True
    )
    return n, s, v


def blobs(
    n_samples: int = 1000,
    centers: int = 3,
    n_features: int = 2,
    cluster_std: float = 2.0,
    seed: int = 2,
    validation_fraction: float = 0.5,
) -> Dataset:
    """Gaussian blobs: sklearn ``make_blobs(n_samples, centers, n_features, cluster_std,
    random_state=seed)``. The defaults are the tutorials' problem (1000 points, 3 classes,
    2 features, std 2, random_state 2; first 500 train, last 500 validation).
    """
    n, s, v = _common(n_samples, seed, validation_fraction)
    k = check_int("centers", centers, 1)
    d = check_int("n_features", n_features, 1)
    std = check_real("cluster_std", cluster_std, 0.0)
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=n, centers=k, n_features=d, cluster_std=std, random_state=s)
    return _split(x, y, v, "blobs", k)


def moons(
    n_samples: int = 1000, noise: float = 0.2, seed: int = 0, validation_fraction: float = 0.5
) -> Dataset:
    """Two interleaving half circles: sklearn ``make_moons(n_samples, noise=noise,
    random_state=seed)``.
    """
    n, s, v = _common(n_samples, seed, validation_fraction)
    sigma = check_real("noise", noise, 0.0)
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n, noise=sigma, random_state=s)
    return _split(x, y, v, "moons", 2)


def circles(
    n_samples: int = 1000,
    noise: float = 0.1,
    factor: float = 0.5,
    seed: int = 0,
    validation_fraction: float = 0.5,
) -> Dataset:
    """A circle inside a larger one: sklearn ``make_circles(n_samples, noise=noise,
    factor=factor, random_state=seed)``; ``factor`` is the inner/outer radius ratio in [0, 1).
    """
    n, s, v = _common(n_samples, seed, validation_fraction)
    sigma = check_real("noise", noise, 0.0)
    f = check_real("factor", factor, 0.0, 1.0, open_high=True)
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=n, noise=sigma, factor=f, random_state=s)
    return _split(x, y, v, "circles", 2)


def spiral(
    n_samples: int = 900,
    n_classes: int = 3,
    noise: float = 0.2,
    seed: int = 0,
    validation_fraction: float = 0.5,
) -> Dataset:
    """The CS231n spiral: class ``j`` has radius ``r = linspace(0, 1)`` and angle
    ``t = linspace(4j, 4(j + 1)) + noise * N(0, 1)``, at ``(r sin t, r cos t)``.

    Classes get ``n_samples // n_classes`` points (the first ``n_samples % n_classes``
    one more); the points are shuffled with ``seed`` so both splits mix all classes.
    """
    n, s, v = _common(n_samples, seed, validation_fraction)
    k = check_int("n_classes", n_classes, 1)
    sigma = check_real("noise", noise, 0.0)
    if n < k:
        raise ValueError(f"n_samples={n} must be at least n_classes={k}")
    rng = np.random.default_rng(s)
    xs, ys = [], []
    for j in range(k):
        m = n // k + (1 if j < n % k else 0)
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * j, 4.0 * (j + 1), m) + rng.standard_normal(m) * sigma
        xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(m, j))
    order = rng.permutation(n)
    return _split(np.concatenate(xs)[order], np.concatenate(ys)[order], v, "spiral", k)


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot float32 encoding of integer labels (Keras semantics): output shape is
    ``y.shape + (num_classes,)``, a trailing axis of size 1 dropped; ``num_classes``
    defaults to ``max(y) + 1``.
    """
    labels = np.asarray(y)
    if labels.dtype == bool or not (
        np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
    ):
        raise ValueError(
            f"to_categorical needs integer class labels. Received dtype={labels.dtype}"
        )
    if labels.size and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
        raise ValueError("to_categorical needs integer class labels; received non-integer values")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"to_categorical needs non-negative labels. Received a label {labels.min()}"
        )
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.ravel()
    if num_classes is None:
        if not labels.size:
            raise ValueError("to_categorical needs num_classes for an empty label array")
        num_classes = int(labels.max()) + 1
    num_classes = check_int("num_classes", num_classes, 1)
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"Label {labels.max()} is out of range for num_classes={num_classes}")
    out = np.zeros((labels.size, num_classes), dtype=np.float32)
    out[np.arange(labels.size), labels] = 1.0
    return out.reshape(shape + (num_classes,))


_GENERATORS: dict[str, Callable[..., Dataset]] = {
    "blobs": blobs,
    "moons": moons,
    "circles": circles,
    "spiral": spiral,
    "digits": digits,
    "fashion_mnist": fashion_mnist,
    "csv": csv,
    "npz": npz,
}

NAMES: tuple[str, ...] = tuple(_GENERATORS)


def get(name: str, **kwargs: Any) -> Dataset:
    """Load the dataset ``name`` with the loader's keyword arguments."""
    if name not in _GENERATORS:
        raise ValueError(f"Unknown dataset {name!r}. Valid names: {', '.join(NAMES)}")
    generator = _GENERATORS[name]
    params = inspect.signature(generator).parameters
    valid = tuple(params)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown argument(s) {', '.join(unknown)} for dataset {name!r}. "
            f"Valid arguments: {', '.join(valid)}"
        )
    required = [k for k, p in params.items() if p.default is p.empty and k not in kwargs]
    if required:
        raise ValueError(
            f"Dataset {name!r} needs the argument(s) {', '.join(required)}. "
            f"Valid arguments: {', '.join(valid)}"
        )
    return generator(**kwargs)
