"""Hostile files for the bad-input tests: real zips whose directory lies, `.npy` headers that
declare more than they hold, pickles that would run code, gzip bombs, a filling disk."""
from __future__ import annotations

import errno
import io
import os
import zipfile
from pathlib import Path

import numpy as np


def npy_header(shape: tuple[int, ...], dtype: str = "<f4", version: tuple[int, int] = (1, 0),
               fortran_order: bool = False) -> bytes:
    """A valid `.npy` header declaring ``shape`` of ``dtype``, without the data."""
    buf = io.BytesIO()
    write = {(1, 0): np.lib.format.write_array_header_1_0,
             (2, 0): np.lib.format.write_array_header_2_0}[version]
    write(buf, {"descr": dtype, "fortran_order": fortran_order, "shape": tuple(shape)})
    return buf.getvalue()


def npy(array: np.ndarray) -> bytes:
    """``array`` as `.npy` bytes (object arrays pickled, as ``np.save`` would)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


def write_zip(path: Path, members: dict[str, bytes], declare: dict[str, int] | None = None,
              compression: int = zipfile.ZIP_STORED) -> Path:
    """A real zip of ``members``, except that its central directory claims the uncompressed
    sizes in ``declare`` (what a reader sees before reading anything)."""
    with zipfile.ZipFile(path, "w", compression=compression, allowZip64=True) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, size in (declare or {}).items():
            z.getinfo(name).file_size = size  # written into the central directory on close
    return path


class RunsCode:
    """Unpickling this opens (creates) ``path``: proof that a loader ran the file's code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def pickle_bomb(marker: Path) -> bytes:
    """A `.npy` object array whose unpickling would create ``marker``."""
    return npy(np.array([RunsCode(marker), 1], dtype=object))


class FillingDisk:
    """A file on a disk that is full after ``room`` more bytes: writes beyond fail with
    ENOSPC, after writing what fits (so the file is left truncated)."""

    def __init__(self, f, room: int) -> None:
        self._f = f
        self._room = room

    def write(self, data):
        n = min(len(data), self._room)
        self._f.write(data[:n])
        self._room -= n
        if n < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return n

    def __getattr__(self, name: str):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def fill_disk(monkeypatch, room: int = 200) -> None:
    """Make every file opened by ``os.fdopen`` (the atomic writer's temporary files) hit a
    full disk after ``room`` bytes."""
    real = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FillingDisk(real(fd, *a, **k), room))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes), temporary files included."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_load_refused_cheaply(load, path: Path, says: list[str], max_bytes: int,
                                starts: str | None = None) -> None:
    """``load(path)`` raises one ValueError line naming the file (beginning with ``starts``
    where given) and every part of ``says``, within 2 s and ``max_bytes`` of allocations
    (nothing like what the file declares)."""
    import time
    import tracemalloc

    import pytest

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as info:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert type(info.value) is ValueError and "\n" not in message, message
    assert str(path) in message and message.startswith(starts or ""), message
    for part in says:
        assert part in message, message
    assert time.perf_counter() - start < 2.0
    assert peak < max_bytes, f"{peak:,} bytes allocated"

