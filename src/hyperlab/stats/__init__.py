"""Statistics for comparing the values of a study, each trained with a few seeds.

A value's results are one number per seed: an array (position ``i`` is seed ``i``) or a
mapping ``{seed: result}``. Seeds are usually paired across values (seed ``s`` of every
value shares initial weights and data order); paired statistics use only the seeds that
both values have. Non-finite results (diverged runs) and ``None`` are excluded and
counted. No function warns: degenerate data (one seed, no spread) give NaN, or the exact
answer where there is one.

- :func:`estimate` -- a value's mean (t or bootstrap interval) or median (bootstrap);
- :func:`compare` -- two values: difference, interval, paired or Welch t-test, effect size;
- :func:`holm` -- Holm–Bonferroni adjusted p-values;
- :func:`seeds_needed` -- the seeds a t-test needs to detect a difference at a given power;
- :func:`proportion`, :func:`compare_rates` -- a 0/1 outcome's rate (exact interval) and
  two rates compared (exact McNemar or Fisher test);
- :func:`outcomes` -- whether a value's seeds split into separate outcomes (unstable);
- :func:`jsonable` -- dataclasses, mappings and arrays as plain JSON values (NaN as None);
- :func:`compare_values` -- a study's verdicts ("best", "worse", "better",
  "no difference detected") and its answer in one sentence.

Every result is a frozen dataclass with ``to_dict()`` giving JSON types. Only NumPy and
SciPy are imported.
"""
from hyperlab.stats.clusters import Outcomes, outcomes
from hyperlab.stats._data import jsonable
from hyperlab.stats.comparisons import Comparison, compare, holm
from hyperlab.stats.intervals import Estimate, estimate
from hyperlab.stats.power import seeds_needed
from hyperlab.stats.proportions import compare_rates, proportion
from hyperlab.stats.verdicts import VERDICTS, StudyVerdict, ValueVerdict, compare_values

__all__ = ["estimate", "compare", "holm", "seeds_needed", "outcomes", "compare_values",
           "proportion", "compare_rates", "jsonable",
           "Estimate", "Comparison", "Outcomes", "ValueVerdict", "StudyVerdict", "VERDICTS"]
