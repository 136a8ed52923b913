"""A study's values compared with the best and with a baseline: :func:`compare_values`."""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

from hyperlab.stats._data import Samples, check_probability, jsonable
from hyperlab.stats.clusters import Outcomes, outcomes
from hyperlab.stats.comparisons import Comparison, compare, holm
from hyperlab.stats.intervals import Estimate, estimate
from hyperlab.stats.power import seeds_needed
from hyperlab.stats.proportions import compare_rates, proportion

__all__ = ["VERDICTS", "ValueVerdict", "StudyVerdict", "compare_values"]

#: The verdict words, in the order a study's answer lists them.
VERDICTS = ("best", "worse", "better", "no difference detected")


@dataclass(frozen=True)
class ValueVerdict:
    """One value of a study: its estimate, its outcomes and how it compares.

    ``verdict`` is one of :data:`VERDICTS`; ``versus`` is the value that verdict compares
    with (the best, or the baseline when that comparison decided; None for the best) and
    ``p_adj`` that comparison's Holm-adjusted p-value (NaN for the best, or where the data
    allow no test). ``to_best`` and ``to_baseline`` are the comparisons ``value - best`` and
    ``value - baseline`` (None where there is no such other value) with their adjusted
    p-values; ``seeds_needed`` is the number of seeds per value that would detect the study's
    ``difference`` from the best (None when no difference was given or no test was possible).
    """

    label: Hashable
    estimate: Estimate
    outcomes: Outcomes
    verdict: str
    versus: Hashable | None
    p_adj: float
    to_best: Comparison | None
    p_adj_to_best: float
    to_baseline: Comparison | None
    p_adj_to_baseline: float
    seeds_needed: int | None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON types (NaN as ``None``)."""
        return jsonable(self)


@dataclass(frozen=True)
class StudyVerdict:
    """The values of one study on one measure, compared; ``answer`` says it in one sentence.

    ``comparisons`` is the number of tests the Holm correction counted (every pair of values
    that could be tested).
    """

    measure: str
    best: Hashable | None
    baseline: Hashable | None
    higher_is_better: bool
    paired: bool
    level: float
    alpha: float
    difference: float | None
    comparisons: int
    values: tuple[ValueVerdict, ...]
    answer: str

    def value(self, label: Hashable) -> ValueVerdict:
        """The verdict of the value ``label``."""
        for v in self.values:
            if v.label == label:
                return v
        raise KeyError(label)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON types (NaN as ``None``), ready for ``json.dumps``."""
        return jsonable(self)


def _flip(c: Comparison) -> Comparison:
    """``c`` with its two values swapped: ``b - a`` instead of ``a - b``."""
    return replace(c, difference=-c.difference, low=-c.high, high=-c.low, statistic=-c.statistic,
                   effect_size=-c.effect_size, n_a=c.n_b, n_b=c.n_a)


