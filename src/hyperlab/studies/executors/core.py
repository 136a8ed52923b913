"""What every executor shares: planning a study's missing runs into cohort tasks, training
one cohort (in the driver or in a worker), and the driver's side of the bargain — the
only writer of the store, the progress bar and the per-study callbacks.

The process boundary: a worker receives a :class:`CohortTask` (the cohort's planned runs
— configurations, seeds, keys — and an optional checkpoint as npz bytes) and sends back
plain data: progress counts, checkpoints as bytes, and the cohort's ``RunResult`` list
(histories as lists of floats). Never a Store, never a JAX array.

Concurrent drivers on one store split the work: a driver claims a cohort's runs in the
store just before training it and skips the cohorts whose runs another live process
claimed; when its own work is done it waits for those, reads them from the store once
they are stored, and trains those whose claimer died. A checkpoint that cannot restore its
cohort is discarded, with a warning, and the cohort restarts from epoch 0.
"""
from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from hyperlab._constraints import NON_NEGATIVE_INT, POSITIVE_INT, check_at
from hyperlab.studies import build, planner, spec
from hyperlab.studies.results import RunResult, StudyResults, ValueResult
from hyperlab.studies.store import Owner, Store, StoreError, read_npz

POLL_S = 0.5               # how often a driver looks at the cohorts other processes train
HEARTBEAT_S = 30.0         # how often a driver refreshes its claims' heartbeat (at most)

# report(kind, payload): "progress" (run-epochs done), "checkpoint" ((epochs_done, npz
# bytes)) or "discarded" (why the cohort's checkpoint could not restore it)
Report = Callable[[str, Any], None]


class ExecutorError(ValueError):
    """Bad executor input (unknown executor, --workers 0, an unreachable Ray cluster, a
    version mismatch...), raised before anything is trained or stored."""


def check_workers(workers: int | None, retries: Any) -> None:
    """ExecutorError for a worker count (None: the executor's default) that is not an int
    >= 1 or a retry count that is not an int >= 0."""
    if workers is not None:
        check_at(workers, POSITIVE_INT, "--workers", ExecutorError)
    check_at(retries, NON_NEGATIVE_INT, "--retries", ExecutorError)


class CheckpointError(ValueError):
    """A checkpoint that cannot restore its cohort: unreadable or incomplete bytes, missing
    arrays, or arrays of other shapes than the cohort's."""


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

    @property
    def run_epochs(self) -> int:
        return sum(r.epochs for r in self.runs)

    def name(self) -> str:
        """e.g. 'cohort 3 of momentum'."""
        return f"cohort {self.index} of {self.study}"

    def describe(self) -> str:
        """e.g. 'cohort 3 (4 runs, batch_size 8, 50 epochs, key 1a2b...)'."""
        first = self.runs[0].config
        return (f"cohort {self.index} ({len(self.runs)} runs, batch_size "
                f"{first['fit']['batch_size']}, {max(r.epochs for r in self.runs)} epochs, "
                f"key {self.key})")


def versions() -> dict[str, str]:
    import jax
    import optax
    from hyperlab._version import __version__
    return {"hyperlab": __version__, "jax": jax.__version__, "optax": optax.__version__}


# ---------------------------------------------------------------------------- one cohort
def _data(config: dict[str, Any]) -> tuple[dict[str, np.ndarray], tuple[int, ...], int]:
    """The arrays, a sample's shape (images keep theirs) and the number of classes."""
    from hyperlab.data import datasets
    ds = datasets.get(**config["data"])
    sparse = config["compile"]["loss"] == "sparse_categorical_crossentropy"
    encode = (lambda y: y) if sparse else (lambda y: datasets.to_categorical(y, ds.n_classes))
    data = {"x": ds.x_train, "y": encode(ds.y_train), "vx": ds.x_val, "vy": encode(ds.y_val)}
    return data, tuple(ds.x_train.shape[1:]), ds.n_classes


def build_cohort(group: list[planner.PlannedRun]):
    """The engine's cohort for runs that share a program (see ``planner.program_key``):
    the one place where planned runs become a ``Cohort``."""
    from hyperlab.engine.model import Sequential
    from hyperlab.engine.training import Cohort, training_key
    first = group[0].config
    data, input_shape, n_classes = _data(first)
    models = []
    for run in group:
        model = Sequential(build.build_layers(run.config, input_shape, n_classes), seed=run.seed)
        model.compile(build.build_optimizer(run.config), run.config["compile"]["loss"], ["accuracy"])
        models.append(model)
    models[0]._prepare(data["x"], data["y"], "study data")  # validates, resolves "accuracy"
    batch = build.batch_size(first["fit"]["batch_size"], len(data["x"]))
    keys = [training_key(run.seed) for run in group]
    return Cohort(models[0], weights=[(m.params, m.state) for m in models], keys=keys,
                  optimizers=[m.optimizer for m in models],
                  callbacks=[build.build_callbacks(r.config) for r in group],
                  epochs=[r.epochs for r in group], batch_size=batch,
                  data={k: np.asarray(v) for k, v in data.items()},
                  shuffle=bool(first["fit"]["shuffle"]),
                  diagnostics=first["fit"].get("diagnostics", False))


