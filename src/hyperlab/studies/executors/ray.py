"""The Ray executor: cohorts as Ray tasks, on an existing cluster (``--address``) or on a
local Ray instance started for the study (``ray.init(num_cpus=workers)``).

Before anything trains, the driver checks that the cluster is reachable (a TCP connect
with a short timeout, so a wrong address fails in seconds, not minutes) and runs one tiny
handshake task: the workers must import hyperlab and run the driver's versions of
hyperlab and JAX (the run keys, and so the store, assume the same numbers everywhere).

Each cohort is one task named after it (``hyperlab cohort 3 of momentum``: the worker's
process title while it trains), with ``num_cpus=1`` (the worker's XLA thread pool sized to
one core, as in the processes executor); as many are in flight as the cluster has CPUs,
so that a cohort is claimed (``Driver.starting``) only when it can start. A task whose
worker dies is retried by the driver, from the cohort's latest checkpoint, up to
``retries`` times (one line says so), then reported as failed; an exception raised by the
training code fails its cohort at once (it would only repeat itself). Workers report
progress and checkpoints through a Ray queue; only the driver writes the store. Ray is
optional: ``pip install 'hyperlab[ray]'``.
"""
from __future__ import annotations

import logging
import os
from collections import deque
import socket
import sys
import warnings
from typing import Any

from hyperlab.studies.executors import core
from hyperlab.studies.executors.processes import _last_line

INSTALL = "pip install 'hyperlab[ray]'"
CONNECT_TIMEOUT_S = 5.0
HANDSHAKE_TIMEOUT_S = 180.0
POLL_S = 0.1


def import_ray():
    """The ``ray`` module, or one clear ExecutorError."""
    try:
        import ray
    except ImportError:
        raise core.ExecutorError(f"--executor ray needs Ray, which is not installed: install "
                                 f"it with {INSTALL}") from None
    return ray


def expected_versions() -> dict[str, str]:
    """What every worker must run (the driver's own versions)."""
    import jax
    from hyperlab._version import __version__
    return {"hyperlab": __version__, "jax": jax.__version__}


def _handshake() -> dict[str, str]:
    """Runs on a Ray worker: the versions it has."""
    import jax
    from hyperlab._version import __version__
    return {"hyperlab": __version__, "jax": jax.__version__,
            "python": ".".join(map(str, sys.version_info[:3]))}


def _train(task: core.CohortTask, queue) -> dict[str, Any]:
    """Runs on a Ray worker: one cohort, progress and checkpoints through ``queue`` (sent
    without waiting: the driver ignores what arrives after the cohort's result)."""
    core.init_worker(share=1)                 # a task holds one CPU
    actor = getattr(queue, "actor", None)

    def report(kind: str, payload: Any) -> None:
        if actor is not None:
            actor.put_nowait.remote((kind, task.index, payload))
        else:
            queue.put_nowait((kind, task.index, payload))
    return core.run_task(task, report)


