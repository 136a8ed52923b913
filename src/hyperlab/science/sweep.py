"""Learning-rate sensitivity: :func:`lr_sweep` trains K log-spaced constant rates × seeds
for a short budget, and the one-run range test once per seed, as two hyperlab studies (so
the store, resuming and the compiled programs are the studies'; every rate shares one
program, the rate being one of its inputs), then analyses them with
:mod:`hyperlab.science.sensitivity`.

The range test holds each rate for one epoch (``ExponentialDecay`` with ``decay_steps`` =
the steps of an epoch, ``staircase=True``, ``decay_rate`` > 1): the engine logs the loss
per epoch, so the curve has one point per epoch — each point the mean training loss over
that epoch's steps, all taken at that epoch's rate.
"""
from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab.science import sensitivity
from hyperlab.science._text import columns
from hyperlab.science.sensitivity import Sensitivity
from hyperlab.stats import proportion
from hyperlab.stats import jsonable

__all__ = ["LOW", "HIGH", "COUNT", "SEEDS", "EPOCHS", "RANGE_EPOCHS", "RangeTest", "LRSweep",
           "log_rates", "range_rates", "range_schedule", "initial_losses", "lr_sweep",
           "lr_sweep_of_study"]

LOW, HIGH, COUNT = 1e-5, 10.0, 13      # the rate grid: 13 rates, half a decade apart
SEEDS, EPOCHS, RANGE_EPOCHS = 5, 3, 25
RATE_FIELD = "compile.optimizer.learning_rate"


