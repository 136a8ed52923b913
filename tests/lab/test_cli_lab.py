"""``hyperlab lab`` on the command line: a fast --help without the web stack, one-line errors,
and a real server on 127.0.0.1 that answers only with the token it printed."""
from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from hyperlab.cli.main import main


def test_help_imports_neither_the_web_stack_nor_jax():
    code = ("import sys; from hyperlab.cli.main import main; main(['lab', '--help']); "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'jax', 'hyperlab.lab') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "--no-browser" in out and out.strip().splitlines()[-1] == "[]"


def _error(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("hyperlab: error: ")
    return err


def test_bad_input_is_one_line(capsys, tmp_path):
    assert "--port" in _error(capsys, "lab", "--port", "70000", "--no-browser")
    assert "no such study file" in _error(capsys, "lab", tmp_path / "missing.toml", "--no-browser")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert "cannot listen" in _error(capsys, "lab", "--port", port, "--no-browser")


def test_the_server_listens_on_localhost_needs_its_token_and_stops_on_ctrl_c(tmp_path):
    db = tmp_path / "x.db"
    proc = subprocess.Popen([sys.executable, "-m", "hyperlab", "lab", "--db", db,
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = proc.stdout.readline().split(": ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        base, token = url.split("/?token=")
        with urllib.request.urlopen(f"{base}/api/studies?token={token}", timeout=30) as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/studies", timeout=30)
        assert refused.value.code == 403
        assert not db.exists()                  # reading an absent store creates nothing
        # a long run, followed by its progress stream, when Ctrl-C comes
        run = urllib.request.Request(f"{base}/api/studies/momentum/run?token={token}",
                                     data=json.dumps({"epochs": "20000"}).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(run, timeout=30) as answer:
            job = json.load(answer)["id"]
        stream = urllib.request.urlopen(f"{base}/api/jobs/{job}/events?token={token}",
                                        timeout=60)
        for line in stream:
            if b'"state": "running"' in line:
                break
        else:
            pytest.fail("the run never started")
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        assert proc.wait(timeout=30) == 130
        assert time.monotonic() - start < 10
        assert proc.stderr.read().strip() == "hyperlab: error: interrupted"
        stream.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    with sqlite3.connect(db) as conn:                      # nothing left claimed
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)


def test_a_study_file_may_not_take_a_builtin_name(capsys, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "momentum"\n[fit]\nepochs = 2\n')
    assert "is taken by another study" in _error(capsys, "lab", path, "--no-browser")
