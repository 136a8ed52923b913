"""Headless Chromium for the page tests: where it is, a skip mark where it is not, and one
call that opens a URL from a fresh profile with no network (the flags this machine needs)."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest


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


def chromium(url: str, tmp_path: Path, *flags: str,
             budget_ms: int = 5000) -> subprocess.CompletedProcess:
    """Open ``url`` in headless Chromium (fresh profile, no background networking) with
    ``flags``, letting its scripts run for ``budget_ms`` of virtual time."""
    profile = tmp_path / f"profile-{uuid.uuid4().hex}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           f"--virtual-time-budget={budget_ms}", *flags, url]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
