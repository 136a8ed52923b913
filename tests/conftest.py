"""Shared fixtures: the Keras reference data (``../shared/keras_reference`` beside the repo)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REFERENCE_NAME = "keras_reference_public.json"


def reference_path() -> Path | None:
    """``$HYPERLAB_KERAS_REFERENCE`` or ``<repo>/../shared/keras_reference/...``."""
    env = os.environ.get("HYPERLAB_KERAS_REFERENCE")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[1]
    candidates += [repo.parent / "shared" / "keras_reference" / REFERENCE_NAME,
                   repo / "shared" / "keras_reference" / REFERENCE_NAME]
    return next((p for p in candidates if p.is_file()), None)


@pytest.fixture(scope="session")
def keras_reference() -> dict:
    path = reference_path()
    if path is None:
        pytest.skip("Keras reference data not found (set HYPERLAB_KERAS_REFERENCE)")
    return json.loads(path.read_text())
