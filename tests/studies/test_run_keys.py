"""Run keys address content: the resolved configuration, the seed and the data as loaded
(never where the data file lies), for every dataset kind."""
from __future__ import annotations

import copy
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hyperlab import datasets
from hyperlab.studies import planner, spec

CONFIG = spec.resolve(copy.deepcopy(spec.DEFAULTS), "test")
DIGEST = spec.data_facts(CONFIG["data"]).digest


def _leaves(node: dict, prefix: tuple = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in node.items():
        out += _leaves(value, prefix + (key,)) if isinstance(value, dict) else [prefix + (key,)]
    return out


def _reordered(node: Any, rnd: random.Random) -> Any:
    """The same nested dicts, keys in another insertion order."""
    if not isinstance(node, dict):
        return node
    keys = list(node)
    rnd.shuffle(keys)
    return {k: _reordered(node[k], rnd) for k in keys}


LEAVES = _leaves(CONFIG)
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=4)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31), rnd=st.randoms(use_true_random=False))
def test_equal_inputs_give_equal_keys_whatever_the_dict_order(seed, rnd):
    assert spec.run_key(_reordered(CONFIG, rnd), seed, DIGEST) == spec.run_key(CONFIG, seed, DIGEST)


@settings(deadline=None)
@given(path=st.sampled_from(LEAVES), value=VALUES)
def test_any_change_of_a_config_value_changes_the_key(path, value):
    node = changed = copy.deepcopy(CONFIG)
    for part in path[:-1]:
        node = node[part]
    old = node[path[-1]]
    assume(type(value) is not type(old) or value != old)
    node[path[-1]] = value
    assert spec.run_key(changed, 0, DIGEST) != spec.run_key(CONFIG, 0, DIGEST)


@settings(max_examples=50, deadline=None)
@given(a=st.integers(0, 2**31), b=st.integers(0, 2**31))
def test_any_change_of_the_seed_changes_the_key(a, b):
    assume(a != b)
    assert spec.run_key(CONFIG, a, DIGEST) != spec.run_key(CONFIG, b, DIGEST)


def _dataset(x_train, y_train, x_val, y_val) -> datasets.Dataset:
    return datasets.Dataset(x_train, y_train, x_val, y_val, name="t", n_classes=3,
                            n_features=int(np.prod(x_train.shape[1:])))


FEATURES = hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 4)),
                      elements=st.floats(-10, 10, width=32))


@settings(max_examples=50, deadline=None)
@given(x=FEATURES, v=FEATURES, which=st.sampled_from(["x_train", "y_train", "x_val", "y_val"]),
       at=st.integers(0, 10**6))
def test_one_changed_data_element_changes_the_key_and_a_copy_does_not(x, v, which, at):
    arrays = {"x_train": x, "y_train": np.arange(len(x), dtype=np.int32) % 3,
              "x_val": v, "y_val": np.arange(len(v), dtype=np.int32) % 3}
    key = spec.run_key(CONFIG, 0, spec.data_digest(_dataset(**arrays)))
    copies = {k: np.asfortranarray(a.copy()) for k, a in arrays.items()}   # other memory, layout
    assert spec.run_key(CONFIG, 0, spec.data_digest(_dataset(**copies))) == key
    flat = copies[which].reshape(-1).copy()
    i = at % flat.size
    flat[i] = np.nextafter(flat[i], np.float32(np.inf)) if flat.dtype.kind == "f" else flat[i] + 1
    copies[which] = flat.reshape(copies[which].shape)
    assert spec.run_key(CONFIG, 0, spec.data_digest(_dataset(**copies))) != key


def test_shape_and_dtype_are_part_of_the_data():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = np.zeros(4, dtype=np.int32)
    digest = spec.data_digest(_dataset(x, y, x, y))
    assert spec.data_digest(_dataset(x.reshape(2, 4), y, x, y)) != digest
    assert spec.data_digest(_dataset(x.reshape(4, 2, 1), y, x, y)) != digest
    assert spec.data_digest(_dataset(x.view(np.int32), y, x, y)) != digest


