"""The measure-vs-value figure, on hand-built StudyResults and compare_values verdicts."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hyperlab.reports.measure_figure import MARKS, measures, positions
from hyperlab.reports.measures import MeasureResult
from hyperlab.stats import compare_values
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

# final validation accuracy per seed: 64 is best, 16 is close to it, 4 and 450 clearly worse
ACCURACY = {
    "4": [0.60, 0.62, 0.61, 0.63, 0.59],
    "16": [0.80, 0.88, 0.78, 0.86, 0.85],
    "64": [0.84, 0.85, 0.83, 0.86, 0.845],
    "450": [0.70, 0.71, 0.69, 0.72, 0.70],
}


def _study(labels, values=None, axis="Batch Size") -> StudyResults:
    values = values or [int(lab) for lab in labels]
    vals = [ValueResult(lab, v, [RunResult(f"{lab}-{s}", s, {"loss": [1.0]}, 1, 0.1)
                                 for s in range(5)]) for lab, v in zip(labels, values)]
    return StudyResults("batch-size", "Batch size", axis, vals, {})


def _measure(samples: dict[str, list[float]], name="final_val_accuracy",
             title="final validation accuracy", unit="", percent=True, higher=True,
             baseline=None) -> MeasureResult:
    by_seed = {lab: dict(enumerate(v)) for lab, v in samples.items()}
    verdict = compare_values(by_seed, higher_is_better=higher, percent=percent, baseline=baseline)
    return MeasureResult(name, title, unit, percent, higher, by_seed, verdict)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def study() -> StudyResults:
    return _study(list(ACCURACY))


@pytest.fixture(scope="module")
def accuracy() -> MeasureResult:
    return _measure(ACCURACY)


def _estimates(ax) -> dict[float, object]:
    """The estimate marks by their y position (a verdict's estimate)."""
    out = {}
    for c in ax.containers:
        line = c.lines[0]
        out[round(float(line.get_ydata()[0]), 6)] = c
    return out


def test_every_seed_a_dot_and_each_estimate_with_its_interval(study, accuracy):
    fig = measures(study, [accuracy])
    (ax,) = fig.axes
    dots = [c for c in ax.collections if c.get_gid() == "seeds"]
    assert [len(d.get_offsets()) for d in dots] == [5] * 4
    for d, seeds in zip(dots, ACCURACY.values()):
        np.testing.assert_allclose(sorted(d.get_offsets()[:, 1]), sorted(100 * np.array(seeds)))
        xs = d.get_offsets()[:, 0]
        assert len(set(np.round(xs, 9))) == 5                   # spread, not stacked
    again = [c for c in measures(study, [accuracy]).axes[0].collections if c.get_gid() == "seeds"]
    np.testing.assert_array_equal(again[0].get_offsets(), dots[0].get_offsets())  # deterministic
    marks = _estimates(ax)
    assert len(marks) == 4
    for label, seeds in ACCURACY.items():
        v = accuracy.verdict.value(label)
        c = marks[round(100 * v.estimate.estimate, 6)]
        assert c.lines[0].get_marker() == MARKS[v.verdict]["marker"]
        segs = c.lines[2][0].get_segments()[0]
        np.testing.assert_allclose(sorted(segs[:, 1]),
                                   [100 * v.estimate.low, 100 * v.estimate.high])
        # the t interval of the mean, independently
        x = np.array(seeds)
        low, _ = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert 100 * low == pytest.approx(segs[:, 1].min())


def test_marks_legend_note_and_title_say_what_the_verdict_says(study, accuracy):
    verdicts = {v.label: v.verdict for v in accuracy.verdict.values}
    assert verdicts == {"4": "worse", "16": "no difference detected", "64": "best",
                        "450": "worse"}
    fig = measures(study, [accuracy])
    ax = fig.axes[0]
    marks = _estimates(ax)
    best = marks[round(100 * accuracy.verdict.value("64").estimate.estimate, 6)].lines[0]
    tie = marks[round(100 * accuracy.verdict.value("16").estimate.estimate, 6)].lines[0]
    assert best.get_marker() == "*" and tie.get_marker() == "o"
    assert tie.get_markerfacecolor() == "white"                 # hollow: not separable
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "one seed", "worse than the best (p_adj < 0.05)", "no difference from the best detected",
        "best estimate"]
    note = legend.get_title().get_text().replace("\n", " ")
    assert "n = 5 per value" in note and "95 %" in note and "mean with its t interval" in note
    assert "Holm-corrected at α = 0.05" in note and "paired by seed" in note
    assert fig._suptitle.get_text() == "Final validation accuracy by batch size (5 seeds each)"
    title = ax.get_title().replace("\n", " ")
    assert "best estimate at Batch Size = 64; 1 value not separable from it" in title
    assert "best:" not in title
    assert ax.get_ylabel() == "final validation accuracy (%)"


