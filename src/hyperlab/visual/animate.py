"""Training animations: watch a classifier learn a 2-D dataset, one column per optimizer.

Each column shows (as in the optimizer chapter's animations):

- the decision regions: the predicted class's colour, more opaque where the model is more
  confident (max class probability), behind the training points coloured by class;
- every Dense layer's kernel and bias (the bias is the last row, or the last column when
  the layer is drawn transposed to stay wide) as a red (positive) / blue (negative) heat
  map, symmetric around 0 on one scale per layer for the whole animation, and beside it the
  last update (parameters at this frame minus the previous frame), normalised to its own
  largest absolute value so that small updates stay visible;
- loss, accuracy (train solid, validation dashed) and learning rate, growing with the epochs.

Training runs on the compiled engine: runs whose optimizers share a class (and structure)
are one :class:`~hyperlab.engine.training.Cohort`, advanced ``every`` epochs per call, so
frame ``i`` holds exactly the weights of ``train_many`` stopped after epoch ``i * every``.
There are ``ceil(epochs / every) + 1`` frames: the initial weights, then one per chunk (the
last chunk may be shorter). The decision regions of all frames and runs are one jitted,
vmapped prediction. Rendering draws the figure once and redraws only what changes.

    import hyperlab.visual as hv
    result = hv.animate("sgd-vs-adam.gif", optimizers=["SGD", "Adam(learning_rate=0.01)"],
                        epochs=200, every=2)
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab._constraints import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, check_at
from hyperlab.visual import _util

__all__ = ["Recording", "Animation", "record", "render", "animate", "load_2d",
           "DEFAULT_SIZE", "DEFAULT_GRID", "SUFFIXES"]

DEFAULT_SIZE = (360, 720)   # pixels of one run's column (width, height)
DEFAULT_GRID = 100          # decision-region resolution (points per axis)
SUFFIXES = (".gif", ".mp4")
_REGION_ALPHA = 0.75        # opacity of a fully confident region


@dataclass
class Recording:
    """What the animation shows, frame by frame, for every run.

    ``params[run][layer][name]`` has a leading frame axis; ``frame_epochs[i]`` is the epoch
    count after frame ``i`` (0 for the initial weights); ``history[run][key]`` has one value
    per epoch (loss, accuracy, val_loss, val_accuracy, learning_rate).
    """

    labels: list[str]
    optimizers: list[Any]
    model: Any
    dataset: Any
    epochs: int
    every: int
    seed: int
    frame_epochs: np.ndarray
    params: list[list[dict[str, np.ndarray]]]
    state: list[list[dict[str, np.ndarray]]]
    history: list[dict[str, np.ndarray]]
    seconds: float = 0.0

    @property
    def n_frames(self) -> int:
        return len(self.frame_epochs)

    @property
    def n_runs(self) -> int:
        return len(self.labels)

    def params_at(self, run: int, frame: int) -> list[dict[str, np.ndarray]]:
        """Run ``run``'s parameters (one dict per layer) at frame ``frame``."""
        return [{k: v[frame] for k, v in layer.items()} for layer in self.params[run]]

    def weights_at(self, run: int, frame: int) -> list[np.ndarray]:
        """Run ``run``'s weights at frame ``frame`` in Keras ``get_weights()`` order."""
        state = [{k: v[frame] for k, v in layer.items()} for layer in self.state[run]]
        return self.model.weights_from(self.params_at(run, frame), state)

    def extent(self, margin: float = 0.1) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1) around all points (train and validation) with a margin."""
        pts = np.concatenate([self.dataset.x_train, self.dataset.x_val])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = np.maximum((hi - lo) * margin, 0.1)
        lo, hi = lo - pad, hi + pad
        return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])

    def probabilities(self, grid: int = DEFAULT_GRID) -> np.ndarray:
        """Class probabilities on a ``grid`` x ``grid`` lattice over :meth:`extent` for every
        run and frame: shape (runs, frames, grid, grid, classes), row 0 at the bottom.
        One jitted call (``lax.map`` over the stacked frame parameters)."""
        x0, x1, y0, y1 = self.extent()
        gx, gy = np.meshgrid(np.linspace(x0, x1, grid), np.linspace(y0, y1, grid))
        pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
        runs, frames = self.n_runs, self.n_frames
        flat = lambda trees: jax.tree.map(  # noqa: E731  (run, frame, ...) -> (run*frame, ...)
            lambda *a: np.stack(a).reshape((runs * frames,) + a[0].shape[1:]), *trees)
        params, state = flat(self.params), flat(self.state)
        out = _predict_all(self.model, params, state, pts)
        return np.asarray(out).reshape(runs, frames, grid, grid, -1)


@dataclass
class Animation:
    """A written animation: the file, its recording and where the time went."""

    path: Path
    recording: Recording
    n_frames: int
    size: tuple[int, int]
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------- inputs
def load_2d(name: str, data_args: dict[str, Any] | None = None):
    """``hyperlab.datasets.get(name, **data_args)``, required to have 2 features."""
    from hyperlab.data import datasets
    ds = datasets.get(name, **(data_args or {}))
    if ds.x_train.ndim != 2 or ds.x_train.shape[1] != 2:
        raise ValueError(f"--dataset {name}: the animation draws 2-D data, but its x has shape "
                         f"{ds.x_train.shape} ({ds.n_features} features); use blobs, moons, "
                         "circles or spiral with 2 features")
    return ds


def _positive(name: str, value: Any) -> int:
    """``value`` of the flag ``name`` as an int, if it is an int >= 1."""
    return int(check_at(value, POSITIVE_INT, name))


def _optimizers(specs, lr, momentum) -> tuple[list[Any], list[str]]:
    specs = list(specs) if specs else ["sgd"]
    built = [_util.build_optimizer(s, lr=lr, momentum=momentum) for s in specs]
    if momentum is not None and not any("momentum" in _util._parameters(type(o))
                                        for o, _ in built):
        raise ValueError("--momentum: none of the optimizers has a momentum argument "
                         "(SGD and RMSprop do)")
    opts, original = [o for o, _ in built], [lbl for _, lbl in built]
    labels = [lbl if original.count(lbl) == 1 else f"{lbl} #{original[:i + 1].count(lbl)}"
              for i, lbl in enumerate(original)]  # the same spec twice: tell columns apart
    return opts, labels


def build_model(n_classes: int, hidden: Sequence[int] = (50,), activation: str = "relu",
                initializer: str = "he_uniform", seed: int = 0):
    """The tutorial's classifier: Dense(h, activation, initializer) per hidden size, then
    Dense(n_classes, softmax), on 2 inputs."""
    from hyperlab.engine.model import Sequential
    from hyperlab.studies import build
    hidden = [_positive("--hidden", h) for h in hidden]
    model = {"hidden": hidden, "activation": activation, "initializer": initializer}
    return Sequential(build.build_layers({"model": model}, 2, n_classes), seed=seed)


# ---------------------------------------------------------------------------- training
def record(*, dataset: str = "blobs", data_args: dict[str, Any] | None = None,
           optimizers: Sequence[Any] | None = None, hidden: Sequence[int] = (50,),
           activation: str = "relu", initializer: str = "he_uniform", lr: float | None = None,
           momentum: float | None = None, epochs: int = 200, batch_size: int | None = 32,
           seed: int = 0, every: int = 2) -> Recording:
    """Train one run per optimizer (same seed: same initial weights and batch order) and
    keep the parameters every ``every`` epochs. ``optimizers``: Optimizer instances or specs
    (``"sgd"``, ``"Adam(learning_rate=0.01)"``; a bare ``sgd`` is the tutorial's
    ``SGD(0.01, momentum=0.9)``); ``lr``/``momentum`` fill in what the specs leave out."""
    from hyperlab.data import datasets
    from hyperlab.engine.training import Cohort, training_key

    every = _positive("--every", every)
    epochs = _positive("--epochs", epochs)
    check_at(seed, NON_NEGATIVE_INT, "--seed")
    if batch_size is not None:
        batch_size = _positive("--batch-size", batch_size)
    opts, labels = _optimizers(optimizers, lr, momentum)
    ds = load_2d(dataset, data_args)
    model = build_model(ds.n_classes, hidden, activation, initializer, seed)
    model.compile(opts[0], "categorical_crossentropy", ["accuracy"])
    x, y = model._prepare(ds.x_train, datasets.to_categorical(ds.y_train, ds.n_classes), "fit")
    vx, vy = model._prepare(ds.x_val, datasets.to_categorical(ds.y_val, ds.n_classes),
                            "validation_data")
    data = {"x": x, "y": y, "vx": vx, "vy": vy}
    bs = len(x) if batch_size is None or batch_size >= len(x) else batch_size

    start = time.perf_counter()
    # The run of train_many(model, ..., seeds=[seed]): weights and batch order from the seed.
    weights = model.init_weights(jax.random.PRNGKey(seed))
    key = training_key(seed)
    groups: dict[tuple, list[int]] = {}
    for i, opt in enumerate(opts):
        groups.setdefault(opt.static_config(), []).append(i)
    cohorts = []
    for members in groups.values():
        k = len(members)
        cohorts.append((members, Cohort(
            model, weights=[weights] * k, keys=[key] * k, optimizers=[opts[i] for i in members],
            callbacks=[[] for _ in members], epochs=[epochs] * k, batch_size=bs, data=data,
            shuffle=True, chunk_epochs=every)))
    for _, cohort in cohorts:
        cohort.compile()

    n_runs = len(opts)
    snaps: list[list[Any]] = [[] for _ in range(n_runs)]   # [run][frame] -> (params, state)
    logs: list[list[dict[str, np.ndarray]]] = [[] for _ in range(n_runs)]
    frame_epochs = [0]

    def snapshot() -> None:
        for members, cohort in cohorts:
            for j, run in enumerate(members):
                carry = cohort.carries[j]
                snaps[run].append(jax.device_get((carry["params"], carry["state"])))

    snapshot()
    while not cohorts[0][1].done():
        for members, cohort in cohorts:
            chunk = cohort.advance()
            ran = chunk["ran"][0]
            for j, run in enumerate(members):
                logs[run].append({k: v[j][ran] for k, v in chunk.items() if k != "ran"})
        frame_epochs.append(cohorts[0][1].epochs_done()[0])
        snapshot()

    stack = lambda frames: jax.tree.map(lambda *a: np.stack(a), *frames)  # noqa: E731
    params = [stack([p for p, _ in snaps[r]]) for r in range(n_runs)]
    state = [stack([s for _, s in snaps[r]]) for r in range(n_runs)]
    history = [{k: np.concatenate([c[k] for c in logs[r]]) for k in logs[r][0]}
               for r in range(n_runs)]
    return Recording(labels=labels, optimizers=opts, model=model, dataset=ds, epochs=epochs,
                     every=every, seed=seed, frame_epochs=np.asarray(frame_epochs),
                     params=params, state=state, history=history,
                     seconds=time.perf_counter() - start)


def _predict_all(model, params, state, pts):
    return _predictor(_ModelRef(model))(params, state, pts)


class _ModelRef:
    """Hashable by the model's structure: models that differ only in weights share one
    compiled predictor (``apply`` reads the weights from its arguments)."""

    def __init__(self, model) -> None:
        self.model = model
        self.key = model.static_config()

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ModelRef) and other.key == self.key


@functools.lru_cache(maxsize=16)
def _predictor(ref: _ModelRef):
    model = ref.model

    @jax.jit
    def predict(params, state, pts):
        def one(ps):
            return model.apply(ps[0], ps[1], pts, training=False)[0]
        return jax.lax.map(one, (params, state), batch_size=16)

    return predict


# ---------------------------------------------------------------------------- rendering
def _class_colors(n: int) -> np.ndarray:
    plt = _util.pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return np.array([cmap(i % cmap.N)[:3] for i in range(n)])


def region_images(probs: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """RGB images (..., grid, grid, 3) of class probabilities: the predicted class's colour
    over white, with opacity rising from 0 (uniform probabilities) to ``_REGION_ALPHA``
    (certain)."""
    n_classes = probs.shape[-1]
    pmax = probs.max(axis=-1)
    floor = 1.0 / n_classes
    alpha = _REGION_ALPHA * np.clip((pmax - floor) / max(1.0 - floor, 1e-9), 0.0, 1.0)
    color = colors[probs.argmax(axis=-1)]
    return (1.0 - alpha[..., None] * (1.0 - color)).astype(np.float32)


def _layer_matrix(kernel: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """Kernel with the bias as an extra row, shape (..., in+1, out); transposed (bias as the
    last column) when that is taller than wide. Works on a leading frame axis."""
    k = kernel
    m = k if bias is None else np.concatenate([k, bias[..., None, :]], axis=-2)
    if m.shape[-2] > m.shape[-1]:
        return np.swapaxes(m, -1, -2), True
    return m, False


def _normalised_updates(m: np.ndarray) -> np.ndarray:
    """Frame-to-frame differences of ``m`` (frames, ...), each scaled to max |.| = 1; frame 0
    (no update yet) is zero."""
    upd = np.zeros_like(m)
    upd[1:] = m[1:] - m[:-1]
    scale = np.abs(upd).reshape(len(m), -1).max(axis=1)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return upd / scale.reshape((-1,) + (1,) * (m.ndim - 1))


def _finite_max(a: np.ndarray, default: float = 1.0) -> float:
    a = np.asarray(a, float)
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else default


def _top(values: np.ndarray) -> float:
    """Upper y limit of a curve: its largest finite value, unless a divergence makes that
    dwarf the rest (then 10x the median)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return 1.0
    top, median = float(v.max()), float(np.median(np.abs(v)))
    return min(top, 10 * median) if median > 0 else top


