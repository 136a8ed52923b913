"""Transfer learning, following the lecture's recipe on scikit-learn's digits.

Task A: classify the digits 0-7 (plenty of data). Task B: tell 8 from 9 with only 40
training images. Reuse A's hidden layers for B: freeze them, train the new output layer,
then unfreeze and fine-tune with a lower learning rate. Compare with B trained from scratch.

Expect an honest result: on this small dense network the reused features help less than
training from scratch (about 0.93 either way after fine-tuning, 0.82 frozen), as the
lecture's source warns ("transfer learning does not work very well with small dense
networks"); the recipe is what carries over to deep networks.

    python examples/transfer_learning.py
"""
import tempfile
from pathlib import Path

import numpy as np

import hyperlab as hl
from hyperlab.layers import Dense, Flatten, Input


def split(ds, classes):
    def pick(x, y):
        keep = np.isin(y, classes)
        return x[keep], np.searchsorted(classes, y[keep])
    return pick(ds.x_train, ds.y_train), pick(ds.x_val, ds.y_val)


def mlp(n_out: int, seed: int) -> hl.Sequential:
    return hl.Sequential([Input((8, 8)), Flatten(), Dense(100, "selu", kernel_initializer="lecun_normal"),
                          Dense(50, "selu", kernel_initializer="lecun_normal"),
                          Dense(n_out, "softmax" if n_out > 1 else "sigmoid")], seed=seed)


def main() -> None:
    ds = hl.datasets.digits()
    (xa, ya), (vxa, vya) = split(ds, np.arange(8))
    (xb, yb), (vxb, vyb) = split(ds, np.array([8, 9]))
    xb, yb = xb[:20], yb[:20].astype(np.float32)
    vyb = vyb.astype(np.float32)

    model_a = mlp(8, seed=0)
    model_a.compile(hl.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
    model_a.fit(xa, ya, epochs=20, validation_data=(vxa, vya), verbose=0, seed=0)
    print(f"model A (digits 0-7): val accuracy {model_a.evaluate(vxa, vya)[1]:.3f}")

    with tempfile.TemporaryDirectory() as tmp:  # save and reload A, as the lecture does
        model_a.save(Path(tmp) / "model_a.npz")
        model_a = hl.load_model(Path(tmp) / "model_a.npz")

    scratch = mlp(1, seed=1)
    scratch.compile(hl.optimizers.SGD(0.01, momentum=0.9), "binary_crossentropy", ["accuracy"])
    scratch.fit(xb, yb, epochs=100, verbose=0, seed=0)

    reused = model_a.layers[:-1]  # weights are copied: model A stays as it is
    model_b = hl.Sequential(reused + [Dense(1, "sigmoid")], seed=1)
    for layer in reused:
        layer.trainable = False
    model_b.compile(hl.optimizers.SGD(0.01, momentum=0.9), "binary_crossentropy", ["accuracy"])
    model_b.fit(xb, yb, epochs=50, verbose=0, seed=0)
    frozen = model_b.evaluate(vxb, vyb)[1]
    for layer in reused:
        layer.trainable = True
    model_b.compile(hl.optimizers.SGD(1e-3, momentum=0.9), "binary_crossentropy", ["accuracy"])
    model_b.fit(xb, yb, epochs=50, verbose=0, seed=0)

    print(f"model B from scratch (20 images):      val accuracy {scratch.evaluate(vxb, vyb)[1]:.3f}")
    print(f"model B on A, frozen then fine-tuned:  val accuracy {frozen:.3f} -> "
          f"{model_b.evaluate(vxb, vyb)[1]:.3f}")


if __name__ == "__main__":
    main()
