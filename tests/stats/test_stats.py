"""hyperlab.stats against independent implementations (SciPy, statsmodels, hand formulas)
and by simulation (A/A calibration, interval coverage, power)."""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from hyperlab.stats import (VERDICTS, compare, compare_values, estimate, holm, outcomes,
                            seeds_needed)

# Every test fails on any warning: the statistics must never warn, whatever the data.
pytestmark = pytest.mark.filterwarnings("error")

ALPHA = 0.05


def binomial_margin(rate: float, trials: int, sigmas: float = 3.0) -> float:
    """``sigmas`` standard errors of a proportion ``rate`` estimated from ``trials``."""
    return sigmas * math.sqrt(rate * (1 - rate) / trials)


def aa_study(rng: np.random.Generator, studies: int, values: int, n: int,
             paired: bool = True) -> np.ndarray:
    """Simulated A/A studies, shape (studies, values, n): every value the same configuration.

    Paired, seed ``s`` shares an offset across values (as shared initial weights and data
    order do); unpaired, every run is independent."""
    seed_effect = rng.normal(0.0, 0.05 if paired else 0.0, size=(studies, 1, n))
    return 0.8 + seed_effect + rng.normal(0.0, 0.02 if paired else 0.05, size=(studies, values, n))


results = st.floats(-1e6, 1e6, allow_nan=False)
samples = st.lists(results, min_size=0, max_size=12)


# --------------------------------------------------------------------------- the package

def test_import_does_not_load_jax():
    code = "import sys, hyperlab.stats; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- estimate

@pytest.mark.parametrize("n", [2, 3, 5, 10])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(n, level):
    x = np.random.default_rng(n).normal(0.8, 0.05, n)
    e = estimate(x, level)
    low, high = sps.t.interval(level, n - 1, loc=x.mean(), scale=sps.sem(x))
    assert (e.estimate, e.n, e.excluded, e.method, e.statistic) == (pytest.approx(x.mean()), n, 0,
                                                                   "t", "mean")
    assert (e.low, e.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))


def test_estimate_edge_cases():
    one = estimate([0.7])
    assert one.estimate == 0.7 and one.n == 1 and math.isnan(one.low) and math.isnan(one.high)
    none = estimate([])
    assert none.n == 0 and all(math.isnan(v) for v in (none.estimate, none.low, none.high))
    flat = estimate([0.5, 0.5, 0.5])
    assert flat.low == flat.estimate == flat.high == 0.5
    diverged = estimate([0.8, np.nan, 0.9, np.inf, None])
    assert (diverged.n, diverged.excluded) == (2, 3) and diverged.estimate == pytest.approx(0.85)
    assert estimate({3: 0.8, 7: 0.9, 9: math.nan}).n == 2
    assert math.isnan(estimate([0.8], method="bootstrap").low)


def test_estimate_rejects_bad_arguments():
    for kwargs in ({"method": "z"}, {"statistic": "mode"}, {"statistic": "median"},
                   {"level": 1.0}, {"level": 0.0}):
        with pytest.raises(ValueError):
            estimate([1.0, 2.0], **kwargs)
    with pytest.raises(ValueError):
        estimate([[1.0, 2.0]])


def test_bootstrap_is_reproducible_and_does_the_median():
    x = [0.5, 0.8, 0.82, 0.84, 0.85]
    first = estimate(x, method="bootstrap", statistic="median", seed=3)
    assert first == estimate(x, method="bootstrap", statistic="median", seed=3)
    assert first.estimate == 0.82 and 0.5 <= first.low <= 0.82 <= first.high <= 0.85
    mean = estimate(x, method="bootstrap")
    assert mean.estimate == pytest.approx(np.mean(x)) and mean.low < mean.estimate < mean.high


@pytest.mark.parametrize("n", [3, 5, 10])
def test_t_interval_covers_at_its_nominal_rate(n):
    trials = 2000
    data = np.random.default_rng(100 + n).normal(0.8, 0.03, size=(trials, n))
    covered = np.mean([(e := estimate(row)).low <= 0.8 <= e.high for row in data])
    assert abs(covered - 0.95) <= binomial_margin(0.95, trials)


def test_bootstrap_undercovers_with_few_seeds_as_documented():
    trials = 400
    data = np.random.default_rng(7).normal(0.0, 1.0, size=(trials, 10))
    covered = np.mean([(e := estimate(row, method="bootstrap", resamples=1000)).low <= 0 <= e.high
                       for row in data])
    assert abs(covered - 0.90) <= binomial_margin(0.90, trials)


