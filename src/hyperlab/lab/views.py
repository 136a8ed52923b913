"""What the lab's page draws, as JSON-ready dicts, read from the store on every call.

A study is opened with *knobs*: the form's fields as text (``repeats``, ``epochs``,
``batch_size``, ``optimizer``, ``learning_rate`` and ``values0``, ``values1``... for the
sweep axes); an absent or empty knob keeps the study's own value. :func:`apply_knobs` turns
them into a :class:`~hyperlab.studies.Study` through the same validation as ``--repeats``
and ``--set``, so a bad value gets the command line's one-line message. The answer is the
text ``hyperlab show`` prints (:func:`hyperlab.reports.summary.verdict`), the measures are
those of ``verdict.json``, the curves every seed's history with the per-epoch median and
interquartile band of the seeds that have the epoch.
"""
from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab import studies
from hyperlab.reports import summary
from hyperlab.reports.measures import measure_study
from hyperlab.studies import executors, planner, spec
from hyperlab.studies.results import RunResult, StudyResults, ValueResult
from hyperlab.studies.store import Store

METRICS = ("val_accuracy", "accuracy", "val_loss", "loss", "learning_rate", "sharpness")
OPTIMIZERS = ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam")
# The knobs that map to one study field (``--set``), in the form's order.
FIELDS = {"epochs": "fit.epochs", "batch_size": "fit.batch_size",
          "optimizer": "compile.optimizer.name",
          "learning_rate": "compile.optimizer.learning_rate"}
MAX_RUN_EPOCHS = 1_000_000  # the most run-epochs one press of "run" may ask for


