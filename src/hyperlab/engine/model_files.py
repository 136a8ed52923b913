"""Which format a model file is in, and its writer or reader: hyperlab's ``.npz``
(:mod:`~hyperlab.engine.npz_format`), Keras 3's ``.keras`` and legacy ``.h5``
(:mod:`~hyperlab.engine.keras_format`).

``Sequential.save`` writes through :func:`save_model`; :mod:`hyperlab.engine.saving` (above
the model) gives :func:`load_model` the class to build. Nothing here imports the model.
"""
from __future__ import annotations

import os
import zipfile

from hyperlab.engine import keras_format, npz_format

__all__ = ["save_model", "load_model"]


def save_model(model, path: str | os.PathLike) -> None:
    """Write ``model`` (a ``Sequential``) to ``path``, replaced atomically, in the format its
    extension names: ``.npz`` (hyperlab's own: everything, bit for bit), ``.keras`` (Keras
    3) or ``.h5``/``.hdf5`` (legacy Keras HDF5; see ``keras_format``).

    A ValueError names the problem when the extension is none of these, the directory does
    not exist, ``path`` is a directory, or a layer, optimizer or schedule cannot be written
    in that format; nothing is written then.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot save the model to {path!r}: the directory {folder!r} does not "
                         "exist; create it first")
    if os.path.isdir(path):
        raise ValueError(f"cannot save the model to {path!r}: it is a directory; give a file "
                         "name such as 'model.npz'")
    kind = _extension(path)
    if kind is None:
        raise ValueError(f"cannot save the model to {path!r}: unknown extension; use '.npz' "
                         "(hyperlab's own format), '.keras' (Keras 3) or '.h5' (legacy Keras "
                         "HDF5)")
    if kind == "npz":
        npz_format.save_npz(model, path)
        return
    writer = keras_format.save_keras if kind == "keras" else keras_format.save_legacy_h5
    try:
        writer(model, path)
    except ValueError as err:
        if isinstance(err, OSError):  # a failed write names its file already
            raise
        raise ValueError(f"cannot save the model to {path!r} in Keras format: {err}") from None


def _extension(path: str) -> str | None:
    """"npz", "keras", "h5" (``.h5``/``.hdf5``, as Keras), or None for any other name."""
    lower = path.lower()
    for ext, kind in ((".npz", "npz"), (".keras", "keras"), (".h5", "h5"), (".hdf5", "h5")):
        if lower.endswith(ext):
            return kind
    return None


def load_model(path: str | os.PathLike, sequential: type):
    """The model a file holds, built as a ``sequential`` (the model class), ready to predict
    or train on: hyperlab's own ``.npz`` (``model.save``), a Keras 3 ``.keras`` zip or a
    legacy Keras ``.h5`` file, recognised by their contents.

    Raises one ValueError naming the file and the problem when it is missing, not a model
    file, truncated or corrupted, written by a newer hyperlab, does not fit together, or
    holds something hyperlab does not support (custom objects, Lambda layers...).
    """
    path = os.fspath(path)
    try:
        kind = _kind(path)
        if kind == "npz":
            return npz_format.load_npz(path, sequential)
        reader = keras_format.load_keras if kind == "keras" else keras_format.load_legacy_h5
        return reader(path, sequential)
    except npz_format.ModelFileError as err:
        raise ValueError(f"cannot load model file {path!r}: {err}") from None


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _kind(path: str) -> str:
    """Which reader a file needs: by its contents (a zip with ``config.json`` and without
    ``__hyperlab__.json`` is a .keras file; an HDF5 signature at offset 0, 512, 1024... an
    .h5 file), else by its extension, so that a damaged file gets its format's message."""
    if not os.path.isfile(path):
        return "npz"  # load_npz names what is missing
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = os.fstat(f.fileno()).st_size
            offset = 512
            while head != _HDF5_SIGNATURE and offset + 8 <= size and offset <= 1 << 20:
                f.seek(offset)
                head = f.read(8)
                offset *= 2
            if head == _HDF5_SIGNATURE:
                return "h5"
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
        if "config.json" in names and npz_format.DOC_MEMBER not in names:
            return "keras"
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError):
        pass
    kind = _extension(path)
    return "npz" if kind is None else kind
