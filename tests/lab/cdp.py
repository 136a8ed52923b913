"""Headless Chromium driven over the DevTools protocol through a pipe (no web socket, no
extra package): open a page, run JavaScript in it, wait for a condition, take a screenshot,
and collect its console messages and uncaught exceptions. The lab's browser tests and
benchmarks/lab.py drive pages with it (click, scrub, time an interaction)."""
from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from browser import CHROMIUM


class BrowserError(RuntimeError):
    """A DevTools command failed, or the page threw while evaluating."""


class Browser:
    """One headless Chromium (fresh profile) with one page; use as a context manager."""

    def __init__(self, *flags: str, width: int = 1200, height: int = 1600) -> None:
        self.profile = tempfile.mkdtemp(prefix="hyperlab-cdp-")
        ours_read, its_write = os.pipe()
        its_read, ours_write = os.pipe()
        # above 4: mapping them onto 3 and 4 must not overwrite one with the other
        for fd in (its_read, its_write):
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            its_read, its_write = (high, its_write) if fd == its_read else (its_read, high)
        # Chromium reads commands on fd 3 and writes answers on fd 4 (bash maps them, so
        # that no Python code runs between fork and exec in this threaded process).
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{its_read} 4>&{its_write}', CHROMIUM,
             "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}", *flags,
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(its_read, its_write))
        os.close(its_read)
        os.close(its_write)
        self.writer = os.fdopen(ours_write, "wb", buffering=0)
        self.reader = os.fdopen(ours_read, "rb", buffering=0)
        self.ids = itertools.count(1)
        self.answers: dict[int, queue.Queue] = {}
        self.console: list[str] = []          # console messages and uncaught exceptions
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True)

    def _read(self) -> None:
        buffer = b""
        while chunk := self.reader.read(1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self.lock:
                        box = self.answers.pop(message["id"], None)
                    if box is not None:
                        box.put(message)
                elif message.get("method") == "Runtime.consoleAPICalled":
                    args = message["params"]["args"]
                    self.console.append(f"console.{message['params']['type']}: " + " ".join(
                        str(a.get("value", a.get("description", ""))) for a in args))
                elif message.get("method") == "Runtime.exceptionThrown":
                    details = message["params"]["exceptionDetails"]
                    self.console.append("exception: " + details.get("exception", {}).get(
                        "description", details.get("text", "")))
                elif message.get("method") == "Log.entryAdded":
                    entry = message["params"]["entry"]
                    if entry["level"] in ("error", "warning"):
                        self.console.append(f"log.{entry['level']}: {entry['text']}")

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: bool = False, timeout: float = 60) -> dict[str, Any]:
        """Send one DevTools command (to the page's session if ``session``); its result."""
        ident = next(self.ids)
        box: queue.Queue = queue.Queue()
        with self.lock:
            self.answers[ident] = box
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.writer.write(json.dumps(message).encode() + b"\0")
        answer = box.get(timeout=timeout)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer["result"]

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait("document.readyState === 'complete'")

    def js(self, expression: str, timeout: float = 60) -> Any:
        """The value of ``expression`` in the page (a promise is awaited)."""
        result = self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True},
            session=True, timeout=timeout)
        if "exceptionDetails" in result:
            raise BrowserError(result["exceptionDetails"].get("exception", {}).get(
                "description", result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 30, every: float = 0.01) -> float:
        """Wait until ``expression`` is truthy in the page; the seconds it took."""
        start = time.perf_counter()
        while not self.js(f"!!({expression})"):
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{expression} still false after {timeout} s")
            time.sleep(every)
        return time.perf_counter() - start

    def screenshot(self, path: str | Path, full: bool = True, selector: str | None = None,
                   until: str | None = None) -> Path:
        """A PNG at ``path`` of the page (the whole page when ``full``), or of the element
        ``selector`` matches (down to the bottom of the element ``until`` matches, if given)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full}
        if selector is not None:
            rect = "document.querySelector({}).getBoundingClientRect()"
            box = self.js(f"(() => {{ const r = {rect.format(json.dumps(selector))}, "
                          f"b = {rect.format(json.dumps(until or selector))}; return "
                          "{x: r.left + scrollX, y: r.top + scrollY, width: r.width, "
                          "height: b.bottom - r.top}; })()")
            params.update(captureBeyondViewport=True, clip={**box, "scale": 1})
        shot = self.send("Page.captureScreenshot", params, session=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
        return Path(path)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 -- it is going away either way
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.writer.close()
        self.reader.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
