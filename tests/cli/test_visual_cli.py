"""hyperlab animate / landscape / figure end to end, and their one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hyperlab.cli.main import main
from hyperlab.data import datasets


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_animate_two_optimizers_side_by_side(capsys, tmp_path):
    out = tmp_path / "cmp.gif"
    code, text, err = run(capsys, "animate", "--optimizer", "SGD", "--optimizer", "Adam",
                          "--epochs", "6", "--every", "2", "--size", "160", "300", "--grid", "20",
                          "--fps", "5", "--out", out)
    assert code == 0, err
    im = Image.open(out)
    assert im.n_frames == 4 and im.size == (320, 300)
    lines = text.splitlines()
    assert lines[0].startswith("SGD(lr=0.01, momentum=0.9)") and "val_accuracy" in lines[0]
    assert lines[1].startswith("Adam(lr=0.001)")
    assert lines[2].startswith(f"wrote {out} (4 frames, 6 epochs, a frame every 2")
    im.seek(3)
    assert np.asarray(im.convert("RGB")).std() > 20


def test_landscape_prints_the_table_and_writes_figure_and_animation(capsys, tmp_path):
    png, gif = tmp_path / "path.png", tmp_path / "path.gif"
    code, text, err = run(capsys, "landscape", "rosenbrock",
                          "--optimizer", "SGD(learning_rate=1e-3, momentum=0.9)",
                          "--optimizer", "Adam(learning_rate=0.05)", "--steps", "2000",
                          "--start", "-1.5", "2", "--out", png, "--out", gif)
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0].startswith("rosenbrock: f = ") and "2000 steps from (-1.5, 2)" in lines[0]
    assert lines[1].split()[:2] == ["optimizer", "final"]
    assert lines[3].startswith("SGD(lr=0.001, momentum=0.9)")
    assert lines[4].startswith("Adam(lr=0.05)") and "reached the global minimum (1, 1)" in lines[4]
    assert lines[-2:] == [f"wrote {png}", f"wrote {gif}"]
    assert Image.open(png).size == (800, 600) and Image.open(gif).n_frames > 10


def test_landscape_wavy_reports_local_and_global_minima(capsys, tmp_path):
    code, text, err = run(capsys, "landscape", "wavy", "--out", tmp_path / "w.svg")
    assert code == 0, err
    assert "stuck at x≈-3.235 (local minimum" in text
    assert "reached the global minimum x≈2.763" in text


def test_figures(capsys, tmp_path):
    act = tmp_path / "act.png"
    code, text, err = run(capsys, "figure", "activations", "--out", act)
    assert code == 0 and text.startswith(f"wrote {act}") and act.stat().st_size > 10_000
    code, _, err = run(capsys, "figure", "activations", "--activation", "relu", "tanh",
                       "--range", "-2", "2", "--out", tmp_path / "two.svg")
    assert code == 0, err
    sched = tmp_path / "sched.png"
    code, text, err = run(capsys, "figure", "schedule", "--schedule",
                          "StepDecay(initial_learning_rate=0.1, drop=0.5, epochs_drop=10)",
                          "--schedule", "PowerDecay(initial_learning_rate=0.1, decay_steps=100)",
                          "--epochs", "100", "--steps-per-epoch", "16", "--out", sched)
    assert code == 0, err
    assert np.asarray(Image.open(sched).convert("RGB")).std() > 10


def fill_store(db, study_path) -> None:
    """Stored runs of the study with made-up histories (no training)."""
    from hyperlab.studies import get, planner
    from hyperlab.studies.results import RunResult
    from hyperlab.studies.store import Store
    study = get(str(study_path))
    rows = []
    for run in planner.plan(study)[1]:
        lr0 = run.config["compile"]["optimizer"]["learning_rate"]
        hist = {k: [0.5] * 6 for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        hist["learning_rate"] = [lr0 * 0.5 ** (e // 2) for e in range(6)]
        rows.append((RunResult(key=run.key, seed=run.seed, history=hist, updates=30,
                               wall_time_s=0.1), run.config))
    with Store(db) as store:
        store.put_runs(rows, study=study.name, versions={})


def test_figure_schedule_of_a_stored_study(capsys, tmp_path):
    study = tmp_path / "tiny-lr.toml"
    study.write_text('name = "tiny-lr"\naxis = "Learning Rate"\nrepeats = 2\n[fit]\n'
                     'epochs = 6\nbatch_size = 100\n[[sweep]]\n'
                     'field = "compile.optimizer.learning_rate"\nvalues = [0.1, 0.01]\n')
    db = tmp_path / "runs.db"
    fill_store(db, study)
    out = tmp_path / "lr.png"
    code, text, err = run(capsys, "figure", "schedule", "--db", db, "--study", study,
                          "--out", out)
    assert code == 0, err
    assert out.stat().st_size > 5_000


@pytest.mark.parametrize("argv, message", [
    (["animate", "--data-arg", "n_features=3", "--out", "{tmp}/a.gif"], "2-D data"),
    (["animate", "--dataset", "digits", "--out", "{tmp}/a.gif"],  # 8x8 images, if present
     "2-D data" if "digits" in datasets.NAMES else "Unknown dataset"),
    (["animate", "--dataset", "nope", "--out", "{tmp}/a.gif"], "Unknown dataset"),
    (["animate", "--optimizer", "Bogus", "--out", "{tmp}/a.gif"], "Unknown optimizer"),
    (["animate", "--optimizer", "SGD(lr=__import__('os').getcwd())", "--out", "{tmp}/a.gif"],
     "is not NAME"),
    (["animate", "--optimizer", "SGD(lr=__import__('os'))", "--out", "{tmp}/a.gif"],
     "not a learning-rate schedule"),
    (["animate", "--every", "0", "--out", "{tmp}/a.gif"], "--every"),
    (["animate", "--out", "{tmp}/blocker/a.gif"], "cannot write"),
    (["animate", "--out", "{tmp}/a.webm"], "unsupported file type"),
    (["animate", "--hidden", "0", "--out", "{tmp}/a.gif"], "--hidden"),
    (["animate", "--batch-size", "lots", "--out", "{tmp}/a.gif"], "--batch-size"),
    (["animate", "--size", "10", "--out", "{tmp}/a.gif"], "--size"),
    (["landscape", "himmelblau"], "unknown landscape"),
    (["landscape", "saddle", "--start", "1", "--out", "{tmp}/s.png"], "--start"),
    (["landscape", "bowl", "--steps", "0", "--out", "{tmp}/s.png"], "--steps"),
    (["landscape", "bowl", "--optimizer", "SGD(learning_rate=", "--out", "{tmp}/s.png"],
     "cannot parse"),
    (["landscape", "bowl", "--out", "{tmp}/s.txt"], "unsupported file type"),
    (["figure", "schedule"], "--schedule SPEC"),
    (["figure", "schedule", "--schedule", "CosineDecay(initial_learning_rate=0.1, "
      "decay_steps=10)", "--out", "{tmp}/s.png"], "--steps-per-epoch"),
    (["figure", "schedule", "--db", "{tmp}/none.db", "--study", "step-decay",
      "--out", "{tmp}/s.png"], "no such results store"),
    (["figure", "schedule", "--db", "{tmp}/empty.db", "--study", "step-decay",
      "--out", "{tmp}/s.png"], "no stored runs"),
    (["figure", "schedule", "--study", "step-decay"], "go together"),
    (["figure", "activations", "--schedule", "StepDecay(initial_learning_rate=1)"],
     "does not apply"),
    (["figure", "activations", "--activation", "softmax", "--out", "{tmp}/a.png"], "softmax"),
    (["figure", "spectrum"], "invalid choice"),
])
def test_errors_are_one_line_and_exit_2(capsys, tmp_path, argv, message):
    (tmp_path / "blocker").write_text("a file, not a directory")
    from hyperlab.studies.store import Store
    Store(tmp_path / "empty.db").close()
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperlab: error: "), err
    assert message in lines[0]
    assert not list(tmp_path.glob("a.*")) and not list(tmp_path.glob("s.*"))
