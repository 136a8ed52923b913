"""Image datasets: scikit-learn's 8x8 digits and Fashion-MNIST (28x28).

Both keep a sample's 2-D shape (``x`` is ``(n, 8, 8)`` or ``(n, 28, 28)``), scale pixels to
[0, 1] as float32 and give int32 labels 0..9 with ``class_names``.

Fashion-MNIST is read, in this order, from

1. ``path`` (or ``$HYPERLAB_FASHION_MNIST``): a directory holding the four standard IDX files
   (``train-images-idx3-ubyte.gz`` ... ``t10k-labels-idx1-ubyte.gz``, gzipped or not) or a
   Keras-style ``.npz`` file with ``x_train``, ``y_train``, ``x_test``, ``y_test``;
2. the cache directory :func:`cache_dir` (``$HYPERLAB_DATA_DIR/fashion-mnist``, else
   ``$XDG_CACHE_HOME/hyperlab/data/fashion-mnist``, else ``~/.cache/hyperlab/data/fashion-mnist``);
3. a download of the four ``.gz`` files into that cache (when ``download`` is true) from
   ``$HYPERLAB_FASHION_MNIST_URL`` or else the official mirror, then the Keras mirror. Every
   downloaded file must match its SHA-256 digest (:data:`FASHION_MNIST_SHA256`, or a JSON file
   ``{"<file name>": "<hex digest>"}`` named by ``$HYPERLAB_FASHION_MNIST_SHA256``) before it is
   renamed into the cache.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import math
import os
import sys
import urllib.request
import zlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from hyperlab._fileio import atomic_write
from hyperlab.data import files as _files
from hyperlab.data._base import Dataset, check_int

__all__ = [
    "digits",
    "fashion_mnist",
    "load_fashion_mnist_raw",
    "download_fashion_mnist",
    "download_file",
    "has_fashion_mnist",
    "read_idx",
    "read_keras_npz",
    "cache_dir",
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_URLS",
]

DIGITS_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: The four files, by role.
FASHION_MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: SHA-256 of the official ``.gz`` files (the same bytes on both mirrors).
FASHION_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

#: Default download bases, tried in order: the official site (an S3 website endpoint, which
#: serves plain HTTP only; the SHA-256 check guards the content) and the Keras mirror.
FASHION_MNIST_URLS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)

DOWNLOAD_TIMEOUT_S = 60.0
#: The most bytes one download may take (the largest file, train-images, has 26 MB).
MAX_DOWNLOAD_BYTES = 64 << 20

ENV_PATH = "HYPERLAB_FASHION_MNIST"
ENV_URL = "HYPERLAB_FASHION_MNIST_URL"
ENV_SHA256 = "HYPERLAB_FASHION_MNIST_SHA256"
ENV_DATA_DIR = "HYPERLAB_DATA_DIR"

_IDX_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS = 0x00000801  # unsigned bytes, 1 dimension
# float64 i / 255 rounded to float32: the lecture's ``x / 255.`` for every pixel value.
_SCALE_255 = (np.arange(256) / 255.0).astype(np.float32)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


# ---------------------------------------------------------------------------- digits
@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    return _readonly(x), _readonly(y)


def digits(val_size: int = 360, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, no download).

    Pixels are divided by 16 (to [0, 1]); ``x`` is ``(n, 8, 8)``. ``val_size`` images form
    the validation set, a stratified split by ``train_test_split(..., stratify=y,
    random_state=seed)``.
    """
    from sklearn.model_selection import train_test_split

    x, y = _digits_arrays()
    n_val = check_int("val_size", val_size, 10)
    s = check_int("seed", seed, 0)
    if n_val > len(x) - 10:
        raise ValueError(
            f"Argument `val_size` must be at most {len(x) - 10} (the digits have {len(x)} "
            f"images and both splits need every class). Received: val_size={val_size!r}"
        )
    xt, xv, yt, yv = train_test_split(x, y, test_size=n_val, stratify=y, random_state=s)
    return Dataset(
        x_train=np.ascontiguousarray(xt), y_train=np.ascontiguousarray(yt),
        x_val=np.ascontiguousarray(xv), y_val=np.ascontiguousarray(yv),
        name="digits", n_classes=10, n_features=64, class_names=DIGITS_CLASSES,
    )


