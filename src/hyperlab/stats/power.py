"""How many seeds a comparison needs: :func:`seeds_needed`."""
from __future__ import annotations

import math

from scipy import special

from hyperlab.stats._data import check_probability

__all__ = ["seeds_needed"]


def _power(n: int, effect: float, alpha: float, paired: bool) -> float:
    """Power of the two-sided t-test with ``n`` seeds (per value) at standardized ``effect``."""
    df = n - 1 if paired else 2 * n - 2
    noncentrality = effect * math.sqrt(n if paired else n / 2)
    critical = special.stdtrit(df, 1 - alpha / 2)
    return float(1 - special.nctdtr(df, noncentrality, critical)
                 + special.nctdtr(df, noncentrality, -critical))


def seeds_needed(sd: float, difference: float, *, alpha: float = 0.05, power: float = 0.8,
                 paired: bool = True) -> int:
    """The fewest seeds ``n`` with which a two-sided t-test detects ``difference`` at ``power``.

    ``paired=True``: the paired t-test, ``sd`` the sd of the per-seed differences; its
    statistic is noncentral t with ``n - 1`` degrees of freedom and noncentrality
    ``δ = (difference / sd) · √n``. ``paired=False``: the two-sample t-test with ``n`` seeds
    per value, ``sd`` the common sd of one value's results, ``2n - 2`` degrees of freedom and
    ``δ = (difference / sd) · √(n/2)``. Power is ``P(|T| > t(1 - α/2; df))`` under that
    noncentral t (the CDF of ``scipy.stats.nct``); it grows with ``n``, so the smallest
    sufficient ``n`` (at least 2) is found by bisection (Cohen 1988, *Statistical Power
    Analysis*, ch. 2). ``sd = 0`` needs 2 seeds.
    """
    check_probability(alpha, "alpha")
    check_probability(power, "power")
    if not (math.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd must be finite and non-negative, got {sd!r}")
    if not (math.isfinite(difference) and difference != 0):
        raise ValueError(f"difference must be finite and non-zero, got {difference!r}")
    if sd == 0:
        return 2
    effect = abs(difference) / sd
    # From the normal approximation's n, double until enough, then bisect down to the fewest.
    z_n = (special.ndtri(1 - alpha / 2) + special.ndtri(power)) ** 2 / effect ** 2
    enough = max(2, math.ceil(z_n if paired else 2 * z_n))
    while _power(enough, effect, alpha, paired) < power:
        enough *= 2
    too_few = 1
    while enough - too_few > 1:
        middle = (too_few + enough) // 2
        if _power(middle, effect, alpha, paired) >= power:
            enough = middle
        else:
            too_few = middle
    return enough
