"""The playground: a small network trained on a 2-D dataset from the page, a few seeds at
once, with its decision regions every few epochs.

:func:`parse` reads the page's fields (dataset, hidden layers, activation, optimizer,
learning rate, batch size, L2 penalty, seeds, epochs) with a one-line message per bad field
and size limits (run-epochs, weight updates); :func:`train` trains the seeds as one cohort of the compiled engine (seed
*s* starts from the weights and batch order of ``train_many``'s seed *s*), keeps the weights
every ``every`` epochs and returns, per seed, its history, its gradient noise scale
B_simple after the last epoch and one PNG of the decision regions per kept epoch (:func:`hyperlab.visual.animate.region_images`: the predicted class's
colour, more opaque where the model is more confident), with the training points;
:func:`diagnose` runs ``hyperlab doctor`` on the setup's seed 0. Nothing is stored: the
playground is for trying, studies are for answers.
"""
from __future__ import annotations

import base64
import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperlab.lab.views import OPTIMIZERS, KnobError

DATASETS = ("moons", "blobs", "circles", "spiral")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "leaky_relu", "gelu", "linear")
MAX_RUN_EPOCHS = 3000      # seeds x epochs one press of "train" may ask for
MAX_UPDATES = 60_000       # weight updates per seed (epochs x batches per epoch)
TRAIN_SIZE = 500           # the most training points of the four datasets (spiral has 450)
MAX_SEEDS, MAX_UNITS, MAX_LAYERS = 5, 128, 4
FRAMES = 50                # about this many kept epochs (every = ceil(epochs / FRAMES))
GRID = 60                  # decision-region pixels per axis
# matplotlib's tab10, the class colours of hyperlab.visual.animate
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True)
class Setup:
    """One playground configuration."""

    dataset: str = "moons"
    hidden: tuple[int, ...] = (16, 16)
    activation: str = "relu"
    optimizer: str = "SGD"
    learning_rate: float = 0.1
    batch_size: int = 32
    l2: float = 0.0
    seeds: int = 3
    epochs: int = 100


def form() -> list[dict[str, Any]]:
    """The page's fields: key, label, default as text, choices of a select."""
    d = Setup()
    return [
        {"key": "dataset", "label": "dataset", "value": d.dataset, "choices": list(DATASETS)},
        {"key": "hidden", "label": "hidden layers (units, comma-separated)",
         "value": ", ".join(map(str, d.hidden)), "choices": None},
        {"key": "activation", "label": "activation", "value": d.activation,
         "choices": list(ACTIVATIONS)},
        {"key": "optimizer", "label": "optimizer", "value": d.optimizer, "choices": list(OPTIMIZERS)},
        {"key": "learning_rate", "label": "learning rate", "value": str(d.learning_rate),
         "choices": None},
        {"key": "batch_size", "label": "batch size", "value": str(d.batch_size), "choices": None},
        {"key": "l2", "label": "L2 penalty (0: none)", "value": str(d.l2), "choices": None},
        {"key": "seeds", "label": "seeds", "value": str(d.seeds), "choices": None},
        {"key": "epochs", "label": "epochs", "value": str(d.epochs), "choices": None}]


def _number(knob: str, text: str, kind: type, low: float, high: float | None = None) -> Any:
    try:
        value = kind(text.strip())
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < low or \
            (high is not None and value > high):
        bound = f">= {low}" if high is None else f"from {low} to {high}"
        raise KnobError(knob, f"{knob}: expected {'an int' if kind is int else 'a number'} "
                              f"{bound}, found {text!r}")
    return value


