"""The HTML report: content, escaping, atomic writes, errors, and (in headless Chromium) that
it renders offline with every image decoded and no JavaScript error."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import uuid
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from browser import chromium, needs_chromium
from hyperlab.reports import html as report
from hyperlab.reports.html import ReportPathError, render_report, write_report
from hyperlab.studies import Study
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

EPOCHS = 10
NASTY = '<script>alert("x")</script> & \'q\''


def _run(seed: int, final: float, *, epochs: int = EPOCHS, diverged: int | None = None,
         stopped: int | None = None) -> RunResult:
    e = np.arange(1, epochs + 1)
    val = 0.33 + (final - 0.33) * (1 - np.exp(-e / 2.0))
    val[-1] = final
    loss = 1.2 * np.exp(-e / 4.0) + 0.2
    history = {"loss": list(loss), "accuracy": list(np.minimum(val + 0.03, 1.0)),
               "val_loss": list(loss + 0.05), "val_accuracy": list(val),
               "learning_rate": list(0.01 * 0.5 ** (e // 4))}
    if diverged is not None:
        for key in ("loss", "val_loss", "val_accuracy"):
            history[key][diverged:] = [math.nan] * (epochs - diverged)
        history["loss"][diverged] = math.inf
    return RunResult(key=f"{seed:020d}", seed=seed, history=history, updates=10 * epochs,
                     wall_time_s=0.25, diverged_epoch=diverged, stopped_epoch=stopped)


def make_results(labels=("0.0", "0.5", "0.9"), figures=("panels", "overlay"),
                 name="momentum", description="Momentum on blobs", axis="Momentum") -> StudyResults:
    values = []
    for j, label in enumerate(labels):
        finals = [0.80 + 0.02 * j, 0.81 + 0.02 * j]
        runs = [_run(s, f) for s, f in enumerate(finals)]
        values.append(ValueResult(label=label, value=label, runs=runs))
    return StudyResults(name=name, description=description, axis=axis, values=values,
                        config={"fit": {"epochs": EPOCHS, "batch_size": 100}}, figures=list(figures))


STUDY = {"name": "momentum", "description": "Momentum on blobs", "axis": "Momentum",
         "question": "Does momentum speed up learning?", "repeats": 2,
         "fit": {"epochs": EPOCHS, "batch_size": 100},
         "sweep": [{"field": "compile.optimizer.momentum", "values": [0.0, 0.5, 0.9]}]}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """One report of a study with a diverged and an early-stopped run (drawn once)."""
    res = make_results()
    res.values[1].runs.append(_run(2, 0.4, diverged=6))
    res.values[2].runs[0] = _run(0, 0.86, epochs=7, stopped=6)
    path = tmp_path_factory.mktemp("report") / "momentum.html"
    return write_report(res, path, study=Study.from_dict(STUDY))


# --------------------------------------------------------------------------- content
def test_report_holds_every_section_inline(page):
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for section in ("overview", "verdict", "figures", "summary", "configuration", "runs"):
        assert f'id="{section}"' in text
    assert "Does momentum speed up learning?" in text and "Momentum on blobs" in text
    # every study figure and one history figure per value, all PNG data URIs
    imgs = re.findall(r'<img[^>]*src="([^"]*)"', text)
    assert len(imgs) == 2 + 3 and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert 'id="figure-panels"' in text and 'id="figure-overlay"' in text
    # the verdict, the summary table and the sweep/config
    assert "gives the highest final validation accuracy" in text and "95% interval" in text
    assert 'class="sortable summary"' in text and "val acc % (±sd)" in text
    assert "compile.optimizer.momentum" in text and "compile.optimizer.nesterov" in text  # resolved
    assert "swept: overridden by each value" in text
    assert "0.0: 0, 1; 0.5: 0, 1, 2; 0.9: 0, 1" in text  # seeds differ per value here


def test_report_is_self_contained_offline(page):
    text = page.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', text), "a non-inline resource"
    assert "<link" not in text and "@import" not in text and "url(" not in text
    assert "http://" not in text and "https://" not in text
    assert "Content-Security-Policy" in text and "default-src &#x27;none&#x27;" in text


def test_per_run_details_show_stopped_and_diverged_epochs_one_based(page):
    text = page.read_text(encoding="utf-8")
    runs = text[text.index('id="runs"'):]
    assert runs.count('<details class="value"') == 3
    assert '<span class="flag">diverged</span>' in runs and "stopped early" in runs
    assert '<td data-sort="7">7</td>' in runs                # epoch 6 (0-based) shown as 7
    assert '<td data-sort="7">7</td><td data-sort="7">7</td>' in runs  # 7 epochs, stopped at 7


def test_every_text_is_escaped(tmp_path):
    res = make_results(labels=("a<b", NASTY), name="n<i>", description=NASTY, axis="A&B")
    res.config = {"fit": {"note": NASTY}}
    text = write_report(res, tmp_path / "r.html").read_text()
    assert 'alert("x")' not in text and "<script>alert" not in text and "n<i>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in text
    assert "n&lt;i&gt;" in text and "A&amp;B = a&lt;b" in text
    # only the report's own two scripts remain
    assert text.count("<script>") == 2


def test_results_without_study_show_what_they_hold(tmp_path):
    text = render_report(make_results(figures=("panels",)))
    assert "repeats (seeds per value)</th><td>2" in text and "<td>0, 1</td>" in text
    assert "fit.batch_size" in text and "Sweep: Momentum" in text


# --------------------------------------------------------------------------- writing
def test_write_is_atomic_and_replaces(tmp_path):
    path = tmp_path / "sub" / "dir" / "r.html"
    assert write_report(make_results(figures=("panels",)), path) == path
    first = path.read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~umask)  # as open() would make it
    res = make_results(figures=("panels",), description="second")
    write_report(res, path)
    assert path.read_text() != first and "second" in path.read_text()
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.html"]  # no temp files left


def test_a_failure_while_drawing_leaves_the_old_report_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "r.html"
    path.write_text("old")
    def boom(results):
        raise RuntimeError("drawing failed")
    monkeypatch.setattr(report, "_history_figures", boom)
    with pytest.raises(RuntimeError, match="drawing failed"):
        write_report(make_results(figures=("panels",)), path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_no_runs_is_a_value_error_naming_the_study(tmp_path):
    res = make_results()
    for v in res.values:
        v.runs = []
    with pytest.raises(ValueError, match=r"'momentum' has no stored runs.*hyperlab run momentum"):
        write_report(res, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("where", ["file-parent", "file-grandparent", "directory"])
def test_unwritable_path_fails_before_drawing(tmp_path, monkeypatch, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    path = {"file-parent": blocker / "r.html", "file-grandparent": blocker / "a" / "r.html",
            "directory": tmp_path}[where]
    def never(results):
        raise AssertionError("drew figures before checking the path")
    monkeypatch.setattr(report, "_study_figures", never)
    with pytest.raises(ReportPathError, match="directory|not a folder") as info:
        write_report(make_results(), path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)


def test_unknown_layout_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown figure layout"):
        write_report(make_results(figures=("nope",)), tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_a_batch_size_sized_report_builds_quickly(tmp_path):
    """8 values x 3 seeds x 200 epochs, like the built-in batch-size study (which builds in
    about 2 s here); the bound leaves room for a loaded 2-core machine."""
    import time
    res = make_results(labels=tuple(str(b) for b in (4, 8, 16, 32, 64, 128, 256, 450)),
                       figures=("panels",))
    for v in res.values:
        v.runs = [_run(s, 0.8 + 0.01 * s, epochs=200) for s in range(3)]
    start = time.perf_counter()
    write_report(res, tmp_path / "r.html")
    assert time.perf_counter() - start < 10.0


# --------------------------------------------------------------------------- the browser
def browse(page: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    """Open ``page`` in headless Chromium (no network, fresh profile) with ``flags``."""
    return chromium(page.as_uri(), tmp_path, *flags)


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.root: dict[str, str | None] = {}
        self.imgs: list[dict[str, str | None]] = []
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        if tag == "html" and not self.root:
            self.root = dict(attrs)
        elif tag == "img":
            self.imgs.append(dict(attrs))
        elif tag == "svg":
            self.svgs += 1


def rendered(page: Path, tmp_path: Path) -> tuple[_Dom, str]:
    """The DOM after load (``--dump-dom``) and Chromium's console log lines."""
    proc = browse(page, tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    console = "\n".join(line for line in proc.stderr.splitlines() if ":CONSOLE" in line)
    return dom, console


def self_check(dom: _Dom) -> tuple[str | None, list[str], int, list[str]]:
    """(ready, js errors, image count, broken images) as the page recorded them."""
    root = dom.root
    return (root.get("data-ready"), json.loads(root.get("data-js-errors") or '["missing"]'),
            int(root.get("data-images") or -1), json.loads(root.get("data-images-broken") or '["?"]'))


def with_extra(page: Path, tmp_path: Path, snippet: str) -> Path:
    """A copy of ``page`` with ``snippet`` inserted at the end of the body."""
    text = page.read_text(encoding="utf-8").replace("</body>", snippet + "\n</body>")
    out = tmp_path / f"extra-{uuid.uuid4().hex[:8]}.html"
    out.write_text(text, encoding="utf-8")
    return out


@needs_chromium
def test_renders_offline_without_errors_and_every_image_decodes(page, tmp_path):
    dom, console = rendered(page, tmp_path)
    ready, errors, n_images, broken = self_check(dom)
    assert ready == "1", "the page's load handler never ran"
    assert errors == [], errors
    assert console == "", console                       # nothing reached the console either
    assert n_images == len(dom.imgs) == 5 and broken == []
    assert all((i.get("src") or "").startswith("data:image/png;base64,") for i in dom.imgs)


@needs_chromium
def test_screenshot_is_not_blank(page, tmp_path):
    from PIL import Image
    shot = tmp_path / "shot.png"
    proc = browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000",
                  "--hide-scrollbars")
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (2000, 1200)
    ink = (np.abs(pixels - 255).sum(axis=2) > 60).mean()
    colors = len(np.unique(pixels.reshape(-1, 3)[::7], axis=0))
    assert ink > 0.03 and colors > 50, (ink, colors)   # text, tables and plotted curves


