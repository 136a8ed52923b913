"""A store that detects damage: every run carries a checksum that reading verifies, with its
epoch count; damaged runs are reported in one line and treated as missing (so they are
retrained, never served); a version-1 store is upgraded in place; ``hyperlab store check
[--repair]`` finds and drops what is damaged, also in files whose pages were overwritten or
cut off. Every store here is really damaged: rows deleted and values changed with SQL,
bytes of a page overwritten, the file truncated."""
from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyperlab.cli.main import main
from hyperlab.studies.results import RunResult
from hyperlab.studies.build import LOG_KEYS
from hyperlab.studies.store import Owner, Store, StoreError, _encode_history

from executor_cases import make_study
from test_store import VERSIONS, make_run, same_history

KEYS = [f"run-{i:02d}" for i in range(40)]


def fill(path: Path, keys=KEYS, epochs: int = 50) -> None:
    with Store(path) as store:
        store.put_runs([(make_run(k, seed=i, epochs=epochs), {"i": i})
                        for i, k in enumerate(keys)], study="s", versions=VERSIONS)


def sql(path: Path, statement: str, params: tuple = ()) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(statement, params)
    conn.close()


def check(argv: list[str]) -> int:
    """``hyperlab store check ARGV`` through the command line's parser."""
    from hyperlab.cli.main import build_parser
    args = build_parser().parse_args(["store", "check", *argv])
    return args.handler(args)


def page_bytes(path: Path) -> tuple[int, dict[str, list[int]]]:
    """The page size, and each table's leaf pages (SQLite's dbstat table)."""
    with sqlite3.connect(path) as conn:
        try:
            rows = conn.execute("SELECT name, pageno FROM dbstat WHERE pagetype = 'leaf' "
                                "ORDER BY pageno").fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table to find a table's pages")
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    pages: dict[str, list[int]] = {}
    for name, page in rows:
        pages.setdefault(name, []).append(page)
    return size, pages


# ---------------------------------------------------------------------------- checksums
def test_checksums_hold_for_nan_negative_zero_float32_and_diagnostics(tmp_path, capsys):
    run = make_run("odd", history={
        "loss": [float("nan"), -0.0, float("inf"), np.float32(0.1), 3.0, -float("inf")],
        "learning_rate": [np.float32(0.01)] * 6,
        "grad_norm/dense_1": [0.5, float("nan"), -0.0, 1e300, 2.0, 0.0]}, wall=-0.0)
    with Store(tmp_path / "s.db") as store:
        store.put_runs([(run, {}), (make_run("plain"), {})], study="s", versions=VERSIONS)
    with Store(tmp_path / "s.db") as store:
        got = store.get_runs(["odd", "plain"])
        assert set(got) == {"odd", "plain"} and store.damaged == {}
    assert same_history(got["odd"].history, {k: [float(x) for x in v]
                                             for k, v in run.history.items()})
    assert capsys.readouterr().err == ""
    assert check(["--db", str(tmp_path / "s.db")]) == 0