@settings(max_examples=60, deadline=None)
@given(samples, st.sampled_from([("t", "mean"), ("bootstrap", "mean"), ("bootstrap", "median")]))
def test_interval_contains_the_estimate(x, how):
    e = estimate(x, method=how[0], statistic=how[1], resamples=200)
    assert e.n == len(x)
    if e.n >= 2:
        slack = 1e-9 * max(1.0, max(map(abs, x)))
        assert e.low - slack <= e.estimate <= e.high + slack


# --------------------------------------------------------------------------- compare

def test_paired_matches_scipy_ttest_rel():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.8, 0.05, 6), rng.normal(0.78, 0.05, 6)
    c = compare(a, b, paired=True, level=0.9)
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval(0.9)
    assert c.statistic == pytest.approx(ref.statistic) and c.p_value == pytest.approx(ref.pvalue)
    assert (c.low, c.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert (c.df, c.n_a, c.n_b, c.test) == (ref.df, 6, 6, "paired t-test")
    d = a - b
    assert c.difference == pytest.approx(statistics.fmean(d))
    assert c.effect_size == pytest.approx(statistics.fmean(d) / statistics.stdev(d))
    assert c.effect_size_name == "d_z"


def test_welch_matches_scipy_ttest_ind():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.8, 0.02, 4), rng.normal(0.75, 0.08, 7)
    c = compare(a, b, paired=False)
    ref = sps.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert c.statistic == pytest.approx(ref.statistic) and c.p_value == pytest.approx(ref.pvalue)
    assert (c.low, c.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert c.df == pytest.approx(ref.df) and (c.n_a, c.n_b) == (4, 7)
    assert c.test == "Welch's t-test" and c.effect_size_name == "hedges_g"


def test_hedges_g_matches_the_hand_formula():
    a, b = [0.81, 0.84, 0.80, 0.86], [0.78, 0.80, 0.75, 0.79, 0.77]
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * statistics.variance(a) + (nb - 1) * statistics.variance(b))
                       / (na + nb - 2))
    d = (statistics.fmean(a) - statistics.fmean(b)) / pooled
    nu = na + nb - 2
    exact = math.gamma(nu / 2) / (math.sqrt(nu / 2) * math.gamma((nu - 1) / 2))
    c = compare(a, b, paired=False)
    assert c.sd == pytest.approx(pooled)
    assert c.effect_size == pytest.approx(exact * d)
    hedges_approximation = 1 - 3 / (4 * nu - 1)
    assert c.effect_size == pytest.approx(hedges_approximation * d, rel=2e-3)


def test_pairing_uses_only_the_seeds_both_values_have():
    a = [0.80, 0.82, np.nan, 0.85, 0.90]
    b = [0.75, np.inf, 0.70, 0.81]
    c = compare(a, b, paired=True)
    ref = sps.ttest_rel([0.80, 0.85], [0.75, 0.81])
    assert (c.n_a, c.n_b) == (2, 2) and c.difference == pytest.approx(0.045)
    assert c.p_value == pytest.approx(ref.pvalue)
    by_seed = compare({10: 0.8, 11: 0.82, 12: 0.9}, {12: 0.86, 10: 0.79, 13: 0.5}, paired=True)
    ref = sps.ttest_rel([0.8, 0.9], [0.79, 0.86])
    assert by_seed.n_a == 2 and by_seed.p_value == pytest.approx(ref.pvalue)
    mixed = compare([0.8, 0.82, 0.9], {0: 0.79, 2: 0.86}, paired=True)
    assert mixed.p_value == pytest.approx(ref.pvalue)


@pytest.mark.parametrize("paired", [True, False])
def test_no_spread_gives_the_exact_answer_without_warnings(paired):
    a = np.array([0.3, 0.6, 0.9])
    shifted = compare(a, a - 0.1, paired=paired) if paired else compare([0.8] * 3, [0.7] * 3,
                                                                        paired=False)
    assert shifted.p_value == 0.0 and shifted.difference == pytest.approx(0.1)
    assert shifted.low == shifted.high == shifted.difference
    assert shifted.effect_size == math.inf and shifted.statistic == math.inf
    same = compare(a, a.copy(), paired=True) if paired else compare([0.8] * 3, [0.8] * 3,
                                                                    paired=False)
    assert (same.p_value, same.difference, same.effect_size, same.low, same.high) == (1, 0, 0, 0, 0)
    json.dumps(shifted.to_dict(), allow_nan=False)


