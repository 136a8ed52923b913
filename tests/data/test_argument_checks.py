"""Every argument of every public dataset loader, given each invalid value of the constraint
that describes it, raises one ValueError line naming the argument and the value."""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperlab.data import datasets as D
from hyperlab._constraints import (NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, UNIT_OPEN,
                                         Boolean, Constraint, Instance, Interval, Optional)

FRACTION = Interval(0.0, 1.0, closed="neither")
PATH = Instance((str, os.PathLike))
SYNTHETIC = {"n_samples": Interval(2, integer=True), "seed": NON_NEGATIVE_INT,
             "validation_fraction": FRACTION}
NOISY = {**SYNTHETIC, "noise": NON_NEGATIVE}
ARGUMENTS: dict[str, dict[str, Constraint]] = {
    "blobs": {**SYNTHETIC, "centers": POSITIVE_INT, "n_features": POSITIVE_INT,
              "cluster_std": NON_NEGATIVE},
    "moons": NOISY,
    "circles": {**NOISY, "factor": UNIT_OPEN},
    "spiral": {**NOISY, "n_classes": POSITIVE_INT},
    "digits": {"val_size": Interval(10, integer=True), "seed": NON_NEGATIVE_INT},
    "fashion_mnist": {"path": Optional(PATH), "download": Boolean(), "n_val": POSITIVE_INT,
                      "n_train": Optional(NON_NEGATIVE_INT)},
    "csv": {"path": PATH, "label": Instance((str,)), "val_fraction": FRACTION,
            "seed": NON_NEGATIVE_INT},
    "npz": {"path": PATH, "val_fraction": FRACTION, "seed": NON_NEGATIVE_INT},
    "to_categorical": {"num_classes": Optional(POSITIVE_INT)},
}


def _cases() -> list:
    return [pytest.param(loader, name, bad, id=f"{loader}-{name}-{bad!r}")
            for loader, arguments in ARGUMENTS.items()
            for name, constraint in arguments.items()
            for bad in constraint.invalid() if not constraint.accepts(bad)]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("loaders")
    (folder / "d.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    np.savez(folder / "d.npz", x=np.arange(20.0).reshape(10, 2), y=np.arange(10) % 2)
    return {"csv": folder / "d.csv", "npz": folder / "d.npz"}


@pytest.mark.parametrize("loader, name, bad", _cases())
def test_every_loader_argument_rejects_invalid_values_in_one_line(loader, name, bad, files):
    args: dict[str, Any] = {"path": files[loader]} if loader in files else {}
    if loader == "fashion_mnist":
        args["download"] = False  # never reaches the network: the arguments fail first
    call = (lambda **kw: D.to_categorical([0, 1], **kw)) if loader == "to_categorical" \
        else getattr(D, loader)
    with pytest.raises(ValueError) as err:
        call(**{**args, name: bad})
    text = str(err.value)
    assert "\n" not in text and f"{name}={bad!r}" in text, text


def test_the_table_covers_every_argument_of_every_loader():
    for loader in [*D.NAMES, "to_categorical"]:
        params = set(inspect.signature(getattr(D, loader)).parameters) - {"y"}
        assert params == set(ARGUMENTS[loader]), loader
