"""Planning: a study becomes runs (variant × seed), and runs that can share one compiled
program become cohorts, trained together by the engine.

Cohorts are ordered longest first (``cost``: epochs × steps per epoch × runs), so that on
several workers the long ones start first, and their size is bounded twice: by
``max_runs`` and by a memory budget, against an estimate of what one run of the cohort
holds in memory while it trains (``run_bytes``).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from hyperlab.studies import build, spec

BYTES = 4                      # float32 everywhere
MEMORY_SAFETY = 2.0            # XLA keeps input and output carries, temporaries, ...


@dataclass(frozen=True)
class PlannedRun:
    key: str                 # spec.run_key: (resolved config, seed, digest of the data)
    seed: int
    variant: int             # index into study.variants()
    config: dict[str, Any]   # resolved configuration

    @property
    def epochs(self) -> int:
        return int(self.config["fit"]["epochs"])


def plan(study: spec.Study) -> tuple[list[spec.Variant], list[PlannedRun]]:
    """Every (variant, seed) of the study, seeds 0 .. repeats-1."""
    variants = study.variants()
    digests = [spec.data_facts(v.config["data"]).digest for v in variants]
    runs = [PlannedRun(spec.run_key(v.config, seed, digest), seed, i, v.config)
            for i, (v, digest) in enumerate(zip(variants, digests))
            for seed in range(study.repeats)]
    return variants, runs


def program_key(config: dict[str, Any]) -> str:
    """What must be equal for runs to share a compiled program: data, architecture, loss,
    batch size, shuffling and the *structure* of optimizer, schedule and callbacks. Seeds,
    hyperparameter values and epoch counts may differ."""
    optimizer = build.build_optimizer(config)
    callbacks = [cb.static_config() for cb in build.build_callbacks(config)]
    model = {k: v for k, v in config["model"].items() if k != "initializer"}  # a value
    return repr((sorted(config["data"].items()), sorted(model.items()),
                 config["compile"]["loss"], optimizer.static_config(), callbacks,
                 config["fit"]["batch_size"], config["fit"]["shuffle"],
                 config["fit"].get("diagnostics", False)))


def data_shape(config: dict[str, Any]) -> tuple[int, int, int, int]:
    """(n_train, n_val, n_features, n_classes) of a configuration's dataset."""
    facts = spec.data_facts(config["data"])
    return facts.n_train, facts.n_val, facts.n_features, facts.n_classes


def steps_per_epoch(config: dict[str, Any]) -> int:
    n_train = data_shape(config)[0]
    batch = build.batch_size(config["fit"]["batch_size"], n_train)
    return -(-n_train // batch)


def cost(group: list[PlannedRun]) -> int:
    """Relative training time of a cohort: its longest run's epochs × steps per epoch ×
    runs (a cohort trains until its longest run ends; for the tutorials' small networks a
    step costs about the same whatever its batch size)."""
    return max(r.epochs for r in group) * steps_per_epoch(group[0].config) * len(group)


def run_bytes(config: dict[str, Any]) -> int:
    """Estimated memory of one run inside a training cohort: parameters, gradients,
    optimizer slots (and EMA / best weights), the run's shuffled copy of the training data,
    activations of a training batch and of the validation set, times ``MEMORY_SAFETY``."""
    n_train, n_val, n_features, n_classes = data_shape(config)
    widths = [n_features, *config["model"]["hidden"], n_classes]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    optimizer = build.build_optimizer(config)
    copies = 2 + len(optimizer._slot_names()) + int(bool(optimizer.use_ema))  # w, grad, slots
    early = config["fit"].get("callbacks", {}).get("EarlyStopping", {})
    copies += int(bool(early.get("restore_best_weights")))
    batch = build.batch_size(config["fit"]["batch_size"], n_train)
    floats = (params * copies + n_train * (n_features + n_classes)
              + 3 * batch * sum(widths) + n_val * sum(widths) + 6 * int(config["fit"]["epochs"]))
    return int(floats * BYTES * MEMORY_SAFETY)


def physical_memory() -> int:
    """Bytes of physical memory (8 GiB if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_memory_budget() -> int:
    """A quarter of physical memory."""
    return physical_memory() // 4


def cohorts(runs: list[PlannedRun], max_runs: int = 512, memory_budget: int | None = None,
            ) -> list[list[PlannedRun]]:
    """Group runs by program; split groups above ``max_runs`` or above what fits in
    ``memory_budget`` bytes (None: no memory bound); longest cohorts first."""
    if max_runs < 1:
        raise ValueError(f"max_runs: expected an int >= 1, found {max_runs!r}")
    groups: dict[str, list[PlannedRun]] = {}
    for run in runs:
        groups.setdefault(program_key(run.config), []).append(run)
    out = []
    for g in groups.values():
        size = max_runs
        if memory_budget is not None:
            size = max(1, min(size, int(memory_budget // max(run_bytes(r.config) for r in g))))
        out += [g[i:i + size] for i in range(0, len(g), size)]
    return sorted(out, key=lambda g: -cost(g))


def cohort_key(runs: list[PlannedRun]) -> str:
    return hashlib.sha256(",".join(sorted(r.key for r in runs)).encode()).hexdigest()[:20]
