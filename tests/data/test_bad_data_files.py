"""Hostile data files: user NPZ and CSV tables and Fashion-MNIST archives (IDX, Keras .npz).

Every case is a real file written here. Each must end in exactly one ValueError line that
names the file, quickly and without reading more than the file declares: a zip member or a
gzip stream that would expand to gigabytes is refused from its header and directory, or
cut off at the size they declare.
"""
from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from crafted import assert_load_refused_cheaply, npy, npy_header, pickle_bomb, write_zip
from hyperlab.data import datasets as D
from hyperlab.data import files as F
from hyperlab.data import images as I

GiB = 1 << 30
Y6 = npy(np.array([0, 1] * 3))


def _npz(out: Path, members: dict[str, bytes], declare=None, deflate=False) -> Path:
    return write_zip(out, members, declare, zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)


def _declared(out, shape, deflated_zeros=0):
    """``x.npy``: a header (and optionally real zeros, deflated) that the directory says
    holds all of ``shape`` float32."""
    header = npy_header(shape)
    return _npz(out, {"x.npy": header + bytes(deflated_zeros), "y.npy": Y6},
                {"x.npy": len(header) + 4 * int(np.prod(shape))}, deflate=deflated_zeros > 0)


def _bomb_behind_small_directory(out):
    real = npy(np.zeros((6, 2)))
    return _npz(out, {"x.npy": real + bytes(64 << 20), "y.npy": Y6}, {"x.npy": len(real)},
                deflate=True)


def _savez(out, **arrays):
    np.savez(out, **arrays)
    return out