# ---------------------------------------------------------------------------- files
def _write_csv(folder: Path, rows: list[tuple[float, float, int]]) -> dict[str, Any]:
    lines = ["a,b,label"] + [f"{a!r},{b!r},{c}" for a, b, c in rows]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    return {"name": "csv", "path": "train.csv"}


def _write_npz(folder: Path, rows: list[tuple[float, float, int]]) -> dict[str, Any]:
    x = np.array([r[:2] for r in rows], dtype=np.float32)
    np.savez(folder / "data.npz", x=x, y=np.array([r[2] for r in rows]))
    return {"name": "npz", "path": "data.npz"}


def _write_images(folder: Path, rows: list[tuple[float, float, int]]) -> dict[str, Any]:
    """A Keras-style Fashion-MNIST archive: each row a 2x2 image of uint8 pixels."""
    x = np.array([[[int(abs(a)) % 256, int(abs(b)) % 256], [1, 2]] for a, b, _ in rows],
                 dtype=np.uint8)
    np.savez(folder / "fashion.npz", x_train=x, y_train=np.array([r[2] for r in rows]) % 10)
    return {"name": "fashion_mnist", "path": "fashion.npz", "n_val": 2, "n_train": 0,
            "download": False}


WRITERS = {"csv": _write_csv, "npz": _write_npz, "images": _write_images}
ROWS = st.lists(st.tuples(st.integers(0, 255).map(float), st.integers(0, 255).map(float),
                          st.integers(0, 1)), min_size=6, max_size=12)


def _keys(folder: Path, data: dict[str, Any]) -> list[str]:
    study = spec.from_dict({"name": "k", "repeats": 2, "data": data,
                            "sweep": [{"field": "fit.epochs", "values": [1, 2]}]}, root=folder)
    return [run.key for run in planner.plan(study)[1]]


@pytest.mark.parametrize("kind", WRITERS)
@settings(max_examples=15, deadline=None)
@given(rows=ROWS, row=st.integers(0, 100))
def test_file_data_are_keyed_by_content_not_location(kind, rows, row):
    assume(len({r[2] for r in rows}) == 2)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, \
            tempfile.TemporaryDirectory() as c:
        keys = _keys(Path(a), WRITERS[kind](Path(a), rows))
        assert len(set(keys)) == 4
        assert _keys(Path(b), WRITERS[kind](Path(b), rows)) == keys     # same data, elsewhere
        edited = list(rows)
        i = row % len(rows)
        edited[i] = ((edited[i][0] + 1) % 256, *edited[i][1:])
        assert set(_keys(Path(c), WRITERS[kind](Path(c), edited))).isdisjoint(keys)


def test_generated_data_are_keyed_by_their_arrays():
    moons = spec.resolve({**CONFIG, "data": {"name": "moons", "n_samples": 40}}, "test")
    noisier = spec.resolve({**CONFIG, "data": {"name": "moons", "n_samples": 40, "noise": 0.3}},
                           "test")
    first, second = (spec.data_facts(c["data"]).digest for c in (moons, noisier))
    ds = datasets.moons(n_samples=40)
    assert first == spec.data_digest(ds) != second
    facts = spec.data_facts(moons["data"])
    assert (facts.n_train, facts.n_val, facts.n_features, facts.n_classes) == (20, 20, 2, 2)


def test_a_file_edited_in_the_same_process_is_loaded_again(tmp_path):
    rows = [(float(i), float(i % 3), i % 2) for i in range(8)]
    _write_csv(tmp_path, rows)
    data = spec.resolve({**CONFIG, "data": {"name": "csv", "path": str(tmp_path / "train.csv")}},
                        "test")["data"]
    before = spec.data_facts(data)
    (tmp_path / "train.csv").write_text((tmp_path / "train.csv").read_text() + "9.0,9.0,1\n")
    after = spec.data_facts(data)
    assert (before.n_train + before.n_val, after.n_train + after.n_val) == (8, 9)
    assert after.digest != before.digest
