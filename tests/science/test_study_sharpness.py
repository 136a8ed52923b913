"""Sharpness in a study: ``fit.diagnostics = ["sharpness"]`` logs the top Hessian eigenvalue
per epoch in every run, the store keeps it, and the lab offers it as a curve."""
from __future__ import annotations

import pytest

import hyperlab as hl
from hyperlab import studies
from hyperlab.lab.views import results_view
from hyperlab.science.sharpness import sharpness
from hyperlab.studies import build
from hyperlab.studies.executors import stored_results
from hyperlab.studies.store import Store

STUDY = {"name": "sharp", "repeats": 2, "model": {"hidden": [6]},
         "compile": {"optimizer": {"name": "SGD", "learning_rate": 0.05}},
         "fit": {"epochs": 3, "batch_size": "full", "diagnostics": ["sharpness"]},
         "sweep": [{"field": "compile.optimizer.learning_rate", "values": [0.05, 0.2]}]}


def test_a_study_logs_stores_and_shows_sharpness(tmp_path):
    study = studies.from_dict(STUDY)
    results = study.run(db=tmp_path / "s.db", progress=False)
    with Store(tmp_path / "s.db") as store:
        again, stored = stored_results(study, store)
    assert stored == 4
    for value, reread in zip(results.values, again.values):
        for run, back in zip(value.runs, reread.runs):
            assert len(back.history["sharpness"]) == 3
            assert back.history["sharpness"] == pytest.approx(run.history["sharpness"],
                                                                rel=1e-7)
    # the same run through Model.fit logs the same values, and the last one is the trained
    # model's top Hessian eigenvalue (power iteration to convergence; full batch = the probe)
    config, run = study.variants()[1].config, again.values[1].runs[1]
    ds = hl.datasets.blobs()
    model = hl.Sequential(build.build_layers(config, (2,), 3), seed=run.seed)
    model.compile(build.build_optimizer(config), "categorical_crossentropy", ["accuracy"])
    y = hl.datasets.to_categorical(ds.y_train, 3)
    h = model.fit(ds.x_train, y, batch_size=len(y), epochs=3, seed=run.seed, verbose=0,
                  validation_data=(ds.x_val, hl.datasets.to_categorical(ds.y_val, 3)),
                  diagnostics=["sharpness"])
    assert h.history["sharpness"] == pytest.approx(run.history["sharpness"], rel=1e-6)
    top = sharpness(model, ds.x_train, y)
    assert top.converged
    assert run.history["sharpness"][-1] == pytest.approx(top.eigenvalue, rel=1e-3)
    view = results_view(study, again)
    assert "sharpness" in view["metrics"]
    seeds = view["values"][1]["curves"]["sharpness"]["seeds"]
    assert seeds[1] == pytest.approx(run.history["sharpness"], rel=1e-6)


@pytest.mark.parametrize("given, resolved", [
    (["layers"], True), (["sharpness", "layers"], ["layers", "sharpness"]), ([], None),
    (True, True)])
def test_diagnostics_lists_resolve_to_one_spelling(given, resolved):
    study = studies.from_dict({**STUDY, "fit": {**STUDY["fit"], "diagnostics": given}})
    assert study.variants()[0].config["fit"].get("diagnostics") == resolved


def test_an_unknown_diagnostic_is_refused_in_one_line():
    with pytest.raises(studies.StudyError) as err:
        studies.from_dict({**STUDY, "fit": {**STUDY["fit"], "diagnostics": ["sharp"]}},
                          source="s.toml")
    assert "fit.diagnostics: expected a bool or a list of one of 'layers', 'sharpness', " \
           "found ['sharp']" in str(err.value) and "\n" not in str(err.value)


def test_study_files_name_the_engines_diagnostics():
    from hyperlab.engine.training import DIAGNOSTICS
    from hyperlab.studies.spec import DIAGNOSTICS as SPELLED
    assert SPELLED == DIAGNOSTICS


def test_the_sharpness_figure_draws_each_seed_and_sgds_threshold(tmp_path):
    import numpy as np
    from hyperlab.reports.figures import render
    study = studies.from_dict({**STUDY, "figures": ["sharpness"], "compile": {
        "optimizer": {"name": "SGD", "learning_rate": 0.05, "momentum": 0.5}}})
    results = study.run(db=tmp_path / "s.db", progress=False)
    from hyperlab.reports import figures
    fig = figures.sharpness(results)
    for ax, value in zip(fig.axes, results.values):
        lines = {ln.get_gid(): ln for ln in ax.get_lines()}
        rate = float(value.value)                  # the swept learning rate, constant
        assert lines["threshold"].get_ydata() == pytest.approx([(2 + 2 * 0.5) / rate] * 3,
                                                               rel=1e-6)
        median = np.exp(np.median(np.log(value.curves("sharpness")), axis=0))
        assert lines["median"].get_ydata() == pytest.approx(median, rel=1e-6)
        assert sum(ln.get_gid() == "seed" for ln in ax.get_lines()) == 2
    for ax in fig.axes:
        assert ax.get_legend().get_texts()[1].get_text() == "stability threshold (2 + 2·0.5)/η"
    (png,) = render(results, tmp_path, formats=("png",))
    assert png.name == "sharp-sharpness.png"
    with pytest.raises(ValueError, match="has no sharpness"):
        figures.sharpness(studies.from_dict({**STUDY, "fit": {"epochs": 2}}).run(
            db=tmp_path / "t.db", progress=False))
