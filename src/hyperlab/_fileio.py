"""Safe file reading and writing, shared by model files, data files and reports.

- :func:`atomic_write` writes an output through a temporary file beside it that replaces
  the target (``os.replace``) only once it is complete and on disk: a full disk, an error
  or a crash never leaves a truncated file under the final name, and never replaces a good
  file with a bad one. Failures are one :class:`OutputError` naming what was being written
  and the fix.
- :func:`npy_header` and :func:`read_npy` read the ``.npy`` members of a zip (an ``.npz``)
  without trusting it: a member's size in the zip directory must be exactly what its header
  declares (shape x dtype), which is known before any data is read and enforced while
  reading; object (pickled) arrays are refused, never unpickled.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["OutputError", "output_folder", "atomic_write", "write_text", "NpyHeader",
           "npy_header", "read_npy"]

_FULL = (errno.ENOSPC, errno.EDQUOT)
_MAX_HEADER = 1 << 16  # bytes of a .npy header (np.save writes about 128)


# ----------------------------------------------------------------------------------- write
class OutputError(OSError, ValueError):
    """An output that cannot be written (an OSError and a ValueError: one line, its message
    names the file, the cause and the fix)."""


_ELSEWHERE = "write elsewhere (--out DIR)"


def _error(what: str, path: Path, err: OSError, fix: str) -> OutputError:
    if err.errno in _FULL:
        cause = "the disk is full (no space left on device); free some space or"
    else:
        cause = f"{err.strerror or err};"
    out = OutputError(f"cannot write {what} {path}: {cause} {fix}; a file already there is "
                      "unchanged")
    out.errno = err.errno
    return out


def output_folder(folder: str | os.PathLike[str], what: str = "outputs",
                  fix: str = _ELSEWHERE) -> Path:
    """``folder``, created if needed; an OutputError naming ``what`` and ``fix`` when a file
    stands in its way or it cannot be created."""
    folder = Path(folder)
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()),
                   None)
    if blocker is not None:
        raise OutputError(f"cannot write {what} to {folder}: {blocker} is a file, not a "
                          f"folder; move it away or {fix}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _error(what, folder, err, fix) from None
    return folder


def _mode(path: Path) -> int:
    """The replaced file's mode, else what ``open`` gives a new file (0o666 - umask)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], what: str, *, text: bool = False,
                 fix: str = _ELSEWHERE) -> Iterator[IO]:
    """A file (binary, or UTF-8 text with ``text``) whose content replaces ``path`` when the
    block ends: written to a temporary file in the same folder, flushed to disk, given the
    old file's mode and renamed over ``path``. If the block raises, the temporary file is
    removed and ``path`` is untouched; an OSError becomes an :class:`OutputError` naming
    ``what``, ``path`` and ``fix``. The folder is created if needed."""
    path = Path(path)
    folder = output_folder(path.parent, f"{what} {path.name}", fix)
    if path.is_dir():
        raise OutputError(f"cannot write {what} {path}: it is a folder; give a file name or "
                          f"{fix}")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _error(what, path, err, fix) from None
    try:
        with (os.fdopen(fd, "w", encoding="utf-8", newline="") if text
              else os.fdopen(fd, "wb")) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode(path))
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise _error(what, path, err, fix) from None
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (best effort)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text(path: str | os.PathLike[str], text: str, what: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`); returns it."""
    with atomic_write(path, what, text=True) as fh:
        fh.write(text)
    return Path(path)


# ------------------------------------------------------------------------------------ read
@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` member declares: shape, dtype, order, and where its data start."""

    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def count(self) -> int:
        """Number of values (the product of the shape)."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the member once read: header plus data."""
        return self.offset + self.count * self.dtype.itemsize


def npy_header(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> NpyHeader:
    """The header of the ``.npy`` member ``info``, read alone (at most 64 KiB).

    Raises ValueError for a member that is not a ``.npy`` array, holds objects (a pickle),
    or whose size in the zip directory differs from what its header declares. Errors of
    the archive itself (zipfile.BadZipFile, zlib.error, OSError, EOFError) propagate.
    """
    with z.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"unsupported .npy format version {version}")
            start = f.tell()
            length = int.from_bytes(f.read(2 if version == (1, 0) else 4), "little")
            if length > _MAX_HEADER:
                raise ValueError(f"its header declares {length:,} bytes, np.save writes about "
                                 "128")
            f.seek(start)
            shape, fortran_order, dtype = read(f, max_header_size=_MAX_HEADER)
        except (ValueError, SyntaxError, TypeError) as err:
            raise ValueError(f"member {info.filename!r} is not a .npy array "
                             f"({' '.join(str(err).split())})") from None
        header = NpyHeader(info, tuple(shape), dtype, bool(fortran_order), f.tell())
    if dtype.itemsize == 0:
        raise ValueError(f"member {info.filename!r} has dtype {dtype} of empty items")
    if dtype.hasobject:
        raise ValueError(f"member {info.filename!r} holds Python objects (dtype {dtype}), "
                         "which only a pickle could load; refused: save plain numeric or "
                         "fixed-width string arrays")
    if header.nbytes != info.file_size:
        raise ValueError(f"member {info.filename!r} declares shape {header.shape} of {dtype} "
                         f"({header.nbytes:,} bytes) but the zip directory says "
                         f"{info.file_size:,} bytes: the file is corrupted or crafted")
    return header


def read_npy(z: zipfile.ZipFile, header: NpyHeader) -> tuple[bytes, np.ndarray]:
    """The member's bytes and its array (a read-only view of them), reading no more than
    the header declares. A ValueError when the member holds fewer or more bytes."""
    with z.open(header.info) as f:
        raw = f.read(header.nbytes + 1)
    if len(raw) != header.nbytes:
        held = "more" if len(raw) > header.nbytes else f"{len(raw):,}"
        raise ValueError(f"member {header.info.filename!r} holds {held} bytes, its header "
                         f"declares {header.nbytes:,}: the file is corrupted or crafted")
    shape = header.shape[::-1] if header.fortran_order else header.shape
    array = np.frombuffer(raw, dtype=header.dtype, count=header.count,
                          offset=header.offset).reshape(shape)
    return raw, array.T if header.fortran_order else array
