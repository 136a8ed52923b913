"""The lab's fixtures: a tiny study trained once into a store, a copy of that store per test
that trains, a test client of the lab on it, and headless Chromium for the page tests."""
from __future__ import annotations

import shutil
import warnings

import pytest

pytest.importorskip("starlette", reason="the lab's web stack is not installed: "
                                        "pip install -e '.[test]'")
pytest.importorskip("httpx", reason="Starlette's test client needs httpx")

with warnings.catch_warnings():  # Starlette >= 1.9 would rather use httpx2
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from starlette.testclient import TestClient  # noqa: E402

from hyperlab.lab.app import create_app  # noqa: E402
from hyperlab.studies import Study  # noqa: E402

from browser import MISSING, launch  # noqa: E402
from lab_cases import GRID, STUDY, TOKEN  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    """The system Chromium driven by Playwright, one for the module's tests."""
    if MISSING is not None:
        pytest.skip(MISSING)
    with launch() as chromium:
        yield chromium


def _trained(tmp_path_factory, name: str, text: str):
    """(study file, store): the study ``text`` written as ``name``.toml and trained once."""
    root = tmp_path_factory.mktemp(name)
    path = root / f"{name}.toml"
    path.write_text(text)
    db = root / "hyperlab.db"
    Study.load(path).run(db=db, progress=False)
    return path, db


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(study file, store) with the tiny study trained into the store once."""
    return _trained(tmp_path_factory, "lab-tiny", STUDY)


@pytest.fixture(scope="session")
def grid(tmp_path_factory):
    """(study file, store) with the tiny grid study (2 x 2 values, 2 seeds) trained once."""
    return _trained(tmp_path_factory, "lab-grid", GRID)


@pytest.fixture
def client(trained):
    """A test client of the lab on the trained store (read-only use)."""
    path, db = trained
    with TestClient(create_app(db, TOKEN, (path,)), headers={"X-Lab-Token": TOKEN}) as c:
        yield c


@pytest.fixture
def own_client(trained, tmp_path):
    """A test client of the lab on a copy of the trained store, for tests that train."""
    path, db = trained
    copy = tmp_path / "hyperlab.db"
    shutil.copy(db, copy)
    with TestClient(create_app(copy, TOKEN, (path,)), headers={"X-Lab-Token": TOKEN}) as c:
        yield c
