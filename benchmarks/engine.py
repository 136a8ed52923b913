"""Engine benchmark: the tutorial's run (2-50-3 ReLU MLP on blobs, SGD lr 0.01 momentum 0.9,
validation every epoch), online SGD, 100 seeds trained together, and the lecture's
Fashion-MNIST model (784-300-100-10 ReLU, SGD lr 0.01, batch 32, 10 epochs, 10,000 training
and 5,000 validation images of 28×28; Fashion-MNIST itself when it is in the cache, else
random images of those shapes: the same computation) for one seed and five seeds.

    python benchmarks/engine.py            # table on stdout
    python benchmarks/engine.py --json     # one JSON object

Each scenario runs in a fresh process with an empty compilation cache, so "first" includes
tracing and XLA compilation; "again" repeats the same training in that process (compiled).
JAX's import is not counted. Targets (issue #2): tutorial run ≤ 2 s first / ≤ 0.1 s again;
online SGD (100,000 updates) ≤ 0.5 s again; 100 seeds together ≤ 5 s. Issue #4: the
lecture's model ≤ 3 s first (Keras: 12 s), five seeds ≤ 2.5× one seed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

SCENARIOS = {
    "tutorial": "batch 32, 200 epochs, 1 run",
    "online": "batch 1, 200 epochs (100,000 updates), 1 run",
    "seeds100": "batch 32, 200 epochs, 100 seeds as one program",
    "lecture": "784-300-100-10, batch 32, 10 epochs, 1 run",
    "lecture5": "784-300-100-10, batch 32, 10 epochs, 5 seeds as one program",
}


def lecture_data():
    """Fashion-MNIST with the lecture's split if it is at hand (no download), else random
    images of the same shapes."""
    import numpy as np
    import hyperlab as hl
    try:
        ds = hl.datasets.fashion_mnist(download=False)
        return (ds.x_train, ds.y_train), (ds.x_val, ds.y_val), "fashion_mnist"
    except ValueError:
        rng = np.random.default_rng(0)
        return ((rng.random((10000, 28, 28), np.float32), rng.integers(0, 10, 10000)),
                (rng.random((5000, 28, 28), np.float32), rng.integers(0, 10, 5000)), "random")


def lecture(name: str) -> dict:
    import jax
    import hyperlab as hl
    from hyperlab.layers import Dense, Flatten, Input

    (x, y), (vx, vy), data = lecture_data()

    def model():
        m = hl.Sequential([Input((28, 28)), Flatten(), Dense(300, "relu"), Dense(100, "relu"),
                           Dense(10, "softmax")], seed=0)
        m.compile(hl.optimizers.SGD(0.01), "sparse_categorical_crossentropy", ["accuracy"])
        return m

    def once():
        start = time.perf_counter()
        if name == "lecture5":
            hs = hl.train_many(model(), x, y, seeds=range(5), epochs=10, validation_data=(vx, vy))
        else:
            hs = [model().fit(x, y, epochs=10, validation_data=(vx, vy), verbose=0, seed=0)]
        return time.perf_counter() - start, sum(h.history["val_accuracy"][-1] for h in hs) / len(hs)

    first, acc = once()
    again = min(once()[0] for _ in range(2))
    return {"scenario": name, "what": f"{SCENARIOS[name]} ({data} data)",
            "first_s": round(first, 3), "again_s": round(again, 3),
            "final_val_accuracy": round(acc, 4), "backend": jax.default_backend(),
            "device": str(jax.devices()[0])}


def scenario(name: str) -> dict:
    if name.startswith("lecture"):
        return lecture(name)
    import jax
    import hyperlab as hl

    (x, y), (vx, vy) = hl.datasets.blobs()
    y, vy = hl.datasets.to_categorical(y), hl.datasets.to_categorical(vy)
    batch = 1 if name == "online" else 32

    def model():
        m = hl.Sequential([hl.layers.Input((2,)),
                           hl.layers.Dense(50, "relu", kernel_initializer="he_uniform"),
                           hl.layers.Dense(3, "softmax")], seed=1)
        m.compile(hl.optimizers.SGD(0.01, momentum=0.9), "categorical_crossentropy", ["accuracy"])
        return m

    def once():
        start = time.perf_counter()
        if name == "seeds100":
            hs = hl.train_many(model(), x, y, seeds=range(100), batch_size=batch, epochs=200,
                               validation_data=(vx, vy))
            result = sum(h.history["val_accuracy"][-1] for h in hs) / len(hs)
        else:
            h = model().fit(x, y, batch_size=batch, epochs=200, validation_data=(vx, vy), verbose=0)
            result = h.history["val_accuracy"][-1]
        return time.perf_counter() - start, result

    first, acc = once()
    again = min(once()[0] for _ in range(3))
    return {"scenario": name, "what": SCENARIOS[name], "first_s": round(first, 3),
            "again_s": round(again, 3), "final_val_accuracy": round(acc, 4),
            "backend": jax.default_backend(), "device": str(jax.devices()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(scenario(args.scenario)))
        return
    rows = []
    for name in SCENARIOS:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, HYPERLAB_CACHE_DIR=cache)
            out = subprocess.run([sys.executable, __file__, "--scenario", name], env=env,
                                 check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
              "python": platform.python_version(), "results": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(report["machine"])
    print(f"{'scenario':10} {'first (s)':>10} {'again (s)':>10} {'val acc':>8}  what")
    for r in rows:
        print(f"{r['scenario']:10} {r['first_s']:10.3f} {r['again_s']:10.3f} "
              f"{r['final_val_accuracy']:8.3f}  {r['what']} [{r['backend']}]")


if __name__ == "__main__":
    main()
