"""The persistent results store: one SQLite file of trained runs and cohort checkpoints.

A run is stored once, under its content key, and never rewritten (unless it is damaged); a
study that is rerun reads the runs it already has. Tables (schema version 3):

* ``meta``        -- ``app`` = ``hyperlab`` and ``schema_version``;
* ``runs``        -- one row per run: study, seed, updates, timing, the epochs at which it
  diverged, stopped and whose weights it restored, config and versions (JSON), and ``checksum``: SHA-256 of the run as it reads back (``run_checksum``);
* ``epochs``      -- one row per run and epoch (0-based): loss, accuracy, val_loss,
  val_accuracy, learning_rate. SQLite stores NaN as NULL, so non-finite values are kept
  NULL with their spelling in the row's ``nonfinite`` JSON (e.g. ``{"loss": "nan"}``);
* ``diagnostics`` -- per run, each per-layer diagnostic series (``fit.diagnostics``; keys
  such as ``grad_norm/dense_1``) as little-endian float64 bytes, one value per epoch;
* ``checkpoints`` -- the latest checkpoint of each training cohort (npz bytes);
* ``claims``      -- runs being trained, by whom (host, pid, process start) and the owner's
  latest heartbeat, so that concurrent ``hyperlab run`` on one store split the work.

Reading verifies every run (its epoch rows and its checksum): a damaged run is reported,
in one line, and treated as missing, so it is retrained and never served. A store of an
older schema version is upgraded in place when opened. ``check`` and ``repair`` are ``hyperlab store
check [--repair]``. The file uses WAL journaling, so reports can read while a study writes.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import socket
import sqlite3
import sys
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab.studies.build import DIAGNOSTIC_LOGS, LOG_KEYS
from hyperlab.studies.results import RunResult

BUSY_TIMEOUT_S = 10.0
STALE_S = 600.0            # a claim of another host without a heartbeat this long is abandoned
_SQLITE_MAGIC = b"SQLite format 3\x00"
_CHUNK = 500                                   # keys per query, below SQLite's variable limit
_RUN_COLUMNS = ("key", "study", "seed", "updates", "wall_time_s", "diverged_epoch",
                "stopped_epoch", "history_lengths", "config", "versions", "created_at",
                "checksum", "restored_epoch")
CHECK_COMMAND = "hyperlab store check"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY, study TEXT NOT NULL, seed INTEGER NOT NULL,
    updates INTEGER NOT NULL, wall_time_s REAL, diverged_epoch INTEGER,
    stopped_epoch INTEGER, history_lengths TEXT NOT NULL, config TEXT NOT NULL,
    versions TEXT NOT NULL, created_at TEXT NOT NULL, checksum TEXT, restored_epoch INTEGER);
CREATE INDEX IF NOT EXISTS runs_study ON runs (study);
CREATE TABLE IF NOT EXISTS epochs (
    run_key TEXT NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, {", ".join(f"{k} REAL" for k in LOG_KEYS)}, nonfinite TEXT,
    PRIMARY KEY (run_key, epoch)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS diagnostics (
    run_key TEXT NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    name TEXT NOT NULL, series BLOB NOT NULL, PRIMARY KEY (run_key, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    cohort_key TEXT PRIMARY KEY, epochs_done INTEGER NOT NULL, blob BLOB NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    run_key TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    heartbeat REAL NOT NULL) WITHOUT ROWID;
"""


class StoreError(Exception):
    """A store that cannot be opened or written; the message names the file and the fix."""


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks since boot, which tells a reused
    pid apart; elsewhere ""), or None if there is no such (living) process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


@dataclass(frozen=True)
class Owner:
    """Who claims runs: one process, named by host, pid and start time."""

    host: str
    pid: int
    start: str

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _process_start(pid) or "")

    @property
    def id(self) -> str:
        return f"{self.host}:{self.pid}:{self.start}"

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _claim_is_live(owner_id: str, host: str, pid: int, heartbeat: float, now: float) -> bool:
    """A claim holds while its process lives (this host: checked; another: by heartbeat)."""
    if host == socket.gethostname():
        start = _process_start(pid)
        return start is not None and owner_id == f"{host}:{pid}:{start}"
    return now - heartbeat < STALE_S


