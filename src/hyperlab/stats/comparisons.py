"""Two values compared, and many comparisons corrected: :func:`compare`, :func:`holm`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from hyperlab.stats._data import (Samples, check_probability, finite, jsonable, negligible,
                                  shared_seeds)

__all__ = ["Comparison", "compare", "holm"]


@dataclass(frozen=True)
class Comparison:
    """The difference ``a - b`` of two values' means, its interval and its test.

    ``sd`` is the standardizer of ``effect_size``: the sd of the per-seed differences
    (paired; ``effect_size_name = "d_z"``) or the pooled sd of the two values (unpaired;
    ``"hedges_g"``). ``n_a`` and ``n_b`` count the finite results used (both equal the
    number of pairs when paired). Statistics that the data cannot give (fewer than two
    results or pairs) are NaN; ``df`` is NaN where the data have no spread at all.
    """

    difference: float
    low: float
    high: float
    p_value: float
    statistic: float
    df: float
    effect_size: float
    effect_size_name: str
    sd: float
    n_a: int
    n_b: int
    paired: bool
    test: str
    level: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON types (NaN and infinities as ``None``)."""
        return jsonable(self)


def _sd(x: np.ndarray, scale: float) -> float:
    """The sample sd (ddof = 1) of ``x``: NaN for fewer than two, 0 within rounding of ``scale``."""
    if x.size < 2:
        return math.nan
    residuals = x - x.sum() / x.size
    sd = math.sqrt(float(residuals @ residuals) / (x.size - 1))
    return 0.0 if negligible(sd, scale) else sd


def _ratio(numerator: float, denominator: float, scale: float) -> float:
    """``numerator / denominator``; a zero denominator gives 0 (numerator within rounding of
    ``scale``) or ±inf."""
    if denominator != 0:
        return numerator / denominator
    return 0.0 if negligible(abs(numerator), scale) else math.copysign(math.inf, numerator)


def compare(a: Samples, b: Samples, *, paired: bool, level: float = 0.95) -> Comparison:
    """Compare the means of ``a`` and ``b``: the difference, its interval, a t-test, an effect size.

    - ``paired=True``: the paired t-test on the per-seed differences ``d = a_s - b_s`` over
      the seeds where both are finite (array positions, or mapping keys, are the seeds):
      ``t = d̄ / (s_d / √n)`` with ``n - 1`` degrees of freedom; effect size
      ``d_z = d̄ / s_d`` (Cohen 1988, *Statistical Power Analysis*, §2.3; Lakens 2013).
    - ``paired=False``: Welch's t-test, ``t = (x̄_a - x̄_b) / √(s_a²/n_a + s_b²/n_b)`` with the
      Welch–Satterthwaite degrees of freedom (Welch 1947); effect size Hedges' g, Cohen's d
      with the pooled sd times ``J = Γ(ν/2) / (√(ν/2) Γ((ν-1)/2))``, ``ν = n_a + n_b - 2``
      (Hedges 1981).

    The interval is ``difference ± t(1 - (1 - level)/2; df) · se``; the p-value is two-sided.
    When the differences (paired) or both values (unpaired) have no spread beyond rounding,
    the difference is known exactly: the interval is that single point, ``p = 1`` if it is
    zero and ``p = 0`` otherwise, and the effect size is 0 or ±inf. No warning is raised.
    """
    check_probability(level, "level")
    if paired:
        x, y = shared_seeds(a, b)
        n_a = n_b = int(x.size)
    else:
        x, y = finite(a)[0], finite(b)[0]
        n_a, n_b = int(x.size), int(y.size)
    difference = float(x.sum() / n_a - y.sum() / n_b) if n_a and n_b else math.nan
    effect_name, test = ("d_z", "paired t-test") if paired else ("hedges_g", "Welch's t-test")
    if min(n_a, n_b) < 2:
        nan = math.nan
        return Comparison(difference, nan, nan, nan, nan, nan, nan, effect_name, nan, n_a, n_b,
                          paired, test, level)

    scale = float(max(np.abs(x).max(), np.abs(y).max()))
    if paired:
        sd = _sd(x - y, scale)
        se, df = sd / math.sqrt(n_a), n_a - 1.0
        effect = _ratio(difference, sd, scale)
    else:
        var_a, var_b = _sd(x, scale) ** 2, _sd(y, scale) ** 2
        se = math.sqrt(var_a / n_a + var_b / n_b)
        # Welch–Satterthwaite in ratios of the larger term: se**4 underflows for tiny spreads
        top = max(var_a / n_a, var_b / n_b)
        u, v = var_a / n_a / top if top else 0.0, var_b / n_b / top if top else 0.0
        df = (u + v) ** 2 / (u ** 2 / (n_a - 1) + v ** 2 / (n_b - 1)) if se else math.nan
        nu = n_a + n_b - 2
        sd = math.sqrt(((n_a - 1) * var_a + (n_b - 1) * var_b) / nu)
        log_j = special.gammaln(nu / 2) - special.gammaln((nu - 1) / 2) - math.log(nu / 2) / 2
        effect = math.exp(log_j) * _ratio(difference, sd, scale)

    if se == 0:
        low = high = difference
        t = _ratio(difference, se, scale)
        p = 1.0 if t == 0 else 0.0
    else:
        t = difference / se
        p = float(2 * special.stdtr(df, -abs(t)))
        half = float(special.stdtrit(df, (1 + level) / 2)) * se
        low, high = difference - half, difference + half
    return Comparison(difference, low, high, p, t, df, effect, effect_name, sd, n_a, n_b,
                      paired, test, level)


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the order given (Holm 1979).

    With the ``m`` non-NaN p-values sorted, ``p_(1) ≤ … ≤ p_(m)``, the adjusted values are
    ``p̃_(i) = min(1, max_{j ≤ i} (m - j + 1) · p_(j))``: monotone in the sorted order, never
    below the raw p-value, and rejecting ``p̃ < α`` keeps the family-wise error rate at ``α``
    under any dependence between the tests. NaN (a comparison that could not be made) is
    passed through and not counted in ``m``.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional, got shape {p.shape}")
    present = np.flatnonzero(~np.isnan(p))
    if np.any((p[present] < 0) | (p[present] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = present[np.argsort(p[present], kind="stable")]
    m = order.size
    adjusted = np.full(p.shape, np.nan)
    adjusted[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return adjusted