def test_welch_with_one_constant_value_is_a_one_sample_test():
    b = [0.7, 0.75, 0.72]
    c = compare([0.8, 0.8, 0.8], b, paired=False)
    t = (0.8 - statistics.fmean(b)) / math.sqrt(statistics.variance(b) / 3)
    assert c.statistic == pytest.approx(t) and c.df == pytest.approx(2.0)
    assert c.p_value == pytest.approx(2 * sps.t.sf(t, 2))


@pytest.mark.parametrize("a, b, paired", [([0.8], [0.7, 0.75], False), ([], [], True),
                                          ([0.8, np.nan], [np.nan, 0.7], True),
                                          ({1: 0.8, 2: 0.9}, {3: 0.7, 4: 0.6}, True)])
def test_too_few_results_give_nan(a, b, paired):
    c = compare(a, b, paired=paired)
    assert all(math.isnan(v) for v in (c.low, c.high, c.p_value, c.effect_size, c.sd))


def test_paired_comparison_is_more_powerful_with_a_seed_effect():
    trials, n = 600, 5
    rng = np.random.default_rng(4)
    seed_effect = rng.normal(0.0, 0.05, size=(trials, 1, n))
    data = 0.8 + seed_effect + rng.normal(0.0, 0.005, size=(trials, 2, n))
    data[:, 0] += 0.02
    power = {paired: np.mean([compare(a, b, paired=paired).p_value < ALPHA for a, b in data])
             for paired in (True, False)}
    assert power[True] > 0.9 and power[False] < 0.3


@settings(max_examples=80, deadline=None)
@given(samples, samples, st.booleans())
@example([0.0, 0.0], [0.0, 3.016860195154543e-101], False)  # Welch's df once underflowed
def test_compare_is_well_formed_on_any_data(a, b, paired):
    c = compare(a, b, paired=paired)
    assert math.isnan(c.p_value) or 0.0 <= c.p_value <= 1.0
    if not math.isnan(c.low):
        assert c.low <= c.difference <= c.high
    json.dumps(c.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- holm

def test_holm_hand_worked_examples():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.04·1, 0.06) = 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    np.testing.assert_allclose(holm([0.02, 0.02]), [0.04, 0.04])
    assert holm([]).shape == (0,)
    for bad in ([1.5], [-0.1], [[0.1]]):
        with pytest.raises(ValueError):
            holm(bad)


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(5)
    for m in (1, 2, 5, 12):
        p = np.round(rng.uniform(0, 0.2, m), 3)  # rounding makes ties
        np.testing.assert_allclose(holm(p), multitest.multipletests(p, method="holm")[1])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(math.nan)), max_size=15), st.randoms())
def test_holm_is_monotone_bounded_and_order_preserving(p, random):
    p = np.array(p, dtype=float)
    adjusted = holm(p)
    present = ~np.isnan(p)
    assert np.array_equal(np.isnan(adjusted), ~present)
    assert np.all(adjusted[present] >= p[present]) and np.all(adjusted[present] <= 1)
    order = np.argsort(p[present], kind="stable")
    assert np.all(np.diff(adjusted[present][order]) >= 0)
    shuffle = np.array(random.sample(range(p.size), p.size), dtype=int)
    np.testing.assert_array_equal(holm(p[shuffle]), adjusted[shuffle])


# --------------------------------------------------------------------------- seeds_needed

@pytest.mark.parametrize("effect", [0.3, 0.8, 1.5, 3.0])
def test_seeds_needed_matches_statsmodels(effect):
    power = pytest.importorskip("statsmodels.stats.power")
    one = power.TTestPower().solve_power(effect_size=effect, alpha=0.05, power=0.8)
    two = power.TTestIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8)
    assert abs(seeds_needed(0.02, 0.02 * effect) - math.ceil(one)) <= 1
    assert abs(seeds_needed(0.02, 0.02 * effect, paired=False) - math.ceil(two)) <= 1


