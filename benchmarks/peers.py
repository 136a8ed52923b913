"""hyperlab beside Keras and PyTorch, in one run on one machine, so that every ratio is
same-machine, same-run.

    python benchmarks/peers.py              # table on stdout
    python benchmarks/peers.py --json       # one JSON object

Scenarios (each framework in a fresh process; hyperlab with an empty compilation cache):

- ``tutorial``: the tutorial's run — 2-50-3 ReLU MLP on blobs (500 training, 500
  validation samples), SGD(0.01, momentum 0.9), batch 32, 200 epochs, validation every
  epoch. *first* is the first ``fit`` (tracing and compilation included, imports not);
  *again* the best of three further fits of the same model in that process.
- ``lecture``: the lecture's model — 784-300-100-10 ReLU MLP, SGD(0.01), batch 32, 10 epochs
  on 10,000 random 28×28 images with 5,000 validation images (the shapes of the lecture's
  Fashion-MNIST split; the computation does not depend on the pixels). *again* gives the
  achieved GFLOP/s (forward + backward of every training batch, forward of the validation
  set), beside the rate a plain jitted ``jnp.dot`` loop of the same matrix shapes reaches.

- ``tutorial``, hyperlab only: the same run written as the shortest JAX program (one jitted
  ``lax.scan`` over epochs of a ``lax.scan`` over batches, the same shuffling, momentum
  update, last smaller batch and validation): the floor of the per-step cost on this
  machine, beside hyperlab's compiled ``fit``.
- ``--studies``: ``hyperlab reproduce tutorial`` (the ten tutorial studies, ``--repeats``
  seeds each; ``--studies all`` for all seventeen) in a fresh process with an empty
  compilation cache, then again with the cache it filled: wall clock, the CPU time of the
  process and its children, peak memory, and a profile of the cold run — the distinct
  training programs and the CPU it takes to compile them (each compiled alone, in a third
  process), the CPU time to train every run with them compiled and to write the tables,
  figures and analyses, the training time and the tables-and-figures time of each study. Keras and
  PyTorch beside it are their compiled tutorial run × the number of runs (extrapolated,
  not measured: the studies' runs are all of the tutorial run's size or smaller).

Keras (``pip install tensorflow-cpu``) and PyTorch (``pip install torch==2.13.0``) are
measured where they import, else reported as absent.
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

FRAMEWORKS = ("hyperlab", "keras", "torch")
SCENARIOS = ("tutorial", "lecture")
LECTURE = (784, 300, 100, 10)
N_TRAIN, N_VAL, EPOCHS = 10_000, 5_000, 10


def lecture_flops() -> float:
    """FLOPs of the lecture run: 2 per multiply-add forward, 4 more backward (the weight and
    input gradients) for every training sample; forward only for validation."""
    macs = sum(a * b for a, b in zip(LECTURE, LECTURE[1:]))
    return EPOCHS * macs * (6 * N_TRAIN + 2 * N_VAL)


def data(scenario: str):
    import numpy as np
    if scenario == "tutorial":
        from sklearn.datasets import make_blobs
        x, y = make_blobs(1000, centers=3, n_features=2, cluster_std=2, random_state=2)
        x, y = x.astype(np.float32), np.eye(3, dtype=np.float32)[y]
        return (x[:500], y[:500]), (x[500:], y[500:])
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN + N_VAL, 784), np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, N_TRAIN + N_VAL)]
    return (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])


def settings(scenario: str) -> tuple[list[int], float, float, int]:
    """(layer sizes, learning rate, momentum, epochs)."""
    if scenario == "tutorial":
        return [2, 50, 3], 0.01, 0.9, 200
    return list(LECTURE), 0.01, 0.0, EPOCHS


def run_hyperlab(scenario: str, fits: int):
    import hyperlab as hl
    (x, y), val = data(scenario)
    sizes, lr, momentum, epochs = settings(scenario)
    layers = [hl.layers.Input((sizes[0],))]
    layers += [hl.layers.Dense(n, "relu") for n in sizes[1:-1]]
    model = hl.Sequential(layers + [hl.layers.Dense(sizes[-1], "softmax")], seed=0)
    model.compile(hl.optimizers.SGD(lr, momentum=momentum), "categorical_crossentropy",
                  ["accuracy"])
    for _ in range(fits):
        start = time.perf_counter()
        h = model.fit(x, y, batch_size=32, epochs=epochs, validation_data=val, verbose=0)
        yield time.perf_counter() - start, h.history["val_accuracy"][-1]


def run_keras(scenario: str, fits: int):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    (x, y), val = data(scenario)
    sizes, lr, momentum, epochs = settings(scenario)
    model = keras.Sequential([keras.Input((sizes[0],))]
                             + [keras.layers.Dense(n, "relu") for n in sizes[1:-1]]
                             + [keras.layers.Dense(sizes[-1], "softmax")])
    model.compile(optimizer=keras.optimizers.SGD(lr, momentum=momentum),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    for _ in range(fits):
        start = time.perf_counter()
        h = model.fit(x, y, batch_size=32, epochs=epochs, validation_data=val, verbose=0)
        yield time.perf_counter() - start, h.history["val_accuracy"][-1]


def run_torch(scenario: str, fits: int):
    import torch
    (x, y), (vx, vy) = data(scenario)
    x, y, vx, vy = (torch.from_numpy(a) for a in (x, y.argmax(1), vx, vy.argmax(1)))
    sizes, lr, momentum, epochs = settings(scenario)
    torch.manual_seed(0)
    layers: list = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(fits):
        start = time.perf_counter()
        for _ in range(epochs):
            model.train()
            for idx in torch.randperm(len(x)).split(32):
                opt.zero_grad()
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                acc = (model(vx).argmax(1) == vy).float().mean().item()
        yield time.perf_counter() - start, acc


def minimal_scan(fits: int) -> tuple[float, float]:
    """The tutorial run as the shortest JAX program (see the module docstring): the first
    call (tracing and compilation included) and the best of ``fits`` further calls."""
    import jax
    import jax.numpy as jnp
    (x, y), (vx, vy) = (tuple(map(jnp.asarray, pair)) for pair in data("tutorial"))
    sizes, lr, momentum, epochs = settings("tutorial")
    n, bs = len(x), 32
    full, rest = divmod(n, bs)

    def loss(p, x, y):
        h = jax.nn.relu(x @ p[0] + p[1])
        logp = jax.nn.log_softmax(h @ p[2] + p[3])
        return -jnp.mean(jnp.sum(y * logp, 1)), logp

    def step(carry, batch):
        p, m, sums = carry
        (value, logp), g = jax.value_and_grad(loss, has_aux=True)(p, *batch)
        m = [momentum * mi - lr * gi for mi, gi in zip(m, g)]
        hits = jnp.sum(jnp.argmax(logp, 1) == jnp.argmax(batch[1], 1))
        return ([pi + mi for pi, mi in zip(p, m)], m,
                sums + jnp.stack([value * len(batch[0]), hits])), None

    def epoch(carry, key):
        p, m = carry
        perm = jax.random.permutation(key, n)
        xs, ys = x[perm], y[perm]
        blocks = (xs[:full * bs].reshape(full, bs, -1), ys[:full * bs].reshape(full, bs, -1))
        (p, m, sums), _ = jax.lax.scan(step, (p, m, jnp.zeros(2)), blocks)
        if rest:
            (p, m, sums), _ = step((p, m, sums), (xs[full * bs:], ys[full * bs:]))
        val, logp = loss(p, vx, vy)
        hits = jnp.mean(jnp.argmax(logp, 1) == jnp.argmax(vy, 1))
        return (p, m), jnp.stack([sums[0] / n, sums[1] / n, val, hits])

    @jax.jit
    def run(key):
        k1, k2 = jax.random.split(key)
        p = [jax.random.normal(k1, (sizes[0], sizes[1])) * 0.1, jnp.zeros(sizes[1]),
             jax.random.normal(k2, (sizes[1], sizes[2])) * 0.1, jnp.zeros(sizes[2])]
        m = [jnp.zeros_like(a) for a in p]
        return jax.lax.scan(epoch, (p, m), jax.random.split(key, epochs))[1]

    first = _timed(lambda: run(jax.random.PRNGKey(0)).block_until_ready())
    return first, min(_timed(lambda: run(jax.random.PRNGKey(1)).block_until_ready())
                      for _ in range(fits))


def matmul_rate() -> float:
    """GFLOP/s of a jitted loop of the lecture's batch matmuls (forward and both backward
    products of every layer), the ceiling a training step could reach."""
    import jax
    import jax.numpy as jnp
    key = jax.random.PRNGKey(0)
    ws = [jax.random.normal(key, (a, b)) for a, b in zip(LECTURE, LECTURE[1:])]
    x0 = jax.random.normal(key, (32, LECTURE[0]))
    steps = N_TRAIN // 32

    @jax.jit
    def loop(x0, ws):
        def body(i, acc):
            h, total = x0 + acc[0, 0], 0.0
            for w in ws:
                out = jnp.dot(h, w)
                total += jnp.sum(jnp.dot(h.T, out)) + jnp.sum(jnp.dot(out, w.T))
                h = out
            return acc + total * 1e-30
        return jax.lax.fori_loop(0, steps, body, jnp.zeros((1, 1)))

    loop(x0, ws).block_until_ready()
    best = min(_timed(lambda: loop(x0, ws).block_until_ready()) for _ in range(5))
    macs = sum(a * b for a, b in zip(LECTURE, LECTURE[1:]))
    return 6 * 32 * macs * steps / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(framework: str, scenario: str) -> dict:
    run = {"hyperlab": run_hyperlab, "keras": run_keras, "torch": run_torch}[framework]
    times = list(run(scenario, 4))
    out = {"first_s": round(times[0][0], 3), "again_s": round(min(t for t, _ in times[1:]), 4),
           "val_accuracy": round(float(times[-1][1]), 4)}
    if scenario == "lecture":
        out["gflops"] = round(lecture_flops() / out["again_s"] / 1e9, 1)
        if framework == "hyperlab":
            out["matmul_loop_gflops"] = round(matmul_rate(), 1)
    elif framework == "hyperlab":
        first, again = minimal_scan(3)
        out["minimal_scan_first_s"], out["minimal_scan_s"] = round(first, 3), round(again, 4)
    return out


# ---------------------------------------------------------------------------- studies
def _reproduce(which: str, repeats: int, cache: str, out: str) -> dict:
    """One ``hyperlab reproduce`` in a fresh process: wall, CPU of it and its children
    (the tables-and-figures process included), and the per-study table it prints."""
    import re
    import resource
    env = dict(os.environ, HYPERLAB_CACHE_DIR=cache)
    names = [] if which == "all" else [which]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hyperlab", "reproduce", *names, "--repeats",
                           str(repeats), "--out", out, "--no-progress"], env=env,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = re.findall(r"^\| \[([\w-]+)\]\S* \| (\d+) \| ([\d.]+) \| ([\d.]+) \|$",
                      proc.stdout, re.M)
    return {"wall_s": round(wall, 1),
            "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
            "runs": sum(int(r) for _, r, _, _ in rows),
            "train_s": round(sum(float(t) for _, _, t, _ in rows), 1),
            "figures_s": round(sum(float(f) for _, _, _, f in rows), 1)}


def compile_profile(which: str, repeats: int) -> dict:
    """The CPU time of a cold ``reproduce``'s parts, each alone in this process: compiling
    the studies' distinct training programs one after another (empty cache, nothing
    trained), then training every run with those programs compiled, then writing each
    study's tables, figures (PNG) and analyses as ``reproduce`` does."""
    import resource
    import tempfile
    from pathlib import Path
    from hyperlab import studies
    from hyperlab.cli.studies import publish
    from hyperlab.studies import planner
    from hyperlab.studies.executors import core, run_studies
    from hyperlab.studies.store import Store
    names = studies.builtin_names()
    names = names if which == "all" else names[:len(studies.TUTORIAL)]
    chosen = [studies.get(name).with_overrides(repeats=repeats) for name in names]
    cohorts = {}
    for study in chosen:
        for group in planner.cohorts(planner.plan(study)[1], 10 ** 6, None):
            cohort = core.build_cohort(group)
            cohorts.setdefault(cohort.program, cohort)
    usage = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731
    cpu, start = usage(), time.perf_counter()
    for cohort in cohorts.values():
        cohort.compile()
    compiled, wall = usage() - cpu, time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.db") as store:
        cpu = usage()
        results = run_studies(chosen, store, progress=False)
        trained = usage() - cpu
        cpu = usage()
        for study, result in zip(chosen, results):
            publish(result, Path(tmp), study.question, formats=("png",), study=study)
        published = usage() - cpu
    return {"programs": len(cohorts), "compile_cpu_s": round(compiled, 1),
            "compile_wall_s": round(wall, 1), "train_cpu_s": round(trained, 1),
            "publish_cpu_s": round(published, 1)}


