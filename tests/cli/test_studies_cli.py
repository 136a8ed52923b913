"""The study commands end to end: studies, run, show, plot, reproduce, and their errors."""
from __future__ import annotations

import csv

import pytest

from hyperlab.cli.main import main

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


def test_studies_lists_the_tutorial_and_lecture_experiments(capsys):
    code, out, _ = run(capsys, "studies")
    names = [line.split()[0] for line in out.strip().splitlines()]
    assert code == 0 and names[:3] == ["batch-size", "gradient-descent-flavours", "epochs"]
    assert len(names) == 17 and "step-decay" in names and "init-activation" in names


def test_run_writes_table_csv_markdown_and_figures_then_show_and_plot(capsys, tmp_path, study_file):
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "run", str(study_file), "--out", str(out_dir), "--no-progress")
    assert code == 0, err
    assert "Momentum = " in out and "gives the best validation accuracy" in out
    folder = out_dir / "tiny"
    with open(folder / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["value"] for r in rows] == ["0.0", "0.9"] and all(r["n"] == "2" for r in rows)
    assert {"value", "n", "val_accuracy_mean", "val_accuracy_sd", "accuracy_mean",
            "val_loss_mean"} <= set(rows[0])
    assert (folder / "summary.md").read_text().startswith("|")
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


def test_reproduce_writes_every_study(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "--repeats", "1", "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    readme = (tmp_path / "README.md").read_text()
    for name in ("batch-size", "optimizers", "plateau-patience", "step-decay"):
        assert f"[{name}]" in readme and (tmp_path / name / "summary.csv").exists()
        assert list((tmp_path / name).glob("*.png"))
    assert (tmp_path / "plateau-patience" / "plateau-patience-plateau.png").exists()
    assert (tmp_path / "optimizers" / "optimizers-overlay.svg").exists()