class KnobError(ValueError):
    """A knob that cannot be used; ``knob`` names the form field, the message says why."""

    def __init__(self, knob: str, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
        self.knob = knob


@dataclass(frozen=True)
class Catalog:
    """The studies the lab can open: the built-in ones and the study files it was given."""

    files: tuple[Path, ...] = ()

    def names(self) -> list[str]:
        """Every study's name (the files are read again: an edited file shows at once);
        StudyError for a file that cannot be read or whose study's name is taken."""
        names = studies.builtin_names()
        for path in self.files:
            name = studies.load(path).name
            if name in names:
                raise studies.StudyError(f"{path}: study name {name!r} is taken by another "
                                         "study of the lab; give the study another name")
            names.append(name)
        return names

    def get(self, name: str) -> studies.Study:
        """The study called ``name``; KeyError when the lab knows none."""
        if name in studies.builtin_names():
            return studies.get(name)
        for path in self.files:
            study = studies.load(path)
            if study.name == name:
                return study
        raise KeyError(name)


# ------------------------------------------------------------------------------- knobs
def _toml(value: Any) -> str:
    """``value`` as a TOML inline value (what a study file would hold)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _parse(text: str) -> Any:
    """A knob's text as ``--set`` reads it: a TOML value, else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _swept(study: studies.Study, key: str) -> str | None:
    """The swept field that ``key`` is, lies in or holds; None when it is not swept."""
    for sweep in study.sweeps:
        for field in sweep["fields"]:
            if key == field or key.startswith(field + ".") or field.startswith(key + "."):
                return field
    return None


def _raw(study: studies.Study) -> dict[str, Any]:
    """The study as the dict of a study file (``studies.from_dict`` reads it back)."""
    verdict: dict[str, Any] = {"measures": list(study.measures)}
    if study.baseline is not None:
        verdict["baseline"] = study.baseline
    return {"name": study.name, "description": study.description, "question": study.question,
            "axis": study.axis, "repeats": study.repeats, "figures": list(study.figures),
            "threshold": study.threshold, "verdict": verdict,
            **{k: study.base[k] for k in ("data", "model", "compile", "fit")},
            "sweep": [dict(s) for s in study.sweeps]}


def _with_values(study: studies.Study, index: int, text: str) -> studies.Study:
    """``study`` with sweep axis ``index`` taking the comma-separated values ``text``."""
    knob = f"values{index}"
    try:
        values = tomllib.loads(f"v = [{text}]")["v"]
    except tomllib.TOMLDecodeError:
        raise KnobError(knob, f"{knob}: expected values separated by commas as a study file "
                              f"writes them (e.g. 0.0, 0.9 or \"SGD\", \"Adam\"), found "
                              f"{text!r}") from None
    sweep = study.sweeps[index]
    if values == sweep["values"]:
        return study
    raw = _raw(study)
    raw["sweep"][index] = {"fields": sweep["fields"], "values": values}  # labels follow
    try:
        return studies.from_dict(raw, source=study.source, root=Path.cwd())
    except ValueError as err:
        raise KnobError(knob, err) from None


def _set(study: studies.Study, knob: str, text: str) -> studies.Study:
    """``study`` with the one-field knob ``knob`` set to ``text`` (as ``--set`` does)."""
    value = _parse(text)
    field = FIELDS[knob]
    optimizer = study.base["compile"]["optimizer"]
    if knob == "optimizer":
        if str(value).lower() == str(optimizer["name"]).lower():
            return study
        # another optimizer starts from its own defaults, keeping only the learning rate
        keep = {k: v for k, v in optimizer.items() if k == "learning_rate"
                and not _swept(study, "compile.optimizer.learning_rate")}
        item = f"compile.optimizer={_toml({'name': value, **keep})}"
    else:
        current = optimizer.get("learning_rate") if knob == "learning_rate" else \
            study.base["fit"].get(field.split(".")[1])
        if value == current:
            return study
        item = f"{field}={_toml(value)}"
    try:
        return study.with_overrides(sets=[item])
    except ValueError as err:
        raise KnobError(knob, err) from None


def apply_knobs(study: studies.Study, knobs: Mapping[str, str]) -> studies.Study:
    """``study`` with the form's ``knobs`` applied; KnobError naming the first knob that
    cannot be used, with the command line's message."""
    for key in knobs:
        if key not in ("repeats", *FIELDS) and not (
                key.startswith("values") and key[6:].isdigit()
                and int(key[6:]) < len(study.sweeps)):
            raise KnobError(key, f"{key}: not a knob of study {study.name!r}")
    knobs = {k: str(v).strip() for k, v in knobs.items() if str(v).strip()}
    for i in range(len(study.sweeps)):
        if f"values{i}" in knobs:
            study = _with_values(study, i, knobs[f"values{i}"])
    if "repeats" in knobs:
        try:
            study = study.with_overrides(repeats=_parse(knobs["repeats"]))
        except ValueError as err:
            raise KnobError("repeats", err) from None
    for knob in FIELDS:
        if knob in knobs:
            study = _set(study, knob, knobs[knob])
    return study


def form(study: studies.Study) -> list[dict[str, Any]]:
    """The form's fields: key, label, current value as text, the swept field that fixes it
    (the field is then read-only) and the choices of a select."""
    optimizer = study.base["compile"]["optimizer"]
    current = {"epochs": study.base["fit"]["epochs"], "batch_size": study.base["fit"]["batch_size"],
               "optimizer": optimizer["name"], "learning_rate": optimizer.get("learning_rate")}
    fields = [{"key": f"values{i}", "label": f"{' + '.join(s['fields'])} values",
               "value": ", ".join(map(_toml, s["values"])), "swept": None, "choices": None}
              for i, s in enumerate(study.sweeps)]
    fields.append({"key": "repeats", "label": "repeats (seeds per value)",
                   "value": str(study.repeats), "swept": None, "choices": None})
    for knob, field in FIELDS.items():
        value = current[knob]
        fields.append({
            "key": knob, "label": field, "swept": _swept(study, field),
            "value": "" if value is None else value if knob == "optimizer" else _toml(value),
            "choices": list(dict.fromkeys([optimizer["name"], *OPTIMIZERS]))
            if knob == "optimizer" else None})
    return fields


def check_size(study: studies.Study) -> None:
    """KnobError when training the whole study asks for more than ``MAX_RUN_EPOCHS``."""
    variants = study.variants()
    size = study.repeats * sum(int(v.config["fit"]["epochs"]) for v in variants)
    if size > MAX_RUN_EPOCHS:
        raise KnobError("repeats", f"this study asks for {size:,} run-epochs ({len(variants)} "
                                   f"values x {study.repeats} seeds x epochs); the lab trains at "
                                   f"most {MAX_RUN_EPOCHS:,} per run: use fewer values, repeats "
                                   "or epochs, or 'hyperlab run'")


# ------------------------------------------------------------------------------ reading
def stored(study: studies.Study, store: Store | None,
           live: Mapping[str, dict[str, list[float]]] | None = None
           ) -> tuple[StudyResults, StudyResults, int, int]:
    """The study's stored runs assembled; the same with the runs in training so far (``live``:
    run key -> history so far; their wall time unknown); (runs stored, runs planned)."""
    variants, runs = planner.plan(study)
    found = store.get_runs([r.key for r in runs]) if store is not None else {}
    partial = {r.key: RunResult(r.key, r.seed, live[r.key], wall_time_s=math.nan,
                                updates=planner.steps_per_epoch(r.config)
                                * len(live[r.key].get("loss", [])))
               for r in runs if r.key not in found and r.key in (live or {})}
    return (executors.assemble(study, variants, runs, found),
            executors.assemble(study, variants, runs, {**found, **partial}),
            len(found), len(runs))


def answer(results: StudyResults) -> dict[str, Any] | None:
    """``hyperlab show``'s answer (the leading measure's sentence, then one per other
    measure), its table and every measure as ``verdict.json`` holds it; None until every
    value has a stored run."""
    if not all(v.runs for v in results.values):
        return None
    rows = summary.summarize(results)
    verdict = summary.verdict(results, rows, measures=measure_study(results))
    return {"lines": summary.answer_lines(verdict),
            "table": summary.format_table(rows), "measures": verdict["measures"]}


def list_item(study: studies.Study, found: dict[str, Any] | None, have: int,
              planned: int) -> dict[str, Any]:
    """A study's row in the list: its question, runs stored of planned, the first line of
    its answer and its leading measure (``found``, the :func:`answer`; None until every value
    has a stored run)."""
    return {"name": study.name, "description": study.description,
            "question": study.question, "builtin": study.name in studies.builtin_names(),
            "stored": have, "planned": planned,
            "answer": found["lines"][0] if found else None,
            "leading": leading(found["measures"]) if found else None}


def study_list(catalog: Catalog, store: Store | None) -> dict[str, Any]:
    """Every study the lab can open, with its question and current answer, and the names of
    the other studies that have runs in the store (their files were not given)."""
    items = []
    for name in catalog.names():
        study = catalog.get(name)
        results, _, have, planned = stored(study, store)
        items.append(list_item(study, answer(results), have, planned))
    known = {item["name"] for item in items}
    others = [{"name": n, "runs": store.count_runs(n)}
              for n in (store.studies() if store is not None else []) if n not in known]
    return {"studies": items, "others": others}


def leading(measures: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The leading measure's title and its best value with estimate and interval (None when
    no value is best: every estimate missing)."""
    m = measures[0]
    best = next((v for v in m["values"] if v["label"] == m["best"]), None)
    if best is None:
        return None
    return {"title": m["title"], "unit": m["unit"], "percent": m["percent"],
            "best": best["label"], "estimate": best["estimate"], "low": best["low"],
            "high": best["high"], "n": best["n"]}


def study_view(study: studies.Study, store: Store | None,
               live: Mapping[str, dict[str, list[float]]] | None = None) -> dict[str, Any]:
    """One study: what it asks, its answer, measures and table (from the stored runs) and
    learning curves (of the stored runs and, from ``live``, of those in training so far)."""
    results, drawn, have, planned = stored(study, store, live)
    return results_view(study, results, drawn, have, planned, set(live or ()))


def results_view(study: studies.Study, results: StudyResults,
                 drawn: StudyResults | None = None, have: int | None = None,
                 planned: int | None = None, training: Set[str] = frozenset()
                 ) -> dict[str, Any]:
    """:func:`study_view` of assembled ``results`` (with ``drawn``, the same and the runs in
    ``training``, for the curves; by default the results themselves, every run stored)."""
    drawn = drawn or results
    found = answer(results)
    metrics = [m for m in METRICS if any(m in r.history for v in drawn.values for r in v.runs)]
    runs = sum(len(v.runs) for v in results.values)
    return {"name": study.name, "description": study.description, "question": study.question,
            "axis": study.axis, "repeats": study.repeats,
            "stored": runs if have is None else have,
            "planned": study.repeats * len(results.values) if planned is None else planned,
            "answer": found and found["lines"], "table": found and found["table"],
            "measures": found["measures"] if found else [], "metrics": metrics,
            "axes": [{"name": " + ".join(s["fields"]), "labels": list(s["labels"])}
                     for s in study.sweeps],
            "values": [_value(v, metrics, spec.data_facts(variant.config["data"]).n_train,
                              training)
                       for v, variant in zip(drawn.values, study.variants())],
            "form": form(study),
            "analyses": analyses_view(study, results) if found else []}


def analyses_view(study: studies.Study, results: StudyResults) -> list[dict[str, Any]]:
    """The study's declared analyses (``hyperlab.science.analyses``) of its stored runs:
    each one's title, answer, text table (where it has one) and a Plotly chart (data and
    layout) of its result."""
    from hyperlab.science import analyses
    out = []
    for name in study.analyses:
        title = analyses.KINDS[name][0]
        try:
            result = analyses.compute(name, study, results)
        except ValueError as err:
            out.append({"name": name, "title": title, "answer": f"Not computed: {err}",
                        "table": None, "chart": None})
            continue
        table = result.table() if hasattr(result, "table") else None
        out.append({"name": name, "title": title, "answer": result.answer(), "table": table,
                    "chart": CHARTS[name](result.to_dict())})
    return out


def _finite(values: Any) -> list[float | None]:
    return [None if v is None or not math.isfinite(v) else float(v) for v in values]


def _lr_sweep_chart(d: dict[str, Any]) -> dict[str, Any]:
    """Final training loss against the learning rate (log x): every seed, the medians, the
    stable region shaded and the recommended rate with its interval on the grid."""
    rates, a = d["rates"], d["analysis"]
    xs, ys = [], []
    for rate, row in zip(rates, d["final_loss"]):
        for loss in row:
            if loss is not None and math.isfinite(loss):
                xs.append(rate)
                ys.append(loss)
    data = [{"type": "scatter", "mode": "markers", "name": "a seed", "x": xs, "y": ys,
             "marker": {"color": "rgba(90,90,90,0.5)", "size": 6},
             "hovertemplate": "rate %{x:.3g}: final loss %{y:.4g}<extra></extra>"},
            {"type": "scatter", "mode": "lines+markers", "name": "median of the seeds",
             "x": rates, "y": [r["final_loss"]["estimate"] for r in a["rates"]],
             "line": {"color": "#222"},
             "hovertemplate": "rate %{x:.3g}: median %{y:.4g}<extra></extra>"}]
    shapes = []
    if a["stable"] is not None:
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": a["stable"]["low"],
                       "x1": a["stable"]["high"], "y0": 0, "y1": 1, "line": {"width": 0},
                       "fillcolor": "rgba(44,160,44,0.10)"})
        data.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None],
                     "name": "stable region", "hoverinfo": "skip",
                     "marker": {"symbol": "square", "size": 12, "color": "rgba(44,160,44,0.3)"}})
    rec = a["recommended"]
    if rec is not None:
        row = next(r for r in a["rates"] if r["rate"] == rec["rate"])
        data.append({"type": "scatter", "mode": "markers", "x": [rec["rate"]],
                     "y": [row["final_loss"]["estimate"]], "name": "recommended rate",
                     "marker": {"symbol": "star", "size": 14, "color": "#d62728"},
                     "error_x": {"type": "data", "symmetric": False,
                                 "array": [rec["high"] - rec["rate"]],
                                 "arrayminus": [rec["rate"] - rec["low"]]},
                     "hovertemplate": "recommended: %{x:.3g}<extra></extra>"})
    return {"data": data, "layout": {
        "xaxis": {"type": "log", "title": {"text": "learning rate"}},
        "yaxis": {"type": "log", "title": {"text": f"training loss after {d['epochs']} epochs"}},
        "shapes": shapes, "hovermode": "closest", "margin": {"t": 40},
        "legend": {"orientation": "h", "y": 1.15}}}


def _critical_chart(d: dict[str, Any]) -> dict[str, Any]:
    """Steps to target against the batch size, log-log: each seed at its batch size's
    chosen rate, the medians, the fitted S_min (1 + B_noise/B) and B_noise's interval."""
    batches, fit = d["batches"], d["fit"]
    picked = [d["rates"].index(r) for r in d["chosen_rate"]]
    xs, ys = [], []
    for i, j in enumerate(picked):
        for steps in d["steps"][i][j]:
            if steps is not None and math.isfinite(steps):
                xs.append(batches[i])
                ys.append(steps)
    data = [{"type": "scatter", "mode": "markers", "name": "a seed", "x": xs, "y": ys,
             "marker": {"color": "rgba(90,90,90,0.5)", "size": 6},
             "hovertemplate": "batch %{x}: %{y:.4g} updates<extra></extra>"},
            {"type": "scatter", "mode": "lines+markers", "name": "median of the seeds",
             "x": batches, "y": _finite(d["median_steps"]), "line": {"color": "#222"},
             "hovertemplate": "batch %{x}: median %{y:.4g} updates<extra></extra>"}]
    shapes = []
    if fit["b_noise"] is not None:
        lo, hi = min(batches) / 2, max(batches) * 2
        grid = list(np.geomspace(lo, hi, 60))
        data.append({"type": "scatter", "mode": "lines", "x": grid,
                     "y": [fit["s_min"] * (1 + fit["b_noise"] / b) for b in grid],
                     "name": f"fit: S_min {fit['s_min']:.3g}, B_noise {fit['b_noise']:.3g}",
                     "line": {"color": "#d62728"}, "hoverinfo": "skip"})
        if fit["b_noise_low"] is not None and fit["b_noise_high"] is not None:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper",
                           "x0": fit["b_noise_low"], "x1": fit["b_noise_high"], "y0": 0, "y1": 1,
                           "fillcolor": "rgba(214,39,40,0.12)", "line": {"width": 0}})
            data.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None],
                         "name": f"B_noise, {fit['level']:.0%} bootstrap interval",
                         "marker": {"symbol": "square", "size": 12,
                                    "color": "rgba(214,39,40,0.25)"}, "hoverinfo": "skip"})
    sign = "≥" if d["metric"].endswith("accuracy") else "≤"
    return {"data": data, "layout": {
        "xaxis": {"type": "log", "title": {"text": "batch size B"}},
        "yaxis": {"type": "log" if any(ys) else "linear",
                  "title": {"text": f"updates to {d['metric']} {sign} {d['target']:g}"}},
        "shapes": shapes, "hovermode": "closest", "margin": {"t": 40},
        "legend": {"orientation": "h", "y": 1.15}}}


