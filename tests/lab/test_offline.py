"""``hyperlab lab --export``: the lab's page as one self-contained, read-only HTML file."""
from __future__ import annotations

import json
import re

from hyperlab.cli.main import main

from browser import needs_chromium
from lab_cases import offline_dom


def export(capsys, *argv) -> tuple[int, str, str]:
    code = main(["lab", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def embedded(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="lab-data">(.*?)</script>', page, re.S)
    return json.loads(found[1])


def test_the_page_embeds_every_stored_study_and_loads_nothing(capsys, trained, tmp_path):
    path, db = trained
    target = tmp_path / "lab.html"
    code, out, err = export(capsys, path, "--db", db, "--export", target)
    assert code == 0, err
    assert out.strip() == str(target)
    page = target.read_text(encoding="utf-8")
    assert "default-src 'none'" in page
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert not re.search(r'\b(src|href)="(?!data:|#)', markup)     # nothing from anywhere
    data = embedded(page)
    assert [s["name"] for s in data["list"]["studies"]] == ["lab-tiny"]   # the stored one
    view = data["studies"]["lab-tiny"]
    assert view["answer"] and view["stored"] == 4
    assert len(view["values"][0]["curves"]["val_accuracy"]["seeds"]) == 2


def test_text_cannot_close_the_embedding_script(capsys, trained, tmp_path):
    path, db = trained
    odd = tmp_path / "odd.toml"
    odd.write_text(path.read_text().replace('name = "lab-tiny"', 'name = "odd"').replace(
        'description = "', 'description = "</script><b>bold</b> '))
    target = tmp_path / "odd.html"
    assert export(capsys, odd, "--db", db, "--export", target, "--study", "odd")[0] == 0
    page = target.read_text(encoding="utf-8")
    assert page.count("</script>") == page.count("<script")
    assert embedded(page)["studies"]["odd"]["description"].startswith("</script><b>bold</b>")


def test_bad_exports_are_one_line(capsys, trained, tmp_path):
    path, db = trained
    for argv, words in [
        (("--db", tmp_path / "none.db", "--export", tmp_path / "x.html"), "no results store"),
        ((path, "--db", db, "--export", tmp_path / "x.html", "--study", "nope"), "no such study"),
        (("--db", db, "--study", "momentum"), "--study selects the studies of --export"),
    ]:
        code, _, err = export(capsys, *argv)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


@needs_chromium
def test_the_page_renders_offline_read_only(capsys, trained, tmp_path, browser):
    path, db = trained
    target = tmp_path / "lab.html"
    assert export(capsys, path, "--db", db, "--export", target)[0] == 0
    dom, logged, asked = offline_dom(browser, f"{target.as_uri()}#/study/lab-tiny")
    assert not logged and not asked, (logged, asked)
    assert set(re.findall(r'class="trace scatter traceseeds-(\d+)"', dom)) == {"0", "1"}
    assert "gives the highest final validation accuracy" in dom
    assert 'id="knobs"' not in dom and ">null<" not in dom
