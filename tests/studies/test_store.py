"""The results store: round trips, atomic batches, checkpoints, and refusing foreign files
(damage is in test_store_damage.py)."""
from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from hyperlab.studies import store as store_module
from hyperlab.studies.results import RunResult
from hyperlab.studies.store import Store, StoreError

VERSIONS = {"hyperlab": "0.1.0", "jax": "0.4.30", "optax": "0.2.2"}


def make_run(key: str, seed: int = 0, epochs: int = 3, **kw) -> RunResult:
    history = {"loss": [1.0 / (e + 1) for e in range(epochs)],
               "accuracy": [0.5 + 0.1 * e for e in range(epochs)],
               "val_loss": [1.1 / (e + 1) for e in range(epochs)],
               "val_accuracy": [0.4 + 0.1 * e for e in range(epochs)],
               "learning_rate": [0.01] * epochs}
    return RunResult(key=key, seed=seed, history=kw.pop("history", history),
                     updates=kw.pop("updates", 10 * epochs), wall_time_s=kw.pop("wall", 1.25), **kw)


def same_history(a: dict[str, list[float]], b: dict[str, list[float]]) -> bool:
    return list(a) == list(b) and all(
        len(a[k]) == len(b[k]) and all((x == y) or (math.isnan(x) and math.isnan(y))
                                       for x, y in zip(a[k], b[k])) for k in a)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


def test_round_trip_with_nonfinite_values_and_none_fields(store_path: Path) -> None:
    diverged = make_run("k-div", seed=3, diverged_epoch=2, history={
        "loss": [0.9, float("inf"), float("nan"), -float("inf")],
        "accuracy": [0.3, 0.2, float("nan"), 0.1],
        "val_loss": [1.0, float("nan"), float("nan"), float("nan")],
        "val_accuracy": [0.25, 0.25, 0.25, 0.25],
        "learning_rate": [np.float32(0.1)] * 4})
    stopped = make_run("k-stop", seed=1, epochs=5, stopped_epoch=4)
    partial = make_run("k-part", history={"loss": [0.5, 0.25], "learning_rate": [0.1, 0.1]})
    empty = make_run("k-empty", history={}, updates=0, wall=float("nan"))
    runs = [diverged, stopped, partial, empty]
    with Store(store_path) as store:
        store.put_runs([(r, {"lr": 0.1, "seed": r.seed}) for r in runs], study="demo",
                       versions=VERSIONS)
    with Store(store_path) as store:                                   # reopened
        got = store.get_runs([r.key for r in runs])
    assert set(got) == {r.key for r in runs}
    for r in runs:
        g = got[r.key]
        assert (g.key, g.seed, g.updates) == (r.key, r.seed, r.updates)
        assert (g.diverged_epoch, g.stopped_epoch) == (r.diverged_epoch, r.stopped_epoch)
        assert same_history(g.history, {k: [float(x) for x in v] for k, v in r.history.items()})
    assert got["k-div"].history["loss"][1::2] == [math.inf, -math.inf]
    assert got["k-stop"].wall_time_s == 1.25 and math.isnan(got["k-empty"].wall_time_s)
    assert got["k-stop"].diverged_epoch is None and got["k-div"].stopped_epoch is None
    assert got["k-part"].epochs_run == 2 and got["k-empty"].epochs_run == 0


