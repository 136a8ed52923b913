"""``Sequential``: the Keras-shaped model (compile / fit / evaluate / predict / weights),
and ``train_many``: K runs of one model trained together as one compiled program."""
from __future__ import annotations

import math
import sys
import time
import weakref
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.engine import layers as layers_mod
from hyperlab.engine import losses as losses_mod
from hyperlab.engine import optimizers as optimizers_mod
from hyperlab.engine.callbacks import (Callback, EarlyStopping, LearningRateScheduler,
                                       ProgbarLogger, ReduceLROnPlateau, batch_hooks, print_msg,
                                       progress_line)
from hyperlab._constraints import Interval, check
from hyperlab.engine.history import History, KerasLogs
from hyperlab.engine.layers import InputSpec, Layer
from hyperlab.engine.training import CHUNK_EPOCHS, REDUCED, Cohort, training_key

_COMPILED = (LearningRateScheduler, ReduceLROnPlateau, EarlyStopping)
# layer -> the built model whose weights it carries: a new model built from a layer that
# already belongs to a built model starts from a copy of that layer's weights (transfer).
_OWNERS: "weakref.WeakKeyDictionary[Layer, weakref.ref]" = weakref.WeakKeyDictionary()


class Sequential:
    """A linear stack of layers, as ``keras.Sequential``.

    Weights are created when the input shape is known (an ``Input`` first, ``input_dim`` /
    ``input_shape`` on the first layer, or the data of the first ``fit``/``predict``), from
    ``seed`` (None: a random seed, as Keras). ``Sequential(..., seed=s)`` then
    ``fit(..., seed=s)`` is the run that ``train_many(..., seeds=[s])`` trains.

    Transfer learning: a layer taken from another built model (``Sequential(old.layers[:-1])``)
    brings a *copy* of its weights. Unlike Keras, where both models would share the weights,
    training the new model leaves the old one untouched (Keras users get this with
    ``clone_model`` + ``set_weights``). ``layer.trainable = False`` freezes a layer: the
    optimizer neither updates nor keeps slots for it, its regularization leaves the loss,
    and a frozen BatchNormalization normalizes with its moving statistics. Call
    ``compile`` again after changing ``trainable``, as in Keras.

    Unlike Keras, ``input_shape`` is the shape of one sample, without the batch axis
    (``output_shape`` has it, as Keras's). Names default to Keras's process-wide automatic
    names (``sequential``, ``sequential_1``...; layers ``dense``, ``dense_1``...) until
    ``clear_session()``.
    """

    def __init__(self, layers: Sequence[Layer | InputSpec] | None = None, name: str | None = None,
                 seed: int | None = None) -> None:
        self.name = name or layers_mod.auto_name("sequential")
        self.layers: list[Layer] = []
        self.input_shape: tuple[int, ...] | None = None
        self.seed = seed
        self._seeds = np.random.default_rng(seed)
        self.params: list[dict] | None = None
        self.state: list[dict] | None = None
        self.optimizer = None
        self.loss: str | None = None
        self.accuracy: str | None = None
        self.metrics_names: list[str] = []
        self._metrics: list[Any] = []        # compile(metrics=...), as given
        self._wants_accuracy = False
        self.stop_training = False
        self.history: History | None = None
        self._opt_state = None
        self._jitted: dict[tuple, Any] = {}
        for layer in layers or []:
            self.add(layer)

    # -- construction ---------------------------------------------------------
    def add(self, layer: Layer | InputSpec) -> None:
        if isinstance(layer, InputSpec):
            if self.layers:
                raise ValueError("Input must come before the first layer")
            self.input_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential takes hyperlab layers, got {layer!r}")
        if not self.layers and self.input_shape is None:
            # a layer reused from a built model brings its input shape, as in Keras
            self.input_shape = getattr(layer, "declared_input_shape", None) or layer.input_shape
        self.layers.append(layer)
        self.params = None
        if self.input_shape is not None:
            self.build(self.input_shape)

    def build(self, input_shape: Sequence[int]) -> None:
        """Name the layers, fix their shapes and create the weights."""
        if not self.layers:
            raise ValueError("the model has no layers; add a Dense layer")
        self.input_shape = tuple(int(d) for d in input_shape)
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.build(shape)
            layer._model = weakref.ref(self)
        seed = self.seed if self.seed is not None else self._next_seed()
        self.params, self.state = self.init_weights(jax.random.PRNGKey(seed))
        self._copy_owned_weights()
        self._opt_state = None

    def _copy_owned_weights(self) -> None:
        """Layers that belong to another built model start from that model's weights."""
        for i, layer in enumerate(self.layers):
            owner = _OWNERS.get(layer)
            source = owner() if owner is not None else None
            if source is None or source is self or not source.built or layer not in source.layers:
                _OWNERS[layer] = weakref.ref(self)
                continue
            j = source.layers.index(layer)
            for mine, theirs in ((self.params[i], source.params[j]), (self.state[i], source.state[j])):
                for name, value in theirs.items():
                    if mine[name].shape != value.shape:
                        raise ValueError(f"layer {layer.name!r} of model {source.name!r} holds "
                                         f"{name} of shape {tuple(value.shape)}, but here it "
                                         f"needs {tuple(mine[name].shape)}: reuse it where its "
                                         "input has the same shape")
                    mine[name] = jnp.array(value)

    def diagnostic_names(self) -> list[str]:
        """Per-layer names of the diagnostics keys: a layer's own name when it was given,
        else its kind numbered within this model (``dense``, ``dense_1``...), so that keys
        do not depend on how many layers the process created before."""
        taken = {layer.name for layer in self.layers if not layer.auto_named}
        counts: dict[str, int] = {}
        names = []
        for layer in self.layers:
            name = None if layer.auto_named else layer.name
            while name is None:
                n = counts.get(layer.kind, 0)
                counts[layer.kind] = n + 1
                candidate = layer.kind if n == 0 else f"{layer.kind}_{n}"
                if candidate not in taken:
                    name = candidate
                    taken.add(name)
            names.append(name)
        return names

    @property
    def output_shape(self) -> tuple:
        """``(None, ...)``: the model's output shape with the batch axis, as Keras."""
        self._require_built("output_shape")
        return (None,) + tuple(self.layers[-1].output_shape)

    def get_config(self) -> dict[str, Any]:
        """Keras's Sequential config: ``{"name", "layers": [{"class_name", "config"}...]}``
        (an ``InputLayer`` entry first when the input shape is known)."""
        layers = [layers_mod.serialize(layer) for layer in self.layers]
        if self.input_shape is not None:
            layers.insert(0, {"class_name": "InputLayer",
                              "config": {"batch_shape": [None, *self.input_shape]}})
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        """The model ``get_config()`` describes, with fresh weights (built-in layers only)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"a Sequential config needs a 'layers' list, got {config!r}")
        model = cls(name=config.get("name"))
        for entry in config["layers"]:
            if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
                shape = (entry.get("config") or {}).get("batch_shape")
                if not isinstance(shape, list) or len(shape) < 2:
                    raise ValueError(f"an InputLayer config needs a batch_shape list, got {entry!r}")
                model.add(InputSpec(tuple(shape[1:])))
            else:
                model.add(layers_mod.deserialize(entry))
        return model

    def init_weights(self, key: jax.Array) -> tuple[list[dict], list[dict]]:
        """Fresh weights of every layer from one PRNG key."""
        pairs = [layer.init(jax.random.fold_in(key, i)) for i, layer in enumerate(self.layers)]
        return [p for p, _ in pairs], [s for _, s in pairs]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or index, as Keras's ``model.get_layer`` (e.g. to freeze it)."""
        if (name is None) == (index is None):
            raise ValueError("get_layer needs exactly one of name= or index=")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: index {index} is out of range; the model has "
                                 f"{len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}; its "
                         f"layers: {[layer.name for layer in self.layers]}")

    def _next_seed(self) -> int:
        return int(self._seeds.integers(0, 2**31 - 1))

    @property
    def built(self) -> bool:
        return self.params is not None

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"{what}: the model is not built yet; give an Input (or input_dim) "
                             "or call fit/predict first")

    # -- the pure function ----------------------------------------------------
    @property
    def needs_rng(self) -> bool:
        return any(layer.needs_rng for layer in self.layers)

    def static_config(self) -> tuple:
        return (self.input_shape, tuple(layer.static_config() for layer in self.layers))

    def apply(self, params, state, x, *, training: bool, rng=None, logits_activation=None):
        """Forward pass: (output, logits of the output activation or None, new state)."""
        new_state, logits = [], None
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            layer_rng = jax.random.fold_in(rng, i) if layer.needs_rng and rng is not None else None
            z, s = layer.call(params[i], state[i], x, training=training, rng=layer_rng)
            new_state.append(s)
            if i == last and logits_activation is not None and layer.activation == logits_activation:
                logits = z
            x = layer.activation_fn(z)
        return x, logits, new_state

    def layer_outputs(self, params, state, x) -> list[jax.Array]:
        """Every layer's output (after its activation) at inference, for diagnostics."""
        outs = []
        for layer, p, s in zip(self.layers, params, state):
            z, _ = layer.call(p, s, x, training=False, rng=None)
            x = layer.activation_fn(z)
            outs.append(x)
        return outs

    def penalty(self, params) -> jax.Array:
        """Regularization of the trainable layers (Keras 3 regularizes trainable weights)."""
        total = jnp.zeros((), jnp.float32)
        for layer, p in zip(self.layers, params):
            if layer.trainable:
                total = total + layer.penalty(p)
        return total

    def trainable_view(self, params: list[dict]) -> list[dict]:
        """The parameters the optimizer sees: a frozen layer's entry is empty."""
        return [p if layer.trainable else {} for layer, p in zip(self.layers, params)]

    def merge_trainable(self, params: list[dict], trained: list[dict]) -> list[dict]:
        """``params`` with the trainable layers' entries taken from ``trained``."""
        return [t if layer.trainable else p for layer, p, t in zip(self.layers, params, trained)]

    # -- weights --------------------------------------------------------------
    def weights_from(self, params, state) -> list[np.ndarray]:
        """Keras ``get_weights()`` order for the given parameter and state trees."""
        out = []
        for layer, p, s in zip(self.layers, params, state):
            out.extend(np.array(p[name] if name in p else s[name]) for name in layer.weight_order)
        return out

    def get_weights(self) -> list[np.ndarray]:
        self._require_built("get_weights")
        return self.weights_from(self.params, self.state)

    def set_weights(self, weights: Sequence[Any]) -> None:
        self._require_built("set_weights")
        weights = list(weights)
        expected = sum(len(layer.weight_order) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights expected {expected} arrays, got {len(weights)}")
        it = iter(weights)
        for layer, p, s in zip(self.layers, self.params, self.state):
            for name in layer.weight_order:
                target = p if name in p else s
                value = np.asarray(next(it), np.float32)
                if value.shape != target[name].shape:
                    raise ValueError(f"set_weights: {layer.name}/{name} needs shape "
                                     f"{tuple(target[name].shape)}, got {value.shape}")
                target[name] = jnp.asarray(value)

    def count_params(self) -> int:
        self._require_built("count_params")
        return int(sum(np.size(w) for w in self.get_weights()))

    def summary(self, print_fn=print) -> None:
        """Print layers, output shapes and parameter counts, as Keras does."""
        self._require_built("summary")
        rows = [("Layer (type)", "Output Shape", "Param #")]
        trainable = non_trainable = 0
        for layer, p, s in zip(self.layers, self.params, self.state):
            n_p = int(sum(np.size(v) for v in p.values()))
            n_s = int(sum(np.size(v) for v in s.values()))
            if layer.trainable:
                trainable, non_trainable = trainable + n_p, non_trainable + n_s
            else:
                non_trainable += n_p + n_s
            rows.append((f"{layer.name} ({type(layer).__name__})",
                         str((None,) + tuple(layer.output_shape)), f"{n_p + n_s:,}"))
        widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        rule = "─" * sum(widths)
        lines = [f'Model: "{self.name}"', rule]
        for i, row in enumerate(rows):
            lines.append("".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append(rule)
        lines += [rule, f" Total params: {trainable + non_trainable:,}",
                  f" Trainable params: {trainable:,}", f" Non-trainable params: {non_trainable:,}"]
        print_fn("\n".join(lines))

    def save(self, path) -> None:
        """Architecture, weights, optimizer state and compile settings in one file, in the
        format the extension names: ``.npz`` (hyperlab's own, bit for bit; no pickle),
        ``.keras`` (Keras 3) or ``.h5`` (legacy Keras HDF5), which real Keras loads.
        ``hyperlab.load_model(path)`` restores any of them."""
        from hyperlab.engine.model_files import save_model
        save_model(self, path)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """The weights (and the optimizer's variables) as a Keras 3 ``.weights.h5`` file."""
        from hyperlab.engine.keras_format import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        """Weights from a Keras ``.weights.h5``, ``.keras`` or legacy ``.h5`` file."""
        from hyperlab.engine.keras_format import load_weights
        load_weights(self, filepath)

    # -- compile / fit --------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None,
                metrics: Sequence[Any] | None = None) -> None:
        """Choose optimizer (name or instance), loss (Keras name) and metrics: Keras's names
        (``"accuracy"``/``"acc"``, ``"mse"``, ``"mae"``, ``"binary_accuracy"``, a loss name...)
        or the metric functions; each is logged under the name given."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        metrics = list(metrics or [])
        names = [losses_mod.metric_kind(m)[0] for m in metrics]  # validates them
        if len(set(names)) != len(names):
            raise ValueError(f"compile: metrics {names} name a metric twice")
        self._metrics = metrics
        self._wants_accuracy = any(losses_mod.metric_kind(m)[1] is None for m in metrics)
        self.accuracy = None
        self.metrics_names = ["loss"] + [n for n in names if losses_mod.metric_kind(n)[1]]
        self._opt_state = None

    def metric_specs(self) -> list[tuple[str, str]]:
        """``(log name, losses.METRICS kind)`` of the compiled metrics, in compile order;
        "accuracy" resolves from the labels (``accuracy`` kind), so it is left out until then."""
        metrics = self._metrics or (["accuracy"] if self._wants_accuracy else [])
        specs = []
        for m in metrics:
            name, kind = losses_mod.metric_kind(m)
            if kind is None:
                if self.accuracy is None:
                    continue
                kind = f"{self.accuracy}_accuracy"
            specs.append((name, kind))
        return specs

    def _check_compiled(self, what: str) -> None:
        if self.loss is None:
            raise ValueError(f"{what}: call model.compile(optimizer, loss, metrics) first")

    def _prepare(self, x: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        """Validate one (x, y) pair against the model; build the model if needed."""
        x = _as_features(x, f"{what} x")
        if not self.built:
            self.build(x.shape[1:])
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{what} x has feature shape {tuple(x.shape[1:])}, but the model "
                             f"expects {self.input_shape}")
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"{what}: x has {len(x)} samples but y has {len(y)}")
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
            raise ValueError(f"{what} y must be finite numbers")
        units = self.layers[-1].output_shape[-1]
        _check_labels(self.loss, y, units, what)
        if self._wants_accuracy:
            self.accuracy = losses_mod.accuracy_kind(y.shape, units)
        self.metrics_names = ["loss"] + [name for name, _ in self.metric_specs()]
        y = y.astype(np.int32) if self.loss == "sparse_categorical_crossentropy" else y.astype(np.float32)
        return x, y

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = 32, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Any] | None = None,
            validation_split: float = 0.0, validation_data: tuple | None = None,
            shuffle: bool = True, class_weight: dict | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, *, seed: int | None = None,
            diagnostics: bool | Sequence[str] = False,
            log_learning_rate: bool = False) -> History:
        """Train as Keras's ``fit`` does; returns the History.

        Keras's arguments and semantics: ``validation_split`` holds out the *last* fraction
        of ``x``/``y`` (before shuffling; ignored when ``validation_data`` is given, which may
        be ``(x, y)`` or ``(x, y, sample_weight)``); ``sample_weight`` (per sample) or
        ``class_weight`` (``{class: weight}``) scale each sample's loss (the batch loss is
        ``sum(w * loss) / batch_size``; metrics stay unweighted, as Keras's ``metrics``);
        ``initial_epoch`` starts the epoch count there (``epochs`` is the last epoch, not a
        count). ``verbose``: 0 silent, 1 (or "auto") Keras's progress bar, 2 one line per
        epoch. The epochs of a compiled chunk (up to ``CHUNK_EPOCHS``) train in one call and
        are printed when it returns; with a Python callback, epochs train and print one by one.

        hyperlab's own keywords: ``seed`` drives shuffling and any layer randomness (None:
        drawn from the model's seed); ``diagnostics=True`` adds, per epoch and layer,
        gradient and weight norms, update/weight ratios and activation statistics to the
        history (see ``hyperlab.engine.training``), as does ``diagnostics=["layers"]``;
        ``"sharpness"`` in the list logs ``sharpness`` per epoch, the top Hessian eigenvalue
        of the training loss on the first 1,000 training samples (inference mode; 20 power-
        iteration steps on Hessian-vector products, compiled into the loop: compare it with
        ``2 / learning_rate``); ``log_learning_rate=True`` logs the
        ``learning_rate`` key in every run (Keras logs it only with ReduceLROnPlateau or
        LearningRateScheduler).
        """
        self._check_compiled("fit")
        plan = _Callbacks(callbacks, verbose)
        x, y, sample_weight, validation_data = _split_validation(
            x, y, sample_weight, validation_data, validation_split)
        cohort = _cohort(self, x, y, batch_size=batch_size, epochs=epochs,
                         callbacks=[plan.compiled], validation_data=validation_data,
                         shuffle=shuffle, optimizers=[self.optimizer], seeds=None,
                         train_seeds=[self._next_seed() if seed is None else seed],
                         opt_states=[self._opt_state], verbose=verbose, diagnostics=diagnostics,
                         sample_weight=sample_weight, class_weight=class_weight,
                         initial_epoch=initial_epoch)
        return _Fit(self, cohort, plan, log_learning_rate or plan.logs_rate).run()

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: Any = None,
                 return_dict: bool = False):
        """Loss and metrics on (x, y), as Keras: the loss alone, ``[loss, *metrics]`` (compile
        order) or, with ``return_dict``, a dict. ``verbose`` 1 (or "auto") prints Keras's
        progress bar, 2 its line, over ``ceil(n / batch_size)`` steps (``batch_size`` None:
        32); the numbers are computed in one call."""
        self._check_compiled("evaluate")
        start = time.perf_counter()
        x, y = self._prepare(x, y, "evaluate")
        w = None if sample_weight is None else _sample_weights(sample_weight, len(x), "evaluate")
        loss, metrics = _evaluate(self, self.params, self.state, x, y, w)
        values = {"loss": float(loss)} | {name: float(v) for (name, _), v
                                          in zip(self.metric_specs(), metrics)}
        _print_steps(len(x), batch_size, time.perf_counter() - start, dict(sorted(values.items())),
                     verbose)
        if return_dict:
            return values
        return values["loss"] if len(values) == 1 else list(values.values())

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = "auto") -> np.ndarray:
        """The model's outputs for ``x`` (inference mode); ``verbose`` as ``evaluate``'s."""
        start = time.perf_counter()
        x = _as_features(x, "predict x")
        if not self.built:
            self.build(x.shape[1:])
        out, _, _ = _predict(self, self.params, self.state, jnp.asarray(x))
        out = np.asarray(out)
        _print_steps(len(x), batch_size, time.perf_counter() - start, {}, verbose)
        return out


def _verbosity(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got verbose={verbose!r}")
    return int(verbose)


def _print_steps(n: int, batch_size: int | None, seconds: float, logs: dict, verbose: Any) -> None:
    """evaluate/predict's Keras progress output over ``ceil(n / batch_size)`` steps."""
    verbose = _verbosity(verbose)
    if verbose:
        steps = math.ceil(n / (batch_size or 32))
        sys.stdout.write(progress_line(steps, seconds, logs, verbose))
        sys.stdout.flush()


def _evaluate(model: Sequential, params, state, x, y, w=None):
    specs = tuple(model.metric_specs())
    key = ("evaluate", model.static_config(), model.loss, specs, w is None)
    if key not in model._jitted:
        model._jitted[key] = jax.jit(lambda p, s, x, y, w: _eval_pure(model, specs, p, s, x, y, w))
    return model._jitted[key](params, state, jnp.asarray(x), jnp.asarray(y),
                              None if w is None else jnp.asarray(w))


def _eval_pure(model: Sequential, specs, params, state, x, y, w):
    out, logits, _ = model.apply(params, state, x, training=False,
                                 logits_activation=losses_mod.FROM_LOGITS.get(model.loss))
    per_sample = losses_mod.LOSSES[model.loss](y, out, logits)
    loss = jnp.mean(per_sample) if w is None else jnp.sum(per_sample * w) / per_sample.shape[0]
    metrics = [jnp.mean(losses_mod.METRICS[kind](y, out)) for _, kind in specs]
    return loss + model.penalty(params), metrics


def _predict(model: Sequential, params, state, x):
    key = ("predict", model.static_config())
    if key not in model._jitted:
        model._jitted[key] = jax.jit(lambda p, s, x: model.apply(p, s, x, training=False))
    return model._jitted[key](params, state, x)


def _as_features(x: Any, what: str) -> np.ndarray:
    if x is None:
        raise ValueError(f"{what} is missing")
    try:
        x = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be numeric: {err}") from None
    if x.ndim < 2:
        raise ValueError(f"{what} must have shape (samples, features...), got shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(f"{what} contains {bad} NaN/inf values; clean or impute them first")
    return x


def _check_labels(loss: str, y: np.ndarray, units: int, what: str) -> None:
    """Labels must fit the output layer and the loss."""
    if loss == "categorical_crossentropy":
        if y.ndim != 2 or y.shape[1] != units:
            raise ValueError(f"{what}: categorical_crossentropy needs one-hot labels of shape "
                             f"(samples, {units}), got {y.shape}; use hyperlab.datasets."
                             "to_categorical(y) or loss='sparse_categorical_crossentropy'")
    elif loss == "sparse_categorical_crossentropy":
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
            raise ValueError(f"{what}: sparse_categorical_crossentropy needs integer labels of "
                             f"shape (samples,), got {y.shape}")
        if np.any(y != np.round(y)) or y.min() < 0 or y.max() >= units:
            raise ValueError(f"{what}: labels must be integers in [0, {units - 1}] for an "
                             f"output layer of {units} units, got values in [{y.min()}, {y.max()}]")
    elif loss == "binary_crossentropy":
        if y.min() < 0 or y.max() > 1:
            raise ValueError(f"{what}: binary_crossentropy needs labels in [0, 1], got values "
                             f"in [{y.min()}, {y.max()}]")
        if np.size(y) != len(y) * units:
            raise ValueError(f"{what}: labels of shape {y.shape} do not fit an output layer "
                             f"of {units} units")
    elif np.size(y) != len(y) * units:
        raise ValueError(f"{what}: labels of shape {y.shape} do not fit an output layer of "
                         f"{units} units")


def _positive_int(value: Any, name: str) -> int:
    return int(check(value, Interval(1, integer=True), name, "fit"))


def _sample_weights(weights: Any, n: int, what: str) -> np.ndarray:
    try:
        w = np.asarray(weights, np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{what} sample_weight must be numbers, one per sample") from None
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,) or not np.all(np.isfinite(w)):
        raise ValueError(f"{what} sample_weight must be {n} finite numbers (one per sample), "
                         f"got shape {w.shape}")
    return w


def _class_weights(class_weight: Any, y: np.ndarray) -> np.ndarray:
    """Keras's ``class_weight_to_sample_weights``: each sample weighs its class's weight
    (1.0 for classes not listed); one-hot labels name their class by argmax."""
    if not hasattr(class_weight, "items"):
        raise ValueError("`class_weight` must be a dict-like mapping of class indices to "
                         f"weights. Received: class_weight={class_weight!r}")
    cleaned = {}
    for key, value in class_weight.items():
        try:
            cleaned[int(key)] = float(value)
        except (TypeError, ValueError):
            raise ValueError("`class_weight` must be a dictionary with integer keys "
                             f"representing class indices. Received an invalid key: {key!r} "
                             f"of type {type(key)}.") from None
    labels = y
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int32)
    return np.asarray([cleaned.get(int(c), 1.0) for c in labels], np.float32)


def _split_validation(x, y, sample_weight, validation_data, validation_split):
    """Keras's ``train_validation_split``: the last ``validation_split`` of the samples
    (before any shuffling) become the validation data, unless ``validation_data`` is given."""
    if not validation_split or validation_data is not None:
        return x, y, sample_weight, validation_data
    check(validation_split, Interval(0, 1, closed="neither"), "validation_split", "fit")
    if x is None or y is None:
        raise ValueError("validation_split needs x and y arrays")
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"Training data contains {n} samples, which is not sufficient to split "
                         "it into a validation and training set as specified by "
                         f"`validation_split={validation_split}`. Either provide more data, or "
                         "a different value for the `validation_split` argument.")
    val = (x[split_at:], y[split_at:])
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        val, sample_weight = val + (sample_weight[split_at:],), sample_weight[:split_at]
    return x[:split_at], y[:split_at], sample_weight, val


