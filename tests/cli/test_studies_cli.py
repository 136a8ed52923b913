"""The study commands end to end: studies, run, show, plot, reproduce, and their errors."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from hyperlab.cli.main import main
from hyperlab.studies.store import Store

STUDY = """
name = "tiny"
description = "tiny momentum sweep"
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
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def study_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(STUDY)
    return path


CSV_STUDY = """
name = "csv-data"
[data]
name = "csv"
path = "train.csv"
[fit]
epochs = 2
batch_size = 20
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""


def csv_project(folder, seed=0):
    """``folder/study.toml`` (2 runs) reading ``train.csv`` beside it: 40 rows, 2 classes."""
    folder.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).normal(size=(40, 2)).round(3)
    rows = [f"{a},{b},{int(a + b > 0)}" for a, b in x]
    (folder / "train.csv").write_text("\n".join(["f1,f2,label", *rows]) + "\n")
    (folder / "study.toml").write_text(CSV_STUDY)
    return folder / "study.toml"


def stored(db):
    with Store(db) as store:
        return store.count_runs()


def test_editing_the_data_retrains_and_the_same_data_elsewhere_reuses_the_runs(capsys, tmp_path):
    study, db = csv_project(tmp_path / "a"), tmp_path / "runs.db"
    flags = ["--db", str(db), "--out", str(tmp_path / "out"), "--no-progress"]
    code, first, err = run(capsys, "run", str(study), *flags)
    assert code == 0 and stored(db) == 2, err
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    code, copied, err = run(capsys, "run", str(tmp_path / "b" / "study.toml"), *flags)
    assert code == 0 and stored(db) == 2, err               # nothing trained: the same runs
    assert copied.splitlines()[:4] == first.splitlines()[:4]
    data = tmp_path / "a" / "train.csv"
    data.write_text(data.read_text().replace("\n0.", "\n1.", 1))   # one feature value
    code, _, err = run(capsys, "run", str(study), *flags)
    assert code == 0 and stored(db) == 4, err               # changed data: both runs again


def test_relative_data_paths_follow_the_study_file_and_set_paths_the_working_dir(
        capsys, tmp_path, monkeypatch):
    csv_project(tmp_path / "project")
    db, elsewhere = tmp_path / "runs.db", tmp_path / "elsewhere"
    csv_project(elsewhere, seed=1)                  # a train.csv here too, with other data
    monkeypatch.chdir(elsewhere)
    flags = ["--db", str(db), "--out", "out", "--no-progress"]
    code, _, err = run(capsys, "run", "../project/study.toml", *flags)
    assert code == 0 and stored(db) == 2, err
    code, _, err = run(capsys, "run", str(elsewhere / "study.toml"), *flags)
    assert code == 0 and stored(db) == 4, err       # the other folder's data: other runs
    shutil.copy(elsewhere / "train.csv", elsewhere / "copy.csv")
    code, _, err = run(capsys, "show", "../project/study.toml", "--db", str(db),
                       "--set", "data.path=copy.csv")
    assert code == 0 and stored(db) == 4, err       # --set: a path in the working directory


def test_show_and_plot_with_set_find_the_runs_trained_with_it(capsys, tmp_path, study_file):
    out = tmp_path / "out"
    sets = ["--set", "fit.epochs=2", "--repeats", "1"]
    code, _, err = run(capsys, "run", str(study_file), "--out", str(out), "--no-progress", *sets)
    assert code == 0, err
    code, _, err = run(capsys, "show", str(study_file), "--out", str(out))
    assert code == 2 and "run '" in err and "no stored runs" in err
    code, text, err = run(capsys, "show", str(study_file), "--out", str(out), *sets)
    assert code == 0 and "0.9" in text, err
    for figure in (out / "tiny").glob("*.png"):
        figure.unlink()
    code, text, err = run(capsys, "plot", str(study_file), "--out", str(out), *sets)
    assert code == 0 and (out / "tiny" / "tiny-panels.png").stat().st_size > 1000, err


def test_studies_lists_the_tutorial_and_lecture_experiments(capsys):
    code, out, _ = run(capsys, "studies")
    names = [line.split()[0] for line in out.strip().splitlines()]
    assert code == 0 and names[:3] == ["batch-size", "gradient-descent-flavours", "epochs"]
    assert len(names) == 17 and "step-decay" in names and "init-activation" in names


def test_run_writes_table_csv_markdown_and_figures_then_show_and_plot(capsys, tmp_path, study_file):
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "run", str(study_file), "--out", str(out_dir), "--no-progress")
    assert code == 0, err
    assert "Momentum = " in out and "gives the highest final validation accuracy" in out
    folder = out_dir / "tiny"
    with open(folder / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["value"] for r in rows] == ["0.0", "0.9"] and all(r["n"] == "2" for r in rows)
    assert {"value", "n", "val_accuracy_mean", "val_accuracy_sd", "accuracy_mean",
            "val_loss_mean"} <= set(rows[0])
    page = (folder / "summary.md").read_text()
    assert page.startswith("# tiny: tiny momentum sweep") and "**Answer.** Momentum = " in page
    assert "\n| value |" in page and "[tiny-panels.png](tiny-panels.png)" in page
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["study"] == "tiny" and verdict["answer"] in page
    assert verdict["leading"] == "final_val_accuracy" == verdict["measures"][0]["name"]
    lead = verdict["measures"][0]
    assert lead["paired"] and lead["answer"] == verdict["answer"]
    assert [v["label"] for v in lead["values"]] == ["0.0", "0.9"]
    assert {v["verdict"] for v in lead["values"]} <= {"best", "worse", "better",
                                                        "no difference detected"}
    for v in lead["values"]:
        assert v["n"] == 2 and sorted(v["seeds"]) == ["0", "1"]
        assert v["estimate"] == pytest.approx(np.mean(list(v["seeds"].values())))
    for layout in ("panels", "overlay"):
        assert (folder / f"tiny-{layout}.png").stat().st_size > 1000
        assert (folder / f"tiny-{layout}.svg").stat().st_size > 1000
    code, out, _ = run(capsys, "show", str(study_file), "--out", str(out_dir))
    assert code == 0 and "0.9" in out and "val acc" in out
    (folder / "tiny-panels.png").unlink()
    code, out, _ = run(capsys, "plot", str(study_file), "--out", str(out_dir))
    assert code == 0 and (folder / "tiny-panels.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "no-such-study"], "built-in studies"),
    (["run", "{study}", "--set", "fit.epochs=0"], "fit.epochs"),
    (["run", "{study}", "--set", "fit.nope=1"], "fit.nope"),
    (["run", "{study}", "--repeats", "0"], "repeats"),
    (["run", "{study}", "--out", "{blocker}/sub"], "not writable"),
    (["run", "{study}", "--db", "{foreign}"], "foreign"),
    (["show", "{study}", "--out", "{empty}"], "hyperlab run"),
])
def test_errors_are_one_line_and_exit_2(capsys, tmp_path, study_file, argv, message):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    foreign = tmp_path / "foreign.db"
    foreign.write_text("not a database at all")
    fill = dict(study=study_file, blocker=blocker, foreign=foreign, empty=tmp_path / "empty")
    argv = [a.format(**fill) for a in argv]
    if "--out" not in argv and argv[0] == "run":
        argv += ["--out", str(tmp_path / "o")]
    code, _, err = run(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert message.lower() in err.lower(), err


def test_reproduce_writes_the_studies_it_is_given(capsys, tmp_path):
    """tests/studies/test_builtin_studies.py trains every built-in study; three here."""
    names = ["plateau-patience", "time-based-schedule", "step-decay"]
    code, out, err = run(capsys, "reproduce", *names, "--repeats", "1", "--out", str(tmp_path),
                         "--no-progress")
    assert code == 0, err
    readme = (tmp_path / "README.md").read_text()
    for name in names:
        assert f"[{name}]" in readme and (tmp_path / name / "summary.csv").exists()
        assert list((tmp_path / name).glob("*.png"))
    assert "[momentum]" not in readme and not (tmp_path / "momentum").exists()
    assert (tmp_path / "plateau-patience" / "plateau-patience-plateau.png").exists()
    assert not list(tmp_path.glob("*/*.svg"))           # PNG only unless --svg
    index = (tmp_path / "index.html").read_text()       # the interactive pages, offline
    for name in names:
        assert f"{name}/report.html" in index and (tmp_path / name / "report.html").exists()
    code, out, err = run(capsys, "reproduce", "step-decay", "--repeats", "1", "--svg",
                         "--out", str(tmp_path), "--no-progress")   # stored: nothing trains
    assert code == 0, err
    assert (tmp_path / "step-decay" / "step-decay-schedules.svg").exists()
    assert not list((tmp_path / "plateau-patience").glob("*.svg"))
