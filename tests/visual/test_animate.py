"""The training animation: frames, pictures, determinism, and that its frames are the
engine's own runs (train_many stopped at the frame's epoch)."""
from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest
from PIL import Image

import hyperlab as hl
from hyperlab.visual import _util
from hyperlab.visual.animate import (_normalised_updates, animate, build_model, record,
                                     region_images, render)

SPECS = ["SGD", "Adam(learning_rate=0.01)", "SGD(learning_rate=0.05)"]
SMALL = {"size": (160, 320), "grid": 24}


@pytest.fixture(scope="module")
def rec():
    # 7 epochs, a frame every 3: frames after epochs 0, 3, 6 and 7 (the last chunk is short)
    return record(optimizers=SPECS, epochs=7, every=3, seed=3)


def gif_frames(path) -> list[np.ndarray]:
    im = Image.open(path)
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        out.append(np.asarray(im.convert("RGB")))
    return out


def test_frames_are_the_initial_weights_then_one_per_chunk(rec):
    assert list(rec.frame_epochs) == [0, 3, 6, 7]
    assert rec.n_frames == -(-7 // 3) + 1 and rec.n_runs == 3
    assert rec.labels == ["SGD(lr=0.01, momentum=0.9)", "Adam(lr=0.01)", "SGD(lr=0.05)"]
    kernel = rec.params[0][0]["kernel"]
    assert kernel.shape == (4, 2, 50)  # (frames, inputs, units)
    for hist in rec.history:
        assert set(hist) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
        assert all(len(v) == 7 for v in hist.values())
    assert np.allclose(rec.history[0]["learning_rate"], 0.01)
    assert np.allclose(rec.history[2]["learning_rate"], 0.05)


def test_every_frame_is_train_many_stopped_at_that_epoch(rec):
    """Bit for bit: the animation drives the compiled engine (Cohort), not its own loop, and
    the engine computes every run's epochs with one executable however they are chunked."""
    ds = rec.dataset
    y, vy = hl.datasets.to_categorical(ds.y_train), hl.datasets.to_categorical(ds.y_val)
    for frame in (0, 3):
        epochs = int(rec.frame_epochs[frame])
        for run, opt in enumerate(rec.optimizers):
            model = build_model(3, seed=3)
            model.compile(opt, "categorical_crossentropy", ["accuracy"])
            if epochs == 0:
                expected = model.get_weights()
            else:
                hist = hl.train_many(model, ds.x_train, y, seeds=[3], epochs=epochs,
                                     batch_size=32, validation_data=(ds.x_val, vy))[0]
                expected = hist.weights
                for key in ("loss", "val_accuracy", "learning_rate"):
                    assert np.array_equal(np.float32(hist.history[key]),
                                          rec.history[run][key][:epochs]), key
            got = rec.weights_at(run, frame)
            assert len(got) == len(expected) == 4
            for a, b in zip(got, expected):
                assert np.array_equal(a, b), (run, frame)


def test_decision_regions_are_the_models_predictions(rec):
    probs = rec.probabilities(grid=12)
    assert probs.shape == (3, 4, 12, 12, 3)
    assert np.allclose(probs.sum(axis=-1), 1, atol=1e-5)
    model = build_model(3, seed=3)
    model.set_weights(rec.weights_at(1, 2))
    x0, x1, y0, y1 = rec.extent()
    gx, gy = np.meshgrid(np.linspace(x0, x1, 12), np.linspace(y0, y1, 12))
    expected = model.predict(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(12, 12, 3)
    assert np.allclose(probs[1, 2], expected, atol=1e-6)


def test_region_colours_and_update_normalisation():
    colors = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    probs = np.array([[[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]]])
    img = region_images(probs, colors)
    assert np.allclose(img[0, 1], 1.0)                   # undecided: white
    assert img[0, 0, 0] == 1.0 and img[0, 0, 1] < 0.3    # certain class 0: strong red
    assert img[0, 2, 2] == 1.0 and 0.3 < img[0, 2, 0] < 1.0  # 80% class 1: paler blue
    m = np.cumsum(np.random.default_rng(0).normal(size=(5, 3, 4)), axis=0)
    upd = _normalised_updates(m)
    assert np.all(upd[0] == 0)
    assert np.allclose(np.abs(upd[1:]).reshape(4, -1).max(axis=1), 1.0)
    assert np.allclose(upd[2] * np.abs(m[2] - m[1]).max(), m[2] - m[1])


def test_gif_frames_sizes_content_and_determinism(rec, tmp_path):
    a = render(rec, tmp_path / "a.gif", **SMALL)
    b = render(rec, tmp_path / "b.gif", **SMALL)
    assert a.n_frames == 4 and a.size == (480, 320)
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    frames = gif_frames(a.path)
    assert len(frames) == 4 and frames[0].shape == (320, 480, 3)
    for f in frames:
        assert f.std() > 20                                   # not blank
        assert len(np.unique(f.reshape(-1, 3), axis=0)) > 30  # many colours
    # frames differ (the model learns) and the regions show the three class colours
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1
    top = frames[-1][30:130, 20:140].reshape(-1, 3).astype(int)
    for c in _class_rgb(3):
        assert np.any(np.abs(top - c).sum(axis=1) < 60), c


def _class_rgb(n):
    import matplotlib
    cmap = matplotlib.colormaps["tab10"]
    return [np.array(cmap(i)[:3]) * 255 for i in range(n)]


def test_same_seed_same_bytes_end_to_end(tmp_path):
    kw = dict(optimizers=["Adam(learning_rate=0.01)"], epochs=4, every=2, seed=5,
              dataset="moons", **SMALL)
    a = animate(tmp_path / "a.gif", **kw)
    b = animate(tmp_path / "b.gif", **kw)
    c = animate(tmp_path / "c.gif", **{**kw, "seed": 6})
    assert a.n_frames == 3 and a.size == (160, 320)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    assert set(a.seconds) == {"train", "predict", "render", "total"}


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "blobs", "data_args": {"n_features": 3}}, "2-D data"),
    ({"optimizers": ["Nope"]}, "Unknown optimizer"),
    ({"optimizers": ["SGD(learning_rate=__import__('os'))"]}, "schedule"),
    ({"every": 0}, "--every"),
    ({"epochs": 0}, "--epochs"),
    ({"fps": 0}, "--fps"),
    ({"size": (100,)}, "--size"),
    ({"momentum": 0.5, "optimizers": ["Adam"]}, "momentum"),
])
def test_bad_input_is_one_clear_value_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        animate(tmp_path / "x.gif", **kwargs)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "x.gif").exists()


