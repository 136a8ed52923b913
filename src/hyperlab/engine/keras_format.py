"""Real Keras files, both ways: Keras 3 ``.keras`` zips, legacy Keras ``.h5`` files and
Keras 3 ``.weights.h5`` files (h5py), laid out as Keras 3.15 on the TensorFlow backend
writes them.

* ``.keras``: a zip of ``metadata.json``, ``config.json`` (architecture and
  ``compile_config``) and ``model.weights.h5`` (``layers/<snake_case class>[_n]/vars/<i>``,
  ``optimizer/vars/<i>``).
* ``.h5``: root attributes ``model_config`` and ``training_config`` (JSON),
  ``model_weights/<layer name>`` (datasets named by ``weight_names``) and
  ``optimizer_weights`` (named by ``weight_names``, in the optimizer's order).
* ``.weights.h5``: the ``model.weights.h5`` of a ``.keras`` file on its own.

What is read: the architecture, weights and layer state, the compile settings, and the
optimizer's variables (step count, learning rate, slots; EMA and gradient-accumulation
variables), so that ``fit`` after a reload trains on as Keras does. A Keras optimizer that
had not trained yet holds only its step count and learning rate: the model then starts
with a fresh optimizer state, as in Keras. Files from Keras 2 load with their weights and
compile settings, but a fresh optimizer state (their optimizer layout is not Keras 3's),
with a warning, as Keras 3 itself does with them.

Safety: classes are looked up in fixed tables, nothing is imported or run (see
``keras_config``). Nothing is allocated from what a file declares before it is checked:
the JSON documents are bounded (``npz_format.MAX_DOC_BYTES``, sizes read from the HDF5 or zip
headers first), the architecture's weights are counted abstractly against
``npz_format.MAX_VALUES``, the weights member of a ``.keras`` zip may not be larger than those
weights need (nor decompress beyond what it declares), and every dataset must be a plain
float (or, for the step count, integer) dataset of exactly the shape the architecture
needs, stored in the file itself (no links, external or virtual storage) in chunks no
larger than itself, before any data is read.
"""
from __future__ import annotations

import datetime
import io
import json
import math
import os
import warnings
import zipfile
import zlib
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab._fileio import atomic_write
from hyperlab.engine import initializers
from hyperlab.engine import keras_config as kc
from hyperlab.engine.npz_format import MAX_DOC_BYTES, MAX_VALUES, ModelFileError

__all__ = ["load_keras", "load_legacy_h5", "save_keras", "save_legacy_h5", "save_weights",
           "load_weights", "KERAS_VERSION", "HDF5_SIGNATURE"]

#: The Keras release whose file layout hyperlab writes (and records in the files).
KERAS_VERSION = "3.15.1"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
# HDF5 bookkeeping a weights member may hold beyond its arrays: a base plus per dataset
_H5_OVERHEAD, _H5_PER_DATASET = 16 << 20, 64 << 10
_MAX_NAMES = 1 << 16  # entries of a layer_names / weight_names attribute


def _h5py():
    import h5py

    return h5py


# -------------------------------------------------------------------- where the weights go
class _Plan:
    """What a file must hold for a model: the abstract parameters and layer state (shapes,
    nothing allocated) and the total number of values, checked against MAX_VALUES."""

    def __init__(self, model, input_shape: tuple[int, ...] | None) -> None:
        self.model, self.input_shape = model, input_shape
        self.params: list[dict] = [{} for _ in model.layers]
        self.state: list[dict] = [{} for _ in model.layers]
        if input_shape is not None:
            shape = input_shape
            try:
                for layer in model.layers:
                    shape = layer.build(shape)
                self.params, self.state = jax.eval_shape(
                    model.init_weights, jax.ShapeDtypeStruct((2,), jnp.uint32))
            except (ValueError, TypeError, OverflowError) as err:
                raise ModelFileError(f"the architecture does not fit together: {err}") from None
        total = sum(math.prod(a.shape) for tree in self.params + self.state for a in tree.values())
        if total > MAX_VALUES:
            raise ModelFileError(f"its architecture declares {total:,} weights, more than a model "
                             f"file may hold ({MAX_VALUES:,})")
        self.values = total

    def layer_weights(self, i: int) -> list[tuple[str, tuple[int, ...]]]:
        """Layer ``i``'s weights in Keras order: (name, shape)."""
        trees = (self.params[i], self.state[i])
        return [(w, tuple(t[w].shape)) for w in self.model.layers[i].weight_order
                for t in trees if w in t]

    def optimizer_shapes(self, layout) -> list[tuple[int, ...]]:
        return [tuple(self.params[key[-2]][key[-1]].shape)
                if key[0] in ("ema", "grad_accum", "slots") else () for key, _ in layout]


