"""User data from files: a CSV table or an ``.npz`` archive of arrays.

Both return a :class:`~hyperlab.data.datasets.Dataset` with float32 features and int32
labels 0..k-1: the distinct labels (numbers or strings) in sorted order, whose original
spellings are ``class_names``. Parsed files are cached by path, modification time and size,
so loading the same file again is cheap. Every problem raises ``ValueError`` naming the file.

An ``.npz`` is read without trusting it: each member's size in the zip directory must be
what its ``.npy`` header declares (shape x dtype), all members together may take at most
:data:`MAX_DATA_BYTES`, and both are checked before any data is read (and enforced while
reading); object (pickled) arrays are refused, never unpickled.
"""

from __future__ import annotations

import csv as _csv
import math
import os
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab._fileio import npy_header, read_npy
from hyperlab.data._base import Dataset, check_int, check_real

__all__ = ["csv", "npz", "read_npz", "MAX_DATA_BYTES"]

#: The most bytes one data file may take once read (the arrays of an ``.npz``, a gunzipped
#: IDX file): 1 GiB, twenty times Fashion-MNIST. A file declaring more is refused unread.
MAX_DATA_BYTES = 1 << 30


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _existing(path: Any, kind: str) -> tuple[str, int, int]:
    """``(resolved path, mtime_ns, size)`` of an existing file, the key of the caches."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"Argument `path` must name a {kind} file. Received: path={path!r}")
    p = Path(path).expanduser()
    if not p.is_file():
        what = "is a directory, not a file" if p.is_dir() else "does not exist"
        raise ValueError(f"{p}: {what}; give the path of an existing {kind} file (path=...)")
    st = p.stat()
    return str(p.resolve()), st.st_mtime_ns, st.st_size


def _check_fraction(val_fraction: Any, seed: Any) -> tuple[float, int]:
    v = check_real("val_fraction", val_fraction, 0.0, 1.0, open_low=True, open_high=True)
    return v, check_int("seed", seed, 0)


def _encode_labels(labels: list[str] | np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes of labels in sorted order (numerically when every label is a number)."""
    arr = np.asarray(labels)
    if arr.dtype.kind in "biuf":
        classes, codes = np.unique(arr, return_inverse=True)
        names = tuple(_number_name(c) for c in classes.tolist())
        return codes.astype(np.int32).ravel(), names
    text = [str(s) for s in arr.tolist()]
    numbers = [_as_number(s) for s in text]
    if all(n is not None for n in numbers):
        keys: list[Any] = numbers
        first: dict[Any, str] = {}
        for k, s in zip(keys, text):
            first.setdefault(k, s.strip())
    else:
        keys = text
        first = {s: s for s in text}
    order = sorted(first)
    index = {k: i for i, k in enumerate(order)}
    codes = np.fromiter((index[k] for k in keys), dtype=np.int32, count=len(keys))
    return codes, tuple(first[k] for k in order)


