"""The training loop: one compiled XLA program per (architecture, optimizer structure,
batch size, data shapes), shared by every run of that shape.

Read it top to bottom: ``_train_step`` is one Keras mini-batch update, ``_epoch`` one Keras
epoch (shuffle, the full batches under ``lax.scan``, the last smaller batch, validation,
callbacks), ``_chunk`` a ``lax.while_loop`` over up to ``CHUNK_EPOCHS`` epochs of one run,
and ``Cohort`` drives its K runs through that one program from Python, a *chunk* of epochs
at a time (for progress bars and resumable studies). Everything that differs between runs
only in *value* — seeds, initial weights, optimizer and schedule hyperparameters, callback
arguments, the number of epochs, how many epochs a chunk trains — is an input of the
program, not a constant in it, so one compilation serves them all.

Every epoch of every run is computed by the same executable from the same inputs, so a
run's numbers depend only on its configuration and seed: never on which runs share its
cohort, how many there are, or how its epochs are cut into chunks (``vmap`` over runs
would not give that: XLA rounds a batched program's lanes differently for different K).
A run stops when its epochs are done or EarlyStopping stops it; nothing is computed for it
after that.
"""
from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from hyperlab.engine import losses as losses_mod
from hyperlab.engine.callbacks import EarlyStopping, LearningRateScheduler, ReduceLROnPlateau
from hyperlab.engine.history import History

Tree = Any
REDUCED = "lr_reduced"  # with ReduceLROnPlateau: 1.0 where it reduced the rate after the epoch
CHUNK_EPOCHS = 25  # most epochs per compiled call: progress granularity vs. dispatch overhead
# fit(diagnostics=True): per epoch, "<name>/<layer>" in the history. Weight statistics for
# layers with parameters, activation statistics for every layer.
WEIGHT_DIAGNOSTICS = {
    "grad_norm": "L2 norm of the layer's loss gradient, mean over the epoch's steps",
    "update_ratio": "||update|| / ||weights before it||, mean over the epoch's steps",
    "weight_norm": "L2 norm of the layer's weights at the end of the epoch",
}
ACTIVATION_DIAGNOSTICS = {
    "activation_mean": "mean of the layer's output on the probe batch (inference mode)",
    "activation_std": "standard deviation of the layer's output on the probe batch",
    "dead_fraction": "fraction of output units that are exactly 0 for every probe sample",
}
PROBE_SAMPLES = 1000  # the first training samples (unshuffled) probe the activations
# fit(diagnostics=[...]): "layers" is the per-layer set above (what True asks for);
# "sharpness" logs, per epoch, the top Hessian eigenvalue of the training loss on the probe
# samples, by SHARPNESS_ITERATIONS power-iteration steps on Hessian-vector products.
DIAGNOSTICS = ("layers", "sharpness")
SHARPNESS_ITERATIONS = 20


def enable_compilation_cache() -> None:
    """Use JAX's persistent compilation cache so a second process compiles nothing.

    Directory: ``$HYPERLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/hyperlab/jax``, else
    ``~/.cache/hyperlab/jax``. Left alone if the user configured a cache directory.
    """
    if jax.config.jax_compilation_cache_dir:
        return
    root = os.environ.get("HYPERLAB_CACHE_DIR")
    if root is None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(base) / "hyperlab" / "jax")
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # an unwritable cache only costs compile time
    jax.config.update("jax_compilation_cache_dir", root)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@dataclass(frozen=True, eq=False)