def _fill(model, plan: _Plan, values: list[list[np.ndarray]]) -> None:
    """Build the model and give it the weights (per layer, in Keras order). The build
    draws no random weights that the file's would replace (each random initializer costs
    a compilation per shape): the layers' initializers are zeros while it runs, and their
    own (the file's) again after."""
    own = [(layer, attr, value) for layer in model.layers for attr, value in vars(layer).items()
           if isinstance(value, initializers.Initializer)]
    for layer, attr, _ in own:
        setattr(layer, attr, initializers.Zeros())
    try:
        model.build(plan.input_shape)
    finally:
        for layer, attr, value in own:
            setattr(layer, attr, value)
    for layer, p, s, arrays in zip(model.layers, model.params, model.state, values):
        for w, a in zip(layer.weight_order, arrays):
            (p if w in p else s)[w] = jnp.asarray(a, jnp.float32)


def _optimizer_state(model, layout, arrays: list[np.ndarray]):
    """hyperlab's optimizer state from Keras's optimizer variables (``layout`` order)."""
    state = jax.tree.map(np.asarray, model.optimizer.init(model.trainable_view(model.params)))
    for (key, _), a in zip(layout, arrays):
        kind = key[0]
        if kind == "iterations":
            if not 0 <= int(a) < 2**31:
                raise ModelFileError(f"the optimizer's step count {int(a)} is out of range")
            state["iterations"] = np.int32(a)
        elif kind in ("learning_rate", "u_product"):
            state[kind] = np.float32(a)
        elif kind == "slots":
            state["slots"][key[1]][key[2]][key[3]] = np.asarray(a, np.float32)
        else:
            state[kind][key[1]][key[2]] = np.asarray(a, np.float32)
    return jax.tree.map(jnp.asarray, state)


def _optimizer_values(model) -> tuple[list[tuple[str, np.ndarray]], float | None]:
    """Keras's optimizer variables of a compiled model ((path, value) in Keras's order; a
    built model that has not trained yet gets its fresh state, so that Keras loads it
    without a warning, an unbuilt one its step count and learning rate only) and the
    current learning rate (None for a schedule)."""
    opt, state = model.optimizer, model._opt_state
    if model.built:
        layout = kc.optimizer_layout(model, model.params)
        if state is None:
            state = opt.init(model.trainable_view(model.params))
    else:
        layout = kc.unbuilt_layout(model)
        state = {"iterations": 0, "learning_rate": opt.learning_rate}
    out = []
    for key, path in layout:
        kind = key[0]
        if kind == "iterations":
            value = np.asarray(state["iterations"], np.int64)
        elif kind in ("learning_rate", "u_product"):
            value = np.asarray(state[kind], np.float32)
        elif kind == "slots":
            value = np.asarray(state["slots"][key[1]][key[2]][key[3]])
        else:
            value = np.asarray(state[kind][key[1]][key[2]])
        out.append((path, value))
    lr = float(np.float32(state["learning_rate"])) if opt.learning_rate_settable else None
    return out, lr


# ------------------------------------------------------------------------- HDF5 reading
def _h5_errors():
    return (OSError, KeyError, RuntimeError, TypeError, ValueError, AttributeError,
            IndexError)


def _child(group, name: str, where: str, dataset: bool):
    """A group's member that is a plain group (or dataset) stored in this file."""
    h5py = _h5py()
    link = group.get(name, getlink=True)
    if link is None:
        raise ModelFileError(f"{where} is missing")
    if not isinstance(link, h5py.HardLink):
        raise ModelFileError(f"{where} is a {type(link).__name__} (a link elsewhere); hyperlab "
                         "reads only groups and datasets stored in the file")
    obj = group[name]
    kind = h5py.Dataset if dataset else h5py.Group
    if not isinstance(obj, kind):
        raise ModelFileError(f"{where} is not an HDF5 {'dataset' if dataset else 'group'}")
    return obj


