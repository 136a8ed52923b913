"""Whether a value's seeds split into separate outcomes: :func:`outcomes`."""
from __future__ import annotations

import statistics
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperlab.stats._data import Samples, jsonable, series

__all__ = ["Outcomes", "outcomes"]

#: Scales the median absolute deviation to the sd for normal data.
_MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Outcomes:
    """A value's finite results split into groups (separate outcomes), lowest group first.

    ``groups`` holds the sorted results of each group and ``seeds`` the matching seeds
    (array positions or mapping keys); ``unstable`` is True when there is more than one
    group. ``spread`` is the robust within-group spread and ``threshold`` the gap that
    separates groups (``floor + multiple · spread``); ``excluded`` counts the non-finite
    results left out.
    """

    groups: tuple[tuple[float, ...], ...]
    seeds: tuple[tuple[Hashable, ...], ...]
    unstable: bool
    n: int
    excluded: int
    spread: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON types."""
        return jsonable(self)


def _spread(x: list[float], starts: list[int]) -> float:
    """The pooled MAD (as an sd) of sorted ``x`` about the medians of its groups.

    Group ``i`` is ``x[starts[i]:starts[i + 1]]``. Groups of one result have no spread and are
    left out; 0 when every group is one result.
    """
    deviations: list[float] = []
    for lo, hi in zip(starts, starts[1:]):
        if hi - lo >= 2:
            center = statistics.median(x[lo:hi])
            deviations += [abs(v - center) for v in x[lo:hi]]
    return _MAD_TO_SD * statistics.median(deviations) if deviations else 0.0


def outcomes(samples: Samples, *, floor: float = 0.05, multiple: float = 3.0) -> Outcomes:
    """Split a value's results into separate outcomes at the large gaps between them.

    The rule, on the sorted finite results: two neighbours belong to different groups when
    the gap between them exceeds ``floor + multiple · s``, where ``s`` is the robust spread
    within the groups, ``1.4826 · median |x - median(group)|`` pooled over the groups of two
    or more results (the MAD scaled to an sd, Rousseeuw & Croux 1993) and 0 when every group
    is a single result. Since ``s`` depends on the groups, the rule is applied as a fixed
    point: start from every gap above ``floor``, recompute ``s``, drop the cuts that no
    longer clear the threshold, and repeat; cuts are only ever dropped, so this ends after
    at most ``n - 1`` rounds.

    ``floor`` is the gap, in the results' units, below which seeds are never separate
    outcomes; it must be positive (with no floor every distinct result would start as its
    own outcome). The default, 0.05, is 5 points of an accuracy in [0, 1]: pass a floor
    that suits other measures. The ``multiple · s`` term
    keeps a wide but continuous spread of many seeds in one group. With few seeds the
    within-group spread cannot be estimated and ``floor`` alone decides: seeds at 0.5, 0.7
    and 0.82 are three outcomes. The rule finds gaps, not width: the interval of
    :func:`~hyperlab.stats.estimate` is the measure of width. Non-finite results are
    excluded and counted.
    """
    if not (floor > 0 and multiple >= 0):
        raise ValueError(f"floor must be positive and multiple non-negative, got {floor!r}, "
                         f"{multiple!r}")
    seeds, values = series(samples)
    order = sorted(np.flatnonzero(np.isfinite(values)).tolist(), key=values.__getitem__)
    x = values[order].tolist()
    gaps = [high - low for low, high in zip(x, x[1:])]
    cuts = [i for i, gap in enumerate(gaps) if gap > floor]
    while True:
        starts = [0, *(i + 1 for i in cuts), len(x)]
        spread = _spread(x, starts)
        threshold = floor + multiple * spread
        kept = [i for i in cuts if gaps[i] > threshold]
        if kept == cuts:
            break
        cuts = kept
    spans = [(lo, hi) for lo, hi in zip(starts, starts[1:]) if hi > lo]
    return Outcomes(tuple(tuple(x[lo:hi]) for lo, hi in spans),
                    tuple(tuple(seeds[i] for i in order[lo:hi]) for lo, hi in spans),
                    len(spans) > 1, len(x), int(values.size - len(x)), spread, threshold)
