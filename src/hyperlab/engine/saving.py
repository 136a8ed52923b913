"""Save and restore a ``Sequential`` model in one file: ``model.save(path)`` / ``load_model(path)``.

The file is an ``.npz`` archive (a zip of ``.npy`` arrays, readable with
``numpy.load(path, allow_pickle=False)``) plus one JSON member, ``__hyperlab__.json``::

    {"format": "hyperlab.model", "format_version": 1, "hyperlab_version": "...",
     "sha256": "...",                              # see "Integrity" below
     "model": {"name", "seed", "input_shape", "layers": [{"class_name", "config"}, ...]},
     "weights": {"params": [{name: member}, ...], "state": [...]} | null,   # null: not built
     "compile": {"optimizer": {"class_name", "config"}, "loss", "wants_accuracy",
                 "accuracy", "metrics_names"} | null,                        # null: not compiled
     "optimizer_state": [{"path": key path, "member": member}, ...] | null,  # null: never fit
     "seed_generator": numpy bit-generator state (PCG64)}

It keeps everything a later ``fit`` depends on: architecture, weights and layer state,
compile settings (a learning-rate schedule included), the optimizer state (slots, step
count, the current learning rate) and the model's seed generator, so that training on after
a reload, seeded or not, matches training on without the save, bit for bit.

Loading executes and imports nothing from the file: arrays are read with
``allow_pickle=False`` and layer, optimizer, schedule, initializer and regularizer classes are
looked up by name in the engine's fixed registries. Files are written atomically (a temporary
file in the same directory, fsync, ``os.replace``), so a crash never leaves half a file under
the target name.

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
import tempfile
import zipfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.engine import layers as layers_mod
from hyperlab.engine import optimizers as optimizers_mod
from hyperlab.engine import schedules as schedules_mod

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "hyperlab.model"
FORMAT_VERSION = 1
_DOC = "__hyperlab__.json"
_OPTIMIZERS: dict[str, type[optimizers_mod.Optimizer]] = {
    cls.__name__: cls for cls in optimizers_mod._OPTIMIZERS.values()}
_ACCURACY_KINDS = (None, "binary", "sparse_categorical", "categorical")
_BIT_GENERATORS = {"PCG64": np.random.PCG64}


class _FileError(ValueError):
    """A problem with the file (wrapped into one ValueError naming the file)."""


# ----------------------------------------------------------------------------------- save
def save_model(model, path: str | os.PathLike) -> None:
    """Write ``model`` (a ``Sequential``) to ``path``: one ``.npz`` file, replaced atomically.

    ``path`` is used as given (no extension is added; ``.npz`` is the convention). A
    ValueError names the problem when the directory does not exist, ``path`` is a directory,
    or a layer, optimizer or schedule is not a built-in one (its configuration could not be
    read back); nothing is written then.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot save the model to {path!r}: the directory {folder!r} does not "
                         "exist; create it first")
    if os.path.isdir(path):
        raise ValueError(f"cannot save the model to {path!r}: it is a directory; give a file "
                         "name such as 'model.npz'")
    doc, arrays = _describe(model)
    members = {name: _npy_bytes(a) for name, a in arrays.items()}
    doc["sha256"] = _digest(doc, members)
    _write_atomically(path, doc, members)


def _describe(model) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON document and the arrays (member name -> array) of a model."""
    from hyperlab import __version__

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
                          "metrics_names": list(model.metrics_names)}
        if model._opt_state is not None:
            entries = []
            for k, (key_path, leaf) in enumerate(jax.tree_util.tree_flatten_with_path(
                    model._opt_state)[0]):
                member = f"optimizer/{k:04d}.npy"
                arrays[member] = np.asarray(leaf)
                entries.append({"path": jax.tree_util.keystr(key_path), "member": member})
            doc["optimizer_state"] = entries
    return doc, arrays


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
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
                z.writestr(_DOC, json.dumps(doc, indent=1).encode())
                for name, data in members.items():
                    z.writestr(name, data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (best effort)
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _file_mode(path: str) -> int:
    """The replaced file's mode, else what ``open`` would give a new file (0o666 - umask)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# ----------------------------------------------------------------------------------- load
def load_model(path: str | os.PathLike):
    """The ``Sequential`` saved by ``model.save(path)``, ready to predict or train on.

    Raises one ValueError naming the file and the problem when it is missing, not a model
    file, truncated or corrupted, written by a newer hyperlab, or does not fit together.
    """
    path = os.fspath(path)
    try:
        return _load(path)
    except _FileError as err:
        raise ValueError(f"cannot load model file {path!r}: {err}") from None


