"""Keras 3 configurations <-> hyperlab objects, for Keras's model files (``.keras``, legacy
``.h5``): the architecture, the compile settings and the optimizer's variable layout.

Reading looks every class a file names up in fixed tables of what hyperlab has (its
layers, initializers, regularizers, optimizers, schedules, losses); it never imports a
module, resolves a registered name or runs code from a file. Whatever it cannot map
exactly (custom objects, ``Lambda`` layers and ``__lambda__`` functions, constraints,
mixed-precision policies, models other than a linear stack) is one ValueError naming the
object and what is supported. Writing gives the configuration Keras 3 writes, without the
optional keys that hold their defaults (so that older Keras 3 releases read it too).
"""
from __future__ import annotations

import re
from typing import Any, Iterator

import numpy as np

from hyperlab.engine import layers as layers_mod
from hyperlab.engine import losses as losses_mod
from hyperlab.engine import optimizers as optimizers_mod
from hyperlab.engine import schedules as schedules_mod
from hyperlab.engine.npz_format import ModelFileError

__all__ = ["model_from_config", "compile_from_config", "model_config", "compile_config",
           "legacy_training_config", "layer_paths", "optimizer_layout", "unbuilt_layout",
           "KERAS_LAYERS", "KERAS_OPTIMIZERS", "KERAS_SCHEDULES"]

#: Keras layer classes hyperlab maps (plus ``InputLayer``, which becomes the input shape).
KERAS_LAYERS = ("Dense", "Activation", "Flatten", "BatchNormalization", "Dropout",
                "LeakyReLU", "PReLU", "ELU", "AlphaDropout")
KERAS_OPTIMIZERS = ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam")
KERAS_SCHEDULES = ("ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay",
                   "PolynomialDecay", "CosineDecay", "CosineDecayRestarts")
_CODE = ("Lambda", "__lambda__", "TFOpLambda", "function")
# Keras constructor arguments of each layer that hyperlab takes under the same name.
_ARGS = {
    "Dense": ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
              "kernel_regularizer", "bias_regularizer"),
    "Activation": ("activation",),
    "Flatten": (),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "Dropout": ("rate", "seed"),
    "LeakyReLU": ("negative_slope", "alpha"),
    "PReLU": ("alpha_initializer", "alpha_regularizer", "shared_axes"),
    "ELU": ("alpha",),
    "AlphaDropout": ("rate", "noise_shape", "seed"),
}
# Settings hyperlab has no counterpart for: accepted when they hold Keras's default (a
# None-valued setting hyperlab does not know is accepted too: it means "not used").
_FIXED = {
    "BatchNormalization": {"synchronized": False, "renorm": False,
                           "beta_initializer": "Zeros", "gamma_initializer": "Ones",
                           "moving_mean_initializer": "Zeros",
                           "moving_variance_initializer": "Ones"},
    "Flatten": {"data_format": "channels_last"},
}
_IGNORED = {"BatchNormalization": ("renorm_momentum",)}  # meaningful only with renorm=True
_INPUT_FIXED = {"sparse": False, "ragged": False, "optional": False}
_INITIALIZER_KEYS = ("kernel_initializer", "bias_initializer", "alpha_initializer")
_REGULARIZER_KEYS = ("kernel_regularizer", "bias_regularizer", "alpha_regularizer")
_OPTIMIZER_CLASSES = {name: optimizers_mod._OPTIMIZERS[name.lower()] for name in KERAS_OPTIMIZERS}
# Keras 2 (tf.keras) optimizer settings with no effect on the update.
_KERAS2_OPTIMIZER_KEYS = ("is_legacy_optimizer", "jit_compile")
_LOSS_CLASSES = {"CategoricalCrossentropy": "categorical_crossentropy",
                 "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                 "BinaryCrossentropy": "binary_crossentropy",
                 "MeanSquaredError": "mean_squared_error"}