@dataclass
class CheckReport:
    """What ``Store.check`` found: the ``intact`` runs and checkpoints (``cohorts``) by
    key, ``damaged`` runs (key -> (study, what is wrong)), damaged ``checkpoints`` (cohort
    key -> what is wrong), ``orphans`` (epoch and diagnostic rows of no run) and
    ``integrity`` (SQLite's integrity_check findings)."""

    path: Path
    intact: list[str] = field(default_factory=list)
    cohorts: list[str] = field(default_factory=list)
    damaged: dict[str, tuple[str, str]] = field(default_factory=dict)
    checkpoints: dict[str, str] = field(default_factory=dict)
    orphans: int = 0
    integrity: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return len(self.intact) + len(self.damaged)

    @property
    def clean(self) -> bool:
        return not (self.damaged or self.checkpoints or self.orphans or self.integrity)

    def lines(self) -> list[str]:
        """One line per damaged run and checkpoint, one for orphans and SQLite's findings."""
        out = [f"damaged run {key} (study {study}): {why}"
               for key, (study, why) in sorted(self.damaged.items())]
        out += [f"damaged checkpoint {key}: {why}" for key, why in sorted(self.checkpoints.items())]
        if self.orphans:
            out.append(f"{self.orphans} epoch or diagnostic row(s) belong to no run")
        if self.integrity:
            more = f" (and {len(self.integrity) - 1} more)" if len(self.integrity) > 1 else ""
            out.append(f"SQLite integrity check: {' '.join(self.integrity[0].split())}{more}")
        return out

    def summary(self) -> str:
        integrity = "ok" if not self.integrity else f"{len(self.integrity)} problem(s)"
        return (f"{self.path}: {self.runs} run(s) checked, {len(self.damaged)} damaged, "
                f"{len(self.checkpoints)} damaged checkpoint(s), SQLite integrity {integrity}")


