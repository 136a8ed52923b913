"""The lab's page as offline HTML files: the same front end, read-only.

A page holds its style sheet and ``lab.js`` inline and the JSON the server would answer (the
studies list and each included study's view) in a ``<script type="application/json">``
element; ``lab.js`` reads that element instead of asking a server, and hides the form. A
Content-Security-Policy forbids every other source, so a page loads nothing from anywhere.

* :func:`write` -- several studies in one file (``hyperlab lab --export``), Plotly inline;
* :func:`write_report` -- one study in one file (``hyperlab report``), Plotly inline;
* :func:`write_study_pages` -- a folder: one page per study, an index page with the
  cross-study table, and one shared copy of Plotly beside them (``hyperlab reproduce``:
  seventeen inline copies of Plotly would weigh 20 MB).
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from hyperlab import studies
from hyperlab._fileio import output_folder, write_text
from hyperlab.lab import views
from hyperlab.studies.results import StudyResults
from hyperlab.studies.store import Store

STATIC = resources.files("hyperlab.lab") / "static"
PLOTLY = "plotly-basic.min.js"           # the vendored bundle's name, inline or beside
REPORT_NAME = "report.html"              # a study's page in its folder: OUT/<study>/report.html
INDEX_NAME = "index.html"
# 'self' lets a page of a folder load the shared Plotly beside it (nothing else is 'self').
CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


class ReportPathError(ValueError):
    """The page cannot be written where asked (the message names the path and why)."""


def data(catalog: views.Catalog, store: Store | None,
         names: list[str] | None = None) -> dict[str, Any]:
    """What the page reads: the list and the view of ``names`` (default: every study of
    ``catalog`` with a stored run); ValueError for a name the catalog does not know."""
    known = catalog.names()
    for name in names or []:
        if name not in known:
            raise ValueError(f"{name}: no such study in the lab; studies: {', '.join(known)}")
    listed = views.study_list(catalog, store)
    chosen = names or [s["name"] for s in listed["studies"] if s["stored"]]
    return {"list": {"studies": [s for s in listed["studies"] if s["name"] in chosen],
                     "others": []},
            "studies": {name: views.study_view(catalog.get(name), store) for name in chosen}}


def _script(text: str) -> str:
    """``text`` safe inside a <script> element (no ``</`` can close it early)."""
    return text.replace("</", "<\\/")


def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def render(page_data: dict[str, Any], plotly: str | None = "inline",
           title: str = "hyperlab lab (offline)") -> str:
    """The page for ``page_data`` (see :func:`data`) with Plotly ``"inline"``, loaded from
    the relative URL ``plotly``, or left out (None: a page without plots)."""
    embedded = json.dumps(page_data, allow_nan=False, ensure_ascii=True)
    home = page_data.get("home")
    header = (f"<a href=\"{home}\">hyperlab: every study (offline, read-only)</a>" if home
              else "<a href=\"#/\">hyperlab lab (offline, read-only)</a>")
    scripts = ("" if plotly is None else
               f"<script>{_script(_read('vendor/' + PLOTLY))}</script>\n" if plotly == "inline"
               else f"<script src=\"{plotly}\"></script>\n")
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_escape(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
        f"<style>\n{_read('lab.css')}</style>\n{scripts}"
        f"<script type=\"application/json\" id=\"lab-data\">{_script(embedded)}</script>\n"
        f"</head>\n<body>\n<header>{header}</header>\n"
        "<main id=\"main\"><p>Loading…</p></main>\n"
        f"<script>{_script(_read('lab.js'))}</script>\n</body>\n</html>\n")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write(path: str | Path, page_data: dict[str, Any]) -> Path:
    """Write the offline page of ``page_data`` (see :func:`data`) to ``path``, atomically;
    returns the path."""
    return write_text(path, render(page_data), "the offline lab page")


def check_target(path: Path) -> Path:
    """``path``, once its folder exists (created if needed); ReportPathError naming the path
    when it is a folder or a file stands in the way, before anything is read."""
    if path.is_dir():
        raise ReportPathError(f"report path {path} is a directory; give a file name, "
                              f"e.g. {path / REPORT_NAME}")
    blocker = next((p for p in (path.parent, *path.parent.parents)
                    if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ReportPathError(f"cannot write the report to {path}: {blocker} is a file, not a "
                              "folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportPathError(f"cannot write the report to {path}: cannot create folder "
                              f"{path.parent} ({err.strerror or err})") from None
    return path


def _pages(study: studies.Study, results: StudyResults) -> tuple[dict, dict]:
    """The study's list entry and view, from its assembled ``results``."""
    if not any(v.runs for v in results.values):
        raise ValueError(f"study {results.name!r} has no stored runs to report; run "
                         f"'hyperlab run {results.name}' first")
    view = views.results_view(study, results)
    found = view["answer"] and {"lines": view["answer"], "measures": view["measures"]}
    return views.list_item(study, found, view["stored"], view["planned"]), view


def write_report(study: studies.Study, results: StudyResults, path: str | os.PathLike[str]
                 ) -> Path:
    """Write the study's page (answer, measures, curves, compare views, table) as ONE
    self-contained file at ``path``, atomically; returns it. ValueError when ``results``
    hold no run, ReportPathError when ``path`` cannot be written."""
    path = check_target(Path(path))
    item, view = _pages(study, results)
    page = {"list": {"studies": [item], "others": []}, "studies": {study.name: view},
            "start": study.name}
    return write_text(path, render(page, title=f"hyperlab report: {study.name}"), "the report")


def write_study_pages(studied: Iterable[tuple[studies.Study, StudyResults]],
                      out_dir: str | os.PathLike[str]) -> list[Path]:
    """For each (study, its results): ``OUT/<study>/report.html``; then ``OUT/index.html``
    (every study's question, answer, leading measure and runs, linking to its page) and
    ``OUT/plotly-basic.min.js``, which the pages share. Returns the index, then the pages.
    Studies without a stored run are left out."""
    out = output_folder(out_dir, "the study pages")
    shutil.copyfile(str(STATIC / "vendor" / PLOTLY), out / PLOTLY)
    items, written = [], []
    for study, results in studied:
        if not any(v.runs for v in results.values):
            continue
        item, view = _pages(study, results)
        items.append(item)
        page = {"list": {"studies": [item], "others": []}, "studies": {study.name: view},
                "start": study.name, "home": f"../{INDEX_NAME}"}
        folder = output_folder(out / study.name, f"the page of study {study.name!r}")
        written.append(write_text(folder / REPORT_NAME, render(
            page, f"../{PLOTLY}", f"hyperlab: {study.name}"), "a study's page"))
    index = {"list": {"studies": items, "others": []}, "studies": {},
             "pages": {item["name"]: f"{item['name']}/{REPORT_NAME}" for item in items}}
    return [write_text(out / INDEX_NAME, render(index, None, "hyperlab: every study"),
                       "the index page"), *written]
