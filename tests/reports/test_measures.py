"""The documented measures against hand computation, and a study's verdict on its declared measures."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from hyperlab import studies
from hyperlab.reports.measures import measure_study
from hyperlab.reports.summary import verdict
from hyperlab.studies.measures import MEASURES
from hyperlab.studies.results import RunResult, StudyResults, ValueResult
from hyperlab.studies.spec import StudyError, from_dict

NAN = math.nan


def run(seed, val_accuracy, accuracy=None, *, val_loss=None, updates=None, diverged=None,
        restored=None) -> RunResult:
    n = len(val_accuracy)
    history = {"loss": [0.5] * n, "accuracy": list(accuracy or [0.9] * n),
               "val_loss": list(val_loss or [0.5] * n), "val_accuracy": list(val_accuracy),
               "learning_rate": [0.01] * n}
    return RunResult(key=f"k{seed}-{n}", seed=seed, history=history,
                     updates=updates if updates is not None else 4 * n, wall_time_s=1.0,
                     diverged_epoch=diverged, restored_epoch=restored)


def measure(name, r, threshold=0.8):
    return MEASURES[name].of(r, threshold)


def test_each_measure_by_hand():
    r = run(0, [0.5, 0.7, 0.82, 0.79, 0.85, 0.84], [0.6, 0.8, 0.9, 0.9, 0.95, 0.97],
            val_loss=[0.9, 0.6, 0.4, 0.45, 0.3, 0.35], restored=4)
    assert measure("final_val_accuracy", r) == 0.84
    assert measure("best_val_accuracy", r) == 0.85
    assert measure("final_val_loss", r) == 0.35 and measure("best_val_loss", r) == 0.3
    assert measure("restored_val_accuracy", r) == 0.85          # epoch 5 (0-based 4)
    assert measure("epochs_to_threshold", r) == 3                # 1-based first epoch >= 0.8
    assert math.isnan(measure("epochs_to_threshold", r, 0.9))           # never reached
    assert measure("updates_to_threshold", r) == 3 * 4
    assert measure("val_accuracy_auc", r) == pytest.approx(np.mean(r.history["val_accuracy"]))
    last_half = np.diff([0.79, 0.85, 0.84])
    assert measure("volatility", r) == pytest.approx(np.std(last_half, ddof=1))
    assert measure("gap", r) == pytest.approx(0.97 - 0.84)
    assert measure("epochs_to_plateau", r) == 5                  # first within 1 point of 0.85
    assert measure("epochs_trained", r) == 6
    assert measure("diverged", r) == 0 and measure("diverged", run(1, [0.5], diverged=0)) == 1
    assert measure("restored_val_accuracy", run(2, [0.5, 0.6])) == 0.6   # nothing restored


def early_stopping_study() -> StudyResults:
    """Restoring gives back each seed's best epoch; plain patience keeps its last."""
    curves = [[0.80, 0.86, 0.84, 0.83], [0.81, 0.88, 0.85, 0.84], [0.79, 0.85, 0.83, 0.82],
              [0.82, 0.87, 0.86, 0.83]]
    plain = [run(s, c) for s, c in enumerate(curves)]
    restored = [run(s, c, restored=1) for s, c in enumerate(curves)]
    return StudyResults(name="es", description="", axis="Early stopping", config={},
                        values=[ValueResult("patience 2", {}, plain),
                                ValueResult("patience 2, restore best", {}, restored)],
                        measures=["restored_val_accuracy", "final_val_accuracy"],
                        baseline="patience 2")


def test_restored_weights_measure_separates_what_final_accuracy_cannot():
    results = early_stopping_study()
    lead, final = measure_study(results)
    assert lead.samples["patience 2, restore best"] == {0: 0.86, 1: 0.88, 2: 0.85, 3: 0.87}
    diffs = np.array([0.86, 0.88, 0.85, 0.87]) - np.array([0.83, 0.84, 0.82, 0.83])
    want = sps.ttest_rel([0.86, 0.88, 0.85, 0.87], [0.83, 0.84, 0.82, 0.83]).pvalue
    best = lead.verdict.value("patience 2")
    assert lead.verdict.best == "patience 2, restore best" and best.verdict == "worse"
    assert best.to_best.difference == pytest.approx(-diffs.mean())
    assert best.p_adj == pytest.approx(want)            # one pair: Holm leaves it as it is
    assert {v.verdict for v in final.verdict.values} == {"best", "no difference detected"}


