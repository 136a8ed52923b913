"""The local and processes executors: the same stored results; progress and per-study
callbacks across workers; a checkpoint that cannot restore its cohort discarded; bad input
refused before anything is trained or stored. (Ray: tests/studies/test_ray_executor.py.)"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest

from hyperlab.cli.main import main
from hyperlab.studies import planner
from hyperlab.studies.executors import (CheckpointError, build_cohort, make_executor, restore,
                                        run_studies, run_study, snapshot)
from hyperlab.studies.executors.processes import ProcessExecutor
from hyperlab.studies.store import Store, read_npz

from executor_cases import assert_same, histories, make_study, rows


@pytest.fixture(scope="module")
def pool():
    """Two worker processes, shared by the module's tests."""
    executor = make_executor("processes", workers=2)
    executor.start()
    yield executor
    executor.close()


# ---------------------------------------------------------------------------- processes
def test_processes_store_the_same_results_as_local(tmp_path, local_results, pool):
    db = tmp_path / "p.db"
    with Store(db) as store:
        results = run_study(make_study(tmp_path), store, progress=False, executor=pool)
    assert_same(results, local_results)
    assert rows(db) == (8, 8, 8 * 30, 0)


def test_progress_and_per_study_callbacks_cover_every_worker(tmp_path, pool, capsys):
    done = []
    with Store(tmp_path / "p.db") as store:
        out = run_studies([make_study(tmp_path, "first"), make_study(tmp_path, "second")], store,
                          executor=pool, on_done=lambda s, r, t: done.append((s.name, len(
                              histories(r)), t)))
    assert [(name, n) for name, n, _ in done] == [("first", 8), ("second", 8)]
    assert all(t > 0 for _, _, t in done) and [r.name for r in out] == ["first", "second"]
    err = capsys.readouterr().err
    assert "480/480" in err and "run-epoch" in err and "cohorts 4/4" in err


def test_cli_run_with_processes_then_nothing_left_to_train(tmp_path, capsys, monkeypatch):
    study = make_study(tmp_path)
    argv = ["run", study.source, "--out", str(tmp_path / "out"), "--no-progress",
            "--executor", "processes", "--workers", "2", "--memory-budget", "1G"]
    assert main(argv) == 0, capsys.readouterr().err
    assert rows(tmp_path / "out" / "hyperlab.db")[:2] == (8, 8)
    # everything stored: no worker is started (asked directly, not timed: a loaded machine
    # is slow either way)
    monkeypatch.setattr(ProcessExecutor, "_spawn",
                        lambda self: pytest.fail("a worker was started with nothing to train"))
    assert main(argv) == 0
    assert "momentum" in capsys.readouterr().out.lower()
    assert rows(tmp_path / "out" / "hyperlab.db")[:2] == (8, 8)


# ---------------------------------------------------------------------------- checkpoints
def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _edit(blob: bytes, edit) -> bytes:
    arrays = read_npz(blob)
    edit(arrays)
    return _npz(arrays)


@pytest.fixture(scope="module")
def first_cohort(tmp_path_factory):
    """The small study's first cohort (4 runs) and a snapshot of it after one chunk."""
    study = make_study(tmp_path_factory.mktemp("cohort"))
    (group, *_) = planner.cohorts(planner.plan(study)[1])
    cohort = build_cohort(group)
    cohort.advance()
    return group, snapshot(cohort, 1.5)


def test_restore_refuses_a_checkpoint_that_does_not_fit_and_leaves_the_cohort_as_built(
        first_cohort):
    group, blob = first_cohort
    fresh = build_cohort(group)
    assert restore(fresh, blob) == 1.5 and fresh.epochs_done() == [25] * 4
    bad = {
        "truncated": (blob[: len(blob) // 2], "not a complete npz archive"),
        "bytes changed": (blob[:200] + bytes(64) + blob[264:], "not a complete npz archive"),
        "not npz": (b"\x80\x04\x95 a pickle", "not an npz archive"),
        "array missing": (_edit(blob, lambda a: a.pop("carry_2_0")), "carry_2_0 is missing"),
        "other shape": (_edit(blob, lambda a: a.update(carry_0_0=np.zeros((3, 3), "f4"))),
                        "carry_0_0 is float32[3, 3] where the cohort has int32[]"),
        "more runs": (_edit(blob, lambda a: a.update(carry_4_0=a["carry_0_0"])),
                      "another cohort's"),
        "log shape": (_edit(blob, lambda a: a.update(log_0_ran=a["log_0_ran"][:2])),
                      "log log_0_ran has shape [2, 25]"),
        "no time": (_edit(blob, lambda a: a.pop("seconds")), "'seconds') is missing"),
    }
    for name, (damaged, message) in bad.items():
        cohort = build_cohort(group)
        before = [np.asarray(x) for c in cohort.carries for x in jax_leaves(c)]
        with pytest.raises(CheckpointError, match=re.escape(message)):
            restore(cohort, damaged)
        after = [np.asarray(x) for c in cohort.carries for x in jax_leaves(c)]
        assert cohort.logs == [] and all(np.array_equal(x, y) for x, y in zip(before, after)), \
            name


def jax_leaves(tree):
    import jax
    return jax.tree.leaves(tree)


@pytest.mark.parametrize("executor", ["local", "pool"])
def test_unreadable_checkpoint_is_discarded_and_its_cohort_restarts(tmp_path, executor, capsys,
                                                                     local_results, first_cohort,
                                                                     request):
    group, blob = first_cohort
    db = tmp_path / "r.db"
    with Store(db) as store:
        store.save_checkpoint(planner.cohort_key(group), 25, blob[: len(blob) - 300])
        results = run_study(make_study(tmp_path), store, progress=False,
                            executor=request.getfixturevalue(executor)
                            if executor == "pool" else executor)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "allow_pickle" not in err[0], err
    assert err[0].startswith("hyperlab: warning: the checkpoint of cohort 0 of two-cohorts "
                             "cannot be used (not a complete npz archive")
    assert err[0].endswith("it was discarded and the cohort restarts from epoch 0")
    assert rows(db) == (8, 8, 8 * 30, 0)
    assert_same(results, local_results)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, message", [
    (["--executor", "processes", "--workers", "0"], "--workers: expected an int >= 1, found 0"),
    (["--executor", "processes", "--retries", "-1"], "--retries"),
    (["--executor", "threads"], "invalid choice: 'threads'"),
    (["--address", "10.0.0.1:6379"], "use it with --executor ray"),
    (["--workers", "3"], "use --executor processes"),
    (["--max-cohort-runs", "0"], "--max-cohort-runs"),
    (["--memory-budget", "lots"], "--memory-budget"),
])
def test_bad_executor_flags_are_one_line_and_write_nothing(tmp_path, capsys, argv, message):
    study = make_study(tmp_path)
    out = tmp_path / "out"
    assert main(["run", study.source, "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (out / "hyperlab.db").exists()


def test_memory_budget_sizes():
    from hyperlab.cli.studies import _size
    assert _size("4G") == 4 << 30 and _size("512MiB") == 512 << 20 and _size("1000") == 1000
    assert _size("1.5k") == 1536


def test_every_executor_has_the_protocols_members():
    from hyperlab.studies.executors import Executor
    from hyperlab.studies.executors.local import LocalExecutor
    from hyperlab.studies.executors.processes import ProcessExecutor
    from hyperlab.studies.executors.ray import RayExecutor
    members = {"check", "start", "run", "close"} | set(Executor.__annotations__) - {"slots"}
    for cls in (LocalExecutor, ProcessExecutor, RayExecutor):
        assert members <= set(dir(cls)), cls