def _cohort(model: Sequential, x, y, *, batch_size, epochs, callbacks, validation_data, shuffle,
            optimizers, seeds, train_seeds, opt_states=None, initial_weights=None,
            verbose=0, diagnostics=False, sample_weight=None, class_weight=None,
            initial_epoch=0) -> Cohort:
    """Validate fit's arguments and build the cohort of runs."""
    x, y = model._prepare(x, y, "fit")
    epochs = _positive_int(epochs, "epochs")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
            or not 0 <= initial_epoch < epochs:
        raise ValueError(f"initial_epoch must be an int in [0, epochs), got "
                         f"initial_epoch={initial_epoch!r} with epochs={epochs}")
    if batch_size is None or (isinstance(batch_size, (int, np.integer)) and batch_size >= len(x)):
        batch_size = len(x)
    batch_size = _positive_int(batch_size, "batch_size")
    data = {"x": x, "y": y}
    if sample_weight is not None and class_weight is not None:
        raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
    if sample_weight is not None:
        data["w"] = _sample_weights(sample_weight, len(x), "fit")
    elif class_weight is not None:
        data["w"] = _class_weights(class_weight, y)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or "
                             "(x_val, y_val, val_sample_weight)")
        data["vx"], data["vy"] = model._prepare(*validation_data[:2], "validation_data")
        if len(validation_data) == 3 and validation_data[2] is not None:
            data["vw"] = _sample_weights(validation_data[2], len(data["vx"]), "validation_data")
    k = len(train_seeds)
    if seeds is None:
        weights = [(model.params, model.state)] * k if initial_weights is None else initial_weights
    else:
        weights = [model.init_weights(jax.random.PRNGKey(int(s))) for s in seeds]
    keys = [training_key(s) for s in train_seeds]
    cohort = Cohort(model, weights=weights, keys=keys, optimizers=optimizers,
                    callbacks=[list(c or []) for c in callbacks], epochs=[epochs] * k,
                    batch_size=batch_size, data=data, shuffle=bool(shuffle),
                    verbose=_verbosity(verbose), diagnostics=diagnostics,
                    initial_epoch=int(initial_epoch))
    for i, state in enumerate(opt_states or []):
        if state is not None:  # a model trained before continues with its optimizer state
            if jax.tree.structure(state) != jax.tree.structure(cohort.carries[i]["opt"]):
                raise ValueError("the trainable layers changed since the last fit; call "
                                 "model.compile(...) again after setting layer.trainable "
                                 "(as Keras requires)")
            opt = optimizers[i]
            if opt.learning_rate_settable:  # the rate as the user left it (Keras's variable)
                state = opt.set_learning_rate(state, opt._learning_rate)
            cohort.carries[i]["opt"] = state
    return cohort


