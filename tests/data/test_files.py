from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hyperlab.data import datasets as D
from hyperlab.data import files as F


def write_csv(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def table(n_per_class=10, labels=("2", "10", "9"), label_col="label"):
    """Rows ``id, a, <label>, b`` with a = id / 4 and b = -id, classes round-robin."""
    lines = [f"id, a,{label_col},b"]
    rows = []
    for i in range(n_per_class * len(labels)):
        lab = labels[i % len(labels)]
        rows.append((i, i / 4, lab, -i))
        lines.append(f"{i},{i / 4},{lab},{-i}")
    return "\n".join(lines) + "\n\n", rows


def unsplit(ds):
    """Train and validation rows back in file order (the first feature is the row id)."""
    x = np.concatenate([ds.x_train, ds.x_val])
    y = np.concatenate([ds.y_train, ds.y_val])
    order = np.argsort(x[:, 0])
    return x[order], y[order]


# ---------------------------------------------------------------------------- CSV
def test_csv_round_trip_numeric_labels_sorted_numerically(tmp_path):
    text, rows = table()
    ds = D.csv(write_csv(tmp_path / "t.csv", text))
    assert ds.class_names == ("2", "9", "10") and ds.n_classes == 3
    assert (ds.name, ds.n_features) == ("csv", 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert len(ds.x_val) == 6 and len(ds.x_train) == 24
    x, y = unsplit(ds)
    np.testing.assert_array_equal(x, np.array([(i, a, b) for i, a, _, b in rows], np.float32))
    code = {"2": 0, "9": 1, "10": 2}
    np.testing.assert_array_equal(y, [code[lab] for _, _, lab, _ in rows])
    # Stratified: each class has 10 rows, so 2 of each in validation.
    np.testing.assert_array_equal(np.bincount(ds.y_val), [2, 2, 2])


def test_csv_string_labels_other_label_column_and_determinism(tmp_path):
    text, rows = table(labels=("dog", "cat", "ant"), label_col="species")
    p = write_csv(tmp_path / "t.csv", text)
    ds = D.get("csv", path=p, label="species", val_fraction=0.3, seed=4)
    assert ds.class_names == ("ant", "cat", "dog")
    _, y = unsplit(ds)
    np.testing.assert_array_equal(y, [("ant", "cat", "dog").index(r[2]) for r in rows])
    np.testing.assert_array_equal(np.bincount(ds.y_val), [3, 3, 3])
    again = D.csv(p, label="species", val_fraction=0.3, seed=4)
    np.testing.assert_array_equal(ds.x_val, again.x_val)
    other = D.csv(p, label="species", val_fraction=0.3, seed=5)
    assert not np.array_equal(ds.x_val, other.x_val)


def test_csv_plain_split_when_a_class_is_too_small(tmp_path):
    text = "x,label\n" + "".join(f"{i},{'a' if i else 'b'}\n" for i in range(10))
    ds = D.csv(write_csv(tmp_path / "t.csv", text), val_fraction=0.3)
    assert len(ds.x_val) == 3 and len(ds.x_train) == 7
    assert ds.class_names == ("a", "b")
    x, y = unsplit(ds)
    np.testing.assert_array_equal(x[:, 0], np.arange(10))
    np.testing.assert_array_equal(y, [1] + [0] * 9)


def test_csv_is_cached_until_the_file_changes(tmp_path):
    p = tmp_path / "t.csv"
    write_csv(p, "f,label\n1,a\n2,b\n3,a\n4,b\n5,a\n")
    first = D.csv(str(p))
    hits = F._parse_csv.cache_info().hits
    D.csv(str(p), seed=1)
    assert F._parse_csv.cache_info().hits == hits + 1
    first.x_train[:] = 0  # callers own their arrays
    assert D.csv(str(p)).x_train.max() > 0
    write_csv(p, "f,label\n10,a\n20,b\n30,a\n40,b\n50,a\n60,b\n")
    os.utime(p, ns=(1, 1))  # a different mtime even on coarse clocks
    ds = D.csv(str(p))
    assert len(ds.x_train) + len(ds.x_val) == 6 and ds.x_train.min() >= 10


@pytest.mark.parametrize("text, match", [
    ("a,b,label\n1,2,x\n3,,y\n", r"t\.csv, line 3, column 'b': missing value"),
    ("a,b,label\n1,2,x\n3,4,y\nabc,5,x\n", r"t\.csv, line 4, column 'a': non-numeric value 'abc'"),
    ("a,b,label\n1,nan,x\n3,4,y\n", r"line 2, column 'b': non-numeric value 'nan'"),
    ("a,b,label\n1,2,x\n3,4\n", r"t\.csv, line 3: 2 fields but the header has 3 columns"),
    ("a,b,label\n1,2,\n3,4,y\n", r"line 2, column 'label': missing label"),
    ("a,b,target\n1,2,x\n", r"t\.csv: no label column 'label'; the columns are 'a', 'b', 'target'"),
    ("", r"t\.csv: the file is empty"),
    ("label\nx\ny\n", r"only the label column"),
    ("a,a,label\n1,2,x\n3,4,y\n", r"duplicate column name\(s\) 'a'"),
    ("a,label\n1,x\n2,x\n3,x\n", r"single class 'x'"),
    ("a,label\n1,x\n", r"1 data row\(s\); need at least 2"),
    ("a,label\n1,x\n2,y\n3,x\n", r"val_fraction=0\.1 of its 3 samples leaves an empty"),
])
def test_csv_errors_name_file_line_and_column(tmp_path, text, match):
    p = write_csv(tmp_path / "t.csv", text)
    with pytest.raises(ValueError, match=match):
        D.csv(p, val_fraction=0.1) if "val_fraction" in match else D.csv(p)


def test_csv_path_and_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.csv: does not exist; give the path of an existing CSV"):
        D.csv(str(tmp_path / "nope.csv"))
    with pytest.raises(ValueError, match="is a directory"):
        D.csv(str(tmp_path))
    p = write_csv(tmp_path / "t.csv", "a,label\n1,x\n2,y\n")
    with pytest.raises(ValueError, match="val_fraction"):
        D.csv(p, val_fraction=1.0)
    with pytest.raises(ValueError, match="seed"):
        D.csv(p, seed=-1)
    with pytest.raises(ValueError, match=r"Dataset 'csv' needs the argument\(s\) path"):
        D.get("csv")
    bad = tmp_path / "latin.csv"
    bad.write_bytes("a,label\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.csv: not UTF-8"):
        D.csv(str(bad))


# ---------------------------------------------------------------------------- NPZ
def test_npz_x_y_round_trip_keeps_sample_shape(tmp_path):
    x = np.arange(40 * 12, dtype=np.float64).reshape(40, 4, 3)
    y = np.array([3, 7] * 20)
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=y)
    ds = D.get("npz", path=str(p), val_fraction=0.25, seed=2)
    assert ds.x_train.shape == (30, 4, 3) and ds.x_val.shape == (10, 4, 3)
    assert (ds.name, ds.n_classes, ds.n_features, ds.class_names) == ("npz", 2, 12, ("3", "7"))
    got_x = np.concatenate([ds.x_train, ds.x_val])
    got_y = np.concatenate([ds.y_train, ds.y_val])
    order = np.argsort(got_x[:, 0, 0])
    np.testing.assert_array_equal(got_x[order], x.astype(np.float32))
    np.testing.assert_array_equal(got_y[order], (y == 7).astype(int))
    np.testing.assert_array_equal(np.bincount(ds.y_val), [5, 5])
    np.testing.assert_array_equal(D.npz(str(p), 0.25, 2).x_val, ds.x_val)


def test_npz_given_split_with_string_labels(tmp_path):
    p = tmp_path / "s.npz"
    xt, xv = np.ones((4, 2)), np.zeros((3, 2))
    np.savez(p, x_train=xt, y_train=np.array(["b", "a", "b", "a"]),
             x_val=xv, y_val=np.array(["c", "b", "a"]))
    ds = D.npz(str(p))
    assert ds.class_names == ("a", "b", "c") and ds.n_classes == 3
    np.testing.assert_array_equal(ds.x_train, xt)
    np.testing.assert_array_equal(ds.x_val, xv)
    np.testing.assert_array_equal(ds.y_train, [1, 0, 1, 0])
    np.testing.assert_array_equal(ds.y_val, [2, 1, 0])


def save(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def test_npz_errors(tmp_path):
    x, y = np.zeros((6, 2)), np.array([0, 1] * 3)
    cases = [
        (save(tmp_path / "k.npz", features=x, y=y),
         r"k\.npz: expected arrays 'x' and 'y' .*found \['features', 'y'\]"),
        (save(tmp_path / "o.npz", x=np.array([[1], [2]], dtype=object), y=np.array([0, 1])),
         r"o\.npz: member 'x.npy' holds Python objects \(dtype object\).*pickle.*refused"),
        (save(tmp_path / "l.npz", x=x, y=y[:5]),
         r"l\.npz: 'x' has 6 samples but 'y' has 5 labels"),
        (save(tmp_path / "n.npz", x=np.where(np.arange(12).reshape(6, 2) == 7, np.nan, 0.0), y=y),
         r"n\.npz: 'x' has non-finite values .* in sample 3"),
        (save(tmp_path / "i.npz", x=np.full((6, 1), 1e39), y=y), r"i\.npz: 'x' has non-finite"),
        (save(tmp_path / "d.npz", x=np.arange(6.0), y=y), r"d\.npz: 'x' must have shape \(n_samples"),
        (save(tmp_path / "s.npz", x=np.array([["a"], ["b"]]), y=np.array([0, 1])),
         r"s\.npz: 'x' must hold numbers"),
        (save(tmp_path / "c.npz", x=x, y=np.zeros(6)), r"c\.npz: 'y' holds a single class '0'"),
        (save(tmp_path / "m.npz", x_train=x, y_train=y, x_val=np.zeros((2, 3)), y_val=y[:2]),
         r"m\.npz: samples of 'x_train' have shape \(2,\) but those of 'x_val' \(3,\)"),
        (save(tmp_path / "f.npz", x=x, y=np.array([0, 1, np.nan, 0, 1, 0])),
         r"f\.npz: 'y' has non-finite labels"),
    ]
    for path, match in cases:
        with pytest.raises(ValueError, match=match):
            D.npz(path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"junk\.npz: not an \.npz archive"):
        D.npz(str(junk))
    cut = Path(save(tmp_path / "t.npz", x=np.zeros((200, 50)), y=np.arange(200) % 2))
    cut.write_bytes(cut.read_bytes()[:-300])  # loses the zip directory
    with pytest.raises(ValueError, match=r"t\.npz: not an \.npz archive"):
        D.npz(str(cut))
    hurt = tmp_path / "z.npz"
    np.savez_compressed(hurt, x=np.random.default_rng(0).random((200, 50)), y=np.arange(200) % 2)
    data = bytearray(hurt.read_bytes())
    data[2000:2100] = bytes(b ^ 0xFF for b in data[2000:2100])  # damage the compressed data
    hurt.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"z\.npz: corrupt or truncated \.npz archive"):
        D.npz(str(hurt))
    with pytest.raises(ValueError, match=r"gone\.npz: does not exist"):
        D.npz(str(tmp_path / "gone.npz"))


def test_registered_in_datasets():
    assert {"csv", "npz"} <= set(D.NAMES)
    assert D.csv is F.csv and D.npz is F.npz