# ---------------------------------------------------------------------------- IDX files
def _idx_bytes(path: Path, magic: int | None) -> tuple[tuple[int, ...], bytes]:
    """The shape and data of an IDX file (gunzipped when it starts with the gzip magic),
    read no further than its header declares; checks the magic number and the size."""
    limit = _files.MAX_DATA_BYTES
    try:
        with path.open("rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) if gz else contextlib.nullcontext(raw) as f:
                ndim = _idx_magic(path, f.read(4), magic) & 0xFF
                dims_raw = f.read(4 * ndim)
                if len(dims_raw) < 4 * ndim:
                    raise ValueError(f"{path}: truncated IDX header ({4 + len(dims_raw)} bytes; "
                                     f"{ndim} dimensions need {4 + 4 * ndim})")
                dims = tuple(int.from_bytes(dims_raw[4 * i: 4 * i + 4], "big")
                             for i in range(ndim))
                expected = math.prod(dims)
                if expected > limit:
                    raise ValueError(f"{path}: the IDX header declares shape {dims} = "
                                     f"{expected:,} bytes, more than the {limit:,} a data file "
                                     "may take (hyperlab.data.files.MAX_DATA_BYTES)")
                body = f.read(expected + 1)
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(
            f"{path}: corrupt or truncated gzip data ({e}); delete the file and download it again"
        ) from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file ({e})") from None
    if len(body) < expected:
        raise ValueError(
            f"{path}: truncated IDX file: the header declares shape {dims} = {expected} bytes "
            f"of data but only {len(body)} follow; download or copy the file again"
        )
    if len(body) > expected:
        raise ValueError(
            f"{path}: IDX size mismatch: the header declares shape {dims} = {expected} bytes "
            "of data but more follow"
        )
    return dims, body


def _idx_magic(path: Path, first: bytes, magic: int | None) -> int:
    """The magic number in ``first`` (the file's first 4 bytes), checked."""
    if len(first) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(first)} bytes; the header alone is 4+)")
    found = int.from_bytes(first, "big")
    kind = {_IDX_IMAGES: "images (0x00000803)", _IDX_LABELS: "labels (0x00000801)"}
    if magic is not None and found != magic:
        raise ValueError(
            f"{path}: wrong magic number 0x{found:08x}; expected 0x{magic:08x} for IDX "
            f"{kind.get(magic, 'data')}. Is this the right file (images vs labels) and not "
            "corrupted?"
        )
    if found >> 8 != 0x08 or not 1 <= (found & 0xFF) <= 4:
        raise ValueError(
            f"{path}: wrong magic number 0x{found:08x}; expected an IDX file of unsigned bytes "
            "(0x0000080N)"
        )
    return found


@lru_cache(maxsize=16)
def _read_idx_cached(path: str, mtime_ns: int, size: int, magic: int | None) -> np.ndarray:
    dims, body = _idx_bytes(Path(path), magic)
    return _readonly(np.frombuffer(body, dtype=np.uint8).reshape(dims))


def read_idx(path: str | os.PathLike[str], magic: int | None = None) -> np.ndarray:
    """The uint8 array of an IDX file (gzipped or not), read-only and cached by path, mtime
    and size. ``magic`` (e.g. ``0x00000803`` for images, ``0x00000801`` for labels) is
    checked when given. Raises ``ValueError`` naming the file for a missing file, a wrong
    magic number or a size that disagrees with the header.
    """
    p = Path(path)
    try:
        key = _stat_key(p)
    except FileNotFoundError:
        raise ValueError(f"{p}: file not found") from None
    return _read_idx_cached(*key, magic)


def _find_in_dir(directory: Path, roles: tuple[str, ...]) -> dict[str, Path]:
    """Role -> existing file (``name.gz`` or the un-gzipped ``name``) in ``directory``."""
    found = {}
    for role in roles:
        gz = FASHION_MNIST_FILES[role]
        for candidate in (directory / gz, directory / gz[: -len(".gz")]):
            if candidate.is_file():
                found[role] = candidate
                break
    return found


