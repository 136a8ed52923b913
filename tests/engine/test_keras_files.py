"""Real Keras files, both ways.

Oracle: ``../shared/keras_files`` (``$HYPERLAB_KERAS_FILES``), files written by Keras 3.15.1
on TensorFlow 2.21 with Keras's weights, predictions, evaluate results and the History of
2 more epochs after reload. hyperlab must load every ``.keras``, ``.h5`` and ``.weights.h5``
there with Keras's weights and predictions and train on as Keras does; the files hyperlab
writes must come back identical; crafted files are one line each. When Keras itself is
importable, real Keras loads the files hyperlab writes (CI has no TensorFlow: skipped).
"""
from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest
from sklearn.datasets import make_blobs

import hyperlab as hl
from hyperlab.engine import keras_config
from hyperlab.engine.model import Sequential
from crafted import assert_load_refused_cheaply

L = hl.layers
# the tolerances of the Keras reference training tests (test_keras_reference_training.py)
LOSS_RTOL, ACC_ATOL = 1e-3, 0.004


def keras_files() -> Path | None:
    """``$HYPERLAB_KERAS_FILES`` or ``<repo>/../shared/keras_files``."""
    env = os.environ.get("HYPERLAB_KERAS_FILES")
    repo = Path(__file__).resolve().parents[2]
    candidates = ([Path(env)] if env else []) + [repo.parent / "shared" / "keras_files",
                                                 repo / "shared" / "keras_files"]
    return next((p for p in candidates if (p / "cases.json").is_file()), None)


FILES = keras_files()
CASES = {c["id"]: c for c in json.loads((FILES / "cases.json").read_text())["cases"]} if FILES else {}
needs_files = pytest.mark.skipif(FILES is None, reason="the real Keras files are not there "
                                 "(../shared/keras_files; set HYPERLAB_KERAS_FILES)")
# training on after a reload: the small cases (SGD with momentum, Adam with AMSGrad), to
# keep the compile time low; lecture_mlp (plain SGD, 266k weights) trains as Keras too
TRAINED = [cid for cid, c in CASES.items() if c["train_after_reload"] and c["n_params"] < 10_000]


def _data(kind: str):
    """The README's data: (train, validation)."""
    if kind == "blobs":
        x, y = make_blobs(1000, centers=3, n_features=2, cluster_std=2, random_state=2)
        x, y = x.astype(np.float32), np.eye(3, dtype=np.float32)[y]
        return (x[:500], y[:500]), (x[500:], y[500:])
    rng = np.random.default_rng(0)
    x = rng.random((600, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 600)
    return (x[:500], y[:500]), (x[500:], y[500:])


@pytest.fixture(scope="module")
def loaded():
    """Every case's .keras file, loaded once (tests that train load their own copy)."""
    return {cid: hl.load_model(FILES / f"{cid}.keras") for cid in CASES}


def _state_leaves(model):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(model._opt_state)]


def _assert_same_model(a, b):
    """Same architecture, compile settings, weights and optimizer state, exactly."""
    assert [(type(l), l.get_config()) for l in a.layers] == [(type(l), l.get_config()) for l in b.layers]
    assert (a.name, a.input_shape, a.loss, a._wants_accuracy) == (b.name, b.input_shape, b.loss, b._wants_accuracy)
    assert a.optimizer.static_config() == b.optimizer.static_config()
    # the configured rate is the rate variable's value, as Keras writes it (state below)
    assert ({k: v for k, v in a.optimizer.hyperparams().items() if k != "learning_rate"}
            == {k: v for k, v in b.optimizer.hyperparams().items() if k != "learning_rate"})
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)
    assert jax.tree_util.tree_structure(a._opt_state) == jax.tree_util.tree_structure(b._opt_state)
    for u, v in zip(_state_leaves(a), _state_leaves(b), strict=True):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


# -- Keras's files -------------------------------------------------------------------------
@needs_files
@pytest.mark.parametrize("cid", list(CASES))
def test_keras_file_has_kerass_weights_predictions_and_evaluation(cid, loaded):
    case, model = CASES[cid], loaded[cid]
    assert [type(l).__name__ for l in model.layers] == [c for c in case["layer_classes"]]
    assert model.count_params() == case["n_params"]
    assert type(model.optimizer).__name__ == case["optimizer"] and model.loss == case["loss"]
    for got, want in zip(model.get_weights(), case["weights"], strict=True):
        np.testing.assert_array_equal(got, np.asarray(want, np.float32))
    pred = model.predict(np.asarray(case["probe_x"], np.float32))
    np.testing.assert_allclose(pred, np.asarray(case["probe_pred"]), rtol=0, atol=1e-5)
    _, validation = _data(case["train_data"])
    np.testing.assert_allclose(model.evaluate(*validation), case["evaluate"], rtol=1e-5, atol=1e-6)
    assert int(model._opt_state["iterations"]) > 0  # Keras's optimizer state came along