def _scaling_chart(d: dict[str, Any]) -> dict[str, Any]:
    """The best rate per batch size, log-log, with the fitted lr* ∝ B^alpha."""
    batches, best = d["batches"], d["best_rate"]
    data = [{"type": "scatter", "mode": "markers", "name": "best rate", "x": batches,
             "y": best, "marker": {"color": "#222", "size": 9},
             "hovertemplate": "batch %{x}: best rate %{y:.3g}<extra></extra>"}]
    if d["alpha"] is not None and math.isfinite(d["alpha"]):
        lb, lr = np.log(batches), np.log(best)
        c = float(np.mean(lr) - d["alpha"] * np.mean(lb))
        data.append({"type": "scatter", "mode": "lines", "x": batches,
                     "y": [float(np.exp(c + d["alpha"] * v)) for v in lb],
                     "name": f"fit: alpha = {d['alpha']:.2f} ({d['low']:.2f} to {d['high']:.2f})",
                     "line": {"color": "#d62728"}, "hoverinfo": "skip"})
    return {"data": data, "layout": {
        "xaxis": {"type": "log", "title": {"text": "batch size B"}},
        "yaxis": {"type": "log", "title": {"text": f"best rate (median final {d['measure']})"}},
        "hovermode": "closest", "margin": {"t": 40}, "legend": {"orientation": "h", "y": 1.15}}}


