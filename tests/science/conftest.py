"""A small batch size × learning rate grid study, trained once for the session and read
by the critical-batch and scaling-rule tests."""
from __future__ import annotations

import pytest

from hyperlab import studies
from hyperlab.studies.executors import run_study
from hyperlab.studies.store import Store

GRID_STUDY = """name = "bs-lr-tiny"
axis = "Batch Size x Rate"
repeats = 3
[model]
hidden = [6]
[compile]
optimizer = { name = "SGD", learning_rate = 0.05, momentum = 0.9 }
[fit]
epochs = 8
[[sweep]]
field = "fit.batch_size"
values = [10, 50, 250]
[[sweep]]
field = "compile.optimizer.learning_rate"
values = [0.01, 0.04, 0.16]
"""


@pytest.fixture(scope="session")
def grid_study(tmp_path_factory):
    """(the study file, the output folder holding its store hyperlab.db, the results)."""
    out = tmp_path_factory.mktemp("grid")
    path = out / "bs-lr-tiny.toml"
    path.write_text(GRID_STUDY)
    with Store(out / "hyperlab.db") as store:
        results = run_study(studies.load(path), store, progress=False)
    return path, out, results