def _keras_logs(cohort: Cohort, logs: dict[str, np.ndarray], k: int, j: int,
                learning_rate: bool) -> dict[str, float]:
    """Run ``k``'s logs of chunk epoch ``j`` as Keras's ``on_epoch_end`` gets them: keys
    sorted, then ``learning_rate`` (when logged), then hyperlab's diagnostics."""
    names = [n for n in cohort.log_names if n not in ("learning_rate", REDUCED, "sharpness")]
    out = {n: float(logs[n][k, j]) for n in sorted(names)}
    if learning_rate:
        out["learning_rate"] = float(logs["learning_rate"][k, j])
    out.update({n: float(v[k, j]) for n, v in logs.items() if "/" in n or n == "sharpness"})
    return out


class _Callbacks:
    """fit's callbacks sorted out: the compiled ones, and the Python ones in Keras's order
    (the given ones, then History, then ProgbarLogger when ``verbose != 0``)."""

    def __init__(self, callbacks: Sequence[Any] | None, verbose: Any) -> None:
        callbacks = list(callbacks or [])
        self.verbose = _verbosity(verbose)
        self.compiled = [cb for cb in callbacks if isinstance(cb, _COMPILED)]
        python = [cb for cb in callbacks if not isinstance(cb, _COMPILED)]
        for cb in python:
            if not isinstance(cb, Callback):
                raise ValueError(f"unsupported callback {cb!r}: pass instances of "
                                 "keras.callbacks.Callback subclasses")
            hooks = batch_hooks(cb)
            if hooks:
                raise ValueError(f"{type(cb).__name__} defines {hooks[0]}: batch-level and "
                                 "evaluate/predict hooks are not supported (each epoch trains "
                                 "as one compiled program); use on_epoch_begin/on_epoch_end")
        self.history = next((cb for cb in python if isinstance(cb, History)), None) or History()
        self.ordered = python + ([] if self.history in python else [self.history])
        progbar = next((cb for cb in python if isinstance(cb, ProgbarLogger)), None)
        if progbar is None and self.verbose:
            progbar = ProgbarLogger()
            self.ordered.append(progbar)
        self.progbar = progbar
        # only History and ProgbarLogger: the compiled chunks may run many epochs per call
        self.per_epoch = any(not isinstance(cb, (History, ProgbarLogger)) for cb in python)
        kinds = {type(cb): cb for cb in self.compiled}
        self.scheduler = kinds.get(LearningRateScheduler)
        self.plateau = kinds.get(ReduceLROnPlateau)
        self.early = kinds.get(EarlyStopping)
        self.logs_rate = self.scheduler is not None or self.plateau is not None