def _load(path: str):
    if not os.path.exists(path):
        raise _FileError("no such file")
    if not os.path.isfile(path):
        raise _FileError("not a file")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if _DOC not in names:
                raise _FileError(f"not a hyperlab model file (no {_DOC} member)")
            doc = _parse_doc(z.read(_DOC))
            members = _referenced_members(doc)
            missing = sorted(set(members) - names)
            if missing:
                raise _FileError(f"arrays missing from the file: {', '.join(missing[:5])}"
                                 + (" ..." if len(missing) > 5 else ""))
            raw = {name: z.read(name) for name in sorted(names - {_DOC})}
    except zipfile.BadZipFile as err:
        raise _FileError(f"not a hyperlab model file, or truncated or corrupted ({err})") from None
    except (OSError, EOFError, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as err:
        raise _FileError(f"unreadable, truncated or corrupted ({type(err).__name__}: {err})") from None
    if doc.get("sha256") != _digest(doc, raw):
        raise _FileError("checksum mismatch: the file was corrupted or modified after it was "
                         "saved")
    arrays = {}
    for name in members:
        try:
            arrays[name] = np.lib.format.read_array(io.BytesIO(raw[name]), allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise _FileError(f"array {name!r} is unreadable: {err}") from None
    try:
        return _rebuild(doc, arrays)
    except _FileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as err:
        raise _FileError(f"invalid model description: {type(err).__name__}: {err}") from None


def _parse_doc(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _FileError(f"its {_DOC} does not parse as JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _FileError(f"not a hyperlab model file (format {_get(doc, 'format')!r}, "
                         f"expected {FORMAT!r})")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _FileError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _FileError(f"format_version {version} was written by a newer hyperlab "
                         f"({doc.get('hyperlab_version')!r}); this one reads versions up to "
                         f"{FORMAT_VERSION}: upgrade hyperlab")
    for key, kind in (("model", dict), ("weights", (dict, type(None))),
                      ("compile", (dict, type(None))), ("optimizer_state", (list, type(None))),
                      ("seed_generator", dict), ("sha256", str)):
        if not isinstance(doc.get(key), kind):
            raise _FileError(f"{_DOC} lacks a valid {key!r} entry")
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
                raise _FileError(f"{_DOC}: weights[{kind!r}] must be a list of dicts")
            out += [m for t in trees for m in t.values()]
    for entry in doc["optimizer_state"] or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise _FileError(f"{_DOC}: invalid optimizer_state entry {entry!r}")
        out.append(entry.get("member"))
    if not all(isinstance(m, str) for m in out):
        raise _FileError(f"{_DOC}: array member names must be strings")
    if len(set(out)) != len(out):
        raise _FileError(f"{_DOC}: an array member is referenced twice")
    return out


def _rebuild(doc: dict[str, Any], arrays: dict[str, np.ndarray]):
    from hyperlab.engine.model import Sequential

    spec = doc["model"]
    if spec.get("class_name") != "Sequential":
        raise _FileError(f"unknown model class {spec.get('class_name')!r}")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _FileError(f"invalid model seed {seed!r}")
    name = spec.get("name")
    if not isinstance(name, str):
        raise _FileError(f"invalid model name {name!r}")
    layer_specs = spec.get("layers")
    if not isinstance(layer_specs, list):
        raise _FileError("the model has no layer list")
    model = Sequential(name=name, seed=seed)
    for i, entry in enumerate(layer_specs):
        try:
            layer = layers_mod.deserialize(entry)
        except ValueError as err:
            raise _FileError(f"layer {i}: {err}") from None
        model.layers.append(layer)  # built below, once, with the saved input shape
    input_shape = spec.get("input_shape")
    if input_shape is not None:
        if (not isinstance(input_shape, list) or not input_shape
                or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape)):
            raise _FileError(f"invalid input_shape {input_shape!r}")
        if not model.layers:
            model.input_shape = tuple(input_shape)
        else:
            model.build(tuple(input_shape))
    if (doc["weights"] is None) != (not model.built):
        raise _FileError("the weights do not match the architecture (built model without "
                         "weights, or weights without an input shape)")
    if model.built:
        _restore_weights(model, doc["weights"], arrays)
    if doc["compile"] is not None:
        _restore_compile(model, doc["compile"])
    if doc["optimizer_state"] is not None:
        if model.optimizer is None or not model.built:
            raise _FileError("an optimizer state without a compiled, built model")
        model._opt_state = _restore_optimizer_state(model, doc["optimizer_state"], arrays)
    model._seeds = _restore_generator(doc["seed_generator"])
    return model


def _restore_weights(model, weights: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    for kind in ("params", "state"):
        current = getattr(model, kind)
        saved = weights[kind]
        if len(saved) != len(current):
            raise _FileError(f"{len(saved)} layers of {kind} in the file, the architecture has "
                             f"{len(current)}")
        restored = []
        for layer, template, members in zip(model.layers, current, saved):
            if set(members) != set(template):
                raise _FileError(f"layer {layer.name!r} has {kind} {sorted(template)}, the file "
                                 f"has {sorted(members)}")
            tree = {}
            for key, member in members.items():
                value, want = arrays[member], template[key]
                if value.shape != tuple(want.shape) or value.dtype != want.dtype:
                    raise _FileError(f"{layer.name}/{key} has shape {value.shape} ({value.dtype}) "
                                     f"in the file, the architecture needs {tuple(want.shape)} "
                                     f"({want.dtype})")
                tree[key] = jnp.asarray(value)
            restored.append(tree)
        setattr(model, kind, restored)


def _restore_compile(model, spec: dict[str, Any]) -> None:
    opt_spec = spec.get("optimizer")
    if not isinstance(opt_spec, dict):
        raise _FileError("the compile settings lack an optimizer")
    cls = _OPTIMIZERS.get(opt_spec.get("class_name"))
    if cls is None:
        raise _FileError(f"unknown optimizer class {opt_spec.get('class_name')!r}; known: "
                         f"{', '.join(_OPTIMIZERS)}")
    config = opt_spec.get("config")
    if not isinstance(config, dict):
        raise _FileError(f"invalid optimizer config {config!r}")
    config = dict(config)
    if isinstance(config.get("learning_rate"), dict):
        try:
            config["learning_rate"] = schedules_mod.get(config["learning_rate"])
        except ValueError as err:
            raise _FileError(f"learning-rate schedule: {err}") from None
    try:
        optimizer = cls.from_config(config)
    except (TypeError, ValueError) as err:
        raise _FileError(f"invalid {cls.__name__} config: {err}") from None
    accuracy, wants = spec.get("accuracy"), spec.get("wants_accuracy")
    names = spec.get("metrics_names")
    if accuracy not in _ACCURACY_KINDS or not isinstance(wants, bool):
        raise _FileError(f"invalid accuracy settings {accuracy!r}, {wants!r}")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _FileError(f"invalid metrics_names {names!r}")
    loss = spec.get("loss")
    if not isinstance(loss, str):
        raise _FileError(f"invalid loss {loss!r}")
    try:
        model.compile(optimizer, loss, ["accuracy"] if wants else None)
    except ValueError as err:
        raise _FileError(str(err)) from None
    model.accuracy = accuracy
    model.metrics_names = list(names)


def _restore_optimizer_state(model, entries: list[dict], arrays: dict[str, np.ndarray]):
    """The optimizer's state tree (as ``optimizer.init`` lays it out) filled from the file."""
    view = getattr(model, "trainable_view", None)  # frozen layers have no optimizer slots
    template = model.optimizer.init(view(model.params) if view else model.params)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    saved = {e["path"]: arrays[e["member"]] for e in entries}
    wanted = [jax.tree_util.keystr(p) for p, _ in leaves]
    if set(saved) != set(wanted) or len(saved) != len(entries):
        extra, lacking = sorted(set(saved) - set(wanted)), sorted(set(wanted) - set(saved))
        raise _FileError("the optimizer state does not fit the optimizer and weights "
                         f"(unexpected: {extra[:3]}, missing: {lacking[:3]})")
    out = []
    for (key_path, leaf), key in zip(leaves, wanted):
        value = saved[key]
        if value.shape != tuple(np.shape(leaf)) or value.dtype != np.asarray(leaf).dtype:
            raise _FileError(f"optimizer state {key} has shape {value.shape} ({value.dtype}) in "
                             f"the file, the optimizer needs {tuple(np.shape(leaf))} "
                             f"({np.asarray(leaf).dtype})")
        out.append(jnp.asarray(value))
    return jax.tree_util.tree_unflatten(treedef, out)


def _restore_generator(state: dict[str, Any]) -> np.random.Generator:
    bit_generator = _BIT_GENERATORS.get(state.get("bit_generator"))
    if bit_generator is None:
        raise _FileError(f"unknown seed generator {state.get('bit_generator')!r}")
    bg = bit_generator()
    try:
        bg.state = state
    except (ValueError, TypeError, KeyError, OverflowError) as err:
        raise _FileError(f"invalid seed generator state: {err}") from None
    return np.random.Generator(bg)

