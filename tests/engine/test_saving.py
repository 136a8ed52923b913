"""model.save / hyperlab.load_model: exact round trips, training on after a reload equals
training on without one, and a clear error for every bad file."""
from __future__ import annotations

import io
import json
import os
import re
import zipfile

import numpy as np
import pytest

import hyperlab as hl
from hyperlab.engine import npz_format, saving

L = hl.layers


@pytest.fixture(scope="module")
def data():
    (x, y), (vx, vy) = hl.datasets.blobs()
    return x, hl.datasets.to_categorical(y), vx, hl.datasets.to_categorical(vy)


def _mlp(optimizer, seed=0, extra=()):
    model = hl.Sequential([L.Input((2,)), L.Dense(12, "relu", kernel_initializer="he_uniform"),
                           *extra, L.Dense(3, "softmax")], seed=seed)
    model.compile(optimizer, "categorical_crossentropy", ["accuracy"])
    return model


def _rich(seed=0):
    """Non-default initializers, regularizers, a schedule, BN, Dropout, a frozen layer."""
    model = hl.Sequential([
        L.Input((2,)),
        L.Dense(10, "tanh", kernel_initializer=hl.initializers.RandomNormal(0.0, 0.3, seed=4),
                bias_initializer=hl.initializers.Constant(0.1),
                kernel_regularizer=hl.regularizers.L1L2(l1=1e-3, l2=1e-2), name="hidden"),
        L.BatchNormalization(momentum=0.9),
        L.Dropout(0.25),
        L.Dense(8, kernel_regularizer="l2", trainable=False),  # frozen
        L.PReLU(alpha_regularizer=hl.regularizers.L1(0.01)),
        L.Dense(3, "softmax")], name="rich_model", seed=seed)
    schedule = hl.schedules.PiecewiseConstantDecay([20, 40], [0.05, 0.02, 0.01])
    model.compile(hl.optimizers.SGD(schedule, momentum=0.9, nesterov=True, clipnorm=1.0),
                  "categorical_crossentropy", ["accuracy"])
    return model


def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def _compile_config(model):
    opt = model.optimizer
    config = dict(opt.get_config())
    lr = config["learning_rate"]
    if hl.optimizers.is_schedule(lr):
        config["learning_rate"] = (type(lr).__name__, lr.get_config())
    return (type(opt).__name__, config, model.loss, model._wants_accuracy, model.accuracy,
            model.metrics_names)


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


