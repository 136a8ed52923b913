"""Training a model epoch segment by epoch segment, to measure it in between."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["epochs_to_measure", "train_in_segments"]


def epochs_to_measure(epochs: Sequence[int]) -> list[int]:
    """``epochs`` sorted without repeats; a ValueError unless they are counts >= 0."""
    wanted = sorted(set(int(e) for e in epochs))
    if not wanted or wanted[0] < 0:
        raise ValueError(f"epochs must be epoch counts >= 0, got {list(epochs)!r}")
    return wanted


def train_in_segments(model, x: Any, y: Any, epochs: Sequence[int], **fit_args: Any
                      ) -> Iterator[int]:
    """Train ``model`` with ``model.fit(x, y, **fit_args)`` up to each of ``epochs`` in turn
    (``initial_epoch`` continuing where the last segment ended) and yield the epoch reached
    (0: before training), so the caller measures the model there. With fit's ``seed``
    given, the segments train exactly as one uninterrupted ``fit``."""
    fit_args = {"verbose": 0, **fit_args}
    done = 0
    for epoch in epochs_to_measure(epochs):
        if epoch > done:
            model.fit(x, y, epochs=epoch, initial_epoch=done, **fit_args)
            done = epoch
        yield epoch