# ---------------------------------------------------------------------------- damage by SQL
@pytest.mark.parametrize("damage, why", [
    ("DELETE FROM epochs WHERE run_key = 'run-07' AND epoch IN (3, 4)",
     "48 epoch row(s) where 50 were stored"),
    ("DELETE FROM epochs WHERE run_key = 'run-07' AND epoch = 49",
     "49 epoch row(s) where 50 were stored"),
    ("UPDATE epochs SET epoch = 50 WHERE run_key = 'run-07' AND epoch = 0",
     "not numbered 0..49"),
    ("UPDATE epochs SET val_accuracy = val_accuracy + 1e-9 WHERE run_key = 'run-07' "
     "AND epoch = 17", "checksum does not match"),
    ("UPDATE epochs SET loss = NULL WHERE run_key = 'run-07' AND epoch = 2",
     "cannot be read"),
    ("UPDATE epochs SET nonfinite = '{\"loss\": \"nan\"}' WHERE run_key = 'run-07' "
     "AND epoch = 2", "checksum does not match"),
    ("UPDATE runs SET seed = 99 WHERE key = 'run-07'", "checksum does not match"),
    ("UPDATE runs SET stopped_epoch = 10 WHERE key = 'run-07'", "checksum does not match"),
    ("UPDATE runs SET history_lengths = '{\"loss\": 50}' WHERE key = 'run-07'",
     "checksum does not match"),
    ("UPDATE runs SET history_lengths = 'oops' WHERE key = 'run-07'", "cannot be read"),
    ("UPDATE runs SET checksum = NULL WHERE key = 'run-07'", "no checksum"),
], ids=["rows-deleted", "last-row-deleted", "renumbered", "value-changed", "value-nulled",
        "nonfinite-forged", "seed", "stopped-epoch", "lengths", "lengths-garbage",
        "no-checksum"])
def test_run_damaged_with_sql_is_reported_in_one_line_and_missing(tmp_path, capsys, damage,
                                                                 why):
    db = tmp_path / "s.db"
    fill(db)
    sql(db, damage)
    with Store(db) as store:
        got = store.get_runs(KEYS)
        assert set(got) == set(KEYS) - {"run-07"}
        assert why in store.damaged["run-07"] and list(store.damaged) == ["run-07"]
        store.get_runs(KEYS)                                  # reported once per key
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 stored run(s) are damaged" in err[0] and "run-07" in err[0]
    assert str(db) in err[0]


def test_diagnostics_row_deleted_or_changed_is_detected(tmp_path):
    db = tmp_path / "s.db"
    history = make_run("d").history | {"grad_norm/dense": [0.5, 0.25, 0.125]}
    with Store(db) as store:
        store.put_runs([(make_run("d", history=history), {}), (make_run("e", history=history),
                                                                 {})], study="s", versions=VERSIONS)
    sql(db, "DELETE FROM diagnostics WHERE run_key = 'd'")
    sql(db, "UPDATE diagnostics SET series = ? WHERE run_key = 'e'",
        (np.asarray([0.5, 0.25, 0.126], "<f8").tobytes(),))
    with Store(db) as store:
        assert store.get_runs(["d", "e"]) == {} and set(store.damaged) == {"d", "e"}


def test_a_damaged_run_stored_again_replaces_the_damaged_one(tmp_path):
    db = tmp_path / "s.db"
    fill(db, KEYS[:3], epochs=5)
    sql(db, "UPDATE epochs SET loss = 7 WHERE run_key = 'run-01' AND epoch = 1")
    sql(db, "PRAGMA foreign_keys = OFF")
    sql(db, "DELETE FROM runs WHERE key = 'run-02'")     # its epoch rows are left behind
    fresh = {k: make_run(k, seed=i, epochs=5) for i, k in enumerate(KEYS[:3])}
    with Store(db) as store:
        assert set(store.get_runs(KEYS[:3])) == {"run-00"}
        store.put_runs([(fresh[k], {}) for k in KEYS[:3]], study="s", versions=VERSIONS)
        got = store.get_runs(KEYS[:3])
        assert set(got) == set(KEYS[:3]) and store.damaged == {}
        assert got["run-01"].history["loss"][1] == fresh["run-01"].history["loss"][1]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 15
    conn.close()
    assert check(["--db", str(db)]) == 0


# ---------------------------------------------------------------------------- version 1
V1_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    key TEXT PRIMARY KEY, study TEXT NOT NULL, seed INTEGER NOT NULL,
    updates INTEGER NOT NULL, wall_time_s REAL, diverged_epoch INTEGER,
    stopped_epoch INTEGER, history_lengths TEXT NOT NULL, config TEXT NOT NULL,
    versions TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX runs_study ON runs (study);