class _Fit:
    """One ``fit``: trains the cohort chunk by chunk (one epoch per chunk with Python
    callbacks) and calls the callbacks at Keras's points."""

    def __init__(self, model: Sequential, cohort: Cohort, plan: _Callbacks,
                 learning_rate: bool) -> None:
        self.model, self.cohort, self.plan, self.learning_rate = model, cohort, plan, learning_rate
        self.opt = model.optimizer
        self.rate = (float(np.float32(self.opt._learning_rate)) if self.opt.learning_rate_settable
                     else None)  # the rate the carry holds, as float32
        self.changes_rate = plan.scheduler is not None or plan.plateau is not None

    def run(self) -> History:
        model, cohort, plan = self.model, self.cohort, self.plan
        cohort.chunk_epochs = 1 if plan.per_epoch else CHUNK_EPOCHS
        program = cohort.program
        params = {"verbose": plan.verbose, "epochs": cohort.epochs[0],
                  "steps": -(-program.n_train // program.batch_size)}
        for cb in plan.ordered:
            cb.set_model(model)
            cb.set_params(params)
        scheduled = (plan.scheduler.values(cohort.epochs[0], self.rate, cohort.initial_epoch)
                     if plan.scheduler is not None and plan.scheduler.verbose else None)
        model.stop_training = False
        for cb in plan.ordered:
            cb.on_train_begin()
        logs: dict[str, float] | None = None
        while not cohort.done() and not model.stop_training:
            first = cohort.epochs_done()[0]
            if plan.per_epoch:
                self._begin(first, scheduled)
                self._push()
            start = time.perf_counter()
            chunk = cohort.advance()
            seconds = time.perf_counter() - start
            self._pull()
            ran = np.flatnonzero(chunk["ran"][0])
            for j in ran:
                epoch = first + int(j)
                if not plan.per_epoch:
                    self._begin(epoch, scheduled)
                logs = _keras_logs(cohort, chunk, 0, int(j), self.learning_rate)
                if plan.plateau is not None and plan.plateau.verbose and chunk[REDUCED][0, j] > 0:
                    new_lr = max(float(chunk["learning_rate"][0, j]) * plan.plateau.factor,
                                 plan.plateau.min_lr)
                    print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.")
                if j == ran[-1] and cohort.stopped(0):
                    model.stop_training = True  # EarlyStopping stopped the run
                if plan.progbar is not None:
                    plan.progbar.epoch_seconds = None if plan.per_epoch else seconds / len(ran)
                for cb in plan.ordered:
                    cb.on_epoch_end(epoch, logs)
        return self._end(logs)

    def _begin(self, epoch: int, scheduled: list[float] | None) -> None:
        if scheduled is not None:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                      f"{scheduled[epoch]}.")
        for cb in self.plan.ordered:
            cb.on_epoch_begin(epoch)

    def _push(self) -> None:
        """Before an epoch: the model's weights and the optimizer's rate, as callbacks left
        them, into the run's training state."""
        carry, model = self.cohort.carries[0], self.model
        carry["params"], carry["state"] = model.params, model.state
        if self.rate is not None and float(np.float32(self.opt._learning_rate)) != self.rate:
            carry["opt"] = self.opt.set_learning_rate(carry["opt"], self.opt._learning_rate)
            self.rate = float(np.float32(self.opt._learning_rate))

    def _pull(self) -> None:
        """After a chunk: the model and its optimizer show the run's current state."""
        carry, model = self.cohort.carries[0], self.model
        model.params, model.state, model._opt_state = carry["params"], carry["state"], carry["opt"]
        if self.rate is not None and self.changes_rate:
            rate = float(np.float32(carry["opt"]["learning_rate"]))
            if rate != self.rate:  # ReduceLROnPlateau / LearningRateScheduler changed it
                self.opt._learning_rate = self.rate = rate

    def _end(self, logs: dict[str, float] | None) -> History:
        model, cohort, plan = self.model, self.cohort, self.plan
        carry = cohort.carries[0]
        params, state = cohort.final_state()[0]
        model.params = jax.tree.map(jnp.asarray, params)
        model.state = jax.tree.map(jnp.asarray, state)
        model._opt_state = carry["opt"]
        stopped = cohort.epochs_done()[0] - 1 if cohort.stopped(0) else None
        restored = cohort._restored_epoch(carry)
        if plan.early is not None and plan.early.verbose:
            if stopped:
                print_msg(f"Epoch {stopped + 1}: early stopping")
            if restored is not None:
                print_msg("Restoring model weights from the end of the best epoch: "
                          f"{restored + 1}.")
        history = plan.history
        history.stopped_epoch, history.restored_epoch = stopped, restored
        history.weights = model.get_weights()
        history.model = model
        model.history = history
        for cb in plan.ordered:
            cb.on_train_end(logs)
        return history


def _histories(cohort: Cohort, learning_rate: bool) -> list[History]:
    """The cohort's histories with fit's keys (see ``_keras_logs``)."""
    out = []
    for h in cohort.histories():
        keep = sorted(k for k in h.history if k != "learning_rate" and "/" not in k)
        keep += ["learning_rate"] if learning_rate else []
        keep += [k for k in h.history if "/" in k]
        h.history = KerasLogs({k: h.history[k] for k in keep})
        out.append(h)
    return out


def _print_cohort(cohort: Cohort, logs: dict[str, np.ndarray], first: int, seconds: float,
                  learning_rate: bool) -> None:
    """train_many's output: per epoch, Keras's lines with the mean over the runs."""
    ran = logs["ran"]
    program = cohort.program
    steps = -(-program.n_train // program.batch_size)
    columns = np.flatnonzero(ran.any(axis=0))
    for j in columns:
        if max(cohort.epochs) > 1:
            print_msg(f"Epoch {first + j + 1}/{max(cohort.epochs)}")
        rows = np.flatnonzero(ran[:, j])
        line = {name: float(np.mean([_keras_logs(cohort, logs, k, j, learning_rate)[name]
                                     for k in rows]))
                for name in _keras_logs(cohort, logs, rows[0], j, learning_rate) if "/" not in name}
        sys.stdout.write(progress_line(steps, seconds / len(columns), line, cohort.verbose))
        sys.stdout.flush()


def train_many(model: Sequential, x: Any, y: Any, *, seeds: Sequence[int] | None = None,
               optimizers: Sequence[Any] | None = None,
               callbacks: Sequence[Sequence[Any]] | None = None,
               initial_weights: Sequence[Sequence[np.ndarray]] | None = None,
               batch_size: int | None = 32, epochs: int = 1, validation_data: tuple | None = None,
               shuffle: bool = True, verbose: int | str = 0,
               diagnostics: bool | Sequence[str] = False, log_learning_rate: bool = True) -> list[History]:
    """Train K runs of one compiled model together, as one vectorized program.

    Per-run lists (length K, or length 1 to share): ``seeds`` (each run's initial weights
    and shuffling come from its seed; without seeds every run starts from the model's
    current weights, or ``initial_weights``), ``optimizers`` (same class and structure,
    any hyperparameter values; default: the compiled optimizer) and ``callbacks``.
    Batch size and epochs are shared. Returns K Histories with ``fit``'s keys, and
    ``learning_rate`` unless ``log_learning_rate=False``; ``history.weights`` holds each run's final weights in Keras order. The model itself is
    left unchanged. Callbacks are the compiled ones (EarlyStopping, ReduceLROnPlateau,
    LearningRateScheduler); ``verbose`` prints Keras's lines with the mean over the runs,
    per chunk of epochs.

        histories = hyperlab.train_many(model, x, y, seeds=range(100), epochs=200,
                                        validation_data=(vx, vy))
    """
    model._check_compiled("train_many")
    lists = {"seeds": seeds, "optimizers": optimizers, "callbacks": callbacks,
             "initial_weights": initial_weights}
    sizes = {name: len(v) for name, v in lists.items() if v is not None and len(v) != 1}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"train_many: per-run lists must have one length (or length 1), got {sizes}")
    k = next(iter(sizes.values()), 1)
    for name, v in lists.items():
        if v is not None and len(v) == 0:
            raise ValueError(f"train_many: {name} is empty")
    spread = lambda v, default: [default] * k if v is None else (list(v) * k if len(v) == 1 else list(v))  # noqa: E731
    opts = [optimizers_mod.get(o) for o in spread(optimizers, model.optimizer)]
    seed_list = None if seeds is None else [int(s) for s in spread(seeds, 0)]
    train_seeds = seed_list or [model._next_seed() for _ in range(k)]
    weights = None
    if initial_weights is not None:
        if not model.built:
            model.build(np.asarray(x).shape[1:])
        weights = [_weights_tree(model, w) for w in spread(initial_weights, None)]
    cohort = _cohort(model, x, y, batch_size=batch_size, epochs=epochs,
                     callbacks=spread(callbacks, []), validation_data=validation_data,
                     shuffle=shuffle, optimizers=opts, seeds=seed_list, train_seeds=train_seeds,
                     initial_weights=weights, verbose=verbose, diagnostics=diagnostics)
    learning_rate = log_learning_rate or any(
        isinstance(cb, (LearningRateScheduler, ReduceLROnPlateau)) for cb in _all_callbacks(callbacks))
    while not cohort.done():
        first, start = min(cohort.epochs_done()), time.perf_counter()
        logs = cohort.advance()
        if cohort.verbose:
            _print_cohort(cohort, logs, first, time.perf_counter() - start, learning_rate)
    return _histories(cohort, learning_rate)


def _all_callbacks(callbacks: Sequence[Sequence[Any]] | None) -> list[Any]:
    """Every callback of train_many's per-run lists."""
    return [cb for run in (callbacks or []) for cb in (run or [])]


def _weights_tree(model: Sequential, weights: Sequence[np.ndarray]):
    """Parameter and state trees from a Keras-ordered weight list (model left unchanged)."""
    saved = (model.params, model.state)
    model.params = [dict(p) for p in saved[0]]
    model.state = [dict(s) for s in saved[1]]
    try:
        model.set_weights(weights)
        return model.params, model.state
    finally:
        model.params, model.state = saved


def clone_model(model: Sequential) -> Sequential:
    """A new model with the same architecture, names and fresh random weights (not
    compiled), as ``keras.models.clone_model``: new layers from their configs, sharing
    nothing with the original."""
    if not isinstance(model, Sequential):
        raise ValueError(f"clone_model takes a Sequential model, got {model!r}")
    clone = Sequential(name=model.name)
    if model.input_shape is not None:
        clone.add(InputSpec(model.input_shape))
    for layer in model.layers:
        new = type(layer).from_config(layer.get_config())
        if not clone.layers and model.input_shape is None:
            new.declared_input_shape = layer.declared_input_shape
        clone.add(new)
    return clone


def clear_session() -> None:
    """Keras's ``clear_session``: automatic names start again (``sequential``, ``dense``)."""
    layers_mod.reset_names()
