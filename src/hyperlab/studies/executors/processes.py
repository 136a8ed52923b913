"""The processes executor: N worker processes on this machine, each training whole cohorts.

Workers are started with ``spawn`` (a fresh interpreter: no inherited JAX state) and each
talks to the driver over its own pipe, so the driver always knows which cohort each worker
holds: a worker that dies (SIGKILL, out of memory, a crash) is noticed by its process
sentinel, replaced, and its cohort retried — from the last checkpoint the worker sent —
up to ``retries`` times, then reported as failed while the other cohorts go on. An
exception raised while training (bad data, a bug) would only repeat itself: the cohort is
reported as failed at once.

Each worker gets an XLA CPU thread pool of its own sized to its share of the cores (N
workers with pools of every core would only oversubscribe the machine; see
``core.init_worker``) and uses the persistent compilation cache, so a program compiled by
one worker (or an earlier run) is loaded, not compiled, by the others.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections import deque
from multiprocessing.connection import wait
from typing import Any

from hyperlab.studies.executors import core

POLL_S = 0.5


def _worker_main(conn, slot: int, share: int) -> None:
    """A worker: receive tasks, send progress, checkpoints and results, until told to stop
    or the driver is gone (its end of the pipe closed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # Ctrl-C is the driver's to handle
    core.init_worker(share, slot)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            out = core.run_task(task, lambda kind, payload, i=task.index:
                                conn.send((kind, i, payload)))
            message: tuple[str, int, Any] = ("done", task.index, out)
        except Exception:
            message = ("error", task.index, traceback.format_exc())
        try:
            conn.send(message)
        except (OSError, ValueError):
            return


def _describe_exit(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker process {process.pid} was killed by {name}"
    return f"worker process {process.pid} exited with code {code}"


def _last_line(text: str) -> str:
    lines = [l for l in str(text).strip().splitlines() if l.strip()]
    return lines[-1].strip() if lines else "unknown error"


class _Worker:
    def __init__(self, context, number: int, slot: int, share: int) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child, slot, share),
                                       daemon=True, name=f"hyperlab-worker-{number}")
        self.process.start()
        child.close()
        self.task: core.CohortTask | None = None

    def stop(self, kill: bool = False) -> None:
        try:
            if kill or self.task is not None:
                self.process.kill()
            else:
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class ProcessExecutor:
    name = "processes"
    by_study = False          # longest cohorts first across all studies

    def __init__(self, workers: int | None = None, retries: int = 2) -> None:
        workers = (os.cpu_count() or 1) if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise core.ExecutorError(f"--workers: expected an int >= 1, found {workers!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise core.ExecutorError(f"--retries: expected an int >= 0, found {retries!r}")
        self.workers, self.retries, self.slots = workers, retries, workers
        self._context = multiprocessing.get_context("spawn")
        self._pool: list[_Worker] = []
        self._spawned = 0

    def describe(self) -> str:
        return f"processes ({self.workers} workers)"

    def _spawn(self, slot: int) -> _Worker:
        self._spawned += 1
        share = max(1, (os.cpu_count() or 1) // self.workers)
        return _Worker(self._context, self._spawned, slot, share)

    def check(self) -> None:
        """Nothing to check before the store is opened (workers start when there is work)."""

    def start(self) -> None:
        if not self._pool:
            self._pool = [self._spawn(slot) for slot in range(self.workers)]

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool = []

    def run(self, tasks: list[core.CohortTask], driver: core.Driver) -> None:
        self.start()
        pending = deque(tasks)
        attempts: dict[int, int] = {}

        def retry_or_fail(task: core.CohortTask, error: str) -> None:
            if attempts[task.index] <= self.retries:
                pending.appendleft(task)      # it was among the longest: start it again first
            else:
                n = attempts[task.index]
                driver.failed(task.index, f"{error} (attempt {n} of {n})")

        while pending or any(w.task is not None for w in self._pool):
            for i, worker in enumerate(self._pool):
                if worker.task is None and pending:
                    if not worker.process.is_alive():      # died while idle: replace it
                        worker.stop(kill=True)
                        worker = self._pool[i] = self._spawn(i)
                    task = pending.popleft()
                    attempts[task.index] = attempts.get(task.index, 0) + 1
                    task.checkpoint = driver.checkpoint_of(task)
                    driver.starting(task.index)
                    worker.task = task
                    try:
                        worker.conn.send(task)
                    except (OSError, ValueError):
                        pass                  # a dead worker: its sentinel says so below
            busy = [w for w in self._pool if w.task is not None]
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=POLL_S)
            for i, worker in enumerate(self._pool):
                task = worker.task
                if task is None:
                    continue
                try:
                    while worker.task is not None and worker.conn.poll():
                        kind, index, payload = worker.conn.recv()
                        if kind == "progress":
                            driver.progress(index, payload)
                        elif kind == "checkpoint":
                            driver.checkpoint(index, *payload)
                        elif kind == "done":
                            worker.task = None
                            driver.finished(index, payload["results"], payload["worker_s"])
                        elif kind == "error":        # raised by the code: the same again
                            worker.task = None
                            driver.failed(index, _last_line(payload))
                except (EOFError, OSError):
                    pass                      # the worker is gone: handled just below
                if worker.task is not None and not worker.process.is_alive():
                    worker.process.join()
                    error = _describe_exit(worker.process)
                    worker.conn.close()
                    self._pool[i] = self._spawn(i)
                    retry_or_fail(task, error)
