"""The lab's page in headless Chromium (as tests/reports/test_html.py drives it): served by
uvicorn on 127.0.0.1, it renders the tiny study's answer and one curve per seed, without a
JavaScript error."""
from __future__ import annotations

import re
import socket
import threading

import pytest

from hyperlab.lab.app import create_app

from browser import needs_chromium
from lab_cases import TOKEN, run_chromium

pytestmark = needs_chromium


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


def test_a_study_renders_its_answer_and_one_curve_per_seed(served, tmp_path):
    proc = run_chromium(f"{served}/?token={TOKEN}#/study/lab-tiny", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    seeds = set(re.findall(r'class="trace scatter traceseed-(\d+)-(\d+)"', dom))
    assert seeds == {(v, s) for v in "01" for s in "01"}          # 2 values x 2 seeds
    assert len(set(re.findall(r'class="trace scatter tracemedian-(\d+)"', dom))) == 2
    assert "gives the highest final validation accuracy" in dom
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