def render(rec: Recording, out: str | Path, *, fps: float = 10, size: Sequence[int] = DEFAULT_SIZE,
           grid: int = DEFAULT_GRID, dpi: int = 100) -> Animation:
    """Draw ``rec`` and write it to ``out`` (.gif, or .mp4 with ffmpeg on PATH)."""
    path = _util.check_output(out, SUFFIXES)
    width, height = (_positive("--size", int(s)) for s in size)
    grid = _positive("--grid", grid)
    check_at(fps, POSITIVE, "--fps")
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    probs = rec.probabilities(grid)
    colors = _class_colors(rec.dataset.n_classes)
    regions = region_images(probs, colors)
    times["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fig, update = _figure(rec, regions, colors, width, height, dpi)
    blitter = _util.Blitter(fig, update.artists)

    def frames():
        for i in range(rec.n_frames):
            update(i)
            yield blitter.frame()

    n = _util.write_frames(frames(), path, fps)
    _util.pyplot().close(fig)
    times["render"] = time.perf_counter() - t0
    return Animation(path=path, recording=rec, n_frames=n,
                     size=(width * rec.n_runs, height), seconds=times)


class _Updater:
    """Sets every animated artist to frame ``i``."""

    def __init__(self) -> None:
        self.artists: list[Any] = []
        self.steps: list[Any] = []

    def add(self, artist, step) -> None:
        self.artists.append(artist)
        self.steps.append(step)

    def __call__(self, i: int) -> None:
        for step in self.steps:
            step(i)


def _figure(rec: Recording, regions: np.ndarray, colors: np.ndarray, width: int, height: int,
            dpi: int):
    plt = _util.pyplot()
    from matplotlib.gridspec import GridSpec, GridSpecFromSubplotSpec

    n_layers = len(rec.model.layers)
    fig = plt.figure(figsize=(width * rec.n_runs / dpi, height / dpi), dpi=dpi)
    outer = GridSpec(1, rec.n_runs, figure=fig, left=0.02 + 0.1 / rec.n_runs, right=0.98,
                     top=0.955, bottom=0.04, wspace=0.32)
    update = _Updater()
    extent = rec.extent()
    x, yc = rec.dataset.x_train, rec.dataset.y_train
    epochs = np.arange(1, rec.epochs + 1)
    for r in range(rec.n_runs):
        ratios = [3.4, 0.12] + [0.75] * n_layers + [0.9, 0.9, 0.9]
        inner = GridSpecFromSubplotSpec(len(ratios), 1, subplot_spec=outer[r],
                                        height_ratios=ratios, hspace=0.3)
        ax = fig.add_subplot(inner[0])
        ax.set_title(rec.labels[r], fontsize=8)
        image = ax.imshow(regions[r, 0], origin="lower", extent=extent, aspect="auto",
                          interpolation="nearest")
        points = ax.scatter(x[:, 0], x[:, 1], c=colors[yc], s=5, edgecolors="black",
                            linewidths=0.25)
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        ax.tick_params(labelsize=6)
        text = ax.text(0.02, 0.98, "", transform=ax.transAxes, va="top", fontsize=7,
                       bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 1.5})
        update.add(image, lambda i, im=image, r=r: im.set_data(regions[r, i]))
        update.add(points, lambda i: None)
        hist = rec.history[r]

        def caption(i, t=text, h=hist):
            e = int(rec.frame_epochs[i])
            if e == 0:
                t.set_text(f"epoch 0/{rec.epochs}")
            else:
                t.set_text(f"epoch {e}/{rec.epochs}  loss {h['loss'][e - 1]:.3f}  "
                           f"acc {h['accuracy'][e - 1]:.3f}")
        update.add(text, caption)

        for li, layer in enumerate(rec.model.layers):
            p = rec.params[r][li]
            kernel = p.get("kernel")
            if kernel is None:
                continue
            m, transposed = _layer_matrix(kernel, p.get("bias"))
            upd = _normalised_updates(m)
            vmax = _finite_max(np.abs(m), 1.0) or 1.0
            cells = GridSpecFromSubplotSpec(1, 2, subplot_spec=inner[2 + li], wspace=0.06)
            for ci, (data, lim) in enumerate(((m, vmax), (upd, 1.0))):
                axl = fig.add_subplot(cells[ci])
                im = axl.imshow(data[0], cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                                interpolation="nearest")
                axl.set_xticks([])
                axl.set_yticks([])
                for spine in axl.spines.values():
                    spine.set_visible(False)
                if ci == 0:
                    axl.set_ylabel(f"Dense {li + 1}", fontsize=6, rotation=0, ha="right",
                                   va="center")
                if li == 0:
                    axl.set_title("weights + bias" if ci == 0 else "last update (scaled)",
                                  fontsize=6, pad=2)
                update.add(im, lambda i, im=im, d=data: im.set_data(d[i]))

        curves = [("loss", ("loss", "val_loss")), ("accuracy", ("accuracy", "val_accuracy")),
                  ("lr", ("learning_rate",))]
        for ci, (name, keys) in enumerate(curves):
            axc = fig.add_subplot(inner[2 + n_layers + ci])
            axc.set_xlim(0, rec.epochs)
            top = max(_top(hist[k]) for k in keys)
            if name == "accuracy":
                axc.set_ylim(0, 1.02)
            else:
                axc.set_ylim(0, top * 1.08 if top > 0 else 1.0)
            axc.tick_params(labelsize=6, pad=1)
            axc.set_ylabel(name, fontsize=7)
            axc.grid(alpha=0.3)
            if ci == len(curves) - 1:
                axc.set_xlabel("epoch", fontsize=7, labelpad=1)
            else:
                axc.tick_params(labelbottom=False)
            for k in keys:
                style = "--" if k.startswith("val_") else "-"
                color = "tab:orange" if k.startswith("val_") else (
                    "tab:green" if k == "learning_rate" else "tab:blue")
                (line,) = axc.plot([], [], style, color=color, linewidth=1.1,
                                   label="validation" if k.startswith("val_") else "train")
                values = np.asarray(hist[k], float)
                update.add(line, lambda i, ln=line, v=values: ln.set_data(
                    epochs[: rec.frame_epochs[i]], v[: rec.frame_epochs[i]]))
            if name == "loss":
                axc.legend(fontsize=6, loc="best", handlelength=1.5, frameon=False)
    return fig, update