def measure_studies(which: str, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        cold = _reproduce(which, repeats, cache, os.path.join(tmp, "cold"))
        warm = _reproduce(which, repeats, cache, os.path.join(tmp, "warm"))
        env = dict(os.environ, HYPERLAB_CACHE_DIR=os.path.join(tmp, "empty"))
        profile = subprocess.run([sys.executable, __file__, "--compile-profile", which,
                                  "--repeats", str(repeats)],
                                 env=env, check=True, capture_output=True, text=True).stdout
    return {"which": which, "repeats": repeats, "cold": cold, "warm": warm,
            "profile": json.loads(profile.strip().splitlines()[-1])}


def available(framework: str) -> bool:
    module = {"hyperlab": "hyperlab", "keras": "tensorflow", "torch": "torch"}[framework]
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", probe]).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--studies", choices=("tutorial", "all"),
                        help="also time 'hyperlab reproduce' of these studies, cold and warm")
    parser.add_argument("--repeats", type=int, default=10, help="seeds per value (--studies)")
    parser.add_argument("--one", nargs=2, metavar=("FRAMEWORK", "SCENARIO"), help=argparse.SUPPRESS)
    parser.add_argument("--compile-profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one)))
        return
    if args.compile_profile:
        print(json.dumps(compile_profile(args.compile_profile, args.repeats)))
        return
    results: dict = {}
    for framework in FRAMEWORKS:
        if not available(framework):
            results[framework] = "not installed"
            continue
        results[framework] = {}
        for scenario in SCENARIOS:
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, HYPERLAB_CACHE_DIR=cache)
                out = subprocess.run([sys.executable, __file__, "--one", framework, scenario],
                                     env=env, check=True, capture_output=True, text=True).stdout
            results[framework][scenario] = json.loads(out.strip().splitlines()[-1])
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
              "python": platform.python_version(), "results": results}
    if args.studies:
        report["studies"] = measure_studies(args.studies, args.repeats)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(report["machine"])
    print(f"{'framework':10} {'scenario':9} {'first (s)':>10} {'again (s)':>10} {'GFLOP/s':>8} "
          f"{'val acc':>8}")
    for framework, rows in results.items():
        if isinstance(rows, str):
            print(f"{framework:10} {rows}")
            continue
        for scenario, r in rows.items():
            print(f"{framework:10} {scenario:9} {r['first_s']:10.3f} {r['again_s']:10.4f} "
                  f"{r.get('gflops', ''):>8} {r['val_accuracy']:8.3f}")
    hl = results.get("hyperlab")
    if isinstance(hl, dict):
        print(f"plain jnp.dot loop at the lecture's shapes: "
              f"{hl['lecture']['matmul_loop_gflops']} GFLOP/s")
        t = hl["tutorial"]
        print(f"the tutorial run as the shortest JAX program: first {t['minimal_scan_first_s']} s, "
              f"again {t['minimal_scan_s']} s (hyperlab's fit: {t['first_s']} s, {t['again_s']} s)")
        for peer in ("keras", "torch"):
            if isinstance(results.get(peer), dict):
                for scenario in SCENARIOS:
                    p, h = results[peer][scenario], hl[scenario]
                    print(f"{peer} / hyperlab, {scenario}: first {p['first_s'] / h['first_s']:.1f}x, "
                          f"again {p['again_s'] / h['again_s']:.1f}x")
    if "studies" in report:
        print_studies(report["studies"], results)


def print_studies(st: dict, results: dict) -> None:
    cold, warm, prof = st["cold"], st["warm"], st["profile"]
    print(f"hyperlab reproduce {st['which']} --repeats {st['repeats']} ({cold['runs']} runs):")
    for label, r in (("cold cache", cold), ("warm cache", warm)):
        print(f"  {label}: {r['wall_s']} s wall, {r['cpu_s']} s CPU; training {r['train_s']} s, "
              f"tables and figures {r['figures_s']} s (a second process)")
    print(f"  {prof['programs']} training programs: {prof['compile_cpu_s']} s CPU "
          f"({prof['compile_wall_s']} s wall) to compile them one after another; then "
          f"{prof['train_cpu_s']} s CPU to train every run, {prof['publish_cpu_s']} s to write "
          f"the tables, figures and analyses")
    for peer in ("keras", "torch"):
        if isinstance(results.get(peer), dict):
            est = results[peer]["tutorial"]["again_s"] * cold["runs"]
            print(f"  {peer}, extrapolated: {cold['runs']} x {results[peer]['tutorial']['again_s']} s "
                  f"= {est:.0f} s ({est / cold['wall_s']:.0f}x hyperlab's cold wall)")


if __name__ == "__main__":
    main()
