"""``hyperlab report``: a study's stored results as one self-contained HTML file: the lab's
page for that study, read-only (answer, measures, learning curves, compare views, table).

    hyperlab report batch-size                      # hyperlab-results/batch-size/report.html
    hyperlab report my-study.toml --out results     # results/my-study/report.html, store results/hyperlab.db
    hyperlab report batch-size --out bs.html --db runs.db

Like ``show`` and ``plot`` it reads the store and trains nothing; ``--set`` and ``--repeats``
select the runs as they do for ``run``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hyperlab.cli import _common
from hyperlab.cli._common import DEFAULT_OUT, Formatter, load_study, study_flags

HTML_SUFFIXES = (".html", ".htm")


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", formatter_class=Formatter,
        help="write a study's report: one self-contained HTML file (no training)",
        description="Write one self-contained HTML file (it opens offline and loads nothing: "
                    "data, style, Plotly and script are inline) with the lab's view of the "
                    "study, read-only: its question, answer, measures, every seed's learning "
                    "curves with hover, toggles and axis switches, the compare views and the "
                    "summary table, from the stored runs; trains nothing.",
        epilog="examples:\n"
               "  hyperlab report batch-size\n"
               "  hyperlab report my-study.toml --out results --set fit.epochs=50\n"
               "  hyperlab report batch-size --out batch-size.html --db runs.db")
    p.add_argument("study", metavar="STUDY_OR_FILE", help="a built-in study or a study file")
    p.add_argument("--out", metavar="DIR|FILE.html", default=DEFAULT_OUT,
                   help=f"a FILE ending in .html: write the report there; else the output "
                        f"directory, as for show/plot: the report goes to DIR/<study>/report.html "
                        f"(default: {DEFAULT_OUT}; e.g. --out results or --out report.html)")
    p.add_argument("--db", metavar="PATH", default=None,
                   help="SQLite results store (default: DIR/hyperlab.db, with --out FILE.html "
                        f"{DEFAULT_OUT}/hyperlab.db; e.g. --db runs.db)")
    study_flags(p)
    p.set_defaults(handler=cmd_report)


COMMANDS = (add_report_parser,)


def report_target(out: str) -> tuple[Path, Path | None]:
    """``--out`` as (output directory, report file or None for DIR/<study>/report.html)."""
    path = Path(out)
    if path.suffix.lower() in HTML_SUFFIXES:
        return Path(DEFAULT_OUT), path
    return path, None


def cmd_report(args: argparse.Namespace) -> int:
    from hyperlab.lab.offline import REPORT_NAME, ReportPathError, check_target, write_report
    out_dir, target = report_target(args.out)
    stored = argparse.Namespace(**{**vars(args), "out": str(out_dir)})
    study = load_study(stored)
    results, out = _common.stored_results(stored)
    target = target or out / results.name / REPORT_NAME
    try:
        check_target(target)
    except ReportPathError as err:
        raise ValueError(f"{err}; choose another with --out DIR or --out FILE.html") from None
    print(write_report(study, results, target))
    return 0