@pytest.mark.parametrize("paired", [True, False])
def test_seeds_needed_reaches_its_power_by_simulation(paired):
    trials, effect = 4000, 1.0
    n = seeds_needed(1.0, effect, paired=paired)
    rng = np.random.default_rng(6)

    def simulated_power(k: int) -> float:
        if paired:
            p = sps.ttest_1samp(rng.normal(effect, 1.0, (trials, k)), 0.0, axis=1).pvalue
        else:
            p = sps.ttest_ind(rng.normal(effect, 1.0, (trials, k)),
                              rng.normal(0.0, 1.0, (trials, k)), axis=1).pvalue
        return float(np.mean(p < ALPHA))

    margin = binomial_margin(0.8, trials)
    assert simulated_power(n) >= 0.8 - margin and simulated_power(n - 1) < 0.8 + margin


def test_seeds_needed_grows_as_the_difference_shrinks():
    needed = [seeds_needed(0.02, d) for d in (0.05, 0.02, 0.01, 0.005, 0.001)]
    assert needed == sorted(needed) and needed[0] < needed[-1]
    # the normal approximation ((z_{α/2} + z_β) / effect)² is a close lower bound
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert 0 <= needed[-1] - (z * 20) ** 2 <= 3
    assert seeds_needed(0.02, -0.01) == seeds_needed(0.02, 0.01)
    assert seeds_needed(0.02, 0.01, alpha=0.005) > seeds_needed(0.02, 0.01)
    assert seeds_needed(0.02, 0.01, power=0.95) > seeds_needed(0.02, 0.01)


def test_seeds_needed_edge_cases():
    assert seeds_needed(0.0, 0.01) == 2
    assert seeds_needed(0.001, 1.0) == 2
    for sd, difference in ((0.02, 0.0), (-1.0, 0.01), (math.nan, 0.01), (0.02, math.inf)):
        with pytest.raises(ValueError):
            seeds_needed(sd, difference)


# --------------------------------------------------------------------------- outcomes

def test_one_tight_cluster_is_stable():
    o = outcomes(np.random.default_rng(8).normal(0.8, 0.01, 10))
    assert not o.unstable and len(o.groups) == 1 and o.n == 10


def test_plateaus_are_separate_outcomes():
    o = outcomes([0.82, 0.5, 0.7])
    assert o.unstable and o.groups == ((0.5,), (0.7,), (0.82,)) and o.seeds == ((1,), (2,), (0,))


def test_two_separated_clusters_split_where_they_should():
    high = {s: 0.8 + 0.005 * s for s in range(5)}
    low = {s: 0.5 + 0.004 * (s - 5) for s in range(5, 10)}
    o = outcomes(high | low)
    assert o.unstable and [set(g) for g in o.seeds] == [set(low), set(high)]
    assert o.groups == (tuple(sorted(low.values())), tuple(sorted(high.values())))
    assert o.groups[1][0] - o.groups[0][-1] > o.threshold


def test_a_wide_continuous_spread_stays_one_outcome():
    x = [0.60, 0.66, 0.70, 0.73, 0.75, 0.77, 0.80, 0.84, 0.90]  # two gaps of 0.06 > floor
    assert not outcomes(x).unstable
    assert len(outcomes(x, multiple=0).groups) == 3  # the floor alone would split it


def test_outcomes_scale_with_the_measure():
    losses = [2.30, 2.31, 2.29, 0.10, 0.12, 0.11]
    assert [len(g) for g in outcomes(losses, floor=0.5).groups] == [3, 3]
    assert not outcomes(losses, floor=3.0).unstable


@pytest.mark.parametrize("x, groups", [([0.5, 0.8], 2), ([0.80, 0.82], 1), ([0.8], 1), ([], 0),
                                       ([0.8, np.nan, 0.81, -np.inf], 1)])
def test_outcomes_edge_cases(x, groups):
    o = outcomes(x)
    assert len(o.groups) == groups and o.unstable == (groups > 1)
    assert o.excluded == sum(not math.isfinite(v) for v in x)
    with pytest.raises(ValueError):
        outcomes(x, floor=0.0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0, 1), max_size=15))
