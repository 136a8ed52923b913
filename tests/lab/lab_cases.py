"""What the lab's tests share: the token, a tiny study (two values of one program, so one
cohort; two seeds; three epochs of 5 updates), a tiny grid study (two swept axes) and an
offline page's DOM from headless Chromium (tests/browser.py) with networking off."""
from __future__ import annotations

from typing import Any

from browser import watch

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
# A study page is drawn once its overlay is: the last plot, drawn after the browser painted
# the others.
DRAWN = "document.getElementById('overlay')?.data"


def offline_dom(browser: Any, url: str, drawn: str = DRAWN) -> tuple[str, list[str], list[str]]:
    """The DOM of ``url`` once ``drawn`` is true in it, opened in a fresh context with
    networking off: (the DOM, what the page logged, the URLs it asked for beyond file: and
    data:, each refused)."""
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 2000})
    try:
        page = context.new_page()
        logged = watch(page)
        asked: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
                else asked.append(r.url))
        page.goto(url)
        page.wait_for_function(f"() => {drawn}")
        return page.content(), logged, asked
    finally:
        context.close()
