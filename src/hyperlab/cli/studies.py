"""Study commands: ``studies``, ``run``, ``show``, ``plot`` and ``reproduce``.

Results go to ``--out DIR`` (default ``hyperlab-results``): the SQLite store
``DIR/hyperlab.db`` (``--db PATH`` otherwise) and, per study, ``DIR/<study>/`` with
``summary.csv``, ``summary.md`` and the figures (PNG and SVG). ``show`` and ``plot`` select a
study's stored runs with the same ``--set`` and ``--repeats`` as ``run``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from typing import TYPE_CHECKING

from hyperlab.cli import _common
from hyperlab.cli._common import Formatter, load_study, open_store, output_flags, study_flags

if TYPE_CHECKING:
    from hyperlab.studies.results import StudyResults
    from hyperlab.studies.spec import Study


def _figure_flags(p: argparse.ArgumentParser) -> None:
    """How curves are drawn: ``--x`` (what the x axis counts) and ``--y`` (the y range)."""
    p.add_argument("--x", choices=("epochs", "updates", "time"), default="epochs",
                   help="x axis of the learning curves: epochs, weight updates or wall time "
                        "(default: epochs; e.g. --x updates)")
    p.add_argument("--y", choices=("fit", "full"), default="fit",
                   help="y range of accuracy panels: fitted to the data or the full 0-1 "
                        "(default: fit)")


def _size(text: str) -> int:
    """A memory size: bytes, or with a unit K, M, G, T (powers of 1024; KiB, MB... too)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in units else (raw, "")
    try:
        value = float(number) * units[unit]
    except ValueError:
        value = -1
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"expected a size such as 4G, 512M or 1000000 (bytes), "
                                         f"found {text!r}")
    return int(value)


def _executor_flags(p: argparse.ArgumentParser) -> None:
    """How studies train: executor, workers, retries, cohort size and memory budget."""
    from hyperlab.studies.executors import EXECUTORS
    g = p.add_argument_group("execution")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: this process (default); processes: --workers processes on this "
                        "machine; ray: Ray tasks on a cluster (--address) or a local Ray instance "
                        "(needs pip install 'hyperlab[ray]')")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (processes: default one per core) or CPUs of a local "
                        "Ray instance (e.g. --workers 2)")
    g.add_argument("--address", default=None, metavar="ADDR",
                   help="the Ray cluster's address, HOST:PORT, ray://HOST:PORT or auto (default: "
                        "start a local Ray instance)")
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="retries of a cohort whose worker dies (default: 2; an exception "
                        "raised while training fails its cohort at once)")
    g.add_argument("--max-cohort-runs", type=int, default=512, metavar="N",
                   help="most runs trained together as one program (default: 512)")
    g.add_argument("--memory-budget", type=_size, default=None, metavar="SIZE",
                   help="memory for the cohorts training at once, which bounds a cohort's runs "
                        "(default: a quarter of physical memory; e.g. --memory-budget 4G)")


def _executor(args: argparse.Namespace):
    """The executor the flags ask for; bad flags end as one line before anything is
    written (``check`` then connects to a Ray cluster and checks its versions, also before
    the store is opened)."""
    from hyperlab.studies.executors import check_limits, make_executor
    check_limits(args.max_cohort_runs, args.memory_budget)
    return make_executor(args.executor, workers=args.workers, retries=args.retries,
                         address=args.address)


def _limits(args: argparse.Namespace) -> dict:
    return {"max_cohort_runs": args.max_cohort_runs, "memory_budget": args.memory_budget}


def _failed(err) -> int:
    """The one-line message of a study with failed cohorts; exit code 1."""
    _common.print_error(err)
    return 1


def add_studies_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("studies", formatter_class=Formatter,
                              help="list the built-in tutorial studies",
                              description="List the built-in studies with a one-line description.")
    p.set_defaults(handler=cmd_studies)