CREATE TABLE epochs (
    run_key TEXT NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, {", ".join(f"{k} REAL" for k in LOG_KEYS)}, nonfinite TEXT,
    PRIMARY KEY (run_key, epoch)) WITHOUT ROWID;
CREATE TABLE checkpoints (
    cohort_key TEXT PRIMARY KEY, epochs_done INTEGER NOT NULL, blob BLOB NOT NULL,
    updated_at TEXT NOT NULL);
INSERT INTO meta VALUES ('app', 'hyperlab'), ('schema_version', '1');
"""


def v1_store(path: Path, runs: list[RunResult]) -> None:
    """A store as hyperlab wrote it before checksums (and before the diagnostics table)."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    for run in runs:
        rows, lengths = _encode_history(run, path)
        conn.execute("INSERT INTO runs VALUES (?, 'old', ?, ?, ?, ?, ?, ?, '{}', '{}', 'then')",
                     (run.key, run.seed, run.updates, run.wall_time_s, run.diverged_epoch,
                      run.stopped_epoch, json.dumps(lengths)))
        conn.executemany("INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [(run.key, e, *row) for e, row in enumerate(rows)])
    conn.execute("INSERT INTO checkpoints VALUES ('c', 3, x'00', 'then')")
    conn.execute("DELETE FROM epochs WHERE run_key = 'short' AND epoch = 0")   # damaged
    conn.commit()
    conn.close()


def test_version_1_store_is_upgraded_in_place_losing_nothing(tmp_path, capsys):
    db = tmp_path / "old.db"
    runs = [make_run("a", epochs=4), make_run("b", seed=1, epochs=2, stopped_epoch=1),
            make_run("nan", history={"loss": [float("nan"), 0.5], "learning_rate": [0.1, 0.1]}),
            make_run("short", epochs=3)]
    v1_store(db, runs)
    with Store(db) as store:
        got = store.get_runs([r.key for r in runs])
        assert set(got) == {"a", "b", "nan"} and list(store.damaged) == ["short"]
        for run in runs[:3]:
            assert same_history(got[run.key].history, run.history)
            assert (got[run.key].seed, got[run.key].stopped_epoch) == (run.seed,
                                                                     run.stopped_epoch)
        assert store.load_checkpoint("c") == (3, b"\x00")
        store.put_runs([(make_run("new"), {})], study="new", versions=VERSIONS)
    assert "short" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                            ).fetchone() == (str(Store.SCHEMA_VERSION),)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (5,)
        assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone() == (4 + 2 + 2 + 2 + 3,)
    conn.close()
    with Store(db) as store:                                   # opened again: no migration
        assert set(store.get_runs(["a", "b", "nan", "new"])) == {"a", "b", "nan", "new"}


