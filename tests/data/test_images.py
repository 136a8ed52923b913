from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from hyperlab.data import datasets as D
from hyperlab.data import images as I

N_TRAIN, N_TEST = 20, 5


pytestmark = pytest.mark.usefixtures("isolated")   # tests/data/conftest.py


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = 0x0800 | arr.ndim if magic is None else magic
    return struct.pack(f">I{arr.ndim}I", magic, *arr.shape) + arr.tobytes()


def write(path: Path, data: bytes, gz: bool = True) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(N_TRAIN, 28, 28), dtype=np.uint8)
    x[0, 0, :2] = (0, 255)
    y = (np.arange(N_TRAIN) * 7 % 10).astype(np.uint8)
    xt = rng.integers(0, 256, size=(N_TEST, 28, 28), dtype=np.uint8)
    yt = np.arange(N_TEST, dtype=np.uint8)
    return x, y, xt, yt


def write_dir(directory: Path, arrays, gz: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    x, y, xt, yt = arrays
    for role, a in zip(I.FASHION_MNIST_FILES, (x, y, xt, yt)):
        name = I.FASHION_MNIST_FILES[role]
        write(directory / (name if gz else name[:-3]), idx_bytes(a), gz)
    return directory


@pytest.fixture
def arrays():
    return make_arrays()


@pytest.fixture
def fdir(tmp_path, arrays):
    return write_dir(tmp_path / "fmnist", arrays)


def digests_of(directory: Path) -> dict[str, str]:
    return {n: hashlib.sha256((directory / n).read_bytes()).hexdigest()
            for n in I.FASHION_MNIST_FILES.values()}


@pytest.fixture
def server(fdir):
    """A loopback HTTP server for the generated .gz files; yields (base url, request paths)."""
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(fdir), **kwargs)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/", hits
    finally:
        srv.shutdown()
        srv.server_close()


def cache(tmp_path) -> Path:
    return tmp_path / "cache" / "fashion-mnist"


# ---------------------------------------------------------------------------- digits
def test_digits_shapes_scaling_and_class_names():
    ds = D.digits()
    assert ds.x_train.shape == (1437, 8, 8) and ds.x_val.shape == (360, 8, 8)
    assert ds.y_train.shape == (1437,) and ds.y_val.shape == (360,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert (ds.name, ds.n_classes, ds.n_features) == ("digits", 10, 64)
    assert ds.class_names == tuple("0123456789")
    both = np.concatenate([ds.x_train, ds.x_val])
    assert both.min() == 0.0 and both.max() == 1.0
    from sklearn.datasets import load_digits

    full = load_digits()
    # The split is a permutation of the whole set, pixels / 16.
    got = np.concatenate([both.reshape(len(both), -1) * 16,
                          np.concatenate([ds.y_train, ds.y_val])[:, None]], axis=1)
    want = np.concatenate([full.data, full.target[:, None]], axis=1)
    np.testing.assert_array_equal(np.unique(got, axis=0), np.unique(want, axis=0))
    assert len(got) == len(want)


def test_digits_split_is_stratified_and_deterministic():
    ds = D.digits(val_size=200, seed=3)
    total = np.bincount(np.concatenate([ds.y_train, ds.y_val]), minlength=10)
    val = np.bincount(ds.y_val, minlength=10)
    assert np.all(np.abs(val - total * 200 / total.sum()) <= 1)
    again = D.get("digits", val_size=200, seed=3)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    np.testing.assert_array_equal(ds.y_val, again.y_val)
    other = D.digits(val_size=200, seed=4)
    assert not np.array_equal(ds.y_val, other.y_val)
    ds.x_train[:] = -1  # callers own their arrays; the cache is untouched
    assert D.digits(val_size=200, seed=3).x_train.min() == 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"val_size": 5}, "val_size"), ({"val_size": 1790}, "at most 1787"),
    ({"val_size": True}, "val_size"), ({"seed": -1}, "seed"),
])
def test_digits_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.digits(**kwargs)


# ---------------------------------------------------------------------------- IDX parsing
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_returns_exactly_what_was_written(tmp_path, arrays, gz):
    x, y, _, _ = arrays
    px = write(tmp_path / "images", idx_bytes(x), gz)
    py = write(tmp_path / "labels", idx_bytes(y), gz)
    got_x, got_y = I.read_idx(px, 0x00000803), I.read_idx(py, 0x00000801)
    assert got_x.dtype == np.uint8 and got_x.shape == (N_TRAIN, 28, 28)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    assert not got_x.flags.writeable  # shared by the cache


