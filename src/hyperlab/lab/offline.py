"""The lab's page as one self-contained HTML file: the same front end, read-only.

The file holds the page, its style sheet, Plotly and ``lab.js`` inline, and the JSON the
server would answer (the studies list and each included study's view) in a
``<script type="application/json">`` element; ``lab.js`` reads that element instead of
asking a server, and hides the form. A Content-Security-Policy forbids every other source,
so the file opens offline and loads nothing from anywhere.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from hyperlab._fileio import write_text
from hyperlab.lab import views
from hyperlab.studies.store import Store

STATIC = resources.files("hyperlab.lab") / "static"
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:")


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


def render(page_data: dict[str, Any]) -> str:
    """The self-contained page for ``page_data`` (see :func:`data`)."""
    read = lambda name: (STATIC / name).read_text(encoding="utf-8")  # noqa: E731
    embedded = json.dumps(page_data, allow_nan=False, ensure_ascii=True)
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>hyperlab lab (offline)</title>\n<link rel=\"icon\" href=\"data:,\">\n"
        f"<style>\n{read('lab.css')}</style>\n"
        f"<script>{_script(read('vendor/plotly-basic.min.js'))}</script>\n"
        f"<script type=\"application/json\" id=\"lab-data\">{_script(embedded)}</script>\n"
        "</head>\n<body>\n<header><a href=\"#/\">hyperlab lab (offline, read-only)</a></header>\n"
        "<main id=\"main\"><p>Loading…</p></main>\n"
        f"<script>{_script(read('lab.js'))}</script>\n</body>\n</html>\n")


def write(path: str | Path, page_data: dict[str, Any]) -> Path:
    """Write the offline page of ``page_data`` (see :func:`data`) to ``path``, atomically;
    returns the path."""
    return write_text(path, render(page_data), "the offline lab page")