def check_address(address: str | None) -> tuple[str, int] | None:
    """``(host, port)`` to probe, None for local / 'auto'; ExecutorError if malformed."""
    if address in (None, "", "auto", "local"):
        return None
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise core.ExecutorError(f"--address {address!r}: expected HOST:PORT (the cluster's GCS, "
                                 "e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    return host, int(port)


def probe(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, with one line, when nothing listens at the cluster's address."""
    target = check_address(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__.replace("Error", " error").strip()
        raise core.ExecutorError(
            f"cannot reach the Ray cluster at {address} ({reason} within {timeout:g} s): start "
            "it ('ray start --head') or fix --address") from None


class RayExecutor:
    name = "ray"
    by_study = False

    def __init__(self, address: str | None = None, workers: int | None = None,
                 retries: int = 2) -> None:
        core.check_workers(workers, retries)
        self.ray = import_ray()
        check_address(address)
        self.address, self.workers, self.retries = address, workers, retries
        self.slots = workers or (os.cpu_count() or 1)
        self._owned = False
        self._queue = None

    def _options(self) -> dict[str, Any]:
        return {"num_cpus": 1}

    def check(self) -> None:
        """Before the store is opened: connect (or start Ray) and run the handshake."""
        self.start()

    def start(self) -> None:
        """Connect (or start a local instance), then the handshake: ExecutorError if the
        cluster is unreachable or its workers lack hyperlab or run other versions."""
        ray = self.ray
        if self._queue is not None:
            return
        if not ray.is_initialized():
            probe(self.address)
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                      "log_to_driver": False}
            try:
                with warnings.catch_warnings():   # JAX warns about Ray's fork + exec
                    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
                    if self.address:
                        ray.init(address=self.address, **kwargs)
                    else:
                        ray.init(num_cpus=self.slots, **kwargs)
            except Exception as err:
                raise core.ExecutorError(
                    f"cannot start Ray ({'at ' + self.address if self.address else 'locally'}): "
                    f"{_last_line(err)}") from None
            self._owned = True
        try:
            self.handshake()
            from ray.util.queue import Queue
            self._queue = Queue(actor_options={"num_cpus": 0})
        except BaseException:
            self.close()
            raise

    def handshake(self) -> dict[str, str]:
        ray = self.ray
        want = expected_versions()
        remote = ray.remote(_handshake).options(max_retries=0, **self._options())
        try:
            got = ray.get(remote.remote(), timeout=HANDSHAKE_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise core.ExecutorError(f"the Ray cluster ran no task within "
                                     f"{HANDSHAKE_TIMEOUT_S:g} s (does it have a worker with a "
                                     "free CPU?)") from None
        except Exception as err:
            text = str(err)
            if "No module named 'hyperlab" in text or "No module named \"hyperlab" in text:
                raise core.ExecutorError(
                    f"the Ray cluster's workers cannot import hyperlab: install hyperlab "
                    f"{want['hyperlab']} on every node ({INSTALL})") from None
            raise core.ExecutorError(f"the Ray cluster's workers failed the handshake: "
                                     f"{_last_line(text)}") from None
        wrong = {k: got.get(k) for k in want if got.get(k) != want[k]}
        if wrong:
            theirs = ", ".join(f"{k} {got.get(k)}" for k in want)
            ours = ", ".join(f"{k} {v}" for k, v in want.items())
            raise core.ExecutorError(f"the Ray cluster's workers run {theirs}, this driver {ours}: "
                                     "install the same versions on every node")
        return got

    def close(self) -> None:
        if self._queue is not None:
            try:
                self._queue.shutdown()
            except Exception:
                pass
            self._queue = None
        if self._owned:
            self.ray.shutdown()
            self._owned = False

    def _drain(self, driver: core.Driver) -> None:
        queue = self._queue
        size = queue.qsize()
        if not size:
            return
        for kind, index, payload in queue.get_nowait_batch(size):
            driver.report(index, kind, payload)

    def run(self, tasks: list[core.CohortTask], driver: core.Driver) -> None:
        ray = self.ray
        self.start()
        remote = ray.remote(_train)
        limit = max(self.slots, int(ray.cluster_resources().get("CPU", 0)))
        pending = deque(tasks)                # longest first: they start in this order
        attempts: dict[int, int] = {}
        refs: dict[Any, core.CohortTask] = {}

        def submit() -> None:
            while pending and len(refs) < limit:
                task = pending.popleft()
                if not driver.starting(task.index):       # claimed elsewhere, or stored
                    continue
                attempts[task.index] = attempts.get(task.index, 0) + 1
                task.checkpoint = driver.checkpoint_of(task)
                options = dict(self._options(), name=f"hyperlab {task.name()}", max_retries=0,
                               retry_exceptions=False)
                refs[remote.options(**options).remote(task, self._queue)] = task

        try:
            submit()
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
                self._drain(driver)
                for ref in ready:
                    self._collect(ref, refs.pop(ref), driver, attempts, pending)
                submit()
        finally:
            for ref in refs:                  # interrupted: don't leave work on the cluster
                ray.cancel(ref, force=True)

    def _collect(self, ref, task: core.CohortTask, driver: core.Driver,
                 attempts: dict[int, int], pending: deque) -> None:
        """A finished task: store its cohort, fail it, or (its worker died) retry it."""
        ray = self.ray
        try:
            out = ray.get(ref)
        except ray.exceptions.RayTaskError as err:             # raised by the training code
            cause = getattr(err, "cause", None)
            driver.failed(task.index, _last_line(
                f"{type(cause).__name__}: {cause}" if cause is not None else str(err)))
            return
        except Exception as err:                               # the worker died
            n, error = attempts[task.index], _last_line(str(err))
            if n <= self.retries:
                driver.retrying(task.index, error, n + 1, self.retries + 1)
                pending.appendleft(task)
            else:
                driver.failed(task.index, f"{error} (attempt {n} of {n})")
            return
        driver.finished(task.index, out["results"])