def test_idx_errors_name_the_file_and_problem(tmp_path, arrays):
    x, y, _, _ = arrays
    wrong = write(tmp_path / "a.gz", idx_bytes(y, magic=0x00000803))
    with pytest.raises(ValueError, match=r"a\.gz: wrong magic number 0x00000803; expected 0x00000801"):
        I.read_idx(wrong, 0x00000801)
    short = write(tmp_path / "b.gz", idx_bytes(x)[:-100])
    with pytest.raises(ValueError, match=r"b\.gz: truncated IDX file.*\(20, 28, 28\) = 15680 bytes.*15580"):
        I.read_idx(short, 0x00000803)
    long = write(tmp_path / "c.gz", idx_bytes(x) + b"\0" * 3)
    with pytest.raises(ValueError, match=r"c\.gz: IDX size mismatch"):
        I.read_idx(long, 0x00000803)
    header = write(tmp_path / "d", b"\0\0\x08\x03\0\0", gz=False)
    with pytest.raises(ValueError, match=r"d: truncated IDX header"):
        I.read_idx(header, 0x00000803)
    broken = tmp_path / "e.gz"
    broken.write_bytes(gzip.compress(idx_bytes(x))[:200])
    with pytest.raises(ValueError, match=r"e\.gz: corrupt or truncated gzip"):
        I.read_idx(broken)
    with pytest.raises(ValueError, match=r"nope: file not found"):
        I.read_idx(tmp_path / "nope")


def test_count_mismatch_between_images_and_labels(tmp_path, arrays):
    x, y, xt, yt = arrays
    d = write_dir(tmp_path / "f", (x, y[:-1], xt, yt))
    with pytest.raises(ValueError, match=r"holds 20 images but .*train-labels-idx1-ubyte\.gz holds 19"):
        D.fashion_mnist(path=str(d), n_val=5, n_train=5)


# ---------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_lecture_split_and_scaling(fdir, arrays):
    x, y, _, _ = arrays
    ds = D.fashion_mnist(path=str(fdir), n_val=5, n_train=8)
    assert ds.x_val.shape == (5, 28, 28) and ds.x_train.shape == (8, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(ds.x_val, (x[:5] / 255.0).astype(np.float32))
    np.testing.assert_array_equal(ds.x_train, (x[5:13] / 255.0).astype(np.float32))
    np.testing.assert_array_equal(ds.y_val, y[:5])
    np.testing.assert_array_equal(ds.y_train, y[5:13])
    assert ds.x_val[0, 0, 0] == 0.0 and ds.x_val[0, 0, 1] == 1.0
    assert (ds.name, ds.n_classes, ds.n_features) == ("fashion_mnist", 10, 784)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    for rest in (0, None):
        all_rest = D.fashion_mnist(path=str(fdir), n_val=5, n_train=rest)
        np.testing.assert_array_equal(all_rest.y_train, y[5:])
    ds.x_train[:] = 7  # callers own their arrays
    assert D.fashion_mnist(path=str(fdir), n_val=5, n_train=8).x_train.max() <= 1.0


def test_fashion_mnist_raw_env_path_and_ungzipped_names(tmp_path, monkeypatch, arrays):
    d = write_dir(tmp_path / "plain", arrays, gz=False)
    monkeypatch.setenv("HYPERLAB_FASHION_MNIST", str(d))
    (x, y), (xt, yt) = I.load_fashion_mnist_raw(download=False)
    for got, want in zip((x, y, xt, yt), arrays):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_fashion_mnist_from_keras_npz(tmp_path, arrays):
    x, y, xt, yt = arrays
    p = tmp_path / "fashion.npz"
    np.savez(p, x_train=x, y_train=y, x_test=xt, y_test=yt)
    ds = D.get("fashion_mnist", path=str(p), n_val=4, n_train=6)
    np.testing.assert_array_equal(ds.x_train, (x[4:10] / 255.0).astype(np.float32))
    np.testing.assert_array_equal(ds.y_val, y[:4])
    (_, _), (got_xt, got_yt) = I.load_fashion_mnist_raw(path=str(p))
    np.testing.assert_array_equal(got_xt, xt)
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=x)
    with pytest.raises(ValueError, match=r"bad\.npz: missing array\(s\) x_train, y_train"):
        D.fashion_mnist(path=str(bad))
    floats = tmp_path / "floats.npz"
    np.savez(floats, x_train=x / 255.0, y_train=y)
    with pytest.raises(ValueError, match=r"floats\.npz: 'x_train' must hold integers 0\.\.255"):
        D.fashion_mnist(path=str(floats))