def _epochs_chart(d: dict[str, Any]) -> dict[str, Any]:
    """Per seed: the plateau, where the calibrated EarlyStopping stops, and the onset of
    overfitting (where there is one)."""
    seeds = [s["seed"] for s in d["per_seed"]]
    marks = [("plateau", [s["plateau"] for s in d["per_seed"]], "circle"),
             ("EarlyStopping stops", d["early_stopping"]["stopped_after"], "x"),
             ("overfitting starts", [s["overfitting"] for s in d["per_seed"]], "triangle-up")]
    return {"data": [{"type": "scatter", "mode": "markers", "name": name, "x": seeds,
                      "y": _finite(ys), "marker": {"symbol": symbol, "size": 9},
                      "hovertemplate": f"seed %{{x}}: {name} at epoch %{{y:.0f}}<extra></extra>"}
                     for name, ys, symbol in marks],
            "layout": {"xaxis": {"title": {"text": "seed"}, "dtick": 1},
                       "yaxis": {"title": {"text": "epoch"}}, "hovermode": "closest",
                       "margin": {"t": 40}, "legend": {"orientation": "h", "y": 1.15}}}


CHARTS = {"lr-sweep": _lr_sweep_chart, "critical-batch": _critical_chart, "scaling-rule": _scaling_chart,
          "epochs": _epochs_chart}


