"""Headless Chromium for the page tests, driven by Playwright: where the system browser is,
a skip mark where it or Playwright is missing, the browser launched on it, and a page's
console messages and uncaught exceptions collected as they come."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test extra is not installed
    sync_playwright = None


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _chromium()
# Why the browser tests cannot run here (None: they can).
MISSING = ("headless Chromium is not installed (apt-get install chromium; CI installs it in "
           ".ci/run)" if CHROMIUM is None else
           "Playwright is not installed (pip install -e '.[test]'; it drives the system "
           "Chromium, no 'playwright install' needed)" if sync_playwright is None else None)
needs_chromium = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

# Playwright's own headless flags, plus what this machine needs (no sandbox, no GPU).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic"]


@contextmanager
def launch() -> Iterator[Any]:
    """The system Chromium, headless, driven by Playwright (closed on exit)."""
    if MISSING is not None:
        raise RuntimeError(MISSING)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def watch(page: Any) -> list[str]:
    """The list that ``page``'s console messages (its log entries, such as a refused load or
    a blocked script, included) and uncaught exceptions are appended to from now on."""
    logged: list[str] = []
    page.on("console", lambda message: logged.append(f"console.{message.type}: {message.text}"))
    page.on("pageerror", lambda error: logged.append(f"exception: {error}"))
    return logged
