"""Summary rows, the verdict and the table renderings, on small synthetic StudyResults."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats

from hyperlab.reports.summary import COLUMNS, format_table, summarize, to_csv, to_markdown, verdict
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

NAN, INF = math.nan, math.inf


def run(seed: int, val_accuracy, accuracy=None, val_loss=None, loss=None, *, updates=100,
        wall=1.0, diverged=None, stopped=None) -> RunResult:
    n = len(val_accuracy)
    history = {
        "loss": list(loss) if loss is not None else [0.5] * n,
        "accuracy": list(accuracy) if accuracy is not None else [0.5] * n,
        "val_loss": list(val_loss) if val_loss is not None else [0.5] * n,
        "val_accuracy": list(val_accuracy),
        "learning_rate": [0.01] * n,
    }
    return RunResult(key=f"k{seed}", seed=seed, history=history, updates=updates, wall_time_s=wall,
                     diverged_epoch=diverged, stopped_epoch=stopped)


def study(values: dict[str, list[RunResult]], axis="Batch Size", threshold=0.8) -> StudyResults:
    return StudyResults(name="batch-size", description="batch size sweep", axis=axis,
                        values=[ValueResult(label=k, value=k, runs=v) for k, v in values.items()],
                        config={}, threshold=threshold)


@pytest.fixture
def hand() -> StudyResults:
    """Numbers chosen so every statistic is easy to compute by hand."""
    v16 = [
        run(0, [0.5, 0.7, 0.85, 0.8], [0.6, 0.7, 0.8, 0.9], [1.0, 0.8, 0.6, 0.5], [1.1, 0.9, 0.7, 0.4],
            updates=100, wall=1.0),
        run(1, [0.6, 0.82, 0.84, 0.9], [0.6, 0.7, 0.8, 0.95], [1.0, 0.8, 0.6, 0.3], [1.1, 0.9, 0.7, 0.2],
            updates=100, wall=2.0),
        run(2, [0.4, 0.5, 0.6, 0.7], [0.6, 0.7, 0.8, 0.85], [1.0, 0.8, 0.8, 0.7], [1.1, 0.9, 0.7, 0.6],
            updates=100, wall=3.0),
    ]
    v32 = [
        # diverged at (0-based) epoch 1: non-finite losses and val accuracy from there on
        run(3, [0.5, NAN, NAN, NAN], [0.4, 0.33, 0.33, 0.33], [1.0, INF, NAN, NAN], [1.0, NAN, NAN, NAN],
            updates=40, wall=1.0, diverged=1),
        # stopped early after 3 epochs
        run(4, [0.7, 0.85, 0.9], [0.7, 0.8, 0.92], [0.8, 0.4, 0.25], [0.8, 0.4, 0.2],
            updates=30, wall=1.5, stopped=2),
        run(5, [0.6, 0.7, 0.8, 0.8], [0.6, 0.7, 0.8, 0.88], [0.9, 0.6, 0.4, 0.35], [0.9, 0.6, 0.4, 0.3],
            updates=40, wall=2.0),
    ]
    v64 = [run(6, [0.3, 0.5, 0.6, 0.65], updates=20, wall=0.5)]
    return study({"16": v16, "32": v32, "64": v64})


def test_rows_in_study_order_with_contract_columns(hand):
    rows = summarize(hand)
    assert [r["value"] for r in rows] == ["16", "32", "64"]
    assert [r["n"] for r in rows] == [3, 3, 1]
    for r in rows:
        assert list(r) == list(COLUMNS)


def test_final_epoch_means_and_sample_sd(hand):
    r = summarize(hand)[0]
    assert r["val_accuracy_mean"] == pytest.approx(0.8)
    assert r["val_accuracy_sd"] == pytest.approx(0.1)          # ddof=1: sqrt((0.01+0.01+0)/2)
    assert r["accuracy_mean"] == pytest.approx(0.9)
    assert r["accuracy_sd"] == pytest.approx(0.05)
    assert r["val_loss_mean"] == pytest.approx(0.5)
    assert r["val_loss_sd"] == pytest.approx(0.2)
    assert r["loss_mean"] == pytest.approx(0.4)
    assert r["loss_sd"] == pytest.approx(0.2)
    assert r["updates_mean"] == pytest.approx(100)
    assert r["wall_time_s_mean"] == pytest.approx(2.0)
    assert r["diverged"] == 0


def test_best_epoch_and_epochs_to_threshold(hand):
    r = summarize(hand)[0]
    assert r["best_val_accuracy_mean"] == pytest.approx((0.85 + 0.9 + 0.7) / 3)
    assert r["best_epoch_mean"] == pytest.approx((3 + 4 + 4) / 3)   # 1-based
    # thresholds 0.8: run 0 at epoch 3, run 1 at epoch 2, run 2 never
    assert r["epochs_to_threshold_mean"] == pytest.approx(2.5)
    assert r["reached"] == 2
    assert r["threshold"] == pytest.approx(0.8)


def test_diverged_and_early_stopped_runs_do_not_poison_the_row(hand):
    r = summarize(hand)[1]
    assert r["diverged"] == 1
    assert r["val_accuracy_mean"] == pytest.approx(0.85)            # (0.9 + 0.8) / 2, NaN left out
    assert r["val_accuracy_sd"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert r["accuracy_mean"] == pytest.approx((0.33 + 0.92 + 0.88) / 3)
    assert r["loss_mean"] == pytest.approx(0.25)
    assert r["val_loss_mean"] == pytest.approx(0.3)                  # inf/NaN left out
    assert r["best_val_accuracy_mean"] == pytest.approx((0.5 + 0.9 + 0.8) / 3)
    assert r["best_epoch_mean"] == pytest.approx((1 + 3 + 3) / 3)
    assert r["epochs_to_threshold_mean"] == pytest.approx((2 + 3) / 2)
    assert r["reached"] == 2
    assert r["updates_mean"] == pytest.approx(110 / 3)


def test_single_run_has_nan_sd_and_never_reached_threshold(hand):
    r = summarize(hand)[2]
    assert r["val_accuracy_mean"] == pytest.approx(0.65)
    assert math.isnan(r["val_accuracy_sd"]) and math.isnan(r["loss_sd"])
    assert math.isnan(r["epochs_to_threshold_mean"]) and r["reached"] == 0
    assert r["best_epoch_mean"] == 4


def test_all_runs_diverged_gives_nan_not_an_error():
    res = study({"1.0": [run(0, [NAN, NAN], loss=[NAN, NAN], diverged=0),
                         run(1, [NAN, NAN], loss=[INF, NAN], diverged=0)]})
    r = summarize(res)[0]
    assert r["diverged"] == 2 and r["reached"] == 0
    assert math.isnan(r["val_accuracy_mean"]) and math.isnan(r["best_epoch_mean"])
    v = verdict(res)
    assert v["best"] is None and "nothing to compare" in v["text"]


def test_csv_header_and_rows(hand, tmp_path):
    rows = summarize(hand)
    path = to_csv(rows, tmp_path / "out" / "summary.csv")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        records = list(reader)
        header = reader.fieldnames
    assert header == list(COLUMNS)
    assert header[:6] == ["value", "n", "val_accuracy_mean", "val_accuracy_sd", "accuracy_mean",
                          "accuracy_sd"]
    assert {"value", "n", "val_accuracy_mean", "val_accuracy_sd", "accuracy_mean",
            "val_loss_mean"} <= set(header)
    assert len(records) == 3
    assert [rec["value"] for rec in records] == ["16", "32", "64"]
    assert float(records[0]["val_accuracy_mean"]) == pytest.approx(0.8)
    assert math.isnan(float(records[2]["val_accuracy_sd"]))
    assert int(records[1]["diverged"]) == 1


def test_format_table_is_aligned(hand):
    text = format_table(summarize(hand))
    lines = text.splitlines()
    assert len(lines) == 2 + 3
    assert len({len(line) for line in lines}) == 1                   # every line the same width
    assert "80.0 ± 10.0" in lines[2]                                 # val acc % ± sd
    assert "2.5 (2/3)" in lines[2]                                   # epochs to threshold (reached)
    assert "epochs to 80%" in lines[0]
    assert lines[4].split()[0] == "64" and "n/a (0/1)" in lines[4]


def test_markdown_has_table_and_verdict(hand):
    rows = summarize(hand)
    v = verdict(hand, rows)
    md = to_markdown(rows, v)
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3
    assert len({line.count("|") for line in table}) == 1
    assert v["text"] in md


def finals_study(finals: dict[str, list[float]]) -> StudyResults:
    return study({label: [run(i, [x]) for i, x in enumerate(xs)] for label, xs in finals.items()})


SEPARATED = {
    "16": [0.89, 0.92, 0.90, 0.91, 0.90],     # overlaps the best
    "32": [0.90, 0.91, 0.92, 0.90, 0.91],     # best mean
    "64": [0.70, 0.71, 0.72, 0.70, 0.71],     # clearly worse
}


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy, the oracle
def test_verdict_best_ci_and_the_values_worse_than_it():
    res = finals_study(SEPARATED)
    v = verdict(res, summarize(res))
    assert v["best"] == "32" and v["n"] == 5
    a = np.array(SEPARATED["32"])
    lo, hi = stats.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=stats.sem(a))
    assert v["mean"] == pytest.approx(a.mean())
    assert (v["ci_low"], v["ci_high"]) == pytest.approx((lo, hi))
    assert v["ci_half_width"] == pytest.approx((hi - lo) / 2)
    # every pair of values, paired by seed, Holm-corrected together
    pairs = [("16", "32"), ("16", "64"), ("32", "64")]
    raw = [stats.ttest_rel(SEPARATED[x], SEPARATED[y]).pvalue for x, y in pairs]
    order = np.argsort(raw)
    holm = np.maximum.accumulate([min(1.0, (3 - i) * raw[j]) for i, j in enumerate(order)])
    adjusted = dict(zip([pairs[j] for j in order], holm))
    assert v["p_adjusted"]["16"] == pytest.approx(adjusted[("16", "32")])
    assert v["p_adjusted"]["64"] == pytest.approx(adjusted[("32", "64")])
    assert v["worse"] == ["64"] and v["no_difference_detected"] == ["16"]
    assert v["verdicts"] == {"16": "no difference detected", "32": "best", "64": "worse"}
    assert v["seeds_needed"]["16"] >= 2 and v["unstable"] == []
    assert v["text"].startswith("Batch Size = 32 gives the highest final validation accuracy")
    assert "no difference detected between Batch Size = 32 and Batch Size = 16 at n = 5" in v["text"]
    assert "indistinguishable" not in v["text"]


def test_verdict_does_not_call_an_undetected_difference_no_difference():
    res = finals_study({"a": [0.9, 0.91, 0.92], "b": [0.5, 0.7, 0.95]})
    v = verdict(res)
    assert v["best"] == "a" and v["worse"] == [] and v["no_difference_detected"] == ["b"]
    assert "no difference detected" in v["text"] and "seeds" in v["text"]
    assert "indistinguishable" not in v["text"] and "same" not in v["text"]


def test_verdict_says_when_seeds_split_into_outcomes():
    res = finals_study({"0.01": [0.84, 0.85, 0.86], "1.0": [0.5, 0.7, 0.82]})
    v = verdict(res)
    assert v["unstable"] == ["1.0"] and "unstable" in v["text"]


def test_verdict_with_one_repeat_tests_nothing():
    res = finals_study({"16": [0.8], "32": [0.9], "64": [0.85]})
    v = verdict(res)
    assert v["best"] == "32" and v["n"] == 1 and v["worse"] == []
    assert math.isnan(v["ci_low"]) and math.isnan(v["ci_half_width"])
    assert all(math.isnan(p) for p in v["p_adjusted"].values())
    assert "worse" not in v["text"] and "indistinguishable" not in v["text"]