class Program:
    """The static description of a compiled training program.

    Equality (and so the compilation cache) uses structure only: two programs whose
    models, optimizers and callbacks differ only in values are equal.
    """

    model: Any                      # a built Sequential
    loss: str
    metrics: tuple                  # ((log name, losses.METRICS kind), ...)
    optimizer: Any                  # hyperlab.optimizers.Optimizer
    batch_size: int
    n_train: int
    n_val: int                      # 0: no validation data
    shuffle: bool
    lr_table: bool                  # a LearningRateScheduler sets the rate each epoch
    plateau: ReduceLROnPlateau | None = None
    early: EarlyStopping | None = None
    diagnostics: bool = False       # the per-layer diagnostics
    weighted: bool = False          # sample weights scale the training loss (data["w"])
    val_weighted: bool = False      # ... and the validation loss (data["vw"])
    sharpness: bool = False         # log the top Hessian eigenvalue per epoch
    key: tuple = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (
            self.model.static_config(), self.loss, self.metrics, self.optimizer.static_config(),
            self.batch_size, self.n_train, self.n_val, self.shuffle, self.lr_table,
            None if self.plateau is None else self.plateau.static_config(),
            None if self.early is None else self.early.static_config(), self.diagnostics,
            self.weighted, self.val_weighted, self.sharpness))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Program) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def log_names(self) -> list[str]:
        """The per-epoch scalar logs, in order: loss, metrics, their ``val_*``, the rate."""
        names = ["loss"] + [name for name, _ in self.metrics]
        names += [f"val_{k}" for k in names] if self.n_val else []
        return (names + ["learning_rate"] + ([REDUCED] if self.plateau is not None else [])
                + (["sharpness"] if self.sharpness else []))

    @property
    def logits_activation(self) -> str | None:
        return losses_mod.FROM_LOGITS.get(self.loss)

    @property
    def weighted_layers(self) -> tuple[int, ...]:
        """Indices of the layers that have parameters (their weight diagnostics)."""
        return tuple(i for i, params in enumerate(self.model.params) if params)


# ---------------------------------------------------------------------------- one run
def _forward_loss(p: Program, params, state, x, y, w, *, training: bool, rng):
    """Loss as Keras reports it (mean over the batch, or ``sum(w * loss) / batch`` with
    sample weights ``w``, + regularization) and the predictions."""
    out, logits, state = p.model.apply(params, state, x, training=training, rng=rng,
                                       logits_activation=p.logits_activation)
    per_sample = losses_mod.LOSSES[p.loss](y, out, logits)
    if w is None:
        loss = jnp.mean(per_sample)
    else:
        loss = jnp.sum(per_sample * w) / per_sample.shape[0]
    return loss + p.model.penalty(params), (out, state)


def _metric_sums(p: Program, y, out) -> list:
    """Each metric's sum over the batch's samples (Keras's metrics are unweighted)."""
    return [jnp.sum(losses_mod.METRICS[kind](y, out)) for _, kind in p.metrics]


def _norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(a)) for a in jax.tree.leaves(tree)))


def _train_step(p: Program, carry, batch):
    """One Keras train_step: gradient of the batch loss, one optimizer update of the
    trainable layers (a frozen layer's entry in the optimizer's view is empty)."""
    params, state, opt, sums, diag = carry
    x, y, w, rng = batch
    grad_fn = jax.value_and_grad(functools.partial(_forward_loss, p, training=True), has_aux=True)
    (loss, (out, state)), grads = grad_fn(params, state, x, y, w, rng=rng)
    model = p.model
    trained, opt = p.optimizer.apply(model.trainable_view(params), model.trainable_view(grads), opt)
    new_params = model.merge_trainable(params, trained)
    n = x.shape[0]
    sums = sums + jnp.stack([loss * n] + _metric_sums(p, y, out))
    if p.diagnostics:
        grad_norms = [_norm(grads[i]) for i in p.weighted_layers]
        ratios = [_norm(jax.tree.map(jnp.subtract, new_params[i], params[i]))
                  / jnp.maximum(_norm(params[i]), 1e-12) for i in p.weighted_layers]
        diag = diag + jnp.stack([jnp.stack(grad_norms), jnp.stack(ratios)])
    return (new_params, state, opt, sums, diag), None