@needs_chromium
@pytest.mark.parametrize("snippet, error", [
    ("<script>undefinedFunction();</script>", "undefinedFunction is not defined"),
    ("<script>console.error('boom');</script>", "console.error: boom"),
    ("<script>Promise.reject(new Error('late'));</script>", "unhandled rejection"),
    ('<img alt="remote" src="https://example.com/x.png">', "blocked by CSP"),
])
def test_the_error_check_catches_a_broken_page(page, tmp_path, snippet, error):
    dom, console = rendered(with_extra(page, tmp_path, snippet), tmp_path)
    ready, errors, _, _ = self_check(dom)
    assert ready == "1" and any(error in e for e in errors), errors
    assert console, "Chromium logged nothing to the console"


@needs_chromium
def test_the_image_check_catches_an_image_that_does_not_decode(page, tmp_path):
    bad = with_extra(page, tmp_path, '<img alt="corrupt" src="data:image/png;base64,AAAA">')
    dom, _ = rendered(bad, tmp_path)
    ready, errors, n_images, broken = self_check(dom)
    assert ready == "1" and n_images == 6 and broken == ["corrupt"]
    assert any("failed to load <img> corrupt" in e for e in errors)


@needs_chromium
def test_summary_table_sorts_on_click(page, tmp_path):
    probe = with_extra(page, tmp_path, """<script>
      window.addEventListener("load", function () {
        var t = document.querySelector("table.summary"), th = t.tHead.rows[0].cells[2];
        var order = function () { return Array.prototype.map.call(t.tBodies[0].rows,
          function (r) { return r.cells[0].textContent; }).join(","); };
        th.click(); var up = order(); th.click(); var down = order();
        document.documentElement.setAttribute("data-sorted", up + "|" + down);
      });</script>""")
    proc = browse(probe, tmp_path, "--dump-dom")
    dom = _Dom()
    dom.feed(proc.stdout)
    assert self_check(dom)[1] == []
    assert dom.root.get("data-sorted") == "0.0,0.5,0.9|0.9,0.5,0.0"
