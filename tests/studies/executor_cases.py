"""The small study both executor test modules train: two cohorts (batch 64: 8 steps an
epoch, batch 100: 5), 4 runs each, 30 epochs (2 chunks); and how to compare stores."""
from __future__ import annotations

import sqlite3

import numpy as np

from hyperlab import studies

STUDY = """
name = "{name}"
axis = "Momentum"
repeats = 2
[fit]
epochs = 30
[compile]
optimizer = {{ name = "SGD", learning_rate = 0.01 }}
[[sweep]]
field = "fit.batch_size"
values = [64, 100]
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""


def make_study(tmp_path, name="two-cohorts"):
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(name=name))
    return studies.load(path)


def histories(results):
    return {r.key: r.history for v in results.values for r in v.runs}


def assert_same(a, b, tol=1e-6):
    ha, hb = histories(a), histories(b)
    assert ha.keys() == hb.keys() and len(ha) == 8
    for key in ha:
        assert ha[key].keys() == hb[key].keys()
        for name in ha[key]:
            np.testing.assert_allclose(ha[key][name], hb[key][name], rtol=tol, atol=tol)


def rows(db):
    """(runs, distinct keys, epoch rows, checkpoints) in a store file."""
    with sqlite3.connect(db) as conn:
        return (*conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs").fetchone(),
                conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])