def _diagnostics(p: Program, params, state, x, sums, n_steps: int) -> dict[str, jax.Array]:
    """The epoch's diagnostics as arrays over layers (named by ``Cohort.advance``)."""
    outs = p.model.layer_outputs(params, state, x[:PROBE_SAMPLES])
    flat = [o.reshape(o.shape[0], -1) for o in outs]
    return {
        "diag/grad_norm": sums[0] / n_steps,
        "diag/update_ratio": sums[1] / n_steps,
        "diag/weight_norm": jnp.stack([_norm(params[i]) for i in p.weighted_layers]),
        "diag/activation_mean": jnp.stack([jnp.mean(o) for o in flat]),
        "diag/activation_std": jnp.stack([jnp.std(o) for o in flat]),
        "diag/dead_fraction": jnp.stack([jnp.mean(jnp.all(o == 0, axis=0)) for o in flat]),
    }


def diagnostic_names(diagnostics: Any) -> tuple[str, ...]:
    """fit's ``diagnostics`` as the names of :data:`DIAGNOSTICS` it asks for: True is
    ``("layers",)``, False or None nothing, else a list of names."""
    if diagnostics is None or isinstance(diagnostics, bool):
        return ("layers",) if diagnostics else ()
    names = [diagnostics] if isinstance(diagnostics, str) else list(diagnostics)
    unknown = [n for n in names if n not in DIAGNOSTICS]
    if unknown:
        raise ValueError(f"diagnostics: unknown name(s) {unknown}; expected True, False or a "
                         f"list of {', '.join(map(repr, DIAGNOSTICS))}")
    return tuple(n for n in DIAGNOSTICS if n in names)


def _sharpness(p: Program, params, state, x, y) -> jax.Array:
    """The top eigenvalue of the Hessian of the loss (as ``evaluate`` reports it, inference
    mode) on ``x``, ``y`` with respect to the trainable weights: the Rayleigh quotient
    after ``SHARPNESS_ITERATIONS`` power-iteration steps from a fixed random start; when
    that eigenvalue (the largest in magnitude) is negative, again on the Hessian shifted
    by it, whose largest eigenvector is the top one."""
    model = p.model
    trained = model.trainable_view(params)
    flat, unravel = jax.flatten_util.ravel_pytree(trained)

    def loss(t):
        full = model.merge_trainable(params, t)
        return _forward_loss(p, full, state, x, y, None, training=False, rng=None)[0]

    grad = jax.grad(loss)

    def hvp(v):
        return jax.flatten_util.ravel_pytree(jax.jvp(grad, (trained,), (unravel(v),))[1])[0]

    start = jax.random.normal(jax.random.PRNGKey(0), flat.shape, flat.dtype)
    start = start / jnp.linalg.norm(start)

    def power(shift):
        def step(_, v):
            w = hvp(v) - shift * v
            return w / jnp.maximum(jnp.linalg.norm(w), 1e-30)
        v = jax.lax.fori_loop(0, SHARPNESS_ITERATIONS, step, start)
        return jnp.vdot(v, hvp(v))

    top = power(jnp.zeros((), flat.dtype))
    return jax.lax.cond(top < 0, power, lambda t: t, top)