def test_stored_rows_config_versions_and_epochs(store_path: Path) -> None:
    with Store(store_path) as store:
        store.put_runs([(make_run("a", epochs=4), {"batch_size": 32, "nested": {"x": [1, 2]}})],
                       study="batch-size", versions=VERSIONS)
    conn = sqlite3.connect(store_path)
    study, seed, config, versions, created = conn.execute(
        "SELECT study, seed, config, versions, created_at FROM runs WHERE key = 'a'").fetchone()
    assert (study, seed) == ("batch-size", 0) and created
    assert json.loads(config) == {"batch_size": 32, "nested": {"x": [1, 2]}}
    assert json.loads(versions) == VERSIONS
    rows = conn.execute("SELECT epoch, loss, learning_rate FROM epochs WHERE run_key = 'a' "
                        "ORDER BY epoch").fetchall()
    assert rows == [(e, 1.0 / (e + 1), 0.01) for e in range(4)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_get_runs_returns_only_requested_stored_keys(store_path: Path) -> None:
    with Store(store_path) as store:
        store.put_runs([(make_run(k), {}) for k in "abc"], study="s", versions=VERSIONS)
        assert set(store.get_runs(["a", "c", "missing"])) == {"a", "c"}
        assert store.get_runs([]) == {}
        assert set(store.get_runs(iter(["b", "b"]))) == {"b"}


def test_put_is_idempotent_and_counts_by_study(store_path: Path) -> None:
    with Store(store_path) as store:
        store.put_runs([(make_run("a"), {}), (make_run("b"), {})], study="one", versions=VERSIONS)
        changed = make_run("a", epochs=7, updates=999)
        store.put_runs([(changed, {}), (make_run("c"), {}), (make_run("c"), {})], study="two",
                       versions=VERSIONS)
        assert store.count_runs() == 3
        assert [store.count_runs(s) for s in ("one", "two", "x")] == [2, 1, 0]
        assert store.studies() == ["one", "two"]
        a = store.get_runs(["a"])["a"]
        assert a.updates == 30 and a.epochs_run == 3                    # first write kept
    conn = sqlite3.connect(store_path)
    assert conn.execute("SELECT COUNT(*) FROM epochs WHERE run_key = 'a'").fetchone()[0] == 3
    conn.close()


def test_failed_batch_stores_nothing(store_path: Path) -> None:
    with Store(store_path) as store:
        store.put_runs([(make_run("old"), {})], study="s", versions=VERSIONS)
        batch = [(make_run("new1"), {"ok": 1}), (make_run("new2"), {"bad": object()}),
                 (make_run("new3"), {})]
        with pytest.raises(StoreError, match="new2.*JSON"):
            store.put_runs(batch, study="s", versions=VERSIONS)
        assert store.count_runs() == 1 and set(store.get_runs(["old", "new1", "new3"])) == {"old"}

        def exploding():
            yield make_run("gen1"), {}
            raise RuntimeError("boom")
        with pytest.raises(RuntimeError):
            store.put_runs(exploding(), study="s", versions=VERSIONS)
        assert store.count_runs() == 1
        store.put_runs([(make_run("new1"), {})], study="s", versions=VERSIONS)   # still usable
        assert store.count_runs() == 2
    conn = sqlite3.connect(store_path)
    assert conn.execute("SELECT DISTINCT run_key FROM epochs ORDER BY 1").fetchall() == [
        ("new1",), ("old",)]
    conn.close()


def test_checkpoints_upsert_load_delete(store_path: Path) -> None:
    with Store(store_path) as store:
        assert store.load_checkpoint("cohort") is None
        store.save_checkpoint("cohort", 5, b"\x00first")
        store.save_checkpoint("other", 1, b"")
        assert store.load_checkpoint("cohort") == (5, b"\x00first")
        store.save_checkpoint("cohort", 10, bytes(range(256)) * 100)
        assert store.load_checkpoint("cohort") == (10, bytes(range(256)) * 100)
        store.delete_checkpoint("cohort")
        store.delete_checkpoint("never-saved")
        assert store.load_checkpoint("cohort") is None
    with Store(store_path) as store:
        assert store.load_checkpoint("other") == (1, b"")


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE accounts (id INTEGER, name TEXT)")
    conn.execute("INSERT INTO accounts VALUES (1, 'x')")
    conn.commit()
    conn.close()


def _newer_store(path: Path) -> None:
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                 (str(Store.SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_text("name,value\nlr,0.1\n"), "not a SQLite file"),
    (lambda p: p.write_bytes(np.random.default_rng(0).bytes(8192)), "not a SQLite file"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + bytes(4080)), "cannot be read"),
    (_foreign_sqlite, "not a hyperlab store"),
    (_newer_store, "newer.*upgrade hyperlab"),
], ids=["text", "random-bytes", "corrupt-sqlite", "other-tables", "newer-schema"])
def test_foreign_files_are_refused_and_left_untouched(store_path: Path, make, match) -> None:
    make(store_path)
    before = store_path.read_bytes()
    with pytest.raises(StoreError, match=match) as info:
        Store(store_path)
    message = str(info.value)
    assert str(store_path) in message and "\n" not in message
    assert "--store" not in message and ("--db" in message or "upgrade" in message)
    assert store_path.read_bytes() == before


