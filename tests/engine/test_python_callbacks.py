"""Python callbacks (Keras's ``Callback`` hooks between epochs) and the callbacks built on
them: LambdaCallback, TerminateOnNaN, CSVLogger, ModelCheckpoint, History.

One tiny model shape (the one of test_keras_output and test_model_api): every fit reuses
one compiled program (with a Python callback the program runs one epoch per call)."""
from __future__ import annotations

import csv

import numpy as np
import pytest

import hyperlab as hl
from hyperlab.engine import callbacks as C

L = hl.layers
EPOCHS = 4


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 2)).astype(np.float32)
    y = hl.datasets.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int), 3)
    return x[:64], y[:64], x[64:], y[64:]


def model(lr: float = 0.1) -> hl.Sequential:
    m = hl.Sequential([L.Input((2,)), L.Dense(4, "relu"), L.Dense(3, "softmax")], seed=0)
    m.compile(hl.optimizers.SGD(lr), "categorical_crossentropy", ["acc"])
    return m


def fit(data, m=None, **kwargs):
    x, y, vx, vy = data
    kwargs = {"epochs": EPOCHS, "batch_size": 16, "verbose": 0, "seed": 1,
              "validation_data": (vx, vy)} | kwargs
    return (m or model()).fit(x, y, **kwargs)


class Recorder(C.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", dict(self.params)))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs), self.model.get_weights()))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", dict(logs)))


def test_hooks_run_in_keras_order_with_keras_logs_and_the_same_numbers(data):
    plain = fit(data)
    rec = Recorder()
    m = model()
    h = fit(data, m, callbacks=[rec])
    assert h.history == plain.history                      # one epoch per call: same program
    assert rec.calls[0] == ("train_begin", {"verbose": 0, "epochs": EPOCHS, "steps": 4})
    kinds = [c[0] for c in rec.calls[1:-1]]
    assert kinds == ["epoch_begin", "epoch_end"] * EPOCHS
    ends = [c for c in rec.calls if c[0] == "epoch_end"]
    assert [c[1] for c in ends] == list(range(EPOCHS))
    for i, (_, _, logs, _) in enumerate(ends):
        assert list(logs) == ["acc", "loss", "val_acc", "val_loss"]
        assert logs == {k: v[i] for k, v in plain.history.items()}
    assert rec.calls[-1] == ("train_end", ends[-1][2])
    # self.model is the model being trained: its weights at each epoch's end
    for a, b in zip(ends[-1][3], m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert m.history is h and rec.model is m


def test_stop_training_stops_after_the_epoch(data):
    stopper = C.LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(
        stopper.model, "stop_training", epoch == 1))
    h = fit(data, callbacks=[stopper])
    assert h.epoch == [0, 1] and len(h.history["loss"]) == 2


@pytest.mark.parametrize("how", ["attribute", "lr", "assign", "set_value"])
def test_learning_rate_set_between_epochs_reaches_the_training(data, how):
    """SGD without momentum: a rate of 0 from epoch 2 on leaves the weights of epoch 1."""
    seen = []

    def set_zero(epoch, logs):
        opt = rec.model.optimizer
        seen.append(float(opt.learning_rate))
        if epoch == 1:
            if how == "attribute":
                opt.learning_rate = 0.0
            elif how == "lr":
                opt.lr = 0.0
            elif how == "assign":
                opt.learning_rate.assign(0.0)
            else:  # keras.backend.set_value(opt.lr, 0.0)
                lr = opt.lr
                lr.assign(np.asarray(0.0, dtype=lr.dtype))

    rec = Recorder()
    m = model(lr=0.1)
    fit(data, m, callbacks=[rec, C.LambdaCallback(on_epoch_end=set_zero)])
    ends = [c for c in rec.calls if c[0] == "epoch_end"]
    assert seen == [pytest.approx(0.1)] * 2 + [0.0, 0.0]
    assert not np.array_equal(ends[0][3][0], ends[1][3][0])
    for later in ends[2:]:
        for a, b in zip(later[3], ends[1][3]):
            np.testing.assert_array_equal(a, b)
    assert m.optimizer.learning_rate.numpy() == np.float32(0.0)


def test_batch_hooks_and_foreign_objects_are_refused_in_one_line(data):
    class PerBatch(C.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    for cb, words in ((PerBatch(), "PerBatch defines on_train_batch_end"),
                      (C.LambdaCallback(on_batch_end=lambda b, logs: None), "on_batch_end"),
                      (object(), "keras.callbacks.Callback")):
        with pytest.raises(ValueError, match=words) as err:
            fit(data, callbacks=[cb])
        assert "\n" not in str(err.value)


def test_terminate_on_nan_stops_or_raises(data, capsys):
    h = fit(data, model(lr=1e9), callbacks=[C.TerminateOnNaN()])
    assert len(h.epoch) == h.diverged_epoch + 1 < EPOCHS
    assert f"Epoch {h.diverged_epoch + 1}: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        fit(data, model(lr=1e9), callbacks=[C.TerminateOnNaN(raise_error=True)])


def test_csv_logger_writes_keras_rows(data, tmp_path):
    path = tmp_path / "log.csv"
    h = fit(data, callbacks=[C.CSVLogger(path)])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "acc", "loss", "val_acc", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    for key, values in h.history.items():
        assert [float(r[key]) for r in rows] == values
    fit(data, epochs=2, callbacks=[C.CSVLogger(path, append=True)])
    assert len(path.read_text().splitlines()) == 1 + EPOCHS + 2  # one header


def test_model_checkpoint_saves_the_best_epochs_with_formatted_names(data, tmp_path):
    rec = Recorder()
    pattern = str(tmp_path / "w.{epoch:02d}-{val_loss:.3f}.keras")
    h = fit(data, epochs=EPOCHS, callbacks=[rec, C.ModelCheckpoint(pattern, save_best_only=True)])
    val = h.history["val_loss"]
    best_so_far = [i for i in range(EPOCHS) if val[i] < min(val[:i], default=np.inf)]
    expected = sorted(f"w.{i + 1:02d}-{val[i]:.3f}.keras" for i in best_so_far)
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    last = best_so_far[-1]
    loaded = hl.load_model(tmp_path / expected[-1])
    weights = [c[3] for c in rec.calls if c[0] == "epoch_end"][last]
    for a, b in zip(loaded.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        C.ModelCheckpoint(tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        C.ModelCheckpoint(tmp_path / "w.keras", save_weights_only=True)


def test_a_history_given_in_callbacks_is_the_one_fit_returns(data):
    mine = hl.History()
    assert fit(data, callbacks=[mine]) is mine and len(mine.epoch) == EPOCHS