@needs_files
@pytest.mark.parametrize("cid", list(CASES))
def test_legacy_h5_and_weights_h5_hold_what_the_keras_file_holds(cid, loaded):
    _assert_same_model(hl.load_model(FILES / f"{cid}.h5"), loaded[cid])
    model = hl.load_model(FILES / f"{cid}.keras")
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model._opt_state = jax.tree.map(np.zeros_like, model._opt_state)
    model.load_weights(FILES / f"{cid}.weights.h5")  # weights and optimizer state
    _assert_same_model(model, loaded[cid])


def _assert_history(history: dict, keras: dict):
    for key, want in keras.items():
        tol = dict(rtol=0, atol=ACC_ATOL) if "accuracy" in key else dict(rtol=LOSS_RTOL, atol=0)
        np.testing.assert_allclose(history[key], want, **tol, err_msg=key)


@needs_files
@pytest.mark.parametrize("cid", TRAINED)
def test_training_on_after_a_reload_is_kerass(cid):
    case = CASES[cid]
    model = hl.load_model(FILES / f"{cid}.keras")
    train, validation = _data(case["train_data"])
    history = model.fit(*train, epochs=2, batch_size=32, shuffle=False, verbose=0,
                        validation_data=validation)
    _assert_history(history.history, case["train_after_reload"])
    if len(keras_config.optimizer_layout(model, model.params)) <= 2:
        return  # no slots (plain SGD): a fresh optimizer state trains the same
    # without the optimizer's state (slots, step count) it would train differently
    fresh = hl.load_model(FILES / f"{cid}.keras")
    fresh._opt_state = None
    other = fresh.fit(*train, epochs=2, batch_size=32, shuffle=False, verbose=0,
                      validation_data=validation).history
    assert other["loss"][0] != history.history["loss"][0]


# -- hyperlab's files, back again ---------------------------------------------------------
@needs_files
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_round_trip_through_keras_formats_is_exact_and_trains_on_alike(tmp_path, ext):
    cid = "adam_leaky_prelu_l2"
    model = hl.load_model(FILES / f"{cid}.keras")
    model.save(tmp_path / f"m{ext}")
    back = hl.load_model(tmp_path / f"m{ext}")
    _assert_same_model(back, model)
    copy = hl.load_model(FILES / f"{cid}.keras")
    copy.set_weights([np.ones_like(w) for w in copy.get_weights()])
    copy._opt_state = None
    copy.save_weights(tmp_path / "m.weights.h5")
    copy._opt_state = jax.tree.map(np.ones_like, model._opt_state)  # as after some training
    copy.load_weights(tmp_path / "m.weights.h5")
    assert not int(copy._opt_state["iterations"])  # the saved state: a fresh one
    np.testing.assert_array_equal(copy.get_weights()[0], np.ones_like(model.get_weights()[0]))
    if ext == ".keras":  # the same compiled program trains both: their Histories are equal
        train, validation = _data("blobs")
        fit = dict(epochs=2, batch_size=32, shuffle=False, verbose=0, validation_data=validation)
        assert back.fit(*train, **fit).history == model.fit(*train, **fit).history


def _rich(optimizer, dropout: bool = True):
    """Every layer Keras files can hold, non-default initializers and regularizers (the
    dropout layers left out for training that must follow Keras's)."""
    layers = [
        L.Input((4, 3)), L.Flatten(),
        L.Dense(10, "tanh", kernel_initializer=hl.initializers.RandomNormal(0.0, 0.3, seed=4),
                bias_initializer=hl.initializers.Constant(0.1),
                kernel_regularizer=hl.regularizers.L1L2(l1=1e-3, l2=1e-2)),
        L.BatchNormalization(momentum=0.9, center=False), L.LeakyReLU(0.1), L.Dropout(0.2),
        L.Dense(8, kernel_regularizer="l2", kernel_initializer="lecun_normal", trainable=False),
        L.PReLU(alpha_regularizer=hl.regularizers.L1(0.01)), L.ELU(0.5), L.AlphaDropout(0.1),
        L.Dense(6, "selu", kernel_initializer=hl.initializers.VarianceScaling(2.0, "fan_avg", "uniform")),
        L.Activation("relu"), L.Dense(3, "softmax")]
    if not dropout:
        layers = [l for l in layers if not isinstance(l, (L.Dropout, L.AlphaDropout))]
    model = hl.Sequential(layers, name="rich_model", seed=0)
    model.compile(optimizer, "categorical_crossentropy", ["accuracy"])
    return model


