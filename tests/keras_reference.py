"""Where the Keras reference data are: ``$HYPERLAB_KERAS_REFERENCE``, else
``../shared/keras_reference`` beside the repo (a helper module: test modules import it, as
several folders have a ``conftest`` of their own)."""
from __future__ import annotations

import os
from pathlib import Path

REFERENCE_NAME = "keras_reference_public.json"


def reference_path() -> Path | None:
    """``$HYPERLAB_KERAS_REFERENCE`` or ``<repo>/../shared/keras_reference/...``."""
    env = os.environ.get("HYPERLAB_KERAS_REFERENCE")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[1]
    candidates += [repo.parent / "shared" / "keras_reference" / REFERENCE_NAME,
                   repo / "shared" / "keras_reference" / REFERENCE_NAME]
    return next((p for p in candidates if p.is_file()), None)
