"""What the lab's tests share: the token, a tiny study (two values of one program, so one
cohort; two seeds; three epochs of 5 updates), a tiny grid study (two swept axes) and a
page's DOM from headless Chromium (tests/browser.py), with networking off if asked."""
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

GRID = """
name = "lab-grid"
description = "Momentum by learning rate, a tiny network, three epochs"
question = "Which momentum and learning rate suit a tiny network?"
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
[[sweep]]
field = "compile.optimizer.learning_rate"
values = [0.01, 0.1]
"""
# Every connection refused and every name unresolved: a page that loads anything fails.
NO_NETWORK = ("--proxy-server=socks5://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")


def run_chromium(url: str, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    """The DOM of ``url`` once its scripts ran, from a fresh headless Chromium profile."""
    return chromium(url, tmp_path, "--window-size=1200,2000", "--dump-dom", *flags,
                    budget_ms=10000)


def console(proc: subprocess.CompletedProcess) -> list[str]:
    """The page's console messages (errors included) that Chromium logged."""
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
