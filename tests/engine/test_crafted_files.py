"""Crafted model files: load_model checks every size and shape the file declares before it
reads any array data or builds any weight, never unpickles, and answers one line.

Each file is real (a zip written here, its checksum recomputed where a deliberate editor
would), so every case goes through the same reader a user's file does; the guards make a
case fail loudly, instead of allocating, if weights are built or arrays read too early.
"""
from __future__ import annotations

import gzip
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

import hyperlab as hl
from crafted import assert_load_refused_cheaply, npy, npy_header, pickle_bomb, write_zip
from hyperlab.engine import npz_format
from hyperlab.engine.model import Sequential

DOC = "__hyperlab__.json"
GiB = 1 << 30


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A compiled model with an Adam state (as after fit, without compiling a fit):
    2 -> Dense(12) -> Dense(3)."""
    model = hl.Sequential([hl.layers.Input((2,)), hl.layers.Dense(12, "relu", name="dense"),
                           hl.layers.Dense(3, "softmax", name="dense_1")], seed=0)
    model.compile(hl.optimizers.Adam(0.01), "categorical_crossentropy", ["accuracy"])
    model._opt_state = model.optimizer.init(model.trainable_view(model.params))
    path = tmp_path_factory.mktemp("model") / "model.npz"
    model.save(path)
    return path


def _members(path: Path) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    return json.loads(members.pop(DOC)), members


def _craft(base: Path, out: Path, edit=None, replace=None, declare=None, resign=True,
           compression=zipfile.ZIP_STORED, doc_bytes: bytes | None = None) -> Path:
    """``base`` with its document edited (``edit(doc)``), members replaced, and the central
    directory claiming the sizes in ``declare``; the checksum recomputed if ``resign``."""
    doc, members = _members(base)
    if edit is not None:
        edit(doc)
    members.update(replace or {})
    if resign:
        doc["sha256"] = npz_format._digest(doc, members)
    body = json.dumps(doc).encode() if doc_bytes is None else doc_bytes
    return write_zip(out, {DOC: body, **members}, declare, compression)


def _units(n):
    return lambda doc: doc["model"]["layers"][0]["config"].update(units=n)


def _huge_architecture(base: Path, out: Path) -> Path:
    """Every array's header and directory entry agree with an architecture of 2**30 hidden
    units (2**32 values, 16 GiB of weights); only the headers are stored."""
    shapes = {"params/000/kernel.npy": (2, GiB), "params/000/bias.npy": (GiB,),
              "params/001/kernel.npy": (GiB, 3), "params/001/bias.npy": (3,)}
    headers = {name: npy_header(shape) for name, shape in shapes.items()}

    def edit(doc):
        _units(GiB)(doc)
        doc.update(compile=None, optimizer_state=None)

    doc, members = _members(base)
    edit(doc)
    return write_zip(out, {DOC: json.dumps(doc).encode(), **headers},
                     {name: len(headers[name]) + 4 * int(np.prod(shape))
                      for name, shape in shapes.items()})


def _no_weights(base, out):
    """A built architecture of 10**9 units that claims to have no weights at all."""
    doc, _ = _members(base)
    _units(10**9)(doc)
    doc.update(weights=None, optimizer_state=None)
    doc["sha256"] = npz_format._digest(doc, {})
    return write_zip(out, {DOC: json.dumps(doc).encode()})


def _nested(base, out):
    return _craft(base, out, doc_bytes=b"[" * 200_000 + b"]" * 200_000)


def _huge_int(base, out):
    doc, _ = _members(base)
    text = json.dumps(doc).replace('"units": 12', '"units": 1' + "0" * 5000)
    return _craft(base, out, doc_bytes=text.encode())


def _npy_v3(base, out):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }".ljust(118) + b"\n"
    member = b"\x93NUMPY\x03\x00" + len(header).to_bytes(4, "little") + header + bytes(48)
    return _craft(base, out, replace={"params/000/bias.npy": member})


def _long_header(base, out):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }".ljust(100_000) + b"\n"
    member = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header + bytes(48)
    return _craft(base, out, replace={"params/000/bias.npy": member})


def _flag(attr, value):
    """A zip whose directory entry for a kernel has ``attr`` = ``value``."""
    def make(base, out):
        path = _craft(base, out)
        with zipfile.ZipFile(path, "a") as z:
            setattr(z.getinfo("params/000/kernel.npy"), attr, value)
            z._didModify = True  # rewrite the central directory on close
        return path
    return make


def _duplicate(base, out):
    doc, members = _members(base)
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(out, "w") as z:
            z.writestr(DOC, json.dumps(doc))
            for name, data in members.items():
                z.writestr(name, data)
            z.writestr("params/000/bias.npy", members["params/000/bias.npy"])
    return out


def _bomb_behind_small_directory(base, out):
    """A kernel whose real deflate stream expands to 64 MiB while the directory and the
    header both declare (2, 12): reading must stop at what is declared."""
    real = npy(np.zeros((2, 12), np.float32))
    path = _craft(base, out, replace={"params/000/kernel.npy": real + bytes(64 << 20)},
                  declare={"params/000/kernel.npy": len(real)}, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20  # a small file
    return path


def _truncated(base, out, keep=0.6):
    shutil.copy(base, out)
    data = out.read_bytes()
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def _flipped_weight(base, out):
    doc, members = _members(base)
    kernel = np.lib.format.read_array(io.BytesIO(members["params/000/kernel.npy"]))
    kernel[0, 0] += 1
    return _craft(base, out, replace={"params/000/kernel.npy": npy(kernel)}, resign=False)


def _slot_path(base) -> str:
    doc, _ = _members(base)
    return next(e["member"] for e in doc["optimizer_state"] if "kernel" in e["path"])


def _huge_slot(base, out):
    slot = _slot_path(base)
    header = npy_header((2, 10**9))
    return _craft(base, out, replace={slot: header}, declare={slot: len(header) + 8 * 10**9})


# (id, builder(base, out) -> path, what the one-line error says, may array data be read?)
CASES = [
    ("units-1e9", lambda b, o: _craft(b, o, _units(10**9)),
     ["dense/bias", "(12,)", "(1000000000,)", "architecture needs"], False),
    ("input-shape-1e9", lambda b, o: _craft(b, o, lambda d: d["model"].update(input_shape=[10**9])),
     ["dense/kernel", "(2, 12)", "(1000000000, 12)"], False),
    ("units-2e30-over-the-value-bound", _huge_architecture,
     ["declare 6,442,450,947 values", "more than a model file may hold", f"{npz_format.MAX_VALUES:,}"], False),
    ("units-negative", lambda b, o: _craft(b, o, _units(-5)), ["layer 0", "units"], False),
    ("units-bool", lambda b, o: _craft(b, o, _units(True)), ["layer 0", "units"], False),
    ("weights-null-huge-units", _no_weights, ["weights do not match the architecture"], False),
    ("input-shape-not-ints", lambda b, o: _craft(b, o, lambda d: d["model"].update(input_shape=["2"])),
     ["invalid input_shape"], False),
    ("member-declares-2GiB", lambda b, o: _craft(b, o, declare={"params/000/kernel.npy": 2 * GiB}),
     ["params/000/kernel.npy", "(2, 12)", "2,147,483,648", "crafted"], False),
    ("bomb-behind-a-small-directory", _bomb_behind_small_directory,
     ["truncated or corrupted", "CRC"], True),
    ("document-declares-1GiB", lambda b, o: _craft(b, o, declare={DOC: GiB}),
     [DOC, "1,073,741,824", "more than"], False),
    ("document-nested-200000-deep", _nested, ["does not parse"], False),
    ("document-5000-digit-int", _huge_int, ["does not parse"], False),
    ("document-not-utf8", lambda b, o: _craft(b, o, doc_bytes=b"\xff\xfe{}"), ["does not parse"], False),
    ("document-not-an-object", lambda b, o: _craft(b, o, doc_bytes=b"[1, 2]"),
     ["not a hyperlab model file"], False),
    ("structured-object-dtype",
     lambda b, o: _craft(b, o, replace={"params/000/bias.npy": npy(np.zeros(12, [("a", "O")]))}),
     ["params/000/bias.npy", "pickle", "refused"], False),
    ("float64-kernel", lambda b, o: _craft(b, o, replace={
        "params/000/kernel.npy": npy(np.zeros((2, 12), np.float64))}),
     ["dense/kernel", "float64", "float32"], False),
    ("kernel-transposed", lambda b, o: _craft(b, o, replace={
        "params/000/kernel.npy": npy(np.zeros((12, 2), np.float32))}),
     ["dense/kernel", "(12, 2)", "(2, 12)"], False),
    ("npy-format-version-3", _npy_v3, ["params/000/bias.npy", "version"], False),
    ("npy-header-100kB", _long_header, ["params/000/bias.npy", "not a .npy array"], False),
    ("npy-bad-magic", lambda b, o: _craft(b, o, replace={"params/000/bias.npy": b"PK\x03\x04junk"}),
     ["params/000/bias.npy", "not a .npy array"], False),
    ("npy-header-cut", lambda b, o: _craft(b, o, replace={"params/000/bias.npy": b"\x93NUMPY\x01\x00"}),
     ["params/000/bias.npy", "not a .npy array"], False),
    ("npy-data-cut", lambda b, o: _craft(b, o, replace={
        "params/000/bias.npy": npy(np.zeros(12, np.float32))[:-8]}),
     ["params/000/bias.npy", "crafted"], False),
    ("optimizer-slot-declares-8GB", _huge_slot, ["optimizer state", "(2, 1000000000)"], False),
    ("duplicate-member", _duplicate, ["appears twice"], False),
    ("unexpected-member", lambda b, o: _craft(b, o, replace={"extra.npy": npy(np.zeros(3))}),
     ["unexpected members extra.npy"], False),
    ("encrypted-member", _flag("flag_bits", 0x1), ["unreadable", "encrypted"], False),
    ("compression-method-99", _flag("compress_type", 99), ["unreadable"], False),
    ("flipped-weight-not-resigned", _flipped_weight, ["checksum mismatch"], True),
    ("truncated-at-60-percent", _truncated, ["truncated"], False),
    ("gzip-not-zip", lambda b, o: (o.write_bytes(gzip.compress(b.read_bytes())), o)[1],
     ["not a hyperlab model file"], False),
    ("empty-file", lambda b, o: (o.write_bytes(b""), o)[1], ["not a hyperlab model file"], False),
    ("random-bytes", lambda b, o: (o.write_bytes(np.random.default_rng(0).bytes(4096)), o)[1],
     ["not a hyperlab model file"], False),
]


@pytest.fixture()
def guarded(monkeypatch):
    """Weights are never built, nor (unless allowed) array data read, before the checks."""
    def built(*args, **kwargs):
        raise AssertionError("weights were built before the file was checked")

    monkeypatch.setattr(Sequential, "build", built)
    real = npz_format.read_npy
    allowed = {"read": False}

    def read(*args, **kwargs):
        if not allowed["read"]:
            raise AssertionError("array data were read before the file was checked")
        return real(*args, **kwargs)

    monkeypatch.setattr(npz_format, "read_npy", read)
    return allowed


@pytest.mark.parametrize("case, build, says, reads", CASES, ids=[c[0] for c in CASES])
def test_a_crafted_model_file_is_one_line_and_costs_nothing(case, build, says, reads, base,
                                                            tmp_path, guarded):
    path = build(base, tmp_path / f"{case}.npz")
    guarded["read"] = reads
    assert_load_refused_cheaply(hl.load_model, path, says, 16 << 20,
                                starts=f"cannot load model file {str(path)!r}: ")


def test_a_pickled_array_is_refused_without_running_it(base, tmp_path):
    marker = tmp_path / "the-pickle-ran"
    path = _craft(base, tmp_path / "m.npz", replace={"params/000/bias.npy": pickle_bomb(marker)})
    with pytest.raises(ValueError, match=r"params/000/bias\.npy.*pickle.*refused"):
        hl.load_model(path)
    assert not marker.exists()


def test_a_fortran_order_array_of_the_right_shape_loads(base, tmp_path):
    doc, members = _members(base)
    kernel = np.lib.format.read_array(io.BytesIO(members["params/000/kernel.npy"]))
    path = _craft(base, tmp_path / "f.npz",
                  replace={"params/000/kernel.npy": npy(np.asfortranarray(kernel))})
    np.testing.assert_array_equal(np.asarray(hl.load_model(path).params[0]["kernel"]), kernel)
