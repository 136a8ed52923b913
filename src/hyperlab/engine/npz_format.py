"""hyperlab's own model file, ``.npz``: written by ``model.save("m.npz")``, read by
``hyperlab.load_model`` (which :mod:`hyperlab.engine.model_files` dispatches by format).

Only ``.npz`` keeps everything bit for bit (the seed generator, schedules and optimizers
Keras lacks); the Keras formats (:mod:`hyperlab.engine.keras_format`) keep what Keras keeps.
The file limits and the error of a bad file, which the Keras formats share, are here. This
module never imports the model: the reader is given the class to build.

hyperlab's own file is an ``.npz`` archive (a zip of ``.npy`` arrays, readable with
``numpy.load(path, allow_pickle=False)``) plus one JSON member, ``__hyperlab__.json``::

    {"format": "hyperlab.model", "format_version": 1, "hyperlab_version": "...",
     "sha256": "...",                              # see "Integrity" below
     "model": {"name", "seed", "input_shape", "layers": [{"class_name", "config"}, ...]},
     "weights": {"params": [{name: member}, ...], "state": [...]} | null,   # null: not built
     "compile": {"optimizer": {"class_name", "config"}, "loss", "wants_accuracy",
                 "accuracy", "metrics_names", "metrics"} | null,             # null: not compiled
     "optimizer_state": [{"path": key path, "member": member}, ...] | null,  # null: never fit
     "seed_generator": numpy bit-generator state (PCG64)}

It keeps everything a later ``fit`` depends on: architecture, weights and layer state,
compile settings (a learning-rate schedule included), the optimizer state (slots, step
count, the current learning rate) and the model's seed generator, so that training on after
a reload, seeded or not, matches training on without the save, bit for bit.

Loading executes and imports nothing from the file: object (pickled) arrays are refused, and
layer, optimizer, schedule, initializer and regularizer classes are looked up by name in the
engine's fixed registries. Nor can a crafted file exhaust memory: before any array data is
read or any weight is built, every member's size in the zip directory must match its
``.npy`` header, the JSON document must be under :data:`MAX_DOC_BYTES`, every array's shape
must be the one the architecture declares (worked out without allocating anything), and
all arrays together must hold at most :data:`MAX_VALUES` values. Files are written
atomically (a temporary file in the same directory, fsync, ``os.replace``), so a crash or
a full disk never leaves half a file under the target name.

Integrity: ``sha256`` is the SHA-256 of the JSON document (without the ``sha256`` entry,
canonically re-encoded) and of every array member's bytes. A mismatch on load means the file
was corrupted or edited. It is a checksum, not a signature: anyone who edits the file can
also recompute it, so it detects accidents, not a malicious re-signer.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab._fileio import NpyHeader, atomic_write, npy_header, read_npy
from hyperlab.engine import layers as layers_mod
from hyperlab.engine import losses as losses_mod
from hyperlab.engine import optimizers as optimizers_mod
from hyperlab.engine import schedules as schedules_mod

__all__ = ["save_npz", "load_npz", "FORMAT", "FORMAT_VERSION", "MAX_VALUES", "MAX_DOC_BYTES"]

FORMAT = "hyperlab.model"
FORMAT_VERSION = 1
#: The most values (weights, layer state and optimizer state together) a model file may
#: hold: 2**30, 4 GiB of float32.
MAX_VALUES = 1 << 30
#: The largest JSON document a model file may hold (a 1000-layer model needs about 1 MiB).
MAX_DOC_BYTES = 16 << 20
DOC_MEMBER = "__hyperlab__.json"
_OPTIMIZERS: dict[str, type[optimizers_mod.Optimizer]] = {
    cls.__name__: cls for cls in optimizers_mod._OPTIMIZERS.values()}
_ACCURACY_KINDS = (None, "binary", "sparse_categorical", "categorical")
_BIT_GENERATORS = {"PCG64": np.random.PCG64}


class ModelFileError(ValueError):
    """A problem with the file (wrapped into one ValueError naming the file)."""


# ----------------------------------------------------------------------------------- save
def save_npz(model, path: str) -> None:
    """Write ``model`` to ``path`` in hyperlab's format, replaced atomically."""
    doc, arrays = _describe(model)
    members = {name: _npy_bytes(a) for name, a in arrays.items()}
    doc["sha256"] = _digest(doc, members)
    _write_atomically(path, doc, members)


