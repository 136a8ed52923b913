"""Shared fixtures: the Keras reference data (``../shared/keras_reference`` beside the repo)."""
from __future__ import annotations

import json

import pytest

from keras_reference import reference_path


@pytest.fixture(scope="session")
def keras_reference() -> dict:
    path = reference_path()
    if path is None:
        pytest.skip("Keras reference data not found (set HYPERLAB_KERAS_REFERENCE)")
    return json.loads(path.read_text())
