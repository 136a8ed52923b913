"""Cohort benchmark: what it costs that a run's numbers do not depend on its cohort.

K seeds of the tutorial run (2-50-3 ReLU MLP on blobs, SGD lr 0.01 momentum 0.9, batch 32,
200 epochs, validation every epoch) trained together with ``train_many``, K = 1, 3, 16, 64;
for each K the first call (compilation included) and the best of three compiled calls, and
whether run 0's validation loss is bit-identical to the same run trained alone (K = 1).

    python benchmarks/cohorts.py                    # table on stdout
    python benchmarks/cohorts.py --parallel-runs 1  # one run at a time
    python benchmarks/cohorts.py --json

Uses only the public API, so it also runs on older versions of hyperlab (e.g. the one that
vmapped cohorts) for a side-by-side figure: ``PYTHONPATH=<old checkout>/src python ...``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import hyperlab as hl


def model() -> hl.Sequential:
    m = hl.Sequential([hl.layers.Input((2,)),
                       hl.layers.Dense(50, "relu", kernel_initializer="he_uniform"),
                       hl.layers.Dense(3, "softmax")], seed=1)
    m.compile(hl.optimizers.SGD(0.01, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 16, 64])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--parallel-runs", type=int, default=None,
                        help="runs trained at once (default: one per core)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.parallel_runs is not None:
        from hyperlab.engine import training
        training.set_parallel_runs(args.parallel_runs)
    (x, y), (vx, vy) = hl.datasets.blobs()
    y, vy = hl.datasets.to_categorical(y), hl.datasets.to_categorical(vy)

    def train(m: hl.Sequential, k: int):
        start = time.perf_counter()
        hs = hl.train_many(m, x, y, seeds=range(k), batch_size=args.batch_size,
                           epochs=args.epochs, validation_data=(vx, vy))
        return time.perf_counter() - start, np.asarray(hs[0].history["val_loss"])

    rows, alone = [], None
    for k in args.sizes:
        m = model()
        first, curve = train(m, k)
        again = min(train(m, k)[0] for _ in range(3))
        alone = curve if alone is None else alone
        rows.append({"runs": k, "first_s": round(first, 3), "again_s": round(again, 3),
                     "ms_per_run": round(1000 * again / k, 1),
                     "run0_equals_alone": bool(np.array_equal(curve, alone))})
    if args.json:
        print(json.dumps(rows))
        return
    print("| runs | first | again | ms per run | run 0 bit-identical to alone |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['runs']} | {r['first_s']:.2f} s | {r['again_s']:.3f} s | "
              f"{r['ms_per_run']} | {'yes' if r['run0_equals_alone'] else 'no'} |")


if __name__ == "__main__":
    main()
