"""Keras's cache folder."""
from __future__ import annotations

import os
from pathlib import Path

#: Where Keras 3 and tf.keras download their data sets.
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def datasets_dir() -> Path:
    """``$KERAS_HOME/datasets``, else ``~/.keras/datasets`` (``/tmp/.keras/datasets`` when the
    home folder cannot be written), as Keras's ``get_file``."""
    home = os.environ.get("KERAS_HOME")
    if home:
        return Path(home).expanduser() / "datasets"
    base = Path.home()
    if not os.access(base, os.W_OK):
        base = Path("/tmp")
    return base / ".keras" / "datasets"
