"""The Ray executor: the same stored results as local and processes, bad addresses and
version mismatches refused before training, workers killed from outside (by their process
title, which names the cohort) retried from the latest checkpoint.

The tests share one local Ray session (2 CPUs) and are skipped, with the reason, when Ray
is not installed (``pip install 'hyperlab[ray]'``). (A file of their own, so that the
parallel test run gives them a worker of their own.)"""
from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import warnings

import pytest

from hyperlab.cli.main import main
from hyperlab.studies.executors import (CohortsFailed, Driver, ExecutorError, make_executor,
                                        run_study)
from hyperlab.studies.store import Store

from executor_cases import assert_same, commands, make_study, rows

try:
    import ray
except ImportError:                                        # the optional extra
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed (pip install "
                               "'hyperlab[ray]'); the ray executor's tests need it")

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