def compare_values(samples_by_value: Mapping[Hashable, Samples], *, higher_is_better: bool = True,
                   paired: bool = True, baseline: Hashable | None = None, level: float = 0.95,
                   alpha: float = 0.05, difference: float | None = None, power: float = 0.8,
                   measure: str = "result", name: str | None = None, percent: bool = False,
                   floor: float = 0.05, rate: bool = False,
                   bounds: tuple[float, float] = (-math.inf, math.inf)) -> StudyVerdict:
    """Compare a study's values: the best, those worse than it, those better than a baseline.

    Each value gets the t interval of its mean (:func:`~hyperlab.stats.estimate`) and its
    outcomes (:func:`~hyperlab.stats.outcomes` with ``floor``). The best value is the one
    with the best mean (the first, on a tie). Because the best is chosen from the data, its
    comparisons are not planned in advance: testing only "best against each other value"
    would find differences between identical values more often than ``alpha``.
    So every pair of values is tested (:func:`~hyperlab.stats.compare`, paired or Welch) and
    Holm-corrected as one family (:func:`~hyperlab.stats.holm`), which keeps the
    family-wise error rate at ``alpha`` whichever pairs are then reported (Holm 1979).

    Verdicts: a value is ``"worse"`` when its difference to the best has ``p_adj < alpha``
    (``"better"`` in the rare case that pairing on shared seeds reverses the order); else
    ``"better"`` or ``"worse"`` when its difference to ``baseline`` has ``p_adj < alpha``;
    else ``"no difference detected"`` (also when too few seeds allow no test). With a
    ``difference`` (in the measure's units), ``seeds_needed`` is the number of seeds that
    would detect it from the best at ``power`` and the Bonferroni level
    ``alpha / comparisons`` (Holm's strictest step), from the sd seen in the study.

    ``measure`` names the measure in the answer, ``name`` the swept hyperparameter
    (``"lr = 0.1"``), and ``percent=True`` shows results in [0, 1] as percentages and
    differences in points.

    ``bounds`` are the values a result can take: each value's interval is cut to them
    (:func:`~hyperlab.stats.estimate`).

    ``rate=True`` is for 0/1 results (a run diverged or not): each value's rate gets its
    exact interval (:func:`~hyperlab.stats.proportion`) and pairs the exact tests of
    :func:`~hyperlab.stats.compare_rates`; there is no seeds-needed figure and no split
    into outcomes (0 and 1 are the outcomes).
    """
    check_probability(level, "level")
    check_probability(alpha, "alpha")
    labels = list(samples_by_value)
    if baseline is not None and baseline not in samples_by_value:
        raise ValueError(f"baseline {baseline!r} is not one of the values {labels!r}")
    estimates = {v: proportion(samples_by_value[v], level) if rate
                 else estimate(samples_by_value[v], level, bounds=bounds) for v in labels}
    # a rate's 0s and 1s are one outcome: a floor of 1 never splits them
    splits = {v: outcomes(samples_by_value[v], floor=1.0 if rate else floor) for v in labels}
    sign = 1.0 if higher_is_better else -1.0
    ranked = [v for v in labels if estimates[v].n]
    best = max(ranked, key=lambda v: sign * estimates[v].estimate) if ranked else None

    pairs = list(combinations(labels, 2))
    test = compare_rates if rate else compare
    tests = {(u, v): test(samples_by_value[u], samples_by_value[v], paired=paired, level=level)
             for u, v in pairs}
    adjusted = dict(zip(pairs, holm([tests[p].p_value for p in pairs])))
    family = sum(not math.isnan(tests[p].p_value) for p in pairs)

    def versus(v: Hashable, ref: Hashable | None) -> tuple[Comparison | None, float]:
        if ref is None or ref == v:
            return None, math.nan
        if (v, ref) in tests:
            return tests[v, ref], float(adjusted[v, ref])
        return _flip(tests[ref, v]), float(adjusted[ref, v])

    records = []
    for v in labels:
        to_best, p_best = versus(v, best)
        to_base, p_base = versus(v, baseline)
        if v == best:
            verdict, ref, p_adj = "best", None, math.nan
        else:
            verdict, ref, p_adj = "no difference detected", best, p_best
            for c, p, r in ((to_best, p_best, best), (to_base, p_base, baseline)):
                if c is not None and p < alpha:
                    verdict, ref, p_adj = ("better" if sign * c.difference > 0 else "worse"), r, p
                    break
        needed = None
        if (difference is not None and not rate and to_best is not None
                and not math.isnan(to_best.p_value)):
            needed = seeds_needed(to_best.sd, difference, alpha=alpha / family, power=power,
                                  paired=paired)
        records.append(ValueVerdict(v, estimates[v], splits[v], verdict, ref, p_adj, to_best,
                                    p_best, to_base, p_base, needed))
    study = StudyVerdict(measure, best, baseline, higher_is_better, paired, level, alpha,
                         difference, family, tuple(records), "")
    return replace(study, answer=_answer(study, name, percent))


# --------------------------------------------------------------------------- the answer

def _label(label: Hashable, name: str | None) -> str:
    """A label for prose: quoted if it has a comma (unless bracketed), after ``name =``."""
    text = str(label)
    if "," in text and not (text[:1] in "([{" and text[-1:] in ")]}"):
        text = f"“{text}”"
    return f"{name} = {text}" if name else text


