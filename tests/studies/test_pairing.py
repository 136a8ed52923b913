"""The paired design the verdict relies on: seed s of every value of a study starts from the
same initial weights and sees the same data order, wherever the architecture is the same."""
from __future__ import annotations

import jax
import numpy as np

from hyperlab import studies
from hyperlab.studies import planner
from hyperlab.studies.executors import core


def _first_runs(name: str, seed: int) -> list:
    _, runs = planner.plan(studies.get(name).with_overrides(repeats=2))
    return [r for r in runs if r.seed == seed]


def _start(run) -> tuple[list[np.ndarray], np.ndarray]:
    """A planned run's initial weights and the key its data order is drawn from."""
    carry = core.build_cohort([run]).carries[0]
    return [np.asarray(a) for a in jax.tree.leaves(carry["params"])], np.asarray(carry["key"])


def test_same_seed_same_initial_weights_and_data_order_across_values():
    for seed in (0, 1):
        starts = [_start(run) for run in _first_runs("momentum", seed)]
        assert len(starts) == 4
        weights, key = starts[0]
        for other_weights, other_key in starts[1:]:
            assert all(np.array_equal(a, b) for a, b in zip(weights, other_weights, strict=True))
            assert np.array_equal(key, other_key)
    (w0, _), (w1, _) = (_start(_first_runs("momentum", s)[0]) for s in (0, 1))
    assert not all(np.array_equal(a, b) for a, b in zip(w0, w1))   # another seed: others


def test_the_same_seed_shares_the_data_order_when_the_architecture_differs():
    """Another architecture has other weights (other shapes), but the same batches."""
    runs = _first_runs("init-activation", 0)
    keys = {tuple(np.ravel(_start(r)[1])) for r in runs}
    assert len(runs) > 1 and len(keys) == 1