S = hl.schedules
# Keras's optimizer-variable layouts: slots in separate, conditional and interleaved groups,
# the EMA and gradient-accumulation variables, no learning-rate variable under a schedule,
# Nadam's u_product (every optimizer was checked against real Keras by hand)
OPTIMIZERS = [hl.optimizers.RMSprop(0.002, rho=0.8, momentum=0.1, centered=True, clipvalue=0.5),
              hl.optimizers.Adam(0.003, amsgrad=True, gradient_accumulation_steps=2),
              hl.optimizers.Nadam(S.CosineDecay(0.01, 100, alpha=0.1, warmup_target=0.02,
                                                warmup_steps=5), use_ema=True)]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: type(o).__name__)
def test_every_layer_and_optimizer_round_trips_with_its_state(tmp_path, optimizer):
    model = _rich(optimizer)
    state = optimizer.init(model.trainable_view(model.params))
    # distinct values in every variable Keras keeps (not the hyperparameters of the config)
    kept = {k: v for k, v in state.items() if k not in ("hparams", "hparams_lo")
            and (k != "learning_rate" or optimizer.learning_rate_settable)}
    leaves, treedef = jax.tree_util.tree_flatten(kept)
    kept = jax.tree_util.tree_unflatten(treedef, [
        np.asarray(leaf) + np.asarray(i + 1, np.asarray(leaf).dtype) for i, leaf in enumerate(leaves)])
    model._opt_state = {**state, **kept}
    for ext in (".keras", ".h5"):
        model.save(tmp_path / f"m{ext}")
        _assert_same_model(hl.load_model(tmp_path / f"m{ext}"), model)


def test_unbuilt_and_uncompiled_models_round_trip(tmp_path):
    bare = hl.Sequential([L.Input((2,)), L.Dense(4), L.ELU()], name="bare", seed=7)
    bare.save(tmp_path / "b.keras")
    back = hl.load_model(tmp_path / "b.keras")
    assert back.optimizer is None and back.loss is None
    for u, v in zip(back.get_weights(), bare.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)
    unbuilt = hl.Sequential([L.Dense(4, "relu", name="a"), L.Dense(1, name="b")])
    unbuilt.compile("adam", "mse")
    unbuilt.save(tmp_path / "u.keras")
    back = hl.load_model(tmp_path / "u.keras")
    assert not back.built and [l.name for l in back.layers] == ["a", "b"]
    assert back._opt_state is None and type(back.optimizer).__name__ == "Adam"


def test_save_refuses_what_keras_files_cannot_hold(tmp_path):
    model = hl.Sequential([L.Input((2,)), L.Dense(3, "softmax")])
    with pytest.raises(ValueError, match=r"unknown extension; use '\.npz'.*'\.keras'.*'\.h5'"):
        model.save(tmp_path / "m.pkl")
    model.compile(hl.optimizers.SGD(0.1, decay=0.01), "categorical_crossentropy")
    with pytest.raises(ValueError, match="in Keras format: .*dropped `decay`"):
        model.save(tmp_path / "m.keras")
    model.compile(hl.optimizers.SGD(S.StepDecay(0.1, 0.5, 10)), "categorical_crossentropy")
    with pytest.raises(ValueError, match="StepDecay.*no Keras equivalent"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        model.save_weights(tmp_path / "m.h5")
    model.save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        model.save_weights(tmp_path / "m.weights.h5", overwrite=False)
    assert sorted(os.listdir(tmp_path)) == ["m.weights.h5"]


# -- crafted files -------------------------------------------------------------------------
def _zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _keras_with(tmp_path: Path, name: str, edit=None, weights: bytes | None = None) -> Path:
    """tutorial_sgd.keras with its config edited (``edit(config)``) or its weights replaced."""
    members = _zip_members(FILES / "tutorial_sgd.keras")
    config = json.loads(members["config.json"])
    if edit is not None:
        edit(config)
    members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    out = tmp_path / name
    with zipfile.ZipFile(out, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)
    return out


def _layer(i):
    return lambda c: c["config"]["layers"][i]


def _lambda(config):
    config["config"]["layers"].insert(2, {"module": "keras.layers", "class_name": "Lambda",
        "config": {"name": "lambda", "function": {"class_name": "__lambda__", "config": {
            "code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}}, "registered_name": None})


def _custom_module(config):
    _layer(1)(config).update(module="my_package.layers", class_name="MyDense")


def _branches(config):
    layers = config["config"]["layers"]
    config["class_name"] = "Functional"
    for entry, inbound in zip(layers, [[], ["input_layer"], ["input_layer"]]):
        entry["name"] = entry["config"]["name"]
        entry["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
            "keras_history": [n, 0, 0]}} for n in inbound], "kwargs": {}}] if inbound else []
    config["config"]["input_layers"] = [["input_layer", 0, 0]]
    config["config"]["output_layers"] = [["dense_1", 0, 0]]


def _huge_dataset(tmp_path: Path) -> bytes:
    """A weights store whose first kernel declares (2, 10**9): 8 GB, 1.4 kB on disk."""
    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(_zip_members(FILES / "tutorial_sgd.keras")["model.weights.h5"]), "r") as src, \
            h5py.File(buffer, "w") as f:
        for name in ("layers", "optimizer", "vars"):
            src.copy(name, f)
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(2, 10**9), dtype="f4")
    return buffer.getvalue()


