"""Would one program for several optimizer classes compile faster? The tutorial run (2-50-3
ReLU MLP on blobs, batch 32, 200 epochs) written as a short JAX program whose update rule is
either one rule (SGD with momentum, or Adam) or ``lax.switch`` over six (SGD, Adam, RMSprop,
Adagrad, Adadelta, Adamax; the rule a traced index), each compiled in a fresh process.

    python benchmarks/optimizer_switch.py

Prints, per variant, the CPU and wall time of ``lower().compile()`` and the best of five
compiled runs. The rules are simplified (no bias correction or Keras details): the point is
the cost of the selector, not the optimizers.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

VARIANTS = ("sgd", "adam", "switch")


def measure(variant: str) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from sklearn.datasets import make_blobs
    x, y = make_blobs(1000, centers=3, n_features=2, cluster_std=2, random_state=2)
    x, y = jnp.asarray(x[:500], jnp.float32), jnp.asarray(np.eye(3)[y[:500]], jnp.float32)

    def loss(p, x, y):
        h = jax.nn.relu(x @ p[0] + p[1])
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(h @ p[2] + p[3]), 1))

    def sgd(g, s, hp):
        m = hp[1] * s[0] - hp[0] * g
        return m, (m, s[1], s[2])

    def adam(g, s, hp):
        m, v = 0.9 * s[0] + 0.1 * g, 0.999 * s[1] + 0.001 * g * g
        return -hp[0] * m / (jnp.sqrt(v) + 1e-7), (m, v, s[2])

    def rmsprop(g, s, hp):
        v = 0.9 * s[1] + 0.1 * g * g
        return -hp[0] * g / (jnp.sqrt(v) + 1e-7), (s[0], v, s[2])

    def adagrad(g, s, hp):
        a = s[2] + g * g
        return -hp[0] * g / (jnp.sqrt(a) + 1e-7), (s[0], s[1], a)

    def adadelta(g, s, hp):
        v = 0.95 * s[1] + 0.05 * g * g
        d = -jnp.sqrt(s[2] + 1e-7) / jnp.sqrt(v + 1e-7) * g
        return hp[0] * d, (s[0], v, 0.95 * s[2] + 0.05 * d * d)

    def adamax(g, s, hp):
        m, u = 0.9 * s[0] + 0.1 * g, jnp.maximum(0.999 * s[1], jnp.abs(g))
        return -hp[0] * m / (u + 1e-7), (m, u, s[2])

    rules = [sgd, adam, rmsprop, adagrad, adadelta, adamax]

    def update(index, g, s, hp):
        if variant == "switch":
            return jax.lax.switch(index, rules, g, s, hp)
        return {"sgd": sgd, "adam": adam}[variant](g, s, hp)

    def step(carry, batch):
        p, s, index, hp = carry
        g = jax.grad(loss)(p, *batch)
        out = [update(index, gi, si, hp) for gi, si in zip(g, s)]
        return ([pi + o[0] for pi, o in zip(p, out)], [o[1] for o in out], index, hp), None

    def epoch(carry, key):
        perm = jax.random.permutation(key, 500)
        xs, ys = x[perm], y[perm]
        carry, _ = jax.lax.scan(step, carry, (xs[:480].reshape(15, 32, 2),
                                              ys[:480].reshape(15, 32, 3)))
        carry, _ = step(carry, (xs[480:], ys[480:]))
        return carry, loss(carry[0], x, y)

    def run(key, index, hp):
        k1, k2 = jax.random.split(key)
        p = [jax.random.normal(k1, (2, 50)) * 0.1, jnp.zeros(50),
             jax.random.normal(k2, (50, 3)) * 0.1, jnp.zeros(3)]
        s = [(jnp.zeros_like(a), jnp.zeros_like(a), jnp.full_like(a, 0.1)) for a in p]
        return jax.lax.scan(epoch, (p, s, index, hp), jax.random.split(key, 200))[1]

    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731
    args = (jax.random.PRNGKey(0), jnp.int32(0), jnp.array([0.01, 0.9]))
    c0, t0 = cpu(), time.perf_counter()
    compiled = jax.jit(run).lower(*args).compile()
    c1, t1 = cpu(), time.perf_counter()
    compiled(*args).block_until_ready()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        compiled(*args).block_until_ready()
        times.append(time.perf_counter() - start)
    return {"compile_cpu_s": round(c1 - c0, 2), "compile_wall_s": round(t1 - t0, 2),
            "run_s": round(min(times), 4)}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2])))
        return
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--one", variant], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{variant:7} compile {r['compile_cpu_s']:5.2f} s CPU ({r['compile_wall_s']:.2f} s wall), "
              f"run {r['run_s']:.4f} s")


if __name__ == "__main__":
    main()
