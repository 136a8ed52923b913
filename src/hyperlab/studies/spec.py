"""Study files: a base configuration, repeats, and sweep axes — loaded, validated, expanded.

A study file (TOML)::

    name = "momentum"
    description = "How momentum changes learning at a high learning rate"
    axis = "Momentum"                 # what is swept, for titles and tables
    repeats = 10                      # seeds 0 .. repeats-1
    figures = ["panels"]              # panels | overlay | plateau | schedules | gradients | stopping | sharpness
    threshold = 0.8                   # validation accuracy for "epochs to reach"
    # analyses = ["lr-sweep"]         # hyperlab.science on the stored runs (ANALYSES)

    [verdict]                         # what answers the question (hyperlab.studies.measures)
    measures = ["epochs_to_threshold", "final_val_accuracy"]   # the first one leads
    # baseline = "0.0"                # a value label the others are also compared with

    [data]                            # a dataset of hyperlab.datasets and its arguments
    name = "blobs"
    [model]                           # hidden Dense layers, then a softmax output layer
    hidden = [50]
    activation = "relu"
    initializer = "he_uniform"
    # batch_norm = "after"            # none | after (each hidden layer) | before (its activation)
    # dropout = 0.2                   # Dropout after the input and each hidden layer
    # kernel_regularizer = { l2 = 1e-4 }   # l1 and/or l2 on every Dense kernel
    [compile]
    loss = "categorical_crossentropy"
    optimizer = { name = "SGD", learning_rate = 0.08 }
    [fit]
    epochs = 128
    batch_size = 256                  # or "full"
    # diagnostics = true              # per-layer gradient/weight/activation statistics;
    #                                 # or a list of "layers" and "sharpness" (top Hessian eigenvalue)
    # schedule = { name = "StepDecay", initial_learning_rate = 0.1, drop = 0.5, epochs_drop = 32 }
    # callbacks = { ReduceLROnPlateau = { patience = 5 } }

    [[sweep]]                         # several [[sweep]] tables: their grid product
    field = "compile.optimizer.momentum"
    values = [0.0, 0.5, 0.9, 0.99]
    # zipped fields:  fields = ["fit.batch_size", "compile.optimizer.learning_rate"]
    #                 values = [[1, 0.01], [1, 0.001]]      labels = ["online 0.01", "online 0.001"]

A relative ``data.path`` is relative to the study file's folder (``--set data.path=...``:
to the working directory). Every error names the file, the key path, what was expected and
what was found.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hyperlab.data import datasets
from hyperlab._constraints import (AnyOf, Boolean, Constraint, Instance, Interval, Items,
                                         Options, PlainInt, check_at)
from hyperlab.studies import build
from hyperlab.studies.build import CALLBACKS, TUTORIAL_SGD
from hyperlab.studies.measures import DEFAULT_MEASURES, MEASURES

RESULTS_VERSION = 3  # part of every run key: bump when the engine's numbers (or what a run records) change

DEFAULTS: dict[str, Any] = {
    "data": {"name": "blobs"},
    "model": {"hidden": [50], "activation": "relu", "initializer": "he_uniform"},
    "compile": {"loss": "categorical_crossentropy",
                "optimizer": {"name": "SGD", **TUTORIAL_SGD}},
    "fit": {"epochs": 200, "batch_size": 32, "shuffle": True},
}
TOP_KEYS = {"name", "description", "question", "axis", "repeats", "figures", "threshold",
            "analyses", "verdict", "data", "model", "compile", "fit", "sweep"}
VERDICT_KEYS = {"measures", "baseline"}
SECTION_KEYS = {"model": {"hidden", "activation", "initializer", "batch_norm", "dropout",
                          "kernel_regularizer"},
                "compile": {"loss", "optimizer"},
                "fit": {"epochs", "batch_size", "shuffle", "schedule", "callbacks", "diagnostics"}}
# Optional keys and the value that means "off": a resolved config leaves them out when off,
# so run keys (and stored results) of configurations without them stay what they were.
OPTIONAL_OFF = {("model", "batch_norm"): "none", ("model", "dropout"): 0.0,
                ("model", "kernel_regularizer"): {}, ("fit", "diagnostics"): False}
BATCH_NORM = ("none", "after", "before")
FIGURES = ("panels", "overlay", "plateau", "schedules", "gradients", "stopping", "sharpness")
# What fit.diagnostics may name: engine.training.DIAGNOSTICS, spelled out here so that
# reading a study file does not start JAX (tests/science/test_study_sharpness.py checks both).
DIAGNOSTICS = ("layers", "sharpness")
# Analyses of hyperlab.science that a study's publication runs on its stored runs, and the
# fields the study must sweep for each (its command: `hyperlab <name> STUDY`).
ANALYSES: dict[str, tuple[str, ...]] = {
    "lr-sweep": ("compile.optimizer.learning_rate",),
    "critical-batch": ("fit.batch_size",),
    "scaling-rule": ("fit.batch_size", "compile.optimizer.learning_rate"),
    "epochs": ("fit.epochs",),
}
# What a field may be (study files give ints, floats, strings, lists and tables).
TEXT, LIST, TABLE = Instance((str,)), Instance((list,)), Instance((dict,))
POSITIVE_INT = PlainInt(1)  # a count, as TOML gives it: run keys are its JSON
FIELDS: dict[str, Constraint] = {
    "name": TEXT, "description": TEXT, "question": TEXT, "repeats": POSITIVE_INT,
    "figures": Items(Options(FIGURES)), "threshold": Instance((int, float)),
    "analyses": Items(Options(tuple(ANALYSES))),
    "data.name": Options(datasets.NAMES),
    "model.hidden": Items(POSITIVE_INT), "model.batch_norm": Options(BATCH_NORM),
    "model.dropout": Interval(0.0, 1.0, closed="left"),
    "compile.loss": TEXT, "compile.optimizer.name": TEXT,
    "fit.epochs": POSITIVE_INT, "fit.batch_size": AnyOf((POSITIVE_INT, Options(("full",)))),
    "fit.shuffle": Boolean(), "fit.schedule.name": TEXT,
    "fit.diagnostics": AnyOf((Boolean(), Items(Options(DIAGNOSTICS)))),
}
# Dataset arguments that say where the data come from, not what they are: run keys leave
# them out (the digest of the arrays stands for the data).
SOURCE_ARGS = ("path", "download")


class StudyError(ValueError):
    """A study file or study value that cannot be used (the message says where and why)."""


@dataclass
class Variant:
    """One point of the sweep: its label, the swept values and the full configuration."""

    label: str
    value: Any
    config: dict[str, Any]


@dataclass
class Study:
    name: str
    description: str
    axis: str
    repeats: int
    base: dict[str, Any]
    sweeps: list[dict[str, Any]]
    figures: list[str] = field(default_factory=lambda: ["panels"])
    threshold: float = 0.8
    question: str = ""
    source: str = "<study>"
    measures: list[str] = field(default_factory=lambda: list(DEFAULT_MEASURES))
    baseline: str | None = None
    analyses: list[str] = field(default_factory=list)

    def variants(self) -> list[Variant]:
        """The grid product of the sweep axes (zipped fields move together)."""
        axes = [list(zip(s["labels"], s["values"])) for s in self.sweeps] or [[("base", None)]]
        out = []
        for combo in itertools.product(*axes):
            config = copy.deepcopy(self.base)
            for sweep, (_, value) in zip(self.sweeps, combo):
                values = value if len(sweep["fields"]) > 1 else [value]
                for path, v in zip(sweep["fields"], values):
                    _assign(config, path, copy.deepcopy(v))
            label = " / ".join(lbl for lbl, _ in combo)
            value = combo[0][1] if len(combo) == 1 else [v for _, v in combo]
            out.append(Variant(label, value, resolve(config, f"{self.source}: sweep value {label!r}")))
        return out

    def run(self, db: str | Path | None = None, progress: bool = True):
        """Train what ``db`` (a SQLite store; None: a temporary one) lacks; return the
        results (``.values`` with every run's history, ``.summary()``, ``.figures()``)."""
        import tempfile
        from hyperlab.studies.executors import run_study
        from hyperlab.studies.store import Store
        with tempfile.TemporaryDirectory() as tmp:
            with Store(Path(db) if db is not None else Path(tmp) / "study.db") as store:
                return run_study(self, store, progress=progress)

    @staticmethod
    def load(path: str | Path) -> "Study":
        """A study file (TOML)."""
        return load(path)

    @staticmethod
    def from_dict(raw: dict[str, Any], source: str = "<study>",
                  root: str | Path | None = None) -> "Study":
        """A study given as a dict with the keys of a study file; a relative ``data.path``
        is relative to ``root`` (default: the working directory)."""
        return from_dict(raw, source, root=root)

    def with_overrides(self, repeats: int | None = None, sets: list[str] | None = None) -> "Study":
        """A copy with ``--repeats`` and ``--set key=value`` applied (and validated).

        A table value of a section (``fit={epochs=5}``) merges into it; ``data={...}``
        replaces the dataset. A relative ``data.path`` given here is relative to the working
        directory, where it was typed. A swept field cannot be set: the sweep would
        override it."""
        study = copy.deepcopy(self)
        if repeats is not None:
            study.repeats = _field(repeats, FIELDS["repeats"], f"{self.source}: repeats")
        for item in sets or []:
            if "=" not in item:
                raise StudyError(f"--set {item!r}: expected KEY=VALUE, e.g. fit.epochs=50")
            key, raw = item.split("=", 1)
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw
            if key.split(".")[0] not in DEFAULTS:
                raise StudyError(f"--set {key}: unknown field; fields live under "
                                 f"{sorted(DEFAULTS)} (e.g. fit.epochs=50)")
            self._check_not_swept(key, value)
            if key in SECTION_KEYS and isinstance(value, dict):
                _merge(study.base[key], value)
            else:
                _assign(study.base, key, value, where=f"--set {key}")
            if key in ("data", "data.path"):
                study.base["data"] = _anchor("data", study.base["data"], Path.cwd())
        study.base = _validate_config(study.base, f"{self.source} (after --set)")
        _check_data(study.base, study.sweeps, f"{self.source} (after --set)")
        study.variants()  # validates every combination
        return study

    def _check_not_swept(self, key: str, value: Any) -> None:
        """Raise if ``--set key=value`` sets (part of) a swept field."""
        for i, sweep in enumerate(self.sweeps):
            for swept in sweep["fields"]:
                inside = key == swept or key.startswith(swept + ".")
                if inside or (swept.startswith(key + ".") and _holds(value, swept[len(key) + 1:])):
                    what = "this field" if key == swept else swept
                    raise StudyError(
                        f"--set {key}: {what} is swept by the study (sweep[{i}] of "
                        f"{self.source}), which would override the value; change the sweep's "
                        "values in the study file instead")


def load(path: str | Path) -> Study:
    """Read and validate a study file; a relative ``data.path`` is relative to its folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise StudyError(f"{path}: no such study file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise StudyError(f"{path}: cannot read the study file: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise StudyError(f"{path}: not valid TOML: {err}") from None
    return from_dict(raw, source=str(path), default_name=path.stem, root=path.parent)


def from_dict(raw: dict[str, Any], source: str = "<study>", default_name: str = "study",
              root: str | Path | None = None) -> Study:
    """Validate a study given as a dict (the Python mirror of a study file); a relative
    ``data.path`` is relative to ``root`` (default: the working directory)."""
    root = Path.cwd() if root is None else Path(root)
    _check_keys(raw, TOP_KEYS, source, "")
    base = {k: raw[k] for k in DEFAULTS if k in raw}
    base = _validate_config(_merge(copy.deepcopy(DEFAULTS), base), source)
    base["data"] = _anchor("data", base["data"], root)
    name = _plain_name(_declared(raw.get("name", default_name), "name", source), source)
    repeats = _declared(raw.get("repeats", 1), "repeats", source)
    figures = _declared(raw.get("figures", ["panels"]), "figures", source)
    threshold = _declared(raw.get("threshold", 0.8), "threshold", source)
    analyses = list(dict.fromkeys(_declared(raw.get("analyses", []), "analyses", source)))
    measures, baseline = _verdict(raw.get("verdict", {}), source)
    sweeps = [_validate_sweep(s, base, source, i, root) for i, s in enumerate(
        _field(raw.get("sweep", []), LIST, f"{source}: sweep"))]
    axis = raw.get("axis") or " × ".join(s["fields"][-1].split(".")[-1] for s in sweeps) or "run"
    study = Study(name=name, description=_declared(raw.get("description", ""), "description",
                                                   source),
                  axis=_field(axis, TEXT, f"{source}: axis"), repeats=repeats, base=base,
                  sweeps=sweeps, figures=list(figures), threshold=float(threshold),
                  question=_declared(raw.get("question", ""), "question", source),
                  source=source, measures=measures, baseline=baseline, analyses=analyses)
    _check_analyses(analyses, sweeps, source)
    _check_data(base, sweeps, source)
    labels = [v.label for v in study.variants()]
    if baseline is not None and baseline not in labels:
        raise StudyError(f"{source}: verdict.baseline: {baseline!r} is not a value label of the "
                         f"study; choose one of {labels}")
    return study


def _verdict(raw: Any, source: str) -> tuple[list[str], str | None]:
    """The ``[verdict]`` table: the measures (known names, the first leads) and a baseline."""
    _check_keys(_field(raw, TABLE, f"{source}: verdict"), VERDICT_KEYS, source, "verdict")
    measures = _field(raw.get("measures", list(DEFAULT_MEASURES)), LIST,
                      f"{source}: verdict.measures")
    if not measures:
        raise StudyError(f"{source}: verdict.measures: name at least one measure, e.g. "
                         f"{list(DEFAULT_MEASURES)}")
    for name in measures:
        if name not in MEASURES:
            raise StudyError(f"{source}: verdict.measures: unknown measure {name!r}; choose "
                             f"from {list(MEASURES)}")
    if len(set(measures)) != len(measures):
        raise StudyError(f"{source}: verdict.measures: {measures} names a measure twice")
    baseline = raw.get("baseline")
    if baseline is not None:
        baseline = _field(baseline, TEXT, f"{source}: verdict.baseline")
    return list(measures), baseline


# ---------------------------------------------------------------------------- validation
def _field(value: Any, constraint: Constraint, where: str) -> Any:
    """``value`` of the field at ``where`` (``file: path``), if ``constraint`` accepts it."""
    return check_at(value, constraint, where, StudyError)


def _declared(value: Any, path: str, source: str) -> Any:
    """``value`` of the field ``path`` if its constraint in ``FIELDS`` accepts it."""
    return _field(value, FIELDS[path], f"{source}: {path}")


def _check_analyses(analyses: list[str], sweeps: list[dict[str, Any]], source: str) -> None:
    """Each analysis needs its fields swept (``ANALYSES``)."""
    swept = {f for sweep in sweeps for f in sweep["fields"]}
    for name in analyses:
        missing = [f for f in ANALYSES[name] if f not in swept]
        if missing:
            raise StudyError(f"{source}: analyses: {name!r} needs a sweep of {' and '.join(missing)}; "
                             "add it or remove the analysis")


def _check_data(base: dict[str, Any], sweeps: list[dict[str, Any]], source: str) -> None:
    """Load the base configuration's data unless a sweep sets them (then each variant's
    are checked), so that a data error names the data rather than a sweep value."""
    if not any(f.split(".")[0] == "data" for sweep in sweeps for f in sweep["fields"]):
        try:
            _resolved_data(base["data"])
        except (ValueError, TypeError) as err:
            raise StudyError(f"{source}: data: {err}") from None


def _plain_name(name: str, source: str) -> str:
    """A study name that is one plain folder name: studies write to ``OUT/<name>/``."""
    if (not name.strip() or name == "." or "/" in name or "\\" in name or ".." in name
            or any(ord(c) < 32 for c in name)):
        raise StudyError(f"{source}: name: expected a plain name (not empty; no '/', '\\', "
                         f"'..' or control characters), found {name!r}; e.g. name = \"my-study\"")
    return name


def _anchor(field: str, value: Any, root: Path) -> Any:
    """``value`` of ``field`` with a relative data path made absolute against ``root``."""
    if field == "data" and isinstance(value, dict) and "path" in value:
        return {**value, "path": _anchor("data.path", value["path"], root)}
    if field == "data.path" and isinstance(value, str) and value:
        return os.path.abspath(root / Path(value).expanduser())
    return value


def _holds(value: Any, path: str) -> bool:
    """Whether nested tables ``value`` hold the dotted ``path``."""
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def _check_keys(table: dict, allowed: set[str], source: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise StudyError(f"{source}: {where}: unknown key; expected one of {sorted(allowed)}")


def _merge(base: dict, update: dict) -> dict:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "optimizer":
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _validate_config(config: dict[str, Any], source: str) -> dict[str, Any]:
    """Structure and types of a configuration (values are checked by ``resolve``)."""
    for section, allowed in SECTION_KEYS.items():
        _field(config.get(section), TABLE, f"{source}: {section}")
        _check_keys(config[section], allowed, source, section)
    data = _field(config.get("data"), TABLE, f"{source}: data")
    _declared(data.get("name"), "data.name", source)
    model = config["model"]
    _declared(model["hidden"], "model.hidden", source)
    comp = config["compile"]
    _declared(comp["loss"], "compile.loss", source)
    opt = comp["optimizer"]
    if isinstance(opt, str):
        comp["optimizer"] = opt = {"name": opt}
    _field(opt, TABLE, f"{source}: compile.optimizer")
    _declared(opt.get("name"), "compile.optimizer.name", source)
    fit = config["fit"]
    _declared(fit["epochs"], "fit.epochs", source)
    _declared(fit["batch_size"], "fit.batch_size", source)
    _declared(fit["shuffle"], "fit.shuffle", source)
    if "schedule" in fit:
        _field(fit["schedule"], TABLE, f"{source}: fit.schedule")
        _declared(fit["schedule"].get("name"), "fit.schedule.name", source)
    callbacks = _field(fit.get("callbacks", {}), TABLE, f"{source}: fit.callbacks")
    for cb_name, args in callbacks.items():
        _field(cb_name, Options(CALLBACKS), f"{source}: fit.callbacks.{cb_name}")
        _field(args, TABLE, f"{source}: fit.callbacks.{cb_name}")
    return config


def _validate_sweep(sweep: Any, base: dict, source: str, i: int, root: Path) -> dict[str, Any]:
    where = f"sweep[{i}]"
    _field(sweep, TABLE, f"{source}: {where}")
    _check_keys(sweep, {"field", "fields", "values", "labels"}, source, where)
    if ("field" in sweep) == ("fields" in sweep):
        raise StudyError(f"{source}: {where}: expected exactly one of 'field' or 'fields'")
    fields = [sweep["field"]] if "field" in sweep else list(sweep["fields"])
    for f in fields:
        _field(f, TEXT, f"{source}: {where}.field")
        if f.split(".")[0] not in DEFAULTS:
            raise StudyError(f"{source}: {where}.field: {f!r} does not exist; fields start with "
                             f"one of {sorted(DEFAULTS)}")
        _assign(copy.deepcopy(base), f, None, check_only=True, where=f"{source}: {where}.field")
    values = _field(sweep.get("values"), LIST, f"{source}: {where}.values")
    if not values:
        raise StudyError(f"{source}: {where}.values: expected a non-empty list, found []")
    if len(fields) > 1:
        for j, v in enumerate(values):
            if not isinstance(v, list) or len(v) != len(fields):
                raise StudyError(f"{source}: {where}.values[{j}]: expected a list of "
                                 f"{len(fields)} values (one per field), found {v!r}")
    labels = sweep.get("labels") or [_label(v) for v in values]
    if len(labels) != len(values) or not all(isinstance(l, str) for l in labels):
        raise StudyError(f"{source}: {where}.labels: expected {len(values)} strings, found {labels!r}")
    if len(set(labels)) != len(labels):
        raise StudyError(f"{source}: {where}.labels: labels must be distinct, found {labels!r}")
    if len(fields) > 1:
        values = [[_anchor(f, x, root) for f, x in zip(fields, v)] for v in values]
    else:
        values = [_anchor(fields[0], v, root) for v in values]
    return {"fields": fields, "values": values, "labels": list(labels)}


def _label(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name", json.dumps(value, sort_keys=True)))
    if isinstance(value, list):
        return ", ".join(_label(v) for v in value)
    return str(value)


def _assign(config: dict, path: str, value: Any, check_only: bool = False, where: str = "") -> None:
    """Set ``a.b.c`` in a nested dict. Leaves may be new keys of tables whose keys are free
    (optimizer/schedule/callback/dataset arguments); sections must exist."""
    parts = path.split(".")
    node = config
    for depth, part in enumerate(parts[:-1]):
        if part not in node:
            free = depth >= 1 and parts[0] in ("data", "compile", "fit")
            if not free:
                raise StudyError(f"{where or 'field'}: {path!r} does not exist")
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise StudyError(f"{where or 'field'}: {path!r} does not exist ({part!r} is not a table)")
    if parts[0] == "model" and parts[-1] not in SECTION_KEYS["model"]:
        raise StudyError(f"{where or 'field'}: {path!r} does not exist; model fields: "
                         f"{sorted(SECTION_KEYS['model'])}")
    if not check_only:
        node[parts[-1]] = value


# ---------------------------------------------------------------------------- resolution
def resolve(config: dict[str, Any], where: str) -> dict[str, Any]:
    """Fill every default (optimizer, schedule, callback and dataset arguments) so equal
    runs get equal keys; any invalid value raises a StudyError naming ``where``."""
    from hyperlab.engine import activations, initializers, losses

    config = _validate_config(copy.deepcopy(config), where)
    try:
        config["data"] = _resolved_data(config["data"])
        opt = build.build_optimizer(config)
        config["compile"]["optimizer"] = {"name": type(opt).__name__, **_plain(opt.get_config())}
        for cb_name, args in config["fit"].get("callbacks", {}).items():
            config["fit"]["callbacks"][cb_name] = _plain(build.callback(cb_name, args).get_config())
        if "schedule" in config["fit"]:
            sched = build.build_schedule(config["fit"]["schedule"])
            config["fit"]["schedule"] = {"name": type(sched).__name__, **_plain(sched.get_config())}
        activations.get(config["model"]["activation"])
        initializers.get(config["model"]["initializer"])
        losses.get(config["compile"]["loss"])
        _resolve_optional(config)
    except StudyError:
        raise
    except (ValueError, TypeError) as err:
        raise StudyError(f"{where}: {err}") from None
    return config


def _resolved_data(data: dict[str, Any]) -> dict[str, Any]:
    """Dataset arguments with their defaults, checked by loading the data (once)."""
    full = {**_defaults(getattr(datasets, data["name"])), **data}
    data_facts(full)
    return full


def _resolve_optional(config: dict[str, Any]) -> None:
    """Check the optional model/fit keys; drop the ones that are off."""
    from hyperlab.engine import regularizers

    model, fit = config["model"], config["fit"]
    check_at(model.get("batch_norm", "none"), FIELDS["model.batch_norm"], "model.batch_norm")
    rate = check_at(model.get("dropout", 0.0), FIELDS["model.dropout"], "model.dropout")
    if "dropout" in model:
        model["dropout"] = float(rate)
    reg = model.get("kernel_regularizer", {})
    if not isinstance(reg, dict) or set(reg) - {"l1", "l2"}:
        raise ValueError(f"model.kernel_regularizer: expected a table with l1 and/or l2, "
                         f"found {reg!r}")
    if reg:  # validated and normalized by the regularizer; zero factors dropped
        model["kernel_regularizer"] = {
            k: v for k, v in _plain(regularizers.L1L2(**reg).get_config()).items() if v}
    diagnostics = check_at(fit.get("diagnostics", False), FIELDS["fit.diagnostics"],
                           "fit.diagnostics")
    if isinstance(diagnostics, list):   # in DIAGNOSTICS' order; ["layers"] is true
        names = [n for n in DIAGNOSTICS if n in diagnostics]
        fit["diagnostics"] = True if names == ["layers"] else names or False
    for (section, key), off in OPTIONAL_OFF.items():
        if config[section].get(key, off) == off:
            config[section].pop(key, None)


def _defaults(fn) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """JSON-able config: drop names and non-numeric leftovers Keras configs carry."""
    return {k: v for k, v in config.items() if k != "name" and isinstance(v, (int, float, str, bool, list, type(None)))}


# ---------------------------------------------------------------------------- content keys
@dataclass(frozen=True)
class DataFacts:
    """What planning needs of a dataset: its sizes and the digest of its arrays."""

    n_train: int
    n_val: int
    n_features: int
    n_classes: int
    digest: str


_FACTS: dict[tuple[str, tuple], DataFacts] = {}
_FACTS_MAX = 64


def data_facts(data: dict[str, Any]) -> DataFacts:
    """Sizes and digest of a dataset configuration (``hyperlab.datasets.get`` arguments),
    loaded once per process and per version of the files it reads (path, size, mtime)."""
    key = (json.dumps(data, sort_keys=True, default=repr), _file_stamps(data))
    facts = _FACTS.get(key)
    if facts is None:
        ds = datasets.get(**data)
        facts = DataFacts(len(ds.x_train), len(ds.x_val), ds.n_features, ds.n_classes,
                          data_digest(ds))
        if len(_FACTS) >= _FACTS_MAX:
            del _FACTS[next(iter(_FACTS))]
        _FACTS[key] = facts
    return facts


def data_digest(ds: datasets.Dataset) -> str:
    """SHA-256 of a dataset as loaded: dtype, shape and bytes of x_train, y_train, x_val,
    y_val, and the number of classes."""
    digest = hashlib.sha256()
    for name in ("x_train", "y_train", "x_val", "y_val"):
        array = np.ascontiguousarray(getattr(ds, name))
        digest.update(f"{name} {array.dtype.str} {array.shape};".encode())
        digest.update(array.data)
    digest.update(f"classes {ds.n_classes}".encode())
    return digest.hexdigest()


def _file_stamps(data: dict[str, Any]) -> tuple:
    """(path, mtime_ns, size) of every file a dataset configuration reads (a folder: of
    each file in it); empty for generated data."""
    from hyperlab.data import images
    sources = [data.get("path")]
    if data.get("name") == "fashion_mnist" and not data.get("path"):
        sources += [os.environ.get(images.ENV_PATH), images.cache_dir()]
    stamps = []
    for source in sources:
        if not isinstance(source, (str, os.PathLike)) or not str(source):
            continue
        path = Path(source).expanduser()
        try:
            files = sorted(path.iterdir()) if path.is_dir() else [path]
        except OSError:
            files = [path]
        for file in files:
            try:
                st = file.stat()
            except OSError:
                stamps.append((str(file), None))
            else:
                stamps.append((str(file), st.st_mtime_ns, st.st_size))
    return tuple(stamps)


def run_key(config: dict[str, Any], seed: int, digest: str) -> str:
    """Content hash of a resolved configuration, a seed and the digest of its data (see
    ``data_facts``). The data's location is left out: equal data in another folder share
    runs, changed data get new ones."""
    content = {**config, "data": {k: v for k, v in config["data"].items()
                                  if k not in SOURCE_ARGS}}
    blob = json.dumps({"config": content, "data": digest, "seed": seed,
                       "v": RESULTS_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
