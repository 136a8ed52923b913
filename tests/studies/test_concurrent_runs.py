"""Concurrent runs on one store split the work: a driver claims a cohort's runs before it
trains them, skips cohorts that another live process claimed, waits for them and reads
them from the store; the claims of a dead process are taken over. The two-process test is
race-free: the first driver is frozen (SIGSTOP) while it holds a claim, the second trains
everything else and waits, and only then is the first one killed."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hyperlab.studies import planner
from hyperlab.studies.store import STALE_S, Owner, Store, _process_start

from executor_cases import make_study, rows, state, stop

pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX signals"),
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")]


def owner_of(proc: subprocess.Popen) -> Owner:
    return Owner(Owner.me().host, proc.pid, _process_start(proc.pid))


def claims(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT run_key, owner FROM claims"))
    finally:
        conn.close()


def test_claims_hold_for_live_owners_and_are_taken_over_from_dead_or_silent_ones(tmp_path):
    me = Owner.me()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    try:
        live, dead = owner_of(sleeper), owner_of(gone)
        while state(gone.pid) != "Z":                          # exited, not reaped yet
            time.sleep(0.01)
        reused = Owner(me.host, sleeper.pid, "0")           # its pid, another process's start
        far = Owner("another-host", 4242, "1")
        with Store(tmp_path / "s.db") as store:
            assert store.claim(["a", "b"], live) is None
            assert store.claim(["b", "c"], me) == live          # all or nothing
            assert claims(store.path) == {"a": live.id, "b": live.id}
            assert store.claim(["c"], me) is None and store.claim(["c"], live) == me
            for gone_owner, key in ((dead, "zombie"), (reused, "reused")):
                assert store.claim([key], gone_owner) is None
                assert store.claim([key], me) is None           # taken over at once
            gone.wait()
            assert store.claim(["reaped"], dead) is None and store.claim(["reaped"], me) is None
            assert store.claim(["f"], far) is None and store.claim(["f"], me) == far
            store._conn.execute("UPDATE claims SET heartbeat = heartbeat - ? WHERE owner = ?",
                                (STALE_S + 1, far.id))
            assert store.claim(["f"], me) is None               # silent too long
            assert store.live_claimers() == [live]
            store.release(me)
            assert claims(store.path) == {"a": live.id, "b": live.id}
    finally:
        sleeper.kill()
        sleeper.wait()
        gone.wait()


DRIVER = """
import os, sys
from hyperlab import studies
from hyperlab.studies.executors import core, run_study
from hyperlab.studies.store import Store

train = core.train

def logged(group, *args, **kwargs):          # which runs this process trained to the end
    results = train(group, *args, **kwargs)
    with open(sys.argv[1], "a") as log:
        log.write("".join(f"{run.key}\\n" for run in group))
    return results

core.train = logged
with Store(sys.argv[3]) as store:
    run_study(studies.load(sys.argv[2]), store, progress=False, max_cohort_runs=1)
"""


def _wait(condition, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_two_drivers_split_the_work_and_a_killed_ones_claim_is_taken_over(tmp_path):
    study = make_study(tmp_path)
    keys = {r.key for r in planner.plan(study)[1]}
    db = tmp_path / "shared.db"
    Store(db).close()
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    err_b = tmp_path / "b.err"

    def start(name: str, stderr=None) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", DRIVER, str(logs[name]), study.source,
                                 str(db)], stderr=stderr)

    def held(proc: subprocess.Popen) -> set[str]:
        """Runs ``proc`` claimed and has not stored."""
        conn = sqlite3.connect(db)
        try:
            return {k for k, in conn.execute(
                "SELECT run_key FROM claims WHERE pid = ? AND run_key NOT IN "
                "(SELECT key FROM runs)", (proc.pid,))}
        finally:
            conn.close()

    def writable() -> bool:
        conn = sqlite3.connect(db, timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()

    a = start("a")
    b = None
    try:
        while True:                      # freeze A while it trains a cohort it claimed
            _wait(lambda: held(a) or a.poll() is not None, "A to claim a cohort")
            assert a.poll() is None, "A ended before it could be frozen"
            stop(a.pid)
            frozen = held(a)
            done = set(logs["a"].read_text().split()) if logs["a"].exists() else set()
            if frozen and not frozen & done and writable():   # still training it, and
                break                                         # not inside a write
            os.kill(a.pid, signal.SIGCONT)
        with open(err_b, "w") as err:
            b = start("b", stderr=err)
        stored = lambda: rows(db)[0]     # noqa: E731
        _wait(lambda: stored() == len(keys) - len(frozen) or b.poll() is not None,
              "B to train every cohort A does not hold")
        _wait(lambda: "waiting for" in err_b.read_text() or b.poll() is not None,
              "B to wait for A")
        time.sleep(1.5)                  # B polls the claim; A, frozen, is alive: B waits
        assert b.poll() is None and held(a) == frozen
        assert frozen.isdisjoint(logs["b"].read_text().split())
        a.kill()                         # A dies with its claim: B takes it over
        a.wait()
        assert b.wait(120) == 0, err_b.read_text()
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    trained = {name: log.read_text().split() if log.exists() else []
               for name, log in logs.items()}
    counts = Counter(trained["a"] + trained["b"])
    assert set(counts) == keys and set(counts.values()) == {1}     # each run trained once
    assert frozen <= set(trained["b"])                              # taken over
    assert rows(db) == (8, 8, 8 * 30, 0) and claims(db) == {}
    message = err_b.read_text().strip().splitlines()
    assert message == [f"hyperlab: warning: waiting for 1 cohort(s) that another hyperlab "
                       f"run (pid {a.pid} on {Owner.me().host}) is training"]