def _describe(model) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON document and the arrays (member name -> array) of a model."""
    from hyperlab._version import __version__

    arrays: dict[str, np.ndarray] = {}
    layer_docs = []
    for i, layer in enumerate(model.layers):
        try:
            entry = _jsonable(layers_mod.serialize(layer))
            rebuilt = layers_mod.deserialize(json.loads(json.dumps(entry)))
            same = _jsonable(layers_mod.serialize(rebuilt)) == entry
        except (ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"cannot save layer {i} ({layer.name!r}, {type(layer).__name__}): "
                             f"its configuration does not round-trip: {err}") from None
        if not same:
            raise ValueError(f"cannot save layer {i} ({layer.name!r}, {type(layer).__name__}): "
                             "its configuration does not round-trip (a custom initializer or "
                             "regularizer? use the built-in ones)")
        layer_docs.append(entry)
    generator = model._seeds.bit_generator
    if _BIT_GENERATORS.get(type(generator).__name__) is not type(generator):
        raise ValueError(f"cannot save the model's seed generator {generator!r}; supported: "
                         f"{', '.join(_BIT_GENERATORS)}")
    doc: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "hyperlab_version": __version__,
        "model": {"class_name": "Sequential", "name": model.name,
                  "seed": None if model.seed is None else int(model.seed),
                  "input_shape": None if model.input_shape is None else list(model.input_shape),
                  "layers": layer_docs},
        "weights": None, "compile": None, "optimizer_state": None,
        "seed_generator": _jsonable(generator.state),
    }
    if model.built:
        weights: dict[str, list] = {}
        for kind, trees in (("params", model.params), ("state", model.state)):
            weights[kind] = []
            for i, tree in enumerate(trees):
                names = {}
                for name in sorted(tree):
                    member = f"{kind}/{i:03d}/{name}.npy"
                    arrays[member] = np.asarray(tree[name])
                    names[name] = member
                weights[kind].append(names)
        doc["weights"] = weights
    if model.optimizer is not None and model.loss is not None:
        doc["compile"] = {"optimizer": _optimizer_config(model.optimizer), "loss": model.loss,
                          "wants_accuracy": bool(getattr(model, "_wants_accuracy", False)),
                          "accuracy": model.accuracy,
                          "metrics_names": list(model.metrics_names),
                          "metrics": _metric_names(model)}
        if model._opt_state is not None:
            entries = []
            for k, (key_path, leaf) in enumerate(jax.tree_util.tree_flatten_with_path(
                    model._opt_state)[0]):
                member = f"optimizer/{k:04d}.npy"
                arrays[member] = np.asarray(leaf)
                entries.append({"path": jax.tree_util.keystr(key_path), "member": member})
            doc["optimizer_state"] = entries
    return doc, arrays


def _metric_names(model) -> list[str]:
    """The compiled metrics by name (a built-in metric function by its name, as Keras)."""
    return [m if isinstance(m, str) else losses_mod.metric_kind(m)[0] for m in model._metrics]


def _optimizer_config(optimizer) -> dict[str, Any]:
    cls = type(optimizer).__name__
    if _OPTIMIZERS.get(cls) is not type(optimizer):
        raise ValueError(f"cannot save optimizer {optimizer!r}: not a built-in hyperlab "
                         f"optimizer ({', '.join(_OPTIMIZERS)})")
    config = dict(optimizer.get_config())
    lr = config.get("learning_rate")
    if optimizers_mod.is_schedule(lr):
        name = type(lr).__name__
        if schedules_mod._SCHEDULES.get(name) is not type(lr):
            raise ValueError(f"cannot save learning-rate schedule {lr!r}: not a built-in "
                             f"schedule ({', '.join(schedules_mod.NAMES)})")
        config["learning_rate"] = {"class_name": name, "config": lr.get_config()}
    return {"class_name": cls, "config": _jsonable(config)}


def _jsonable(value: Any) -> Any:
    """``value`` with tuples as lists and numpy scalars as Python numbers (JSON-ready)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"cannot save {value!r} ({type(value).__name__}) in a model file")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array, order="C"), allow_pickle=False)
    return buffer.getvalue()


