"""``Sequential``: the Keras-shaped model (compile / fit / evaluate / predict / weights),
and ``train_many``: K runs of one model trained together as one compiled program."""
from __future__ import annotations

import sys
import weakref
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab.engine import losses as losses_mod
from hyperlab.engine import optimizers as optimizers_mod
from hyperlab.engine.history import History
from hyperlab.engine.layers import InputSpec, Layer
from hyperlab.engine.training import LOG_KEYS, Cohort

_METRICS = ("accuracy", "acc")
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
    """

    def __init__(self, layers: Sequence[Layer | InputSpec] | None = None, name: str | None = None,
                 seed: int | None = None) -> None:
        self.name = name or "sequential"
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
        taken = {layer.name for layer in self.layers if layer.name is not None}
        counts: dict[str, int] = {}
        shape = self.input_shape
        for layer in self.layers:
            while layer.name is None:  # Keras-style automatic names, unique in the model
                n = counts.get(layer.kind, 0)
                counts[layer.kind] = n + 1
                name = layer.kind if n == 0 else f"{layer.kind}_{n}"
                if name not in taken:
                    layer.name = name
                    taken.add(name)
            shape = layer.build(shape)
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
        """Architecture, weights, optimizer state and compile settings in one file
        (npz + JSON; no pickle). ``hyperlab.load_model(path)`` restores it."""
        from hyperlab.engine.saving import save_model
        save_model(self, path)

    # -- compile / fit --------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: str | None = None,
                metrics: Sequence[str] | None = None) -> None:
        """Choose optimizer (name or instance), loss (Keras name) and metrics (["accuracy"])."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy'")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        metrics = list(metrics or [])
        for m in metrics:
            if m not in _METRICS:
                raise ValueError(f"unknown metric {m!r}; valid metrics: {list(_METRICS)}")
        self._wants_accuracy = bool(metrics)
        self.accuracy = None
        self._opt_state = None

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
        self.metrics_names = ["loss"] + (["accuracy"] if self.accuracy else [])
        y = y.astype(np.int32) if self.loss == "sparse_categorical_crossentropy" else y.astype(np.float32)
        return x, y

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = 32, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Any] | None = None,
            validation_data: tuple | None = None, shuffle: bool = True,
            seed: int | None = None, diagnostics: bool = False) -> History:
        """Train as Keras does; returns a History. ``seed`` drives shuffling and any layer
        randomness (None: drawn from the model's seed). ``diagnostics=True`` adds, per epoch
        and layer, gradient and weight norms, update/weight ratios and activation statistics
        to the history (see ``hyperlab.engine.training.DIAGNOSTICS``)."""
        self._check_compiled("fit")
        cohort = _cohort(self, x, y, batch_size=batch_size, epochs=epochs, callbacks=[callbacks],
                         validation_data=validation_data, shuffle=shuffle,
                         optimizers=[self.optimizer], seeds=None,
                         train_seeds=[self._next_seed() if seed is None else seed],
                         opt_states=[self._opt_state], verbose=verbose, diagnostics=diagnostics)
        history = cohort_histories(cohort, verbose, label="fit")[0]
        params, state = cohort.final_state()[0]
        self.params = jax.tree.map(jnp.asarray, params)
        self.state = jax.tree.map(jnp.asarray, state)
        self._opt_state = cohort.carries[0]["opt"]
        history.model = self
        return history

    def evaluate(self, x: Any, y: Any, batch_size: int | None = None, verbose: int | str = 0,
                 return_dict: bool = False):
        """Loss (and accuracy) on (x, y): a float, [loss, accuracy] or a dict."""
        self._check_compiled("evaluate")
        x, y = self._prepare(x, y, "evaluate")
        loss, acc = _evaluate(self, self.params, self.state, x, y)
        values = {"loss": float(loss)} | ({"accuracy": float(acc)} if self.accuracy else {})
        if return_dict:
            return values
        return values["loss"] if len(values) == 1 else list(values.values())

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0) -> np.ndarray:
        x = _as_features(x, "predict x")
        if not self.built:
            self.build(x.shape[1:])
        out, _, _ = _predict(self, self.params, self.state, jnp.asarray(x))
        return np.asarray(out)


def _evaluate(model: Sequential, params, state, x, y):
    key = ("evaluate", model.static_config(), model.loss, model.accuracy)
    if key not in model._jitted:
        model._jitted[key] = jax.jit(lambda p, s, x, y: _eval_pure(model, p, s, x, y))
    return model._jitted[key](params, state, jnp.asarray(x), jnp.asarray(y))