def _legacy_with(tmp_path: Path, name: str, edit) -> Path:
    out = tmp_path / name
    out.write_bytes((FILES / "tutorial_sgd.h5").read_bytes())
    with h5py.File(out, "r+") as f:
        edit(f)
    return out


def _legacy_lambda(f):
    config = json.loads(f.attrs["model_config"])
    config["config"]["layers"].insert(1, {"class_name": "Lambda", "config": {
        "name": "lambda", "function": ["4wEAAAAAAAAA", None, None]}})
    f.attrs["model_config"] = json.dumps(config).encode()


def _external_link(f):
    del f["model_weights/dense/tutorial_sgd/dense/kernel"]
    f["model_weights/dense/tutorial_sgd/dense/kernel"] = h5py.ExternalLink("/etc/passwd", "/x")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated(source: str, keep: float):
    def make(tmp_path: Path) -> Path:
        out = tmp_path / source
        data = (FILES / source).read_bytes()
        out.write_bytes(data[: int(len(data) * keep)])
        return out
    return make


CRAFTED = [
    ("lambda-layer", lambda t: _keras_with(t, "lambda.keras", _lambda),
     ["layer 2", "Lambda (Python code)", "never runs"]),
    ("custom-module", lambda t: _keras_with(t, "custom.keras", _custom_module),
     ["layer 1", "'MyDense'", "module 'my_package.layers'", "custom object"]),
    ("registered-custom", lambda t: _keras_with(t, "reg.keras", lambda c: _layer(1)(c).update(
        registered_name="Custom>Dense")), ["registered custom object 'Custom>Dense'"]),
    ("lambda-activation", lambda t: _keras_with(t, "act.keras", lambda c: _layer(1)(c)["config"].update(
        activation={"class_name": "__lambda__", "config": {"code": "x"}})), ["Python code", "never runs"]),
    ("unsupported-layer", lambda t: _keras_with(t, "conv.keras", lambda c: _layer(1)(c).update(
        class_name="Conv2D")), ["Conv2D", "supported layers: Dense"]),
    ("kernel-constraint", lambda t: _keras_with(t, "constraint.keras", lambda c: _layer(1)(c)["config"].update(
        kernel_constraint={"module": "keras.constraints", "class_name": "MaxNorm", "config": {}})),
     ["kernel_constraint", "does not support"]),
    ("mixed-precision", lambda t: _keras_with(t, "mixed.keras", lambda c: _layer(1)(c)["config"].update(
        dtype="mixed_float16")), ["'mixed_float16'", "float32 only"]),
    ("functional-with-branches", lambda t: _keras_with(t, "branches.keras", _branches),
     ["functional model with branches", "one chain of layers"]),
    ("units-1e9-over-the-value-bound", lambda t: _keras_with(t, "huge.keras", lambda c: _layer(1)(c)["config"].update(
        units=10**9)), ["declares 6,000,000,003 weights", "more than a model file may hold"]),
    ("units-1e8-against-the-file", lambda t: _keras_with(t, "units.keras", lambda c: _layer(1)(c)["config"].update(
        units=10**8)), ["layers/dense/vars/0 (dense/kernel)", "(2, 50)", "(2, 100000000)"]),
    ("dataset-declares-8GB", lambda t: _keras_with(t, "dataset.keras", weights=_huge_dataset(t)),
     ["layers/dense/vars/0 (dense/kernel)", "(2, 1000000000)", "architecture needs (2, 50)"]),
    ("weights-member-larger-than-the-weights", lambda t: _keras_with(
        t, "padded.keras", weights=_zip_members(FILES / "tutorial_sgd.keras")["model.weights.h5"] + bytes(40 << 20)),
     ["model.weights.h5 declares", "more than the architecture's weights needs"]),
    ("truncated-keras", _truncated("tutorial_sgd.keras", 0.6), ["not a Keras .keras zip", "truncated"]),
    ("truncated-h5", _truncated("tutorial_sgd.h5", 0.6), ["truncated or corrupted"]),
    ("not-hdf5-named-h5", lambda t: _write(t / "text.h5", b"model weights, honest\n" * 50),
     ["not an HDF5 file", "truncated or corrupted"]),
    ("legacy-lambda", lambda t: _legacy_with(t, "lambda.h5", _legacy_lambda), ["layer 1", "Lambda (Python code)"]),
    ("legacy-external-link", lambda t: _legacy_with(t, "link.h5", _external_link),
     ["ExternalLink (a link elsewhere)", "stored in the file"]),
    ("legacy-weights-float64", lambda t: _legacy_with(t, "f8.h5", lambda f: (
        f.__delitem__("model_weights/dense/tutorial_sgd/dense/bias"),
        f.create_dataset("model_weights/dense/tutorial_sgd/dense/bias", data=np.zeros(50, "S8")))),
     ["model_weights/dense/tutorial_sgd/dense/bias", "|S8", "floats"]),
    ("weights-file-as-model",
     lambda t: _write(t / "w.weights.h5", (FILES / "tutorial_sgd.weights.h5").read_bytes()),
     ["a Keras 3 weights file", "model.load_weights(path)"]),
]