def _join(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _p(p: float) -> str:
    return "p_adj < 0.001" if p < 0.001 else f"p_adj = {p:.2g}"


def _number(x: float, percent: bool) -> str:
    return f"{100 * x:.1f} %" if percent else f"{x:.3g}"


def _estimate(e: Estimate, level: float, percent: bool) -> str:
    if e.n < 2:
        return f"{_number(e.estimate, percent)}, n = {e.n}"
    low, high = (f"{100 * e.low:.1f}", f"{100 * e.high:.1f} %") if percent else (
        f"{e.low:.3g}", f"{e.high:.3g}")
    return (f"{_number(e.estimate, percent)}, {100 * level:g} % CI {low} to {high}, "
            f"n = {e.n}")


def _range(numbers: list[int]) -> str:
    low, high = min(numbers), max(numbers)
    return f"{low}" if low == high else f"{low} to {high}"


def _answer(study: StudyVerdict, name: str | None, percent: bool) -> str:
    """The study's answer in one sentence (see :func:`compare_values`)."""
    if study.best is None:
        return f"No value has a finite {study.measure}; nothing to compare."
    say = {v.label: _label(v.label, name) for v in study.values}
    best = study.value(study.best)
    role = " (the baseline)" if study.best == study.baseline else ""
    most = "highest" if study.higher_is_better else "lowest"
    others = [v for v in study.values if v.label != study.best]
    if not others:
        return (f"{say[best.label]}{role} gives the {most} {study.measure} "
                f"({_estimate(best.estimate, study.level, percent)}); it is the only value in "
                "the study.")
    # values whose estimate equals the best's share the first place: naming one would claim
    # an order the data do not show
    tied = [best] + [v for v in others if v.estimate.n and v.verdict == "no difference detected"
                     and v.estimate.estimate == best.estimate.estimate]
    if len(tied) == 1:
        clauses = [f"{say[best.label]}{role} gives the {most} {study.measure} "
                   f"({_estimate(best.estimate, study.level, percent)})"]
    else:
        clauses = [_join([f"{say[v.label]}{role if v is best else ''} "
                          f"({_estimate(v.estimate, study.level, percent)})" for v in tied])
                   + f" share the {most} {study.measure}"]
        others = [v for v in others if v not in tied]

    worse = [v for v in others if v.verdict == "worse" and v.versus == study.best]
    if len(worse) == 1:
        clauses.append(f"{say[worse[0].label]} is worse ({_p(worse[0].p_adj)})")
    elif worse:
        clauses.append(_join([f"{say[v.label]} ({_p(v.p_adj)})" for v in worse]) + " are worse")
    for v in others:
        if v.verdict == "better" or (v.verdict == "worse" and v.versus != study.best):
            against = "the baseline " if v.versus == study.baseline else ""
            clauses.append(f"{say[v.label]} is {v.verdict} than {against}{say[v.versus]} "
                           f"({_p(v.p_adj)})")
    undetected = [v for v in others if v.verdict == "no difference detected"]
    tested = [v for v in undetected if not math.isnan(v.p_adj)]
    untested = [v for v in undetected if math.isnan(v.p_adj)]
    if tested:
        between = say[best.label] + (" and " if len(tested) == 1 else " and each of ")
        ns = [k for v in tested if v.to_best for k in (v.to_best.n_a, v.to_best.n_b)]
        clause = (f"no difference detected between {between}"
                  f"{_join([say[v.label] for v in tested])} at n = {_range(ns)}")
        needed = sorted((v.seeds_needed, say[v.label]) for v in tested
                        if v.seeds_needed is not None)
        if needed and study.difference is not None:
            size = (f"{100 * abs(study.difference):g}-point" if percent
                    else f"{abs(study.difference):g}")
            (fewest, first), (most, last) = needed[0], needed[-1]
            seeds = f"{most}" if fewest == most else f"{fewest} ({first}) to {most} ({last})"
            clause += f" — detecting a {size} difference would need about {seeds} seeds"
        clauses.append(clause)
    if untested:
        verb = "has" if len(untested) == 1 else "have"
        clauses.append(f"{_join([say[v.label] for v in untested])} {verb} too few usable seeds "
                       f"to test (fewer than 2{' shared with the best' if study.paired else ''})")
    for v in study.values:
        if v.outcomes.unstable:
            centers = [_number(g[len(g) // 2], percent) for g in v.outcomes.groups]
            clauses.append(f"{say[v.label]} is unstable: its seeds split into outcomes near "
                           f"{_join(centers)}")
    return "; ".join(clauses) + "."
