"""The persistent results store: one SQLite file of trained runs and cohort checkpoints.

A run is stored once, under its content key, and never rewritten; a study that is rerun
reads the runs it already has. Tables (schema version 1):

* ``meta``        -- ``app`` = ``hyperlab`` and ``schema_version``;
* ``runs``        -- one row per run: study, seed, updates, timing, config and versions (JSON);
* ``epochs``      -- one row per run and epoch (0-based): loss, accuracy, val_loss,
  val_accuracy, learning_rate. SQLite stores NaN as NULL, so non-finite values are kept
  NULL with their spelling in the row's ``nonfinite`` JSON (e.g. ``{"loss": "nan"}``);
* ``diagnostics`` -- per run, each per-layer diagnostic series (``fit.diagnostics``; keys
  such as ``grad_norm/dense_1``) as little-endian float64 bytes, one value per epoch;
* ``checkpoints`` -- the latest checkpoint of each training cohort.

The file uses WAL journaling, so reports can read while a study writes.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hyperlab.studies.results import RunResult

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
BUSY_TIMEOUT_S = 10.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 500                                   # keys per query, below SQLite's variable limit

_DIAGNOSTICS_TABLE = """CREATE TABLE IF NOT EXISTS diagnostics (
    run_key TEXT NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    name TEXT NOT NULL, series BLOB NOT NULL, PRIMARY KEY (run_key, name)) WITHOUT ROWID"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY, study TEXT NOT NULL, seed INTEGER NOT NULL,
    updates INTEGER NOT NULL, wall_time_s REAL, diverged_epoch INTEGER,
    stopped_epoch INTEGER, history_lengths TEXT NOT NULL, config TEXT NOT NULL,
    versions TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_study ON runs (study);
CREATE TABLE IF NOT EXISTS epochs (
    run_key TEXT NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, {", ".join(f"{k} REAL" for k in HISTORY_KEYS)}, nonfinite TEXT,
    PRIMARY KEY (run_key, epoch)) WITHOUT ROWID;
{_DIAGNOSTICS_TABLE};
CREATE TABLE IF NOT EXISTS checkpoints (
    cohort_key TEXT PRIMARY KEY, epochs_done INTEGER NOT NULL, blob BLOB NOT NULL,
    updated_at TEXT NOT NULL);