def _json_floats(values: Any) -> list[float | None]:
    """Finite values to 7 significant digits (what float32 holds; the JSON is a third as
    long), the others as None."""
    return [float(f"{x:.7g}") if math.isfinite(x) else None
            for x in np.asarray(values, float).tolist()]


def _value(value: ValueResult, metrics: list[str], n_train: int,
           training: Set[str]) -> dict[str, Any]:
    """One value's runs: seeds, which are still in ``training``, what each seed's epoch is
    worth on the other x axes (weight updates, examples seen, seconds: its wall time spread
    evenly over its epochs) and, per metric, every seed's curve with the median and the
    interquartile band (where at least two seeds have the epoch)."""
    curves = {}
    for metric in metrics:
        y = value.curves(metric)
        count = np.isfinite(y).sum(axis=0)
        stats = np.full((3, y.shape[1]), np.nan)
        if y.size and (count > 0).any():
            stats[:, count > 0] = np.nanquantile(y[:, count > 0], (0.25, 0.5, 0.75), axis=0)
        stats[[0, 2]] = np.where(count >= 2, stats[[0, 2]], np.nan)
        curves[metric] = {
            "seeds": [_json_floats(run.history.get(metric, [])) for run in value.runs],
            "median": _json_floats(stats[1]), "low": _json_floats(stats[0]),
            "high": _json_floats(stats[2])}
    per_epoch = {"updates": [r.updates / r.epochs_run if r.epochs_run else None
                             for r in value.runs],
                 "examples": [n_train for _ in value.runs],
                 "time": [r.wall_time_s / r.epochs_run
                          if r.epochs_run and math.isfinite(r.wall_time_s) else None
                          for r in value.runs]}
    return {"label": value.label, "seeds": [r.seed for r in value.runs],
            "training": [r.key in training for r in value.runs],
            "per_epoch": per_epoch, "curves": curves}
