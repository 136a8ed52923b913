"""Planning: a study becomes runs (variant × seed), and runs that can share one compiled
program become cohorts, trained together by the engine."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from hyperlab.studies import spec


@dataclass(frozen=True)
class PlannedRun:
    key: str                 # content hash of (resolved config, seed)
    seed: int
    variant: int             # index into study.variants()
    config: dict[str, Any]   # resolved configuration

    @property
    def epochs(self) -> int:
        return int(self.config["fit"]["epochs"])


def plan(study: spec.Study) -> tuple[list[spec.Variant], list[PlannedRun]]:
    """Every (variant, seed) of the study, seeds 0 .. repeats-1."""
    variants = study.variants()
    runs = [PlannedRun(spec.run_key(v.config, seed), seed, i, v.config)
            for i, v in enumerate(variants) for seed in range(study.repeats)]
    return variants, runs


def program_key(config: dict[str, Any]) -> str:
    """What must be equal for runs to share a compiled program: data, architecture, loss,
    batch size, shuffling and the *structure* of optimizer, schedule and callbacks. Seeds,
    hyperparameter values and epoch counts may differ."""
    optimizer = spec.build_optimizer(config)
    callbacks = [cb.static_config() for cb in spec.build_callbacks(config)]
    model = config["model"]
    return repr((sorted(config["data"].items()), model["hidden"], model["activation"],
                 config["compile"]["loss"], optimizer.static_config(), callbacks,
                 config["fit"]["batch_size"], config["fit"]["shuffle"]))


def cohorts(runs: list[PlannedRun], max_runs: int = 512) -> list[list[PlannedRun]]:
    """Group runs by program; split groups above ``max_runs``; longest cohorts first."""
    groups: dict[str, list[PlannedRun]] = {}
    for run in runs:
        groups.setdefault(program_key(run.config), []).append(run)
    out = [g[i:i + max_runs] for g in groups.values() for i in range(0, len(g), max_runs)]
    return sorted(out, key=lambda g: -max(r.epochs for r in g) * len(g))


def cohort_key(runs: list[PlannedRun]) -> str:
    return hashlib.sha256(",".join(sorted(r.key for r in runs)).encode()).hexdigest()[:20]