def _epoch(p: Program, carry, run, data):
    """One Keras epoch of one run; returns the new carry and the epoch's logs."""
    epoch = carry["epoch"]
    opt = carry["opt"]
    if p.lr_table:  # LearningRateScheduler.on_epoch_begin
        table = run["lr_table"]
        opt = p.optimizer.set_learning_rate(opt, table[jnp.minimum(epoch, table.shape[0] - 1)])
    rate = p.optimizer.learning_rate_at(opt)

    key = jax.random.fold_in(carry["key"], epoch)
    x, y, w = data["x"], data["y"], data.get("w")
    if p.shuffle:
        perm = jax.random.permutation(jax.random.fold_in(key, 0), p.n_train)
        x, y = x[perm], y[perm]
        w = None if w is None else w[perm]
    bs = min(p.batch_size, p.n_train)
    n_full, rest = divmod(p.n_train, bs)
    step_keys = jax.random.split(jax.random.fold_in(key, 1), n_full + 1)
    if not p.model.needs_rng:
        step_keys = step_keys[:, :0]  # no randomness needed: carry an empty key array
    rng = (lambda k: k) if p.model.needs_rng else (lambda k: None)
    blocks = lambda a: a[: n_full * bs].reshape((n_full, bs) + a.shape[1:])  # noqa: E731
    batches = (blocks(x), blocks(y), None if w is None else blocks(w), step_keys[:n_full])
    step = functools.partial(_train_step, p)
    diag = jnp.zeros((2, len(p.weighted_layers)) if p.diagnostics else (0,), jnp.float32)
    sums = jnp.zeros(1 + len(p.metrics), jnp.float32)
    inner = (carry["params"], carry["state"], opt, sums, diag)
    inner, _ = jax.lax.scan(lambda c, b: step(c, (b[0], b[1], b[2], rng(b[3]))), inner, batches)
    if rest:  # the epoch's last, smaller batch, trained as Keras trains it
        inner, _ = step(inner, (x[n_full * bs:], y[n_full * bs:],
                                None if w is None else w[n_full * bs:], rng(step_keys[n_full])))
    params, state, opt, sums, diag = inner

    logs = {"loss": sums[0] / p.n_train}
    logs.update({name: sums[1 + i] / p.n_train for i, (name, _) in enumerate(p.metrics)})
    if p.n_val:
        val_loss, (val_out, _) = _forward_loss(p, params, state, data["vx"], data["vy"],
                                               data.get("vw"), training=False, rng=None)
        logs["val_loss"] = val_loss
        for (name, _), total in zip(p.metrics, _metric_sums(p, data["vy"], val_out)):
            logs[f"val_{name}"] = total / p.n_val
    logs["learning_rate"] = rate
    if p.diagnostics:
        logs.update(_diagnostics(p, params, state, data["x"], diag, n_full + bool(rest)))
    if p.sharpness:
        logs["sharpness"] = _sharpness(p, params, state, data["x"][:PROBE_SAMPLES],
                                       data["y"][:PROBE_SAMPLES])

    new = dict(carry, params=params, state=state, opt=opt, epoch=epoch + 1)
    if p.plateau is not None:
        cs, lr = p.plateau.update(carry["plateau"], run["plateau"], logs[p.plateau.monitor],
                                  opt["learning_rate"])
        new["plateau"], new["opt"] = cs, p.optimizer.set_learning_rate(opt, lr)
        logs[REDUCED] = (lr != opt["learning_rate"]).astype(jnp.float32)
    if p.early is not None:
        cs, stop, take = p.early.update(carry["early"], run["early"], logs[p.early.monitor], epoch)
        new["early"], new["stopped"] = cs, stop
        if p.early.restore_best_weights:
            new["best"] = jax.tree.map(lambda a, b: jnp.where(take, a, b),
                                       {"params": params, "state": state}, carry["best"])
    return new, logs


def _chunk(p: Program, carry, run, data, n_epochs):
    """Up to ``n_epochs`` (at most CHUNK_EPOCHS) epochs of one run: fewer when its epochs
    are done or EarlyStopping stops it. Returns the carry, the logs of the epochs that ran
    (CHUNK_EPOCHS entries, NaN after the last) and how many ran."""
    def going(loop):
        i, c, _ = loop
        return (i < n_epochs) & (c["epoch"] < run["epochs"]) & ~c["stopped"]

    def one_epoch(loop):
        i, c, logs = loop
        c, out = _epoch(p, c, run, data)
        return i + 1, c, jax.tree.map(lambda buf, v: buf.at[i].set(v), logs, out)

    shapes = jax.eval_shape(lambda c: _epoch(p, c, run, data)[1], carry)
    logs = jax.tree.map(lambda s: jnp.full((CHUNK_EPOCHS,) + s.shape, jnp.nan, s.dtype), shapes)
    ran, carry, logs = jax.lax.while_loop(going, one_epoch, (jnp.int32(0), carry, logs))
    # one array for the epochs' scalar logs and one for the status: few transfers per call
    scalars = jnp.stack([logs[name] for name in p.log_names], axis=-1)
    diagnostics = {k: v for k, v in logs.items() if k.startswith("diag/")}
    status = jnp.stack([ran, carry["epoch"], carry["stopped"].astype(jnp.int32)])
    return carry, scalars, diagnostics, status


