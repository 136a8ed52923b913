"""The lab's page in headless Chromium, served by uvicorn on 127.0.0.1 and driven over the
DevTools protocol (one browser and one server for the module): a study's answer, curves,
toggles and overlay, the cross-study table, and the playground, without a JavaScript error."""
from __future__ import annotations

import socket
import threading

import pytest

from hyperlab.lab.app import create_app

from browser import needs_chromium
from lab_cases import TOKEN

pytestmark = needs_chromium


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def page():
    from cdp import Browser
    with Browser() as browser:
        yield browser


@pytest.fixture
def fresh(page):
    """The page with its console log emptied; no message may appear during the test."""
    page.console.clear()
    yield page
    assert not page.console, page.console


def choose(page, control: str, value: str, event: str = "change") -> None:
    """Set the control ``control`` to ``value`` as a user would (its ``event`` fires)."""
    page.js(f"{{ const c = document.getElementById('{control}'); c.value = '{value}';"
            f"c.dispatchEvent(new Event('{event}')); }}")


def traces(page, plot: str, prefix: str) -> int:
    """How many traces of plot ``plot`` have a uid starting with ``prefix``."""
    return page.js(f"document.getElementById('{plot}').data.filter(t => "
                   f"String(t.uid).startsWith('{prefix}')).length")


def seed_lines(page, plot: str) -> dict[str, list[int]]:
    """The seeds drawn by each seed-lines trace of plot ``plot`` (by trace uid)."""
    return page.js(f"Object.fromEntries(document.getElementById('{plot}').data.filter(t => "
                   "String(t.uid).startsWith('seeds-')).map(t => [t.uid, "
                   "[...new Set(t.text.filter(s => s !== null))].sort()]))")


def test_a_study_renders_its_answer_one_curve_per_seed_and_the_overlay(served, fresh):
    fresh.open(f"{served}/?token={TOKEN}#/study/lab-tiny")
    fresh.wait("document.getElementById('curves')?.data")
    assert seed_lines(fresh, "curves") == {"seeds-0": [0, 1], "seeds-1": [0, 1]}
    assert traces(fresh, "curves", "median-") == 2
    assert "gives the highest final validation accuracy" in fresh.js(
        "document.getElementById('answer').textContent")
    assert fresh.js("document.getElementById('grid-box').hidden")    # one swept axis
    fresh.wait("document.getElementById('overlay').data")          # drawn after the curves
    assert traces(fresh, "overlay", "overlay0-median-0") == 1
    choose(fresh, "overlay-1", "0.9|1")
    assert traces(fresh, "overlay", "overlay1-seed-1-1") == 1
    assert traces(fresh, "overlay", "overlay1-") == 1           # that seed only


def test_a_seed_toggle_and_the_axis_switches_redraw_in_place(served, fresh):
    fresh.open(f"{served}/?token={TOKEN}#/study/lab-tiny")
    fresh.wait("document.getElementById('curves')?.data")
    fresh.js("document.querySelector('#seeds input').click()")     # seed 0 off
    assert seed_lines(fresh, "curves") == {"seeds-0": [1], "seeds-1": [1]}
    choose(fresh, "x-axis", "updates")
    assert fresh.js("document.getElementById('curves').layout.xaxis.title.text") == \
        "weight updates"
    assert fresh.js("Math.max(...document.getElementById('curves').data"
                    ".find(t => t.uid === 'median-0').x)") == 15    # 3 epochs of 5 updates
    choose(fresh, "y-axis", "log")
    assert fresh.js("document.getElementById('curves').layout.yaxis.type") == "log"


def test_the_studies_list_is_a_cross_study_table(served, fresh):
    fresh.open(f"{served}/?token={TOKEN}#/")
    fresh.wait("document.querySelector('table.studies tbody tr')")
    row = fresh.js("[...document.querySelectorAll('table.studies tbody tr')].find(r => "
                   "r.cells[0].textContent.startsWith('lab-tiny')).innerText")
    assert "Does momentum help a tiny network?" in row and "4 / 4" in row
    cells = fresh.js("[...document.querySelectorAll('table.studies tbody tr')].find(r => "
                     "r.cells[0].textContent.startsWith('lab-tiny')).cells.length")
    assert cells == 6 and "final validation accuracy" in row and ", n = 2" in row  # leading
    assert fresh.js("document.getElementById('to-playground').getAttribute('href')") == \
        "#/playground"


def test_the_playground_trains_two_setups_side_by_side_and_scrubs(served, fresh):
    fresh.open(f"{served}/?token={TOKEN}#/playground")
    fresh.wait("document.getElementById('play-B-train')")
    for side, rate in (("A", "0.1"), ("B", "0.5")):
        fresh.js(f"for (const [k, v] of Object.entries({{hidden: '4', seeds: '2', epochs: '4', "
                 f"learning_rate: '{rate}'}})) document.getElementById(`play-{side}-${{k}}`)"
                 ".value = v;")
        fresh.js(f"document.getElementById('play-{side}-train').click()")
        fresh.wait(f"document.getElementById('play-{side}-scrub')", timeout=60)
    assert fresh.js("document.querySelectorAll('canvas.region').length") == 4   # 2 x 2 seeds
    last = fresh.js("document.getElementById('play-A-seed-0').toDataURL()")
    assert fresh.js("document.getElementById('play-A-epoch').textContent") == "4 of 4"
    choose(fresh, "play-A-scrub", "0", "input")
    fresh.wait("document.getElementById('play-A-epoch').textContent === '0 of 4'")
    fresh.wait(f"document.getElementById('play-A-seed-0').toDataURL() !== '{last}'")
    assert traces(fresh, "play-A-curves", "") == 4               # loss and val_accuracy x 2


def test_a_bad_playground_value_is_shown_by_its_field(served, page):
    page.open(f"{served}/?token={TOKEN}#/playground")
    page.wait("document.getElementById('play-A-train')")
    page.js("document.getElementById('play-A-seeds').value = '9';"
            "document.getElementById('play-A-train').click()")
    page.wait("document.getElementById('play-A-error-seeds').textContent")
    assert page.js("document.getElementById('play-A-error-seeds').textContent") == \
        "seeds: expected an int from 1 to 5, found '9'"