def test_fashion_mnist_argument_and_path_errors(tmp_path, fdir):
    with pytest.raises(ValueError, match=r"n_val=15 \+ n_train=8 exceeds the 20"):
        D.fashion_mnist(path=str(fdir), n_val=15, n_train=8)
    with pytest.raises(ValueError, match="n_val"):
        D.fashion_mnist(path=str(fdir), n_val=0)
    with pytest.raises(ValueError, match=r"n_val=20 leaves no training images"):
        D.fashion_mnist(path=str(fdir), n_val=20)
    with pytest.raises(ValueError, match=r"missing-dir: no such file or directory.*path="):
        D.fashion_mnist(path=str(tmp_path / "missing-dir"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty: missing train-images-idx3-ubyte\.gz, "
                                         r"train-labels-idx1-ubyte\.gz"):
        D.fashion_mnist(path=str(empty))


def test_download_into_cache_then_reuse(tmp_path, monkeypatch, server, fdir, arrays):
    url, hits = server
    sha = tmp_path / "sha.json"
    sha.write_text(json.dumps(digests_of(fdir)))
    monkeypatch.setenv("HYPERLAB_FASHION_MNIST_URL", url)
    monkeypatch.setenv("HYPERLAB_FASHION_MNIST_SHA256", str(sha))
    ds = D.fashion_mnist(n_val=5, n_train=8)
    np.testing.assert_array_equal(ds.y_train, arrays[1][5:13])
    assert sorted(hits) == sorted("/" + n for n in I.FASHION_MNIST_FILES.values())
    files = sorted(p.name for p in cache(tmp_path).iterdir())
    assert files == sorted(I.FASHION_MNIST_FILES.values())  # no leftover temporary files
    for name in files:
        assert (cache(tmp_path) / name).read_bytes() == (fdir / name).read_bytes()
    again = D.fashion_mnist(n_val=5, n_train=8)
    (_, _), (xt, _) = I.load_fashion_mnist_raw()
    assert len(hits) == 4  # served from the cache
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(xt, arrays[2])


def test_download_function_with_digest_argument(tmp_path, server, fdir):
    url, hits = server
    target = tmp_path / "elsewhere"
    out = I.download_fashion_mnist(target, base_url=url, sha256=digests_of(fdir))
    assert out == target and len(hits) == 4
    assert sorted(p.name for p in target.iterdir()) == sorted(I.FASHION_MNIST_FILES.values())


def test_digest_mismatch_raises_and_leaves_nothing(tmp_path, monkeypatch, server, fdir):
    url, hits = server
    digests = digests_of(fdir)
    digests["train-images-idx3-ubyte.gz"] = "0" * 64
    sha = tmp_path / "sha.json"
    sha.write_text(json.dumps(digests))
    monkeypatch.setenv("HYPERLAB_FASHION_MNIST_URL", url)
    monkeypatch.setenv("HYPERLAB_FASHION_MNIST_SHA256", str(sha))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: SHA-256 mismatch \(expected 0{64}"):
        D.fashion_mnist(n_val=5, n_train=8)
    assert len(hits) == 1
    assert not cache(tmp_path).exists() or list(cache(tmp_path).iterdir()) == []
    # The official digests reject these generated files too.
    monkeypatch.delenv("HYPERLAB_FASHION_MNIST_SHA256")
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        D.fashion_mnist(n_val=5, n_train=8)
    assert not cache(tmp_path).exists() or list(cache(tmp_path).iterdir()) == []


def test_bad_digest_file_is_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "sha.json"
    bad.write_text("[1, 2]")
    monkeypatch.setenv("HYPERLAB_FASHION_MNIST_SHA256", str(bad))
    with pytest.raises(ValueError, match=r"HYPERLAB_FASHION_MNIST_SHA256=.*sha\.json: expected a JSON object"):
        I.download_fashion_mnist(tmp_path / "d", base_url="http://127.0.0.1:9/")


def test_no_files_and_no_network_is_one_clear_error(tmp_path, monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HYPERLAB_FASHION_MNIST_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(ValueError) as info:
        D.fashion_mnist()
    msg = str(info.value)
    assert "Fashion-MNIST not found and the download failed" in msg
    assert f"127.0.0.1:{port}/train-images-idx3-ubyte.gz" in msg
    assert str(cache(tmp_path)) in msg
    assert "path=" in msg and "--path" in msg and "HYPERLAB_FASHION_MNIST" in msg
    assert "connect to the internet" in msg
    assert not cache(tmp_path).exists() or list(cache(tmp_path).iterdir()) == []
    with pytest.raises(ValueError, match=r"not found and download=False\. Looked in: .*the cache"):
        D.fashion_mnist(download=False)


def test_registered_in_datasets():
    assert {"digits", "fashion_mnist"} <= set(D.NAMES)
    assert D.fashion_mnist is I.fashion_mnist and D.digits is I.digits
    with pytest.raises(ValueError, match="Valid arguments: path, download, n_val, n_train"):
        D.get("fashion_mnist", seed=1)