class Store:
    """Runs and checkpoints in one SQLite file (see the module docstring)."""

    SCHEMA_VERSION = 3

    def __init__(self, path: str | Path, *, salvage: bool = False) -> None:
        """Open (or create) the store at ``path``. ``salvage``: open a store that may be
        damaged, to ``check`` and ``repair`` it (SQLite then reads a truncated file as far
        as it goes, instead of refusing it)."""
        self.path, self.salvage = Path(path), salvage
        self._conn: sqlite3.Connection | None = None
        self.damaged: dict[str, str] = {}       # run key -> what is wrong, as reported
        self._open()

    # ---- opening -------------------------------------------------------------------------
    def _open(self) -> None:
        version = self._check_file()
        try:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        self._conn = conn
        try:
            if self.salvage:
                conn.execute("PRAGMA writable_schema = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if version is None:
                with self._transaction("creating the store"):
                    self._create_schema()
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StoreError(f"{self.path}: could not switch to WAL journaling (is the "
                                 "file on a network filesystem?); use a local disk")
            if version is not None and version < self.SCHEMA_VERSION:
                self._migrate()
        except sqlite3.Error as exc:
            self.close()
            raise self._error(exc, "opening") from exc
        except BaseException:
            self.close()
            raise

    def _check_file(self) -> int | None:
        """Refuse files that are not ours, untouched; the schema version (None: create it)."""
        parent = self.path.parent
        if not parent.is_dir():
            raise StoreError(f"{self.path}: directory {parent} does not exist; create it "
                             "first or choose another --db path")
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory; give the path of a store file")
        if not self.path.exists() or self.path.stat().st_size == 0:
            if not os.access(parent, os.W_OK):
                raise StoreError(f"{self.path}: directory {parent} is not writable; fix its "
                                 "permissions or choose another --db path")
            return None
        with open(self.path, "rb") as f:
            if f.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                raise StoreError(f"{self.path} is not a SQLite file (not a hyperlab store); "
                                 "it was left untouched: choose another --db path")
        if not os.access(self.path, os.W_OK) or not os.access(parent, os.W_OK):
            raise StoreError(f"{self.path}: the file or its directory {parent} is not "
                             "writable; fix the permissions or choose another --db path")
        meta = self._read_meta()
        if meta.get("app") != "hyperlab":
            raise StoreError(f"{self.path} is a SQLite database but not a hyperlab store; it "
                             "was left untouched: choose another --db path")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            version = -1
        if version > self.SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema version {version}, newer than this "
                             f"hyperlab's ({self.SCHEMA_VERSION}); upgrade hyperlab to use it")
        if version < 1:
            raise StoreError(f"{self.path} has unknown store schema version "
                             f"{meta.get('schema_version')!r}; choose another --db path")
        return version

    def _read_meta(self) -> dict[str, str]:
        """The ``meta`` table ({} if there is none); a damaged hyperlab store is refused
        with the fix (``hyperlab store check --repair``) unless opened to salvage it."""
        try:
            return self._meta(tolerant=self.salvage)
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise self._error(exc, "opening") from exc
            failure = exc
        try:
            ours = self._meta(tolerant=True).get("app") == "hyperlab"
        except sqlite3.DatabaseError:
            ours = False
        if ours:
            raise self._error(failure, "opening") from failure
        raise StoreError(f"{self.path} cannot be read as a hyperlab store ({failure}); it was "
                         "left untouched: choose another --db path") from failure

    def _meta(self, tolerant: bool) -> dict[str, str]:
        """The ``meta`` table through a read-only connection (``tolerant``: of a truncated
        file)."""
        conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                               timeout=BUSY_TIMEOUT_S)
        try:
            if tolerant:
                conn.execute("PRAGMA writable_schema = ON")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" not in tables:
                return {}
            return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        finally:
            conn.close()

    def _create_schema(self) -> None:
        conn = self._require()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:          # filled by someone else since we looked
            raise StoreError(f"{self.path} is a SQLite database but not a hyperlab store; it "
                             "was left untouched: choose another --db path")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
        conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                         [("app", "hyperlab"), ("schema_version", str(self.SCHEMA_VERSION))])
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != str(self.SCHEMA_VERSION):    # lost a race to another
            raise StoreError(f"{self.path} was initialised concurrently with schema version "
                             f"{row and row[0]}; upgrade hyperlab to use it")

    def _migrate(self) -> None:
        """An older version in place: from 1, the diagnostics and claims tables and each run's
        checksum, computed from what is stored (a run whose epoch rows do not match its
        history lengths gets none: it reads as damaged); from 2, the ``restored_epoch``
        column (NULL: the runs stored before it restored no weights)."""
        with self._transaction(f"upgrading the store to schema version {self.SCHEMA_VERSION}"
                               ) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None and row[0] == str(self.SCHEMA_VERSION):     # done by another
                return
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
            if "restored_epoch" not in columns:
                conn.execute("ALTER TABLE runs ADD COLUMN restored_epoch INTEGER")
            if "checksum" in columns:
                keys = []
            else:
                conn.execute("ALTER TABLE runs ADD COLUMN checksum TEXT")
                keys = [r[0] for r in conn.execute("SELECT key FROM runs")]
            for i in range(0, len(keys), _CHUNK):
                readable, _ = self._read(conn, keys[i:i + _CHUNK], verify=False)
                conn.executemany("UPDATE runs SET checksum = ? WHERE key = ?",
                                 [(run_checksum(run), key) for key, run in readable.items()])
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                         (str(self.SCHEMA_VERSION),))

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
        if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
            what = f"the file is damaged ({exc})"
            fix = (f"run '{CHECK_COMMAND} --repair --db {self.path}' (it keeps every intact "
                   "run and a copy of the damaged file), then rerun")
        elif "full" in msg:
            what = "the disk (or the database's size limit) is full"
            fix = "free some space and rerun"
        elif "readonly" in msg or "read-only" in msg:
            what = "the file is read-only"
            fix = "fix its permissions or choose another --db path"
        elif "locked" in msg or "busy" in msg:
            what = f"another process kept the store locked for over {BUSY_TIMEOUT_S:g} s"
            fix = "wait for it to finish and rerun"
        else:
            what, fix = f"SQLite error ({exc})", "check the file or choose another --db path"
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
        """The intact stored runs among ``keys``, by key (keys not stored are absent).
        Damaged runs are absent too, so that they are retrained: they are recorded in
        ``damaged`` and reported in one line on stderr (once per key)."""
        wanted = list(dict.fromkeys(keys))
        try:
            out, damaged = self._read(self._require(), wanted)
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc
        new = {k: v for k, v in damaged.items() if k not in self.damaged}
        self.damaged.update(damaged)
        if new:
            shown = ", ".join(sorted(new)[:10]) + (f" and {len(new) - 10} more"
                                                    if len(new) > 10 else "")
            print(f"hyperlab: warning: {self.path}: {len(new)} stored run(s) are damaged and "
                  f"treated as missing ('hyperlab run' retrains them): {shown}; details: "
                  f"'{CHECK_COMMAND} --db {self.path}'", file=sys.stderr)
        return out

    def _read(self, conn: sqlite3.Connection, keys: list[str], verify: bool = True
              ) -> tuple[dict[str, RunResult], dict[str, str]]:
        """``(intact runs, {key: what is wrong})`` of the stored runs among ``keys``: a run
        is damaged if its epoch rows are not exactly 0 .. n-1 (n: its longest history), if
        a value cannot be read, or (``verify``) if its checksum does not match."""
        out: dict[str, RunResult] = {}
        damaged: dict[str, str] = {}
        cols = ", ".join(LOG_KEYS)
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows: dict[str, list[tuple]] = {}
            for row in conn.execute(f"SELECT run_key, epoch, {cols}, nonfinite FROM epochs "
                                    f"WHERE run_key IN ({marks}) ORDER BY run_key, epoch", chunk):
                rows.setdefault(row[0], []).append(row[1:])
            series: dict[str, dict[str, bytes]] = {}
            for key, name, blob in conn.execute(
                    f"SELECT run_key, name, series FROM diagnostics WHERE run_key IN ({marks})",
                    chunk):
                series.setdefault(key, {})[name] = blob
            for key, seed, updates, wall, div, stop, restored, lengths, checksum in conn.execute(
                    "SELECT key, seed, updates, wall_time_s, diverged_epoch, stopped_epoch, "
                    f"restored_epoch, history_lengths, checksum FROM runs WHERE key IN ({marks})",
                    chunk):
                epochs = rows.get(key, [])
                try:
                    lengths = {str(k): int(v) for k, v in json.loads(lengths).items()}
                    n = max(lengths.values(), default=0)
                    if [e for e, *_ in epochs] != list(range(n)):
                        damaged[key] = (f"{len(epochs)} epoch row(s) where {n} were stored"
                                        if len(epochs) != n else
                                        f"its epoch rows are not numbered 0..{n - 1}")
                        continue
                    history = _decode_history(lengths, [row[1:] for row in epochs])
                    history.update({name: np.frombuffer(blob, "<f8").tolist()
                                    for name, blob in series.get(key, {}).items()})
                    run = RunResult(key=key, seed=int(seed), history=history,
                                    updates=int(updates),
                                    wall_time_s=math.nan if wall is None else float(wall),
                                    diverged_epoch=_opt_int(div), stopped_epoch=_opt_int(stop),
                                    restored_epoch=_opt_int(restored))
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    damaged[key] = f"a stored value cannot be read ({exc})"
                    continue
                if verify and checksum != run_checksum(run):
                    damaged[key] = ("it has no checksum" if checksum is None else
                                    "its checksum does not match its values (changed or "
                                    "corrupted)")
                    continue
                out[key] = run
        return out, damaged

    def put_runs(self, runs: Iterable[tuple[RunResult, dict]], *, study: str,
                 versions: dict[str, str], cohort: str | None = None,
                 owner: Owner | None = None) -> None:
        """Store ``(run, resolved config)`` pairs in one transaction; intact stored keys are
        skipped, damaged ones replaced. In the same transaction: delete the checkpoint of
        ``cohort`` (whose runs these are) and release ``owner``'s claims on these runs."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        versions_json = json.dumps(versions, sort_keys=True)
        keys = []
        with self._transaction() as conn:
            for run, config in runs:
                try:
                    config_json = json.dumps(config, sort_keys=True)
                except (TypeError, ValueError) as exc:
                    raise StoreError(f"{self.path}: run {run.key}: its config is not "
                                     f"JSON-serialisable ({exc}); nothing of this batch was "
                                     "stored") from exc
                epochs, lengths = _encode_history(run, self.path)
                keys.append(run.key)
                if conn.execute("SELECT 1 FROM runs WHERE key = ?", (run.key,)).fetchone():
                    if run.key not in self._read(conn, [run.key])[1]:
                        continue                            # intact: the first write is kept
                    conn.execute("DELETE FROM runs WHERE key = ?", (run.key,))
                for table in ("epochs", "diagnostics"):     # rows a deleted run left behind
                    conn.execute(f"DELETE FROM {table} WHERE run_key = ?", (run.key,))
                conn.execute(
                    f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(_RUN_COLUMNS))})",
                    (run.key, study, int(run.seed), int(run.updates), float(run.wall_time_s),
                     _opt_int(run.diverged_epoch), _opt_int(run.stopped_epoch),
                     json.dumps(lengths), config_json, versions_json, created,
                     run_checksum(run), _opt_int(run.restored_epoch)))
                conn.executemany(
                    f"INSERT INTO epochs (run_key, epoch, {', '.join(LOG_KEYS)}, "
                    "nonfinite) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(run.key, i, *values) for i, values in enumerate(epochs)])
                conn.executemany(
                    "INSERT INTO diagnostics (run_key, name, series) VALUES (?, ?, ?)",
                    [(run.key, name, np.asarray(values, "<f8").tobytes())
                     for name, values in run.history.items() if name not in LOG_KEYS])
            if cohort is not None:
                conn.execute("DELETE FROM checkpoints WHERE cohort_key = ?", (cohort,))
            if owner is not None:
                self._release(conn, owner, keys)
        for key in keys:
            self.damaged.pop(key, None)

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

    # ---- claims --------------------------------------------------------------------------
    def claim(self, keys: Iterable[str], owner: Owner) -> Owner | None:
        """Claim runs for ``owner``, all or none: None if they are now its, else the live
        owner of one of them (a claim of a dead process, or of another host without a
        heartbeat for ``STALE_S``, is taken over)."""
        keys, now = list(dict.fromkeys(keys)), time.time()
        with self._transaction("claiming runs") as conn:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i:i + _CHUNK]
                for other, host, pid, beat in conn.execute(
                        "SELECT owner, host, pid, heartbeat FROM claims WHERE run_key IN "
                        f"({', '.join('?' * len(chunk))})", chunk):
                    if other != owner.id and _claim_is_live(other, host, pid, beat, now):
                        return Owner(host, pid, other.rsplit(":", 1)[-1])
            conn.executemany(
                "INSERT OR REPLACE INTO claims (run_key, owner, host, pid, heartbeat) "
                "VALUES (?, ?, ?, ?, ?)",
                [(key, owner.id, owner.host, owner.pid, now) for key in keys])
        return None

    def heartbeat(self, owner: Owner) -> None:
        """``owner`` is alive: refresh the heartbeat of its claims."""
        with self._transaction("refreshing claims") as conn:
            conn.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?",
                         (time.time(), owner.id))

    def release(self, owner: Owner, keys: Iterable[str] | None = None) -> None:
        """Drop ``owner``'s claims (on ``keys``, or all of them)."""
        with self._transaction("releasing claims") as conn:
            self._release(conn, owner, None if keys is None else list(keys))

    @staticmethod
    def _release(conn: sqlite3.Connection, owner: Owner, keys: list[str] | None) -> None:
        if keys is None:
            conn.execute("DELETE FROM claims WHERE owner = ?", (owner.id,))
        else:
            conn.executemany("DELETE FROM claims WHERE run_key = ? AND owner = ?",
                             [(key, owner.id) for key in keys])

    def live_claimers(self) -> list[Owner]:
        """The live processes (other than this one) that hold claims."""
        now, me = time.time(), Owner.me().id
        return [Owner(host, pid, other.rsplit(":", 1)[-1]) for other, host, pid, beat in
                self._query("SELECT owner, host, pid, MAX(heartbeat) FROM claims GROUP BY owner")
                if other != me and _claim_is_live(other, host, pid, beat, now)]

    # ---- checking and repairing ----------------------------------------------------------
    def check(self) -> CheckReport:
        """SQLite's integrity check, then every run (epoch rows and checksum, as
        ``get_runs``) and every checkpoint (a complete npz archive)."""
        conn = self._require()
        try:
            integrity = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            integrity = [str(exc)]
        report = CheckReport(self.path, integrity=[] if integrity == ["ok"] else integrity)
        found = dict.fromkeys(k for k, in _scan(
            conn, "SELECT key FROM runs INDEXED BY sqlite_autoindex_runs_1"))
        found.update(dict.fromkeys(k for k, in _scan(conn, "SELECT key FROM runs")))
        studies: dict[str, str] = {}
        for key in found:                          # one by one: as far as each row reads
            try:
                studies[key] = conn.execute("SELECT study FROM runs WHERE key = ?",
                                            (key,)).fetchone()[0]
            except (sqlite3.DatabaseError, TypeError):
                report.damaged[key] = ("?", "its row cannot be read")
        keys = list(studies)
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            try:
                damaged = self._read(conn, chunk)[1]
            except sqlite3.DatabaseError:                  # find the unreadable ones
                damaged = {}
                for key in chunk:
                    try:
                        damaged.update(self._read(conn, [key])[1])
                    except sqlite3.DatabaseError as exc:
                        damaged[key] = f"its rows cannot be read ({exc})"
            report.damaged.update({k: (studies[k], why) for k, why in damaged.items()})
            report.intact += [k for k in chunk if k not in damaged]
        for cohort, in _scan(conn, "SELECT cohort_key FROM checkpoints"):
            try:
                why = npz_problem(conn.execute("SELECT blob FROM checkpoints WHERE "
                                               "cohort_key = ?", (cohort,)).fetchone()[0])
            except sqlite3.DatabaseError as exc:
                why = f"it cannot be read ({exc})"
            if why is None:
                report.cohorts.append(cohort)
            else:
                report.checkpoints[cohort] = why
        try:
            report.orphans = sum(conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE run_key NOT IN (SELECT key FROM runs)"
            ).fetchone()[0] for table in ("epochs", "diagnostics"))
        except sqlite3.DatabaseError as exc:
            report.integrity.append(str(exc))
        return report

    def repair(self, report: CheckReport) -> Path | None:
        """Drop what ``report`` found damaged, so that the next run retrains it. When
        SQLite's own structure is damaged, the intact runs and checkpoints are copied into
        a fresh file that replaces this one, and the damaged file is kept beside it: its
        path is returned (else None)."""
        busy = self.live_claimers()
        if busy:
            raise StoreError(f"{self.path} is in use by another hyperlab run "
                             f"({busy[0].describe()}); repair it when that run has finished")
        if report.integrity:
            return self._rebuild(report)
        with self._transaction("repairing the store") as conn:
            conn.executemany("DELETE FROM runs WHERE key = ?", [(k,) for k in report.damaged])
            for table in ("epochs", "diagnostics"):
                conn.execute(f"DELETE FROM {table} WHERE run_key NOT IN (SELECT key FROM runs)")
            conn.executemany("DELETE FROM checkpoints WHERE cohort_key = ?",
                             [(key,) for key in report.checkpoints])
        self.damaged.clear()
        return None

    def _rebuild(self, report: CheckReport) -> Path:
        """Copy the intact runs and checkpoints into a fresh store that replaces this file;
        the damaged file (and its journal) is renamed to ``<name>.damaged-<time>``."""
        conn = self._require()
        fresh_path = self.path.with_name(self.path.name + ".rebuilt")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{fresh_path}{suffix}").unlink(missing_ok=True)
        cols = ", ".join(_RUN_COLUMNS)
        copies = [  # (what to read from this file, where it goes in the fresh one)
            (f"SELECT {cols} FROM runs WHERE key = ?",
             f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})"),
            ("SELECT * FROM epochs WHERE run_key = ?",
             f"INSERT INTO epochs VALUES ({', '.join('?' * (3 + len(LOG_KEYS)))})"),
            ("SELECT * FROM diagnostics WHERE run_key = ?",
             "INSERT INTO diagnostics VALUES (?, ?, ?)")]
        checkpoint = ("SELECT * FROM checkpoints WHERE cohort_key = ?",
                      "INSERT INTO checkpoints VALUES (?, ?, ?, ?)")
        with Store(fresh_path) as fresh, fresh._transaction("rebuilding the store") as out:
            for key, steps in ([(k, copies) for k in report.intact]
                               + [(k, [checkpoint]) for k in report.cohorts]):
                try:
                    rows = [(insert, conn.execute(select, (key,)).fetchall())
                            for select, insert in steps]
                except sqlite3.DatabaseError:
                    continue                         # unreadable after all: retrained
                for insert, found in rows:
                    out.executemany(insert, found)
        self.close()
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        try:                          # a second name first: the store's path never vanishes
            os.link(self.path, backup)
        except OSError:
            shutil.copy2(self.path, backup)
        for suffix in ("-wal", "-shm"):
            journal = Path(f"{self.path}{suffix}")
            if journal.exists():
                os.replace(journal, f"{backup}{suffix}")
        os.replace(fresh_path, self.path)
        self.damaged.clear()
        self.salvage = False
        self._open()
        return backup

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._require().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc


def _scan(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    """The rows of a query, as far as a damaged file lets it go."""
    rows: list[tuple] = []
    try:
        for row in conn.execute(sql):
            rows.append(row)
    except sqlite3.DatabaseError:
        pass
    return rows


def run_checksum(run: RunResult) -> str:
    """SHA-256 of a run as it reads back from the store: key, seed, updates, wall time,
    diverged, stopped and restored epochs (the last only where there is one, so runs
    stored before it existed keep their checksum), and every history series (float64; NaN and -0.0 in the
    one spelling SQLite gives them back in)."""
    def canonical(values: Any) -> np.ndarray:
        a = np.asarray(values, "<f8").reshape(-1) + 0.0           # -0.0 -> 0.0
        a[np.isnan(a)] = np.nan
        return a

    head = {"key": run.key, "seed": int(run.seed), "updates": int(run.updates),
            "wall_time_s": float(canonical([run.wall_time_s])[0]),
            "diverged_epoch": _opt_int(run.diverged_epoch),
            "stopped_epoch": _opt_int(run.stopped_epoch),
            "lengths": {k: len(v) for k, v in run.history.items()}}
    if run.restored_epoch is not None:
        head["restored_epoch"] = int(run.restored_epoch)
    digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    for name in sorted(run.history):
        digest.update(name.encode() + b"\0" + canonical(run.history[name]).tobytes())
    return digest.hexdigest()


def read_npz(blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of an npz archive (a checkpoint), read without unpickling anything;
    ValueError (one line) for bytes that are not a complete archive of plain arrays."""
    data = bytes(blob)
    if not data.startswith(b"PK\x03\x04"):
        raise ValueError("not an npz archive (its first bytes are wrong)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError, KeyError, NotImplementedError, zipfile.BadZipFile,
            zlib.error) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if "allow_pickle" in text:
            text = "it holds Python objects, which are never loaded"
        raise ValueError(f"not a complete npz archive ({text})") from None


def npz_problem(blob: bytes) -> str | None:
    """What is wrong with a checkpoint's npz archive (None: every array reads)."""
    try:
        read_npz(blob)
    except ValueError as exc:
        return str(exc)
    return None


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _encode_history(run: RunResult, path: Path) -> tuple[list[tuple], dict[str, int]]:
    """Rows of (5 values, nonfinite JSON) per epoch, and the length of each history key."""
    unknown = {k for k in run.history
               if k not in LOG_KEYS and k not in DIAGNOSTIC_LOGS and "/" not in k}
    if unknown:
        raise StoreError(f"{path}: run {run.key}: history keys {sorted(unknown)} cannot be "
                         f"stored (known: {list(LOG_KEYS + DIAGNOSTIC_LOGS)} and per-layer "
                         "diagnostics '<name>/<layer>'); nothing of this batch was stored")
    lengths = {k: len(v) for k, v in run.history.items() if k in LOG_KEYS}
    rows = []
    for epoch in range(max(lengths.values(), default=0)):
        values: list[float | None] = []
        nonfinite: dict[str, str] = {}
        for k in LOG_KEYS:
            series = run.history.get(k, [])
            v = float(series[epoch]) if epoch < len(series) else None
            if v is not None and not math.isfinite(v):
                nonfinite[k], v = repr(v), None                  # 'nan', 'inf', '-inf'
            values.append(v)
        rows.append((*values, json.dumps(nonfinite) if nonfinite else None))
    return rows, lengths


def _decode_history(lengths: dict[str, int], rows: list[tuple]) -> dict[str, list[float]]:
    """The history of ``rows`` (5 values and the nonfinite JSON per epoch); TypeError or
    ValueError for a value that cannot be read."""
    history: dict[str, list[float]] = {k: [] for k in lengths}
    for epoch, row in enumerate(rows):
        nonfinite = json.loads(row[-1]) if row[-1] else {}
        for k, v in zip(LOG_KEYS, row[:-1]):
            if k in history and epoch < lengths[k]:
                history[k].append(float(nonfinite[k]) if k in nonfinite else float(v))
    return history