def _ran(cohort) -> int:
    return int(sum(int(logs["ran"].sum()) for logs in cohort.logs))


def train(group: list[planner.PlannedRun], cohort, checkpoint: bytes | None,
          report: Report) -> list[RunResult]:
    """Train a built cohort to its end, from ``checkpoint`` if given (one that cannot
    restore it: ``report("discarded", why)`` and from epoch 0). After every chunk
    ``report("progress", run_epochs_done)`` and, unless the cohort is done,
    ``report("checkpoint", (epochs_done, npz_bytes))``. Returns the runs' results."""
    seconds = 0.0
    if checkpoint is not None:
        try:
            seconds = restore(cohort, checkpoint)
            report("progress", _ran(cohort))
        except CheckpointError as err:
            report("discarded", str(err))
    while not cohort.done():
        start = time.perf_counter()
        cohort.advance()
        seconds += time.perf_counter() - start
        report("progress", _ran(cohort))
        if not cohort.done():   # the last chunk's state is stored as runs right after
            epochs_done = max(cohort.epochs_done())
            report("checkpoint", (epochs_done, snapshot(cohort, seconds)))
    return [RunResult(key=run.key, seed=run.seed, history=history.history,
                      updates=history.params["steps"] * len(history.epoch),
                      wall_time_s=seconds / len(group), diverged_epoch=history.diverged_epoch,
                      stopped_epoch=history.stopped_epoch,
                      restored_epoch=history.restored_epoch)
            for run, history in zip(group, cohort.histories())]


def init_worker(share: int) -> None:
    """Prepare a worker process for training (once per process): the persistent
    compilation cache, and ``share`` runs of a cohort trained at a time.

    XLA's CPU thread pool is left as the local executor has it (sized from the machine's
    cores when the backend starts): the pool size changes how XLA splits a large matmul,
    and so the last bits of its sum (measured: a 784-300-100-10 model trained with the
    backend started on 1 core differs from 2 cores by 1.5e-8), and a run's numbers must
    not depend on the executor. Narrowing each worker's pool to its share of the cores was
    10% faster with 2 workers on 2 cores (docs/benchmarks.md, 2026-11-21).
    """
    from hyperlab.engine.training import enable_compilation_cache, set_parallel_runs
    enable_compilation_cache()
    set_parallel_runs(share)


def run_task(task: CohortTask, report: Report) -> dict[str, Any]:
    """A worker's whole job for one cohort: build, train, return plain results."""
    cohort = build_cohort(task.runs)
    return {"results": train(task.runs, cohort, task.checkpoint, report)}


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
    """Put a snapshot back into a freshly built cohort; returns the seconds trained so far.
    CheckpointError, with the cohort untouched, if ``blob`` is not a complete snapshot of
    this cohort (unreadable bytes, missing or extra arrays, other shapes or dtypes)."""
    import jax
    try:
        arrays = read_npz(blob)
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    carries, wanted = [], set()
    for k, carry in enumerate(cohort.carries):
        leaves, treedef = jax.tree.flatten(carry)
        restored = []
        for i, leaf in enumerate(leaves):
            name, like = f"carry_{k}_{i}", np.asarray(leaf)
            found = arrays.get(name)
            if found is None or found.shape != like.shape or found.dtype != like.dtype:
                what = "missing" if found is None else f"{found.dtype}{list(found.shape)}"
                raise CheckpointError(f"array {name} is {what} where the cohort has "
                                      f"{like.dtype}{list(like.shape)}")
            restored.append(jax.numpy.asarray(found))
            wanted.add(name)
        carries.append(jax.tree.unflatten(treedef, restored))
    extra = sorted(n for n in arrays if n.startswith("carry_") and n not in wanted)
    if extra:
        raise CheckpointError(f"it holds {len(extra)} carry array(s) this cohort does not "
                              f"have (e.g. {extra[0]}): it is another cohort's")
    chunks: dict[int, dict[str, np.ndarray]] = {}
    for name, values in arrays.items():
        if name.startswith("log_"):
            _, c, k = name.split("_", 2)
            if not c.isdigit() or values.shape[:2] != (cohort.size, cohort.chunk_epochs):
                raise CheckpointError(f"log {name} has shape {list(values.shape)} where the "
                                      f"cohort logs ({cohort.size}, {cohort.chunk_epochs}, ...)")
            chunks.setdefault(int(c), {})[k] = values
    if sorted(chunks) != list(range(len(chunks))) or any(
            "ran" not in logs or logs.keys() != chunks[0].keys() for logs in chunks.values()):
        raise CheckpointError("its logs are incomplete (chunks or keys missing)")
    seconds = arrays.get("seconds")
    if seconds is None or seconds.shape != () or seconds.dtype.kind != "f":
        raise CheckpointError("its training time ('seconds') is missing")
    cohort.carries = carries
    cohort.logs = [chunks[c] for c in sorted(chunks)]
    return float(seconds)


