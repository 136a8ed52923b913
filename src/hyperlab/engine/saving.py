"""Save and restore a ``Sequential`` model in one file: ``model.save(path)`` /
``load_model(path)``.

``model.save`` writes the format the extension names: ``.npz`` is hyperlab's own format
(:mod:`~hyperlab.engine.npz_format`, everything bit for bit); ``.keras`` and ``.h5`` are
Keras's (:mod:`~hyperlab.engine.keras_format`), which real Keras 3 loads. ``load_model``
recognises all three by their contents.

This module sits above the model, as Keras's saving API does: the formats below never
import the model, and :func:`load_model` gives them the class to build.
"""
from __future__ import annotations

import os

from hyperlab.engine import model_files
from hyperlab.engine.model import Sequential
from hyperlab.engine.model_files import save_model
from hyperlab.engine.npz_format import FORMAT, FORMAT_VERSION, MAX_DOC_BYTES, MAX_VALUES

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION", "MAX_VALUES",
           "MAX_DOC_BYTES"]


def load_model(path: str | os.PathLike) -> Sequential:
    """The ``Sequential`` a model file holds, ready to predict or train on: hyperlab's own
    ``.npz`` (``model.save``), a Keras 3 ``.keras`` zip or a legacy Keras ``.h5`` file,
    recognised by their contents.

    Raises one ValueError naming the file and the problem when it is missing, not a model
    file, truncated or corrupted, written by a newer hyperlab, does not fit together, or
    holds something hyperlab does not support (custom objects, Lambda layers...).
    """
    return model_files.load_model(path, Sequential)
