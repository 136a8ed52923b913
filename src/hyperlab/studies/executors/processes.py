"""The processes executor: N worker processes on this machine, each training whole cohorts.

Workers are started with ``spawn`` (a fresh interpreter: no inherited JAX state) and each
talks to the driver over its own pipe, so the driver always knows which cohort each worker
holds: a worker that dies (SIGKILL, out of memory, a crash) is noticed by its process
sentinel, replaced, and its cohort retried — from the last checkpoint the worker sent —
up to ``retries`` times (one line says so), then reported as failed while the other
cohorts go on. An
exception raised while training (bad data, a bug) would only repeat itself: the cohort is
reported as failed at once.

Each worker trains its share of the cores' runs at a time, keeps XLA's thread pool as the
local executor has it (so its numbers are the local executor's; see ``core.init_worker``)
and uses the persistent compilation cache, so a program compiled by one worker (or an
earlier run) is loaded, not compiled, by the others.
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


def _worker_main(conn, share: int) -> None:
    """A worker: receive tasks, send progress, checkpoints and results, until told to stop
    or the driver is gone (its end of the pipe closed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # Ctrl-C is the driver's to handle
    core.init_worker(share)
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
    def __init__(self, context, number: int, share: int) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child, share),
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
        core.check_workers(workers, retries)
        workers = (os.cpu_count() or 1) if workers is None else workers
        self.workers, self.retries, self.slots = workers, retries, workers
        self._context = multiprocessing.get_context("spawn")
        self._pool: list[_Worker] = []
        self._spawned = 0

    def _spawn(self) -> _Worker:
        self._spawned += 1
        share = max(1, (os.cpu_count() or 1) // self.workers)
        return _Worker(self._context, self._spawned, share)

    def check(self) -> None:
        """Nothing to check before the store is opened (workers start when there is work)."""

    def start(self) -> None:
        if not self._pool:
            self._pool = [self._spawn() for _ in range(self.workers)]

    def close(self) -> None:
        for worker in self._pool:
            worker.stop()
        self._pool = []

    def run(self, tasks: list[core.CohortTask], driver: core.Driver) -> None:
        self.start()
        pending = deque(tasks)
        attempts: dict[int, int] = {}

        def retry_or_fail(task: core.CohortTask, error: str) -> None:
            n = attempts[task.index]
            if n <= self.retries:
                driver.retrying(task.index, error, n + 1, self.retries + 1)
                pending.appendleft(task)      # it was among the longest: start it again first
            else:
                driver.failed(task.index, f"{error} (attempt {n} of {n})")

        while pending or any(w.task is not None for w in self._pool):
            for i, worker in enumerate(self._pool):
                if worker.task is None and pending and not worker.process.is_alive():
                    worker.stop(kill=True)                 # died while idle: replace it
                    worker = self._pool[i] = self._spawn()
                while worker.task is None and pending:
                    task = worker.task = pending.popleft()
                    if not driver.starting(task.index):   # claimed elsewhere, or stored
                        worker.task = None
                        continue
                    attempts[task.index] = attempts.get(task.index, 0) + 1
                    task.checkpoint = driver.checkpoint_of(task)
                    try:
                        worker.conn.send(task)
                    except (OSError, ValueError):
                        pass                  # a dead worker: its sentinel says so below
            busy = [w for w in self._pool if w.task is not None]
            if not busy:
                continue
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=POLL_S)
            for i, worker in enumerate(self._pool):
                task = worker.task
                if task is None:
                    continue
                try:
                    while worker.task is not None and worker.conn.poll():
                        kind, index, payload = worker.conn.recv()
                        if kind == "done":
                            worker.task = None
                            driver.finished(index, payload["results"])
                        elif kind == "error":        # raised by the code: the same again
                            worker.task = None
                            driver.failed(index, _last_line(payload))
                        else:
                            driver.report(index, kind, payload)
                except (EOFError, OSError):
                    pass                      # the worker is gone: handled just below
                if worker.task is not None and not worker.process.is_alive():
                    worker.process.join()
                    error = _describe_exit(worker.process)
                    worker.conn.close()
                    self._pool[i] = self._spawn()
                    retry_or_fail(task, error)