def assemble(study: spec.Study, variants: list[spec.Variant], runs: list[planner.PlannedRun],
             stored: dict[str, RunResult]) -> StudyResults:
    values = [ValueResult(v.label, v.value, config=v.config) for v in variants]
    for run in runs:
        if run.key in stored:
            values[run.variant].runs.append(stored[run.key])
    return StudyResults(name=study.name, description=study.description, axis=study.axis,
                        values=values, config=study.base, figures=list(study.figures),
                        threshold=study.threshold, measures=list(study.measures),
                        baseline=study.baseline)


def stored_results(study: spec.Study, store: Store) -> tuple[StudyResults, int]:
    """The runs of ``study`` that ``store`` holds, assembled (training nothing), and how
    many they are."""
    variants, runs = planner.plan(study)
    stored = store.get_runs([r.key for r in runs])
    return assemble(study, variants, runs, stored), len(stored)


class Executor(Protocol):
    """What trains cohorts: ``local``, ``processes`` and ``ray`` (``make_executor``).

    ``run_studies`` calls ``start`` (it may be called again: it does nothing when started)
    and ``run`` until no cohort is left; the executor's owner calls ``check`` before it
    opens the store and ``close`` at the end. ``run`` trains ``tasks`` and tells ``driver``
    of each cohort's start, progress, checkpoints and end (or failure); the driver alone
    writes the store."""

    name: str
    slots: int          # cohorts in memory at once: they share the memory budget
    by_study: bool      # whether studies train one after another (else longest cohorts first)

    def check(self) -> None: ...

    def start(self) -> None: ...

    def run(self, tasks: list[CohortTask], driver: Driver) -> None: ...

    def close(self) -> None: ...


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
    tasks = []
    for index, (i, group) in enumerate(work):
        tasks.append(CohortTask(index, planner.cohort_key(group), studies[i].name, group))
        plans[i].pending.add(index)
    return plans, tasks


