from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hyperlab.data import datasets as D

# tests/data/test_datasets.py -> parents: [0] tests/data, [1] tests, [2] repo root, [3] its parent.
REFERENCE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "keras_reference"
    / "keras_reference_public.json"
)


def test_blobs_default_is_the_tutorial_problem():
    ds = D.blobs()
    (x, y), (vx, vy) = ds
    assert x.shape == (500, 2) and vx.shape == (500, 2)
    assert y.shape == (500,) and vy.shape == (500,)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert (ds.name, ds.n_classes, ds.n_features) == ("blobs", 3, 2)
    from sklearn.datasets import make_blobs

    full_x, full_y = make_blobs(
        n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2
    )
    np.testing.assert_array_equal(np.concatenate([x, vx]), full_x.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([y, vy]), full_y)


@pytest.mark.skipif(
    not REFERENCE.is_file(), reason=f"Keras reference file not found at {REFERENCE}"
)
def test_blobs_matches_keras_reference_data():
    data = json.loads(REFERENCE.read_text())["data"]
    (x, y), (vx, vy) = D.blobs()
    np.testing.assert_array_equal(np.concatenate([x, vx]), np.asarray(data["x"], dtype=np.float32))
    np.testing.assert_array_equal(np.concatenate([y, vy]), np.asarray(data["y"]))


@pytest.mark.parametrize(
    "name, kwargs, n, n_classes, n_features",
    [
        ("blobs", {}, 1000, 3, 2),
        (
            "blobs",
            {"n_samples": 300, "centers": 4, "n_features": 5, "validation_fraction": 0.2},
            300,
            4,
            5,
        ),
        ("moons", {}, 1000, 2, 2),
        ("circles", {}, 1000, 2, 2),
        ("spiral", {}, 900, 3, 2),
        ("spiral", {"n_samples": 301, "n_classes": 5, "validation_fraction": 0.3}, 301, 5, 2),
    ],
)
def test_shapes_dtypes_and_balance(name, kwargs, n, n_classes, n_features):
    ds = D.get(name, **kwargs)
    frac = kwargs.get("validation_fraction", 0.5)
    n_val = round(n * frac)
    assert ds.x_train.shape == (n - n_val, n_features) and ds.x_val.shape == (n_val, n_features)
    assert ds.y_train.shape == (n - n_val,) and ds.y_val.shape == (n_val,)
    assert ds.x_train.dtype == ds.x_val.dtype == np.float32
    assert ds.y_train.dtype == ds.y_val.dtype == np.int32
    assert (ds.name, ds.n_classes, ds.n_features) == (name, n_classes, n_features)
    y = np.concatenate([ds.y_train, ds.y_val])
    counts = np.bincount(y, minlength=n_classes)
    assert len(counts) == n_classes and counts.max() - counts.min() <= 1  # balanced overall
    # Both splits see every class in roughly its share (the data are shuffled).
    for part in (ds.y_train, ds.y_val):
        share = np.bincount(part, minlength=n_classes) / len(part)
        assert np.all(np.abs(share - 1 / n_classes) < 0.12)
    assert np.all(np.isfinite(ds.x_train)) and np.all(np.isfinite(ds.x_val))


SYNTHETIC = ("blobs", "moons", "circles", "spiral", "digits")  # seeded, nothing to read


@pytest.mark.parametrize("name", SYNTHETIC)
def test_determinism_per_seed(name):
    a, b = D.get(name, seed=5), D.get(name, seed=5)
    c = D.get(name, seed=6)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_train, c.x_train)


def test_spiral_geometry():
    ds = D.spiral(n_samples=300, noise=0.0, seed=1)
    x = np.concatenate([ds.x_train, ds.x_val])
    y = np.concatenate([ds.y_train, ds.y_val])
    r = np.linalg.norm(x, axis=1)
    assert r.max() == pytest.approx(1.0, abs=1e-6) and r.min() == pytest.approx(0.0, abs=1e-6)
    # Without noise the angle t = atan2(x0, x1) of class j lies in [4j, 4j + 4] (mod 2 pi).
    for j in range(3):
        pts = x[(y == j) & (r > 0.05)]
        t = np.arctan2(pts[:, 0], pts[:, 1])
        r_j = np.linalg.norm(pts, axis=1)
        # radius grows linearly with angle: t_true = 4j + 4r (within one point's spacing)
        t_true = 4 * j + 4 * r_j
        assert np.allclose(np.mod(t - t_true + np.pi, 2 * np.pi) - np.pi, 0.0, atol=0.02)


def test_circles_and_moons_geometry():
    ds = D.circles(noise=0.0, factor=0.3)
    x = np.concatenate([ds.x_train, ds.x_val])
    y = np.concatenate([ds.y_train, ds.y_val])
    r = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)
    m = D.moons(noise=0.0)
    assert set(np.unique(m.y_train)) == {0, 1}


def test_dataset_is_frozen_and_unpacks():
    ds = D.moons(n_samples=10)
    (x, y), (vx, vy) = ds
    assert x is ds.x_train and vy is ds.y_val
    with pytest.raises(AttributeError):
        ds.name = "other"


def test_to_categorical():
    out = D.to_categorical([0, 2, 1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])
    assert D.to_categorical(np.array([1, 0]), num_classes=4).shape == (2, 4)
    assert D.to_categorical(np.array([[1], [0]])).shape == (2, 2)  # trailing 1 dropped
    assert D.to_categorical(np.array([[1, 0], [2, 2]])).shape == (2, 2, 3)
    np.testing.assert_array_equal(D.to_categorical(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    (_, y), _ = D.blobs()
    assert D.to_categorical(y).shape == (500, 3)


def test_to_categorical_errors():
    with pytest.raises(ValueError, match="non-negative"):
        D.to_categorical([0, -1])
    with pytest.raises(ValueError, match="non-integer"):
        D.to_categorical([0.5, 1.0])
    with pytest.raises(ValueError, match="integer"):
        D.to_categorical(["a", "b"])
    with pytest.raises(ValueError, match="out of range"):
        D.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        D.to_categorical([0, 1], num_classes=0)


def test_get_errors():
    with pytest.raises(ValueError, match="Valid names: blobs, moons, circles, spiral"):
        D.get("mnist")
    with pytest.raises(ValueError, match="Valid arguments: n_samples"):
        D.get("moons", centers=3)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: D.blobs(n_samples=1), "n_samples=1"),
        (lambda: D.moons(n_samples=2.5), "n_samples=2.5"),
        (lambda: D.moons(validation_fraction=0.0), "validation_fraction=0.0"),
        (lambda: D.moons(validation_fraction=1.0), "validation_fraction=1.0"),
        (lambda: D.circles(validation_fraction=-0.1), "validation_fraction=-0.1"),
        (lambda: D.moons(n_samples=4, validation_fraction=0.05), "empty"),
        (lambda: D.moons(noise=-0.1), "noise=-0.1"),
        (lambda: D.circles(noise=-1), "noise=-1"),
        (lambda: D.spiral(noise=-0.2), "noise=-0.2"),
        (lambda: D.circles(factor=1.0), "factor=1.0"),
        (lambda: D.blobs(centers=0), "centers=0"),
        (lambda: D.blobs(n_features=0), "n_features=0"),
        (lambda: D.blobs(cluster_std=-2.0), "cluster_std=-2.0"),
        (lambda: D.spiral(n_classes=0), "n_classes=0"),
        (lambda: D.spiral(n_samples=2, n_classes=3), "n_classes=3"),
        (lambda: D.moons(seed=-1), "seed=-1"),
    ],
)
def test_validation(build, match):
    with pytest.raises(ValueError, match=match):
        build()