@functools.lru_cache(maxsize=64)
def _compiled_chunk(p: Program):
    enable_compilation_cache()
    return jax.jit(functools.partial(_chunk, p))


_EXECUTABLES: OrderedDict[tuple, Any] = OrderedDict()  # least recently used first
_EXECUTABLES_MAX = 64
_EXECUTABLES_LOCK = threading.Lock()


def _executable(p: Program, carry, run, data):
    """The compiled chunk program for these argument shapes (compiled once per process; the
    ``_EXECUTABLES_MAX`` most recently used are kept)."""
    shapes = jax.tree.map(lambda a: (a.shape, str(a.dtype)), (carry, run, data))
    key = (p, str(jax.tree.structure(shapes)), tuple(jax.tree.leaves(shapes)))
    with _EXECUTABLES_LOCK:
        if key in _EXECUTABLES:
            _EXECUTABLES.move_to_end(key)
            return _EXECUTABLES[key]
    compiled = _compiled_chunk(p).lower(carry, run, data, jnp.int32(0)).compile()
    with _EXECUTABLES_LOCK:
        compiled = _EXECUTABLES.setdefault(key, compiled)
        while len(_EXECUTABLES) > _EXECUTABLES_MAX:
            _EXECUTABLES.popitem(last=False)
        return compiled


@functools.lru_cache(maxsize=64)
def _compiled_finish(p: Program):
    """Keras's end of ``fit``: the optimizer finalizes the weights (EMA), then
    EarlyStopping(restore_best_weights) restores the best epoch's weights."""
    def finish(carry):
        model, params = p.model, carry["params"]
        params = model.merge_trainable(params, p.optimizer.finalize_variable_values(
            model.trainable_view(params), carry["opt"]))
        if p.early is None or not p.early.restore_best_weights:
            return params, carry["state"]
        has = carry["early"]["has_weights"]
        pick = lambda best, cur: jnp.where(has, best, cur)  # noqa: E731
        return (jax.tree.map(pick, carry["best"]["params"], params),
                jax.tree.map(pick, carry["best"]["state"], carry["state"]))
    return jax.jit(finish)


# ---------------------------------------------------------------------------- K runs
_parallel_runs = 0          # 0: one per core this process may use
_pool: tuple[int, ThreadPoolExecutor] | None = None


def set_parallel_runs(n: int) -> None:
    """How many runs of a cohort train at the same time, each in a thread of its own (XLA
    releases the GIL while it runs). Default: one per core this process may use; a worker
    process that shares the machine sets its share. Results do not depend on it."""
    global _parallel_runs
    _parallel_runs = max(1, int(n))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:    # not Linux
        return os.cpu_count() or 1


def _map_runs(fn, items: list[int]) -> list:
    global _pool
    size = _parallel_runs or _cores()
    if size == 1 or len(items) <= 1:
        return [fn(i) for i in items]
    if _pool is None or _pool[0] != size:
        _pool = (size, ThreadPoolExecutor(size, thread_name_prefix="hyperlab-run"))
    return list(_pool[1].map(fn, items))


def training_key(seed: int) -> jax.Array:
    """The key of a run's batch order and dropout masks for ``seed``: ``PRNGKey(seed)``
    folded with 1 (its initial weights draw from ``PRNGKey(seed)`` itself)."""
    return jax.random.fold_in(jax.random.PRNGKey(int(seed)), 1)


