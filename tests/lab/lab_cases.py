"""What the lab's tests share: the token, a tiny study (two values of one program, so one
cohort; two seeds; three epochs of 5 updates) and headless Chromium, driven as
tests/reports/test_html.py drives it."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

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


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium; "
                             "CI installs it in .ci/run)")


def run_chromium(url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The DOM of ``url`` once its scripts ran, from a fresh headless Chromium profile."""
    profile = tmp_path / f"profile-{uuid.uuid4().hex}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=10000", "--window-size=1200,2000", "--dump-dom", url]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