def test_outcomes_partition_the_sorted_results(x):
    o = outcomes(x)
    assert [v for g in o.groups for v in g] == sorted(x)
    assert sorted(s for g in o.seeds for s in g) == list(range(len(x)))
    assert all(x[s] == v for g, sg in zip(o.groups, o.seeds) for s, v in zip(sg, g))
    assert all(b[0] - a[-1] > o.threshold for a, b in zip(o.groups, o.groups[1:]))
    json.dumps(o.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- compare_values

def lr_study() -> dict[float, list[float]]:
    """A learning-rate study, n = 3 paired seeds: 0.1 best, 0.3 close, 0.001 and 1.0 worse."""
    offset = np.array([0.0, 0.01, -0.01])
    return {0.001: list(0.60 + offset + [0.0, 0.002, -0.001]),
            0.01: list(0.78 + offset + [0.001, -0.002, 0.0]),
            0.1: list(0.84 + offset + [0.0, 0.001, -0.002]),
            0.3: list(0.835 + offset + [0.004, -0.004, 0.002]),
            1.0: [0.5, 0.7, 0.82]}


def test_study_answer_and_verdicts():
    v = compare_values(lr_study(), difference=0.01, measure="final validation accuracy",
                       name="lr", percent=True)
    verdicts = {x.label: x.verdict for x in v.values}
    assert v.best == 0.1 and verdicts == {0.001: "worse", 0.01: "worse", 0.1: "best",
                                           0.3: "no difference detected",
                                           1.0: "no difference detected"}
    assert v.comparisons == 10 and math.isnan(v.value(0.1).p_adj_to_best)
    assert v.answer.startswith("lr = 0.1 gives the highest final validation accuracy (84.0 %, "
                               "95 % CI")
    assert "; lr = 0.001 (p_adj < 0.001) and lr = 0.01 (p_adj = 0.0045) are worse; " in v.answer
    assert ("no difference detected between lr = 0.1 and each of lr = 0.3 and lr = 1.0 at n = 3"
            in v.answer)
    needed, most = v.value(0.3).seeds_needed, v.value(1.0).seeds_needed
    assert (f" — detecting a 1-point difference would need about {needed} (lr = 0.3) to {most} "
            "(lr = 1.0) seeds; ") in v.answer
    assert ("lr = 1.0 is unstable: its seeds split into outcomes near 50.0 %, 70.0 % and 82.0 %"
            in v.answer)
    assert needed == seeds_needed(v.value(0.3).to_best.sd, 0.01, alpha=ALPHA / 10)


def test_adjusted_p_values_are_holm_over_every_pair():
    study = lr_study()
    v = compare_values(study)
    labels = list(study)
    pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]
    raw = [sps.ttest_rel(study[a], study[b]).pvalue for a, b in pairs]
    adjusted = dict(zip(pairs, holm(raw)))
    for x in v.values:
        if x.label != v.best:
            key = (x.label, v.best) if (x.label, v.best) in adjusted else (v.best, x.label)
            assert x.p_adj_to_best == pytest.approx(adjusted[key])
            difference = np.mean(study[x.label]) - np.mean(study[0.1])
            assert x.to_best.difference == pytest.approx(difference)


def test_aa_study_says_no_difference_detected_at_n_3():
    data = aa_study(np.random.default_rng(9), 1, 5, 3)[0]
    v = compare_values({f"v{i}": data[i] for i in range(5)}, difference=0.01, percent=True)
    assert all(x.verdict in ("best", "no difference detected") for x in v.values)
    assert " at n = 3 — detecting a 1-point difference would need about " in v.answer
    assert "no difference detected between " in v.answer


@pytest.mark.parametrize("n, paired", [(3, True), (5, True), (10, True), (5, False)])
def test_family_wise_false_positive_rate_on_aa_studies(n, paired):
    studies, values = 600, 5
    data = aa_study(np.random.default_rng(10 + n + 100 * paired), studies, values, n, paired)
    false_positive = [any(x.verdict in ("worse", "better")
                          for x in compare_values(dict(enumerate(study)), paired=paired).values)
                      for study in data]
    assert np.mean(false_positive) <= ALPHA + binomial_margin(ALPHA, studies)


def test_baseline_comparisons_and_the_better_verdict():
    offset = np.array([0.0, 0.02, -0.02, 0.01, -0.01])
    study = {"default": 0.80 + offset + [0.001, -0.001, 0.0, 0.002, -0.002],
             "tuned": 0.83 + offset + [0.01, -0.01, 0.008, -0.006, 0.0],
             "best": 0.835 + offset + [-0.01, 0.012, 0.0, -0.006, 0.004]}
    v = compare_values(study, baseline="default")
    tuned = v.value("tuned")
    assert v.best == "best" and v.value("default").verdict == "worse"
    assert tuned.verdict == "better" and tuned.versus == "default"
    assert tuned.p_adj_to_baseline < ALPHA <= tuned.p_adj_to_best
    assert "tuned is better than the baseline default (p_adj" in v.answer
    assert v.value("default").to_baseline is None
    with pytest.raises(ValueError):
        compare_values(study, baseline="missing")


