"""Fault tolerance of the processes executor: a worker SIGKILLed mid-cohort is replaced and
its cohort retried from the checkpoint it sent (the results equal the local executor's),
with one line saying so; a cohort whose worker dies on every attempt is reported as failed
while the others are stored; an exception fails its cohort at once; a killed driver leaves
its finished cohorts stored and no worker behind, and the study resumes. Every planned run
ends in the store exactly once.

Faults come from outside, without races: the test kills a worker from the driver's own
callbacks (``Driver.starting``, ``Driver.checkpoint``), after freezing it with SIGSTOP and
making sure it has not sent anything since (so its cohort is certainly unfinished); a
driver is frozen the same way while the test reads the store, and killed only if the store
is in the state the test needs. Ray's counterparts are in test_executors.py."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hyperlab import studies
from hyperlab.cli.main import main
from hyperlab.studies import executors
from hyperlab.studies.executors import CohortsFailed, Driver, make_executor, run_study
from hyperlab.studies.store import Store

from executor_cases import assert_same, make_study, rows, state, stop

pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")]


def worker_of(executor, index: int):
    return next(w for w in executor._pool if w.task is not None and w.task.index == index)


def kill(worker) -> None:
    worker.process.kill()
    worker.process.join()


def test_worker_killed_mid_cohort_is_replaced_and_the_cohort_retried(
        tmp_path, long_local_results, monkeypatch, capsys):
    executor = make_executor("processes", workers=2)
    killed = []
    real = Driver.checkpoint

    def checkpoint(driver, index, epochs_done, blob):
        real(driver, index, epochs_done, blob)
        if index == 0 and not killed:
            worker = worker_of(executor, 0)
            stop(worker.process.pid)
            if worker.conn.poll():        # it sent more since: it may be done, try later
                worker.process.send_signal(signal.SIGCONT)
            else:                         # nothing since this checkpoint: mid-cohort
                kill(worker)
                killed.append(epochs_done)

    monkeypatch.setattr(Driver, "checkpoint", checkpoint)
    db = tmp_path / "p.db"
    try:
        with Store(db) as store:
            results = run_study(make_study(tmp_path, long=True), store, progress=False,
                                executor=executor)
        assert all(w.process.is_alive() for w in executor._pool)   # the dead one replaced
    finally:
        executor.close()
    assert killed and 0 < killed[0] < 100
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hyperlab: warning: the worker for cohort 0 of "
                                               "two-cohorts died (worker process ")
    assert err[0].endswith("was killed by SIGKILL); retrying (attempt 2 of 3)")
    assert rows(db) == (8, 8, 8 * 100, 0)        # every run once, full histories, no checkpoint
    assert_same(results, long_local_results)     # resumed from its checkpoint: same numbers


@pytest.mark.filterwarnings("ignore:Precision loss occurred")   # 2 seeds in the verdict
def test_cohort_failing_every_attempt_is_reported_and_the_rest_stored(tmp_path, capsys,
                                                                      monkeypatch, local_results):
    study = make_study(tmp_path)
    out = tmp_path / "out"
    executor = make_executor("processes", workers=2, retries=1)
    monkeypatch.setattr(executors, "make_executor", lambda *a, **k: executor)
    kills = []
    real = Driver.starting

    def starting(driver, index):
        go = real(driver, index)
        if go and index == 1:             # its worker dies before it trains, every time
            kill(worker_of(executor, 1))
            kills.append(index)
        return go

    monkeypatch.setattr(Driver, "starting", starting)
    code = main(["run", study.source, "--out", str(out), "--no-progress",
                 "--executor", "processes", "--workers", "2", "--retries", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 2 and kills == [1, 1], err
    assert "the worker for cohort 1 of two-cohorts died" in err[0]
    assert "retrying (attempt 2 of 2)" in err[0]
    assert "1 cohort(s) failed: two-cohorts cohort 1 (4 runs, batch_size 100" in err[1]
    assert "killed by SIGKILL (attempt 2 of 2)" in err[1] and "4 of 8 missing runs" in err[1]
    assert rows(out / "hyperlab.db")[:2] == (4, 4)

    monkeypatch.undo()                                     # run again: it resumes
    assert main(["run", study.source, "--out", str(out), "--no-progress"]) == 0
    assert rows(out / "hyperlab.db") == (8, 8, 8 * 30, 0)
    with Store(out / "hyperlab.db") as store:
        assert_same(run_study(study, store, progress=False), local_results)


CSV_STUDY = """
name = "csv-data"
repeats = 2
[data]
name = "csv"
path = "{path}"
[fit]
epochs = 30
[compile]
optimizer = {{ name = "SGD", learning_rate = 0.01 }}
[[sweep]]
field = "fit.batch_size"
values = [16, 100]
"""


def test_an_exception_fails_its_cohort_at_once(tmp_path, monkeypatch, capsys):
    data = tmp_path / "train.csv"
    points = np.random.default_rng(0).normal(size=(200, 2))
    data.write_text("x1,x2,label\n" + "".join(f"{a:.4f},{b:.4f},{int(a > 0)}\n"
                                              for a, b in points))
    source = tmp_path / "csv-data.toml"
    source.write_text(CSV_STUDY.format(path=data))
    real = Driver.starting

    def starting(driver, index):          # planned; now the data turns bad under the workers
        data.write_text("no label column here\n")
        return real(driver, index)

    monkeypatch.setattr(Driver, "starting", starting)
    with Store(tmp_path / "p.db") as store, pytest.raises(CohortsFailed) as info:
        run_study(studies.load(source), store, progress=False, executor="processes",
                  workers=1, retries=2)
    message = str(info.value)
    assert info.value.results == [None] and "attempt" not in message     # not retried
    assert "2 cohort(s) failed: csv-data cohort 0 (2 runs, batch_size 16" in message
    assert "ValueError: " in message and "no label column 'label'" in message
    assert capsys.readouterr().err == ""                                # no retry line
    assert rows(tmp_path / "p.db") == (0, 0, 0, 0)


LONG = """
name = "driver-kill"
repeats = 2
[fit]
epochs = 400
[compile]
optimizer = { name = "SGD", learning_rate = 0.01 }
[[sweep]]
fields = ["fit.batch_size", "fit.epochs"]
values = [[4, 400], [100, 30]]
"""


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _store_state(db: Path) -> tuple[int, int] | None:
    """(stored runs, checkpoints), None while the store is being created."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        return (conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def test_killed_driver_keeps_finished_cohorts_and_the_study_resumes(tmp_path):
    study = tmp_path / "driver-kill.toml"
    study.write_text(LONG)
    out = tmp_path / "out"
    db = out / "hyperlab.db"
    proc = subprocess.Popen([sys.executable, "-m", "hyperlab", "run", str(study), "--out",
                             str(out), "--no-progress", "--executor", "processes",
                             "--workers", "2"], stderr=subprocess.PIPE)
    workers: set[int] = set()
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            workers.update(_children(proc.pid))
            # the short cohort stored (30 epochs of 5 steps: it ends long before the other,
            # 400 of 125), the long one checkpointed: freeze the driver (the only writer of
            # the store) and kill it if the store still says so
            if db.exists() and _store_state(db) == (2, 1):
                stop(proc.pid)
                if _store_state(db) == (2, 1):
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert rows(db) == (2, 2, 2 * 30, 1)          # the long cohort: a checkpoint, no runs
    deadline = time.time() + 30                    # orphaned workers leave by themselves
    while time.time() < deadline and any(state(pid) not in (None, "Z") for pid in workers):
        time.sleep(0.1)
    assert workers and all(state(pid) in (None, "Z") for pid in workers)
    with Store(db) as store:                       # resumes (here: in this process)
        results = run_study(studies.load(study), store, progress=False)
    assert rows(db) == (4, 4, 2 * 400 + 2 * 30, 0)
    assert sorted(len(r.history["loss"]) for v in results.values for r in v.runs) == [
        30, 30, 400, 400]