def _path(root, path: str, where: str, dataset: bool = False):
    obj = root
    parts = [p for p in path.split("/") if p]
    for k, part in enumerate(parts):
        obj = _child(obj, part, where, dataset and k == len(parts) - 1)
    return obj


def _check_dataset(ds, where: str, shape: tuple[int, ...], kinds: str) -> None:
    """``ds`` holds numbers of ``kinds`` (numpy kind letters) in exactly ``shape``, in the
    file itself, in chunks no larger than itself."""
    dtype = ds.dtype
    if dtype.kind not in kinds or dtype.fields is not None or dtype.itemsize > 8:
        want = "floats" if kinds == "f" else "integers"
        raise ModelFileError(f"{where} holds {dtype} values; hyperlab reads {want} there")
    if tuple(ds.shape) != shape:
        raise ModelFileError(f"{where} has shape {tuple(ds.shape)} in the file, the architecture "
                         f"needs {shape}")
    if ds.is_virtual or ds.external:
        raise ModelFileError(f"{where} keeps its data outside the file (virtual or external "
                         "storage), which hyperlab does not read")
    if ds.chunks is not None and math.prod(ds.chunks) > max(math.prod(shape), 1 << 16):
        raise ModelFileError(f"{where} declares chunks {ds.chunks}, larger than its own shape "
                         f"{shape}")


def _read(ds) -> np.ndarray:
    return np.asarray(ds[()])


def _attr_size(obj, name: str) -> int | None:
    """The bytes an attribute declares (None when absent), read from its header."""
    h5py = _h5py()
    if name not in obj.attrs:
        return None
    attr = h5py.h5a.open(obj.id, name.encode())
    try:
        return int(attr.get_storage_size())
    except RuntimeError:  # HDF5 reports an empty attribute's size of 0 as an error
        return 0


def _text_attr(obj, name: str, where: str) -> str | None:
    size = _attr_size(obj, name)
    if size is None:
        return None
    if size > MAX_DOC_BYTES:
        raise ModelFileError(f"its {where} declares {size:,} bytes, more than a model file's "
                         f"document may hold ({MAX_DOC_BYTES:,})")
    value = obj.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError(f"its {where} is not UTF-8 text") from None
    if not isinstance(value, str):
        raise ModelFileError(f"its {where} is not text")
    return value


def _names_attr(obj, name: str, where: str) -> list[str]:
    """A list-of-names attribute (``layer_names``, ``weight_names``), also when Keras split
    it into ``name0``, ``name1``... because it was too large for one header."""
    keys = [name]
    if name not in obj.attrs:
        keys = []
        while len(keys) < _MAX_NAMES and f"{name}{len(keys)}" in obj.attrs:
            keys.append(f"{name}{len(keys)}")
    out: list[str] = []
    for key in keys:
        size = _attr_size(obj, key)
        if size is not None and size > MAX_DOC_BYTES:
            raise ModelFileError(f"its {where} declares {size:,} bytes, more than a model file "
                             f"may hold ({MAX_DOC_BYTES:,})")
        values = np.atleast_1d(obj.attrs[key])
        if values.ndim != 1 or len(values) + len(out) > _MAX_NAMES:
            raise ModelFileError(f"its {where} is not a list of at most {_MAX_NAMES:,} names")
        for v in values:
            if isinstance(v, bytes):
                v = v.decode("utf-8", errors="replace")
            if not isinstance(v, str):
                raise ModelFileError(f"its {where} holds {v!r}, not a name")
            out.append(v)
    return out


def _open_h5(source, what: str):
    h5py = _h5py()
    try:
        return h5py.File(source, "r")
    except OSError as err:
        raise ModelFileError(f"not an HDF5 {what}, or truncated or corrupted ({err})") from None


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ModelFileError(f"its {where} does not parse as JSON ({str(err).split(';')[0]})") from None