def test_empty_file_is_initialised(store_path: Path) -> None:
    store_path.touch()
    with Store(store_path) as store:
        store.put_runs([(make_run("a"), {})], study="s", versions=VERSIONS)
    with Store(store_path) as store:
        assert store.count_runs() == 1


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "results.db"
    with pytest.raises(StoreError, match="does not exist") as info:
        Store(missing)
    assert str(missing.parent) in str(info.value) and not missing.parent.exists()
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores file permissions")
def test_read_only_directory_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(StoreError, match="not writable"):
            Store(locked / "results.db")
    finally:
        locked.chmod(stat.S_IRWXU)


def test_reader_sees_committed_runs_during_a_write(store_path: Path) -> None:
    writer = Store(store_path)
    writer.put_runs([(make_run("committed"), {})], study="s", versions=VERSIONS)
    conn = writer._conn
    conn.execute("BEGIN IMMEDIATE")                   # an open write transaction...
    conn.execute("INSERT INTO runs (key, study, seed, updates, history_lengths, config, versions,"
                 " created_at) VALUES ('pending', 's', 0, 0, '{}', '{}', '{}', 'now')")
    try:
        with Store(store_path) as reader:             # ...does not block a second store
            assert set(reader.get_runs(["committed", "pending"])) == {"committed"}
            assert reader.count_runs() == 1 and reader.studies() == ["s"]
    finally:
        conn.execute("ROLLBACK")
        writer.close()


def test_locked_store_raises_store_error(store_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    with Store(store_path) as holder, Store(store_path) as other:
        holder._conn.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked.*wait for it") as info:
                other.put_runs([(make_run("a"), {})], study="s", versions=VERSIONS)
            assert str(store_path) in str(info.value)
        finally:
            holder._conn.execute("ROLLBACK")
        other.put_runs([(make_run("a"), {})], study="s", versions=VERSIONS)
        assert holder.count_runs() == 1


def test_disk_full_raises_store_error_and_keeps_stored_runs(store_path: Path) -> None:
    big = {"loss": [0.5] * 2000, "learning_rate": [0.1] * 2000}
    with Store(store_path) as store:
        store.put_runs([(make_run("keep"), {"note": "x"})], study="s", versions=VERSIONS)
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="full") as info:
            store.put_runs([(make_run("small"), {}), (make_run("big", history=big), {})],
                           study="s", versions=VERSIONS)
        assert str(store_path) in str(info.value) and "nothing of this write" in str(info.value)
        assert store.count_runs() == 1 and set(store.get_runs(["keep", "small", "big"])) == {"keep"}
        with pytest.raises(StoreError, match="full"):
            store.save_checkpoint("c", 1, bytes(100_000))
        assert store.load_checkpoint("c") is None
    with Store(store_path) as store:                  # the file is intact when reopened
        assert store.count_runs() == 1 and store.get_runs(["keep"])["keep"].epochs_run == 3


def test_read_only_database_raises_store_error(store_path: Path) -> None:
    with Store(store_path) as store:
        store.put_runs([(make_run("keep"), {})], study="s", versions=VERSIONS)
        store._conn.execute("PRAGMA query_only = 1")      # writes now fail as SQLITE_READONLY
        with pytest.raises(StoreError, match="read-only"):
            store.put_runs([(make_run("new"), {})], study="s", versions=VERSIONS)
        assert store.count_runs() == 1


def test_closed_store_raises(store_path: Path) -> None:
    store = Store(store_path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count_runs()
