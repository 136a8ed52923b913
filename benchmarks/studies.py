"""Study benchmark: ``hyperlab reproduce --repeats 10`` — the ten tutorial experiments, ten
seeds each (440 runs) — from a cold start (empty compilation cache) and again with the
cache warm, with wall time, peak memory and the per-study breakdown.

    python benchmarks/studies.py [--repeats 10] [--json]

Target (issue #3): ≤ 30 s cold (≤ 60 s the least acceptable), peak memory < 2 GiB. Keras
needs 549 s for one seed of each experiment (44 runs) on the same kind of machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time


def reproduce(repeats: int, cache: str, out: str) -> dict:
    env = dict(os.environ, HYPERLAB_CACHE_DIR=cache)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hyperlab", "reproduce", "--repeats", str(repeats),
                           "--out", out, "--no-progress"], env=env, capture_output=True,
                          text=True, check=True)
    wall = time.perf_counter() - start
    rows = re.findall(r"^\| \[([\w-]+)\]\S* \| (\d+) \| ([\d.]+) \| ([\d.]+) \|$", proc.stdout, re.M)
    return {"wall_s": round(wall, 1),
            "studies": [{"study": n, "runs": int(r), "train_s": float(t), "report_s": float(f)}
                        for n, r, t, f in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        cold = reproduce(args.repeats, cache, os.path.join(tmp, "cold"))
        warm = reproduce(args.repeats, cache, os.path.join(tmp, "warm"))
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = {"repeats": args.repeats, "cold": cold, "warm": warm, "peak_rss_mib": round(peak_mib)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"hyperlab reproduce --repeats {args.repeats}: cold {cold['wall_s']} s, "
          f"warm cache {warm['wall_s']} s, peak memory {report['peak_rss_mib']} MiB")
    print(f"{'study':28} {'runs':>5} {'cold train':>11} {'warm train':>11} {'report':>7}")
    for c, w in zip(cold["studies"], warm["studies"]):
        print(f"{c['study']:28} {c['runs']:5} {c['train_s']:10.1f}s {w['train_s']:10.1f}s "
              f"{c['report_s']:6.1f}s")


if __name__ == "__main__":
    main()