def _read_store(f, plan: _Plan, with_optimizer: bool, weights_only: bool = False):
    """Layer weights (per layer, Keras order) and optimizer variables (or None) of a Keras 3
    weights store (``model.weights.h5`` / ``.weights.h5``), every dataset checked first."""
    model = plan.model
    checks: list[tuple[Any, str]] = []
    per_layer: list[int] = []
    for i, path in enumerate(kc.layer_paths(model)):
        wanted = plan.layer_weights(i)
        group = _path(f, f"{path}/vars", path)
        if len(group) != len(wanted):
            raise ModelFileError(f"{path} ({model.layers[i].name!r}) holds {len(group)} weights in "
                             f"the file, the architecture needs {len(wanted)}")
        for k, (w, shape) in enumerate(wanted):
            where = f"{path}/vars/{k} ({model.layers[i].name}/{w})"
            ds = _child(group, str(k), where, dataset=True)
            _check_dataset(ds, where, shape, "f")
            checks.append((ds, where))
        per_layer.append(len(wanted))
    opt_checks: list[Any] | None = None
    layout = None
    if with_optimizer and model.optimizer is not None and f.get("optimizer", getlink=True):
        group = _path(f, "optimizer/vars", "optimizer")
        full, unbuilt = kc.optimizer_layout(model, plan.params), kc.unbuilt_layout(model)
        n = len(group)
        if n == len(full) or n != len(unbuilt):
            if n != len(full):
                message = (f"the optimizer holds {n} variables in the file, but "
                           f"{type(model.optimizer).__name__} over these weights has "
                           f"{len(full)}")
                if weights_only:  # Keras skips the optimizer then, with a warning
                    warnings.warn(f"{message}; the optimizer state was not loaded",
                                  stacklevel=4)
                    return _read_all(checks, per_layer), None, None
                raise ModelFileError(message)
            layout = full
            opt_checks = []
            for k, ((key, name), shape) in enumerate(zip(full, plan.optimizer_shapes(full))):
                where = f"optimizer/vars/{k} ({name})"
                ds = _child(group, str(k), where, dataset=True)
                _check_dataset(ds, where, shape, "iu" if key[0] == "iterations" else "f")
                opt_checks.append(ds)
    weights = _read_all(checks, per_layer)
    opt = None if opt_checks is None else [_read(ds) for ds in opt_checks]
    return weights, layout, opt


def _read_all(checks, per_layer: list[int]) -> list[list[np.ndarray]]:
    arrays = iter([_read(ds) for ds, _ in checks])
    return [[next(arrays) for _ in range(n)] for n in per_layer]


# ----------------------------------------------------------------------------- .keras
def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
    if info.file_size > limit:
        raise ModelFileError(f"its {info.filename} declares {info.file_size:,} bytes, more than "
                         f"{what} needs or may hold ({limit:,})")
    if info.flag_bits & 0x1:
        raise ModelFileError(f"its {info.filename} is encrypted")
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ModelFileError(f"its {info.filename} holds a different size than the zip directory "
                         "says")
    return data


