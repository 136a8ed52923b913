"""The lecture's model options in study files: batch-norm placement, dropout, penalties,
diagnostics — checked against the lecture's own parameter counts."""
import copy

import pytest

import hyperlab as hl
from hyperlab.studies import build, spec

LECTURE = ("init-activation", "batch-norm", "dropout", "regularization", "gradient-clipping",
           "early-stopping", "online-vs-minibatch")


def _model(**model):
    config = spec.resolve(spec._merge(copy.deepcopy(spec.DEFAULTS),
                                      {"model": {"hidden": [300, 100], **model}}), "test")
    m = hl.Sequential(build.build_layers(config, (28, 28), 10), seed=0)
    counts = {"total": 0, "trainable": 0}
    m.summary(print_fn=lambda text: counts.update(
        total=int(text.split("Total params: ")[1].split()[0].replace(",", "")),
        trainable=int(text.split("Trainable params: ")[1].split()[0].replace(",", ""))))
    return m, counts


@pytest.mark.parametrize("placement, total, trainable", [
    ("none", 266_610, 266_610), ("after", 271_346, 268_978), ("before", 270_946, 268_578)])
def test_batch_norm_placements_give_the_lecture_parameter_counts(placement, total, trainable):
    _, counts = _model(batch_norm=placement)
    assert counts == {"total": total, "trainable": trainable}


def test_dropout_and_penalties_build_the_layers_they_name():
    m, _ = _model(dropout=0.2, kernel_regularizer={"l2": 1e-3})
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["Flatten", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    dense = [layer for layer, kind in zip(m.layers, kinds) if kind == "Dense"]
    assert [layer.kernel_regularizer.l2 for layer in dense] == [pytest.approx(1e-3)] * 3


def test_options_that_are_off_leave_the_run_key_unchanged():
    base = spec.resolve(copy.deepcopy(spec.DEFAULTS), "test")
    explicit = copy.deepcopy(spec.DEFAULTS)
    explicit["model"].update(batch_norm="none", dropout=0.0, kernel_regularizer={})
    explicit["fit"]["diagnostics"] = False
    digest = spec.data_facts(base["data"]).digest
    assert spec.run_key(spec.resolve(explicit, "test"), 0, digest) == spec.run_key(base, 0, digest)


@pytest.mark.parametrize("model, message", [
    ({"batch_norm": "sideways"}, "batch_norm"), ({"dropout": 1.0}, "dropout"),
    ({"kernel_regularizer": {"l3": 1}}, "kernel_regularizer"),
    ({"kernel_regularizer": {"l2": -1}}, "l2")])
def test_bad_model_options_name_the_field(model, message):
    config = copy.deepcopy(spec.DEFAULTS)
    config["model"].update(model)
    with pytest.raises(spec.StudyError, match=message):
        spec.resolve(config, "study.toml")


@pytest.mark.parametrize("name", LECTURE)
def test_lecture_studies_are_built_in_and_valid(name):
    study = hl.studies.get(name)
    assert study.variants() and study.question
    assert study.base["data"]["name"] == "digits"


def test_diagnostics_are_stored_and_drawn(tmp_path):
    study = hl.Study.from_dict({
        "name": "tiny-diag", "repeats": 2, "figures": ["gradients"],
        "data": {"name": "digits"}, "model": {"hidden": [8, 8], "batch_norm": "before"},
        "fit": {"epochs": 2, "diagnostics": True},
        "sweep": [{"field": "compile.optimizer.learning_rate", "values": [0.01, 0.1]}]})
    db = tmp_path / "s.db"
    first = study.run(db, progress=False)
    again = study.run(db, progress=False)  # read back from the store, nothing trained
    run, stored = first.values[0].runs[0], again.values[0].runs[0]
    assert run.history.keys() == stored.history.keys()
    assert stored.history["grad_norm/dense"] == run.history["grad_norm/dense"]
    assert len(stored.history["dead_fraction/activation_1"]) == 2
    paths = first.save_figures(tmp_path / "figs")
    assert [p.name for p in paths] == ["tiny-diag-measures.png", "tiny-diag-measures.svg",
                                       "tiny-diag-gradients.png", "tiny-diag-gradients.svg"]


def test_gradients_figure_without_diagnostics_says_how_to_get_them(tmp_path):
    study = hl.Study.from_dict({"name": "plain", "figures": ["gradients"], "fit": {"epochs": 1}})
    results = study.run(tmp_path / "s.db", progress=False)
    with pytest.raises(ValueError, match="fit.diagnostics = true"):
        results.save_figures(tmp_path / "figs")
