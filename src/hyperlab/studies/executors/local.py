"""The local executor: everything in this process. Cohorts train one after another (study
by study, longest first) while ``COMPILE_THREADS`` threads compile the next cohorts'
programs ahead of time (XLA compiles without the GIL), so compilation and training overlap
on a multi-core machine. After every chunk of epochs the cohort's state is checkpointed in
the store, so an interrupted study loses at most the chunk in flight. A cohort that another
process claimed (``Driver.starting``) is skipped."""
from __future__ import annotations

import functools
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from hyperlab.studies.executors import core

COMPILE_THREADS = max(1, (os.cpu_count() or 2) - 1)  # one core trains, the rest compile


class LocalExecutor:
    name = "local"
    by_study = True          # train studies in order: reproduce publishes each as it ends

    def __init__(self, compile_threads: int | None = None) -> None:
        self.compile_threads = compile_threads or COMPILE_THREADS
        # cohorts in memory at once: the one training and those built and compiling ahead
        self.slots = self.compile_threads + 2

    def check(self) -> None:
        """Nothing to check before the store is opened."""

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, tasks: list[core.CohortTask], driver: core.Driver) -> None:
        pool = ThreadPoolExecutor(max_workers=self.compile_threads,
                                  thread_name_prefix="hyperlab-compile")
        upcoming = iter(tasks)
        window: deque = deque()          # (task, cohort, compiled) built ahead of training

        def fill() -> None:
            while len(window) < self.slots:
                task = next(upcoming, None)
                if task is None:
                    return
                cohort = core.build_cohort(task.runs)
                window.append((task, cohort, pool.submit(cohort.compile)))

        try:
            fill()
            while window:
                task, cohort, ready = window.popleft()
                fill()
                if not driver.starting(task.index):
                    continue
                ready.result()
                results = core.train(task.runs, cohort, driver.checkpoint_of(task),
                                     functools.partial(driver.report, task.index))
                driver.finished(task.index, results)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
