"""Every built-in tutorial study trains end to end (two epochs, one seed, where epochs are
not what the study sweeps) and gives one table row per value; the lecture's studies, whose
deep models take long to compile, train in tests/studies/test_lecture_studies.py and here
only plan into cohorts."""
from __future__ import annotations

import math

import pytest

from hyperlab import studies
from hyperlab.studies import planner


@pytest.mark.parametrize("name", studies.TUTORIAL)
def test_every_tutorial_study_trains_and_summarizes(name, tmp_path):
    study = studies.get(name)
    swept = {f for sweep in study.sweeps for f in sweep["fields"]}
    sets = [] if "fit.epochs" in swept else ["fit.epochs=2"]
    results = study.with_overrides(repeats=1, sets=sets).run(tmp_path / "s.db", progress=False)
    assert len(results.summary()) == len(study.variants())
    for value in results.values:
        (run,) = value.runs
        assert run.history["loss"]
        assert run.diverged_epoch is not None or all(map(math.isfinite, run.history["loss"]))


@pytest.mark.parametrize("name", [n for n in studies.builtin_names() if n not in studies.TUTORIAL])
def test_every_lecture_study_plans_into_cohorts(name):
    _, runs = planner.plan(studies.get(name).with_overrides(repeats=2))
    groups = planner.cohorts(runs)
    assert sum(map(len, groups)) == len(runs) and all(planner.run_bytes(r.config) > 0 for r in runs)
