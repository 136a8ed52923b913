"""What every executor shares: planning a study's missing runs into cohort tasks, training
one cohort (in the driver or in a worker), and the driver's side of the bargain — the
only writer of the store, the progress bar and the per-study callbacks.

The process boundary: a worker receives a :class:`CohortTask` (the cohort's planned runs
— configurations, seeds, keys — and an optional checkpoint as npz bytes) and sends back
plain data: progress counts, checkpoints as bytes, and the cohort's ``RunResult`` list
(histories as lists of floats). Never a Store, never a JAX array.
"""
from __future__ import annotations

import io
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hyperlab.studies import planner, spec
from hyperlab.studies.results import RunResult, StudyResults, ValueResult
from hyperlab.studies.store import Store

# Test hook: "COHORT:CHUNK:TIMES:DIR" makes a *worker* SIGKILL itself after CHUNK chunks
# (0: before training) of the cohort with index COHORT, on its first TIMES attempts
# (counted with marker files in DIR). "raise:COHORT:CHUNK" raises a RuntimeError there
# instead, on every attempt. The driver forwards it inside the task.
FAULT_ENV = "HYPERLAB_TEST_KILL"

Report = Callable[..., None]        # report(kind, payload): "progress" | "checkpoint"


class ExecutorError(ValueError):
    """Bad executor input (unknown executor, --workers 0, an unreachable Ray cluster, a
    version mismatch...), raised before anything is trained or stored."""


class CohortsFailed(RuntimeError):
    """Some cohorts failed (their worker died on every attempt, or their training raised);
    every other cohort was trained and stored.

    ``failures``: (study, description, error) per failed cohort; ``results``: per study,
    its StudyResults, or None for a study with a failed cohort."""

    def __init__(self, failures: list[tuple[str, str, str]],
                 results: list[StudyResults | None], stored: int, planned: int) -> None:
        self.failures, self.results = failures, results
        names = "; ".join(f"{study} {what}: {error}" for study, what, error in failures[:3])
        if len(failures) > 3:
            names += f"; and {len(failures) - 3} more"
        super().__init__(
            f"{len(failures)} cohort(s) failed: {names} — every other cohort is stored "
            f"({stored} of {planned} missing runs); rerun the same command to retry")


@dataclass
class CohortTask:
    """One cohort to train: plain data only (it crosses process boundaries)."""

    index: int                      # position in the run's work list (longest first)
    key: str                        # planner.cohort_key(runs): the checkpoint's key
    study: str
    runs: list[planner.PlannedRun]
    checkpoint: bytes | None = None  # set by the executor just before it sends the task
    fault: str | None = None         # FAULT_ENV, forwarded to workers (tests only)

    @property
    def run_epochs(self) -> int:
        return sum(r.epochs for r in self.runs)

    def describe(self) -> str:
        """e.g. 'cohort 3 (4 runs, batch_size 8, 50 epochs, key 1a2b...)'."""
        first = self.runs[0].config
        return (f"cohort {self.index} ({len(self.runs)} runs, batch_size "
                f"{first['fit']['batch_size']}, {max(r.epochs for r in self.runs)} epochs, "
                f"key {self.key})")


def versions() -> dict[str, str]:
    import jax
    import optax
    import hyperlab
    return {"hyperlab": hyperlab.__version__, "jax": jax.__version__, "optax": optax.__version__}


# ---------------------------------------------------------------------------- one cohort
def _data(config: dict[str, Any]) -> tuple[dict[str, np.ndarray], tuple[int, ...], int]:
    """The arrays, a sample's shape (images keep theirs) and the number of classes."""
    from hyperlab import datasets
    ds = datasets.get(**config["data"])
    sparse = config["compile"]["loss"] == "sparse_categorical_crossentropy"
    encode = (lambda y: y) if sparse else (lambda y: datasets.to_categorical(y, ds.n_classes))
    data = {"x": ds.x_train, "y": encode(ds.y_train), "vx": ds.x_val, "vy": encode(ds.y_val)}
    return data, tuple(ds.x_train.shape[1:]), ds.n_classes


