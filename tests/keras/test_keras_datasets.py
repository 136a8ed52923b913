"""``hyperlab.keras.datasets``: Keras's ``load_data()`` from files in Keras's cache layout
(``$KERAS_HOME/datasets/fashion-mnist/*.gz``, ``$KERAS_HOME/datasets/mnist.npz``), then
hyperlab's cache, and one clear line when the files are absent and cannot be downloaded."""
from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hyperlab.keras.datasets import fashion_mnist, mnist

RNG = np.random.default_rng(0)
X, Y = RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8), RNG.integers(0, 10, 30, dtype=np.uint8)
XT, YT = RNG.integers(0, 256, (7, 28, 28), dtype=np.uint8), RNG.integers(0, 10, 7, dtype=np.uint8)


def _idx(a: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape)
    return gzip.compress(header + a.tobytes())


def _write_fashion(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, a, magic in [("train-images-idx3-ubyte.gz", X, 0x803),
                           ("train-labels-idx1-ubyte.gz", Y, 0x801),
                           ("t10k-images-idx3-ubyte.gz", XT, 0x803),
                           ("t10k-labels-idx1-ubyte.gz", YT, 0x801)]:
        (folder / name).write_bytes(_idx(a, magic))


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty Keras home and hyperlab data folder, and no network."""
    keras_home, data_dir = tmp_path / "keras", tmp_path / "hyperlab"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("HYPERLAB_DATA_DIR", str(data_dir))
    monkeypatch.delenv("HYPERLAB_FASHION_MNIST", raising=False)
    monkeypatch.delenv("HYPERLAB_FASHION_MNIST_URL", raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return keras_home, data_dir


def _check(data, *, writable: bool) -> None:
    (x, y), (xt, yt) = data
    for got, want in [(x, X), (y, Y), (xt, XT), (yt, YT)]:
        assert got.dtype == np.uint8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        assert got.flags.writeable == writable


def test_fashion_mnist_from_keras_cache(homes) -> None:
    _write_fashion(homes[0] / "datasets" / "fashion-mnist")
    _check(fashion_mnist.load_data(), writable=False)  # np.frombuffer's, as Keras's


def test_fashion_mnist_from_hyperlab_cache(homes) -> None:
    _write_fashion(homes[1] / "fashion-mnist")
    _check(fashion_mnist.load_data(), writable=False)


def test_mnist_npz_from_keras_cache(homes) -> None:
    (homes[0] / "datasets").mkdir(parents=True)
    np.savez(homes[0] / "datasets" / "mnist.npz", x_train=X, y_train=Y, x_test=XT, y_test=YT)
    _check(mnist.load_data(), writable=True)  # np.load's, as Keras's


def test_absent_files_give_one_line_naming_where_to_put_them(homes) -> None:
    keras_home = homes[0]
    with pytest.raises(ValueError) as err:
        fashion_mnist.load_data()
    message = str(err.value)
    assert "\n" not in message and "network unreachable" in message
    assert f"{keras_home / 'datasets' / 'fashion-mnist'}" in message
    assert "train-images-idx3-ubyte.gz" in message
    with pytest.raises(ValueError, match=r"put Keras's mnist.npz at .*keras/datasets/mnist.npz"):
        mnist.load_data()


def test_a_bad_mnist_npz_is_refused(homes) -> None:
    (homes[0] / "datasets").mkdir(parents=True)
    np.savez(homes[0] / "datasets" / "mnist.npz", x_train=X, y_train=Y)
    with pytest.raises(ValueError, match="missing arrays x_test, y_test"):
        mnist.load_data()
