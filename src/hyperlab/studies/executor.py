"""Running a study: train the runs the store does not have, cohort by cohort, one chunk of
epochs at a time; after every chunk the cohort's whole training state is checkpointed in
the store, so an interrupted study loses at most the chunk in flight."""
from __future__ import annotations

import io
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

import hyperlab
from hyperlab import datasets
from hyperlab.engine.model import Sequential
from hyperlab.engine.training import Cohort
from hyperlab.studies import planner, spec
from hyperlab.studies.results import RunResult, StudyResults, ValueResult
from hyperlab.studies.store import Store


COMPILE_THREADS = max(1, (os.cpu_count() or 2) - 1)  # one core trains, the rest compile


def versions() -> dict[str, str]:
    import optax
    return {"hyperlab": hyperlab.__version__, "jax": jax.__version__, "optax": optax.__version__}


def run_study(study: spec.Study, store: Store, *, progress: bool = True,
              max_cohort_runs: int = 512) -> StudyResults:
    """Train what is missing, store it, and return the study's results."""
    return run_studies([study], store, progress=progress, max_cohort_runs=max_cohort_runs)[0]


def run_studies(studies: list[spec.Study], store: Store, *, progress: bool = True,
                max_cohort_runs: int = 512, on_done=None) -> list[StudyResults]:
    """Run several studies; ``on_done(study, results, seconds)`` after each, in order.

    All cohorts are planned first and compiled ahead of time by ``COMPILE_THREADS`` threads
    while the main thread trains them in order (longest first within a study), so that
    compilation and training overlap on a multi-core machine.
    """
    plans, work = [], []
    for i, study in enumerate(studies):
        variants, runs = planner.plan(study)
        stored = store.get_runs([r.key for r in runs])
        plans.append((variants, runs, stored))
        todo = [r for r in runs if r.key not in stored]
        work += [(i, group) for group in planner.cohorts(todo, max_cohort_runs)]
    bar = None
    if progress and work:
        from tqdm.auto import tqdm
        bar = tqdm(total=sum(r.epochs for _, g in work for r in g), unit="run-epoch",
                   desc=", ".join(s.name for s in studies)[:40], file=sys.stderr,
                   dynamic_ncols=True)
    cohorts = [build_cohort(group) for _, group in work]
    pool = ThreadPoolExecutor(max_workers=COMPILE_THREADS, thread_name_prefix="hyperlab-compile")
    compiled = [pool.submit(cohort.compile) for cohort in cohorts]
    out = []
    try:
        for i, study in enumerate(studies):
            start = time.perf_counter()
            for (j, group), cohort, ready in zip(work, cohorts, compiled):
                if j == i:
                    ready.result()
                    for result in train_cohort(group, cohort, store, study.name, bar):
                        plans[i][2][result.key] = result
            out.append(assemble(study, *plans[i]))
            if on_done is not None:
                on_done(study, out[-1], time.perf_counter() - start)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if bar is not None:
            bar.close()
    return out


def assemble(study: spec.Study, variants: list[spec.Variant], runs: list[planner.PlannedRun],
             stored: dict[str, RunResult]) -> StudyResults:
    values = [ValueResult(v.label, v.value) for v in variants]
    for run in runs:
        if run.key in stored:
            values[run.variant].runs.append(stored[run.key])
    return StudyResults(name=study.name, description=study.description, axis=study.axis,
                        values=values, config=study.base, figures=list(study.figures),
                        threshold=study.threshold)


def _data(config: dict[str, Any]) -> tuple[dict[str, np.ndarray], int, int]:
    ds = datasets.get(**config["data"])
    sparse = config["compile"]["loss"] == "sparse_categorical_crossentropy"
    encode = (lambda y: y) if sparse else (lambda y: datasets.to_categorical(y, ds.n_classes))
    data = {"x": ds.x_train, "y": encode(ds.y_train), "vx": ds.x_val, "vy": encode(ds.y_val)}
    return data, ds.n_features, ds.n_classes


def build_cohort(group: list[planner.PlannedRun]) -> Cohort:
    """The engine's cohort for runs that share a program (see ``planner.program_key``)."""
    first = group[0].config
    data, n_features, n_classes = _data(first)
    models = []
    for run in group:
        model = Sequential(spec.build_layers(run.config, n_features, n_classes), seed=run.seed)
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
                  shuffle=bool(first["fit"]["shuffle"]))


def train_cohort(group: list[planner.PlannedRun], cohort: Cohort, store: Store, study: str,
                 bar=None) -> list[RunResult]:
    """Train one cohort (resuming from its checkpoint), store its runs, return them."""
    key = planner.cohort_key(group)
    seconds = 0.0
    checkpoint = store.load_checkpoint(key)
    if checkpoint is not None:
        seconds = restore(cohort, checkpoint[1])
        if bar is not None:
            bar.update(int(sum(l["ran"].sum() for l in cohort.logs)))
    while not cohort.done():
        start = time.perf_counter()
        logs = cohort.advance()
        seconds += time.perf_counter() - start
        store.save_checkpoint(key, int(np.max(np.asarray(cohort.carry["epoch"]))),
                              snapshot(cohort, seconds))
        if bar is not None:
            bar.update(int(logs["ran"].sum()))
    results = []
    for run, history in zip(group, cohort.histories()):
        results.append(RunResult(
            key=run.key, seed=run.seed, history=history.history,
            updates=history.params["steps"] * len(history.epoch),
            wall_time_s=seconds / len(group), diverged_epoch=history.diverged_epoch,
            stopped_epoch=history.stopped_epoch))
    store.put_runs([(r, run.config) for r, run in zip(results, group)], study=study,
                   versions=versions())
    store.delete_checkpoint(key)
    return results


def snapshot(cohort: Cohort, seconds: float) -> bytes:
    """The cohort's training state (carry and logs so far) as npz bytes."""
    arrays = {f"carry_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(cohort.carry))}
    for c, logs in enumerate(cohort.logs):
        arrays.update({f"log_{c}_{k}": v for k, v in logs.items()})
    arrays["seconds"] = np.float64(seconds)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def restore(cohort: Cohort, blob: bytes) -> float:
    """Put a snapshot back into a freshly built cohort; returns the seconds trained so far."""
    with np.load(io.BytesIO(blob)) as z:
        leaves, treedef = jax.tree.flatten(cohort.carry)
        cohort.carry = jax.tree.unflatten(
            treedef, [jax.numpy.asarray(z[f"carry_{i}"]) for i in range(len(leaves))])
        chunks: dict[int, dict[str, np.ndarray]] = {}
        for name in z.files:
            if name.startswith("log_"):
                _, c, k = name.split("_", 2)
                chunks.setdefault(int(c), {})[k] = z[name]
        cohort.logs = [chunks[c] for c in sorted(chunks)]
        return float(z["seconds"])
