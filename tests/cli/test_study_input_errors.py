"""Bad input to the study commands — study files, data files, flags — against a store that
holds a trained study: each ends as one line on stderr with exit code 2, no traceback, and
every stored run is still there."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from hyperlab.cli.main import main
from hyperlab.studies import Study
from hyperlab.studies.store import Store

ROWS = [f"{a:.2f},{(a * 7) % 3:.2f},{int(a > 1)}" for a in np.linspace(0, 2, 40)]
CSV = "\n".join(["f1,f2,label", *ROWS]) + "\n"


def study_text(name: str = '"good"', path: str = "data.csv", extra: str = "") -> str:
    return f"""name = {name}
repeats = 1
[data]
name = "csv"
path = "{path}"
[fit]
epochs = 2
batch_size = 20
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
{extra}"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path, int]:
    """(good study file, output folder, stored runs): the study trained into OUT/hyperlab.db
    (the shapes of tests/cli/test_studies_cli.py's CSV study: one compiled program)."""
    root = tmp_path_factory.mktemp("project")
    (root / "data.csv").write_text(CSV)
    (root / "study.toml").write_text(study_text())
    out = root / "out"
    out.mkdir()
    Study.load(root / "study.toml").run(out / "hyperlab.db", progress=False)
    with Store(out / "hyperlab.db") as store:
        return root / "study.toml", out, store.count_runs()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


X = np.linspace(0, 1, 20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10) % 2
RUN = ["run", "{tmp}/study.toml", "--db", "{db}", "--out", "{tmp}/out", "--no-progress"]
GOOD = ["{study}", "--out", "{out}"]

