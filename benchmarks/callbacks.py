"""What a Python callback costs: the tutorial run (2-50-3 ReLU MLP on blobs, SGD lr 0.01
momentum 0.9, batch 32, 200 epochs, validation every epoch) trained compiled, without
callbacks (25 epochs per compiled call), and with a Keras ``Callback`` subclass whose
``on_epoch_end`` only reads the logs and the learning rate (one compiled call per epoch).

    python benchmarks/callbacks.py            # table on stdout
    python benchmarks/callbacks.py --json     # one JSON object

Both programs are compiled first (one fit each); the figures are the best of five further
fits. The extra time per epoch is the per-epoch dispatch that Python callbacks cost
(issue #11's target: at most 1 ms per epoch).
"""
from __future__ import annotations

import argparse
import json
import platform
import time

EPOCHS, REPEATS = 200, 5


def measure() -> dict:
    import hyperlab as hl
    from hyperlab.keras.callbacks import Callback
    from hyperlab.layers import Dense, Input

    (x, y), (vx, vy) = hl.datasets.blobs()
    y, vy = hl.datasets.to_categorical(y), hl.datasets.to_categorical(vy)

    class Reader(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.last = (logs["val_accuracy"], float(self.model.optimizer.learning_rate))

    def fit(callbacks) -> float:
        model = hl.Sequential([Input((2,)), Dense(50, "relu", kernel_initializer="he_uniform"),
                               Dense(3, "softmax")], seed=1)
        model.compile(hl.optimizers.SGD(0.01, momentum=0.9), "categorical_crossentropy",
                      ["accuracy"])
        start = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=EPOCHS, validation_data=(vx, vy), verbose=0,
                  callbacks=callbacks)
        return time.perf_counter() - start

    out = {}
    for name, make in [("no callbacks", lambda: []), ("python callback", lambda: [Reader()])]:
        fit(make())  # compile
        out[name] = min(fit(make()) for _ in range(REPEATS))
    out["extra per epoch (ms)"] = 1000 * (out["python callback"] - out["no callbacks"]) / EPOCHS
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure()
    result["machine"] = f"{platform.machine()}, {platform.processor() or platform.system()}"
    if args.json:
        print(json.dumps(result))
        return
    print(f"tutorial run, {EPOCHS} epochs, best of {REPEATS}:")
    print(f"  no callbacks     {result['no callbacks']:.3f} s")
    print(f"  python callback  {result['python callback']:.3f} s")
    print(f"  extra per epoch  {result['extra per epoch (ms)']:.3f} ms")


if __name__ == "__main__":
    main()