# ---------------------------------------------------------------------------- one call
def animate(out: str | Path = "hyperlab-animation.gif", *, dataset: str = "blobs",
            data_args: dict[str, Any] | None = None, optimizers: Sequence[Any] | None = None,
            hidden: Sequence[int] = (50,), activation: str = "relu",
            initializer: str = "he_uniform", lr: float | None = None,
            momentum: float | None = None, epochs: int = 200, batch_size: int | None = 32,
            seed: int = 0, every: int = 2, fps: float = 10,
            size: Sequence[int] = DEFAULT_SIZE, grid: int = DEFAULT_GRID) -> Animation:
    """Train (see :func:`record`) and write the animation (see :func:`render`).

    Every input is checked before training: the output path (.gif, or .mp4 with ffmpeg),
    ``every``/``epochs``/``fps``/``size`` values, a 2-D dataset, the optimizer specs.
    Returns the :class:`Animation` (path, frame count, the recording, timings).
    """
    start = time.perf_counter()
    _util.check_output(out, SUFFIXES)
    _positive("--every", every)
    _positive("--grid", grid)
    if len(size) != 2:
        raise ValueError(f"--size needs WIDTH HEIGHT in pixels, got {list(size)}")
    for s in size:
        _positive("--size", s)
    check_at(fps, POSITIVE, "--fps")
    rec = record(dataset=dataset, data_args=data_args, optimizers=optimizers, hidden=hidden,
                 activation=activation, initializer=initializer, lr=lr, momentum=momentum,
                 epochs=epochs, batch_size=batch_size, seed=seed, every=every)
    result = render(rec, out, fps=fps, size=size, grid=grid)
    result.seconds = {"train": rec.seconds, **result.seconds,
                      "total": time.perf_counter() - start}
    return result
