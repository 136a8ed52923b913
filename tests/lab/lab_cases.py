"""What the lab's tests share: the token, a tiny study (two values of one program, so one
cohort; two seeds; three epochs of 5 updates) and a page's DOM from headless Chromium
(tests/browser.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from browser import chromium

TOKEN = "test-token"
STUDY = """
name = "lab-tiny"
description = "Momentum 0 or 0.9, a tiny network, three epochs"
question = "Does momentum help a tiny network?"
axis = "Momentum"
repeats = 2
[model]
hidden = [8]
[compile]
optimizer = { name = "SGD", learning_rate = 0.05 }
[fit]
epochs = 3
batch_size = 100
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""


def run_chromium(url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The DOM of ``url`` once its scripts ran, from a fresh headless Chromium profile."""
    return chromium(url, tmp_path, "--window-size=1200,2000", "--dump-dom", budget_ms=10000)