def load_keras(path: str, sequential: type):
    """The model of a Keras 3 ``.keras`` file, built as a ``sequential`` (raises
    ``ModelFileError``)."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = {info.filename: info for info in z.infolist()}
            if _CONFIG not in infos:
                raise ModelFileError(f"not a Keras .keras file (no {_CONFIG} member)")
            spec = _json(_read_member(z, infos[_CONFIG], MAX_DOC_BYTES, "a model file's "
                                      "document").decode("utf-8", errors="replace"), _CONFIG)
            model, input_shape = kc.model_from_config(spec, sequential)
            if isinstance(spec, dict) and spec.get("compile_config") is not None:
                kc.compile_from_config(model, spec["compile_config"])
            plan = _Plan(model, input_shape)
            if _WEIGHTS not in infos:
                others = [n for n in infos if n.startswith("model.weights")]
                raise ModelFileError(f"no {_WEIGHTS} member" + (
                    f" ({others[0]}: hyperlab reads the h5 weights format only)" if others else ""))
            n_datasets = sum(len(layer.weight_order) for layer in model.layers) + 64
            limit = 4 * plan.values + _H5_OVERHEAD + _H5_PER_DATASET * n_datasets
            data = _read_member(z, infos[_WEIGHTS], limit, "the architecture's weights")
    except zipfile.BadZipFile as err:
        raise ModelFileError(f"not a Keras .keras zip, or truncated or corrupted ({err})") from None
    except (OSError, EOFError, zlib.error, zipfile.LargeZipFile, NotImplementedError,
            RuntimeError) as err:
        raise ModelFileError(f"unreadable, truncated or corrupted ({type(err).__name__}: "
                         f"{err})") from None
    return _load_store(io.BytesIO(data), plan, f"{_WEIGHTS} member")


def _load_store(source, plan: _Plan, what: str):
    try:
        with _open_h5(source, what) as f:
            weights, layout, opt = _read_store(f, plan, with_optimizer=True)
    except ModelFileError:
        raise
    except _h5_errors() as err:
        raise ModelFileError(f"its {what} is unreadable, truncated or corrupted "
                         f"({type(err).__name__}: {err})") from None
    return _finish(plan, weights, layout, opt)


def _finish(plan: _Plan, weights, layout, opt):
    model = plan.model
    if plan.input_shape is not None:
        _fill(model, plan, weights)
    if layout is not None and model.built:
        model._opt_state = _optimizer_state(model, layout, opt)
    return model


def _write_store(f, model, opt_values) -> None:
    """A Keras 3 weights store: ``layers/<path>/vars/<i>``, ``optimizer/vars/<i>``, ``vars``."""
    f.create_group("layers")
    weights = iter(model.get_weights() if model.built else [])
    for path, layer in zip(kc.layer_paths(model), model.layers):
        group = f.create_group(f"{path}/vars")
        group.attrs["name"] = layer.name or ""
        for k in range(len(layer.weight_order) if model.built else 0):
            group.create_dataset(str(k), data=next(weights))
    if opt_values is not None:
        group = f.create_group("optimizer/vars")
        group.attrs["name"] = model.optimizer.name
        for k, (_, value) in enumerate(opt_values):
            group.create_dataset(str(k), data=value)
    f.create_group("vars").attrs["name"] = model.name


def _h5_bytes(write) -> bytes:
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write(f)
    return buffer.getvalue()


def _describe(model, legacy: bool):
    """(model config, compile config, optimizer variables or None), or a ValueError naming
    what has no Keras equivalent."""
    opt_values, lr = _optimizer_values(model) if model.optimizer is not None else (None, None)
    config = kc.model_config(model, legacy)
    compiled = (kc.legacy_training_config if legacy else kc.compile_config)(model, lr)
    return config, compiled, opt_values


def _metadata() -> dict[str, str]:
    from hyperlab._version import __version__

    return {"keras_version": KERAS_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "hyperlab_version": __version__}


def save_keras(model, path: str) -> None:
    """``model`` as a Keras 3 ``.keras`` zip, replaced atomically."""
    config, compiled, opt_values = _describe(model, legacy=False)
    if compiled is not None:
        config["compile_config"] = compiled
    weights = _h5_bytes(lambda f: _write_store(f, model, opt_values))
    with atomic_write(path, "model file", fix="save it elsewhere") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(_METADATA, json.dumps(_metadata()))
            z.writestr(_CONFIG, json.dumps(config))
            z.writestr(_WEIGHTS, weights)


# ------------------------------------------------------------------------ legacy .h5
def _keras_version(f) -> str:
    return _text_attr(f, "keras_version", "keras_version attribute") or "1"


def load_legacy_h5(path: str, sequential: type):
    """The model of a legacy Keras ``.h5`` file, built as a ``sequential`` (raises
    ``ModelFileError``)."""
    try:
        with _open_h5(path, "file") as f:
            return _load_legacy(f, path, sequential)
    except ModelFileError:
        raise
    except _h5_errors() as err:
        raise ModelFileError(f"unreadable, truncated or corrupted HDF5 ({type(err).__name__}: "
                         f"{err})") from None


def _load_legacy(f, path: str, sequential: type):
    text = _text_attr(f, "model_config", "model_config attribute")
    if text is None:
        hint = ("a Keras 3 weights file" if f.get("layers", getlink=True) is not None
                else "an HDF5 file without a model")
        raise ModelFileError(f"{hint} (no model_config): build the model and call "
                         "model.load_weights(path)")
    model, input_shape = kc.model_from_config(_json(text, "model_config attribute"), sequential)
    training = _text_attr(f, "training_config", "training_config attribute")
    if training is not None:
        kc.compile_from_config(model, _json(training, "training_config attribute"))
    plan = _Plan(model, input_shape)
    weights = _legacy_weights(_path(f, "model_weights", "model_weights"), plan)
    layout, opt = None, None
    if model.optimizer is not None and f.get("optimizer_weights", getlink=True) is not None:
        if not _keras_version(f).startswith("3."):
            warnings.warn(f"{path}: written by Keras {_keras_version(f)}, whose optimizer "
                          "variables are laid out differently; the model starts with a fresh "
                          "optimizer state", stacklevel=4)
        else:
            layout, opt = _legacy_optimizer(_path(f, "optimizer_weights", "optimizer_weights"),
                                            plan)
    return _finish(plan, weights, layout, opt)


def _legacy_weights(group, plan: _Plan) -> list[list[np.ndarray]]:
    """Keras's order-based matching: the layers with weights, in the file's ``layer_names``
    order, to the model's layers with weights."""
    model = plan.model
    saved = []
    for name in _names_attr(group, "layer_names", "model_weights layer_names"):
        layer_group = _child(group, name, f"model_weights/{name}", dataset=False)
        weight_names = _names_attr(layer_group, "weight_names", f"{name} weight_names")
        if weight_names:
            saved.append((name, layer_group, weight_names))
    weighted = [i for i in range(len(model.layers)) if plan.layer_weights(i)]
    if len(saved) != len(weighted):
        raise ModelFileError(f"{len(saved)} layers with weights in the file, the architecture has "
                         f"{len(weighted)}")
    checks, per_layer = [], [0] * len(model.layers)
    for i, (name, layer_group, weight_names) in zip(weighted, saved):
        wanted = plan.layer_weights(i)
        if len(weight_names) != len(wanted):
            raise ModelFileError(f"layer {name!r} holds {len(weight_names)} weights in the file, "
                             f"the architecture needs {len(wanted)}")
        for weight_name, (w, shape) in zip(weight_names, wanted):
            where = f"model_weights/{name}/{weight_name}"
            ds = _path(layer_group, weight_name, where, dataset=True)
            _check_dataset(ds, where, shape, "f")
            checks.append((ds, where))
        per_layer[i] = len(wanted)
    return _read_all(checks, per_layer)


