"""The lab's page in headless Chromium, served by uvicorn on 127.0.0.1 and driven by
Playwright (one browser, one page and one server for the module): a study's answer, curves,
toggles and overlay, the cross-study table, and the playground, without a JavaScript error."""
from __future__ import annotations

import socket
import threading

import pytest

from hyperlab.lab.app import create_app

from browser import needs_chromium, watch
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
def opened(browser):
    """One page for the module's tests, in its own context (1200 x 1600), and the list of
    what it logs (console messages and uncaught exceptions)."""
    context = browser.new_context(viewport={"width": 1200, "height": 1600})
    page = context.new_page()
    yield page, watch(page)
    context.close()


@pytest.fixture
def page(opened):
    """The module's page, its log emptied: ``logged`` holds what the test makes it log."""
    opened[1].clear()
    return opened[0]


@pytest.fixture
def logged(page, opened):
    return opened[1]


@pytest.fixture
def fresh(page, logged):
    """The page; no console message or uncaught exception may appear during the test."""
    yield page
    assert not logged, logged


def scrub(page, control: str, value: str) -> None:
    """Move the range input ``control`` to ``value`` as a user would (its input event fires)."""
    page.evaluate(f"{{ const c = document.getElementById('{control}'); c.value = '{value}';"
             "c.dispatchEvent(new Event('input')); }")


def traces(page, plot: str, prefix: str) -> int:
    """How many traces of plot ``plot`` have a uid starting with ``prefix``."""
    return page.evaluate(f"document.getElementById('{plot}').data.filter(t => "
                    f"String(t.uid).startsWith('{prefix}')).length")


def seed_lines(page, plot: str) -> dict[str, list[int]]:
    """The seeds drawn by each seed-lines trace of plot ``plot`` (by trace uid)."""
    return page.evaluate(f"Object.fromEntries(document.getElementById('{plot}').data.filter(t => "
                    "String(t.uid).startsWith('seeds-')).map(t => [t.uid, "
                    "[...new Set(t.text.filter(s => s !== null))].sort()]))")


def test_a_study_renders_its_answer_one_curve_per_seed_and_the_overlay(served, fresh):
    fresh.goto(f"{served}/?token={TOKEN}#/study/lab-tiny")
    fresh.wait_for_function("() => document.getElementById('curves')?.data")
    assert seed_lines(fresh, "curves") == {"seeds-0": [0, 1], "seeds-1": [0, 1]}
    assert traces(fresh, "curves", "median-") == 2
    assert "gives the highest final validation accuracy" in fresh.evaluate(
        "document.getElementById('answer').textContent")
    assert fresh.evaluate("document.getElementById('grid-box').hidden")    # one swept axis
    fresh.wait_for_function("() => document.getElementById('overlay').data")   # after the curves
    assert traces(fresh, "overlay", "overlay0-median-0") == 1
    fresh.select_option("#overlay-1", "0.9|1")
    assert traces(fresh, "overlay", "overlay1-seed-1-1") == 1
    assert traces(fresh, "overlay", "overlay1-") == 1           # that seed only


def test_a_seed_toggle_and_the_axis_switches_redraw_in_place(served, fresh):
    fresh.goto(f"{served}/?token={TOKEN}#/study/lab-tiny")
    fresh.wait_for_function("() => document.getElementById('curves')?.data")
    fresh.locator("#seeds input").first.click()                   # seed 0 off
    assert seed_lines(fresh, "curves") == {"seeds-0": [1], "seeds-1": [1]}
    fresh.select_option("#x-axis", "updates")
    assert fresh.evaluate("document.getElementById('curves').layout.xaxis.title.text") == \
        "weight updates"
    assert fresh.evaluate("Math.max(...document.getElementById('curves').data"
                          ".find(t => t.uid === 'median-0').x)") == 15   # 3 epochs of 5 updates
    fresh.select_option("#y-axis", "log")
    assert fresh.evaluate("document.getElementById('curves').layout.yaxis.type") == "log"


def test_the_studies_list_is_a_cross_study_table(served, fresh):
    fresh.goto(f"{served}/?token={TOKEN}#/")
    fresh.wait_for_function("() => document.querySelector('table.studies tbody tr')")
    row = fresh.locator("table.studies tbody tr").filter(
        has=fresh.locator("td:first-child", has_text="lab-tiny"))
    text = row.inner_text()
    assert "Does momentum help a tiny network?" in text and "4 / 4" in text
    assert row.locator("td").count() == 6
    assert "final validation accuracy" in text and ", n = 2" in text       # leading measure
    assert fresh.get_attribute("#to-playground", "href") == "#/playground"


def test_the_playground_trains_two_setups_side_by_side_and_scrubs(served, fresh):
    fresh.goto(f"{served}/?token={TOKEN}#/playground")
    fresh.wait_for_function("() => document.getElementById('play-B-train')")
    for side, rate in (("A", "0.1"), ("B", "0.5")):
        fresh.evaluate(f"for (const [k, v] of Object.entries({{hidden: '4', seeds: '2', "
                       f"epochs: '4', learning_rate: '{rate}'}})) "
                       f"document.getElementById(`play-{side}-${{k}}`).value = v;")
        fresh.click(f"#play-{side}-train")
        fresh.wait_for_function(f"() => document.getElementById('play-{side}-scrub')",
                                timeout=60_000)
    assert fresh.locator("canvas.region").count() == 4                    # 2 x 2 seeds
    last = fresh.evaluate("document.getElementById('play-A-seed-0').toDataURL()")
    assert fresh.text_content("#play-A-epoch") == "4 of 4"
    scrub(fresh, "play-A-scrub", "0")
    fresh.wait_for_function(
        "() => document.getElementById('play-A-epoch').textContent === '0 of 4'")
    fresh.wait_for_function(
        f"() => document.getElementById('play-A-seed-0').toDataURL() !== '{last}'")
    assert traces(fresh, "play-A-curves", "") == 4               # loss and val_accuracy x 2


def test_the_playground_diagnoses_a_setup_that_does_not_learn(served, fresh):
    fresh.goto(f"{served}/?token={TOKEN}#/playground")
    fresh.wait_for_function("() => document.getElementById('play-A-doctor')")
    fresh.fill("#play-A-hidden", "8")
    fresh.fill("#play-A-learning_rate", "10")
    fresh.fill("#play-A-epochs", "6")
    fresh.click("#play-A-doctor")
    fresh.wait_for_function("() => document.querySelector('#play-A-doctor-result li')",
                            timeout=60_000)
    items = fresh.locator("#play-A-doctor-result li").all_text_contents()
    assert items and all(". Try " in item for item in items)
    assert fresh.text_content("#play-A-doctor-result code").startswith(
        "hyperlab doctor --dataset moons --hidden 8 ")


def test_a_bad_playground_value_is_shown_by_its_field(served, page, logged):
    page.goto(f"{served}/?token={TOKEN}#/playground")
    page.wait_for_function("() => document.getElementById('play-A-train')")
    page.fill("#play-A-seeds", "9")
    page.click("#play-A-train")
    page.wait_for_function("() => document.getElementById('play-A-error-seeds').textContent")
    assert page.text_content("#play-A-error-seeds") == \
        "seeds: expected an int from 1 to 5, found '9'"
    assert logged == ["console.error: Failed to load resource: the server responded with a "
                      "status of 400 (Bad Request)"]                # the refused form only
