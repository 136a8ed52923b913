"""Rates of a 0/1 outcome against scipy and statsmodels, and their place in a study verdict."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from hyperlab.stats import compare_rates, compare_values, holm, proportion


@pytest.mark.parametrize("k, n", [(0, 3), (1, 3), (3, 3), (2, 5), (7, 10), (0, 10)])
def test_clopper_pearson_matches_statsmodels(k, n):
    est = proportion([1.0] * k + [0.0] * (n - k), 0.95)
    low, high = proportion_confint(k, n, alpha=0.05, method="beta")
    assert (est.estimate, est.n) == (k / n, n)
    np.testing.assert_allclose([est.low, est.high], [low, high], atol=1e-12)


@pytest.mark.parametrize("n", [3, 5, 10])
def test_clopper_pearson_covers_at_least_its_level(n):
    """Exact coverage (summed over the binomial outcomes) is at least the level at any rate."""
    bounds = [(e.low, e.high) for e in (proportion([1.0] * k + [0.0] * (n - k)) for k in range(n + 1))]
    for rate in np.linspace(0.01, 0.99, 41):
        pmf = sps.binom.pmf(np.arange(n + 1), n, rate)
        assert sum(p for p, (lo, hi) in zip(pmf, bounds) if lo <= rate <= hi) >= 0.95 - 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_paired_rates_match_exact_mcnemar(seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.random(10) < 0.6).astype(float), (rng.random(10) < 0.3).astype(float)
    c = compare_rates(a, b, paired=True)
    table = [[np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
             [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))]]
    assert c.p_value == pytest.approx(min(1.0, mcnemar(table, exact=True).pvalue), abs=1e-12)
    assert c.difference == pytest.approx(a.mean() - b.mean())


def test_unpaired_rates_match_fisher():
    a, b = np.array([1, 1, 1, 1, 0.0]), np.array([0, 0, 1, 0, 0, 0.0])
    c = compare_rates(a, b, paired=False)
    assert c.p_value == pytest.approx(sps.fisher_exact([[4, 1], [1, 5]])[1])
    assert c.test == "Fisher's exact test"


def test_rates_refuse_results_other_than_0_and_1():
    with pytest.raises(ValueError, match="0 or 1"):
        proportion([0.0, 0.5])


def test_divergence_study_verdict_uses_exact_rates():
    """10 seeds: never clipped diverges 9 times, clipped never; equal arms are not told apart."""
    samples = {"unclipped": [1.0] * 9 + [0.0], "clipnorm 1": [0.0] * 10, "clipvalue 1": [0.0] * 10}
    study = compare_values(samples, higher_is_better=False, measure="divergence rate",
                           percent=True, rate=True, difference=0.1)
    assert study.best in ("clipnorm 1", "clipvalue 1")
    unclipped = study.value("unclipped")
    p_pairs = [compare_rates(samples[u], samples[v], paired=True).p_value
               for u, v in (("unclipped", "clipnorm 1"), ("unclipped", "clipvalue 1"),
                            ("clipnorm 1", "clipvalue 1"))]
    assert unclipped.verdict == "worse"
    assert unclipped.p_adj == pytest.approx(holm(p_pairs)[0])
    assert unclipped.seeds_needed is None and not unclipped.outcomes.unstable
    other = next(v for v in study.values if v.label not in (study.best, "unclipped"))
    assert other.verdict == "no difference detected"
    assert "(0.0 %, 95 % CI 0.0 to 30.8 %, n = 10) share the lowest divergence rate" in study.answer


def test_aa_rate_studies_keep_false_positives_below_alpha():
    rng = np.random.default_rng(11)
    false = 0
    for _ in range(150):
        samples = {v: (rng.random(8) < 0.4).astype(float) for v in "abcd"}
        study = compare_values(samples, rate=True)
        false += any(v.verdict in ("worse", "better") for v in study.values)
    assert false / 150 <= 0.05


def test_values_tied_for_the_best_share_it_in_the_answer():
    """Two clipping values with 0 of 5 diverged: neither is 'the' lowest; both are named."""
    samples = {"none": [1, 0, 0, 0, 0], "clipvalue": [0, 0, 0, 0, 0], "clipnorm": [0] * 5}
    study = compare_values(samples, higher_is_better=False, measure="divergence rate",
                           name="clip", percent=True, rate=True)
    assert study.answer.startswith(
        "clip = clipvalue (0.0 %, 95 % CI 0.0 to 52.2 %, n = 5) and clip = clipnorm (0.0 %, "
        "95 % CI 0.0 to 52.2 %, n = 5) share the lowest divergence rate; no difference "
        "detected between clip = clipvalue and clip = none at n = 5")
    assert "gives the" not in study.answer
    assert study.value("clipnorm").verdict == "no difference detected"
    # a strict winner is still named alone
    alone = compare_values({"a": [0.9, 0.91, 0.92], "b": [0.5, 0.52, 0.51]}, measure="accuracy")
    assert alone.answer.startswith("a gives the highest accuracy")