def build_cohort(group: list[planner.PlannedRun]):
    """The engine's cohort for runs that share a program (see ``planner.program_key``):
    the one place where planned runs become a ``Cohort``."""
    import jax
    from hyperlab.engine.model import Sequential
    from hyperlab.engine.training import Cohort
    first = group[0].config
    data, input_shape, n_classes = _data(first)
    models = []
    for run in group:
        model = Sequential(spec.build_layers(run.config, input_shape, n_classes), seed=run.seed)
        model.compile(spec.build_optimizer(run.config), run.config["compile"]["loss"], ["accuracy"])
        models.append(model)
    models[0]._prepare(data["x"], data["y"], "study data")  # validates, resolves "accuracy"
    batch = first["fit"]["batch_size"]
    batch = len(data["x"]) if batch == "full" else min(int(batch), len(data["x"]))
    keys = [jax.random.fold_in(jax.random.PRNGKey(run.seed), 1) for run in group]
    return Cohort(models[0], weights=[(m.params, m.state) for m in models], keys=keys,
                  optimizers=[m.optimizer for m in models],
                  callbacks=[spec.build_callbacks(r.config) for r in group],
                  epochs=[r.epochs for r in group], batch_size=batch,
                  data={k: np.asarray(v) for k, v in data.items()},
                  shuffle=bool(first["fit"]["shuffle"]),
                  diagnostics=bool(first["fit"].get("diagnostics", False)))


def _ran(cohort) -> int:
    return int(sum(int(logs["ran"].sum()) for logs in cohort.logs))


def train(group: list[planner.PlannedRun], cohort, checkpoint: bytes | None, report: Report,
          fault: tuple[str | None, int] = (None, -1)) -> list[RunResult]:
    """Train a built cohort to its end, from ``checkpoint`` if given. After every chunk
    ``report("progress", run_epochs_done)`` and, unless the cohort is done,
    ``report("checkpoint", (epochs_done, npz_bytes))``. Returns the runs' results."""
    seconds = 0.0
    if checkpoint is not None:
        seconds = restore(cohort, checkpoint)
        report("progress", _ran(cohort))
    _maybe_fault(*fault, chunk=0)
    while not cohort.done():
        start = time.perf_counter()
        cohort.advance()
        seconds += time.perf_counter() - start
        report("progress", _ran(cohort))
        if not cohort.done():   # the last chunk's state is stored as runs right after
            epochs_done = max(cohort.epochs_done())
            report("checkpoint", (epochs_done, snapshot(cohort, seconds)))
        _maybe_fault(*fault, chunk=len(cohort.logs))
    return [RunResult(key=run.key, seed=run.seed, history=history.history,
                      updates=history.params["steps"] * len(history.epoch),
                      wall_time_s=seconds / len(group), diverged_epoch=history.diverged_epoch,
                      stopped_epoch=history.stopped_epoch)
            for run, history in zip(group, cohort.histories())]


def init_worker(share: int, slot: int | None = None) -> None:
    """Prepare a worker process for training (once per process, before JAX's backend
    starts): the persistent compilation cache, and an XLA CPU thread pool sized to the
    worker's ``share`` of the cores. XLA sizes its pool from the process's CPU affinity
    when the backend starts, so the backend starts with the affinity narrowed to ``share``
    cores (from core ``slot × share``; default: by process id) and then the whole machine
    is given back to the OS scheduler. A cohort's runs train ``share`` at a time.

    Measured on 2 cores, 2 workers (docs/benchmarks.md): 10% less wall time than pools of
    every core per worker; ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` gained nothing
    and, being part of the compilation cache's key, would recompile every program that
    ``hyperlab fit`` or the local executor already compiled.
    """
    from hyperlab.engine.training import enable_compilation_cache, set_parallel_runs
    enable_compilation_cache()
    set_parallel_runs(share)
    import jax
    from jax._src import xla_bridge
    if xla_bridge.backends_are_initialized():
        return
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):              # not Linux: the default pool
        jax.devices()
        return
    share = max(1, int(share))
    if share >= len(cpus):
        jax.devices()
        return
    first = (os.getpid() if slot is None else slot * share) % len(cpus)
    try:
        os.sched_setaffinity(0, {cpus[(first + i) % len(cpus)] for i in range(share)})
        jax.devices()
    finally:
        os.sched_setaffinity(0, cpus)


