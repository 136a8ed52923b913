"""The lab's page in headless Chromium (as tests/reports/test_html.py drives it): served by
uvicorn on 127.0.0.1, it renders the tiny study's answer and one curve per seed, without a
JavaScript error."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from hyperlab.lab.app import create_app

from lab_cases import TOKEN


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium; "
                             "CI installs it in .ci/run)")


@pytest.fixture
def served(trained):
    """The lab on the trained store, served by uvicorn in a thread: its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    path, db = trained
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(create_app(db, TOKEN, (path,)), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def dump_dom(url: str, tmp_path: Path) -> subprocess.CompletedProcess:
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


def test_a_study_renders_its_answer_and_one_curve_per_seed(served, tmp_path):
    proc = dump_dom(f"{served}/?token={TOKEN}#/study/lab-tiny", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    seeds = set(re.findall(r'class="trace scatter traceseed-(\d+)-(\d+)"', dom))
    assert seeds == {(v, s) for v in "01" for s in "01"}          # 2 values x 2 seeds
    assert len(set(re.findall(r'class="trace scatter tracemedian-(\d+)"', dom))) == 2
    assert "gives the highest final validation accuracy" in dom
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