def _check_pair(images: np.ndarray, labels: np.ndarray, where_x: str, where_y: str) -> None:
    if images.ndim != 3:
        raise ValueError(
            f"{where_x}: expected images of shape (n, rows, cols), found {images.shape}"
        )
    if labels.ndim != 1:
        raise ValueError(f"{where_y}: expected labels of shape (n,), found {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{where_x} holds {len(images)} images but {where_y} holds {len(labels)} labels; "
            "the two files must come from the same split"
        )
    if labels.size and labels.max() >= 10:
        raise ValueError(f"{where_y}: label {int(labels.max())} is out of range 0..9")


def _load_idx_dir(files: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    xi, yi = files[f"{split}_images"], files[f"{split}_labels"]
    x = read_idx(xi, _IDX_IMAGES)
    y = read_idx(yi, _IDX_LABELS)
    _check_pair(x, y, str(xi), str(yi))
    return x, y


@lru_cache(maxsize=4)
def _read_keras_npz(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    """x_train, y_train (and x_test, y_test when present) of a Keras-style .npz, as uint8."""
    arrays = _files.read_npz(path)
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing:
        raise ValueError(
            f"{path}: missing array(s) {', '.join(missing)}; a Keras-style Fashion-MNIST .npz "
            f"holds x_train, y_train, x_test, y_test (found: {sorted(arrays)})"
        )
    out = {}
    for key in ("x_train", "y_train", "x_test", "y_test"):
        if key not in arrays:
            continue
        a = arrays[key]
        if a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() > 255)):
            raise ValueError(
                f"{path}: {key!r} must hold integers 0..255 (uint8, as keras load_data() "
                f"returns); found dtype {a.dtype}"
            )
        out[key] = _readonly(a.astype(np.uint8))
    for split in ("train", "test"):
        if (f"x_{split}" in out) != (f"y_{split}" in out):
            raise ValueError(f"{path}: holds only one of x_{split}, y_{split}; save both")
        if f"x_{split}" in out:
            _check_pair(out[f"x_{split}"], out[f"y_{split}"], f"{path} [x_{split}]",
                        f"{path} [y_{split}]")
    return out


def read_keras_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``x_train``, ``y_train``, ``x_test``, ``y_test`` of a Keras-style ``.npz`` (as
    ``mnist.npz``), checked (uint8 images ``(n, rows, cols)``, labels 0..9 of the same
    length) and read-only. Raises ``ValueError`` naming the file and the problem."""
    p = Path(path)
    try:
        arrays = _read_keras_npz(*_stat_key(p))
    except FileNotFoundError:
        raise ValueError(f"{p}: file not found") from None
    if "x_test" not in arrays:
        raise ValueError(f"{p}: missing arrays x_test, y_test; a Keras-style .npz holds "
                         "x_train, y_train, x_test, y_test")
    return arrays


def has_fashion_mnist(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds the four Fashion-MNIST IDX files (gzipped or not)."""
    d = Path(directory)
    return d.is_dir() and len(_find_in_dir(d, tuple(FASHION_MNIST_FILES))) == 4


# ---------------------------------------------------------------------------- locations
def cache_dir() -> Path:
    """Where Fashion-MNIST is cached: ``$HYPERLAB_DATA_DIR/fashion-mnist``, else
    ``$XDG_CACHE_HOME/hyperlab/data/fashion-mnist``, else ``~/.cache/hyperlab/data/fashion-mnist``.
    """
    base = os.environ.get(ENV_DATA_DIR)
    if base:
        root = Path(base).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "hyperlab" / "data"
    return root / "fashion-mnist"