# Keras's per-parameter optimizer variables, in its build order: one list per call of
# ``add_optimizer_variables`` (its names interleave per parameter). Slots hyperlab keeps
# but Keras does not create (SGD and RMSprop momentum 0) stay zeros, which is exact.
_SLOT_GROUPS = {
    "SGD": lambda o: [["momentum"]] if o.momentum != 0 else [],
    "RMSprop": lambda o: ([["velocity"]] + ([["momentum"]] if o.momentum > 0 else [])
                          + ([["average_gradient"]] if o.centered else [])),
    "Adagrad": lambda o: [["accumulator"]],
    "Adadelta": lambda o: [["accumulated_grad", "accumulated_delta_var"]],
    "Adam": lambda o: [["momentum", "velocity"]] + ([["velocity_hat"]] if o.amsgrad else []),
    "Adamax": lambda o: [["momentum", "norm"]],
    "Nadam": lambda o: [["momentum", "velocity"]],
}
_FLOAT32 = "float32"


def snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (``PReLU`` -> ``p_re_lu``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------------------- reading
def _entry(value: Any, what: str) -> tuple[str, dict[str, Any]]:
    """The class name and config of a serialized Keras object, once it is a built-in one."""
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise ModelFileError(f"{what} must be a serialized Keras object with a class_name, got "
                         f"{_short(value)}")
    name = value["class_name"]
    if name in _CODE:
        raise ModelFileError(f"{what} is a {name} (Python code), which hyperlab never runs; "
                         "rebuild it from built-in layers and functions")
    module = value.get("module")
    if module is not None and (not isinstance(module, str)
                               or not (module == "keras" or module.startswith("keras."))):
        raise ModelFileError(f"{what} {name!r} comes from module {module!r}: a custom object, "
                         "which hyperlab does not load; it reads only Keras's built-in objects")
    registered = value.get("registered_name")
    if registered not in (None, name):
        raise ModelFileError(f"{what} {name!r} is the registered custom object {registered!r}, "
                         "which hyperlab does not load; it reads only Keras's built-in objects")
    config = value.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ModelFileError(f"{what} {name!r} has an invalid config {_short(config)}")
    return name, config


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_dtype(value: Any, what: str) -> None:
    if isinstance(value, dict):
        _, config = _entry(value, f"{what} dtype policy")
        value = config.get("name")
    if value not in (None, _FLOAT32):
        raise ModelFileError(f"{what} has dtype policy {value!r}; hyperlab computes in float32 "
                         "only")


def _plain(value: Any, what: str) -> Any:
    """``value`` when it is plain JSON data (no serialized object inside)."""
    if isinstance(value, dict):
        if "class_name" in value:
            _entry(value, what)  # a Lambda or a custom object: its own message
        raise ModelFileError(f"{what} must be a plain value, got {_short(value)}")
    if isinstance(value, list):
        return [_plain(v, what) for v in value]
    return value


def _initializer(value: Any, what: str) -> dict[str, Any]:
    name, config = _entry(value, what) if not isinstance(value, str) else (value, {})
    config = dict(config)
    for axes in ("input_axes", "output_axes"):  # Keras 3.15: fans over chosen axes
        if config.get(axes) is not None:
            raise ModelFileError(f"{what} {name!r} sets {axes}={config[axes]!r}, which hyperlab "
                             "does not support")
        config.pop(axes, None)
    return {"class_name": name, "config": {k: _plain(v, what) for k, v in config.items()}}


def _regularizer(value: Any, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    name, config = _entry(value, what) if not isinstance(value, str) else (value, {})
    return {"class_name": name, "config": {k: _plain(v, what) for k, v in config.items()}}


def _activation(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name, _ = _entry(value, what)
        raise ModelFileError(f"{what} is the serialized object {name!r}; hyperlab reads activations "
                         "given by name")
    raise ModelFileError(f"{what} must be an activation name, got {_short(value)}")


def _batch_shape(value: Any, what: str) -> tuple[int, ...]:
    """The per-sample shape of a Keras batch shape ``[null, d1, ...]``."""
    if (not isinstance(value, list) or len(value) < 2 or value[0] is not None
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in value[1:])):
        raise ModelFileError(f"{what} must be a batch shape [null, d1, ...] of positive ints, got "
                         f"{_short(value)}")
    return tuple(value[1:])


def _input_layer(config: dict[str, Any], what: str) -> tuple[int, ...]:
    _check_dtype(config.get("dtype"), what)
    for key, default in _INPUT_FIXED.items():
        if config.get(key, default) != default:
            raise ModelFileError(f"{what} sets {key}={config[key]!r}; hyperlab supports "
                             f"{key}={default!r}")
    for key in ("batch_shape", "batch_input_shape"):
        if config.get(key) is not None:
            return _batch_shape(config[key], f"{what} {key}")
    if config.get("shape") is not None:
        return _batch_shape([None, *config["shape"]] if isinstance(config["shape"], list)
                            else config["shape"], f"{what} shape")
    raise ModelFileError(f"{what} declares no shape")


def _layer(entry: Any, what: str) -> tuple[layers_mod.Layer, tuple[int, ...] | None]:
    """A hyperlab layer from a Keras layer entry, and the input shape it declares (Keras 2
    writes ``batch_input_shape`` on a model's first layer)."""
    name, config = _entry(entry, what)
    if name not in KERAS_LAYERS or name not in layers_mod.LAYERS:
        raise ModelFileError(f"{what} is a {name}, which hyperlab does not have; supported layers: "
                         f"{', '.join(KERAS_LAYERS)} (and InputLayer)")
    what = f"{what} ({name} {config.get('name')!r})"
    _check_dtype(config.get("dtype"), what)
    declared = None
    kwargs: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("name", "trainable", "dtype"):
            continue
        if key == "batch_input_shape" and value is not None:
            declared = _batch_shape(value, f"{what} batch_input_shape")
        elif key in _ARGS[name]:
            if key in _INITIALIZER_KEYS:
                kwargs[key] = _initializer(value, f"{what} {key}")
            elif key in _REGULARIZER_KEYS:
                kwargs[key] = _regularizer(value, f"{what} {key}")
            elif key == "activation":
                kwargs[key] = _activation(value, f"{what} activation")
            else:
                kwargs[key] = _plain(value, f"{what} {key}")
        elif key in _FIXED.get(name, {}):
            default = _FIXED[name][key]
            got = _initializer(value, f"{what} {key}") if key.endswith("_initializer") else None
            if (got["class_name"] if got else value) != default or (got and got["config"]):
                raise ModelFileError(f"{what} sets {key}={_short(value)}, which hyperlab does not "
                                 f"support (it has {key}={default!r})")
        elif value is not None and key not in _IGNORED.get(name, ()):
            if isinstance(value, dict) and "class_name" in value:
                _entry(value, f"{what} {key}")  # code or a custom object: its own message
            raise ModelFileError(f"{what} sets {key}={_short(value)}, which hyperlab does not "
                             "support")
    if name == "BatchNormalization" and kwargs.get("axis") not in (None, -1):
        kwargs["axis"] = _last_axis(kwargs["axis"], entry, what)
    trainable = config.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ModelFileError(f"{what} has an invalid trainable flag {_short(trainable)}")
    try:
        layer = layers_mod.LAYERS[name](name=_name(config.get("name"), what), **kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise ModelFileError(f"{what}: {err}") from None
    layer.trainable = trainable
    return layer, declared


def _last_axis(axis: Any, entry: dict[str, Any], what: str) -> int:
    """-1 for a BatchNormalization ``axis`` that names the last axis of its built input."""
    shape = (entry.get("build_config") or {}).get("input_shape")
    if isinstance(shape, list) and isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    if isinstance(shape, list) and axis == len(shape) - 1:
        return -1
    raise ModelFileError(f"{what} normalizes axis {axis!r}; hyperlab normalizes the last axis only")


def _name(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ModelFileError(f"{what} has an invalid name {_short(value)}")
    return value


def _functional_chain(config: dict[str, Any], what: str) -> list[Any]:
    """The layer entries of a Functional model that is a plain chain (one input, one output,
    each layer fed by the one before), in order; a ValueError for anything else."""
    layer_list = config.get("layers")
    if not isinstance(layer_list, list) or not layer_list:
        raise ModelFileError(f"{what} has no layer list")
    previous = None
    for i, entry in enumerate(layer_list):
        if not isinstance(entry, dict):
            raise ModelFileError(f"{what} layer {i} is not a layer entry")
        inbound = [name for node in _nodes(entry.get("inbound_nodes"), what)
                   for name in _inbound_names(node, what)]
        if (i == 0 and inbound) or (i > 0 and inbound != [previous]):
            raise ModelFileError(f"{what} is a functional model with branches or shared layers "
                             f"(layer {entry.get('name')!r} takes {inbound}); hyperlab loads "
                             "Sequential models and functional models that are one chain of "
                             "layers")
        previous = entry.get("name")
    outputs = _tensor_names(config.get("output_layers"))
    inputs = _tensor_names(config.get("input_layers"))
    if inputs != [layer_list[0].get("name")] or outputs != [previous]:
        raise ModelFileError(f"{what} is a functional model with {len(inputs)} inputs and "
                         f"{len(outputs)} outputs; hyperlab loads one chain of layers")
    return layer_list


def _nodes(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ModelFileError(f"{what} has invalid inbound_nodes {_short(value)}")
    return value


def _inbound_names(node: Any, what: str) -> Iterator[str]:
    """The layer names a Keras 3 node (``{"args": [...], "kwargs": {}}``) or a Keras 2 node
    (``[[name, 0, 0, {}], ...]``) takes its inputs from."""
    if isinstance(node, dict):
        kwargs = node.get("kwargs") or {}
        if not isinstance(kwargs, dict) or any(v is not None for v in kwargs.values()):
            raise ModelFileError(f"{what} calls a layer with arguments {_short(kwargs)}, "
                             "which hyperlab does not support")
        for arg in node.get("args") or []:
            config = arg.get("config") if isinstance(arg, dict) else None
            history = config.get("keras_history") if isinstance(config, dict) else None
            if not isinstance(history, list) or not history:
                raise ModelFileError(f"{what} has an inbound node that is not one layer's output")
            yield history[0]
    elif isinstance(node, list):
        for item in node:
            if not isinstance(item, list) or not item:
                raise ModelFileError(f"{what} has an invalid inbound node {_short(item)}")
            yield item[0]
    else:
        raise ModelFileError(f"{what} has an invalid inbound node {_short(node)}")


def _tensor_names(value: Any) -> list[Any]:
    """Layer names of ``input_layers``/``output_layers`` (``[name, 0, 0]`` or a list of them)."""
    if isinstance(value, list) and value and not isinstance(value[0], list):
        value = [value]
    return [v[0] for v in value if isinstance(v, list) and v] if isinstance(value, list) else []


def model_from_config(spec: Any, sequential: type):
    """The model (a ``sequential``, the model class; layers added, weights not built) that a
    Keras model config describes (``{"class_name": "Sequential" | "Functional", "config":
    {...}}``, as ``config.json`` or the legacy ``model_config`` holds it), and its input
    shape or None."""
    kind, config = _entry(spec, "the model")
    if kind not in ("Sequential", "Functional", "Model"):
        raise ModelFileError(f"the model is a {kind}; hyperlab loads Sequential models and "
                         "functional models that are one chain of layers")
    _check_dtype(config.get("dtype"), "the model")
    entries = config.get("layers")
    if kind != "Sequential":
        entries = _functional_chain(config, "the model")
    if not isinstance(entries, list):
        raise ModelFileError("the model has no layer list")
    model = sequential(name=_name(config.get("name"), "the model"))
    input_shape = None
    for i, entry in enumerate(entries):
        what = f"layer {i}"
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            if i != 0:
                raise ModelFileError(f"{what} is an InputLayer after other layers")
            input_shape = _input_layer(_entry(entry, what)[1], f"{what} (InputLayer)")
            continue
        layer, declared = _layer(entry, what)
        if declared is not None and not model.layers and input_shape is None:
            input_shape = declared
        model.layers.append(layer)
    if input_shape is None and config.get("build_input_shape") is not None:
        input_shape = _batch_shape(config["build_input_shape"], "the model's build_input_shape")
    build = spec.get("build_config") if isinstance(spec, dict) else None
    if input_shape is None and isinstance(build, dict) and build.get("input_shape") is not None:
        input_shape = _batch_shape(build["input_shape"], "the model's build_config")
    if not model.layers:
        raise ModelFileError("the model has no layers")
    return model, input_shape


def _schedule(value: Any, what: str):
    name, config = _entry(value, what)
    if name not in KERAS_SCHEDULES:
        raise ModelFileError(f"{what} is a {name}; supported schedules: {', '.join(KERAS_SCHEDULES)}")
    config = {k: _plain(v, what) for k, v in config.items() if k != "name"}
    try:
        return schedules_mod.get({"class_name": name, "config": config})
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{what} {name}: {err}") from None


def optimizer_from_config(value: Any) -> optimizers_mod.Optimizer:
    """The hyperlab optimizer of a serialized Keras optimizer."""
    name, config = _entry(value, "the optimizer")
    cls = _OPTIMIZER_CLASSES.get(name)
    if cls is None:
        raise ModelFileError(f"the optimizer is a {name}; supported optimizers: "
                         f"{', '.join(KERAS_OPTIMIZERS)}")
    kwargs: dict[str, Any] = {}
    for key, item in config.items():
        if key in _KERAS2_OPTIMIZER_KEYS:
            continue
        if key in ("learning_rate", "lr") and isinstance(item, dict):
            kwargs[key] = _schedule(item, "the learning-rate schedule")
        else:
            kwargs[key] = _plain(item, f"the optimizer's {key}")
    try:
        return cls.from_config(kwargs)
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"the {name} optimizer: {err}") from None


def _loss(value: Any) -> str:
    if isinstance(value, dict):
        name, config = _entry(value, "the loss")
        if name not in _LOSS_CLASSES:
            raise ModelFileError(f"the loss is a {name}; supported: {', '.join(_LOSS_CLASSES)} or a "
                             "loss name")
        for key, default in (("from_logits", False), ("label_smoothing", 0.0),
                             ("ignore_class", None)):
            if config.get(key, default) != default:
                raise ModelFileError(f"the loss {name} sets {key}={config[key]!r}; hyperlab "
                                 f"supports {key}={default!r}")
        if config.get("reduction", "sum_over_batch_size") not in ("sum_over_batch_size", "auto"):
            raise ModelFileError(f"the loss {name} has reduction {config['reduction']!r}; hyperlab "
                             "averages over the batch (sum_over_batch_size)")
        return _LOSS_CLASSES[name]
    if not isinstance(value, str):
        raise ModelFileError(f"the model has loss {_short(value)}; hyperlab supports one loss "
                         "given by name")
    return value


def compile_from_config(model, spec: Any) -> None:
    """Compile ``model`` as a Keras ``compile_config`` (``.keras``) or legacy
    ``training_config`` (``.h5``, optimizer under ``optimizer_config``) says."""
    if not isinstance(spec, dict):
        raise ModelFileError(f"invalid compile settings {_short(spec)}")
    optimizer = optimizer_from_config(spec.get("optimizer", spec.get("optimizer_config")))
    for key in ("loss_weights", "weighted_metrics"):
        if spec.get(key):
            raise ModelFileError(f"the compile settings use {key}={_short(spec[key])}, which "
                             "hyperlab does not support")
    metrics = spec.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ModelFileError(f"the model's metrics {_short(metrics)} are not a list of metric "
                         "names, which is what hyperlab supports")
    try:
        model.compile(optimizer, _loss(spec.get("loss")), metrics)
    except ValueError as err:
        raise ModelFileError(f"compile settings: {err}") from None


# ------------------------------------------------------------------------------- writing
def _keras_object(module: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"module": module, "class_name": name, "config": config, "registered_name": None}


def _keras_initializer(init: Any) -> dict[str, Any]:
    entry = layers_mod._init_config(init)
    return _keras_object("keras.initializers", entry["class_name"], _jsonable(entry["config"]))


def _keras_regularizer(reg: Any) -> dict[str, Any] | None:
    entry = layers_mod._reg_config(reg)
    if entry is None:
        return None
    return _keras_object("keras.regularizers", entry["class_name"], _jsonable(entry["config"]))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _layer_config(layer: layers_mod.Layer) -> dict[str, Any]:
    """Keras's config of a hyperlab layer (a ValueError for a layer Keras has no match for)."""
    name = type(layer).__name__
    if name not in KERAS_LAYERS or layers_mod.LAYERS.get(name) is not type(layer):
        raise ValueError(f"layer {layer.name!r} is a {name}, which has no Keras equivalent "
                         f"hyperlab can write; Keras-format layers: {', '.join(KERAS_LAYERS)}")
    base = {"name": layer.name, "trainable": bool(layer.trainable), "dtype": _FLOAT32}
    if name == "Dense":
        extra = {"units": layer.units, "activation": layer.activation, "use_bias": layer.use_bias,
                 "kernel_initializer": _keras_initializer(layer.kernel_initializer),
                 "bias_initializer": _keras_initializer(layer.bias_initializer),
                 "kernel_regularizer": _keras_regularizer(layer.kernel_regularizer),
                 "bias_regularizer": _keras_regularizer(layer.bias_regularizer),
                 "kernel_constraint": None, "bias_constraint": None}
    elif name == "PReLU":
        extra = {"alpha_initializer": _keras_initializer(layer.alpha_initializer),
                 "alpha_regularizer": _keras_regularizer(layer.alpha_regularizer),
                 "alpha_constraint": None,
                 "shared_axes": None if layer.shared_axes is None else list(layer.shared_axes)}
    elif name == "Flatten":
        extra = {"data_format": "channels_last"}
    elif name == "Dropout":
        extra = {"rate": layer.rate, "seed": layer.seed, "noise_shape": None}
    else:  # the rest: hyperlab's config is Keras's
        extra = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
    return {**base, **_jsonable(extra)}


def _weighted(layer: layers_mod.Layer) -> bool:
    return bool(layer.weight_order)


def model_config(model, legacy: bool) -> dict[str, Any]:
    """The Keras config of a hyperlab ``Sequential``: ``config.json``'s form, or (legacy)
    the ``model_config`` of an ``.h5`` file."""
    layer_entries = []
    if model.input_shape is not None:
        layer_entries.append({"class_name": "InputLayer", "config": {
            "batch_shape": [None, *model.input_shape], "dtype": _FLOAT32, "sparse": False,
            "name": "input_layer"}})
    shape = model.input_shape
    for layer in model.layers:
        entry: dict[str, Any] = {"class_name": type(layer).__name__, "config": _layer_config(layer)}
        if shape is not None and _weighted(layer) and not legacy:
            entry["build_config"] = {"input_shape": [None, *shape]}
        shape = None if shape is None else layer.output_shape
        layer_entries.append(entry)
    if not legacy:
        layer_entries = [{"module": "keras.layers", **e, "registered_name": None}
                         for e in layer_entries]
    config: dict[str, Any] = {"name": model.name, "trainable": True, "layers": layer_entries}
    if model.input_shape is not None:
        config["build_input_shape"] = [None, *model.input_shape]
    if legacy:
        return {"class_name": "Sequential", "config": config}
    out: dict[str, Any] = {"module": "keras", "class_name": "Sequential", "config": config,
                           "registered_name": None}
    if model.input_shape is not None:
        out["build_config"] = {"input_shape": [None, *model.input_shape]}
    return out


def optimizer_config(optimizer: optimizers_mod.Optimizer, learning_rate: float | None) -> dict:
    """A serialized Keras optimizer; ``learning_rate``: the current value of a settable
    rate (Keras writes its variable's value), None to write the configured one."""
    name = type(optimizer).__name__
    if _OPTIMIZER_CLASSES.get(name) is not type(optimizer):
        raise ValueError(f"optimizer {optimizer!r} has no Keras equivalent; Keras-format "
                         f"optimizers: {', '.join(KERAS_OPTIMIZERS)}")
    config = dict(optimizer.get_config())
    if config.pop("decay"):
        raise ValueError(f"{name}(decay={optimizer.decay}) cannot be written for Keras 3, which "
                         "dropped `decay`; use a learning-rate schedule "
                         "(InverseTimeDecay(lr, 1, decay) is the same rule) or save as .npz")
    lr = config["learning_rate"]
    if optimizers_mod.is_schedule(lr):
        kind = type(lr).__name__
        if kind not in KERAS_SCHEDULES or schedules_mod._SCHEDULES.get(kind) is not type(lr):
            raise ValueError(f"learning-rate schedule {lr!r} has no Keras equivalent; "
                             f"Keras-format schedules: {', '.join(KERAS_SCHEDULES)}")
        config["learning_rate"] = _keras_object("keras.optimizers.schedules", kind,
                                                _jsonable(dict(lr.get_config())))
    elif learning_rate is not None:
        config["learning_rate"] = learning_rate
    # settings at their defaults are left out, so that every Keras 3 release reads them
    for key in ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue",
                "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps"):
        if config.get(key) is None:
            config.pop(key, None)
    return _keras_object("keras.optimizers", name, _jsonable(config))


def _metrics(model) -> list[str]:
    """The compiled metrics by name (a built-in metric function by its name, as Keras)."""
    return [m if isinstance(m, str) else losses_mod.metric_kind(m)[0] for m in model._metrics]


def compile_config(model, learning_rate: float | None) -> dict[str, Any] | None:
    """Keras's ``compile_config`` of a compiled model (None when it is not compiled)."""
    if model.optimizer is None or model.loss is None:
        return None
    return {"optimizer": optimizer_config(model.optimizer, learning_rate), "loss": model.loss,
            "loss_weights": None, "metrics": _metrics(model), "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def legacy_training_config(model, learning_rate: float | None) -> dict[str, Any] | None:
    """The legacy ``.h5`` ``training_config`` (the optimizer under ``optimizer_config``)."""
    spec = compile_config(model, learning_rate)
    if spec is None:
        return None
    optimizer = spec.pop("optimizer")
    return {**spec, "optimizer_config": {"class_name": optimizer["class_name"],
                                         "config": optimizer["config"]}}


# ---------------------------------------------------------------------- variable layout
def layer_paths(model) -> list[str]:
    """Each layer's group in a Keras 3 weights file: ``layers/<snake_case class>[_n]``."""
    used: dict[str, int] = {}
    out = []
    for layer in model.layers:
        name = snake_case(type(layer).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append(f"layers/{name}")
    return out


def trainable_weights(model, params: list[dict]) -> list[tuple[int, str]]:
    """(layer index, weight name) of every trainable weight, in Keras's order."""
    return [(i, w) for i, layer in enumerate(model.layers) if layer.trainable
            for w in layer.weight_order if w in params[i]]


def optimizer_layout(model, params: list[dict]) -> list[tuple[tuple, str]]:
    """Keras's optimizer variables of a built, compiled model, in its order: (key into
    hyperlab's optimizer state, Keras's variable path). Keys: ``("iterations",)``,
    ``("learning_rate",)``, ``("ema", i, w)``, ``("grad_accum", i, w)``,
    ``("slots", slot, i, w)``, ``("u_product",)`` (Nadam)."""
    opt = model.optimizer
    out = unbuilt_layout(model)
    weights = [(i, w, f"{model.name}_{model.layers[i].name}_{w}")
               for i, w in trainable_weights(model, params)]
    if opt.use_ema:
        out += [(("ema", i, w), f"{opt.name}/{path}_average") for i, w, path in weights]
    if opt.gradient_accumulation_steps:
        out += [(("grad_accum", i, w), f"{opt.name}/{path}_gradient_accumulator")
                for i, w, path in weights]
    for group in _SLOT_GROUPS[type(opt).__name__](opt):
        out += [(("slots", slot, i, w), f"{opt.name}/{path}_{slot}")
                for i, w, path in weights for slot in group]
    if type(opt).__name__ == "Nadam":
        out.append((("u_product",), "variable"))
    return out


def unbuilt_layout(model) -> list[tuple[tuple, str]]:
    """The variables of a Keras optimizer that has not trained yet: its step count and,
    unless it follows a schedule, its learning rate."""
    opt = model.optimizer
    out = [(("iterations",), f"{opt.name}/iteration")]
    if opt.learning_rate_settable:
        out.append((("learning_rate",), f"{opt.name}/learning_rate"))
    return out