def _eval_pure(model: Sequential, params, state, x, y):
    out, logits, _ = model.apply(params, state, x, training=False,
                                 logits_activation=losses_mod.FROM_LOGITS.get(model.loss))
    loss = jnp.mean(losses_mod.LOSSES[model.loss](y, out, logits)) + model.penalty(params)
    acc = jnp.mean(losses_mod.correct(model.accuracy, y, out)) if model.accuracy else jnp.nan
    return loss, acc


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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {name}={value!r}")
    return int(value)


def _cohort(model: Sequential, x, y, *, batch_size, epochs, callbacks, validation_data, shuffle,
            optimizers, seeds, train_seeds, opt_states=None, initial_weights=None,
            verbose=0, diagnostics=False) -> Cohort:
    """Validate fit's arguments and build the cohort of runs."""
    x, y = model._prepare(x, y, "fit")
    epochs = _positive_int(epochs, "epochs")
    if batch_size is None or (isinstance(batch_size, (int, np.integer)) and batch_size >= len(x)):
        batch_size = len(x)
    batch_size = _positive_int(batch_size, "batch_size")
    data = {"x": x, "y": y}
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a tuple (x_val, y_val)")
        data["vx"], data["vy"] = model._prepare(*validation_data, "validation_data")
    k = len(train_seeds)
    if seeds is None:
        weights = [(model.params, model.state)] * k if initial_weights is None else initial_weights
    else:
        weights = [model.init_weights(jax.random.PRNGKey(int(s))) for s in seeds]
    keys = [jax.random.fold_in(jax.random.PRNGKey(int(s)), 1) for s in train_seeds]
    cohort = Cohort(model, weights=weights, keys=keys, optimizers=optimizers,
                    callbacks=[list(c or []) for c in callbacks], epochs=[epochs] * k,
                    batch_size=batch_size, data=data, shuffle=bool(shuffle),
                    verbose=1 if verbose == "auto" else int(verbose), diagnostics=diagnostics)
    for i, state in enumerate(opt_states or []):
        if state is not None:  # a model trained before continues with its optimizer state
            if jax.tree.structure(state) != jax.tree.structure(cohort.carries[i]["opt"]):
                raise ValueError("the trainable layers changed since the last fit; call "
                                 "model.compile(...) again after setting layer.trainable "
                                 "(as Keras requires)")
            cohort.carries[i]["opt"] = state
    return cohort


def _format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def cohort_histories(cohort: Cohort, verbose: int | str, label: str) -> list[History]:
    """Train a cohort to its end with Keras-like progress output; return its histories."""
    verbose = 1 if verbose == "auto" else int(verbose)
    total = max(cohort.epochs)
    bar = None
    if verbose == 1:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc=label, unit="epoch", file=sys.stderr, leave=True)

    printed = 0

    def progress(c: Cohort, logs: dict[str, np.ndarray]) -> None:
        nonlocal printed
        ran = logs["ran"]  # (runs, epochs of the chunk)
        names = [k for k in logs if k in LOG_KEYS and k != "ran"]  # not diagnostics
        for j in np.flatnonzero(ran.any(axis=0)):
            printed += 1
            if verbose == 2:  # Keras prints one line per epoch (here: the mean over runs)
                line = {n: float(np.mean(logs[n][ran[:, j], j])) for n in names}
                print(f"Epoch {printed}/{total} - {_format_logs(line)}")
        if bar is not None:
            bar.update(printed - bar.n)
            rows = np.flatnonzero(ran.any(axis=1))   # the runs that trained in this chunk
            last_epoch = ran.shape[1] - 1 - np.argmax(ran[rows, ::-1], axis=1)
            last = {n: float(np.nanmean(logs[n][rows, last_epoch]))
                    for n in names if n != "learning_rate"}
            bar.set_postfix({k: f"{v:.4f}" for k, v in last.items()})

    cohort.fit(progress if verbose else None)
    if bar is not None:
        bar.close()
    return cohort.histories()


def train_many(model: Sequential, x: Any, y: Any, *, seeds: Sequence[int] | None = None,
               optimizers: Sequence[Any] | None = None,
               callbacks: Sequence[Sequence[Any]] | None = None,
               initial_weights: Sequence[Sequence[np.ndarray]] | None = None,
               batch_size: int | None = 32, epochs: int = 1, validation_data: tuple | None = None,
               shuffle: bool = True, verbose: int | str = 0,
               diagnostics: bool = False) -> list[History]:
    """Train K runs of one compiled model together, as one vectorized program.

    Per-run lists (length K, or length 1 to share): ``seeds`` (each run's initial weights
    and shuffling come from its seed; without seeds every run starts from the model's
    current weights, or ``initial_weights``), ``optimizers`` (same class and structure,
    any hyperparameter values; default: the compiled optimizer) and ``callbacks``.
    Batch size and epochs are shared. Returns K Histories; ``history.weights`` holds each
    run's final weights in Keras order. The model itself is left unchanged.

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
    return cohort_histories(cohort, verbose, label=f"{k} runs")


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
