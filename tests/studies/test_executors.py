"""The three executors: the same stored results under local, processes and Ray; progress and
per-study callbacks across workers; bad input refused before anything is trained or stored.

Ray tests share one local Ray session (2 CPUs) for the module and are skipped, with the
reason, when Ray is not installed (``pip install 'hyperlab[ray]'``)."""
from __future__ import annotations

import socket
import sys
import time
import warnings

import pytest

from hyperlab.cli.main import main
from hyperlab.studies.executors import (CohortsFailed, ExecutorError, make_executor,
                                        run_studies, run_study)
from hyperlab.studies.store import Store

from executor_cases import assert_same, histories, make_study, rows

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


@needs_ray
def test_ray_worker_killed_mid_cohort_is_retried(tmp_path, ray_session, local_results,
                                                 monkeypatch):
    from hyperlab.studies.executors.core import FAULT_ENV
    monkeypatch.setenv(FAULT_ENV, f"0:1:1:{tmp_path}")      # cohort 0, after chunk 1, once
    db = tmp_path / "r.db"
    with Store(db) as store:
        results = run_study(make_study(tmp_path), store, progress=False,
                            executor=make_executor("ray", workers=2))
    assert (tmp_path / "kill-0-0").exists()                   # the worker was killed
    assert rows(db) == (8, 8, 8 * 30, 0)                      # every run, each once
    assert_same(results, local_results)


@needs_ray
def test_ray_cohort_failing_every_attempt_is_reported(tmp_path, ray_session, monkeypatch):
    from hyperlab.studies.executors.core import FAULT_ENV
    monkeypatch.setenv(FAULT_ENV, f"1:0:9:{tmp_path}")      # cohort 1, always
    db = tmp_path / "r.db"
    with Store(db) as store, pytest.raises(CohortsFailed) as info:
        run_study(make_study(tmp_path), store, progress=False,
                  executor=make_executor("ray", workers=2, retries=1))
    assert len(info.value.failures) == 1 and "cohort 1 (4 runs" in str(info.value)
    assert "(attempt 2 of 2)" in str(info.value)
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