def _choice(knob: str, text: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise KnobError(knob, f"{knob}: expected one of {', '.join(choices)}, found {text!r}")
    return text


def parse(knobs: Mapping[str, Any]) -> Setup:
    """The setup the page's fields ask for (an absent or empty field keeps the default);
    KnobError naming the first bad field, or the run size when it is too large."""
    d = Setup()
    k = {key: str(v).strip() for key, v in knobs.items() if str(v).strip()}
    unknown = sorted(set(k) - {f["key"] for f in form()})
    if unknown:
        raise KnobError(unknown[0], f"{unknown[0]}: not a field of the playground")
    hidden = d.hidden
    if "hidden" in k:
        parts = [p.strip() for p in k["hidden"].split(",") if p.strip()]
        if len(parts) > MAX_LAYERS:
            raise KnobError("hidden", f"hidden: at most {MAX_LAYERS} layers, found {len(parts)}")
        hidden = tuple(_number("hidden", p, int, 1, MAX_UNITS) for p in parts)
    setup = Setup(
        dataset=_choice("dataset", k.get("dataset", d.dataset), DATASETS), hidden=hidden,
        activation=_choice("activation", k.get("activation", d.activation), ACTIVATIONS),
        optimizer=_choice("optimizer", k.get("optimizer", d.optimizer), OPTIMIZERS),
        learning_rate=_number("learning_rate", k.get("learning_rate", str(d.learning_rate)),
                              float, 1e-7, 10.0),
        batch_size=_number("batch_size", k.get("batch_size", str(d.batch_size)), int, 1),
        l2=_number("l2", k.get("l2", str(d.l2)), float, 0.0, 1.0),
        seeds=_number("seeds", k.get("seeds", str(d.seeds)), int, 1, MAX_SEEDS),
        epochs=_number("epochs", k.get("epochs", str(d.epochs)), int, 1))
    if setup.seeds * setup.epochs > MAX_RUN_EPOCHS:
        raise KnobError("epochs", f"{setup.seeds} seeds x {setup.epochs} epochs is more than "
                                  f"the playground's {MAX_RUN_EPOCHS} run-epochs; use fewer "
                                  "seeds or epochs, or a study")
    updates = setup.epochs * math.ceil(TRAIN_SIZE / min(setup.batch_size, TRAIN_SIZE))
    if updates > MAX_UPDATES:
        raise KnobError("batch_size", f"{setup.epochs} epochs of batches of "
                                      f"{setup.batch_size} are up to {updates:,} weight updates "
                                      f"a seed, more than the playground's {MAX_UPDATES:,}; use "
                                      "larger batches or fewer epochs")
    return setup


def _png(rgb: np.ndarray) -> str:
    """An RGB image in [0, 1] (row 0 at the bottom) as a PNG data URI."""
    from PIL import Image
    buf = io.BytesIO()
    pixels = np.round(np.clip(rgb[::-1], 0.0, 1.0) * 255).astype(np.uint8)
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", compress_level=3)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _floats(values: Any) -> list[float | None]:
    return [float(f"{x:.5g}") if math.isfinite(x) else None
            for x in np.asarray(values, float).tolist()]


# What to try for each finding of hyperlab.science.doctor (the command line prints the
# command that tests it; the page says it in words).
FIXES = {"nan": "a lower learning rate (a tenth, then a hundredth)",
         "chance": "learning rates a decade apart: the rate may be far too small or too large",
         "dead_relu": "a lower learning rate, or leaky_relu or elu",
         "grad_spike": "clipping the gradients (optimizer argument global_clipnorm=1.0)",
         "sharpness": "a learning rate below 2 / sharpness",
         "mismatch": "a softmax output with categorical_crossentropy"}


def _build(setup: Setup):
    """The setup's model (seed 0's weights, compiled), its dataset and the training and
    validation arrays."""
    from hyperlab.data import datasets
    from hyperlab.engine.model import Sequential
    from hyperlab.studies import build
    from hyperlab.visual.animate import load_2d
    ds = load_2d(setup.dataset)
    config = {"model": {"hidden": list(setup.hidden), "activation": setup.activation,
                        "initializer": "glorot_uniform",
                        "kernel_regularizer": {"l2": setup.l2} if setup.l2 else None},
              "compile": {"optimizer": {"name": setup.optimizer,
                                        "learning_rate": setup.learning_rate}},
              "fit": {}}
    model = Sequential(build.build_layers(config, 2, ds.n_classes), seed=0)
    model.compile(build.build_optimizer(config), "categorical_crossentropy", ["accuracy"])
    x, y = model._prepare(ds.x_train, datasets.to_categorical(ds.y_train, ds.n_classes), "fit")
    vx, vy = model._prepare(ds.x_val, datasets.to_categorical(ds.y_val, ds.n_classes),
                            "validation_data")
    return model, ds, (x, y), (vx, vy)


def doctor_command(setup: Setup) -> str | None:
    """The ``hyperlab doctor`` command line of the same run (None with an L2 penalty, which
    the command line does not take)."""
    import shlex
    if setup.l2:
        return None
    words = ["hyperlab", "doctor", "--dataset", setup.dataset, "--hidden",
             *map(str, setup.hidden), "--activation", setup.activation, "--initializer",
             "glorot_uniform", "--optimizer", setup.optimizer.lower()]
    words += ["--momentum", "0"] if setup.optimizer == "SGD" else []   # the CLI's SGD has 0.9
    words += ["--lr", f"{setup.learning_rate:g}", "--batch-size", str(setup.batch_size),
              "--epochs", str(max(setup.epochs, 3))]
    return shlex.join(words)


def diagnose(setup: Setup) -> dict[str, Any]:
    """``hyperlab doctor`` on seed 0 of ``setup`` (at least 3 epochs): one line per finding,
    what to try for each, and the command line of the same diagnosis."""
    from hyperlab.science.doctor import diagnose as run_doctor
    model, _, (x, y), validation = _build(setup)
    found = run_doctor(model, x, y, epochs=max(setup.epochs, 3),
                       batch_size=min(setup.batch_size, len(x)), validation_data=validation,
                       seed=0)
    return {"lines": found.lines(),
            "findings": [{"kind": f.kind, "epoch": f.epoch, "message": f.message,
                          "try": FIXES[f.kind]} for f in found.findings],
            "command": doctor_command(setup)}


def _noise_scale(model, weights: tuple[Any, Any], x: Any, y: Any) -> float | None:
    """The simple gradient noise scale B_simple of ``model`` at ``weights`` on the whole
    training set (:func:`hyperlab.science.noise_scale`); None where it is not finite."""
    from hyperlab.science.noise import noise_scale
    model.params, model.state = weights
    b = noise_scale(model, x, y, probe=len(x)).b_simple
    return float(f"{b:.4g}") if math.isfinite(b) else None


def train(setup: Setup) -> dict[str, Any]:
    """Train ``setup``'s seeds as one cohort; per seed its history and one decision-region
    PNG per kept epoch (``epochs``: the epoch counts kept, 0 the initial weights)."""
    import jax

    from hyperlab.engine.training import Cohort, training_key
    from hyperlab.visual.animate import Recording, region_images

    start = time.perf_counter()
    model, ds, (x, y), (vx, vy) = _build(setup)
    optimizer = model.optimizer
    seeds = list(range(setup.seeds))
    every = max(1, math.ceil(setup.epochs / FRAMES))
    cohort = Cohort(model, weights=[model.init_weights(jax.random.PRNGKey(s)) for s in seeds],
                    keys=[training_key(s) for s in seeds], optimizers=[optimizer] * len(seeds),
                    callbacks=[[] for _ in seeds], epochs=[setup.epochs] * len(seeds),
                    batch_size=min(setup.batch_size, len(x)),
                    data={"x": x, "y": y, "vx": vx, "vy": vy}, shuffle=True, chunk_epochs=every)
    cohort.compile()
    snaps: list[list[Any]] = [[] for _ in seeds]
    logs: list[list[dict[str, np.ndarray]]] = [[] for _ in seeds]
    kept = [0]

    def snapshot() -> None:
        for j, carry in enumerate(cohort.carries):
            snaps[j].append(jax.device_get((carry["params"], carry["state"])))

    snapshot()
    while not cohort.done():
        chunk = cohort.advance()
        ran = chunk["ran"][0]
        for j in range(len(seeds)):
            logs[j].append({k: v[j][ran] for k, v in chunk.items() if k != "ran"})
        kept.append(int(cohort.epochs_done()[0]))
        snapshot()
    train_s = time.perf_counter() - start
    stack = lambda frames: jax.tree.map(lambda *a: np.stack(a), *frames)  # noqa: E731
    rec = Recording(labels=[f"seed {s}" for s in seeds], optimizers=[optimizer] * len(seeds),
                    model=model, dataset=ds, epochs=setup.epochs, every=every, seed=0,
                    frame_epochs=np.asarray(kept),
                    params=[stack([p for p, _ in snaps[j]]) for j in seeds],
                    state=[stack([s for _, s in snaps[j]]) for j in seeds],
                    history=[{k: np.concatenate([c[k] for c in logs[j]]) for k in logs[j][0]}
                             for j in seeds])
    colors = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
                       for c in CLASS_COLORS])[np.arange(ds.n_classes) % len(CLASS_COLORS)]
    images = region_images(rec.probabilities(GRID), colors)
    x0, x1, y0, y1 = rec.extent()
    return {"setup": {**setup.__dict__, "hidden": list(setup.hidden)},
            "extent": [x0, x1, y0, y1], "epochs": kept,
            "points": {"x": _floats(ds.x_train[:, 0]), "y": _floats(ds.x_train[:, 1]),
                       "label": [int(c) for c in ds.y_train]},
            "colors": [CLASS_COLORS[c % len(CLASS_COLORS)] for c in range(ds.n_classes)],
            "seeds": [{"seed": s, "frames": [_png(img) for img in images[j]],
                       "history": {k: _floats(v) for k, v in rec.history[j].items()},
                       "noise_scale": _noise_scale(model, snaps[j][-1], x, y)}
                      for j, s in enumerate(seeds)],
            "seconds": {"train": round(train_s, 2),
                        "total": round(time.perf_counter() - start, 2)}}
