"""Offline pages of the lab's front end: a folder of study pages sharing one Plotly with an
index (the cross-study table), and the compare views (grid heat map, parallel coordinates,
overlay) drawn with networking off."""
from __future__ import annotations

import json
import re

import pytest

from hyperlab import studies
from hyperlab.lab import offline
from hyperlab.studies.executors import stored_results
from hyperlab.studies.store import Store

from browser import needs_chromium
from lab_cases import offline_dom


def embedded(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="lab-data">(.*?)</script>', page, re.S)
    return json.loads(found[1])


def between(dom: str, start: str, end: str) -> str:
    return dom[dom.index(start):dom.index(end)]


@pytest.fixture(scope="module")
def pages(trained, grid, tmp_path_factory):
    """The folder of study pages of the tiny study, the grid study and an unrun study."""
    out = tmp_path_factory.mktemp("pages")
    studied = []
    for path, db in (trained, grid):
        study = studies.load(path)
        with Store(db) as store:
            studied.append((study, stored_results(study, store)[0]))
    unrun = studies.load(trained[0]).with_overrides(sets=["fit.epochs=2"])
    with Store(trained[1]) as store:
        studied.append((unrun, stored_results(unrun, store)[0]))
    return out, offline.write_study_pages(studied, out)


def test_one_page_per_study_with_runs_sharing_one_plotly(pages):
    out, written = pages
    assert written == [out / "index.html", out / "lab-tiny" / "report.html",
                       out / "lab-grid" / "report.html"]
    assert sorted(p.name for p in out.iterdir()) == [
        "index.html", "lab-grid", "lab-tiny", "plotly-basic.min.js"]
    plotly = (out / "plotly-basic.min.js").stat().st_size
    for page in written[1:]:
        text = page.read_text(encoding="utf-8")
        assert '<script src="../plotly-basic.min.js"></script>' in text
        assert page.stat().st_size < plotly / 5               # Plotly is not inline
        markup = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)
        assert not re.search(r'\b(src|href)="(?!data:|#|\.\./index\.html)', markup)
    index = embedded(written[0].read_text(encoding="utf-8"))
    assert index["pages"] == {"lab-tiny": "lab-tiny/report.html",
                              "lab-grid": "lab-grid/report.html"}
    leading = {s["name"]: s["leading"] for s in index["list"]["studies"]}
    assert leading["lab-grid"]["title"] == "final validation accuracy"
    assert leading["lab-grid"]["best"] in ("0.0 / 0.01", "0.0 / 0.1", "0.9 / 0.01", "0.9 / 0.1")
    assert leading["lab-grid"]["low"] <= leading["lab-grid"]["estimate"] <= \
        leading["lab-grid"]["high"]


@needs_chromium
def test_the_index_lists_every_study_offline(pages, browser):
    out, _ = pages
    dom, logged, asked = offline_dom(browser, (out / "index.html").as_uri(),
                                     "document.querySelector('table.studies tbody tr')")
    assert not logged and not asked, (logged, asked)
    rows = re.findall(r'<a href="(lab-[a-z]+/report\.html)">', dom)
    assert rows == ["lab-tiny/report.html", "lab-grid/report.html"]
    assert "leading measure" in dom and ">final validation accuracy<" in dom


@needs_chromium
def test_a_grid_page_draws_heat_map_parallel_coordinates_and_overlay_offline(pages, browser):
    out, _ = pages
    dom, logged, asked = offline_dom(browser, (out / "lab-grid" / "report.html").as_uri())
    assert not logged and not asked, (logged, asked)
    heat = between(dom, 'id="heatmap"', 'id="parallel"')
    assert heat.count('class="textpoint"') == 4                  # one cell per pair of values
    fills = re.findall(r'<path data-index="\d+"[^>]*fill: (rgb\([^)]*\))', heat)
    assert len(fills) == 4 and len(set(fills)) > 1      # the cells, coloured by the measure
    parallel = between(dom, 'id="parallel"', 'id="overlay-box"')
    assert parallel.count('class="trace scatter') == 8           # 4 values x 2 seeds
    overlay = between(dom, 'id="overlay-box"', 'id="table"')
    assert len(set(re.findall(r'traceoverlay\d-median-(\d)', overlay))) == 2
    assert 'id="knobs"' not in dom                                 # read-only


@needs_chromium
def test_hyperlab_report_opens_offline_with_the_same_views(capsys, trained, tmp_path, browser):
    from hyperlab.cli.main import main
    path, db = trained
    target = tmp_path / "report.html"
    assert main(["report", str(path), "--db", str(db), "--out", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    page = target.read_text(encoding="utf-8")
    assert "<script src=" not in page                             # Plotly inline: one file
    dom, logged, asked = offline_dom(browser, target.as_uri())
    assert not logged and not asked, (logged, asked)
    assert set(re.findall(r'class="trace scatter traceseeds-(\d+)"', dom)) == {"0", "1"}
    assert "gives the highest final validation accuracy" in dom
    assert 'id="knobs"' not in dom and 'id="overlay"' in dom


@needs_chromium
def test_a_studys_analyses_are_drawn_under_its_curves_offline(tmp_path, browser):
    study = studies.from_dict({
        "name": "rates", "repeats": 2, "analyses": ["lr-sweep"], "model": {"hidden": [6]},
        "fit": {"epochs": 3, "batch_size": 100},
        "sweep": [{"field": "compile.optimizer.learning_rate", "values": [0.3, 0.03]}]})
    results = study.run(db=tmp_path / "s.db", progress=False)
    page = tmp_path / "rates.html"
    offline.write_report(study, results, page)
    (analysis,) = embedded(page.read_text(encoding="utf-8"))["studies"]["rates"]["analyses"]
    dom, logged, asked = offline_dom(
        browser, page.as_uri(), "document.getElementById('analysis-lr-sweep')?.data")
    assert logged == [] and asked == []
    box = between(dom, 'id="analyses"', 'Summary table')
    assert "Learning-rate sensitivity" in box and analysis["answer"] in box
    assert 'id="analysis-lr-sweep"' in box
