"""What Keras prints: ``fit``'s ``Epoch i/N`` and progress lines (verbose 1 and 2),
evaluate/predict, the callbacks' messages, ``summary()``'s process-wide names, and
History's keys (``metrics=['acc']`` logs ``acc``; ``learning_rate`` only where Keras logs it).

The formats are Keras 3's ``keras.utils.Progbar`` and callback messages."""
from __future__ import annotations

import re

import numpy as np
import pytest

import hyperlab as hl
from hyperlab.engine import callbacks as C
from hyperlab.engine.model import clear_session

L = hl.layers
NUM = r"\d+\.\d{4}(?:e-\d\d)?"
# verbose=1: "\r" + bold "k/k", a full green 20-character bar, bold seconds, time per step
BAR = (r"\r\x1b\[1m4/4\x1b\[0m \x1b\[32m━{20}\x1b\[0m\x1b\[37m\x1b\[0m \x1b\[1m\d+s\x1b\[0m "
       r"\d+(?:us|ms|s)/step")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 2)).astype(np.float32)
    y = hl.datasets.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int), 3)
    return x[:64], y[:64], x[64:], y[64:]


def model(metrics=("acc",)) -> hl.Sequential:
    m = hl.Sequential([L.Input((2,)), L.Dense(4, "relu"), L.Dense(3, "softmax")], seed=0)
    m.compile(hl.optimizers.SGD(0.1), "categorical_crossentropy", list(metrics))
    return m


def fit(data, m=None, **kwargs):
    x, y, vx, vy = data
    kwargs = {"epochs": 2, "batch_size": 16, "seed": 1, "validation_data": (vx, vy)} | kwargs
    return (m or model()).fit(x, y, **kwargs)


def test_verbose_1_prints_keras_epoch_headers_and_bars(data, capsys):
    h = fit(data)  # verbose="auto" is 1
    out = capsys.readouterr().out
    logs = " - ".join(f"{k}: {NUM}" for k in ("acc", "loss", "val_acc", "val_loss"))
    assert re.fullmatch(f"Epoch 1/2\n{BAR} - {logs}\nEpoch 2/2\n{BAR} - {logs}\n", out), out
    first = out.split("\n")[1]
    assert f"acc: {h.history['acc'][0]:.4f} - loss: {h.history['loss'][0]:.4f}" in first


def test_verbose_2_one_line_per_epoch_and_0_silent(data, capsys):
    h = fit(data, verbose=2, epochs=1)
    out = capsys.readouterr().out
    assert re.fullmatch(rf"4/4 - \d+s - \d+(?:us|ms|s)/step - acc: {NUM} - loss: {NUM} - "
                        rf"val_acc: {NUM} - val_loss: {NUM}\n", out), out  # 1 epoch: no header
    assert f"val_loss: {h.history['val_loss'][0]:.4f}" in out
    fit(data, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_and_predict_print_a_bar_unless_verbose_0(data, capsys):
    x, y, vx, vy = data
    m = model()
    loss, acc = m.evaluate(vx, vy)
    out = capsys.readouterr().out
    assert re.fullmatch(BAR.replace("4/4", "1/1") + rf" - acc: {NUM} - loss: {NUM}\n", out), out
    assert f"acc: {acc:.4f} - loss: {loss:.4f}" in out
    m.predict(x, batch_size=16)
    assert re.fullmatch(BAR + r"\n", capsys.readouterr().out)
    m.evaluate(vx, vy, verbose=0), m.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_history_keys_follow_the_metric_names_and_keras_learning_rate_logging(data):
    """Keras 2 names the keys after the metric string (test_python_callbacks: "accuracy");
    hyperlab's always-on rate is opt-in."""
    assert list(fit(data, verbose=0).history) == ["acc", "loss", "val_acc", "val_loss"]
    h = fit(data, verbose=0, log_learning_rate=True)
    assert list(h.history) == ["acc", "loss", "val_acc", "val_loss", "learning_rate"]
    assert h.history["learning_rate"] == [float(np.float32(0.1))] * 2


def test_compiled_callbacks_print_keras_messages(data, capsys):
    """ReduceLROnPlateau reduces after every epoch (nothing improves by 100); EarlyStopping
    on the loss stops at the second epoch (patience 1) and restores the first epoch's
    weights; the scheduler's rate is printed before each epoch's header, as Keras orders it."""
    m = model()
    callbacks = [C.LearningRateScheduler(lambda epoch, lr: lr, verbose=1),
                 C.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=100, factor=0.5,
                                     verbose=1),
                 C.EarlyStopping(monitor="loss", min_delta=100, patience=1,
                                 restore_best_weights=True, verbose=1)]
    h = fit(data, m, epochs=5, verbose=2, callbacks=callbacks)
    lines = capsys.readouterr().out.splitlines()
    lr = h.history["learning_rate"]
    assert list(h.history)[-1] == "learning_rate" and h.epoch == [0, 1]
    assert lines[:3] == ["", "Epoch 1: LearningRateScheduler setting learning rate to "
                         f"{float(np.float32(0.1))}.", "Epoch 1/5"]
    assert lines[3].startswith("4/4 - ")  # epoch 1 is the first best: no reduction
    assert lines[4:8] == ["", "Epoch 2: LearningRateScheduler setting learning rate to "
                          f"{lr[1]}.", "Epoch 2/5", ""]
    assert lines[8] == f"Epoch 2: ReduceLROnPlateau reducing learning rate to {lr[1] * 0.5}."
    assert lines[9].startswith("4/4 - ") and lines[9].endswith(f"learning_rate: {lr[1]:.4f}")
    assert lines[10:] == ["Epoch 2: early stopping",
                          "Restoring model weights from the end of the best epoch: 1."]
    # Keras's optimizer ends with the reduced rate
    assert m.optimizer.learning_rate == pytest.approx(lr[1] * 0.5)


def test_summary_numbers_models_and_layers_across_the_process():
    clear_session()
    a = hl.Sequential([L.Input((2,)), L.Dense(4), L.Dense(3)])
    b = hl.Sequential([L.Input((3,)), L.Dense(2, name="out"), L.Dense(1)])
    assert (a.name, b.name) == ("sequential", "sequential_1")
    assert [layer.name for layer in a.layers + b.layers] == ["dense", "dense_1", "out", "dense_2"]
    lines = []
    b.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert text.startswith('Model: "sequential_1"') and "dense_2 (Dense)" in text
    clear_session()
    assert hl.Sequential([L.Dense(1)]).name == "sequential"
