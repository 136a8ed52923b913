"""How quickly the lab answers, in the system's headless Chromium driven by Playwright (as the
lab's browser tests drive it, tests/browser.py):

* **run to first curves**: on the batch-size study with 5 seeds (8 values x 5 seeds, 200
  epochs), from the click on *Run* to the first seed's curve drawn in the page (timed in the
  page: ``performance.now()`` at the click, then at the first animation frame after the
  curves hold a run in training). Each pass starts ``hyperlab lab`` in a fresh process on an
  empty store; the first pass fills the compilation cache (its own folder), the others find
  it warm;
* **interactions** on a page of 100 runs (the batch-size study's stored runs at 10 seeds,
  8 values, plus two of its values copied under other labels to reach 10 x 10 runs of 200
  epochs): a seed toggle, the x axis and the y axis switches and the metric selector, each
  timed in the page from the event to the next animation frame.

    python benchmarks/lab.py --db hyperlab-results/hyperlab.db   # a store with batch-size at 10 seeds
    python benchmarks/lab.py --db ... --json
    python benchmarks/lab.py --db ... --screenshots docs/images       # docs/images/lab-*.png

The store given with ``--db`` is only read (for the 100-run page; the screenshots use a copy,
with a grid study trained into it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]       # browser.py: the system Chromium, by Playwright

FIRST_CURVE = ("document.getElementById('curves')?.data?.some(t => String(t.uid)"
               ".startsWith('seeds-') && t.y.some(y => y !== null))")
TIMED = """new Promise(done => {{
  const t0 = performance.now();
  {action};
  requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));
}})"""


def first_curves(cache: Path, passes: int) -> list[float]:
    """Seconds from *Run* to the first curve, per pass (the first fills the cache)."""
    from browser import launch
    out = []
    with launch() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        for _ in range(passes):
            store = Path(tempfile.mkdtemp(prefix="hyperlab-bench-lab-"))
            env = {**os.environ, "HYPERLAB_CACHE_DIR": str(cache)}
            server = subprocess.Popen(
                [sys.executable, "-m", "hyperlab.cli.main", "lab", "--db",
                 str(store / "hyperlab.db"), "--no-browser"],
                stdout=subprocess.PIPE, text=True, env=env)
            try:
                url = re.search(r"(http://\S+)", server.stdout.readline())[1]
                page.goto(f"{url}#/study/batch-size?repeats=5")
                page.wait_for_function("() => document.getElementById('run')")
                page.evaluate("window.__t0 = undefined; new Promise(done => {"
                        "  const poll = () => " + FIRST_CURVE + " ? requestAnimationFrame("
                        "    () => done(window.__first = performance.now() - window.__t0))"
                        "    : setTimeout(poll, 5);"
                        "  window.__t0 = performance.now();"
                        "  document.getElementById('run').click(); poll(); }) && 0")
                page.wait_for_function("() => window.__first !== undefined", timeout=120_000)
                out.append(page.evaluate("window.__first") / 1000)
                page.click("#cancel")
                page.wait_for_function("() => document.getElementById('cancel').hidden",
                                       timeout=60_000)
            finally:
                server.terminate()
                server.wait(timeout=30)
    return out


def hundred_runs_page(db: Path, folder: Path) -> Path:
    """The offline page of the batch-size study's stored runs at 10 seeds, two of its values
    copied under other labels: 10 values x 10 seeds."""
    import copy

    from hyperlab import studies
    from hyperlab.lab import offline, views
    from hyperlab.studies.store import Store
    study = studies.get("batch-size").with_overrides(repeats=10)
    with Store(db) as store:
        view = views.study_view(study, store)
    if view["stored"] < 80:
        raise SystemExit(f"{db}: batch-size has {view['stored']} of its 80 runs at 10 seeds; "
                         "run 'hyperlab run batch-size --repeats 10' first")
    for value in view["values"][:2]:
        extra = copy.deepcopy(value)
        extra["label"] += " (copy)"
        view["values"].append(extra)
    item = {"name": "batch-size", "description": study.description, "question": study.question,
            "builtin": True, "stored": 100, "planned": 100, "answer": None, "leading": None}
    page = {"list": {"studies": [item], "others": []}, "studies": {"batch-size": view},
            "start": "batch-size"}
    return offline.write(folder / "hundred.html", page)


def interactions(page_path: Path, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per interaction, ``repeats`` times each."""
    from browser import launch, watch
    change = "{{ const c = document.getElementById('{id}'); c.value = {value};" \
             " c.dispatchEvent(new Event('change')); }}"
    actions = {
        "seed toggle": ["document.querySelector('#seeds input').click()"] * 2,
        "x axis switch": [change.format(id="x-axis", value="'updates'"),
                          change.format(id="x-axis", value="'epochs'")],
        "y axis switch": [change.format(id="y-axis", value="'log'"),
                          change.format(id="y-axis", value="'linear'")],
        "metric switch": [change.format(id="metric", value="'loss'"),
                          change.format(id="metric", value="'val_accuracy'")],
    }
    out: dict[str, list[float]] = {name: [] for name in actions}
    with launch() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        logged = watch(page)
        page.goto(page_path.as_uri())
        page.wait_for_function(f"() => {FIRST_CURVE}")
        traces = page.evaluate("document.getElementById('curves').data.length")
        for _ in range(repeats):
            for name, pair in actions.items():
                for action in pair:
                    out[name].append(page.evaluate(TIMED.format(action=action)))
        if logged:
            raise SystemExit(f"the page logged: {logged}")
    out["traces"] = [traces]
    return out