def test_lower_is_better():
    v = compare_values({"a": [0.30, 0.31, 0.29], "b": [0.50, 0.52, 0.49]}, higher_is_better=False,
                       measure="validation loss")
    assert v.best == "a" and v.value("b").verdict == "worse"
    assert v.value("b").to_best.difference > 0
    assert v.answer.startswith("a gives the lowest validation loss (0.3, 95 % CI")


def test_missing_seeds_are_paired_on_the_seeds_present():
    study = {"x": {0: 0.80, 1: 0.82, 2: 0.81, 3: 0.79}, "y": {1: 0.80, 2: 0.79, 3: 0.77, 4: 0.1}}
    v = compare_values(study)
    assert v.value("y").to_best.n_a == 3 and v.value("y").estimate.n == 4
    unpaired = compare_values(study, paired=False).value("y").to_best
    assert (unpaired.n_a, unpaired.n_b, unpaired.test) == (4, 4, "Welch's t-test")


def test_small_and_empty_studies():
    assert compare_values({}).answer == "No value has a finite result; nothing to compare."
    assert compare_values({"a": [np.nan]}).best is None
    only = compare_values({"a": [0.8, 0.82]})
    assert only.answer.endswith("; it is the only value in the study.")
    v = compare_values({"a": [0.8, 0.82, 0.81], "b": [0.7], "c": [np.nan, np.nan]})
    assert {x.label: x.verdict for x in v.values} == {"a": "best", "b": "no difference detected",
                                                       "c": "no difference detected"}
    assert "b and c have too few usable seeds to test" in v.answer and v.comparisons == 0
    assert v.value("b").seeds_needed is None


def test_labels_with_commas_stay_readable():
    v = compare_values({"relu,tanh": [0.8, 0.81, 0.8], (32, 64): [0.6, 0.61, 0.6]}, name="arch")
    assert v.answer.startswith("arch = “relu,tanh” gives the highest")
    assert "arch = (32, 64) is worse (p_adj" in v.answer
    assert json.loads(json.dumps(v.to_dict(), allow_nan=False))["values"][1]["label"] == [32, 64]


def test_verdict_serializes_to_strict_json():
    v = compare_values(lr_study(), baseline=0.01, difference=0.01)
    d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
    assert d["best"] == 0.1 and d["baseline"] == 0.01 and len(d["values"]) == 5
    best = d["values"][2]
    assert best["verdict"] == "best" and best["p_adj"] is None and best["to_best"] is None
    assert set(best["estimate"]) == {"estimate", "low", "high", "n", "level", "method",
                                     "statistic", "excluded"}
    assert d["values"][0]["to_best"]["test"] == "paired t-test"


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), st.lists(st.floats(0, 1), max_size=6),
                       max_size=5), st.booleans(), st.booleans())
def test_study_answers_are_honest_on_any_data(study, paired, higher):
    v = compare_values(study, paired=paired, higher_is_better=higher, difference=0.01)
    assert all(x.verdict in VERDICTS for x in v.values)
    assert "indistinguishable" not in v.answer and "the same" not in v.answer
    assert v.answer.endswith(".")
    json.dumps(v.to_dict(), allow_nan=False)


def test_bounds_cut_the_interval_and_keep_its_coverage():
    """Exponential samples (mean 1, bounded below by 0): the cut interval covers the mean in
    exactly the draws the t interval does, and never reaches below 0."""
    rng = np.random.default_rng(3)
    draws = rng.exponential(1.0, size=(2000, 3))
    plain = [estimate(d) for d in draws]
    cut = [estimate(d, bounds=(0.0, math.inf)) for d in draws]
    assert any(e.low < 0 for e in plain) and all(e.low >= 0 for e in cut)
    covers = lambda e: e.low <= 1.0 <= e.high  # noqa: E731
    assert [covers(e) for e in plain] == [covers(e) for e in cut]
    assert all(c.high == p.high for c, p in zip(cut, plain))
