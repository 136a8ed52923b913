"""The small study the executor test modules train: two cohorts (batch 64: 8 steps an
epoch, batch 100: 5), 4 runs each, 30 epochs (2 chunks); a longer one whose first cohort
trains for a while after each of its checkpoints (batch 4: 125 steps an epoch, 100 epochs:
4 chunks); how to compare stores; and how to find, stop and kill processes."""
from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np

from hyperlab import studies

STUDY = """
name = "{name}"
axis = "Momentum"
repeats = 2
[fit]
epochs = {epochs}
[compile]
optimizer = {{ name = "SGD", learning_rate = 0.01 }}
[[sweep]]
field = "fit.batch_size"
values = [{batch}, 100]
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""


def make_study(tmp_path, name="two-cohorts", long=False):
    """The small study, or (``long``) the longer one."""
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(name=name, epochs=100 if long else 30, batch=4 if long else 64))
    return studies.load(path)


def histories(results):
    return {r.key: r.history for v in results.values for r in v.runs}


def assert_same(a, b):
    """Bit for bit: on one machine every executor trains a run with the same program and
    the same XLA thread pool (see ``core.init_worker``), whatever cohort it is in."""
    ha, hb = histories(a), histories(b)
    assert ha.keys() == hb.keys() and len(ha) == 8
    for key in ha:
        assert ha[key].keys() == hb[key].keys()
        for name in ha[key]:
            assert np.array_equal(ha[key][name], hb[key][name], equal_nan=True), (key, name)


def rows(db):
    """(runs, distinct keys, epoch rows, checkpoints) in a store file."""
    with sqlite3.connect(db) as conn:
        return (*conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs").fetchone(),
                conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])


def state(pid: int) -> str | None:
    """A process's state letter (R, S, T for stopped, Z...), None once it is gone (Linux)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def stop(pid: int) -> None:
    """SIGSTOP ``pid`` and wait until it is stopped: from then on it changes nothing."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.time() + 10
    while state(pid) not in ("T", "t", None) and time.time() < deadline:
        time.sleep(0.001)


def commands() -> dict[int, bytes]:
    """The command line (its title, for Ray workers) of every process descended from this
    one, by pid: tests running at the same time in other processes keep theirs."""
    parents, lines = {}, {}
    for path in Path("/proc").glob("[0-9]*"):
        try:
            stat = (path / "stat").read_text()
            parents[int(path.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            lines[int(path.name)] = (path / "cmdline").read_bytes()
        except (OSError, ValueError):
            pass

    def descends(pid: int) -> bool:
        seen = set()
        while pid > 1 and pid not in seen:
            seen.add(pid)
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return {pid: line for pid, line in lines.items() if descends(pid)}