def run_task(task: CohortTask, report: Report) -> dict[str, Any]:
    """A worker's whole job for one cohort: build, train, return plain results."""
    start = time.perf_counter()
    cohort = build_cohort(task.runs)
    results = train(task.runs, cohort, task.checkpoint, report, fault=(task.fault, task.index))
    return {"results": results, "worker_s": time.perf_counter() - start, "pid": os.getpid()}


def _maybe_fault(spec_: str | None, index: int, chunk: int) -> None:
    """The FAULT_ENV test hook (see its comment)."""
    if not spec_:
        return
    if spec_.startswith("raise:"):
        _, cohort, at = spec_.split(":")
        if int(cohort) == index and int(at) == chunk:
            raise RuntimeError(f"injected failure in cohort {index} after chunk {chunk}")
        return
    cohort, at, times, folder = spec_.split(":", 3)
    if int(cohort) != index or int(at) != chunk:
        return
    for attempt in range(int(times)):
        try:
            os.close(os.open(Path(folder) / f"kill-{index}-{attempt}",
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        os.kill(os.getpid(), signal.SIGKILL)


def snapshot(cohort, seconds: float) -> bytes:
    """The cohort's training state (carry and logs so far) as npz bytes."""
    import jax
    arrays = {f"carry_{k}_{i}": np.asarray(leaf) for k, carry in enumerate(cohort.carries)
              for i, leaf in enumerate(jax.tree.leaves(carry))}
    for c, logs in enumerate(cohort.logs):
        arrays.update({f"log_{c}_{k}": v for k, v in logs.items()})
    arrays["seconds"] = np.float64(seconds)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def restore(cohort, blob: bytes) -> float:
    """Put a snapshot back into a freshly built cohort; returns the seconds trained so far."""
    import jax
    with np.load(io.BytesIO(blob)) as z:
        for k, carry in enumerate(cohort.carries):
            leaves, treedef = jax.tree.flatten(carry)
            cohort.carries[k] = jax.tree.unflatten(
                treedef, [jax.numpy.asarray(z[f"carry_{k}_{i}"]) for i in range(len(leaves))])
        chunks: dict[int, dict[str, np.ndarray]] = {}
        for name in z.files:
            if name.startswith("log_"):
                _, c, k = name.split("_", 2)
                chunks.setdefault(int(c), {})[k] = z[name]
        cohort.logs = [chunks[c] for c in sorted(chunks)]
        return float(z["seconds"])


def assemble(study: spec.Study, variants: list[spec.Variant], runs: list[planner.PlannedRun],
             stored: dict[str, RunResult]) -> StudyResults:
    values = [ValueResult(v.label, v.value) for v in variants]
    for run in runs:
        if run.key in stored:
            values[run.variant].runs.append(stored[run.key])
    return StudyResults(name=study.name, description=study.description, axis=study.axis,
                        values=values, config=study.base, figures=list(study.figures),
                        threshold=study.threshold)


# ---------------------------------------------------------------------------- the driver
@dataclass
class _Plan:
    study: spec.Study
    variants: list[spec.Variant]
    runs: list[planner.PlannedRun]
    stored: dict[str, RunResult]
    pending: set[int] = field(default_factory=set)     # task indices not finished yet
    failed: bool = False
    start: float | None = None                           # when its first cohort started


def plan_work(studies: list[spec.Study], store: Store, max_cohort_runs: int,
              memory_budget: int | None, by_study: bool) -> tuple[list[_Plan], list[CohortTask]]:
    """Every study's missing runs as cohort tasks: longest first within each study
    (``by_study``, so studies finish in order) or across all studies."""
    plans, work = [], []
    for i, study in enumerate(studies):
        variants, runs = planner.plan(study)
        stored = store.get_runs([r.key for r in runs])
        plans.append(_Plan(study, variants, runs, stored))
        todo = [r for r in runs if r.key not in stored]
        work += [(i, g) for g in planner.cohorts(todo, max_cohort_runs, memory_budget)]
    if not by_study:
        work.sort(key=lambda item: -planner.cost(item[1]))
    fault = os.environ.get(FAULT_ENV) or None
    tasks = []
    for index, (i, group) in enumerate(work):
        tasks.append(CohortTask(index, planner.cohort_key(group), studies[i].name, group,
                                fault=fault))
        plans[i].pending.add(index)
    return plans, tasks


class Driver:
    """The driver's side: the one writer of the store, the progress bar, ``on_done``.

    Executors call it from the driver's thread: ``progress`` and ``checkpoint`` while a
    cohort trains, then ``finished`` or ``failed`` once per cohort (repeats are ignored:
    a cohort is stored at most once, and ``put_runs`` skips stored keys anyway)."""

    def __init__(self, plans: list[_Plan], tasks: list[CohortTask], store: Store,
                 progress: bool, on_done=None, desc: str = "") -> None:
        self.plans, self.tasks, self.store, self.on_done = plans, tasks, store, on_done
        self._study_of = {index: i for i, p in enumerate(plans) for index in p.pending}
        self._done: dict[int, int] = {}
        self._closed: set[int] = set()
        self._checkpoints: dict[int, bytes] = {}
        self._announced = 0
        self.failures: list[tuple[str, str, str]] = []
        self.failed_indices: list[int] = []
        self.worker_seconds: dict[int, float] = {}
        self.bar = None
        if progress and tasks:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=sum(t.run_epochs for t in tasks), unit="run-epoch",
                            desc=desc[:40], file=sys.stderr, dynamic_ncols=True)

    # ---- while training
    def checkpoint_of(self, task: CohortTask) -> bytes | None:
        """The cohort's latest checkpoint (this run's, else the store's), for a retry."""
        if task.index in self._checkpoints:
            return self._checkpoints[task.index]
        found = self.store.load_checkpoint(task.key)
        return None if found is None else found[1]

    def progress(self, index: int, run_epochs: int) -> None:
        if index in self._closed:
            return
        delta = int(run_epochs) - self._done.get(index, 0)
        if delta > 0:
            self._done[index] = int(run_epochs)
            if self.bar is not None:
                self.bar.update(delta)

    def checkpoint(self, index: int, epochs_done: int, blob: bytes) -> None:
        if index in self._closed:
            return
        self._checkpoints[index] = blob
        self.store.save_checkpoint(self.tasks[index].key, epochs_done, blob)

    # ---- at the end of a cohort
    def finished(self, index: int, results: list[RunResult], worker_s: float | None = None) -> None:
        if index in self._closed:
            return
        task = self.tasks[index]
        self.progress(index, task.run_epochs)       # runs stopped early: the bar completes
        self._closed.add(index)
        self._checkpoints.pop(index, None)
        self.store.put_runs([(r, run.config) for r, run in zip(results, task.runs)],
                            study=task.study, versions=versions())
        self.store.delete_checkpoint(task.key)
        if worker_s is not None:
            self.worker_seconds[index] = worker_s
        plan = self.plans[self._study_of[index]]
        for r in results:
            plan.stored[r.key] = r
        self._close(index)

    def failed(self, index: int, error: str) -> None:
        if index in self._closed:
            return
        task = self.tasks[index]
        self._closed.add(index)
        self._checkpoints.pop(index, None)    # the store keeps the last one: a rerun resumes
        self.failures.append((task.study, task.describe(), " ".join(str(error).split())))
        self.failed_indices.append(index)
        self.plans[self._study_of[index]].failed = True
        self._close(index)

    def _close(self, index: int) -> None:
        plan = self.plans[self._study_of[index]]
        plan.pending.discard(index)
        if self.bar is not None:
            self.bar.set_postfix_str(f"cohorts {len(self._closed)}/{len(self.tasks)}"
                                     + (f", {len(self.failures)} failed" if self.failures else ""),
                                     refresh=False)
        self.announce()

    def announce(self) -> None:
        """``on_done(study, results, seconds)`` for every finished study, in study order
        (a study with a failed cohort is skipped)."""
        while self._announced < len(self.plans) and not self.plans[self._announced].pending:
            plan = self.plans[self._announced]
            self._announced += 1
            if self.on_done is not None and not plan.failed:
                seconds = 0.0 if plan.start is None else time.perf_counter() - plan.start
                self.on_done(plan.study, self.results(plan), seconds)

    def starting(self, index: int) -> None:
        """A cohort starts: its study's clock starts with its first cohort."""
        plan = self.plans[self._study_of[index]]
        if plan.start is None:
            plan.start = time.perf_counter()

    @staticmethod
    def results(plan: _Plan) -> StudyResults:
        return assemble(plan.study, plan.variants, plan.runs, plan.stored)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