def test_output_path_is_checked_before_training(tmp_path, monkeypatch):
    trained = []
    module = sys.modules["hyperlab.visual.animate"]  # (hyperlab.visual.animate is the function)
    monkeypatch.setattr(module, "record", lambda **kw: trained.append(kw))
    (tmp_path / "dir.gif").mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out, message in ((tmp_path / "x.png", "unsupported"), (tmp_path / "dir.gif", "directory"),
                         (blocker / "sub" / "x.gif", "cannot write")):
        with pytest.raises(ValueError, match=message):
            animate(out)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        with pytest.raises(ValueError, match="cannot write"):
            animate(locked / "x.gif")
    assert trained == []


def test_mp4_needs_ffmpeg_and_pipes_raw_frames(rec, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="ffmpeg"):
        render(rec, tmp_path / "x.mp4")
    # a stand-in ffmpeg that records its arguments and the bytes it was sent
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ffmpeg"
    fake.write_text(f"#!{sys.executable}\nimport sys\n"
                    "data = sys.stdin.buffer.read()\n"
                    "text = ' '.join(sys.argv[1:]) + f' BYTES={len(data)}'\n"
                    "open(sys.argv[-1], 'w').write(text)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    out = render(rec, tmp_path / "x.mp4", size=(161, 321), grid=16)
    text = out.path.read_text()
    w, h = 161 * 3 // 2 * 2, 321 // 2 * 2  # cropped to even sizes for yuv420p
    assert f"-s {w}x{h}" in text and "libx264" in text
    assert f"BYTES={w * h * 3 * 4}" in text


def test_call_specs_are_parsed_never_evaluated():
    assert _util.parse_call("SGD(learning_rate=1e-3, momentum=0.9)", "x") == \
        ("SGD", [], {"learning_rate": 0.001, "momentum": 0.9})
    assert _util.parse_call("Adam", "x") == ("Adam", [], {})
    assert _util.parse_call("SGD(0.1, nesterov=True)", "x") == ("SGD", [0.1], {"nesterov": True})
    for bad in ("SGD(lr=x)", "SGD(**{'lr': 1})", "os.system('ls')", "SGD(lr=(lambda: 1)())",
                "SGD(", "SGD(lr=1, lr=2)", "[SGD]"):
        with pytest.raises(ValueError):
            _util.parse_call(bad, "--optimizer")
    opt, label = _util.build_optimizer(
        "Adam(learning_rate=CosineDecay(initial_learning_rate=0.1, decay_steps=100))")
    assert type(opt).__name__ == "Adam" and type(opt.learning_rate).__name__ == "CosineDecay"
    with pytest.raises(ValueError, match="counts epochs"):
        _util.build_optimizer("SGD(learning_rate=StepDecay(initial_learning_rate=0.1))")
