"""The doctor for a run that does not learn: train it once with ``fit(diagnostics=True)``
and report what the diagnostics show, one finding per pathology.

- ``mismatch``: an output activation the loss does not expect (checked before training):
  the cross-entropies of hyperlab, as of Keras without ``from_logits``, take probabilities,
  so categorical cross-entropy needs a softmax output and binary cross-entropy a sigmoid;
  softmax with binary cross-entropy on one-hot labels treats coupled outputs as independent
  yes/no problems.
- ``nan``: the first epoch whose training loss is not finite.
- ``chance``: the loss stayed finite but never fell below ``chance_margin`` × the chance
  loss, the
  loss of the best constant prediction given the label distribution (the entropy of the
  class frequencies for categorical cross-entropy).
- ``dead_relu``: a ReLU layer with at least ``dead`` of its units exactly 0 on every probe
  sample at the last finite epoch.
- ``grad_spike``: an epoch whose mean gradient norm in a layer is more than ``spike`` ×
  the median of that layer's earlier epochs (at least two).
- ``sharpness``: with SGD, the top Hessian eigenvalue of the training loss at the end
  (:func:`hyperlab.science.sharpness.sharpness`) above the stability threshold (2 + 2β)/η
  of gradient descent with rate η and momentum β, i.e. η·λ > 2 without momentum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperlab.science.sharpness import Sharpness, sharpness, stability_threshold
from hyperlab.stats import jsonable

__all__ = ["Finding", "Diagnosis", "chance_loss", "mismatch", "diagnose", "KINDS"]

# the findings in the order they are reported: the first is the one to fix first
KINDS = ("mismatch", "nan", "chance", "dead_relu", "grad_spike", "sharpness")
CROSS_ENTROPIES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


@dataclass(frozen=True)
class Finding:
    """One pathology: its kind (one of :data:`KINDS`), the epoch it shows at (1-based;
    None: not tied to an epoch), a one-line message and the measured values."""

    kind: str
    epoch: int | None
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)


def chance_loss(loss: str, y: Any) -> float:
    """The loss of the best constant prediction for labels ``y`` (one-hot rows, or integer
    classes for the sparse cross-entropy): the entropy of the class frequencies p for the
    cross-entropies, the mean binary entropy of the units for binary cross-entropy, mean
    p(1 − p) for the squared error and mean min(p, 1 − p) for the absolute error; NaN for
    another loss."""
    y = np.asarray(y)
    if loss == "sparse_categorical_crossentropy":
        p = np.bincount(y.reshape(-1).astype(int)) / y.size
    else:
        p = y.reshape(len(y), -1).mean(axis=0)
    q = p[(p > 0) & (p < 1)]
    if loss in CROSS_ENTROPIES:
        return float(-np.sum(q * np.log(q)))
    if loss == "binary_crossentropy":
        return float(np.sum(-(q * np.log(q) + (1 - q) * np.log(1 - q))) / p.size)
    if loss == "mean_squared_error":
        return float(np.mean(p * (1 - p)))
    if loss == "mean_absolute_error":
        return float(np.mean(np.minimum(p, 1 - p)))
    return math.nan


def mismatch(activation: str | None, loss: str, units: int) -> str | None:
    """Why the output ``activation`` of ``units`` units does not suit ``loss`` (None if it
    does)."""
    if loss in CROSS_ENTROPIES and activation != "softmax":
        return (f"{loss} takes probabilities but the output activation is {activation}; "
                f"hyperlab has no from_logits: use a softmax output")
    if loss == "binary_crossentropy" and activation == "softmax" and units > 1:
        return ("binary_crossentropy with a softmax output treats the coupled softmax "
                "outputs as independent yes/no problems: use categorical_crossentropy")
    if loss == "binary_crossentropy" and activation != "sigmoid" and units == 1:
        return (f"binary_crossentropy takes a probability but the output activation is "
                f"{activation}: use a sigmoid output")
    return None


@dataclass
class Diagnosis:
    """The run's history (with diagnostics), the chance loss, the sharpness at the end
    (None when not measured) with its threshold, and the findings in :data:`KINDS` order."""

    history: dict[str, list[float]]
    chance: float
    sharpness: Sharpness | None
    threshold: float | None
    findings: list[Finding]

    def lines(self) -> list[str]:
        """One line per finding (or one saying there is none)."""
        if not self.findings:
            sharp = ("" if self.sharpness is None
                     else ", sharpness below its stability threshold")
            return ["no finding: the loss fell below chance, stayed finite, no dead ReLU "
                    f"layer, no gradient spike{sharp}"]
        return [f"{f.kind}: {f.message}" for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"chance_loss": self.chance, "sharpness": self.sharpness,
                         "threshold": self.threshold,
                         "findings": [f.to_dict() for f in self.findings],
                         "history": self.history})


def _spike(series: np.ndarray, factor: float) -> tuple[int, float] | None:
    """The first epoch (0-based) whose value exceeds ``factor`` × the median of the finite
    earlier values (at least two), and that ratio."""
    for e in range(2, len(series)):
        before = series[:e][np.isfinite(series[:e])]
        if len(before) >= 2 and np.isfinite(series[e]):
            ref = float(np.median(before))
            if ref > 0 and series[e] > factor * ref:
                return e, float(series[e] / ref)
    return None


def diagnose(model, x: Any, y: Any, *, epochs: int = 20, batch_size: int | None = 32,
             validation_data: tuple[Any, Any] | None = None, seed: int = 0,
             shuffle: bool = True, chance_margin: float = 0.9, dead: float = 0.5,
             spike: float = 10.0, probe: int = 512) -> Diagnosis:
    """Train the compiled ``model`` on ``x``, ``y`` for ``epochs`` with diagnostics (from
    its current weights) and report the findings (see the module's doc for each rule)."""
    findings: list[Finding] = []
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                        validation_data=validation_data, seed=seed, verbose=0,
                        diagnostics=True).history
    out = model.layers[-1]
    wrong = mismatch(getattr(out, "activation", None), model.loss, getattr(out, "units", 0))
    if wrong:
        findings.append(Finding("mismatch", None, wrong, {
            "activation": getattr(out, "activation", None), "loss": model.loss}))
    loss = np.asarray(history["loss"], dtype=float)
    bad = np.flatnonzero(~np.isfinite(loss))
    last = int(bad[0]) - 1 if bad.size else len(loss) - 1      # the last finite epoch
    if bad.size:
        findings.append(Finding("nan", int(bad[0]) + 1, f"the training loss is not finite "
                                f"from epoch {bad[0] + 1} (of {len(loss)})",
                                {"loss_before": float(loss[bad[0] - 1]) if bad[0] else None}))
    chance = chance_loss(model.loss, y)
    finite = loss[np.isfinite(loss)]
    if (not bad.size and math.isfinite(chance) and finite.size
            and finite.min() >= chance_margin * chance):
        findings.append(Finding("chance", None, f"the training loss never fell below "
                                f"{chance_margin:g} × the chance loss {chance:.3g} (the best "
                                f"constant prediction); its lowest was {finite.min():.3g}",
                                {"chance": chance, "lowest": float(finite.min())}))
    names = model.diagnostic_names()
    if last >= 0:
        for layer, name in zip(model.layers, names):
            frac = history.get(f"dead_fraction/{name}")
            if getattr(layer, "activation", None) == "relu" and frac and frac[last] >= dead:
                findings.append(Finding("dead_relu", last + 1, f"{frac[last]:.0%} of layer "
                                        f"{name}'s ReLU units are 0 on every probe sample at "
                                        f"epoch {last + 1}", {"layer": name,
                                                              "dead_fraction": frac[last]}))
    for name in names:
        series = np.asarray(history.get(f"grad_norm/{name}", []), dtype=float)
        found = _spike(series, spike)
        if found is not None:
            e, ratio = found
            findings.append(Finding("grad_spike", e + 1, f"layer {name}'s gradient norm at "
                                    f"epoch {e + 1} is {ratio:.3g} × the median of its earlier "
                                    f"epochs", {"layer": name, "ratio": ratio}))
            break
    found_sharpness, threshold = None, None
    opt = model.optimizer
    if type(opt).__name__ == "SGD" and not bad.size and isinstance(opt.learning_rate, float):
        found_sharpness = sharpness(model, x, y, probe=probe, seed=seed)
        threshold = stability_threshold(opt.learning_rate, float(opt.momentum or 0.0))
        if found_sharpness.eigenvalue > threshold:
            findings.append(Finding(
                "sharpness", len(loss), f"the top Hessian eigenvalue at the end, "
                f"{found_sharpness.eigenvalue:.3g}, is above the stability threshold "
                f"(2 + 2β)/η = {threshold:.3g} (η·λ = {opt.learning_rate * found_sharpness.eigenvalue:.3g})",
                {"eigenvalue": found_sharpness.eigenvalue, "threshold": threshold}))
    findings.sort(key=lambda f: KINDS.index(f.kind))
    return Diagnosis({k: list(map(float, v)) for k, v in history.items()}, chance,
                     found_sharpness, threshold, findings)