class Driver:
    """The driver's side: the one writer of the store, the progress bar, ``on_done``.

    Executors call it from the driver's thread: ``starting`` before a cohort trains (a
    cohort it declines is not trained here), ``report`` while it trains, then ``finished``
    or ``failed`` once per cohort (repeats are ignored: a cohort is stored at most once,
    and ``put_runs`` skips stored keys anyway); ``retrying`` before a retry. After the
    executor's pass, ``wait_for_others`` returns the declined cohorts to train after all."""

    def __init__(self, plans: list[_Plan], tasks: list[CohortTask], store: Store,
                 progress: bool, on_done=None, desc: str = "") -> None:
        self.plans, self.tasks, self.store, self.on_done = plans, tasks, store, on_done
        self.owner = Owner.me()
        self._study_of = {index: i for i, p in enumerate(plans) for index in p.pending}
        self._done: dict[int, int] = {}
        self._closed: set[int] = set()
        self._checkpoints: dict[int, bytes] = {}
        self._others: dict[int, Owner] = {}         # declined cohorts: who trains them
        self._beat = time.monotonic()
        self._announced = 0
        self.failures: list[tuple[str, str, str]] = []
        self.failed_indices: list[int] = []
        self.bar = None
        if progress and tasks:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=sum(t.run_epochs for t in tasks), unit="run-epoch",
                            desc=desc[:40], file=sys.stderr, dynamic_ncols=True)

    def notice(self, message: str) -> None:
        """One line on stderr (above the progress bar)."""
        line = f"hyperlab: warning: {message}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    # ---- before training
    def starting(self, index: int) -> bool:
        """Cohort ``index`` is about to train: claim its runs. False if it must not train
        here: another live process claimed them (``wait_for_others`` waits for it), or they
        are all stored by now (the cohort is then finished from the store)."""
        keys = [r.key for r in self.tasks[index].runs]
        other = self.store.claim(keys, self.owner)
        if other is not None:
            self._others[index] = other
            return False
        stored = self.store.get_runs(keys)
        if len(stored) == len(keys):
            self._adopt(index, stored)
            return False
        plan = self.plans[self._study_of[index]]
        if plan.start is None:                 # a study's clock starts with its first cohort
            plan.start = time.perf_counter()
        return True

    def checkpoint_of(self, task: CohortTask) -> bytes | None:
        """The cohort's latest checkpoint (this run's, else the store's), for a retry."""
        if task.index in self._checkpoints:
            return self._checkpoints[task.index]
        found = self.store.load_checkpoint(task.key)
        return None if found is None else found[1]

    def wait_for_others(self) -> list[CohortTask]:
        """Wait for the cohorts that other processes claimed: each is finished from the
        store once they stored it. Returns those whose claimer died or gave up, claimed
        for this process to train ([] when every cohort is closed)."""
        if self._others:
            self.notice(f"waiting for {len(self._others)} cohort(s) that another hyperlab "
                        f"run ({next(iter(self._others.values())).describe()}) is training")
        while self._others:
            free = []
            for index in sorted(self._others):
                keys = [r.key for r in self.tasks[index].runs]
                other = self.store.claim(keys, self.owner)
                if other is not None:
                    self._others[index] = other
                    continue
                del self._others[index]
                stored = self.store.get_runs(keys)
                if len(stored) == len(keys):
                    self._adopt(index, stored)
                else:
                    free.append(self.tasks[index])
            if free:
                return free
            if self._others:
                time.sleep(POLL_S)
                self._heartbeat()
        return []

    # ---- while training
    def report(self, index: int, kind: str, payload: Any) -> None:
        """A worker's report on cohort ``index`` (see ``Report``)."""
        if kind == "progress":
            self.progress(index, payload)
        elif kind == "checkpoint":
            self.checkpoint(index, *payload)
        elif kind == "discarded":
            self.discarded(index, payload)

    def progress(self, index: int, run_epochs: int) -> None:
        if index in self._closed:
            return
        delta = int(run_epochs) - self._done.get(index, 0)
        if delta > 0:
            self._done[index] = int(run_epochs)
            if self.bar is not None:
                self.bar.update(delta)
        self._heartbeat()

    def checkpoint(self, index: int, epochs_done: int, blob: bytes) -> None:
        if index in self._closed:
            return
        self._checkpoints[index] = blob
        self.store.save_checkpoint(self.tasks[index].key, epochs_done, blob)

    def discarded(self, index: int, why: str) -> None:
        """The cohort's checkpoint could not restore it: forget it (the cohort restarts)."""
        task = self.tasks[index]
        self._checkpoints.pop(index, None)
        self.store.delete_checkpoint(task.key)
        self.notice(f"the checkpoint of {task.name()} cannot be used ({why}); it was "
                    "discarded and the cohort restarts from epoch 0")

    def retrying(self, index: int, error: str, attempt: int, attempts: int) -> None:
        """The worker of cohort ``index`` died; it starts again (attempt ``attempt``)."""
        self.notice(f"the worker for {self.tasks[index].name()} died "
                    f"({' '.join(str(error).split())}); retrying (attempt {attempt} of "
                    f"{attempts})")

    def _heartbeat(self) -> None:
        if time.monotonic() - self._beat >= HEARTBEAT_S:
            self._beat = time.monotonic()
            self.store.heartbeat(self.owner)

    # ---- at the end of a cohort
    def finished(self, index: int, results: list[RunResult]) -> None:
        if index in self._closed:
            return
        task = self.tasks[index]
        self.progress(index, task.run_epochs)       # runs stopped early: the bar completes
        self._closed.add(index)
        self._checkpoints.pop(index, None)
        self.store.put_runs([(r, run.config) for r, run in zip(results, task.runs)],
                            study=task.study, versions=versions(), cohort=task.key,
                            owner=self.owner)
        plan = self.plans[self._study_of[index]]
        for r in results:
            plan.stored[r.key] = r
        self._close(index)

    def _adopt(self, index: int, stored: dict[str, RunResult]) -> None:
        """Finish cohort ``index`` from runs that are stored (by another process)."""
        self.progress(index, self.tasks[index].run_epochs)
        self._closed.add(index)
        self.store.release(self.owner, stored)
        self.plans[self._study_of[index]].stored.update(stored)
        self._close(index)

    def failed(self, index: int, error: str) -> None:
        if index in self._closed:
            return
        task = self.tasks[index]
        self._closed.add(index)
        self._checkpoints.pop(index, None)    # the store keeps the last one: a rerun resumes
        self.store.release(self.owner, [r.key for r in task.runs])
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

    @staticmethod
    def results(plan: _Plan) -> StudyResults:
        return assemble(plan.study, plan.variants, plan.runs, plan.stored)

    def close(self) -> None:
        """Release this process's claims (what it did not finish is free for others)."""
        if self.bar is not None:
            self.bar.close()
        try:
            self.store.release(self.owner)
        except StoreError:
            pass              # the store is failing already; dead claims are taken over