def _legacy_optimizer(group, plan: _Plan):
    model = plan.model
    names = _names_attr(group, "weight_names", "optimizer_weights weight_names")
    full, unbuilt = kc.optimizer_layout(model, plan.params), kc.unbuilt_layout(model)
    if len(names) != len(full):
        if len(names) == len(unbuilt):
            return None, None  # an optimizer that had not trained
        raise ModelFileError(f"the optimizer holds {len(names)} variables in the file, but "
                         f"{type(model.optimizer).__name__} over these weights has {len(full)}")
    datasets = []
    for name, (key, _), shape in zip(names, full, plan.optimizer_shapes(full)):
        where = f"optimizer_weights/{name}"
        ds = _path(group, name, where, dataset=True)
        _check_dataset(ds, where, shape, "iu" if key[0] == "iterations" else "f")
        datasets.append(ds)
    return full, [_read(ds) for ds in datasets]


def _bytes_list(names: list[str]) -> np.ndarray:
    return np.asarray([n.encode("utf8") for n in names]) if names else np.asarray([])


def save_legacy_h5(model, path: str) -> None:
    """``model`` as a legacy Keras ``.h5`` file, replaced atomically."""
    config, training, opt_values = _describe(model, legacy=True)

    def write(f) -> None:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["hyperlab_version"] = _metadata()["hyperlab_version"]
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        if training is not None:
            f.attrs["training_config"] = json.dumps(training).encode("utf8")
        group = f.create_group("model_weights")
        _write_legacy_weights(group, model)
        if opt_values is not None:
            opt = f.create_group("optimizer_weights")
            opt.attrs["weight_names"] = _bytes_list([name for name, _ in opt_values])
            for name, value in opt_values:
                opt.create_dataset(name, data=value)

    data = _h5_bytes(write)
    with atomic_write(path, "model file", fix="save it elsewhere") as f:
        f.write(data)