def _expected_digests() -> dict[str, str]:
    env = os.environ.get(ENV_SHA256)
    if not env:
        return dict(FASHION_MNIST_SHA256)
    try:
        table = json.loads(Path(env).expanduser().read_text())
    except (OSError, ValueError) as e:
        raise ValueError(
            f"${ENV_SHA256}={env}: cannot read a JSON object of SHA-256 digests ({e}); point "
            'it at a file like {"train-images-idx3-ubyte.gz": "<64 hex digits>", ...} '
            "or unset it"
        ) from None
    if not isinstance(table, dict) or not all(
        isinstance(v, str) and len(v) == 64 and set(v.lower()) <= set("0123456789abcdef")
        for v in table.values()
    ):
        raise ValueError(
            f"${ENV_SHA256}={env}: expected a JSON object mapping file names to 64-digit "
            "hex SHA-256 digests"
        )
    return {**FASHION_MNIST_SHA256, **{k: v.lower() for k, v in table.items()}}


def download_file(
    url: str,
    target: Path,
    digest: str,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    fix: str = f"use another mirror (${ENV_URL}) or give a local copy with path=... / ${ENV_PATH}",
    folder_fix: str = f"point ${ENV_DATA_DIR} at another folder",
) -> None:
    """``url`` -> ``target``, written (atomically) only once its SHA-256 equals ``digest``;
    at most :data:`MAX_DOWNLOAD_BYTES` are read. ``fix`` ends the message of a mismatch,
    ``folder_fix`` that of a folder that cannot be written. Network errors propagate as
    ``OSError``."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data = resp.read(MAX_DOWNLOAD_BYTES + 1)
    actual = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_DOWNLOAD_BYTES or actual != digest.lower():
        problem = (f"more than {MAX_DOWNLOAD_BYTES:,} bytes" if len(data) > MAX_DOWNLOAD_BYTES
                   else f"SHA-256 mismatch (expected {digest}, got {actual})")
        raise ValueError(
            f"{url}: {problem}; the download was discarded and {target} was not written. Retry "
            f"later, {fix}"
        )
    with atomic_write(target, "download", fix=folder_fix) as out:
        out.write(data)


def download_fashion_mnist(
    directory: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    sha256: Mapping[str, str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download the four ``.gz`` files that ``directory`` (default :func:`cache_dir`) lacks.

    ``base_url`` defaults to ``$HYPERLAB_FASHION_MNIST_URL`` or else the bases of
    :data:`FASHION_MNIST_URLS`, tried in order until one answers. Each file must match its
    digest in ``sha256`` (default: ``$HYPERLAB_FASHION_MNIST_SHA256``'s JSON file or
    :data:`FASHION_MNIST_SHA256`); a mismatch raises ``ValueError`` and leaves no file.
    Returns the directory. Raises ``OSError`` when no base could be reached.
    """
    target_dir = Path(directory).expanduser() if directory is not None else cache_dir()
    digests = {**_expected_digests(), **(dict(sha256) if sha256 else {})}
    env_base = os.environ.get(ENV_URL)
    bases = (base_url,) if base_url else (env_base,) if env_base else FASHION_MNIST_URLS
    present = _find_in_dir(target_dir, tuple(FASHION_MNIST_FILES))
    for role, name in FASHION_MNIST_FILES.items():
        if role in present:
            continue
        errors = []
        for base in bases:
            url = base.rstrip("/") + "/" + name
            print(f"hyperlab: downloading {url} -> {target_dir}", file=sys.stderr)
            try:
                download_file(url, target_dir / name, digests[name], timeout)
                break
            except (OSError, http.client.HTTPException) as e:  # HTTP errors, timeouts, refused
                errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
        else:
            raise OSError("; ".join(errors))
    return target_dir


_FIX = (
    "Fix: pass path=... (--path on the command line) pointing at a directory with the four "
    "IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) or at a Keras-style .npz file; or "
    f"set ${ENV_PATH} to one; or connect to the internet (download=True) so the files are "
    "downloaded into the cache."
)