def add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", formatter_class=Formatter, help="run a study (built-in name or TOML file)",
        description="Train every run of a study that the store does not hold yet (an "
                    "interrupted study resumes), then write its table, verdict and figures.")
    p.add_argument("study", metavar="STUDY_OR_FILE",
                   help="a built-in study (see 'hyperlab studies') or a study TOML file")
    output_flags(p)
    study_flags(p)
    _figure_flags(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _executor_flags(p)
    p.set_defaults(handler=cmd_run)


def _add_stored_parser(subparsers: argparse._SubParsersAction, name: str, summary: str,
                       description: str, handler, figures: bool = False) -> None:
    """A command that reads a study's stored runs and trains nothing."""
    p = subparsers.add_parser(name, formatter_class=Formatter, help=summary,
                              description=description)
    p.add_argument("study", metavar="STUDY_OR_FILE", help="a built-in study or a study file")
    output_flags(p)
    study_flags(p)
    if figures:
        _figure_flags(p)
    p.set_defaults(handler=handler)


def add_show_parser(subparsers: argparse._SubParsersAction) -> None:
    _add_stored_parser(subparsers, "show", "print a study's table from the store (no training)",
                       "Print a study's summary table and verdict from the stored runs; "
                       "trains nothing.", cmd_show)


def add_plot_parser(subparsers: argparse._SubParsersAction) -> None:
    _add_stored_parser(subparsers, "plot", "draw a study's figures from the store (no training)",
                       "Draw a study's figures (PNG and SVG) from the stored runs into "
                       "OUT/<study>/; trains nothing.", cmd_plot, figures=True)


def add_reproduce_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce", formatter_class=Formatter,
        help="run every built-in study: all figures and tables in one folder",
        description="Run every built-in study (or the ones named) into one folder, with "
                    "every figure, table and verdict, and a per-study time breakdown "
                    "(OUT/README.md).")
    p.add_argument("names", nargs="*", metavar="STUDY",
                   help="built-in studies to run, or 'tutorial' (the tutorial's ten) or "
                        "'lecture' (the lecture's seven); default: all")
    output_flags(p)
    study_flags(p, sets=False)
    _figure_flags(p)
    p.add_argument("--svg", action="store_true",
                   help="also write every figure as SVG beside its PNG (a third more time "
                        "for tables and figures; 'hyperlab plot' writes both for one study)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _executor_flags(p)
    p.set_defaults(handler=cmd_reproduce)


COMMANDS = (add_studies_parser, add_run_parser, add_show_parser, add_plot_parser,
            add_reproduce_parser)


# ---------------------------------------------------------------------------- handlers
def _out_dir(path: str) -> Path:
    """Create the output directory and prove it is writable, or fail with one clear line."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".hyperlab-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"output directory {out} is not writable ({err.strerror}); choose "
                         "another with --out DIR") from None
    return out


def publish(results: StudyResults, out: Path, question: str = "", *, x: str = "epochs",
            y: str = "fit", formats: tuple[str, ...] = ("png", "svg"),
            study: "Study | None" = None) -> str:
    """Write summary.csv, verdict.json (the answer, the leading measure and every declared
    measure's comparison), the figures, the ``study``'s declared analyses
    (``hyperlab.science.analyses``) and summary.md (heading, ``question``, answer, the
    other measures' answers, table, links to the figures, the analyses' answers), each
    atomically; return the table and answers. ``x`` and ``y`` choose the curves' axes,
    ``formats`` the figures' file formats (``hyperlab.reports.render``)."""
    from hyperlab._fileio import output_folder, write_text
    from hyperlab.reports import figures as figs
    from hyperlab.reports import summary
    from hyperlab.reports.measures import measure_study
    rows = summary.summarize(results)
    measures = measure_study(results)
    verdict = summary.verdict(results, rows, measures=measures)
    folder = output_folder(out / results.name, f"the results of study {results.name!r}")
    summary.to_csv(rows, folder / "summary.csv")
    write_text(folder / "verdict.json", json.dumps(
        {"study": results.name, "question": question, "answer": verdict["text"],
         "leading": verdict["leading"], "measures": verdict["measures"]}, indent=1) + "\n",
        "the verdict")
    drawn = figs.render(results, folder, measures=measures, x=x, y=y, formats=formats)
    analyses = []
    if study is not None and study.analyses:
        from hyperlab.science.analyses import run_analyses
        analyses = run_analyses(study, results, out, formats)
    page = summary.to_markdown(
        rows, verdict, title=f"{results.name}: {results.description}", question=question,
        figures=[p.name for p in drawn if p.suffix == ".png"])
    for a in analyses:
        links = ", ".join(f"[{p.name}]({a.name}/{p.name})" for p in a.paths
                          if p.suffix in (".png", ".json"))
        page += f"\n## {a.title}\n\n{a.answer}\n\n{links}\n"
    write_text(folder / "summary.md", page, "the summary page")
    answer = "\n".join(summary.answer_lines(verdict))
    answer += "".join(f"\n{a.title}: {a.answer}" for a in analyses)
    return f"{results.name}: {results.description}\n{summary.format_table(rows)}\n{answer}\n"


def cmd_studies(args: argparse.Namespace) -> int:
    from hyperlab import studies
    names = studies.builtin_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {studies.get(name).description}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from hyperlab.studies.executors import CohortsFailed, run_study
    from hyperlab._fileio import output_folder
    study = load_study(args)
    executor = _executor(args)
    out = _out_dir(args.out)
    output_folder(out / study.name, f"the results of study {study.name!r}")  # before training
    try:
        executor.check()          # Ray: reachable, same versions; before the store opens
        with open_store(args, out) as store:
            results = run_study(study, store, progress=not args.no_progress, executor=executor,
                                **_limits(args))
    except CohortsFailed as err:
        return _failed(err)
    finally:
        executor.close()
    print(publish(results, out, study.question, x=args.x, y=args.y, study=study))
    print(f"written to {out / study.name}/")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    results, _ = _common.stored_results(args)
    from hyperlab.reports import summary
    rows = summary.summarize(results)
    answer = "\n".join(summary.answer_lines(summary.verdict(results, rows)))
    print(f"{results.name}: {results.description}\n{summary.format_table(rows)}\n{answer}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    results, out = _common.stored_results(args)
    from hyperlab.reports import figures
    from hyperlab.reports.measures import measure_study
    folder = _out_dir(str(out / results.name))
    for path in figures.render(results, folder, measures=measure_study(results), x=args.x,
                               y=args.y):
        print(path)
    return 0


def _timed_publish(results: StudyResults, out: Path, study: "Study", x: str, y: str,
                   formats: tuple[str, ...]) -> tuple[str, float]:
    start = time.perf_counter()
    text = publish(results, out, study.question, x=x, y=y, formats=formats, study=study)
    return text, time.perf_counter() - start


def _write_pages(studied: list, out: Path) -> float:
    """The interactive offline pages of the studies: OUT/<study>/report.html and
    OUT/index.html; the seconds it took."""
    from hyperlab.lab.offline import write_study_pages
    start = time.perf_counter()
    write_study_pages(studied, out)
    return time.perf_counter() - start


def _reproduced(names: list[str]) -> list[str]:
    """The built-in studies that ``reproduce NAMES`` runs, in teaching order."""
    from hyperlab import studies
    every = studies.builtin_names()
    groups = {"tutorial": every[:len(studies.TUTORIAL)], "lecture": every[len(studies.TUTORIAL):]}
    chosen: set[str] = set()
    for name in names:
        if name not in every and name not in groups:
            raise ValueError(f"reproduce: {name!r} is not a built-in study; choose among "
                             f"'tutorial', 'lecture' and {', '.join(every)}")
        chosen.update(groups.get(name, [name]))
    return [n for n in every if n in chosen or not names]


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Train study after study; a second process writes each study's tables and figures
    while the next ones train, then the interactive pages (OUT/index.html)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from hyperlab import studies
    from hyperlab.studies.executors import CohortsFailed, run_studies
    names = _reproduced(args.names)
    executor = _executor(args)
    out = _out_dir(args.out)
    failed = None
    start = time.perf_counter()
    pending, studied = [], []
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        def done(study, results, seconds):
            runs = sum(len(v.runs) for v in results.values)
            studied.append((study, results))
            pending.append((study.name, runs, seconds, pool.submit(
                _timed_publish, results, out, study, args.x, args.y,
                ("png", "svg") if args.svg else ("png",))))

        try:
            executor.check()
            with open_store(args, out) as store:
                run_studies([studies.get(n).with_overrides(repeats=args.repeats)
                             for n in names], store,
                            progress=not args.no_progress, on_done=done, executor=executor,
                            **_limits(args))
        except CohortsFailed as err:
            failed = err                      # the studies that did finish are published
        finally:
            executor.close()
        pages = pool.submit(_write_pages, studied, out)
        timings = []
        for name, runs, seconds, future in pending:
            text, report_seconds = future.result()
            print(text)
            timings.append((name, runs, seconds, report_seconds))
        pages_seconds = pages.result()
    total = time.perf_counter() - start
    lines = ["| study | runs | train (s) | tables + figures (s) |", "|---|---|---|---|"]
    lines += [f"| [{n}]({n}/summary.md) | {r} | {t:.1f} | {f:.1f} |" for n, r, t, f in timings]
    (out / "README.md").write_text(
        "# hyperlab reproduce\n\nThe built-in studies: figures, tables and verdicts in "
        "one folder per study; [index.html](index.html) opens every study's interactive page "
        "(offline: hover, toggles, axes).\n\n"
        f"{chr(10).join(lines)}\n\nTotal: {total:.1f} s (a study's "
        "training time includes waiting for its programs to compile; tables and figures are "
        "written by a second process while the next studies train; the interactive pages "
        f"took {pages_seconds:.1f} s after the last study).\n")
    print("\n".join(lines))
    print(f"total {total:.1f} s; written to {out}/ (see {out / 'README.md'}; open "
          f"{out / 'index.html'} in a browser)")
    return 0 if failed is None else _failed(failed)
