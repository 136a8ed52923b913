"""The three executors: the same stored results under local, processes and Ray; progress and
per-study callbacks across workers; a checkpoint that cannot restore its cohort discarded;
bad input refused before anything is trained or stored; Ray workers killed from outside
(by their process title, which names the cohort) retried from the latest checkpoint.

Ray tests share one local Ray session (2 CPUs) for the module and are skipped, with the
reason, when Ray is not installed (``pip install 'hyperlab[ray]'``)."""
from __future__ import annotations

import io
import os
import re
import signal
import socket
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from hyperlab.cli.main import main
from hyperlab.studies import planner
from hyperlab.studies.executors import (CheckpointError, CohortsFailed, Driver, ExecutorError,
                                        build_cohort, make_executor, restore, run_studies,
                                        run_study, snapshot)
from hyperlab.studies.store import Store, read_npz

from executor_cases import assert_same, commands, histories, make_study, rows

try:
    import ray
except ImportError:                                        # the optional extra
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed (pip install "
                               "'hyperlab[ray]'); the ray executor's tests need it")

@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    with Store(tmp / "local.db") as store:
        return run_study(make_study(tmp), store, progress=False)


@pytest.fixture(scope="module")
def long_local_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("long")
    with Store(tmp / "local.db") as store:
        return run_study(make_study(tmp, long=True), store, progress=False)


@pytest.fixture(scope="module")
def pool():
    """Two worker processes, shared by the module's tests."""
    executor = make_executor("processes", workers=2)
    executor.start()
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def ray_session():
    if ray is None:
        pytest.skip("Ray is not installed (pip install 'hyperlab[ray]')")
    started = not ray.is_initialized()
    if started:
        with warnings.catch_warnings():                   # JAX warns about Ray's fork + exec
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


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


@pytest.mark.filterwarnings("ignore:Precision loss occurred")   # 2 seeds in the verdict
def test_cli_run_with_processes_then_nothing_left_to_train(tmp_path, capsys):
    study = make_study(tmp_path)
    argv = ["run", study.source, "--out", str(tmp_path / "out"), "--no-progress",
            "--executor", "processes", "--workers", "2", "--memory-budget", "1G"]
    assert main(argv) == 0, capsys.readouterr().err
    assert rows(tmp_path / "out" / "hyperlab.db")[:2] == (8, 8)
    start = time.perf_counter()
    assert main(argv) == 0                     # everything stored: no worker is started
    assert time.perf_counter() - start < 3 and "momentum" in capsys.readouterr().out.lower()


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


def test_ray_missing_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)          # import ray -> ImportError
    with pytest.raises(ExecutorError, match=r"pip install 'hyperlab\[ray\]'"):
        make_executor("ray")


@needs_ray
def test_unreachable_ray_address_fails_fast_writing_nothing(tmp_path, capsys):
    with socket.socket() as s:                              # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    start = time.perf_counter()
    code = main(["run", make_study(tmp_path).source, "--out", str(out), "--executor", "ray",
                 "--address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "cannot reach the Ray cluster" in err and time.perf_counter() - start < 10
    assert not (out / "hyperlab.db").exists()
    with pytest.raises(ExecutorError, match="HOST:PORT"):
        make_executor("ray", address="no-port-here")


# ---------------------------------------------------------------------------- Ray
@needs_ray
def test_ray_stores_the_same_results_as_local_and_processes(tmp_path, ray_session,
                                                             local_results):
    db = tmp_path / "r.db"
    executor = make_executor("ray", workers=2)
    with Store(db) as store:
        results = run_study(make_study(tmp_path), store, progress=False, executor=executor)
    executor.close()
    assert ray_session.is_initialized()                      # not ours to shut down
    assert_same(results, local_results)
    assert rows(db) == (8, 8, 8 * 30, 0)


def _kill_titled(title: bytes) -> list[int]:
    """SIGKILL the processes whose title starts with ``title``; their pids."""
    killed = []
    for pid, command in commands().items():
        if command.startswith(title):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed


@needs_ray
def test_ray_worker_killed_mid_cohort_is_retried_from_its_checkpoint(
        tmp_path, ray_session, long_local_results, monkeypatch, capsys):
    killed: list[int] = []
    real = Driver.checkpoint

    def checkpoint(driver, index, epochs_done, blob):     # 75 epochs of 100 still to train
        real(driver, index, epochs_done, blob)
        if index == 0 and not killed:
            killed.extend(_kill_titled(b"ray::hyperlab cohort 0 of two-cohorts\0"))

    monkeypatch.setattr(Driver, "checkpoint", checkpoint)
    db = tmp_path / "r.db"
    with Store(db) as store:
        results = run_study(make_study(tmp_path, long=True), store, progress=False,
                            executor=make_executor("ray", workers=2))
    assert len(killed) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hyperlab: warning: the worker for cohort 0 of "
                                               "two-cohorts died (")
    assert err[0].endswith("; retrying (attempt 2 of 3)")
    assert rows(db) == (8, 8, 8 * 100, 0)                     # every run, each once
    assert_same(results, long_local_results)


@needs_ray
def test_ray_cohort_failing_every_attempt_is_reported(tmp_path, ray_session, capsys):
    done = threading.Event()
    killed: list[int] = []

    def killer():                        # cohort 1's worker dies as soon as it starts it
        while not done.is_set():
            killed.extend(_kill_titled(b"ray::hyperlab cohort 1 of two-cohorts\0"))
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    db = tmp_path / "r.db"
    try:
        with Store(db) as store, pytest.raises(CohortsFailed) as info:
            run_study(make_study(tmp_path), store, progress=False,
                      executor=make_executor("ray", workers=2, retries=1))
    finally:
        done.set()
        thread.join()
    assert len(set(killed)) == 2
    assert len(info.value.failures) == 1 and "cohort 1 (4 runs" in str(info.value)
    assert "(attempt 2 of 2)" in str(info.value)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "retrying (attempt 2 of 2)" in err[0]
    assert rows(db)[:2] == (4, 4)                              # cohort 0 is stored


@needs_ray
def test_ray_version_mismatch_is_refused_before_training(tmp_path, ray_session, monkeypatch):
    from hyperlab.studies.executors import ray as ray_executor
    real = ray_executor.expected_versions()
    monkeypatch.setattr(ray_executor, "expected_versions",
                        lambda: dict(real, hyperlab="0.0.0-driver"))
    db = tmp_path / "r.db"
    with Store(db) as store, pytest.raises(ExecutorError) as info:
        run_study(make_study(tmp_path), store, progress=False,
                  executor=make_executor("ray", workers=2))
    message = str(info.value)
    assert "\n" not in message and f"hyperlab {real['hyperlab']}" in message
    assert "hyperlab 0.0.0-driver" in message and "same versions" in message
    assert rows(db) == (0, 0, 0, 0)


@needs_ray
def test_ray_cluster_without_hyperlab_is_one_clear_line(tmp_path, ray_session, monkeypatch):
    from hyperlab.studies.executors import ray as ray_executor

    def handshake():                                      # what a worker without it raises
        raise ModuleNotFoundError("No module named 'hyperlab'")

    monkeypatch.setattr(ray_executor, "_handshake", handshake)
    with pytest.raises(ExecutorError, match=r"cannot import hyperlab: install hyperlab "):
        make_executor("ray", workers=2).start()