# -- round trips -----------------------------------------------------------------------------
def test_round_trip_is_exact(tmp_path, data):
    x, y, vx, vy = data
    model = _rich()
    model.fit(x, y, epochs=2, seed=1, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = hl.load_model(path)
    assert isinstance(loaded, hl.Sequential)
    assert np.array_equal(loaded.predict(vx), model.predict(vx))  # bitwise
    _assert_same_weights(model, loaded)
    assert _summary(loaded) == _summary(model)
    assert _compile_config(loaded) == _compile_config(model)
    assert (loaded.name, loaded.seed, loaded.input_shape) == ("rich_model", 0, (2,))
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    assert loaded.evaluate(vx, vy) == model.evaluate(vx, vy)
    # an ordinary npz: numpy opens it without pickle
    with np.load(path, allow_pickle=False) as npz:
        assert "__hyperlab__.json" in npz.files
        np.testing.assert_array_equal(npz["params/000/kernel"], model.params[0]["kernel"])


def test_untrained_uncompiled_and_unbuilt_models(tmp_path, data):
    x, y, vx, _ = data
    compiled = _mlp(hl.optimizers.RMSprop(0.01))  # compiled, never fit: no optimizer state
    compiled.save(tmp_path / "a.npz")
    loaded = hl.load_model(tmp_path / "a.npz")
    assert loaded._opt_state is None and _compile_config(loaded) == _compile_config(compiled)
    np.testing.assert_array_equal(loaded.predict(vx), compiled.predict(vx))
    assert loaded.fit(x, y, epochs=2, seed=3, verbose=0).history == \
        compiled.fit(x, y, epochs=2, seed=3, verbose=0).history

    bare = hl.Sequential([L.Input((2,)), L.Dense(4), L.ELU()], name="bare", seed=7)
    bare.save(tmp_path / "b.npz")
    loaded = hl.load_model(tmp_path / "b.npz")
    assert loaded.optimizer is None and loaded.loss is None
    np.testing.assert_array_equal(loaded.predict(vx), bare.predict(vx))

    unbuilt = hl.Sequential([L.Dense(4, "relu"), L.Dense(1)], seed=5)
    unbuilt.save(tmp_path / "c.npz")
    loaded = hl.load_model(tmp_path / "c.npz")
    assert not loaded.built and len(loaded.layers) == 2
    np.testing.assert_array_equal(loaded.predict(vx), unbuilt.predict(vx))  # same seed


S = hl.schedules
COMPILE_CASES = [
    hl.optimizers.SGD(0.1, momentum=0.5, nesterov=True, weight_decay=1e-4, name="my_sgd"),
    hl.optimizers.RMSprop(0.002, rho=0.8, momentum=0.1, centered=True, clipvalue=0.5),
    hl.optimizers.Adagrad(0.05, initial_accumulator_value=0.2, global_clipnorm=2.0),
    hl.optimizers.Adadelta(1.0, rho=0.9, use_ema=True, ema_overwrite_frequency=3),
    hl.optimizers.Adam(0.003, amsgrad=True, gradient_accumulation_steps=2, decay=1e-3),
    hl.optimizers.Adamax(0.004, loss_scale_factor=2.0),
    hl.optimizers.Nadam(S.CosineDecay(0.01, 100, alpha=0.1, warmup_target=0.02, warmup_steps=5)),
    hl.optimizers.Adam(S.ExponentialDecay(0.01, 10, 0.9, staircase=True)),
    hl.optimizers.SGD(S.InverseTimeDecay(0.1, 5, 0.5)),
    hl.optimizers.SGD(S.PolynomialDecay(0.1, 50, 0.001, power=2.0, cycle=True)),
    hl.optimizers.SGD(S.CosineDecayRestarts(0.1, 20, t_mul=1.5, m_mul=0.9)),
    hl.optimizers.SGD(S.PiecewiseConstantDecay([10, 20], [0.1, 0.05, 0.01])),
    hl.optimizers.SGD(S.PowerDecay(0.1, 30, power=0.5)),
]


@pytest.mark.parametrize("optimizer", COMPILE_CASES, ids=lambda o: repr(o)[:40])
def test_every_optimizer_and_schedule_round_trips_with_its_state(tmp_path, optimizer):
    import jax

    model = hl.Sequential([L.Input((3,)), L.Dense(4), L.BatchNormalization(), L.Dense(1)],
                          seed=1)
    model.compile(optimizer, "mse")
    # an optimizer state with distinct values in every leaf (as after some training)
    state = optimizer.init(model.params)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    leaves = [np.asarray(leaf) + np.asarray(i + 1, np.asarray(leaf).dtype)
              for i, leaf in enumerate(leaves)]
    model._opt_state = jax.tree_util.tree_unflatten(treedef, leaves)
    model.save(tmp_path / "m.npz")
    loaded = hl.load_model(tmp_path / "m.npz")
    assert _compile_config(loaded) == _compile_config(model)
    assert loaded.optimizer.static_config() == optimizer.static_config()
    assert loaded.optimizer.hyperparams() == optimizer.hyperparams()
    got, got_def = jax.tree_util.tree_flatten(loaded._opt_state)
    assert got_def == treedef
    for a, b in zip(got, leaves):
        assert np.asarray(a).dtype == b.dtype
        np.testing.assert_array_equal(a, b)


OPTIMIZERS = {"sgd_momentum": lambda: _mlp(hl.optimizers.SGD(0.05, momentum=0.9)),
              "adam": lambda: _mlp(hl.optimizers.Adam(0.01)),
              "bn_dropout": lambda: _mlp(hl.optimizers.Adam(0.01), extra=(
                  L.BatchNormalization(), L.Dropout(0.3))),
              "rich": _rich}


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_training_on_after_a_reload_equals_training_on(tmp_path, data, make):
    x, y, vx, vy = data
    straight, saved = make(), make()
    h1 = straight.fit(x, y, epochs=3, seed=1, verbose=0, validation_data=(vx, vy))
    assert saved.fit(x, y, epochs=3, seed=1, verbose=0, validation_data=(vx, vy)).history == h1.history
    saved.save(tmp_path / "m.npz")
    reloaded = hl.load_model(tmp_path / "m.npz")
    h2 = straight.fit(x, y, epochs=3, seed=2, verbose=0, validation_data=(vx, vy))
    h2_reloaded = reloaded.fit(x, y, epochs=3, seed=2, verbose=0, validation_data=(vx, vy))
    assert h2_reloaded.history == h2.history
    _assert_same_weights(straight, reloaded)
    # the optimizer state came back, not a fresh one: a fresh state trains differently
    fresh = make()
    fresh.set_weights(saved.get_weights())
    assert fresh.fit(x, y, epochs=3, seed=2, verbose=0,
                     validation_data=(vx, vy)).history != h2.history


def test_unseeded_fits_after_a_reload_match(tmp_path, data):
    x, y, _, _ = data
    model = hl.Sequential([L.Input((2,)), L.Dense(8, "relu"), L.Dropout(0.2),
                           L.Dense(3, "softmax")])  # no seed: weights and fits draw seeds
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = hl.load_model(tmp_path / "m.npz")
    assert loaded.seed is None
    assert loaded._seeds.bit_generator.state == model._seeds.bit_generator.state
    for _ in range(2):
        assert loaded.fit(x, y, epochs=2, verbose=0).history == model.fit(x, y, epochs=2, verbose=0).history
    _assert_same_weights(model, loaded)


def test_saving_replaces_atomically_and_leaves_no_temporary_files(tmp_path, data, monkeypatch):
    x, y, _, _ = data
    model = _mlp("sgd")
    path = tmp_path / "m.npz"
    model.save(path)
    first = path.read_bytes()
    model.fit(x, y, epochs=1, seed=0, verbose=0)
    model.save(str(path))  # overwrite
    assert path.read_bytes() != first
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    before = path.read_bytes()
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_saving_errors(tmp_path):
    model = _mlp("sgd")
    missing = tmp_path / "no" / "such" / "dir" / "m.npz"
    with pytest.raises(ValueError, match="does not exist"):
        model.save(missing)
    with pytest.raises(ValueError, match="is a directory"):
        model.save(tmp_path)

    class MyInit(hl.initializers.Initializer):
        def __call__(self, key, shape, dtype=np.float32):
            return np.ones(shape, dtype)

    custom = hl.Sequential([L.Input((2,)), L.Dense(3, kernel_initializer=MyInit())])
    with pytest.raises(ValueError, match="layer 0"):
        custom.save(tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


# -- bad files -------------------------------------------------------------------------------
def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _write(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def _edit_doc(path, edit, resign: bool) -> None:
    """Rewrite the JSON document (a valid zip with correct CRCs); optionally recompute the
    checksum, as a deliberate re-signer would."""
    members = _members(path)
    doc = json.loads(members["__hyperlab__.json"])
    edit(doc)
    arrays = {k: v for k, v in members.items() if k != "__hyperlab__.json"}
    if resign:
        doc["sha256"] = npz_format._digest(doc, arrays)
    _write(path, {"__hyperlab__.json": json.dumps(doc).encode(), **arrays})


@pytest.fixture()
def saved(tmp_path, data):
    x, y, _, _ = data
    model = _mlp(hl.optimizers.Adam(0.01))
    model.fit(x, y, epochs=1, seed=0, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    return path


def _load_error(path) -> str:
    with pytest.raises(ValueError) as info:
        hl.load_model(path)
    message = str(info.value)
    assert str(path) in message  # every error names the file
    return message


def test_missing_file_and_not_a_zip(tmp_path):
    assert "no such file" in _load_error(tmp_path / "nothing.npz")
    text = tmp_path / "notes.npz"
    text.write_text("just some text, not a model")
    assert "not a hyperlab model file" in _load_error(text)
    np.save(tmp_path / "array.npy", np.ones(3))
    assert "not a hyperlab model file" in _load_error(tmp_path / "array.npy")
    np.savez(tmp_path / "plain.npz", a=np.ones(3))  # a zip, but not ours
    assert "__hyperlab__.json" in _load_error(tmp_path / "plain.npz")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    assert "truncated" in _load_error(saved)


def _data_offset(path, member: str) -> tuple[int, int]:
    """(offset, size) of a member's stored bytes in the zip file."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), "<u2")
    return info.header_offset + 30 + int(name_len) + int(extra_len), info.compress_size


@pytest.mark.parametrize("target", ["__hyperlab__.json", "params/000/kernel.npy",
                                    "params/001/kernel.npy:magic", "optimizer/0002.npy",
                                    "central directory"])
def test_flipped_byte(saved, target):
    data = bytearray(saved.read_bytes())
    if target == "central directory":
        at = data.rindex(b"params/000/kernel.npy") + 3  # a name in the central directory
    elif target.endswith(":magic"):  # the .npy header of a member
        at = _data_offset(saved, target.split(":")[0])[0] + 1
    else:
        offset, size = _data_offset(saved, target)
        at = offset + size // 2
    data[at] ^= 0x20
    saved.write_bytes(bytes(data))
    _load_error(saved)


def test_modified_array_with_valid_zip_is_caught_by_the_checksum(saved):
    members = _members(saved)
    buffer = io.BytesIO(members["params/000/kernel.npy"])
    kernel = np.lib.format.read_array(buffer)
    kernel[0, 0] += 1.0
    out = io.BytesIO()
    np.lib.format.write_array(out, kernel)
    members["params/000/kernel.npy"] = out.getvalue()
    _write(saved, members)
    assert "checksum mismatch" in _load_error(saved)


def test_edited_json_is_caught_by_the_checksum(saved):
    _edit_doc(saved, lambda d: d["model"].update(name="renamed"), resign=False)
    assert "checksum mismatch" in _load_error(saved)


def test_newer_format_version(saved):
    _edit_doc(saved, lambda d: d.update(format_version=saving.FORMAT_VERSION + 1), resign=False)
    message = _load_error(saved)
    assert "newer hyperlab" in message and "upgrade" in message


def test_json_that_does_not_parse(saved):
    members = _members(saved)
    members["__hyperlab__.json"] = members["__hyperlab__.json"][:-20]
    _write(saved, members)
    assert "does not parse" in _load_error(saved)


@pytest.mark.parametrize("member", ["__hyperlab__.json", "params/001/bias.npy",
                                    "optimizer/0003.npy"])
def test_removed_member(saved, member):
    members = _members(saved)
    del members[member]
    _write(saved, members)
    message = _load_error(saved)
    assert member in message and ("missing" in message or "no " in message)


def test_unknown_layer_class(saved):
    _edit_doc(saved, lambda d: d["model"]["layers"][0].update(class_name="Conv2D"), resign=True)
    assert "unknown layer class 'Conv2D'" in _load_error(saved)


def test_unknown_optimizer_class(saved):
    _edit_doc(saved, lambda d: d["compile"]["optimizer"].update(class_name="Lion"), resign=True)
    assert "unknown optimizer class 'Lion'" in _load_error(saved)


def test_array_shapes_that_do_not_fit_the_architecture(saved):
    _edit_doc(saved, lambda d: d["model"]["layers"][0]["config"].update(units=13), resign=True)
    message = _load_error(saved)
    assert re.search(r"dense(_\d+)?/", message) and "architecture needs" in message
    assert ("(12,)" in message and "(13,)" in message) or ("(2, 12)" in message and "(2, 13)" in message)


def test_optimizer_state_that_does_not_fit(saved):
    members = _members(saved)
    doc = json.loads(members.pop("__hyperlab__.json"))
    dropped = doc["optimizer_state"].pop()
    del members[dropped["member"]]
    doc["sha256"] = npz_format._digest(doc, members)  # a deliberate re-signer
    _write(saved, {"__hyperlab__.json": json.dumps(doc).encode(), **members})
    assert "optimizer state does not fit" in _load_error(saved)


def test_pickled_arrays_are_refused(saved):
    members = _members(saved)
    out = io.BytesIO()
    np.lib.format.write_array(out, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    members["params/000/bias.npy"] = out.getvalue()
    doc = json.loads(members.pop("__hyperlab__.json"))
    doc["sha256"] = npz_format._digest(doc, members)  # a deliberate re-signer
    _write(saved, {"__hyperlab__.json": json.dumps(doc).encode(), **members})
    message = _load_error(saved)
    assert "params/000/bias.npy" in message and "pickle" in message and "refused" in message


@pytest.mark.parametrize("ext", [".npz", ".keras", ".h5"])
def test_named_metrics_come_back_in_every_format(tmp_path, ext):
    model = hl.Sequential([L.Input((2,)), L.Dense(1)], seed=0)
    model.compile("sgd", "mse", ["mae", hl.losses.mean_squared_error])
    model.save(tmp_path / f"m{ext}")
    loaded = hl.load_model(tmp_path / f"m{ext}")
    assert loaded.metric_specs() == model.metric_specs() != []