def _write_legacy_weights(group, model) -> None:
    if any(layer.name is None for layer in model.layers):
        raise ValueError("cannot save an unbuilt model without layer names as .h5; build it "
                         "(give an Input) or save it as .keras")
    group.attrs["layer_names"] = _bytes_list([layer.name for layer in model.layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS_VERSION.encode()
    weights = iter(model.get_weights() if model.built else [])
    per_layer = {}
    for layer in model.layers:
        per_layer[layer.name] = [(f"{model.name}/{layer.name}/{w}", next(weights))
                                 for w in (layer.weight_order if model.built else ())]
    for name in sorted(per_layer):  # Keras writes the groups sorted by name
        layer_group = group.create_group(name)
        layer_group.attrs["weight_names"] = _bytes_list([n for n, _ in per_layer[name]])
        for weight_name, value in per_layer[name]:
            layer_group.create_dataset(weight_name, data=value)
    group.create_group("top_level_model_weights").attrs["weight_names"] = _bytes_list([])


# ------------------------------------------------------------------------ .weights.h5
def save_weights(model, filepath, overwrite: bool = True) -> None:
    """``model.save_weights``: Keras 3's ``.weights.h5`` (layer weights and, for a compiled
    model, the optimizer's variables)."""
    path = os.fspath(filepath)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"save_weights: the file name must end in .weights.h5 (as in Keras "
                         f"3), got {path!r}; model.save(path) writes whole models")
    if not overwrite and os.path.exists(path):
        raise ValueError(f"save_weights: {path!r} exists; pass overwrite=True to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"save_weights: the directory {folder!r} does not exist; create it first")
    opt_values = _optimizer_values(model)[0] if model.optimizer is not None else None
    data = _h5_bytes(lambda f: _write_store(f, model, opt_values))
    with atomic_write(path, "weights file", fix="save it elsewhere") as f:
        f.write(data)


def load_weights(model, filepath) -> None:
    """``model.load_weights``: the weights of a Keras 3 ``.weights.h5`` (and, when the model
    has trained and the file has its optimizer's variables, the optimizer state, as Keras
    restores a built optimizer), a ``.keras`` file or a legacy ``.h5`` file; one ValueError
    naming the file otherwise."""
    path = os.fspath(filepath)
    model._require_built("load_weights")
    try:
        weights, layout, opt = _load_weights(model, path)
    except ModelFileError as err:
        raise ValueError(f"cannot load weights file {path!r}: {err}") from None
    values = [a for layer in weights for a in layer]
    model.set_weights(values)
    if layout is not None and model._opt_state is not None:
        model._opt_state = _optimizer_state(model, layout, opt)


def _load_weights(model, path: str):
    if not os.path.isfile(path):
        raise ModelFileError("no such file" if not os.path.exists(path) else "not a file")
    plan = _Plan(model, model.input_shape)
    if path.endswith(".keras"):
        other = load_keras(path, type(model))
        if not _same_shapes(other, plan):
            raise ModelFileError("its model's weights do not fit this model's architecture")
        return [list(_layer_arrays(other, i)) for i in range(len(other.layers))], None, None
    try:
        with _open_h5(path, "file") as f:
            if "layer_names" in f.attrs:  # a Keras 2 save_weights("x.h5") file
                return _legacy_weights(f, plan), None, None
            if f.get("model_weights", getlink=True) is not None:  # a legacy .h5 model
                return _legacy_weights(_path(f, "model_weights", "model_weights"), plan), None, None
            return _read_store(f, plan, with_optimizer=True, weights_only=True)
    except ModelFileError:
        raise
    except _h5_errors() as err:
        raise ModelFileError(f"unreadable, truncated or corrupted HDF5 ({type(err).__name__}: "
                         f"{err})") from None


def _layer_arrays(model, i: int) -> Iterator[np.ndarray]:
    layer, p, s = model.layers[i], model.params[i], model.state[i]
    return (p[w] if w in p else s[w] for w in layer.weight_order)


def _same_shapes(other, plan: _Plan) -> bool:
    return other.built and len(other.layers) == len(plan.model.layers) and all(
        [tuple(np.shape(a)) for a in _layer_arrays(other, i)]
        == [shape for _, shape in plan.layer_weights(i)] for i in range(len(other.layers)))

