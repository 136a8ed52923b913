"""Training from the lab: one study at a time, in a background thread, through the study
runner (:func:`hyperlab.studies.executors.run_study` with the local executor), so only
what the store lacks trains and every finished cohort is stored as ``hyperlab run`` stores
it. The job counts run-epochs, chunks and cohorts as the runner reports them, and keeps the
histories so far of the runs in training (from each chunk's checkpoint) until their cohort
is stored; a cancel takes effect at the end of the chunk of epochs in flight (its checkpoint
is stored: the next run resumes from it)."""
from __future__ import annotations

import io
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab.studies import Study
from hyperlab.studies.build import LOG_KEYS
from hyperlab.studies.executors import CohortsFailed, run_study
from hyperlab.studies.executors.local import LocalExecutor
from hyperlab.studies.store import Store


FINISHED = ("done", "cancelled", "failed")


class Cancelled(Exception):
    """The job was cancelled (raised inside the runner at its next progress report)."""


@dataclass
class Job:
    """One study being trained: its progress as the page shows it."""

    study: str
    knobs: dict[str, str]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "starting"           # starting, running, done, cancelled, failed
    message: str = ""
    done: int = 0                     # run-epochs trained by this job
    total: int = 0                    # run-epochs this job has to train
    chunks_done: int = 0
    cohorts_done: int = 0
    cohorts: int = 0
    started: float = field(default_factory=time.monotonic)
    trained_from: float | None = None  # when the first run-epoch was reported
    trained_at_first: int = 0         # run-epochs done when that happened (a resumed checkpoint)
    cancel: threading.Event = field(default_factory=threading.Event)
    version: int = 0                  # bumped on every change: the progress stream's cue
    _live: dict[str, dict[str, list[float]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def eta_s(self) -> float | None:
        """Seconds left at the pace since training started; None until it can be told."""
        if self.trained_from is None or self.done <= self.trained_at_first or self.finished:
            return None
        rate = (self.done - self.trained_at_first) / (time.monotonic() - self.trained_from)
        return (self.total - self.done) / rate

    def snapshot(self) -> dict[str, Any]:
        """The job as JSON, consistent (taken under the lock that ``update`` holds)."""
        with self._lock:
            return {"id": self.id, "study": self.study, "knobs": self.knobs, "state": self.state,
                    "message": self.message, "done": self.done, "total": self.total,
                    "chunks_done": self.chunks_done, "cohorts_done": self.cohorts_done,
                    "cohorts": self.cohorts,
                    "elapsed_s": time.monotonic() - self.started, "eta_s": self.eta_s(),
                    "version": self.version}

    def update(self, live: dict[str, dict[str, list[float]] | None] | None = None,
               **changes: Any) -> None:
        """Set ``changes``; ``live`` maps run keys to their histories so far (None: the run
        is stored, forget it)."""
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)
            for key, history in (live or {}).items():
                if history is None:
                    self._live.pop(key, None)
                else:
                    self._live[key] = history
            self.version += 1

    def live(self) -> dict[str, dict[str, list[float]]]:
        """The histories so far of the runs in training, by run key."""
        with self._lock:
            return dict(self._live)


def partial_histories(blob: bytes, runs: int) -> list[dict[str, list[float]]]:
    """Each run's history so far, from a cohort's checkpoint (npz: per chunk ``c`` the logs
    ``log_<c>_<name>`` as (runs, epochs) arrays, ``log_<c>_ran`` marking the epochs that
    ran)."""
    out: list[dict[str, list[float]]] = [{} for _ in range(runs)]
    with np.load(io.BytesIO(blob)) as z:
        chunks = sorted({int(k.split("_")[1]) for k in z.files if k.startswith("log_")})
        if not chunks:
            return out
        ran = np.concatenate([z[f"log_{c}_ran"] for c in chunks], axis=1).astype(bool)
        for name in LOG_KEYS:
            keys = [f"log_{c}_{name}" for c in chunks]
            if all(k in z.files for k in keys):
                values = np.concatenate([z[k] for k in keys], axis=1)
                for i in range(runs):
                    out[i][name] = values[i][ran[i]].tolist()
    return out


class _Watched(LocalExecutor):
    """The local executor, counting what the runner reports into ``job`` and raising
    :class:`Cancelled` at the first report after a cancel."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def run(self, tasks, driver) -> None:
        job = self.job
        done: dict[int, int] = {}                 # run-epochs done, per cohort
        tasks_by_index = {t.index: t for t in tasks}

        def report(index: int, kind: str, payload: Any) -> None:
            driver.report(index, kind, payload)
            if kind == "progress":
                done[index] = int(payload)
                first = {} if job.trained_from is not None else {
                    "trained_from": time.monotonic(), "trained_at_first": sum(done.values())}
                job.update(done=sum(done.values()), **first)
            elif kind == "checkpoint":
                runs = tasks_by_index[index].runs
                histories = partial_histories(payload[1], len(runs))
                job.update(live={r.key: h for r, h in zip(runs, histories)},
                           chunks_done=job.chunks_done + 1)
            if job.cancel.is_set():
                raise Cancelled

        def finished(index: int, *args: Any) -> None:
            driver.finished(index, *args)
            done[index] = tasks_by_index[index].run_epochs
            job.update(live={r.key: None for r in tasks_by_index[index].runs},
                       done=sum(done.values()), chunks_done=job.chunks_done + 1,
                       cohorts_done=job.cohorts_done + 1)

        job.update(state="running", total=job.total + sum(t.run_epochs for t in tasks),
                   cohorts=job.cohorts + len(tasks))
        super().run(tasks, _Reporting(driver, report, finished))


class _Reporting:
    """``driver`` with its ``report`` and ``finished`` replaced."""

    def __init__(self, driver, report, finished) -> None:
        self._driver, self.report, self.finished = driver, report, finished

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)


class Runner:
    """The lab's one training slot: start a job, look at it, cancel it."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.current: Job | None = None
        self._lock = threading.Lock()

    def start(self, study: Study, knobs: dict[str, str]) -> Job:
        """Train ``study`` in a background thread; ValueError while another job runs."""
        with self._lock:
            if self.current is not None and not self.current.finished:
                raise ValueError(f"study {self.current.study!r} is training; cancel it or wait "
                                 "for it to finish")
            job = self.current = Job(study.name, dict(knobs))
        threading.Thread(target=self._train, args=(job, study), daemon=True,
                         name=f"hyperlab-lab-{job.id}").start()
        return job

    def get(self, job_id: str) -> Job | None:
        job = self.current
        return job if job is not None and job.id == job_id else None

    def live(self) -> dict[str, dict[str, list[float]]]:
        """The histories so far of the runs in training, by run key ({} when none)."""
        job = self.current
        return {} if job is None or job.finished else job.live()

    def _train(self, job: Job, study: Study) -> None:
        try:
            self.db.parent.mkdir(parents=True, exist_ok=True)
            with Store(self.db) as store:
                run_study(study, store, progress=False, executor=_Watched(job))
        except Cancelled:
            job.update(state="cancelled", message="cancelled: what finished is stored; run "
                                                  "again to resume")
        except CohortsFailed as err:
            job.update(state="failed", message=" ".join(str(err).split()))
        except Exception as err:  # shown on the page in one line, as the CLI would
            job.update(state="failed", message=" ".join(str(err).split()) or type(err).__name__)
        else:
            job.update(state="done", message="done" if job.total else
                       "done: every run was in the store already")

    def close(self, timeout: float = 5.0) -> None:
        """Cancel the job in flight and wait up to ``timeout`` seconds for it to stop."""
        job = self.current
        if job is not None and not job.finished:
            job.cancel.set()
            deadline = time.monotonic() + timeout
            while not job.finished and time.monotonic() < deadline:
                time.sleep(0.05)
