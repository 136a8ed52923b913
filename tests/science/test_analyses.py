"""A study's declared analyses: validated with the study, run by `hyperlab run` (and
`reproduce`) on the stored runs, answered as the analyses' own functions answer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hyperlab import studies
from hyperlab.cli.main import main
from hyperlab.science import critical_batch, scaling_rule
from hyperlab.science.epochs import analyze
from hyperlab.studies.executors import stored_results
from hyperlab.studies.store import Store


def test_run_publishes_the_declared_analyses_on_the_stored_runs(grid_study, capsys):
    grid, out, _ = grid_study
    path = out / "bs-lr-analysed.toml"
    path.write_text(grid.read_text().replace('name = "bs-lr-tiny"', 'name = "bs-lr-analysed"\n'
                                       'analyses = ["critical-batch", "scaling-rule"]\n'
                                       'threshold = 0.7'))
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    study = studies.load(path)
    with Store(out / "hyperlab.db") as store:       # every run was stored: nothing trained
        results, stored = stored_results(study, store)
    assert stored == 27
    critical = critical_batch(study, results, metric="val_accuracy", target=0.7)
    scaling = scaling_rule(study, results, measure="loss")
    page = (out / "bs-lr-analysed" / "summary.md").read_text()
    for title, result, name in (("Critical batch size", critical, "critical-batch"),
                                ("Learning-rate scaling rule", scaling, "scaling-rule")):
        assert f"## {title}\n\n{result.answer()}" in page
        assert f"{title}: {result.answer()}" in printed
        folder = out / "bs-lr-analysed" / name
        assert (folder / f"{name}.png").stat().st_size > 1000
        data = json.loads((folder / f"{name}.json").read_text())
        assert data["answer"] == result.answer()
        assert data["figures"] == [str(folder / f"{name}.{fmt}") for fmt in ("png", "svg")]
        assert f"[{name}.png]({name}/{name}.png)" in page


def test_an_analysis_the_runs_cannot_answer_says_so_and_the_study_still_publishes(
        grid_study, capsys):
    grid, out, _ = grid_study
    path = out / "bs-lr-unreachable.toml"
    path.write_text(grid.read_text().replace('name = "bs-lr-tiny"', 'name = "bs-lr-unreachable"\n'
                                             'analyses = ["critical-batch"]\n'
                                             'threshold = 1.01'))
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    page = (out / "bs-lr-unreachable" / "summary.md").read_text()
    assert "the median run never reached the target" in page and "no fit" in page
    folder = out / "bs-lr-unreachable" / "critical-batch"
    assert (folder / "critical-batch.png").exists()
    assert json.loads((folder / "critical-batch.json").read_text())["fit"]["b_noise"] is None


def test_the_epochs_analysis_reads_the_value_that_trained_longest(tmp_path):
    study = studies.from_dict({"name": "ep", "repeats": 2, "analyses": ["epochs"],
                               "model": {"hidden": [4]}, "fit": {"batch_size": 100},
                               "sweep": [{"field": "fit.epochs", "values": [3, 12]}]})
    results = study.run(db=tmp_path / "s.db", progress=False)
    from hyperlab.science.analyses import run_analyses
    (done,) = run_analyses(study, results, tmp_path, ("png",))
    longest = results.values[1]
    advice = analyze(sorted(longest.runs, key=lambda r: r.seed))
    assert done.answer == f"Of the value '12': {advice.answer()}"
    data = json.loads((tmp_path / "ep" / "epochs" / "epochs.json").read_text())
    assert data["early_stopping"]["patience"] == advice.patience
    assert [s["epochs"] for s in data["per_seed"]] == [12, 12]
    for value in results.values:                      # nothing stored: it says so, no file
        value.runs = []
    (empty,) = run_analyses(study, results, tmp_path / "empty", ("png",))
    assert empty.answer == "Not computed: no stored runs to analyse"
    assert [p.name for p in empty.paths] == ["epochs.json"]


@pytest.mark.parametrize("analyses, words", [
    (["critical-batch"], "'critical-batch' needs a sweep of fit.batch_size"),
    (["scaling-rule"], "needs a sweep of fit.batch_size and compile.optimizer.learning_rate"),
    (["sharpness"], "analyses[0]: expected one of"),
])
def test_an_analysis_the_study_cannot_feed_is_refused_in_one_line(analyses, words):
    raw = {"analyses": analyses, "sweep": [{"field": "fit.epochs", "values": [1, 2]}]}
    with pytest.raises(studies.StudyError) as err:
        studies.from_dict(raw, source="s.toml")
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_lab_shows_each_analysis_with_its_answer_and_chart(grid_study):
    from hyperlab.lab.views import results_view
    grid, out, _ = grid_study
    path = out / "bs-lr-lab.toml"
    path.write_text(grid.read_text().replace('name = "bs-lr-tiny"', 'name = "bs-lr-lab"\n'
                                             'analyses = ["critical-batch", "scaling-rule"]\n'
                                             'threshold = 0.7'))
    study = studies.load(path)
    with Store(out / "hyperlab.db") as store:
        results, _ = stored_results(study, store)
    view = json.loads(json.dumps(results_view(study, results)))    # what the page receives
    critical, scaling = view["analyses"]
    c = critical_batch(study, results, metric="val_accuracy", target=0.7)
    assert (critical["title"], critical["answer"], critical["table"]) == (
        "Critical batch size", c.answer(), c.table())
    seeds, medians, *fit, band = critical["chart"]["data"]
    (shape,) = critical["chart"]["layout"]["shapes"]               # B_noise's interval
    assert (shape["x0"], shape["x1"]) == pytest.approx((c.fit.b_noise_low, c.fit.b_noise_high))
    assert band["name"] == "B_noise, 95% bootstrap interval"
    assert medians["x"] == [10, 50, 250] and medians["y"] == pytest.approx(
        [m if np.isfinite(m) else None for m in c.median], nan_ok=True)
    chosen = [c.grid.rates.index(r) for r in c.chosen]          # every seed at its chosen rate
    expect = sorted((b, s) for i, b in enumerate(c.grid.batches)
                    for s in c.steps[i, chosen[i]] if np.isfinite(s))
    got = sorted(zip(seeds["x"], seeds["y"]))
    assert [b for b, _ in got] == [b for b, _ in expect]
    assert [v for _, v in got] == pytest.approx([v for _, v in expect])
    (curve,) = fit                                               # the curve is the fit's
    b = np.asarray(curve["x"])
    assert curve["y"] == pytest.approx(c.fit.s_min * (1 + c.fit.b_noise / b))
    s = scaling_rule(study, results, measure="loss")
    assert scaling["answer"] == s.answer()
    best, line = scaling["chart"]["data"]
    assert best["y"] == pytest.approx(list(s.best))
    x, y = np.log(line["x"]), np.log(line["y"])                  # slope alpha in log-log
    assert np.polyfit(x, y, 1)[0] == pytest.approx(s.alpha)
    assert results_view(studies.load(grid), results)["analyses"] == []   # none declared


def test_the_lr_sweep_analysis_reads_a_rate_study_and_the_lab_draws_it(tmp_path):
    from hyperlab.lab.views import results_view
    from hyperlab.science import sensitivity
    from hyperlab.science.sweep import initial_losses
    study = studies.from_dict({
        "name": "rates", "repeats": 3, "analyses": ["lr-sweep"], "model": {"hidden": [6]},
        "fit": {"epochs": 4, "batch_size": 100},
        "sweep": [{"field": "compile.optimizer.learning_rate", "values": [3.0, 0.3, 0.03]}]})
    results = study.run(db=tmp_path / "s.db", progress=False)
    from hyperlab.science.analyses import compute
    sweep = compute("lr-sweep", study, results)
    assert list(sweep.rates) == [0.03, 0.3, 3.0] and sweep.seeds == [0, 1, 2]
    by_rate = {float(v.value): {r.seed: r for r in v.runs} for v in results.values}
    final = np.array([[by_rate[rate][s].history["loss"][-1]
                       if by_rate[rate][s].diverged_epoch is None else np.nan
                       for s in range(3)] for rate in (0.03, 0.3, 3.0)])
    np.testing.assert_allclose(sweep.final_loss, final)
    initial = initial_losses(study.variants()[0].config, [0, 1, 2])
    expect = sensitivity.analyze([0.03, 0.3, 3.0], final, initial, sweep.val_accuracy)
    assert sweep.analysis.recommended.rate == expect.recommended.rate
    assert sweep.analysis.stable == expect.stable and sweep.analysis.edge == expect.edge
    (view,) = results_view(study, results)["analyses"]
    assert view["answer"] == sweep.answer() and view["table"] == sweep.table()
    seeds, medians, *rest = view["chart"]["data"]
    assert medians["y"] == pytest.approx([r.final_loss.estimate for r in expect.rates])
    star = next(t for t in rest if t["name"] == "recommended rate")
    assert star["x"] == [expect.recommended.rate]


def test_the_lr_sweep_analysis_of_a_grid_says_why_it_is_not_computed(grid_study):
    from hyperlab.science.analyses import run_analyses
    grid, out, results = grid_study
    study = studies.load(grid)
    study.analyses = ["lr-sweep"]
    (done,) = run_analyses(study, results, out / "lr-on-grid", ("png",))
    assert done.answer == ("Not computed: the study sweeps ['fit.batch_size', "
                           "'compile.optimizer.learning_rate']: the learning-rate analysis "
                           "needs a sweep of compile.optimizer.learning_rate alone")
