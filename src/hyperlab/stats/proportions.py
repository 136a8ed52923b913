"""Rates of a yes/no outcome (did the run diverge?): :func:`proportion`, :func:`compare_rates`.

A t-test is the wrong tool for 0/1 results (with every seed alike its sd is zero, and at a
handful of seeds its p-values are far from exact), so rates get exact methods.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from hyperlab.stats._data import Samples, check_probability, finite, shared_seeds
from hyperlab.stats.comparisons import Comparison
from hyperlab.stats.intervals import Estimate

__all__ = ["proportion", "compare_rates"]


def _binary(x: np.ndarray) -> np.ndarray:
    if not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("a rate needs results that are 0 or 1 (e.g. 1 for a run that diverged)")
    return x


def proportion(samples: Samples, level: float = 0.95) -> Estimate:
    """The rate of 1s among the finite 0/1 ``samples`` with its Clopper–Pearson interval:
    the exact binomial interval, which covers at least ``level`` (Clopper & Pearson 1934)."""
    check_probability(level, "level")
    x, excluded = finite(samples)
    k, n = int(_binary(x).sum()), int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, level, "clopper-pearson", "rate",
                        excluded)
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return Estimate(k / n, float(ci.low), float(ci.high), n, level, "clopper-pearson", "rate",
                    excluded)


def compare_rates(a: Samples, b: Samples, *, paired: bool, level: float = 0.95) -> Comparison:
    """The difference of two rates ``a - b`` and its exact two-sided test.

    ``paired=True``: McNemar's exact test on the seeds both have — under no difference the
    discordant pairs (1 in one value, 0 in the other) split evenly, so their count of
    ``a = 1`` is Binomial(discordant, 1/2) (McNemar 1947). ``paired=False``: Fisher's exact
    test of the 2 × 2 table (Fisher 1935). No interval of the difference is given (``low``
    and ``high`` are NaN): read each rate's own interval; the effect size is the difference
    itself (``"rate_difference"``).
    """
    check_probability(level, "level")
    if paired:
        x, y = (_binary(v) for v in shared_seeds(a, b))
        n_a = n_b = int(x.size)
    else:
        x, y = _binary(finite(a)[0]), _binary(finite(b)[0])
        n_a, n_b = int(x.size), int(y.size)
    nan = math.nan
    if not (n_a and n_b):
        return Comparison(nan, nan, nan, nan, nan, nan, nan, "rate_difference", nan, n_a, n_b,
                          paired, "exact McNemar test" if paired else "Fisher's exact test",
                          level)
    difference = float(x.mean() - y.mean())
    if paired:
        only_a, only_b = int(np.sum((x == 1) & (y == 0))), int(np.sum((x == 0) & (y == 1)))
        discordant = only_a + only_b
        p = 1.0 if discordant == 0 else float(sps.binomtest(only_a, discordant, 0.5).pvalue)
        test, statistic = "exact McNemar test", float(only_a)
    else:
        table = [[int(x.sum()), n_a - int(x.sum())], [int(y.sum()), n_b - int(y.sum())]]
        statistic, p = (float(v) for v in sps.fisher_exact(table))
        test = "Fisher's exact test"
    return Comparison(difference, nan, nan, min(p, 1.0), statistic, nan, difference,
                      "rate_difference", nan, n_a, n_b, paired, test, level)