# ---------------------------------------------------------------------------- damaged files
def test_corrupt_epochs_page_is_one_line_error_and_repair_keeps_every_intact_run(
        tmp_path, capsys):
    db = tmp_path / "s.db"
    fill(db)
    size, pages = page_bytes(db)
    page = pages["epochs"][len(pages["epochs"]) // 2]
    with open(db, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(bytes([0xA5]) * size)
    with Store(db) as store, pytest.raises(StoreError) as info:
        store.get_runs(KEYS)
    message = str(info.value)
    assert "\n" not in message and str(db) in message and "malformed" in message
    assert f"hyperlab store check --repair --db {db}" in message

    assert check(["--db", str(db)]) == 1
    out = capsys.readouterr().out.splitlines()
    damaged = [line.split()[2] for line in out if line.startswith("damaged run ")]
    assert 0 < len(damaged) < 10 and any(line.startswith("SQLite integrity check: ")
                                         for line in out)
    assert "40 run(s) checked" in out[-2] and "--repair" in out[-1]

    before = db.read_bytes()
    assert check(["--db", str(db), "--repair"]) == 1
    out = capsys.readouterr().out
    assert f"kept {40 - len(damaged)} intact run(s)" in out
    (backup,) = tmp_path.glob("s.db.damaged-*")              # the damaged file, untouched
    assert backup.read_bytes() == before and f"kept as {backup}" in out
    assert check(["--db", str(db)]) == 0
    with Store(db) as store:
        assert set(store.get_runs(KEYS)) == set(KEYS) - set(damaged)
        fill(db, damaged)                                     # the next run retrains them
    with Store(db) as store:
        assert set(store.get_runs(KEYS)) == set(KEYS)


def test_truncated_store_is_refused_in_one_line_and_repaired_keeping_what_survives(
        tmp_path, capsys):
    db = tmp_path / "hyperlab.db"
    fill(db)
    size, pages = page_bytes(db)
    last = max(p for name, ps in pages.items() if name != "epochs" for p in ps)
    cut = max(p for p in pages["epochs"] if p > last)      # lose the epoch pages after it
    os.truncate(db, (cut - 1) * size)
    with pytest.raises(StoreError) as info:
        Store(db)
    assert "\n" not in str(info.value) and "hyperlab store check --repair" in str(info.value)
    assert check(["--out", str(tmp_path), "--repair"]) == 1
    capsys.readouterr()
    assert check(["--out", str(tmp_path)]) == 0
    with Store(db) as store:
        kept = store.get_runs(KEYS)
        assert 0 < len(kept) < len(KEYS)
        assert all(r.epochs_run == 50 and r.history == make_run(k, seed=r.seed, epochs=50)
                   .history for k, r in kept.items())


def test_damaged_checkpoint_and_orphan_rows_are_found_and_dropped(tmp_path, capsys):
    db = tmp_path / "s.db"
    fill(db, KEYS[:2], epochs=3)
    with Store(db) as store:
        store.save_checkpoint("good", 2, _npz(x=np.arange(3)))
        store.save_checkpoint("cut", 2, _npz(x=np.arange(300))[:-100])
        store.save_checkpoint("pickle", 2, b"\x80\x04K\x01.")
    sql(db, "PRAGMA foreign_keys = OFF")
    sql(db, "DELETE FROM runs WHERE key = 'run-01'")
    assert check(["--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "damaged checkpoint cut: not a complete npz archive" in out
    assert "damaged checkpoint pickle: not an npz archive" in out and "allow_pickle" not in out
    assert "3 epoch or diagnostic row(s) belong to no run" in out
    assert check(["--db", str(db), "--repair"]) == 1
    assert check(["--db", str(db)]) == 0
    with Store(db) as store:
        assert store.load_checkpoint("good") is not None and store.load_checkpoint("cut") is None
        assert set(store.get_runs(KEYS[:2])) == {"run-00"}


def _npz(**arrays) -> bytes:
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture
def cli():
    """The ``hyperlab`` command line."""
    from hyperlab.cli import main as cli_main
    return cli_main.main


def test_store_check_exit_codes_and_one_line_errors(tmp_path, capsys, cli):
    db = tmp_path / "s.db"
    fill(db, KEYS[:3], epochs=3)
    assert cli(["store", "check", "--db", str(db)]) == 0
    assert capsys.readouterr().out == (f"{db}: 3 run(s) checked, 0 damaged, 0 damaged "
                                       "checkpoint(s), SQLite integrity ok\n")
    sql(db, "DELETE FROM epochs WHERE run_key = 'run-02' AND epoch = 1")
    assert cli(["store", "check", "--db", str(db)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == ("damaged run run-02 (study s): 2 epoch "
                                                       "row(s) where 3 were stored")
    text = (tmp_path / "text.db")
    text.write_text("not a store")
    for argv, message in [
            (["--db", str(tmp_path / "missing.db")], "no results store there; give its path"),
            (["--out", str(tmp_path / "nowhere")], "no results store there"),
            (["--db", str(db), "--out", str(tmp_path)], "not allowed with argument --db"),
            (["--db", str(text)], "is not a SQLite file"),
            (["--fix"], "unrecognized arguments: --fix")]:
        assert cli(["store", "check", *argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err
    assert cli(["store"]) == 2 and "required: COMMAND" in capsys.readouterr().err
    assert text.read_text() == "not a store"
    assert cli(["store", "check", "--help"]) == 0
    assert "  1  damage was found (with --repair: and dropped)" in capsys.readouterr().out


def test_repair_waits_for_a_live_run_holding_claims(tmp_path):
    db = tmp_path / "s.db"
    fill(db, KEYS[:2], epochs=3)
    sql(db, "UPDATE epochs SET loss = 9 WHERE run_key = 'run-00'")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with Store(db) as store:
            start = Path(f"/proc/{sleeper.pid}/stat")
            token = start.read_text().rsplit(")", 1)[1].split()[19] if start.exists() else ""
            assert store.claim(["run-00"], Owner(Owner.me().host, sleeper.pid, token)) is None
        with pytest.raises(StoreError, match=f"in use by another hyperlab run \\(pid "
                                             f"{sleeper.pid}"):
            check(["--db", str(db), "--repair"])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert check(["--db", str(db), "--repair"]) == 1           # its claims died with it
    assert check(["--db", str(db)]) == 0


# ---------------------------------------------------------------------------- end to end
@pytest.mark.filterwarnings("ignore:Precision loss occurred")   # 2 seeds in the verdict
def test_damaged_runs_are_retrained_and_never_reach_the_summary(tmp_path, capsys):
    study = make_study(tmp_path)
    out = tmp_path / "out"
    argv = ["run", study.source, "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    summary = out / study.name / "summary.csv"
    first = summary.read_text()
    db = out / "hyperlab.db"
    with sqlite3.connect(db) as conn:
        victims = [k for k, in conn.execute("SELECT key FROM runs ORDER BY key LIMIT 2")]
        conn.execute("DELETE FROM epochs WHERE run_key = ? AND epoch > 20", (victims[0],))
        conn.execute("UPDATE epochs SET val_accuracy = 0.0 WHERE run_key = ?", (victims[1],))
    conn.close()
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 stored run(s) are damaged and treated as missing" in err[0]
    assert all(v in err[0] for v in victims)
    rows = list(csv.DictReader(summary.open()))
    assert len(rows) == 4 and all(row["n"] == "2" and not math.isnan(float(row[k]))
                                  for row in rows for k in ("val_accuracy_mean", "loss_mean"))
    untimed = [[{k: v for k, v in row.items() if k != "wall_time_s_mean"} for row in table]
               for table in (rows, list(csv.DictReader(first.splitlines())))]
    assert untimed[0] == untimed[1]                          # retrained: the same numbers
    assert main(["show", study.source, "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""                       # nothing damaged any more


def test_version_2_store_gains_restored_epochs_and_keeps_its_runs(tmp_path):
    """A version-2 store (no restored_epoch column) opens as version 3 with every run intact
    (the checksums of runs without a restored epoch do not change); new runs keep theirs."""
    db = tmp_path / "v2.db"
    old = make_run("old", epochs=3)
    with Store(db) as store:
        store.put_runs([(old, {})], study="s", versions=VERSIONS)
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN restored_epoch")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    restored = make_run("restored", epochs=5, stopped_epoch=4)
    restored.restored_epoch = 1
    with Store(db) as store:
        store.put_runs([(restored, {})], study="s", versions=VERSIONS)
        got = store.get_runs(["old", "restored"])
        assert not store.damaged
    assert got["old"].restored_epoch is None and got["restored"].restored_epoch == 1
    assert same_history(got["old"].history, old.history)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET restored_epoch = 2 WHERE key = 'restored'")
    conn.close()
    with Store(db) as store:
        assert set(store.get_runs(["old", "restored"])) == {"old"}
        assert "checksum does not match" in store.damaged["restored"]