# (id, files written into a fresh folder, argv, what the message names)
CASES = [
    # study files
    ("name-parent", {"study.toml": study_text('"../../x"')}, RUN, "name: expected a plain name"),
    ("name-absolute", {"study.toml": study_text('"/abs/dir"')}, RUN, "'/abs/dir'"),
    ("name-nested", {"study.toml": study_text('"a/b"')}, RUN, "'a/b'"),
    ("name-empty", {"study.toml": study_text('""')}, RUN, "found ''"),
    ("name-backslash", {"study.toml": study_text('"a\\\\b"')}, RUN, "plain name"),
    ("name-dot", {"study.toml": study_text('"."')}, RUN, "plain name"),
    ("name-newline", {"study.toml": study_text('"a\\nb"')}, RUN, "control characters"),
    ("name-not-text", {"study.toml": study_text("3")}, RUN, "name: expected str"),
    ("not-toml", {"study.toml": "name = "}, RUN, "not valid TOML"),
    ("not-utf8", {"study.toml": b"name = '\xff'"}, RUN, "cannot read the study file"),
    ("unknown-key", {"study.toml": study_text().replace("repeats", "nmae = 1\nrepeats")}, RUN,
     "nmae: unknown key"),
    ("sweep-unknown-key", {"study.toml": study_text(extra="nmae = 1")}, RUN,
     "sweep[0].nmae: unknown key"),
    ("study-is-a-folder", {"study.toml/x": ""}, RUN, "cannot read the study file"),
    ("data-missing", {"study.toml": study_text(path="nope.csv")}, RUN,
     "study.toml: data: {tmp}/nope.csv: does not exist"),
    ("data-is-a-folder", {"study.toml": study_text(path="."), "x.csv": CSV}, RUN,
     "is a directory"),
    ("swept-data-missing", {"data.csv": CSV, "study.toml": study_text(extra=(
        '[[sweep]]\nfield = "data.path"\nvalues = ["data.csv", "gone.csv"]'))}, RUN, "gone.csv"),
    ("repeats-zero", {"study.toml": study_text().replace("repeats = 1", "repeats = 0")}, RUN,
     "repeats: expected an int >= 1"),
    # data files
    ("csv-empty", {"data.csv": "", "study.toml": study_text()}, RUN, "the file is empty"),
    ("csv-no-label", {"data.csv": CSV.replace(",label", ",y"), "study.toml": study_text()}, RUN,
     "no label column 'label'"),
    ("csv-text-value", {"data.csv": CSV.replace("0.00,", "zero,", 1),
                        "study.toml": study_text()}, RUN, "non-numeric value 'zero'"),
    ("csv-one-class", {"data.csv": "a,label\n1,x\n2,x\n3,x\n", "study.toml": study_text()}, RUN,
     "single class"),
    ("csv-ragged", {"data.csv": CSV + "1,2,3,4\n", "study.toml": study_text()}, RUN,
     "4 fields but the header has 3"),
    ("csv-not-utf8", {"data.csv": b"a,label\n\xff,1\n", "study.toml": study_text()}, RUN,
     "not UTF-8"),
    ("csv-one-row", {"data.csv": "a,label\n1,0\n", "study.toml": study_text()}, RUN,
     "need at least 2 samples"),
    ("npz-not-zip", {"d.npz": b"not a zip", "study.toml": study_text(path="d.npz").replace(
        '"csv"', '"npz"')}, RUN, "not an .npz archive"),
    ("npz-no-arrays", {"d.npz": npz_bytes(a=X), "study.toml": study_text(path="d.npz").replace(
        '"csv"', '"npz"')}, RUN, "expected arrays 'x' and 'y'"),
    ("npz-lengths", {"d.npz": npz_bytes(x=X, y=Y[:7]), "study.toml": study_text(
        path="d.npz").replace('"csv"', '"npz"')}, RUN, "10 samples but 'y' has 7 labels"),
    ("npz-nan", {"d.npz": npz_bytes(x=np.where(X > 0.5, np.nan, X), y=Y),
                 "study.toml": study_text(path="d.npz").replace('"csv"', '"npz"')}, RUN,
     "non-finite values"),
    # flags
    ("set-swept", {}, ["run", *GOOD, "--set", "compile.optimizer.momentum=0.5"],
     "this field is swept by the study (sweep[0]"),
    ("set-inside-swept", {}, ["run", *GOOD, "--set", "compile.optimizer.momentum.x=1"],
     "compile.optimizer.momentum is swept"),
    ("set-table-with-swept", {}, ["run", *GOOD, "--set",
                                  'compile.optimizer={name="SGD", momentum=0.5}'],
     "compile.optimizer.momentum is swept"),
    ("show-set-swept", {}, ["show", *GOOD, "--set", "compile.optimizer.momentum=0.1"], "swept"),
    ("plot-set-swept", {}, ["plot", *GOOD, "--set", "compile.optimizer.momentum=0.1"], "swept"),
    ("report-set-swept", {}, ["report", *GOOD, "--set", "compile.optimizer.momentum=0.1"],
     "swept"),
    ("set-section-table", {}, ["run", *GOOD, "--set", "fit={batch_size=0}"], "fit.batch_size"),
    ("set-data-path-cwd", {}, ["run", *GOOD, "--set", "data.path=not-here.csv"],
     "(after --set): data: {tmp}/not-here.csv: does not exist"),
    ("set-no-equals", {}, ["show", *GOOD, "--set", "fit.epochs"], "expected KEY=VALUE"),
    ("set-model-field", {}, ["run", *GOOD, "--set", "model.depth=3"], "model.depth"),
    ("report-bad-value", {}, ["report", *GOOD, "--set", "fit.epochs=0"], "fit.epochs"),
    ("plot-repeats-zero", {}, ["plot", *GOOD, "--repeats", "0"], "repeats"),
    ("show-set-not-stored", {}, ["show", *GOOD, "--set", "fit.epochs=9"],
     "no stored runs of study 'good' (with these repeats and settings); run 'hyperlab run"),
]


@pytest.mark.parametrize("files, argv, message", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(capsys, project, tmp_path, monkeypatch,
                                                        files, argv, message):
    study, out, before = project
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    if "data.csv" not in files and "study.toml" in files:
        shutil.copy(study.parent / "data.csv", tmp_path / "data.csv")
    monkeypatch.chdir(tmp_path)
    fill = {"{tmp}": tmp_path, "{db}": out / "hyperlab.db", "{study}": study, "{out}": out}
    for placeholder, value in fill.items():
        argv = [a.replace(placeholder, str(value)) for a in argv]
    code = main(argv)
    stdout, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and stdout == "" and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("hyperlab: error: "), err
    assert message.replace("{tmp}", str(tmp_path)) in lines[0], lines[0]
    assert not (tmp_path / "out").exists()                  # nothing written
    with Store(out / "hyperlab.db") as store:
        assert store.count_runs() == before == 2


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)