"""


class StoreError(Exception):
    """A store that cannot be opened or written; the message names the file and the fix."""


class Store:
    """Runs and checkpoints in one SQLite file (see the module docstring)."""

    SCHEMA_VERSION = 1

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        fresh = self._check_file()
        try:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if fresh:
                with self._transaction("creating the store"):
                    self._create_schema()
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StoreError(f"{self.path}: could not switch to WAL journaling (is the "
                                 "file on a network filesystem?); use a local disk")
            if not fresh:  # stores written before the diagnostics table existed
                conn.execute(_DIAGNOSTICS_TABLE)
        except BaseException:
            self.close()
            raise

    # ---- opening -------------------------------------------------------------------------
    def _check_file(self) -> bool:
        """Refuse files that are not ours, untouched; True if the schema must be created."""
        parent = self.path.parent
        if not parent.is_dir():
            raise StoreError(f"{self.path}: directory {parent} does not exist; create it "
                             "first or choose another --store path")
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory; give the path of a store file")
        if not self.path.exists() or self.path.stat().st_size == 0:
            if not os.access(parent, os.W_OK):
                raise StoreError(f"{self.path}: directory {parent} is not writable; fix its "
                                 "permissions or choose another --store path")
            return True
        with open(self.path, "rb") as f:
            if f.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                raise StoreError(f"{self.path} is not a SQLite file (not a hyperlab store); "
                                 "it was left untouched: choose another --store path")
        if not os.access(self.path, os.W_OK) or not os.access(parent, os.W_OK):
            raise StoreError(f"{self.path}: the file or its directory {parent} is not "
                             "writable; fix the permissions or choose another --store path")
        meta = self._read_meta()
        if meta.get("app") != "hyperlab":
            raise StoreError(f"{self.path} is a SQLite database but not a hyperlab store; it "
                             "was left untouched: choose another --store path")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            version = -1
        if version > self.SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema version {version}, newer than this "
                             f"hyperlab's ({self.SCHEMA_VERSION}); upgrade hyperlab to use it")
        if version != self.SCHEMA_VERSION:
            raise StoreError(f"{self.path} has unknown store schema version "
                             f"{meta.get('schema_version')!r}; choose another --store path")
        return False

    def _read_meta(self) -> dict[str, str]:
        """The ``meta`` table, read through a read-only connection ({} if there is none)."""
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                tables = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "meta" not in tables:
                    return {}
                return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise self._error(exc, "opening") from exc
            raise StoreError(f"{self.path} cannot be read as a hyperlab store ({exc}); it was "
                             "left untouched: choose another --store path") from exc

    def _create_schema(self) -> None:
        conn = self._require()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:          # filled by someone else since we looked
            raise StoreError(f"{self.path} is a SQLite database but not a hyperlab store; it "
                             "was left untouched: choose another --store path")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
        conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                         [("app", "hyperlab"), ("schema_version", str(self.SCHEMA_VERSION))])
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != str(self.SCHEMA_VERSION):    # lost a race to another
            raise StoreError(f"{self.path} was initialised concurrently with schema version "
                             f"{row and row[0]}; upgrade hyperlab to use it")

    # ---- plumbing ------------------------------------------------------------------------
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._conn

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        msg = str(exc).lower()
        if "full" in msg:
            what = "the disk (or the database's size limit) is full"
            fix = "free some space and rerun"
        elif "readonly" in msg or "read-only" in msg:
            what = "the file is read-only"
            fix = "fix its permissions or choose another --store path"
        elif "locked" in msg or "busy" in msg:
            what = f"another process kept the store locked for over {BUSY_TIMEOUT_S:g} s"
            fix = "wait for it to finish and rerun"
        else:
            what, fix = f"SQLite error ({exc})", "check the file or choose another --store path"
        undone = "" if doing in ("opening", "reading") else " (nothing of this write was stored)"
        return StoreError(f"{self.path}: {doing} failed: {what}{undone}; {fix}")

    @contextmanager
    def _transaction(self, doing: str = "writing") -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; any failure rolls everything back."""
        conn = self._require()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc, doing) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass                      # SQLite already rolled back (e.g. on SQLITE_FULL)
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, doing) from exc
            raise

    # ---- runs ----------------------------------------------------------------------------
    def get_runs(self, keys: Iterable[str]) -> dict[str, RunResult]:
        """The stored runs among ``keys``, by key (keys not stored are absent)."""
        conn, wanted, out = self._require(), list(dict.fromkeys(keys)), {}
        cols = ", ".join(HISTORY_KEYS)
        try:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i:i + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows: dict[str, list[tuple]] = {}
                for row in conn.execute(f"SELECT run_key, {cols}, nonfinite FROM epochs WHERE "
                                        f"run_key IN ({marks}) ORDER BY run_key, epoch", chunk):
                    rows.setdefault(row[0], []).append(row[1:])
                series: dict[str, dict[str, list[float]]] = {}
                for key, name, blob in conn.execute(
                        f"SELECT run_key, name, series FROM diagnostics WHERE run_key IN ({marks})",
                        chunk):
                    series.setdefault(key, {})[name] = np.frombuffer(blob, "<f8").tolist()
                for key, seed, updates, wall, div, stop, lengths in conn.execute(
                        "SELECT key, seed, updates, wall_time_s, diverged_epoch, stopped_epoch, "
                        f"history_lengths FROM runs WHERE key IN ({marks})", chunk):
                    history = _decode_history(json.loads(lengths), rows.get(key, []))
                    history.update(series.get(key, {}))
                    out[key] = RunResult(key=key, seed=seed, history=history, updates=updates,
                                         wall_time_s=math.nan if wall is None else wall,
                                         diverged_epoch=div, stopped_epoch=stop)
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc
        return out

    def put_runs(self, runs: Iterable[tuple[RunResult, dict]], *, study: str,
                 versions: dict[str, str]) -> None:
        """Store ``(run, resolved config)`` pairs in one transaction; stored keys are skipped."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        versions_json = json.dumps(versions, sort_keys=True)
        with self._transaction() as conn:
            for run, config in runs:
                try:
                    config_json = json.dumps(config, sort_keys=True)
                except (TypeError, ValueError) as exc:
                    raise StoreError(f"{self.path}: run {run.key}: its config is not "
                                     f"JSON-serialisable ({exc}); nothing of this batch was "
                                     "stored") from exc
                epochs, lengths = _encode_history(run, self.path)
                cur = conn.execute(
                    "INSERT OR IGNORE INTO runs (key, study, seed, updates, wall_time_s, "
                    "diverged_epoch, stopped_epoch, history_lengths, config, versions, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.key, study, int(run.seed), int(run.updates), float(run.wall_time_s),
                     _opt_int(run.diverged_epoch), _opt_int(run.stopped_epoch),
                     json.dumps(lengths), config_json, versions_json, created))
                if cur.rowcount == 1:                       # new run: add its epochs
                    conn.executemany(
                        f"INSERT INTO epochs (run_key, epoch, {', '.join(HISTORY_KEYS)}, "
                        "nonfinite) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [(run.key, i, *values) for i, values in enumerate(epochs)])
                    conn.executemany(
                        "INSERT INTO diagnostics (run_key, name, series) VALUES (?, ?, ?)",
                        [(run.key, name, np.asarray(values, "<f8").tobytes())
                         for name, values in run.history.items() if name not in HISTORY_KEYS])

    def studies(self) -> list[str]:
        """Names of the studies with stored runs, sorted."""
        return [r[0] for r in self._query("SELECT DISTINCT study FROM runs ORDER BY study")]

    def count_runs(self, study: str | None = None) -> int:
        """Stored runs, of one study or of all."""
        if study is None:
            return self._query("SELECT COUNT(*) FROM runs")[0][0]
        return self._query("SELECT COUNT(*) FROM runs WHERE study = ?", (study,))[0][0]

    # ---- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, cohort_key: str, epochs_done: int, blob: bytes) -> None:
        """Store (or replace) a cohort's checkpoint."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction("saving a checkpoint") as conn:
            conn.execute(
                "INSERT INTO checkpoints (cohort_key, epochs_done, blob, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (cohort_key) DO UPDATE SET "
                "epochs_done = excluded.epochs_done, blob = excluded.blob, "
                "updated_at = excluded.updated_at",
                (cohort_key, int(epochs_done), sqlite3.Binary(bytes(blob)), now))

    def load_checkpoint(self, cohort_key: str) -> tuple[int, bytes] | None:
        """``(epochs_done, blob)`` of a cohort's checkpoint, or None."""
        rows = self._query("SELECT epochs_done, blob FROM checkpoints WHERE cohort_key = ?",
                           (cohort_key,))
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    def delete_checkpoint(self, cohort_key: str) -> None:
        """Forget a cohort's checkpoint (no error if there is none)."""
        with self._transaction("deleting a checkpoint") as conn:
            conn.execute("DELETE FROM checkpoints WHERE cohort_key = ?", (cohort_key,))

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._require().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _encode_history(run: RunResult, path: Path) -> tuple[list[tuple], dict[str, int]]:
    """Rows of (5 values, nonfinite JSON) per epoch, and the length of each history key."""
    unknown = {k for k in run.history if k not in HISTORY_KEYS and "/" not in k}
    if unknown:
        raise StoreError(f"{path}: run {run.key}: history keys {sorted(unknown)} cannot be "
                         f"stored (known: {list(HISTORY_KEYS)} and per-layer diagnostics "
                         "'<name>/<layer>'); nothing of this batch was stored")
    lengths = {k: len(v) for k, v in run.history.items() if k in HISTORY_KEYS}
    rows = []
    for epoch in range(max(lengths.values(), default=0)):
        values: list[float | None] = []
        nonfinite: dict[str, str] = {}
        for k in HISTORY_KEYS:
            series = run.history.get(k, [])
            v = float(series[epoch]) if epoch < len(series) else None
            if v is not None and not math.isfinite(v):
                nonfinite[k], v = repr(v), None                  # 'nan', 'inf', '-inf'
            values.append(v)
        rows.append((*values, json.dumps(nonfinite) if nonfinite else None))
    return rows, lengths


def _decode_history(lengths: dict[str, int], rows: list[tuple]) -> dict[str, list[float]]:
    history: dict[str, list[float]] = {k: [] for k in lengths}
    for epoch, row in enumerate(rows):
        nonfinite = json.loads(row[-1]) if row[-1] else {}
        for k, v in zip(HISTORY_KEYS, row[:-1]):
            if k in history and epoch < lengths[k]:
                history[k].append(float(nonfinite[k]) if k in nonfinite else float(v))
    return history
