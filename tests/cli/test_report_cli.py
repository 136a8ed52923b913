"""``hyperlab report``: a trained tiny study's stored runs as one HTML file (the lab's page
of the study, read-only), and its errors."""
from __future__ import annotations

import json
import re

import pytest

from hyperlab.cli.main import main
from hyperlab.studies import Study

STUDY = """
name = "tiny"
description = "tiny momentum sweep"
question = "Does <momentum> help?"
axis = "Momentum"
repeats = 2
figures = ["panels", "overlay"]
[fit]
epochs = 4
batch_size = 100
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(study file, output dir) with the study trained into OUT/hyperlab.db once."""
    root = tmp_path_factory.mktemp("report-cli")
    path = root / "tiny.toml"
    path.write_text(STUDY)
    out = root / "out"
    out.mkdir()
    Study.load(path).run(db=out / "hyperlab.db", progress=False)
    return path, out


def embedded(text: str) -> dict:
    """The study's view the page draws (the JSON embedded in it)."""
    found = re.search(r'<script type="application/json" id="lab-data">(.*?)</script>', text, re.S)
    data = json.loads(found[1])
    assert list(data["studies"]) == [data["start"]]
    return data["studies"][data["start"]]


def test_report_into_the_output_folder_like_show_and_plot(capsys, trained):
    study, out = trained
    code, stdout, err = run(capsys, "report", study, "--out", out)
    path = out / "tiny" / "report.html"
    assert code == 0, err
    assert stdout.strip() == str(path)
    text = path.read_text(encoding="utf-8")
    assert "default-src 'none'" in text and "<title>hyperlab report: tiny</title>" in text
    view = embedded(text)
    assert view["question"] == "Does <momentum> help?"
    assert view["description"] == "tiny momentum sweep"
    assert "gives the highest final validation accuracy" in view["answer"][0]
    assert view["axes"] == [{"name": "compile.optimizer.momentum", "labels": ["0.0", "0.9"]}]
    assert [v["seeds"] for v in view["values"]] == [[0, 1], [0, 1]]
    assert len(view["values"][0]["curves"]["val_accuracy"]["seeds"][0]) == 4   # epochs
    assert (view["stored"], view["planned"]) == (4, 4)


def test_report_to_a_file_with_a_store_elsewhere(capsys, trained, tmp_path):
    study, out = trained
    target = tmp_path / "deep" / "tiny.html"
    code, stdout, err = run(capsys, "report", study, "--out", target, "--db", out / "hyperlab.db")
    assert code == 0, err
    assert stdout.strip() == str(target) and target.read_text().startswith("<!doctype html>")
    assert [p.name for p in target.parent.iterdir()] == ["tiny.html"]


def test_repeats_reports_the_first_seeds(capsys, trained, tmp_path):
    study, out = trained
    target = tmp_path / "one.html"
    code, _, err = run(capsys, "report", study, "--out", target, "--db", out / "hyperlab.db",
                       "--repeats", "1")
    assert code == 0, err
    view = embedded(target.read_text())
    assert view["repeats"] == 1 and (view["stored"], view["planned"]) == (2, 2)


def test_set_reports_the_runs_trained_with_it(capsys, trained, tmp_path):
    study, _ = trained
    db, target = tmp_path / "set.db", tmp_path / "set.html"
    Study.load(study).with_overrides(repeats=1, sets=["fit.epochs=2"]).run(db, progress=False)
    code, _, err = run(capsys, "report", study, "--out", target, "--db", db, "--repeats", "1")
    assert code == 2 and "no stored runs" in err and not target.exists()
    code, _, err = run(capsys, "report", study, "--out", target, "--db", db, "--repeats", "1",
                       "--set", "fit.epochs=2")
    assert code == 0, err
    view = embedded(target.read_text())
    assert (view["stored"], view["planned"]) == (2, 2)
    assert len(view["values"][0]["curves"]["loss"]["seeds"][0]) == 2


def test_help_lists_report(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "report" in out
    code, out, _ = run(capsys, "report", "--help")
    assert code == 0 and "--out" in out and "report.html" in out and "--db" in out


@pytest.mark.parametrize("argv, message", [
    (["report", "{study}", "--out", "{empty}"], "no results store; run 'hyperlab run {study}'"),
    (["report", "{study}", "--out", "{tmp}/x.html", "--db", "{other_db}"],
     "no stored runs of study 'tiny'"),
    (["report", "{study}", "--out", "{blocker}/x.html", "--db", "{db}"], "is a file, not a folder"),
    (["report", "{study}", "--out", "{tmp}/dir.html", "--db", "{db}"], "is a directory"),
    (["report", "no-such-study"], "built-in studies"),
])
def test_errors_are_one_line_and_exit_2(capsys, trained, tmp_path, argv, message):
    study, out = trained
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    (tmp_path / "dir.html").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    from hyperlab.studies.store import Store
    with Store(other / "hyperlab.db"):
        pass                                        # an empty store
    fill = dict(study=study, empty=tmp_path / "empty", tmp=tmp_path, blocker=blocker,
                db=out / "hyperlab.db", other_db=other / "hyperlab.db")
    code, stdout, err = run(capsys, *[a.format(**fill) for a in argv])
    assert code == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperlab: error: ")
    assert message.format(**fill) in lines[0], lines[0]
    if message.startswith(("is a file", "is a directory")):   # an output path problem
        assert "--out" in lines[0]
