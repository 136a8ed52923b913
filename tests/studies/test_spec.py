"""Study files: validation errors name file, key path, expectation and finding; sweeps expand."""
from __future__ import annotations

import re

import pytest

from hyperlab import studies
from hyperlab.studies import spec

BASE = """
name = "t"
repeats = 2
[fit]
epochs = 3
batch_size = 64
"""


def write(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_every_builtin_study_loads_and_expands():
    names = studies.builtin_names()
    assert len(names) == 17 and names[0] == "batch-size"
    sizes = {n: len(studies.get(n).variants()) for n in names}
    assert sizes["batch-size"] == 8 and sizes["optimizers"] == 6 and sizes["learning-rate"] == 8


def test_grid_product_and_zipped_axes(tmp_path):
    study = studies.load(write(tmp_path, BASE + """
[[sweep]]
fields = ["fit.batch_size", "compile.optimizer.learning_rate"]
values = [[1, 0.01], [32, 0.1]]
labels = ["online", "mini"]
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""))
    variants = study.variants()
    assert [v.label for v in variants] == ["online / 0.0", "online / 0.9", "mini / 0.0", "mini / 0.9"]
    mini = variants[3].config
    assert mini["fit"]["batch_size"] == 32 and mini["compile"]["optimizer"]["learning_rate"] == 0.1
    assert mini["compile"]["optimizer"]["momentum"] == 0.9


def test_labelled_optimizer_values_and_resolved_defaults(tmp_path):
    study = studies.load(write(tmp_path, BASE + """
[[sweep]]
field = "compile.optimizer"
values = [{ name = "Adam", learning_rate = 0.01 }, { name = "SGD", learning_rate = 0.01 }]
"""))
    adam, sgd = study.variants()
    assert (adam.label, sgd.label) == ("Adam", "SGD")
    assert adam.config["compile"]["optimizer"]["beta_2"] == 0.999  # Keras default filled in
    assert sgd.config["compile"]["optimizer"]["momentum"] == 0.0


def test_equal_configurations_get_equal_keys():
    a = spec.resolve({**spec.DEFAULTS, "compile": {"loss": "categorical_crossentropy",
                      "optimizer": {"name": "sgd", "learning_rate": 0.01}}}, "a")
    b = spec.resolve({**spec.DEFAULTS, "compile": {"loss": "categorical_crossentropy",
                      "optimizer": {"name": "SGD", "learning_rate": 0.01, "momentum": 0.0}}}, "b")
    digest = spec.data_facts(a["data"]).digest
    assert spec.run_key(a, 0, digest) == spec.run_key(b, 0, digest) != spec.run_key(a, 1, digest)


@pytest.mark.parametrize("extra, message", [
    ("[fitt]\nepochs = 2", "fitt: unknown key"),
    ("[fit.schedule]\nname = 'Nope'", "Nope"),
    ("[[sweep]]\nfield = 'fit.batchsize'\nvalues = [1]", "fit.batchsize"),
    ("[[sweep]]\nfield = 'model.depth'\nvalues = [1]", "model.depth"),
    ("[[sweep]]\nfield = 'fit.batch_size'\nvalues = []", "non-empty"),
    ("[[sweep]]\nfield = 'compile.optimizer.momentum'\nvalues = [1.5]", "momentum"),
    ("[[sweep]]\nfields = ['fit.epochs', 'fit.batch_size']\nvalues = [[1]]", "one per field"),
    ("[[sweep]]\nfield = 'fit.epochs'\nvalues = [1, 2]\nlabels = ['a']", "labels"),
    ("[data]\nname = 'mnist'", "data.name"),
    ("[data]\nnoise = -1\nname = 'moons'", "noise"),
])
def test_validation_errors_name_file_and_key(tmp_path, extra, message):
    path = write(tmp_path, BASE + extra)
    with pytest.raises(studies.StudyError, match=message) as err:
        studies.load(path)
    assert str(path) in str(err.value)


def test_repeats_and_set_overrides(tmp_path):
    study = studies.load(write(tmp_path, BASE))
    assert study.with_overrides(repeats=5, sets=["fit.epochs=7"]).base["fit"]["epochs"] == 7
    with pytest.raises(studies.StudyError, match="repeats"):
        study.with_overrides(repeats=0)
    with pytest.raises(studies.StudyError, match="KEY=VALUE"):
        study.with_overrides(sets=["fit.epochs"])
    with pytest.raises(studies.StudyError, match="unknown field"):
        study.with_overrides(sets=["epochs=3"])


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(studies.StudyError, match="not valid TOML"):
        studies.load(write(tmp_path, "name = "))
    with pytest.raises(studies.StudyError, match="no built-in study"):
        studies.get(str(tmp_path / "nope.toml"))


@pytest.mark.parametrize("name", ["../../x", "/abs/dir", "a/b", "", " ", ".", "..", "a\\b",
                                  "x..y", "a\tb"])
def test_a_study_name_must_be_a_plain_folder_name(name):
    with pytest.raises(studies.StudyError, match="name: expected a plain name") as err:
        studies.from_dict({"name": name})
    assert repr(name) in str(err.value) and "\n" not in str(err.value)
    assert studies.from_dict({"name": "lr-0.1_sweep v2"}).name == "lr-0.1_sweep v2"


def test_set_may_not_touch_a_swept_field_but_may_set_beside_it(tmp_path):
    study = studies.load(write(tmp_path, BASE + """
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""))
    for item in ["compile.optimizer.momentum=0.5", "compile.optimizer.momentum.x=1",
                 'compile.optimizer={name="SGD", momentum=0.5}',
                 "compile={optimizer={momentum=0}}"]:
        with pytest.raises(studies.StudyError, match="compile.optimizer.momentum is swept|this "
                                                     "field is swept"):
            study.with_overrides(sets=[item])
    changed = study.with_overrides(sets=['compile.optimizer={name="SGD", learning_rate=0.1}',
                                         "fit={epochs=5}"])
    assert [v.config["compile"]["optimizer"]["momentum"] for v in changed.variants()] == [0.0, 0.9]
    assert changed.base["compile"]["optimizer"]["learning_rate"] == 0.1
    assert changed.base["fit"] == {**study.base["fit"], "epochs": 5}   # a table merges


def test_relative_data_paths_resolve_against_the_study_folder(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    rows = "".join(f"{i},{i % 2}\n" for i in range(10))
    (tmp_path / "sub" / "d.csv").write_text("a,label\n" + rows)
    path = tmp_path / "sub" / "s.toml"
    path.write_text(BASE + '[data]\nname = "csv"\npath = "d.csv"\n'
                    '[[sweep]]\nfield = "data.path"\nvalues = ["d.csv", "./d.csv"]\n'
                    'labels = ["plain", "dotted"]\n')
    monkeypatch.chdir(tmp_path)
    study = studies.load("sub/s.toml")
    assert study.base["data"]["path"] == str(tmp_path / "sub" / "d.csv")
    paths = {v.config["data"]["path"] for v in study.variants()}
    assert paths == {str(tmp_path / "sub" / "d.csv")}
    raw = {"data": {"name": "csv", "path": "d.csv"}}
    assert studies.from_dict(raw, root=tmp_path / "sub").base["data"]["path"] == str(
        tmp_path / "sub" / "d.csv")
    with pytest.raises(studies.StudyError, match=f"data: {tmp_path / 'd.csv'}: does not exist"):
        studies.from_dict(raw)                       # no root: the working directory


def _invalid_field_cases() -> list:
    return [pytest.param(path, bad, id=f"{path}-{bad!r}")
            for path, constraint in spec.FIELDS.items() for bad in constraint.invalid()]


@pytest.mark.parametrize("path, bad", _invalid_field_cases())
def test_every_declared_field_rejects_its_invalid_values_in_one_line(path, bad):
    raw: dict = {"fit": {"epochs": 1}}
    *tables, key = path.split(".")
    node = raw
    for table in tables:
        node = node.setdefault(table, {})
    node[key] = bad
    with pytest.raises(studies.StudyError) as err:
        studies.from_dict(raw, source="s.toml")
    text = str(err.value)
    assert text.startswith("s.toml: ") and "\n" not in text
    assert re.search(rf"{re.escape(path)}(\[\d+\])?: expected .+, found .+$", text), text