GRID = """
name = "lr-momentum-grid"
description = "SGD learning rate by momentum on the tutorial's blobs, 40 epochs"
question = "Which learning rate and momentum reach the best validation accuracy together?"
repeats = 3
[fit]
epochs = 40
[[sweep]]
field = "compile.optimizer.learning_rate"
values = [0.003, 0.01, 0.03, 0.1]
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.5, 0.9]
"""


def screenshots(db: Path, folder: Path) -> list[Path]:
    """docs/images/lab-*.png: the studies, a study, its overlay, a grid study's compare
    views and the playground, from a lab on a copy of ``db`` with a grid study trained."""
    import uvicorn

    from browser import launch, watch
    from hyperlab import studies
    from hyperlab.lab.app import create_app
    tmp = Path(tempfile.mkdtemp(prefix="hyperlab-shots-"))
    shutil.copy(db, tmp / "hyperlab.db")
    grid = tmp / "lr-momentum-grid.toml"
    grid.write_text(GRID)
    studies.load(grid).run(db=tmp / "hyperlab.db", progress=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(create_app(tmp / "hyperlab.db", "t", (grid,)),
                                           log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/?token=t"
    shots = []
    try:
        with launch() as browser:
            page = browser.new_page(viewport={"width": 1200, "height": 1500})
            logged = watch(page)

            def shot(name: str, selector: str | None = None, until: str | None = None) -> None:
                """The viewport, or the element ``selector`` matches down to the bottom of
                the one ``until`` matches (if given)."""
                time.sleep(0.5)                    # Plotly's transitions
                path = folder / f"lab-{name}.png"
                if selector is None:
                    page.screenshot(path=path)
                else:
                    top = page.locator(selector).bounding_box()
                    bottom = page.locator(until or selector).bounding_box()
                    scroll = page.evaluate("[scrollX, scrollY]")
                    page.screenshot(path=path, full_page=True, clip={
                        "x": top["x"] + scroll[0], "y": top["y"] + scroll[1],
                        "width": top["width"],
                        "height": bottom["y"] + bottom["height"] - top["y"]})
                shots.append(path)
            page.goto(f"{base}#/")
            page.wait_for_function("() => document.querySelector('table.studies tbody tr')")
            shot("studies")
            page.goto(f"{base}#/study/momentum")
            page.wait_for_function(f"() => {FIRST_CURVE}")
            shot("study", "body", "#curves")
            page.select_option("#overlay-1", "0.99")
            shot("overlay", "#overlay-box")
            page.goto(f"{base}#/study/lr-momentum-grid")
            page.wait_for_function("() => document.getElementById('parallel')?.data")
            shot("grid", "#grid-box")
            page.goto(f"{base}#/playground")
            page.wait_for_function("() => document.getElementById('play-B-train')")
            for side, knobs in (("A", {"activation": "relu"}),
                                ("B", {"activation": "tanh", "learning_rate": "0.3"})):
                for key, value in {"dataset": "moons", "epochs": "100", **knobs}.items():
                    page.evaluate(f"document.getElementById('play-{side}-{key}').value = "
                                  f"'{value}'")
                page.click(f"#play-{side}-train")
                page.wait_for_function(f"() => document.getElementById('play-{side}-scrub')",
                                       timeout=120_000)
            shot("playground", "main")
            if logged:
                raise SystemExit(f"the pages logged: {logged}")
    finally:
        server.should_exit = True
        shutil.rmtree(tmp, ignore_errors=True)
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True,
                        help="a store with the batch-size study at 10 seeds (read only)")
    parser.add_argument("--passes", type=int, default=4, help="run-to-curves passes (first: cold)")
    parser.add_argument("--repeats", type=int, default=5, help="times each interaction")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--screenshots", type=Path, metavar="DIR",
                        help="instead: write the lab's screenshots lab-*.png into DIR")
    args = parser.parse_args()
    if args.screenshots:
        for path in screenshots(args.db, args.screenshots):
            print(path)
        return 0
    with tempfile.TemporaryDirectory(prefix="hyperlab-bench-lab-") as tmp:
        first = first_curves(Path(tmp) / "cache", args.passes)
        clicks = interactions(hundred_runs_page(args.db, Path(tmp)), args.repeats)
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "date": time.strftime("%Y-%m-%d"), "run_to_first_curves_s": first,
              "interactions_ms": clicks}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"run to first curves (batch-size, 8 values x 5 seeds, 200 epochs): cold "
          f"{first[0]:.2f} s; warm cache {', '.join(f'{s:.2f}' for s in first[1:])} s")
    print(f"interactions on 100 runs ({clicks.pop('traces')[0]} traces), ms "
          "(median, max of the times each was done):")
    for name, times in clicks.items():
        print(f"  {name:14s} {statistics.median(times):6.1f} {max(times):6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
