"""The learning-rate sensitivity analysis against constructed data with known answers:
gradient descent on a quadratic (diverges exactly above 2/λ), hand-built sweeps, a
bootstrap coverage simulation and range-test curves with a known steepest point."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from hyperlab.science import sensitivity as sens

RATES = np.logspace(-5, 1, 13)


def test_diverged_marks_non_finite_and_rising_losses():
    final = np.array([[0.5, np.nan, np.inf, -np.inf, 1.0, 1.0 + 1e-6]])
    assert sens.diverged(final, 1.0).tolist() == [[False, True, True, True, False, True]]
    # initial losses per seed broadcast across rates
    final = np.array([[0.9, 2.1], [1.1, 1.9]])
    assert sens.diverged(final, [1.0, 2.0]).tolist() == [[False, True], [True, False]]


def test_stable_needs_every_seed_strictly_below_its_start():
    final = np.array([[0.5, 0.5], [0.5, 1.0], [0.5, np.nan], [0.1, 0.2]])
    assert sens.stable_rates(final, [1.0, 1.0]).tolist() == [True, False, False, True]


def _quadratic_gd(rates, lam, w0, steps):
    """Final and initial loss of gradient descent on f(w) = λ w² / 2 from each w0: the
    iterate is w0 (1 - ηλ)^t, so the loss falls iff |1 - ηλ| < 1, i.e. 0 < η < 2/λ."""
    initial = 0.5 * lam * w0 ** 2
    with np.errstate(over="ignore"):
        factor = (1.0 - np.outer(rates, np.full_like(w0, lam))) ** (2 * steps)
        return initial * factor, initial


def test_stable_region_and_edge_of_gradient_descent_on_a_quadratic():
    lam = 40.0                                   # 2/λ = 0.05, between grid rates 0.0316 and 0.1
    w0 = np.random.default_rng(3).normal(size=6)
    final, initial = _quadratic_gd(RATES, lam, w0, steps=200)
    a = sens.analyze(RATES, final, initial)
    below = RATES[RATES < 2 / lam]
    assert a.stable.low == pytest.approx(RATES[0]) and a.stable.high == pytest.approx(below[-1])
    assert a.stable.count == below.size
    assert a.stable.decades == pytest.approx(math.log10(below[-1] / RATES[0]))
    assert a.edge.rate == pytest.approx(RATES[RATES > 2 / lam][0])
    assert a.edge.diverged == w0.size
    # above 2/λ every run blows up to inf (overflow): divergence rate 1 with its exact interval
    ci = sps.binomtest(w0.size, w0.size).proportion_ci(method="exact")
    assert a.edge.divergence.low == pytest.approx(ci.low)
    # the best rate is the one closest to 1/λ (the factor |1 - ηλ| is smallest there)
    best = RATES[np.argmin(np.abs(1 - RATES * lam))]
    assert a.recommended.rate == pytest.approx(best)


def test_rate_exactly_at_two_over_lambda_neither_diverges_nor_is_stable():
    lam = 2.0 / 0.01                             # η = 0.01 on the grid: (1 - ηλ)² = 1
    rates = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    final, initial = _quadratic_gd(rates, lam, np.array([1.0, -2.0, 0.5]), steps=50)
    a = sens.analyze(rates, final, initial)
    row = a.rates[2]
    assert row.diverged == 0 and not row.stable
    assert a.stable.high == pytest.approx(1e-3) and a.edge.rate == pytest.approx(1e-1)


def test_stable_region_is_the_longest_run_and_the_lower_one_on_a_tie():
    ok = [True, False, True, True, True, False, True, True]
    region = sens.stable_region(RATES[:8], ok)
    assert (region.low, region.high, region.count) == (RATES[2], RATES[4], 3)
    tie = sens.stable_region(RATES[:5], [True, True, False, True, True])
    assert (tie.low, tie.high) == (RATES[0], RATES[1])
    assert sens.stable_region(RATES[:3], [False] * 3) is None
    single = sens.stable_region(RATES[:3], [False, True, False])
    assert single.count == 1 and single.decades == 0.0


def test_divergence_edge_is_the_first_rate_with_at_least_half_diverged():
    div = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    assert sens.divergence_edge(div) == 2        # 2 of 4: exactly half counts
    assert sens.divergence_edge(div[:2]) is None


def test_recommendation_counts_non_finite_losses_as_worst():
    final = np.array([[0.9, 0.8, 0.85],
                      [0.1, np.nan, np.nan],     # lowest finite loss, but two of three blew up
                      [0.5, 0.6, 0.55]])
    rec = sens.recommend(RATES[:3], final, resamples=500)
    assert rec.rate == RATES[2]
    assert sens.recommend(RATES[:2], np.full((2, 3), np.nan)) is None


def test_recommendation_interval_is_on_the_grid_and_contains_a_clear_optimum():
    rng = np.random.default_rng(0)
    x = np.log10(RATES)
    final = (x[:, None] + 2) ** 2 + rng.normal(0, 0.01, size=(13, 20))
    rec = sens.recommend(RATES, final, resamples=1000)
    assert rec.rate == pytest.approx(1e-2)
    assert rec.low in RATES and rec.high in RATES and rec.low <= rec.rate <= rec.high
    assert rec.agreement > 0.95


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_bootstrap_interval_covers_the_true_optimum_at_about_its_nominal_rate(level):
    """Five seeds per rate, independent noise per run, a known best grid rate that a
    single sweep finds only about half the time. Over 200 simulated sweeps the interval
    covers it at least about as often as its level says (measured: 0.93 for 0.8 and 0.98
    for 0.95 -- the percentile interval of an argmin on a grid errs on the wide side) while
    staying far narrower than the grid."""
    rng = np.random.default_rng(7)
    x = np.log10(RATES)
    curve = 0.3 * (x - np.log10(0.02)) ** 2       # optimum 0.02: best grid rate 0.0316
    truth = RATES[np.argmin(curve)]
    covered, widths, found = [], [], []
    for i in range(200):
        final = curve[:, None] + rng.normal(0, 0.25, (RATES.size, 5))
        rec = sens.recommend(RATES, final, level=level, resamples=400, seed=i)
        covered.append(rec.low <= truth <= rec.high)
        widths.append(math.log10(rec.high / rec.low))
        found.append(rec.rate == truth)
    assert 0.3 < np.mean(found) < 0.8                # the answer is genuinely uncertain
    assert level - 0.05 <= np.mean(covered) <= 1.0
    assert np.median(widths) <= 1.0                  # of the grid's 6 decades


def test_analyze_reports_medians_and_exact_divergence_intervals_per_rate():
    rng = np.random.default_rng(1)
    final = rng.uniform(0.1, 0.9, size=(4, 5))
    final[3, :3] = np.nan
    acc = rng.uniform(0.5, 1.0, size=(4, 5))
    a = sens.analyze(RATES[:4], final, 1.0, acc, resamples=300)
    for i, row in enumerate(a.rates):
        finite = final[i][np.isfinite(final[i])]
        assert row.final_loss.estimate == pytest.approx(np.median(finite))
        assert row.final_loss.excluded == 5 - finite.size
        assert row.val_accuracy.estimate == pytest.approx(np.median(acc[i]))
        k = int((~np.isfinite(final[i])).sum())
        ci = sps.binomtest(k, 5).proportion_ci(method="exact")
        assert (row.divergence.estimate, row.diverged) == (k / 5, k)
        assert (row.divergence.low, row.divergence.high) == pytest.approx((ci.low, ci.high))
    assert a.n_seeds == 5 and a.grid_decades == pytest.approx(0.5)
    assert a.to_dict()["edge"]["rate"] == pytest.approx(RATES[3])


@pytest.mark.parametrize("bad", [[1e-3], [1e-3, 1e-3], [1e-2, 1e-3], [0.0, 1.0], [1, np.nan]])
def test_rates_must_be_an_increasing_positive_grid(bad):
    with pytest.raises(ValueError, match="increasing positive"):
        sens.analyze(bad, np.ones((len(bad), 2)), 2.0)


def test_losses_must_have_one_row_per_rate():
    with pytest.raises(ValueError, match=r"shape \(rates, seeds\)"):
        sens.analyze(RATES[:3], np.ones((2, 2)), 2.0)


# ------------------------------------------------------------------------------ range test
def test_range_test_suggests_the_steepest_point_of_a_known_curve():
    x = np.linspace(-5, 1, 25)
    rates = 10 ** x
    x0 = x[9]                                     # loss = 2 - tanh(2 (x - x0)): steepest at x0
    loss = 2 - np.tanh(2 * (x - x0))
    assert sens.steepest_descent(rates, loss) == 9


def test_range_test_ignores_the_curve_after_it_blows_up():
    x = np.linspace(-5, 1, 25)
    loss = 2 - np.tanh(2 * (x - x[6]))
    loss[15] = 4.5 * loss[:15].min()              # blown up: more than 4 times the lowest
    loss[16:] = np.linspace(100, 0.0, 9)          # a steeper fall after it must not count
    assert sens.steepest_descent(10 ** x, loss) == 6
    loss[15] = np.nan
    assert sens.steepest_descent(10 ** x, loss) == 6


def test_range_test_has_no_suggestion_when_the_loss_never_falls():
    rates = np.logspace(-5, 1, 10)
    assert sens.steepest_descent(rates, np.linspace(1, 2, 10)) is None
    assert sens.steepest_descent(rates, [1.0, 0.9] + [np.nan] * 8) is None   # too short
    with pytest.raises(ValueError, match="one value per rate"):
        sens.steepest_descent(rates, [1.0, 0.5])
