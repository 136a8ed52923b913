"""A study's stored runs as a batch size × learning rate × seed grid: what the critical
batch size and the scaling-rule referee read.

A study qualifies when its variants differ only in ``fit.batch_size`` and (optionally)
``compile.optimizer.learning_rate``; every other field must be the same in all of them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["BatchRateGrid", "batch_rate_grid"]

BATCH = ("fit", "batch_size")
RATE = ("compile", "optimizer", "learning_rate")


@dataclass
class BatchRateGrid:
    """Runs by batch size, rate and seed: ``runs[i][j][seed]`` is the run (a
    :class:`~hyperlab.studies.results.RunResult`) of ``batches[i]`` and ``rates[j]``, or
    missing; ``steps_per_epoch[i]`` the updates per epoch at ``batches[i]``."""

    name: str
    config: dict[str, Any]
    batches: list[int]
    rates: list[float]
    seeds: list[int]
    steps_per_epoch: list[int]
    runs: list[list[dict[int, Any]]]

    def measure(self, per_run: Callable[[Any, int], float]) -> np.ndarray:
        """``per_run(run, steps_per_epoch)`` for every run, as an array (batches, rates,
        seeds); NaN where the store lacks the run."""
        out = np.full((len(self.batches), len(self.rates), len(self.seeds)), np.nan)
        for i, row in enumerate(self.runs):
            for j, cell in enumerate(row):
                for k, seed in enumerate(self.seeds):
                    if seed in cell:
                        out[i, j, k] = per_run(cell[seed], self.steps_per_epoch[i])
        return out


def _pop(config: dict[str, Any], path: tuple[str, ...]) -> Any:
    node = config
    for key in path[:-1]:
        node = node[key]
    return node.pop(path[-1])


def batch_rate_grid(study, results) -> BatchRateGrid:
    """The grid of ``results`` (a study's stored :class:`StudyResults`, from ``study``); a
    ValueError naming the fix unless the variants differ only in batch size and rate, with
    at least two batch sizes."""
    from hyperlab.studies import planner
    variants = study.variants()
    cells: dict[tuple[int, float], Any] = {}
    rest = None
    for variant, value in zip(variants, results.values):
        config = copy.deepcopy(variant.config)
        n_train = planner.data_shape(config)[0]
        batch = min(n_train if config["fit"]["batch_size"] == "full"
                    else int(config["fit"]["batch_size"]), n_train)
        rate = config["compile"]["optimizer"].get("learning_rate")
        if not isinstance(rate, (int, float)) or isinstance(rate, bool):
            raise ValueError(f"study {study.name!r}: the learning rate must be a constant "
                             f"(got {rate!r}); sweep constant rates instead of a schedule")
        _pop(config, BATCH), _pop(config, RATE)
        if rest is None:
            rest = config
        elif config != rest:
            raise ValueError(f"study {study.name!r}: its values differ in more than "
                             f"fit.batch_size and compile.optimizer.learning_rate; use a "
                             f"study that sweeps only those")
        cell = (batch, float(rate))
        if cell in cells:
            raise ValueError(f"study {study.name!r}: batch size {batch} with rate {rate:g} "
                             f"appears twice (a batch size above the training set is the "
                             f"whole set); sweep distinct values")
        cells[cell] = (value, planner.steps_per_epoch(variant.config))
    batches = sorted({b for b, _ in cells})
    rates = sorted({r for _, r in cells})
    if len(batches) < 2:
        raise ValueError(f"study {study.name!r} sweeps {len(batches)} batch size; it needs "
                         f"at least two (sweep fit.batch_size)")
    if len(cells) != len(batches) * len(rates):
        raise ValueError(f"study {study.name!r}: not every batch size has every rate; sweep "
                         f"them as a grid (two [[sweep]] tables)")
    seeds = sorted({run.seed for value, _ in cells.values() for run in value.runs})
    runs = [[{run.seed: run for run in cells[(b, r)][0].runs} for r in rates] for b in batches]
    spe = [cells[(b, rates[0])][1] for b in batches]
    base = copy.deepcopy(variants[0].config)
    _pop(base, BATCH), _pop(base, RATE)
    return BatchRateGrid(study.name, base, batches, rates, seeds, spe, runs)