def test_verdict_json_holds_every_measure():
    results = early_stopping_study()
    v = verdict(results)
    assert v["leading"] == "restored_val_accuracy" and len(v["measures"]) == 2
    data = json.loads(json.dumps(v["measures"], allow_nan=False))
    lead = data[0]
    assert lead["best"] == "patience 2, restore best" and lead["baseline"] == "patience 2"
    values = {x["label"]: x for x in lead["values"]}
    assert values["patience 2"]["verdict"] == "worse"
    assert values["patience 2"]["difference_to_best"] == pytest.approx(-0.035)
    assert values["patience 2, restore best"]["seeds"] == {"0": 0.86, "1": 0.88, "2": 0.85,
                                                           "3": 0.87}
    assert v["text"] == lead["answer"] and "validation accuracy of the returned weights" in v["text"]


def test_unreached_thresholds_are_said_and_left_out():
    results = StudyResults(name="m", description="", axis="Momentum", config={}, values=[
        ValueResult("0.9", 0.9, [run(s, [0.7, 0.85, 0.9]) for s in range(3)]),
        ValueResult("0.99", 0.99, [run(0, [0.5, 0.6, 0.7]), run(1, [0.7, 0.7, 0.81]),
                                   run(2, [0.7, 0.82, 0.8])])],
        measures=["epochs_to_threshold"])
    (m,) = measure_study(results)
    assert m.samples["0.99"] == {0: pytest.approx(NAN, nan_ok=True), 1: 3.0, 2: 2.0}
    assert m.verdict.value("0.99").estimate.n == 2
    assert "1 of 3 seeds of Momentum = 0.99 never reached 80 %" in m.verdict.answer
    assert m.verdict.answer.startswith("Momentum = 0.9 gives the lowest epochs to 80 % validation")


def test_divergence_rate_uses_exact_tests():
    results = StudyResults(name="c", description="", axis="Clipping", config={}, values=[
        ValueResult("none", {}, [run(s, [0.1], diverged=0) for s in range(6)]),
        ValueResult("clipnorm", {}, [run(s, [0.9]) for s in range(6)])], measures=["diverged"])
    (m,) = measure_study(results)
    none = m.verdict.value("none")
    assert m.verdict.best == "clipnorm" and none.to_best.test == "exact McNemar test"
    assert none.p_adj == pytest.approx(2 * 0.5 ** 6) and none.verdict == "worse"


def test_every_builtin_study_declares_known_measures():
    for name in studies.builtin_names():
        study = studies.get(name)
        assert study.measures and set(study.measures) <= set(MEASURES), name
        labels = [v.label for v in study.variants()]
        assert study.baseline is None or study.baseline in labels, name


@pytest.mark.parametrize("verdict_table, match", [
    ({"measures": ["speed"]}, "unknown measure 'speed'"),
    ({"measures": []}, "name at least one measure"),
    ({"measures": ["gap", "gap"]}, "names a measure twice"),
    ({"baseline": "0.5"}, "verdict.baseline: '0.5' is not a value label"),
    ({"lead": "gap"}, "verdict.lead: unknown key"),
])
def test_bad_verdict_tables_are_refused_in_one_line(verdict_table, match):
    raw = {"verdict": verdict_table,
           "sweep": [{"field": "compile.optimizer.momentum", "values": [0.0, 0.9]}]}
    with pytest.raises(StudyError, match=match):
        from_dict(raw, source="s.toml")


def test_intervals_stay_within_what_a_measure_can_take():
    """Seeds split between 1 and 40 epochs to the threshold: the t interval of the mean
    reaches below 0 epochs; the reported interval stops at 0, its upper end unchanged."""
    reach = {0: [0.85], 1: [0.7] * 39 + [0.85], 2: [0.85]}
    results = StudyResults(name="m", description="", axis="Momentum", config={}, values=[
        ValueResult("0.99", 0.99, [run(s, reach[s]) for s in range(3)]),
        ValueResult("0.9", 0.9, [run(s, [0.85]) for s in range(3)])],
        measures=["epochs_to_threshold", "final_val_accuracy"])
    epochs, accuracy = measure_study(results)
    e = epochs.verdict.value("0.99").estimate
    t = sps.t.interval(0.95, 2, loc=14.0, scale=np.std([1, 40, 1], ddof=1) / math.sqrt(3))
    assert t[0] < 0 and e.low == 0.0 and e.high == pytest.approx(t[1])
    assert MEASURES["epochs_to_threshold"].bounds == (0.0, math.inf)
    assert MEASURES["final_val_accuracy"].bounds == (0.0, 1.0)
    assert MEASURES["gap"].bounds == (-1.0, 1.0)
