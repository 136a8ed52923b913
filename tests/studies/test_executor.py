"""Planning into cohorts (longest first, bounded by a memory budget), training with the
local executor, reuse of stored runs, resume after a killed process."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

import hyperlab as hl
from hyperlab import studies
from hyperlab.studies import planner
from hyperlab.studies.executors import run_study
from hyperlab.studies.store import Store

SMALL = """
name = "small"
axis = "Momentum"
repeats = 2
[fit]
epochs = {epochs}
batch_size = {batch}
[compile]
optimizer = {{ name = "SGD", learning_rate = 0.01 }}
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""


def small_study(tmp_path, epochs=6, batch=64):
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(epochs=epochs, batch=batch))
    return studies.load(path)


@pytest.mark.parametrize("name, n_cohorts", [("momentum", 1), ("optimizers", 6), ("batch-size", 8),
                                             ("epochs", 1), ("gradient-descent-flavours", 3)])
def test_runs_that_share_a_program_form_one_cohort(name, n_cohorts):
    study = studies.get(name).with_overrides(repeats=3)
    _, runs = planner.plan(study)
    groups = planner.cohorts(runs)
    assert len(groups) == n_cohorts and sum(map(len, groups)) == len(runs)
    work = [planner.cost(g) for g in groups]
    assert work == sorted(work, reverse=True)  # longest first
    assert len(planner.cohorts(runs, max_runs=2)) >= len(runs) // 2


def test_cohort_cost_counts_steps_and_the_memory_budget_bounds_cohort_size():
    study = studies.get("batch-size").with_overrides(repeats=3)
    _, runs = planner.plan(study)
    first, *_, last = planner.cohorts(runs)
    assert first[0].config["fit"]["batch_size"] == 4           # 125 steps an epoch: first
    assert planner.steps_per_epoch(last[0].config) == 2        # 256 or 450 of 500 samples
    momentum = planner.plan(studies.get("momentum").with_overrides(repeats=10))[1]
    per_run = planner.run_bytes(momentum[0].config)
    assert 10_000 < per_run < 10_000_000
    bounded = planner.cohorts(momentum, memory_budget=3 * per_run)
    assert [len(g) for g in bounded] == [3] * 13 + [1]
    assert planner.cohorts(momentum, max_runs=512, memory_budget=1) != []     # ≥ 1 run each
    wide = dict(momentum[0].config, model=dict(momentum[0].config["model"], hidden=[500, 500]))
    adam = dict(momentum[0].config, compile=dict(momentum[0].config["compile"],
                                                 optimizer={"name": "Adam"}))
    assert planner.run_bytes(wide) > 10 * per_run
    assert planner.run_bytes(adam) > per_run                    # two slots against one
    assert planner.default_memory_budget() == planner.physical_memory() // 4


def test_study_runs_equal_runs_trained_one_by_one(tmp_path):
    study = small_study(tmp_path)
    with Store(tmp_path / "r.db") as store:
        results = run_study(study, store, progress=False)
    (x, y), (vx, vy) = hl.datasets.blobs()
    y, vy = hl.datasets.to_categorical(y), hl.datasets.to_categorical(vy)
    for value, momentum in zip(results.values, [0.0, 0.9]):
        assert len(value.runs) == 2
        for run in value.runs:
            model = hl.Sequential([hl.layers.Input((2,)),
                                   hl.layers.Dense(50, "relu", kernel_initializer="he_uniform"),
                                   hl.layers.Dense(3, "softmax")], seed=run.seed)
            model.compile(hl.optimizers.SGD(0.01, momentum=momentum), "categorical_crossentropy",
                          ["accuracy"])
            alone = model.fit(x, y, batch_size=64, epochs=6, seed=run.seed, verbose=0,
                              validation_data=(vx, vy))
            for key, values in alone.history.items():   # the same executable: bit for bit
                assert np.array_equal(run.history[key], values), key
            assert run.updates == 8 * 6


def test_stored_runs_are_reused_and_new_repeats_train_only_new_seeds(tmp_path, monkeypatch):
    study = small_study(tmp_path)
    from hyperlab.studies.executors import core
    trained = []
    original = core.train
    monkeypatch.setattr(core, "train",
                        lambda group, *a, **k: trained.extend(group) or original(group, *a, **k))
    with Store(tmp_path / "r.db") as store:
        first = run_study(study, store, progress=False)
        assert len(trained) == 4
        again = run_study(study, store, progress=False)
        assert len(trained) == 4  # nothing trained
        more = run_study(study.with_overrides(repeats=3), store, progress=False)
        assert len(trained) == 6 and {r.seed for r in trained[4:]} == {2}
        assert store.count_runs() == 6
    for a, b, c in zip(first.values, again.values, more.values):
        assert [r.history for r in a.runs] == [r.history for r in b.runs]
        assert [r.history for r in a.runs] == [r.history for r in c.runs[:2]]


KILLED = """
import sys
from hyperlab import studies
from hyperlab.studies.executors import run_study
from hyperlab.studies.store import Store
with Store(sys.argv[2]) as store:
    run_study(studies.load(sys.argv[1]), store, progress=False)
"""


def test_killed_study_resumes_from_its_last_chunk(tmp_path):
    study = small_study(tmp_path, epochs=400, batch=4)
    db = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, study.source, str(db)])
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if db.exists():
                with sqlite3.connect(db) as conn:
                    try:
                        if conn.execute("select count(*) from checkpoints").fetchone()[0]:
                            break
                    except sqlite3.OperationalError:
                        pass
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Store(db) as store:
        assert store.count_runs() == 0 and len(planner.plan(study)[1]) == 4
        (cohort,) = planner.cohorts(planner.plan(study)[1])
        done, _ = store.load_checkpoint(planner.cohort_key(cohort))
        assert 0 < done < 400
        resumed = run_study(study, store, progress=False)
        assert store.count_runs() == 4
    with Store(tmp_path / "clean.db") as store:
        clean = run_study(study, store, progress=False)
    for a, b in zip(resumed.values, clean.values):
        for ra, rb in zip(a.runs, b.runs):
            assert ra.key == rb.key and ra.epochs_run == 400
            for key in rb.history:
                np.testing.assert_allclose(ra.history[key], rb.history[key], rtol=1e-6, atol=1e-7)