class Cohort:
    """K runs of one architecture and batch size, trained by one compiled program.

    Runs may differ in initial weights, training seed, optimizer hyperparameter values
    (same optimizer class and structure), callback values and number of epochs.
    ``advance()`` trains one chunk of epochs of every run, ``fit()`` trains to the end,
    ``histories()`` reads the results (each History carries its run's final weights). Each
    run's whole training state is its entry of ``carries`` (a pytree), so a study can
    checkpoint and restore it.
    """

    def __init__(self, model, *, weights: Sequence[tuple[Tree, Tree]], keys: Sequence[jax.Array],
                 optimizers: Sequence[Any], callbacks: Sequence[Sequence[Any]],
                 epochs: Sequence[int], batch_size: int, data: dict[str, np.ndarray],
                 shuffle: bool, verbose: int = 0,
                 chunk_epochs: int = CHUNK_EPOCHS, diagnostics: Any = False,
                 initial_epoch: int = 0) -> None:
        self.model, self.epochs, self.verbose = model, list(epochs), verbose
        self.optimizers = list(optimizers)
        first = _split_callbacks(callbacks[0])
        for opt in self.optimizers[1:]:
            if opt.static_config() != self.optimizers[0].static_config():
                raise ValueError("runs trained together need optimizers of the same class and "
                                 f"structure; got {self.optimizers[0].static_config()} and "
                                 f"{opt.static_config()}")
        split = [_split_callbacks(cbs) for cbs in callbacks]
        for s in split[1:]:
            if _callback_structure(s) != _callback_structure(first):
                raise ValueError("runs trained together need the same kinds of callbacks "
                                 "(values may differ)")
        n_train, n_val = len(data["x"]), (len(data["vx"]) if "vx" in data else 0)
        wanted = diagnostic_names(diagnostics)
        scheduler, plateau, early = first
        metrics = tuple(model.metric_specs())
        logged = ["loss"] + [name for name, _ in metrics]
        logged += ([f"val_{k}" for k in logged] if n_val else []) + ["learning_rate"]
        for cb in (plateau, early):
            if cb is not None and cb.monitor not in logged:
                raise ValueError(f"{type(cb).__name__} monitor={cb.monitor!r} is not logged in "
                                 f"this run; available: {logged}")
        if (scheduler or plateau) and not self.optimizers[0].learning_rate_settable:
            raise ValueError("LearningRateScheduler and ReduceLROnPlateau set the optimizer's "
                             "learning rate, which is not settable when learning_rate is a "
                             "schedule (as in Keras); pass a float learning_rate")
        self.program = Program(model=model, loss=model.loss, metrics=metrics,
                               optimizer=self.optimizers[0], batch_size=batch_size,
                               n_train=n_train, n_val=n_val, shuffle=shuffle,
                               lr_table=scheduler is not None, plateau=plateau, early=early,
                               diagnostics="layers" in wanted, weighted="w" in data,
                               val_weighted="vw" in data, sharpness="sharpness" in wanted)
        self.log_names = self.program.log_names
        self.initial_epoch = int(initial_epoch)
        self.chunk_epochs = int(chunk_epochs)
        max_epochs = max(self.epochs)
        self.run_inputs: list[Tree] = []
        self.carries: list[Tree] = []
        for (params, state), key, opt, (sch, pla, ear), n_epochs in zip(
                weights, keys, self.optimizers, split, self.epochs):
            opt_state = opt.init(model.trainable_view(params))
            run = {"epochs": jnp.int32(n_epochs)}
            carry = {"params": params, "state": state, "opt": opt_state, "key": key,
                     "epoch": jnp.int32(self.initial_epoch), "stopped": jnp.bool_(False)}
            if sch is not None:
                run["lr_table"] = jnp.asarray(sch.table(
                    max_epochs, float(opt_state["learning_rate"]), start=self.initial_epoch))
            if pla is not None:
                run["plateau"], carry["plateau"] = _f32(pla.hyperparams()), pla.init_state()
            if ear is not None:
                run["early"], carry["early"] = _f32(ear.hyperparams()), ear.init_state()
                if ear.restore_best_weights:
                    carry["best"] = {"params": params, "state": state}
            self.run_inputs.append(run)
            self.carries.append(carry)
        self.data = {k: jnp.asarray(v) for k, v in data.items()}
        self.logs: list[dict[str, np.ndarray]] = []
        self._executable = None
        self._known: dict[int, tuple[Tree, int, bool]] = {}

    @property
    def size(self) -> int:
        return len(self.epochs)

    def _status(self, k: int) -> tuple[int, bool]:
        """Run ``k``'s (epochs done, stopped): as its last chunk reported them while its
        carry is that chunk's, else read from the carry (e.g. one restored by a study)."""
        known = self._known.get(k)
        if known is not None and known[0] is self.carries[k]:
            return known[1], known[2]
        carry = self.carries[k]
        return int(carry["epoch"]), bool(carry["stopped"])

    def epochs_done(self) -> list[int]:
        return [self._status(k)[0] for k in range(self.size)]

    def stopped(self, k: int) -> bool:
        """Whether EarlyStopping stopped run ``k``."""
        return self._status(k)[1]

    def _running(self, k: int) -> bool:
        epoch, stopped = self._status(k)
        return epoch < self.epochs[k] and not stopped

    def done(self) -> bool:
        """Every run has trained all its epochs or was stopped."""
        return not any(self._running(k) for k in range(self.size))

    def compile(self) -> None:
        """Compile this cohort's chunk program ahead of time. Thread-safe: studies compile
        the next cohorts in threads while one trains (XLA compiles without the GIL)."""
        if self._executable is None:
            self._executable = _executable(self.program, self.carries[0], self.run_inputs[0],
                                           self.data)

    def advance(self) -> dict[str, np.ndarray]:
        """Train the next ``chunk_epochs`` epochs of every run that is not done; return
        their logs as (runs, chunk_epochs) arrays, with ``ran`` marking the epochs that ran."""
        self.compile()
        pieces: list[list[tuple[np.ndarray, dict[str, np.ndarray]]]] = [[] for _ in range(self.size)]
        left = self.chunk_epochs
        while left > 0:
            n = min(left, CHUNK_EPOCHS)
            running = [k for k in range(self.size) if self._running(k)]
            for k, logs in zip(running, _map_runs(lambda k: self._train(k, n), running)):
                pieces[k].append(logs)
            left -= n
        width = len(self.log_names)
        rows, ran = [], []
        for k in range(self.size):
            got = (np.concatenate([p[0] for p in pieces[k]]) if pieces[k]
                   else np.zeros((0, width), np.float32))
            pad = np.full((self.chunk_epochs - len(got), width), np.nan, np.float32)
            rows.append(np.concatenate([got, pad]))
            ran.append(np.arange(self.chunk_epochs) < len(got))
        table = np.stack(rows)
        out = {name: table[..., i] for i, name in enumerate(self.log_names)}
        out["ran"] = np.stack(ran)
        template = next((p[0][1] for p in pieces if p), {})
        for name, like in template.items():
            per_run = []
            for k in range(self.size):
                got = (np.concatenate([p[1][name] for p in pieces[k]]) if pieces[k]
                       else np.zeros((0,) + like.shape[1:], like.dtype))
                pad = np.full((self.chunk_epochs - len(got),) + like.shape[1:], np.nan, like.dtype)
                per_run.append(np.concatenate([got, pad]))
            out[name] = np.stack(per_run)
        if self.program.diagnostics:  # (runs, epochs, layers) arrays -> one key per layer
            layers = self.model.diagnostic_names()
            weighted = [layers[i] for i in self.program.weighted_layers]
            for name in (*WEIGHT_DIAGNOSTICS, *ACTIVATION_DIAGNOSTICS):
                names = weighted if name in WEIGHT_DIAGNOSTICS else layers
                values = out.pop(f"diag/{name}")
                out.update({f"{name}/{layer}": values[..., j] for j, layer in enumerate(names)})
        self.logs.append(out)
        return out

    def _train(self, k: int, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Up to ``n`` epochs of run ``k`` (one call of the compiled chunk); the scalar logs
        of the epochs that ran ((epochs, log_names)) and their diagnostics."""
        carry, scalars, diagnostics, status = self._executable(
            self.carries[k], self.run_inputs[k], self.data, _epochs_arg(n))
        # np.asarray waits for the result far faster than jax.device_get / block_until_ready
        ran, epoch, stopped = np.asarray(status)
        scalars = np.asarray(scalars)
        diagnostics = {name: np.asarray(v) for name, v in diagnostics.items()}
        self.carries[k] = carry
        self._known[k] = (carry, int(epoch), bool(stopped))
        return scalars[:ran], {name: v[:ran] for name, v in diagnostics.items()}

    def fit(self, progress=None) -> None:
        """Train every run to its end; ``progress(cohort, logs)`` after each chunk."""
        while not self.done():
            logs = self.advance()
            if progress is not None:
                progress(self, logs)

    def final_state(self) -> list[tuple[Tree, Tree]]:
        """Each run's parameters and layer state after Keras's on_train_end."""
        finish = _compiled_finish(self.program)
        return [jax.device_get(finish(carry)) for carry in self.carries]

    def _restored_epoch(self, carry) -> int | None:
        """The 0-based epoch whose weights the run's finish restored (see _compiled_finish)."""
        early = self.program.early
        if early is None or not early.restore_best_weights or not bool(carry["early"]["has_weights"]):
            return None
        return int(carry["early"]["best_epoch"])

    def histories(self) -> list[History]:
        if not self.logs:
            keys: list[str] = []
            merged: dict[str, np.ndarray] = {}
        else:
            keys = list(self.logs[0])
            merged = {k: np.concatenate([l[k] for l in self.logs], axis=1) for k in keys}
        out = []
        for k, (params, state) in enumerate(self.final_state()):
            ran = merged["ran"][k] if merged else np.zeros(0, bool)
            hist = {name: [float(v) for v in merged[name][k][ran]] for name in keys
                    if name not in ("ran", REDUCED)}
            carry = self.carries[k]
            first = self.initial_epoch
            out.append(History(hist, {"epochs": self.epochs[k], "verbose": self.verbose,
                                      "steps": -(-self.program.n_train // self.program.batch_size)},
                               epoch=list(range(first, first + len(hist.get("loss", [])))),
                               stopped_epoch=int(carry["epoch"]) - 1 if bool(carry["stopped"])
                               else None,
                               weights=self.model.weights_from(params, state),
                               restored_epoch=self._restored_epoch(carry)))
        return out


@functools.lru_cache(maxsize=CHUNK_EPOCHS)
def _epochs_arg(n: int) -> jax.Array:
    """The chunk's epoch count as a device scalar, made once (a host scalar costs a
    transfer per call)."""
    return jnp.int32(n)


def _f32(hp: dict) -> dict:
    return {k: jnp.float32(v) for k, v in hp.items()}


def _split_callbacks(callbacks: Sequence[Any]):
    """(LearningRateScheduler | None, ReduceLROnPlateau | None, EarlyStopping | None)."""
    found: dict[type, Any] = {}
    for cb in callbacks:
        kind = type(cb)
        if kind not in (LearningRateScheduler, ReduceLROnPlateau, EarlyStopping):
            raise ValueError(f"unsupported callback {cb!r}; built-in callbacks: "
                             "LearningRateScheduler, ReduceLROnPlateau, EarlyStopping")
        if kind in found:
            raise ValueError(f"at most one {kind.__name__} per run")
        found[kind] = cb
    return (found.get(LearningRateScheduler), found.get(ReduceLROnPlateau),
            found.get(EarlyStopping))


def _callback_structure(split) -> tuple:
    return tuple(None if cb is None else cb.static_config() for cb in split)

