"""EarlyStopping(restore_best_weights): History.restored_epoch names the epoch whose weights
fit returned, so that epoch's validation logs are the returned model's."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

import hyperlab as hl


def test_restored_epoch_is_the_returned_models_epoch():
    x, y = make_blobs(600, centers=3, n_features=2, cluster_std=2, random_state=2)
    x, y = x.astype("float32"), np.eye(3, dtype="float32")[y]
    model = hl.Sequential([hl.layers.Input((2,)), hl.layers.Dense(16, "relu"),
                           hl.layers.Dense(3, "softmax")])
    model.compile(hl.optimizers.Adam(0.05), "categorical_crossentropy", ["accuracy"])
    stop = hl.callbacks.EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    h = model.fit(x[:300], y[:300], validation_data=(x[300:], y[300:]), epochs=40,
                  batch_size=32, verbose=0, callbacks=[stop])
    assert h.stopped_epoch is not None and h.restored_epoch is not None
    assert h.restored_epoch == int(np.argmin(h.history["val_loss"]))
    assert h.restored_epoch < len(h.epoch) - 1                   # not simply the last epoch
    loss, accuracy = model.evaluate(x[300:], y[300:], verbose=0)
    assert loss == pytest.approx(h.history["val_loss"][h.restored_epoch], rel=1e-5)
    assert accuracy == pytest.approx(h.history["val_accuracy"][h.restored_epoch])