@needs_files
@pytest.mark.parametrize("case, build, says", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_a_crafted_keras_file_is_one_line_and_costs_nothing(case, build, says, tmp_path,
                                                            monkeypatch):
    path = build(tmp_path)
    monkeypatch.setattr(Sequential, "build", lambda *a, **k: pytest.fail("weights built"))
    assert_load_refused_cheaply(hl.load_model, path, says, 64 << 20,
                                starts=f"cannot load model file {str(path)!r}: ")


@needs_files
def test_load_weights_errors_name_the_file(tmp_path):
    model = hl.Sequential([L.Input((2,)), L.Dense(49), L.Dense(3)])
    with pytest.raises(ValueError, match=r"cannot load weights file .*tutorial_sgd\.weights\.h5.*"
                                         r"\(2, 49\).*\(2, 50\)|\(2, 50\).*\(2, 49\)"):
        model.load_weights(FILES / "tutorial_sgd.weights.h5")
    text = tmp_path / "t.weights.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        model.load_weights(text)


@needs_files
def test_keras2_files_load_with_a_fresh_optimizer_and_a_warning(tmp_path):
    path = _legacy_with(tmp_path, "k2.h5", lambda f: f.attrs.__setitem__("keras_version", "2.15.0"))
    with pytest.warns(UserWarning, match="Keras 2.15.0.*fresh optimizer state"):
        model = hl.load_model(path)
    assert model._opt_state is None
    _assert_weights_equal(model, hl.load_model(FILES / "tutorial_sgd.h5"))


def _assert_weights_equal(a, b):
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)


# -- real Keras reads hyperlab's files -----------------------------------------------------
def test_real_keras_loads_hyperlabs_files(tmp_path):
    models = pytest.importorskip("keras.models", reason="Keras (TensorFlow) is not installed: the "
                                "check that real Keras loads hyperlab's files needs it")
    (x, y), (vx, vy) = _data("blobs")
    xs, vxs = np.tile(x, 6).reshape(-1, 4, 3), np.tile(vx, 6).reshape(-1, 4, 3)
    fit = dict(epochs=2, batch_size=32, shuffle=False, verbose=0, validation_data=(vxs, vy))
    for dropout in (True, False):
        model = _rich(hl.optimizers.Adam(0.01, amsgrad=True), dropout=dropout)
        model.fit(xs, y, epochs=2, shuffle=False, verbose=0)
        for ext in (".keras", ".h5"):
            model.save(tmp_path / f"m{ext}")
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # Keras loads everything, the optimizer included
                theirs = models.load_model(tmp_path / f"m{ext}")
            np.testing.assert_allclose(theirs.predict(vxs, verbose=0), model.predict(vxs), atol=1e-5)
            assert int(theirs.optimizer.iterations.numpy()) == int(model._opt_state["iterations"])
    theirs = models.load_model(tmp_path / "m.keras")  # (Keras 3.15 cannot fit after .h5)
    _assert_history(hl.load_model(tmp_path / "m.keras").fit(xs, y, **fit).history,
                    theirs.fit(xs, y, **fit).history)
    model.save_weights(tmp_path / "m.weights.h5")
    theirs.load_weights(tmp_path / "m.weights.h5")
    for u, v in zip(theirs.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)
