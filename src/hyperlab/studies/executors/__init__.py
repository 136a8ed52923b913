"""Running studies: train the runs the store does not have, cohort by cohort, with one of
three executors, and return the studies' results.

* ``local`` (default): in this process, compiling the next cohorts in a thread while one
  trains; a checkpoint after every chunk of epochs.
* ``processes``: N worker processes on this machine, each training whole cohorts.
* ``ray``: cohorts as Ray tasks, on a cluster (``address``) or a local Ray instance.

Whatever the executor, the driver (this process) alone writes the store: workers receive a
cohort's planned runs and send back progress, checkpoints and plain results. A cohort whose
worker dies is retried (``retries``; one line says so), then reported as failed
(``CohortsFailed``) while the other cohorts go on and are stored; a killed driver resumes
from the store. Drivers sharing a store split the work: a cohort whose runs another live
process claimed is waited for, not trained twice (see ``core``). Cohorts start longest
first; their size is bounded by ``max_cohort_runs`` and by a memory budget
(``planner.run_bytes`` × runs ≤ ``memory_budget`` / cohorts in memory at once).
"""
from __future__ import annotations

from typing import Any

from hyperlab._constraints import POSITIVE_INT, check_at
from hyperlab.studies import planner, spec
from hyperlab.studies.executors import core
from hyperlab.studies.executors.core import (CheckpointError, CohortsFailed, CohortTask,
                                             Driver, Executor, ExecutorError, assemble,
                                             build_cohort, restore, snapshot,
                                             stored_results, versions)
from hyperlab.studies.results import StudyResults
from hyperlab.studies.store import Store

EXECUTORS = ("local", "processes", "ray")


def make_executor(name: str = "local", *, workers: int | None = None, retries: int = 2,
                  address: str | None = None) -> Executor:
    """An executor by name; ExecutorError (one line) for bad input."""
    if name not in EXECUTORS:
        raise ExecutorError(f"--executor: unknown executor {name!r}; expected one of "
                            f"{', '.join(EXECUTORS)}")
    if address is not None and name != "ray":
        raise ExecutorError("--address is the Ray cluster's address: use it with --executor ray")
    if name == "local":
        if workers is not None and workers != 1:
            raise ExecutorError(f"--workers {workers}: the local executor trains in this process; "
                                "use --executor processes --workers N")
        from hyperlab.studies.executors.local import LocalExecutor
        return LocalExecutor()
    if name == "processes":
        from hyperlab.studies.executors.processes import ProcessExecutor
        return ProcessExecutor(workers=workers, retries=retries)
    from hyperlab.studies.executors.ray import RayExecutor
    return RayExecutor(address=address, workers=workers, retries=retries)


def check_limits(max_cohort_runs: int, memory_budget: int | None) -> None:
    """ExecutorError for a cohort-size limit or a memory budget in bytes (None: the
    default) that is not an int >= 1."""
    check_at(max_cohort_runs, POSITIVE_INT, "--max-cohort-runs", ExecutorError)
    if memory_budget is not None:
        check_at(memory_budget, POSITIVE_INT, "--memory-budget", ExecutorError)


def run_study(study: spec.Study, store: Store, *, progress: bool = True,
              max_cohort_runs: int = 512, **options: Any) -> StudyResults:
    """Train what is missing, store it, and return the study's results (``run_studies``'
    options: executor, workers, retries, address, memory_budget)."""
    return run_studies([study], store, progress=progress, max_cohort_runs=max_cohort_runs,
                       **options)[0]


def run_studies(studies: list[spec.Study], store: Store, *, progress: bool = True,
                max_cohort_runs: int = 512, on_done=None, executor: str | Executor = "local",
                workers: int | None = None, retries: int = 2, address: str | None = None,
                memory_budget: int | None = None) -> list[StudyResults]:
    """Run several studies; ``on_done(study, results, seconds)`` after each, in order.

    ``executor``: "local", "processes", "ray" or an executor object (``make_executor``;
    started here if needed, closed by its owner: reusable, e.g. one Ray session or one pool
    of worker processes for several calls). ``memory_budget``: bytes for the
    cohorts in memory at once (default: a quarter of physical memory). Raises
    ExecutorError for bad input before anything is trained or written, and CohortsFailed
    after every other cohort is stored if some cohorts failed (a worker that died on
    every attempt, or an exception in a worker; the local executor lets an exception
    propagate at once, as it always did).
    """
    check_limits(max_cohort_runs, memory_budget)
    owned = isinstance(executor, str)
    if owned:
        executor = make_executor(executor, workers=workers, retries=retries, address=address)
    if memory_budget is None:
        memory_budget = planner.default_memory_budget()
    plans, tasks = core.plan_work(studies, store, max_cohort_runs,
                                  memory_budget // max(1, executor.slots), executor.by_study)
    driver = Driver(plans, tasks, store, progress, on_done,
                    desc=", ".join(s.name for s in studies))
    try:
        driver.announce()                     # studies with nothing to train
        todo = tasks
        while todo:
            executor.start()                  # fails fast on bad input: nothing trained yet
            executor.run(todo, driver)
            todo = driver.wait_for_others()   # cohorts claimed elsewhere whose claimer died
        driver.announce()
    finally:
        driver.close()
        if owned:
            executor.close()
    results = [None if p.failed else Driver.results(p) for p in plans]
    if driver.failures:
        missing = sum(len(t.runs) for t in tasks)
        lost = sum(len(tasks[i].runs) for i in driver.failed_indices)
        raise CohortsFailed(driver.failures, results, missing - lost, missing)
    return results


__all__ = ["EXECUTORS", "CheckpointError", "CohortTask", "CohortsFailed", "Driver", "Executor",
           "ExecutorError", "assemble", "build_cohort", "check_limits", "make_executor",
           "restore", "run_studies", "run_study", "snapshot", "stored_results", "versions"]
