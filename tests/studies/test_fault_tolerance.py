"""Fault tolerance of the processes executor: a worker SIGKILLed mid-cohort is replaced and
its cohort retried from the checkpoint it sent (the results equal the local executor's); a
cohort whose worker dies on every attempt is reported as failed while the others are
stored; a killed driver leaves its finished cohorts stored and no worker behind, and the
study resumes. Every planned run ends in the store exactly once.

Workers are killed by the test hook ``HYPERLAB_TEST_KILL=COHORT:CHUNK:TIMES:DIR``: the
worker training cohort COHORT SIGKILLs itself after CHUNK chunks, on its first TIMES
attempts (marker files in DIR tell attempts apart). Ray's counterpart is in
test_executors.py (one Ray session for the module)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperlab import studies
from hyperlab.cli.main import main
from hyperlab.studies.executors import CohortsFailed, make_executor, run_study
from hyperlab.studies.executors.core import FAULT_ENV
from hyperlab.studies.store import Store

from executor_cases import assert_same, make_study, rows

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    with Store(tmp / "local.db") as store:
        return run_study(make_study(tmp), store, progress=False)


def test_worker_killed_mid_cohort_is_replaced_and_the_cohort_retried(tmp_path, local_results,
                                                                     monkeypatch):
    monkeypatch.setenv(FAULT_ENV, f"0:1:1:{tmp_path}")      # cohort 0, after chunk 1, once
    executor = make_executor("processes", workers=2)
    db = tmp_path / "p.db"
    try:
        with Store(db) as store:
            results = run_study(make_study(tmp_path), store, progress=False, executor=executor)
        assert all(w.process.is_alive() for w in executor._pool)   # the dead one replaced
    finally:
        executor.close()
    assert (tmp_path / "kill-0-0").exists()
    assert rows(db) == (8, 8, 8 * 30, 0)         # every run once, full histories, no checkpoint
    assert_same(results, local_results)          # resumed from chunk 1's checkpoint: same numbers


@pytest.mark.filterwarnings("ignore:Precision loss occurred")   # 2 seeds in the verdict
def test_cohort_failing_every_attempt_is_reported_and_the_rest_stored(tmp_path, capsys,
                                                                      monkeypatch, local_results):
    study = make_study(tmp_path)
    out = tmp_path / "out"
    monkeypatch.setenv(FAULT_ENV, f"1:0:99:{tmp_path}")     # cohort 1, on every attempt
    code = main(["run", study.source, "--out", str(out), "--no-progress",
                 "--executor", "processes", "--workers", "2", "--retries", "1"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "1 cohort(s) failed: two-cohorts cohort 1 (4 runs, batch_size 100" in err
    assert "killed by SIGKILL (attempt 2 of 2)" in err and "4 of 8 missing runs" in err
    assert sorted(p.name for p in tmp_path.glob("kill-*")) == ["kill-1-0", "kill-1-1"]
    assert rows(out / "hyperlab.db")[:2] == (4, 4)

    monkeypatch.delenv(FAULT_ENV)                          # the same command again: resumes
    assert main(["run", study.source, "--out", str(out), "--no-progress",
                 "--executor", "processes", "--workers", "2"]) == 0
    assert rows(out / "hyperlab.db") == (8, 8, 8 * 30, 0)
    with Store(out / "hyperlab.db") as store:
        assert_same(run_study(study, store, progress=False), local_results)


def test_an_exception_fails_its_cohort_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "raise:0:1")            # cohort 0 raises after chunk 1
    with Store(tmp_path / "p.db") as store, pytest.raises(CohortsFailed) as info:
        run_study(make_study(tmp_path), store, progress=False, executor="processes",
                  workers=1, retries=2)
    message = str(info.value)
    assert info.value.results == [None] and "attempt" not in message     # not retried
    assert "cohort 0 (4 runs, batch_size 64" in message
    assert "RuntimeError: injected failure in cohort 0 after chunk 1" in message
    assert rows(tmp_path / "p.db") == (4, 4, 4 * 30, 1)   # cohort 1 stored, 0 checkpointed


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


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
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
            if db.exists() and rows(db)[0] >= 2:             # the short cohort is stored
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert rows(db)[:2] == (2, 2)                   # the long cohort was still training
    deadline = time.time() + 30                      # orphaned workers leave by themselves
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    alive = [p for p in workers if Path(f"/proc/{p}").exists()
             and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]]
    assert workers and not alive
    with Store(db) as store:
        results = run_study(studies.load(study), store, progress=False,
                            executor="processes", workers=2)
    assert rows(db) == (4, 4, 2 * 400 + 2 * 30, 0)
    assert sorted(len(r.history["loss"]) for v in results.values for r in v.runs) == [
        30, 30, 400, 400]
