"""Fixtures shared by the executor tests: the small study trained by the local executor,
the reference that the other executors and the fault tests must equal bit for bit."""
from __future__ import annotations

import pytest

from hyperlab.studies.executors import run_study
from hyperlab.studies.store import Store

from executor_cases import make_study


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    with Store(tmp / "local.db") as store:
        return run_study(make_study(tmp), store, progress=False)


@pytest.fixture(scope="module")
def long_local_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("long")
    with Store(tmp / "local.db") as store:
        return run_study(make_study(tmp, long=True), store, progress=False)