def _canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def _digest(doc: dict[str, Any], members: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for chunk in [_canonical(doc)] + [x for name in sorted(members)
                                      for x in (name.encode(), members[name])]:
        h.update(len(chunk).to_bytes(8, "little"))
        h.update(chunk)
    return h.hexdigest()


def _write_atomically(path: str, doc: dict[str, Any], members: dict[str, bytes]) -> None:
    with atomic_write(path, "model file", fix="save it elsewhere") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
            z.writestr(DOC_MEMBER, json.dumps(doc, indent=1).encode())
            for name, data in members.items():
                z.writestr(name, data)


# ----------------------------------------------------------------------------------- load
def load_npz(path: str, sequential: type):
    """The model a hyperlab ``.npz`` file holds, built as a ``sequential`` (the model
    class; raises ``ModelFileError``)."""
    if not os.path.exists(path):
        raise ModelFileError("no such file")
    if not os.path.isfile(path):
        raise ModelFileError("not a file")
    try:
        with zipfile.ZipFile(path) as z:
            infos = {info.filename: info for info in z.infolist()}
            if len(infos) != len(z.infolist()):
                raise ModelFileError("a member name appears twice in the zip directory")
            if DOC_MEMBER not in infos:
                raise ModelFileError(f"not a hyperlab model file (no {DOC_MEMBER} member) nor a Keras "
                                 ".keras file (no config.json member)")
            doc = _parse_doc(_read_doc(z, infos[DOC_MEMBER]))
            members = _referenced_members(doc)
            missing = sorted(set(members) - set(infos))
            if missing:
                raise ModelFileError(f"arrays missing from the file: {', '.join(missing[:5])}"
                                 + (" ..." if len(missing) > 5 else ""))
            extra = sorted(set(infos) - set(members) - {DOC_MEMBER})
            if extra:
                raise ModelFileError(f"unexpected members {', '.join(extra[:5])}"
                                 + (" ..." if len(extra) > 5 else ""))
            try:
                headers = {name: npy_header(z, infos[name]) for name in members}
            except ValueError as err:
                raise ModelFileError(str(err)) from None
            fill = _invalid_as_file_error(_architecture, doc, headers, sequential)
            total = sum(h.count for h in headers.values())
            if total > MAX_VALUES:
                raise ModelFileError(f"its arrays declare {total:,} values, more than a model file may "
                                 f"hold ({MAX_VALUES:,})")
            raw, arrays = {}, {}
            for name in members:
                try:
                    raw[name], arrays[name] = read_npy(z, headers[name])
                except ValueError as err:
                    raise ModelFileError(str(err)) from None
    except zipfile.BadZipFile as err:
        raise ModelFileError("not a hyperlab model file (.npz) nor a Keras .keras or .h5 file, or "
                         f"truncated or corrupted ({err})") from None
    except (OSError, EOFError, zlib.error, zipfile.LargeZipFile, NotImplementedError,
            RuntimeError) as err:
        raise ModelFileError(f"unreadable, truncated or corrupted ({type(err).__name__}: {err})") from None
    if doc.get("sha256") != _digest(doc, raw):
        raise ModelFileError("checksum mismatch: the file was corrupted or modified after it was "
                         "saved")
    return _invalid_as_file_error(fill, arrays)


def _invalid_as_file_error(fn, *args):
    """``fn(*args)``, an error of the model description in it raised as one ModelFileError."""
    try:
        return fn(*args)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as err:
        raise ModelFileError(f"invalid model description: {type(err).__name__}: {err}") from None


def _read_doc(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_DOC_BYTES:
        raise ModelFileError(f"its {DOC_MEMBER} declares {info.file_size:,} bytes, more than a model "
                         f"file's document may hold ({MAX_DOC_BYTES:,})")
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ModelFileError(f"its {DOC_MEMBER} holds a different size than the zip directory says")
    return data


def _parse_doc(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, too deep, huge ints
        reason = str(err).split(";")[0]  # without Python's advice to raise its int limit
        raise ModelFileError(f"its {DOC_MEMBER} does not parse as JSON ({reason})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"not a hyperlab model file (format {_get(doc, 'format')!r}, "
                         f"expected {FORMAT!r})")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"format_version {version} was written by a newer hyperlab "
                         f"({doc.get('hyperlab_version')!r}); this one reads versions up to "
                         f"{FORMAT_VERSION}: upgrade hyperlab")
    for key, kind in (("model", dict), ("weights", (dict, type(None))),
                      ("compile", (dict, type(None))), ("optimizer_state", (list, type(None))),
                      ("seed_generator", dict), ("sha256", str)):
        if not isinstance(doc.get(key), kind):
            raise ModelFileError(f"{DOC_MEMBER} lacks a valid {key!r} entry")
    return doc


def _get(doc: Any, key: str) -> Any:
    return doc.get(key) if isinstance(doc, dict) else None


def _referenced_members(doc: dict[str, Any]) -> list[str]:
    out = []
    weights = doc["weights"]
    if weights is not None:
        for kind in ("params", "state"):
            trees = weights.get(kind)
            if not isinstance(trees, list) or not all(isinstance(t, dict) for t in trees):
                raise ModelFileError(f"{DOC_MEMBER}: weights[{kind!r}] must be a list of dicts")
            out += [m for t in trees for m in t.values()]
    for entry in doc["optimizer_state"] or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ModelFileError(f"{DOC_MEMBER}: invalid optimizer_state entry {entry!r}")
        out.append(entry.get("member"))
    if not all(isinstance(m, str) for m in out):
        raise ModelFileError(f"{DOC_MEMBER}: array member names must be strings")
    if len(set(out)) != len(out):
        raise ModelFileError(f"{DOC_MEMBER}: an array member is referenced twice")
    return out


def _architecture(doc: dict[str, Any], headers: dict[str, NpyHeader], sequential: type):
    """Set up the model the file describes, compiled but without weights, and check every
    array's header against the shape the architecture declares for it (worked out
    abstractly, allocating nothing). Returns the function that fills in the weights and
    states from the arrays and returns the model."""
    spec = doc["model"]
    if spec.get("class_name") != "Sequential":
        raise ModelFileError(f"unknown model class {spec.get('class_name')!r}")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ModelFileError(f"invalid model seed {seed!r}")
    name = spec.get("name")
    if not isinstance(name, str):
        raise ModelFileError(f"invalid model name {name!r}")
    layer_specs = spec.get("layers")
    if not isinstance(layer_specs, list):
        raise ModelFileError("the model has no layer list")
    model = sequential(name=name, seed=seed)
    for i, entry in enumerate(layer_specs):
        try:
            layer = layers_mod.deserialize(entry)
        except ValueError as err:
            raise ModelFileError(f"layer {i}: {err}") from None
        model.layers.append(layer)  # its weights are built in fill(), once the arrays are read
    input_shape = spec.get("input_shape")
    if input_shape is not None:
        if (not isinstance(input_shape, list) or not input_shape
                or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape)):
            raise ModelFileError(f"invalid input_shape {input_shape!r}")
        input_shape = tuple(input_shape)
    builds = input_shape is not None and bool(model.layers)
    if (doc["weights"] is None) == builds:
        raise ModelFileError("the weights do not match the architecture (built model without "
                         "weights, or weights without an input shape)")
    if builds:
        shape = input_shape
        for layer in model.layers:
            shape = layer.build(shape)
        params, state = jax.eval_shape(model.init_weights,
                                       jax.ShapeDtypeStruct((2,), jnp.uint32))
        _check_weights(model, doc["weights"], {"params": params, "state": state}, headers)
    elif input_shape is not None:
        model.input_shape = input_shape
    if doc["compile"] is not None:
        _restore_compile(model, doc["compile"])
    entries = doc["optimizer_state"]
    if entries is not None:
        if model.optimizer is None or not builds:
            raise ModelFileError("an optimizer state without a compiled, built model")
        template = jax.eval_shape(_abstract_init(model.optimizer), model.trainable_view(params))
        treedef, leaf_members = _check_optimizer_state(template, entries, headers)

    def fill(arrays: dict[str, np.ndarray]):
        if builds:
            model.build(input_shape)
            for kind in ("params", "state"):
                setattr(model, kind, [{key: jnp.asarray(arrays[member])
                                       for key, member in members.items()}
                                      for members in doc["weights"][kind]])
        if entries is not None:
            model._opt_state = jax.tree_util.tree_unflatten(
                treedef, [jnp.asarray(arrays[member]) for member in leaf_members])
        model._seeds = _restore_generator(doc["seed_generator"])
        return model

    return fill


def _abstract_init(optimizer):
    """``optimizer.init`` for ``jax.eval_shape``: the hyperparameters it computes from
    Python numbers stay concrete, the parameters abstract."""
    def init(params):
        with jax.ensure_compile_time_eval():
            return optimizer.init(params)
    return init


def _check_shape(what: str, header: NpyHeader, want: Any, needs: str) -> None:
    if header.shape != tuple(want.shape) or header.dtype != want.dtype:
        raise ModelFileError(f"{what} has shape {header.shape} ({header.dtype}) in the file, "
                         f"{needs} {tuple(want.shape)} ({np.dtype(want.dtype)})")


def _check_weights(model, weights: dict[str, Any], templates: dict[str, list[dict]],
                   headers: dict[str, NpyHeader]) -> None:
    for kind, current in templates.items():
        saved = weights[kind]
        if len(saved) != len(current):
            raise ModelFileError(f"{len(saved)} layers of {kind} in the file, the architecture has "
                             f"{len(current)}")
        for i, (layer, template, members) in enumerate(zip(model.layers, current, saved)):
            label = layer.name or f"layer {i}"
            if set(members) != set(template):
                raise ModelFileError(f"layer {label!r} has {kind} {sorted(template)}, the file "
                                 f"has {sorted(members)}")
            for key, member in members.items():
                _check_shape(f"{label}/{key}", headers[member], template[key],
                             "the architecture needs")


def _restore_compile(model, spec: dict[str, Any]) -> None:
    opt_spec = spec.get("optimizer")
    if not isinstance(opt_spec, dict):
        raise ModelFileError("the compile settings lack an optimizer")
    cls = _OPTIMIZERS.get(opt_spec.get("class_name"))
    if cls is None:
        raise ModelFileError(f"unknown optimizer class {opt_spec.get('class_name')!r}; known: "
                         f"{', '.join(_OPTIMIZERS)}")
    config = opt_spec.get("config")
    if not isinstance(config, dict):
        raise ModelFileError(f"invalid optimizer config {config!r}")
    config = dict(config)
    if isinstance(config.get("learning_rate"), dict):
        try:
            config["learning_rate"] = schedules_mod.get(config["learning_rate"])
        except ValueError as err:
            raise ModelFileError(f"learning-rate schedule: {err}") from None
    try:
        optimizer = cls.from_config(config)
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"invalid {cls.__name__} config: {err}") from None
    accuracy, wants = spec.get("accuracy"), spec.get("wants_accuracy")
    names = spec.get("metrics_names")
    if accuracy not in _ACCURACY_KINDS or not isinstance(wants, bool):
        raise ModelFileError(f"invalid accuracy settings {accuracy!r}, {wants!r}")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"invalid metrics_names {names!r}")
    loss = spec.get("loss")
    if not isinstance(loss, str):
        raise ModelFileError(f"invalid loss {loss!r}")
    metrics = spec.get("metrics", ["accuracy"] if wants else [])  # files before "metrics"
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ModelFileError(f"invalid metrics {metrics!r}")
    try:
        model.compile(optimizer, loss, metrics)
    except ValueError as err:
        raise ModelFileError(str(err)) from None
    model.accuracy = accuracy
    model.metrics_names = list(names)