def _load_from(source: Path, roles: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays by role from a user-given directory or .npz file."""
    if source.is_file():
        arrays = _read_keras_npz(*_stat_key(source))
        out = {}
        for role in roles:
            split, what = role.split("_")
            key = f"{'x' if what == 'images' else 'y'}_{split}"
            if key not in arrays:
                raise ValueError(f"{source}: missing key {key}; {_FIX}")
            out[role] = arrays[key]
        return out
    if source.is_dir():
        files = _find_in_dir(source, roles)
        missing = [FASHION_MNIST_FILES[r] for r in roles if r not in files]
        if missing:
            raise ValueError(f"{source}: missing {', '.join(missing)} (or un-gzipped). {_FIX}")
        return _arrays_from_files(files, roles)
    raise ValueError(f"{source}: no such file or directory. {_FIX}")


def _arrays_from_files(files: dict[str, Path], roles: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {}
    for split in ("train", "test"):
        if f"{split}_images" in roles:
            out[f"{split}_images"], out[f"{split}_labels"] = _load_idx_dir(files, split)
    return out


def _fashion_arrays(
    path: str | None, download: bool, roles: tuple[str, ...]
) -> dict[str, np.ndarray]:
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"Argument `path` must be a string or None. Received: path={path!r}")
    if not isinstance(download, (bool, np.bool_)):
        raise ValueError(
            f"Argument `download` must be True or False. Received: download={download!r}"
        )
    given = path or os.environ.get(ENV_PATH)
    if given:
        return _load_from(Path(given).expanduser(), roles)
    cache = cache_dir()
    files = _find_in_dir(cache, roles) if cache.is_dir() else {}
    if all(r in files for r in roles):
        return _arrays_from_files(files, roles)
    missing = ", ".join(FASHION_MNIST_FILES[r] for r in roles if r not in files)
    looked = (
        f"Looked in: path (not given), ${ENV_PATH} (not set), the cache {cache} "
        f"(missing {missing})"
    )
    if not download:
        raise ValueError(f"Fashion-MNIST not found and download=False. {looked}. {_FIX}")
    try:
        download_fashion_mnist(cache)
    except OSError as e:
        raise ValueError(
            f"Fashion-MNIST not found and the download failed ({e}). {looked}. {_FIX}"
        ) from None
    return _arrays_from_files(_find_in_dir(cache, roles), roles)


def load_fashion_mnist_raw(
    path: str | None = None, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays like Keras ``load_data()``
    (read-only, shared by later calls: copy before modifying). Sources as in
    :func:`fashion_mnist`.
    """
    a = _fashion_arrays(path, download, tuple(FASHION_MNIST_FILES))
    return (a["train_images"], a["train_labels"]), (a["test_images"], a["test_labels"])


def fashion_mnist(
    path: str | None = None, download: bool = True, n_val: int = 5000, n_train: int | None = 10000
) -> Dataset:
    """Fashion-MNIST with the lecture's split: of the training images the first ``n_val``
    are validation and the next ``n_train`` training (``None`` or 0: all the rest, 55,000
    with the default ``n_val``). Pixels are divided by 255; ``x`` is ``(n, 28, 28)``.

    ``path`` (or ``$HYPERLAB_FASHION_MNIST``) is a directory of the IDX files or a Keras-style
    ``.npz``; otherwise the cache is used and, with ``download``, filled (see the module).
    The test set is not used; :func:`load_fashion_mnist_raw` returns it.
    """
    v = check_int("n_val", n_val, 1)
    t = 0 if n_train is None else check_int("n_train", n_train, 0)
    a = _fashion_arrays(path, download, ("train_images", "train_labels"))
    x, y = a["train_images"], a["train_labels"]
    n = len(x)
    if v >= n:
        raise ValueError(
            f"n_val={v} leaves no training images of the {n} in Fashion-MNIST; lower n_val"
        )
    t = t or n - v
    if v + t > n:
        raise ValueError(
            f"n_val={v} + n_train={t} exceeds the {n} training images of Fashion-MNIST; "
            "lower them (n_train=0 takes all the rest)"
        )
    return Dataset(
        x_train=_SCALE_255[x[v: v + t]], y_train=y[v: v + t].astype(np.int32),
        x_val=_SCALE_255[x[:v]], y_val=y[:v].astype(np.int32),
        name="fashion_mnist", n_classes=10, n_features=int(np.prod(x.shape[1:])),
        class_names=FASHION_MNIST_CLASSES,
    )