def _as_number(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _number_name(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _make(
    name: str,
    source: str,
    x: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    val_fraction: float,
    seed: int,
) -> Dataset:
    """Shuffled train/validation split of ``x, y``; stratified when every class can be."""
    from sklearn.model_selection import train_test_split

    n, k = len(x), len(class_names)
    n_val = int(round(n * val_fraction))
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"{source}: val_fraction={val_fraction} of its {n} samples leaves an empty training "
            "or validation set; use more samples or another val_fraction"
        )
    counts = np.bincount(y, minlength=k)
    stratify = y if counts.min() >= 2 and k <= n_val <= n - k else None
    idx_train, idx_val = train_test_split(
        np.arange(n), test_size=n_val, stratify=stratify, random_state=seed, shuffle=True
    )
    return Dataset(
        x_train=x[idx_train], y_train=y[idx_train], x_val=x[idx_val], y_val=y[idx_val],
        name=name, n_classes=k, n_features=int(np.prod(x.shape[1:])), class_names=class_names,
    )


def _check_classes(source: str, class_names: tuple[str, ...], where: str) -> None:
    if len(class_names) < 2:
        raise ValueError(
            f"{source}: {where} holds a single class {class_names[0]!r}; classification needs "
            "at least 2 classes"
        )


# ---------------------------------------------------------------------------- CSV
@lru_cache(maxsize=8)
def _parse_csv(
    path: str, mtime_ns: int, size: int, label: str
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = _csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ValueError(
                    f"{path}: the file is empty; expected a header row of column names"
                )
            columns = [c.strip() for c in header]
            if label not in columns:
                raise ValueError(
                    f"{path}: no label column {label!r}; the columns are "
                    f"{', '.join(map(repr, columns))}. Pass label=<one of them>"
                )
            dupes = sorted({c for c in columns if columns.count(c) > 1})
            if dupes:
                raise ValueError(f"{path}: duplicate column name(s) {', '.join(map(repr, dupes))}")
            if len(columns) < 2:
                raise ValueError(f"{path}: only the label column {label!r}; add feature columns")
            li = columns.index(label)
            features = [i for i in range(len(columns)) if i != li]
            rows: list[list[float]] = []
            labels: list[str] = []
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue  # blank line
                if len(row) != len(columns):
                    raise ValueError(
                        f"{path}, line {line}: {len(row)} fields but the header has "
                        f"{len(columns)} columns"
                    )
                values = []
                for i in features:
                    cell = row[i].strip()
                    try:
                        v = float(cell)
                    except ValueError:
                        v = math.nan
                    if not math.isfinite(v):
                        problem = "missing value" if not cell else f"non-numeric value {cell!r}"
                        raise ValueError(
                            f"{path}, line {line}, column {columns[i]!r}: {problem}; every column "
                            f"but the label {label!r} must hold a finite number in every row"
                        )
                    values.append(v)
                target = row[li].strip()
                if not target:
                    raise ValueError(
                        f"{path}, line {line}, column {label!r}: missing label; every row needs one"
                    )
                rows.append(values)
                labels.append(target)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e}); save the CSV as UTF-8") from None
    except _csv.Error as e:
        raise ValueError(f"{path}: malformed CSV ({e})") from None
    if len(rows) < 2:
        raise ValueError(f"{path}: {len(rows)} data row(s); need at least 2 samples")
    y, class_names = _encode_labels(labels)
    _check_classes(path, class_names, f"label column {label!r}")
    x = np.asarray(rows, dtype=np.float64)
    if np.any(np.abs(x) > np.finfo(np.float32).max):
        raise ValueError(f"{path}: a feature value exceeds the float32 range (3.4e38)")
    return _readonly(x.astype(np.float32)), _readonly(y), class_names