def test_a_best_value_separable_from_all_others_is_called_best():
    samples = {k: v for k, v in ACCURACY.items() if k != "16"}
    fig = measures(_study(list(samples)), [_measure(samples)])
    title = fig.axes[0].get_title().replace("\n", " ")
    assert "best: Batch Size = 64 (every other value differs from it)" in title


def test_log_axis_when_values_span_a_decade_else_categories(study, accuracy):
    ax = measures(study, [accuracy]).axes[0]
    assert ax.get_xscale() == "log"
    np.testing.assert_array_equal(ax.get_xticks(), [4, 16, 64, 450])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(ACCURACY)
    # every dot lies between its value's neighbours
    for d, x in zip([c for c in ax.collections if c.get_gid() == "seeds"], [4, 16, 64, 450]):
        assert np.all(np.abs(np.log10(d.get_offsets()[:, 0] / x)) < 0.3)

    cats = {"0.0": ACCURACY["4"], "0.5": ACCURACY["16"], "0.9": ACCURACY["64"]}
    for values in ([0.0, 0.5, 0.9], [2, 5, 8]):                  # a zero; less than a decade
        res = _study(list(cats), values, axis="Momentum")
        xs, log = positions(res)
        assert not log and list(xs) == [0, 1, 2]
        ax = measures(res, [_measure(cats)]).axes[0]
        assert ax.get_xscale() == "linear"
        assert [t.get_text() for t in ax.get_xticklabels()] == list(cats)
    assert positions(_study(["a", "b"], ["a", "b"]))[1] is False


def test_y_limits_fitted_to_the_data(study, accuracy):
    ax = measures(study, [accuracy]).axes[0]
    lows = [100 * v.estimate.low for v in accuracy.verdict.values]
    highs = [100 * v.estimate.high for v in accuracy.verdict.values]
    lo, hi = min(lows), max(highs)
    ylo, yhi = ax.get_ylim()
    assert lo - 0.1 * (hi - lo) <= ylo <= lo and hi <= yhi <= hi + 0.1 * (hi - lo)
    assert ylo > 50                                              # not 0-100


def test_one_panel_per_measure_first_leads_at_most_four(study, accuracy):
    epochs = _measure({"4": [5, 6, 7, 5, 6], "16": [9, 9, 10, 8, 9], "64": [20, 22, 19, 21, 20],
                       "450": [np.nan, 40, np.nan, 41, 39]},
                      name="epochs_to_threshold", title="epochs to 80 % validation accuracy",
                      unit="epochs", percent=False, higher=False)
    fig = measures(study, [epochs, accuracy])
    assert len(fig.axes) == 2
    assert fig._suptitle.get_text().startswith("Epochs to 80 % validation accuracy by batch size")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "epochs to 80 % validation accuracy (epochs)"
    dots = [c for c in ax.collections if c.get_gid() == "seeds"]
    assert len(dots[3].get_offsets()) == 3                       # two seeds never reached it
    assert any(t.get_text() == "2 of 5\nno value" for t in ax.texts)
    assert [v.verdict for v in epochs.verdict.values] == ["best", "worse", "worse", "worse"]
    assert ax.get_title().replace("\n", " ") == ("Epochs to 80 % validation accuracy best: Batch "
                                                 "Size = 4 (every other value differs from it)")
    many = measures(study, [epochs, accuracy, accuracy, accuracy, accuracy])
    assert len(many.axes) == 4
    assert "1 more measure(s) in the verdict, not drawn" in \
        many.legends[0].get_title().get_text().replace("\n", " ")
    with pytest.raises(ValueError, match="at least one measure"):
        measures(study, [])


def test_rates_and_a_value_better_than_the_baseline_but_not_separable_from_the_best():
    diverged = {"no clipping": [1] * 8, "clipvalue 0.5": [0] * 8,
                "clipnorm 0.5": [0, 0, 1, 0, 0, 0, 0, 0]}
    res = _study(list(diverged), list(diverged), axis="Clipping")
    by_seed = {k: dict(enumerate(map(float, v))) for k, v in diverged.items()}
    verdict = compare_values(by_seed, higher_is_better=False, rate=True, baseline="no clipping",
                             percent=True)
    assert [v.verdict for v in verdict.values] == ["worse", "best", "better"]
    m = MeasureResult("diverged", "divergence rate", "", True, False, by_seed, verdict)
    fig = measures(res, [m])
    ax = fig.axes[0]
    assert ax.get_ylim() == (-5.0, 105.0)
    note = fig.legends[0].get_title().get_text().replace("\n", " ")
    assert "rate with its clopper-pearson interval" in note and "n = 8 per value" in note
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "one seed", "worse than the best (p_adj < 0.05)", "best estimate",
        "better than the baseline (p_adj < 0.05)"]
    title = ax.get_title().replace("\n", " ")
    assert "best estimate at Clipping = clipvalue 0.5; 1 value not separable from it" in title