def _check_optimizer_state(template: Any, entries: list[dict],
                           headers: dict[str, NpyHeader]) -> tuple[Any, list[str]]:
    """The tree structure of the optimizer's state (as ``optimizer.init`` lays it out, given
    abstractly as ``template``) and the members of its leaves, once the entries fit it."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    saved = {e["path"]: e["member"] for e in entries}
    wanted = [jax.tree_util.keystr(p) for p, _ in leaves]
    if set(saved) != set(wanted) or len(saved) != len(entries):
        extra, lacking = sorted(set(saved) - set(wanted)), sorted(set(wanted) - set(saved))
        raise ModelFileError("the optimizer state does not fit the optimizer and weights "
                         f"(unexpected: {extra[:3]}, missing: {lacking[:3]})")
    for (_, leaf), key in zip(leaves, wanted):
        _check_shape(f"optimizer state {key}", headers[saved[key]], leaf, "the optimizer needs")
    return treedef, [saved[key] for key in wanted]


def _restore_generator(state: dict[str, Any]) -> np.random.Generator:
    bit_generator = _BIT_GENERATORS.get(state.get("bit_generator"))
    if bit_generator is None:
        raise ModelFileError(f"unknown seed generator {state.get('bit_generator')!r}")
    bg = bit_generator()
    try:
        bg.state = state
    except (ValueError, TypeError, KeyError, OverflowError) as err:
        raise ModelFileError(f"invalid seed generator state: {err}") from None
    return np.random.Generator(bg)