def csv(path: str, label: str = "label", val_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """A CSV table with a header row: numeric feature columns and the class column ``label``
    (numbers or strings; codes follow their sorted order, ``class_names`` the originals).

    A shuffled split (``seed``) puts ``round(n * val_fraction)`` rows in the validation set,
    stratified by class when every class has at least 2 rows. Blank lines are skipped; a
    missing or non-numeric feature value raises ``ValueError`` naming the line and column.
    """
    key = _existing(path, "CSV")
    if not isinstance(label, str) or not label:
        raise ValueError(f"Argument `label` must be a column name. Received: label={label!r}")
    v, s = _check_fraction(val_fraction, seed)
    x, y, class_names = _parse_csv(*key, label)
    return _make("csv", key[0], x, y, class_names, v, s)


# ---------------------------------------------------------------------------- NPZ
@lru_cache(maxsize=8)
def _read_npz_cached(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not an .npz archive (a zip of arrays as written by np.savez); save the "
            "arrays with np.savez(path, x=..., y=...)"
        )
    try:
        with zipfile.ZipFile(path) as z:
            headers = {}
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"member {info.filename!r} is not a .npy array; an .npz "
                                     "holds arrays saved by np.savez(path, x=..., y=...)")
                headers[info.filename[: -len(".npy")]] = npy_header(z, info)
            total = sum(h.nbytes for h in headers.values())
            if total > MAX_DATA_BYTES:
                big = max(headers.values(), key=lambda h: h.nbytes)
                raise ValueError(f"its arrays declare {total:,} bytes ({big.info.filename!r} "
                                 f"{big.shape} of {big.dtype}), more than the "
                                 f"{MAX_DATA_BYTES:,} a data file may take "
                                 "(hyperlab.data.files.MAX_DATA_BYTES); use a smaller file")
            return {key: _readonly(read_npy(z, h)[1]) for key, h in headers.items()}
    except ValueError as e:  # the archive is sound, its members are not
        raise ValueError(f"{path}: {e}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError) as e:
        raise ValueError(f"{path}: corrupt or truncated .npz archive ({e})") from None


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (``allow_pickle=False``), read-only and cached by path,
    modification time and size. Raises ``ValueError`` naming the file when it is missing,
    not an archive, corrupt, or holds object arrays."""
    return _read_npz_cached(*_existing(path, ".npz"))


def _features(path: str, key: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise ValueError(
            f"{path}: {key!r} must hold numbers (bool, int or float); found dtype {a.dtype}"
        )
    if a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(
            f"{path}: {key!r} must have shape (n_samples, n_features...) with n_samples >= 1; "
            f"found {a.shape} (reshape a single feature to (n, 1))"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        x = a.astype(np.float32)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{path}: {key!r} has non-finite values (NaN, inf, or beyond the float32 range) in "
            f"sample {int(np.argmax(bad))} and {int(bad.sum()) - 1} other(s); clean or drop them"
        )
    return x


def _labels(path: str, key: str, a: np.ndarray, n: int, x_key: str) -> np.ndarray:
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(
            f"{path}: {key!r} must be a 1-D array of class labels; found shape {a.shape}"
        )
    if a.dtype.kind not in "biufUS":
        raise ValueError(
            f"{path}: {key!r} must hold class labels (integers, numbers or strings); found "
            f"dtype {a.dtype}"
        )
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{path}: {key!r} has non-finite labels (NaN or inf)")
    if len(a) != n:
        raise ValueError(
            f"{path}: {x_key!r} has {n} samples but {key!r} has {len(a)} labels; they must match"
        )
    return a.astype(str) if a.dtype.kind == "S" else a


def npz(path: str, val_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Arrays from an ``.npz`` file (``np.savez``), loaded with ``allow_pickle=False``.

    Either ``x``, ``y`` (split like :func:`csv`: ``round(n * val_fraction)`` shuffled,
    stratified validation rows) or a given split ``x_train``, ``y_train``, ``x_val``,
    ``y_val`` (used as is; ``val_fraction`` and ``seed`` are then unused). ``x`` keeps its
    sample shape (``n_features`` is its product); labels are numbers or strings, coded in
    sorted order over both splits with ``class_names`` their spellings.
    """
    key = _existing(path, ".npz")
    v, s = _check_fraction(val_fraction, seed)
    arrays = _read_npz_cached(*key)
    src = key[0]
    split_keys = ("x_train", "y_train", "x_val", "y_val")
    if all(k in arrays for k in split_keys):
        xt = _features(src, "x_train", arrays["x_train"])
        xv = _features(src, "x_val", arrays["x_val"])
        if xt.shape[1:] != xv.shape[1:]:
            raise ValueError(
                f"{src}: samples of 'x_train' have shape {xt.shape[1:]} but those of 'x_val' "
                f"{xv.shape[1:]}; they must match"
            )
        yt = _labels(src, "y_train", arrays["y_train"], len(xt), "x_train")
        yv = _labels(src, "y_val", arrays["y_val"], len(xv), "x_val")
        if yt.dtype.kind != yv.dtype.kind and "U" in (yt.dtype.kind, yv.dtype.kind):
            raise ValueError(f"{src}: 'y_train' and 'y_val' mix string and numeric labels")
        codes, class_names = _encode_labels(np.concatenate([yt, yv]))
        _check_classes(src, class_names, "'y_train' and 'y_val'")
        return Dataset(
            x_train=xt, y_train=codes[: len(xt)], x_val=xv, y_val=codes[len(xt):],
            name="npz", n_classes=len(class_names), n_features=int(np.prod(xt.shape[1:])),
            class_names=class_names,
        )
    if "x" in arrays and "y" in arrays:
        x = _features(src, "x", arrays["x"])
        y, class_names = _encode_labels(_labels(src, "y", arrays["y"], len(x), "x"))
        _check_classes(src, class_names, "'y'")
        return _make("npz", src, x, y, class_names, v, s)
    raise ValueError(
        f"{src}: expected arrays 'x' and 'y' (split by val_fraction) or 'x_train', 'y_train', "
        f"'x_val', 'y_val'; found {sorted(arrays) or 'none'}. Save them with "
        "np.savez(path, x=features, y=labels)"
    )