def _cut(out):
    _savez(out, x=np.zeros((200, 50)), y=np.arange(200) % 2)
    out.write_bytes(out.read_bytes()[: len(out.read_bytes()) // 2])
    return out


def _v3(out):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (6, 2), }".ljust(118) + b"\n"
    x = b"\x93NUMPY\x03\x00" + len(header).to_bytes(4, "little") + header + bytes(96)
    return _npz(out, {"x.npy": x, "y.npy": Y6})


def _csv(text: str | bytes):
    def make(out):
        out.write_bytes(text if isinstance(text, bytes) else text.encode())
        return out
    return make


def _idx(dims, body: bytes = b"", gz=True, magic=0x0803):
    def make(out):
        data = struct.pack(f">I{len(dims)}I", magic, *dims) + body
        out.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
        return out
    return make


def _keras(**members):
    def make(out):
        return _npz(out, members)
    return make


def _keras_declared(out):
    header = npy_header((3000, 28, 28 * 1000), "|u1")  # 2.2 GB of pixels
    return _npz(out, {"x_train.npy": header, "y_train.npy": npy(np.zeros(3000, np.uint8))},
                {"x_train.npy": len(header) + 3000 * 28 * 28 * 1000})


def _idx_dir(out):
    out.mkdir()
    _idx((20, 28, 28), bytes(64 << 20))(out / "train-images-idx3-ubyte.gz")
    _idx((20,), bytes(20), magic=0x0801)(out / "train-labels-idx1-ubyte.gz")
    return out


NPZ, CSV, IDX, KERAS = (lambda p: D.npz(str(p))), (lambda p: D.csv(str(p))), \
    (lambda p: I.read_idx(p, 0x0803)), (lambda p: D.fashion_mnist(path=str(p), download=False))

# (id, file name, builder(path) -> path, loader, what the one-line error says)
CASES = [
    ("npz-member-declares-2GiB", "a.npz", lambda o: _declared(o, (GiB // 4, 2)), NPZ,
     ["x.npy", "2,147,483,", "more than the 1,073,741,824"]),
    ("npz-2MB-zip-of-a-2GiB-member", "a.npz",
     lambda o: _declared(o, (GiB // 2,), deflated_zeros=2 << 20), NPZ,
     ["2,147,483,", "MAX_DATA_BYTES"]),
    ("npz-directory-disagrees-with-header", "a.npz",
     lambda o: _npz(o, {"x.npy": npy(np.zeros((6, 2))), "y.npy": Y6}, {"x.npy": 2 * GiB}), NPZ,
     ["'x.npy' declares shape (6, 2)", "2,147,483,648", "crafted"]),
    ("npz-64MiB-bomb-behind-a-small-directory", "a.npz", _bomb_behind_small_directory, NPZ,
     ["corrupt or truncated .npz archive", "CRC"]),
    ("npz-pickled-object-array", "a.npz", lambda o: _npz(o, {"x.npy": pickle_bomb(o.with_suffix(".ran")),
                                                             "y.npy": Y6}), NPZ,
     ["'x.npy' holds Python objects", "pickle", "refused"]),
    ("npz-structured-object-field", "a.npz",
     lambda o: _npz(o, {"x.npy": npy(np.zeros(6, [("a", "f8"), ("b", "O")])), "y.npy": Y6}), NPZ,
     ["holds Python objects", "refused"]),
    ("npz-member-not-npy", "a.npz", lambda o: _npz(o, {"x.npy": npy(np.zeros((6, 2))),
                                                      "y.npy": Y6, "notes.txt": b"hi"}), NPZ,
     ["'notes.txt' is not a .npy array"]),
    ("npz-npy-version-3", "a.npz", _v3, NPZ, ["'x.npy' is not a .npy array", "version"]),
    ("npz-zero-size-items", "a.npz", lambda o: _npz(o, {"x.npy": npy_header((6, 2), "|V0"),
                                                       "y.npy": Y6}), NPZ, ["empty items"]),
    ("npz-empty-zip", "a.npz", lambda o: _npz(o, {}), NPZ, ["expected arrays 'x' and 'y'", "none"]),
    ("npz-cut-in-half", "a.npz", _cut, NPZ, ["not an .npz archive"]),
    ("npz-no-samples", "a.npz", lambda o: _savez(o, x=np.zeros((0, 2)), y=np.zeros(0)), NPZ,
     ["n_samples >= 1"]),
    ("npz-labels-2-d", "a.npz", lambda o: _savez(o, x=np.zeros((6, 2)), y=np.zeros((6, 2))), NPZ,
     ["'y' must be a 1-D array", "(6, 2)"]),
    ("npz-complex-features", "a.npz",
     lambda o: _savez(o, x=np.zeros((6, 2), complex), y=np.array([0, 1] * 3)), NPZ,
     ["'x' must hold numbers", "complex"]),
    ("npz-nan-in-x_val", "a.npz", lambda o: _savez(
        o, x_train=np.zeros((4, 2)), y_train=[0, 1, 0, 1], x_val=np.array([[0, np.nan]]),
        y_val=[1]), NPZ, ["'x_val' has non-finite values", "sample 0"]),
    ("npz-string-and-number-labels", "a.npz", lambda o: _savez(
        o, x_train=np.zeros((4, 2)), y_train=["a", "b", "a", "b"], x_val=np.zeros((2, 2)),
        y_val=[0, 1]), NPZ, ["mix string and numeric labels"]),
    ("csv-field-over-128KiB", "t.csv", _csv("a,label\n" + "1" * 200_000 + ",x\n2,y\n"), CSV,
     ["malformed CSV", "field limit"]),
    ("csv-NUL-byte", "t.csv", _csv(b"a,label\n1,x\n2\x00,y\n3,x\n"), CSV,
     ["line 3, column 'a'", "non-numeric"]),
    ("csv-inf", "t.csv", _csv("a,label\n1,x\ninf,y\n3,x\n"), CSV, ["line 3", "'inf'"]),
    ("csv-beyond-float32", "t.csv", _csv("a,label\n1,x\n1e39,y\n3,x\n"), CSV, ["float32 range"]),
    ("csv-binary", "t.csv", _csv(np.random.default_rng(0).bytes(2000)), CSV, ["not UTF-8"]),
    ("idx-gz-declares-55GB", "i.gz", _idx((70000, 1000, 784)), IDX,
     ["(70000, 1000, 784)", "more than the 1,073,741,824"]),
    ("idx-plain-declares-4GB", "i", _idx((4, 1 << 15, 1 << 15), gz=False), IDX,
     ["more than the"]),
    ("idx-gz-64MiB-bomb-behind-a-small-header", "i.gz", _idx((20, 28, 28), bytes(64 << 20)), IDX,
     ["IDX size mismatch", "(20, 28, 28)", "more follow"]),
    ("idx-gz-header-cut", "i.gz", _idx((20, 28), magic=0x0803), IDX, ["truncated IDX header"]),
    ("idx-dir-with-a-bomb", "fm", _idx_dir, KERAS, ["train-images-idx3-ubyte.gz",
                                                     "IDX size mismatch"]),
    ("keras-npz-declares-2GB", "k.npz", _keras_declared, KERAS, ["'x_train.npy'", "more than"]),
    ("keras-npz-pickled-pixels", "k.npz", lambda o: _keras(
        **{"x_train.npy": pickle_bomb(o.with_suffix(".ran")),
           "y_train.npy": npy(np.zeros(2, np.uint8))})(o), KERAS, ["pickle", "refused"]),
    ("keras-npz-flat-images", "k.npz", _keras(**{"x_train.npy": npy(np.zeros((4, 784), np.uint8)),
                                                "y_train.npy": npy(np.zeros(4, np.uint8))}),
     KERAS, ["expected images of shape (n, rows, cols)", "(4, 784)"]),
    ("keras-npz-labels-out-of-range", "k.npz", _keras(
        **{"x_train.npy": npy(np.zeros((4, 28, 28), np.uint8)),
           "y_train.npy": npy(np.array([0, 1, 2, 12], np.uint8))}), KERAS, ["label 12"]),
]


pytestmark = pytest.mark.usefixtures("isolated")   # tests/data/conftest.py


@pytest.mark.parametrize("case, name, build, load, says", CASES, ids=[c[0] for c in CASES])
def test_a_bad_data_file_is_one_line_and_costs_nothing(case, name, build, load, says, tmp_path):
    path = build(tmp_path / name)
    assert_load_refused_cheaply(load, path, says, 16 << 20)
    assert not list(tmp_path.glob("*.ran")), "a pickle in the file was run"


def test_the_limit_is_documented_and_settable(tmp_path, monkeypatch):
    path = _savez(tmp_path / "small.npz", x=np.zeros((6, 2)), y=np.array([0, 1] * 3))
    assert len(D.npz(str(path)).x_train) == 5
    monkeypatch.setattr(F, "MAX_DATA_BYTES", 100)
    F._read_npz_cached.cache_clear()
    with pytest.raises(ValueError, match=r"small\.npz: its arrays declare .* more than the 100"):
        D.npz(str(path))
    F._read_npz_cached.cache_clear()