def log_rates(low: float = LOW, high: float = HIGH, count: int = COUNT) -> list[float]:
    """``count`` rates from ``low`` to ``high``, evenly spaced in log10."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ValueError(f"the number of rates must be an int >= 2, got {count!r}")
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise ValueError(f"the rates need 0 < low < high, got low={low!r}, high={high!r}")
    return [float(r) for r in np.logspace(math.log10(low), math.log10(high), count)]


def rate_label(rate: float) -> str:
    """A rate as tables and sentences show it: three significant digits."""
    return f"{rate:.3g}"


@dataclass
class RangeTest:
    """The range test of every seed: one rate per epoch (``rates``), each seed's loss per
    epoch (``losses``, seeds × epochs, NaN after a divergence) and its suggested rate (None
    where the loss never fell before it blew up)."""

    rates: np.ndarray
    seeds: list[int]
    losses: np.ndarray
    suggested: list[float | None]

    @property
    def spread_decades(self) -> float:
        """Orders of magnitude between the lowest and highest suggestion (NaN if none)."""
        found = [s for s in self.suggested if s is not None]
        return math.log10(max(found) / min(found)) if found else math.nan

    def to_dict(self) -> dict[str, Any]:
        found = [s for s in self.suggested if s is not None]
        return jsonable({
            "rule": sensitivity.RANGE_TEST_RULE, "rates": self.rates,
            "per_seed": [{"seed": s, "suggested": g, "losses": l}
                         for s, g, l in zip(self.seeds, self.suggested, self.losses)],
            "suggested_min": min(found) if found else None,
            "suggested_max": max(found) if found else None,
            "spread_decades": self.spread_decades})


@dataclass
class LRSweep:
    """What :func:`lr_sweep` measured and found: ``final_loss`` and ``val_accuracy`` are
    (rates, seeds); ``initial_loss`` is each seed's loss before training."""

    config: dict[str, Any]
    rates: np.ndarray
    seeds: list[int]
    epochs: int
    initial_loss: np.ndarray
    final_loss: np.ndarray
    val_accuracy: np.ndarray
    analysis: Sensitivity
    range_test: RangeTest | None

    def setup(self) -> str:
        """The trained configuration in a few words."""
        c = self.config
        data = c["data"]["name"]
        hidden = "-".join(str(h) for h in c["model"]["hidden"]) or "no"
        opt = c["compile"]["optimizer"]
        momentum = f" (momentum {opt['momentum']:g})" if opt.get("momentum") else ""
        return (f"{data}, {hidden} hidden {c['model']['activation']}, {opt['name']}{momentum}, "
                f"batch {c['fit']['batch_size']}")

    def answer(self) -> str:
        """The findings in one paragraph, claiming no more than the data show."""
        a, n, r = self.analysis, len(self.seeds), self.rates
        lab = rate_label
        parts = [f"{self.setup()}, {self.epochs} epoch{'s' * (self.epochs != 1)} at each of "
                 f"{len(r)} constant rates from {lab(r[0])} to {lab(r[-1])} "
                 f"({a.grid_decades:.2g} decade{'s' * (a.grid_decades != 1)} apart), n = {n} seeds per "
                 f"rate."]
        rec = a.recommended
        if rec is None:
            parts.append("At every rate at least half the seeds ended with a loss that is "
                         "not finite: no rate is recommended.")
        else:
            row = next(x for x in a.rates if x.rate == rec.rate)
            est = row.final_loss
            ci = (f", {est.level:.0%} CI {est.low:.3g} to {est.high:.3g}"
                  if math.isfinite(est.low) else "")
            rough = f"; with {n} seeds such intervals tend to be too narrow" if n < 10 else ""
            where = (f"is {lab(rec.rate)} at both ends of its {rec.level:.0%} bootstrap "
                     f"percentile interval on the grid" if rec.low == rec.high
                     else f"lies between {lab(rec.low)} and {lab(rec.high)} ({rec.level:.0%} "
                          f"bootstrap percentile interval on the grid)")
            parts.append(f"The lowest median final training loss is at learning rate "
                         f"{lab(rec.rate)} ({est.estimate:.3g}{ci}); resampling the seeds, the "
                         f"best rate {where}, and {rec.agreement:.0%} of resamples chose "
                         f"{lab(rec.rate)}{rough}.")
        if a.stable is None:
            parts.append("No rate was stable: at every rate some seed diverged or ended above "
                         "its initial loss.")
        else:
            s = a.stable
            upper = proportion(np.zeros(n)).high
            span = (f"from {lab(s.low)} to {lab(s.high)} ({s.decades:.1f} orders of magnitude, "
                    f"{s.count} rates)" if s.count > 1 else f"only at {lab(s.low)}")
            parts.append(f"Every seed's loss fell below its start without diverging {span}; "
                         f"with {n} seeds a divergence rate up to {upper:.0%} at each of these "
                         f"rates is not excluded, and the region's ends are known to one grid "
                         f"step.")
        if a.edge is None:
            parts.append(f"No rate up to {lab(r[-1])} made half the seeds diverge.")
        else:
            e = a.edge
            parts.append(f"From {lab(e.rate)} up, at least half the seeds diverge "
                         f"({e.diverged} of {e.n} at {lab(e.rate)}; rate {e.divergence.level:.0%} "
                         f"CI {e.divergence.low:.0%} to {e.divergence.high:.0%})."
                         if all(x.diverged * 2 >= x.n for x in a.rates if x.rate >= e.rate)
                         else f"At least half the seeds diverge first at {lab(e.rate)} "
                              f"({e.diverged} of {e.n}), but not at every rate above it.")
        parts.append(self._range_sentence())
        return " ".join(p for p in parts if p)

    def _range_sentence(self) -> str:
        t = self.range_test
        if t is None:
            return ""
        found = [s for s in t.suggested if s is not None]
        none = len(t.suggested) - len(found)
        missing = (f"; for {none} seed{'s' * (none != 1)} the loss never fell before it "
                   f"blew up" if none else "")
        if not found:
            return (f"The one-run range test suggested no rate for any of its {len(t.seeds)} "
                    f"seeds: the loss never fell before it blew up.")
        if len(found) == 1:
            return f"The one-run range test suggests {rate_label(found[0])} for its one seed{missing}."
        rec = self.analysis.recommended
        versus = ""
        if rec is not None:
            gaps = sorted(math.log10(g / rec.rate) for g in found)
            if gaps[-1] < 0 or gaps[0] > 0:
                near, far = sorted((abs(gaps[0]), abs(gaps[-1])))
                side = "below" if gaps[-1] < 0 else "above"
                where = f"{near:.1f} to {far:.1f} orders of magnitude {side}"
            else:
                where = f"from {-gaps[0]:.1f} orders of magnitude below to {gaps[-1]:.1f} above"
            versus = f", {where} the sweep's recommended {rate_label(rec.rate)}"
        return (f"The one-run range test ({len(t.rates)} epochs, the rate ×"
                f"{t.rates[1] / t.rates[0]:.3g} per epoch), run once per seed, suggests "
                f"{rate_label(min(found))} to {rate_label(max(found))}: its answer varies by "
                f"{t.spread_decades:.1f} orders of magnitude across {len(found)} seeds"
                f"{versus}{missing}.")

    def table(self) -> str:
        """Per rate: median final loss and validation accuracy with intervals, divergences."""
        head = ("rate", "n", "final loss (median, CI)", "val acc (median, CI)", "diverged",
                "stable")
        rows = [head]
        for x in self.analysis.rates:
            rows.append((rate_label(x.rate), str(x.n), _est(x.final_loss, "{:.3g}"),
                         _est(x.val_accuracy, "{:.3f}"),
                         f"{x.diverged}/{x.n} ({x.divergence.low:.0%}-{x.divergence.high:.0%})",
                         "yes" if x.stable else "no"))
        if self.range_test is not None:
            t = self.range_test
            rows.append(("",) * len(head))
            rows.append(("range test", "seed", "suggested rate", "", "", ""))
            rows += [("", str(s), "-" if g is None else rate_label(g), "", "", "")
                     for s, g in zip(t.seeds, t.suggested)]
        return columns(rows)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON types: setup, per-seed results, the analysis, the answer."""
        return jsonable({
            "setup": self.setup(), "config": self.config, "epochs": self.epochs,
            "seeds": self.seeds, "rates": self.rates, "initial_loss": self.initial_loss,
            "final_loss": self.final_loss, "val_accuracy": self.val_accuracy,
            "divergence_rule": sensitivity.DIVERGENCE_RULE,
            "analysis": self.analysis.to_dict(),
            "range_test": None if self.range_test is None else self.range_test.to_dict(),
            "answer": self.answer()})


def _est(e, fmt: str) -> str:
    if not math.isfinite(e.estimate):
        return "-"
    if not math.isfinite(e.low):
        return fmt.format(e.estimate)
    return f"{fmt.format(e.estimate)} ({fmt.format(e.low)}-{fmt.format(e.high)})"


# ---------------------------------------------------------------------------- training
def _studies(config: dict[str, Any], rates: list[float], seeds: int, epochs: int,
             range_epochs: int | None):
    """The sweep study and (unless ``range_epochs`` is None) the range-test study."""
    from hyperlab.studies import from_dict, planner
    base = copy.deepcopy(config)
    fit = base.setdefault("fit", {})
    for key in ("schedule", "callbacks"):
        if fit.get(key):
            raise ValueError(f"fit.{key}: the learning-rate sweep trains constant rates "
                             f"without {key}; remove it")
    fit["epochs"] = epochs
    sweep = from_dict({**base, "name": "lr-sweep", "axis": "Learning Rate", "repeats": seeds,
                       "sweep": [{"field": RATE_FIELD, "values": rates,
                                  "labels": [repr(r) for r in rates]}]}, source="lr-sweep")
    if range_epochs is None:
        return sweep, None
    schedule = range_schedule(rates[0], rates[-1], range_epochs,
                              planner.steps_per_epoch(sweep.base))
    ranged = from_dict({**base, "name": "lr-range-test", "axis": "run", "repeats": seeds,
                        "fit": {**fit, "epochs": range_epochs, "schedule": schedule}},
                       source="lr-sweep range test")
    return sweep, ranged


def range_rates(low: float, high: float, epochs: int) -> np.ndarray:
    """The range test's rate in each of its ``epochs`` epochs: ``low`` to ``high``, growing
    by the same factor every epoch."""
    return low * (high / low) ** (np.arange(epochs) / (epochs - 1))


def range_schedule(low: float, high: float, epochs: int, steps_per_epoch: int
                   ) -> dict[str, Any]:
    """The ``fit.schedule`` of the range test: ``ExponentialDecay`` growing by
    ``(high/low)^(1/(epochs-1))`` once per epoch (``staircase``), so that epoch ``e`` trains
    at ``range_rates(low, high, epochs)[e]``."""
    return {"name": "ExponentialDecay", "initial_learning_rate": low,
            "decay_steps": steps_per_epoch, "decay_rate": (high / low) ** (1 / (epochs - 1)),
            "staircase": True}


def initial_losses(config: dict[str, Any], seeds: list[int]) -> np.ndarray:
    """Each seed's training loss before training (the model a study builds for the seed,
    evaluated on the whole training set in inference mode)."""
    from hyperlab.data import datasets
    from hyperlab.engine.model import Sequential
    from hyperlab.studies import build
    ds = datasets.get(**config["data"])
    sparse = config["compile"]["loss"] == "sparse_categorical_crossentropy"
    y = ds.y_train if sparse else datasets.to_categorical(ds.y_train, ds.n_classes)
    out = []
    for seed in seeds:
        model = Sequential(build.build_layers(config, tuple(ds.x_train.shape[1:]), ds.n_classes),
                           seed=seed)
        model.compile(build.build_optimizer(config), config["compile"]["loss"])
        out.append(float(model.evaluate(ds.x_train, y, verbose=0)))
    return np.array(out)


def _last(run, key: str) -> float:
    values = run.history.get(key, [])
    return float(values[-1]) if values and run.diverged_epoch is None else math.nan


def lr_sweep_of_study(study, results, *, level: float = 0.95, resamples: int = 2000
                      ) -> LRSweep:
    """:class:`LRSweep` of the stored ``results`` of a ``study`` that sweeps
    ``compile.optimizer.learning_rate`` alone (as the built-in ``learning-rate`` study does):
    its rates in ascending order, its seeds (those every rate has), each seed's initial loss
    (its model built again and evaluated, as :func:`lr_sweep` does), no range test."""
    fields = [f for sweep in study.sweeps for f in sweep["fields"]]
    if fields != ["compile.optimizer.learning_rate"]:
        raise ValueError(f"the study sweeps {fields}: the learning-rate analysis needs a sweep "
                         "of compile.optimizer.learning_rate alone")
    by_rate = sorted(((float(v.value), {r.seed: r for r in v.runs}) for v in results.values),
                     key=lambda item: item[0])
    seeds = sorted(set.intersection(*(set(runs) for _, runs in by_rate)))
    if not seeds:
        raise ValueError("no seed has a stored run at every rate")
    rates = [rate for rate, _ in by_rate]
    final = np.array([[_last(runs[s], "loss") for s in seeds] for _, runs in by_rate])
    acc = np.array([[_last(runs[s], "val_accuracy") for s in seeds] for _, runs in by_rate])
    resolved = study.variants()[0].config
    initial = initial_losses(resolved, seeds)
    analysis = sensitivity.analyze(rates, final, initial, acc, level=level, resamples=resamples)
    config = {k: resolved[k] for k in ("data", "model", "compile", "fit")}
    config["compile"] = {**config["compile"], "optimizer": {
        k: v for k, v in resolved["compile"]["optimizer"].items() if k != "learning_rate"}}
    return LRSweep(config, np.array(rates), seeds, int(resolved["fit"]["epochs"]), initial,
                   final, acc, analysis, None)


def lr_sweep(config: dict[str, Any] | None = None, *, low: float = LOW, high: float = HIGH,
             count: int = COUNT, seeds: int = SEEDS, epochs: int = EPOCHS,
             range_epochs: int | None = RANGE_EPOCHS, level: float = 0.95,
             resamples: int = 2000, db: str | Path | None = None, progress: bool = False,
             **run_options: Any) -> LRSweep:
    """Train ``count`` constant learning rates from ``low`` to ``high`` (log-spaced) ×
    ``seeds`` seeds for ``epochs`` epochs, and the range test (``range_epochs`` epochs, the
    rate growing from ``low`` to ``high``; None: no range test) once per seed; analyse.

    ``config``: a study configuration (the sections ``data``, ``model``, ``compile``,
    ``fit`` of a study file; default: the tutorial's blobs MLP with SGD, momentum 0.9,
    batch 32) without a schedule or callbacks; its learning rate and ``fit.epochs`` are
    replaced. ``db``: the SQLite store (None: a temporary one), which makes a rerun train
    only what it lacks. ``run_options`` go to
    :func:`hyperlab.studies.executors.run_studies` (executor, workers, memory_budget...).
    """
    from hyperlab.studies.executors import run_studies
    from hyperlab.studies.store import Store
    rates = log_rates(low, high, count)
    for name, value, least in (("seeds", seeds, 1), ("epochs", epochs, 1),
                               ("range_epochs", range_epochs, 3)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < least):
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    sweep, ranged = _studies(config or {}, rates, seeds, epochs, range_epochs)
    studies = [sweep] + ([ranged] if ranged is not None else [])
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(db) if db is not None else Path(tmp) / "lr-sweep.db") as store:
            results = run_studies(studies, store, progress=progress, **run_options)
    seed_list = list(range(seeds))
    by_seed = [{run.seed: run for run in value.runs} for value in results[0].values]
    final = np.array([[_last(v[s], "loss") for s in seed_list] for v in by_seed])
    acc = np.array([[_last(v[s], "val_accuracy") for s in seed_list] for v in by_seed])
    resolved = sweep.variants()[0].config
    initial = initial_losses(resolved, seed_list)
    analysis = sensitivity.analyze(rates, final, initial, acc, level=level,
                                   resamples=resamples)
    test = None
    if ranged is not None:
        runs = {run.seed: run for run in results[1].values[0].runs}
        grid = range_rates(rates[0], rates[-1], range_epochs)
        losses = np.full((seeds, range_epochs), np.nan)
        for s in seed_list:
            got = np.asarray(runs[s].history.get("loss", []), dtype=float)
            losses[s, :got.size] = got
        found = [sensitivity.steepest_descent(grid, row) for row in losses]
        test = RangeTest(grid, seed_list, losses,
                         [None if i is None else float(grid[i]) for i in found])
    config_out = {k: resolved[k] for k in ("data", "model", "compile", "fit")}
    config_out["compile"] = {**config_out["compile"], "optimizer": {
        k: v for k, v in resolved["compile"]["optimizer"].items() if k != "learning_rate"}}
    return LRSweep(config_out, np.array(rates), seed_list, epochs, initial, final, acc,
                   analysis, test)
