"""``hyperlab store check``: find, and with ``--repair`` drop, what is damaged in a results
store, so that the next ``hyperlab run`` retrains it.

    hyperlab store check                     # hyperlab-results/hyperlab.db
    hyperlab store check --out results       # results/hyperlab.db
    hyperlab store check --db runs.db --repair
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hyperlab.cli._common import DEFAULT_OUT, Formatter

EXIT_CLEAN, EXIT_DAMAGED = 0, 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``store`` command and its ``check`` subcommand."""
    p = subparsers.add_parser("store", formatter_class=Formatter,
                              help="check (and repair) a results store",
                              description="Commands on a results store (the SQLite file of "
                                          "trained runs).")
    commands = p.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    c = commands.add_parser(
        "check", formatter_class=Formatter,
        help="find damaged runs and checkpoints; --repair drops them",
        description="Run SQLite's integrity check on the store, then check every stored run (its\n"
                    "checksum and its number of epochs) and every checkpoint; print one line per\n"
                    "damaged run or checkpoint and a summary line. With --repair, drop what is\n"
                    "damaged, so that the next 'hyperlab run' retrains it; if SQLite's own\n"
                    "structure is damaged, the intact runs are copied into a fresh file that\n"
                    "replaces the store, and the damaged file is kept beside it as\n"
                    "<name>.damaged-<time>.",
        epilog="exit status:\n"
               "  0  the store is intact\n"
               "  1  damage was found (with --repair: and dropped)\n"
               "  2  the store cannot be checked (e.g. no such file)\n\n"
               "examples:\n"
               "  hyperlab store check\n"
               "  hyperlab store check --out results\n"
               "  hyperlab store check --db runs.db --repair")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--db", metavar="PATH", default=None,
                       help="the SQLite results store (default: OUT/hyperlab.db; e.g. --db "
                            "runs.db)")
    where.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                       help=f"output directory whose hyperlab.db to check (default: "
                            f"{DEFAULT_OUT}; e.g. --out results)")
    c.add_argument("--repair", action="store_true",
                   help="drop the damaged runs and checkpoints (the next 'hyperlab run' "
                        "retrains them); run it while no 'hyperlab run' uses the store")
    c.set_defaults(handler=cmd_check)


COMMANDS = (add_parser,)


def cmd_check(args: argparse.Namespace) -> int:
    """Check (and with --repair, repair) the store; the exit status as in --help."""
    from hyperlab.studies.store import Store
    db = Path(args.db) if args.db else Path(args.out) / "hyperlab.db"
    if not db.is_file():
        raise ValueError(f"{db}: no results store there; give its path with --db PATH or "
                         "its output directory with --out DIR")
    with Store(db, salvage=True) as store:
        report = store.check()
        for line in report.lines():
            print(line)
        print(report.summary())
        if report.clean:
            return EXIT_CLEAN
        if not args.repair:
            print(f"run 'hyperlab store check --repair --db {db}' to drop what is damaged "
                  "(the next 'hyperlab run' retrains it)")
            return EXIT_DAMAGED
        backup = store.repair(report)
        after = store.check()
        kept = f"; the damaged file is kept as {backup}" if backup is not None else ""
        print(f"repaired: dropped {report.runs - after.runs} run(s) and {len(report.checkpoints)} "
              f"checkpoint(s), kept {after.runs} intact run(s){kept}; the next 'hyperlab run' "
              "retrains what was dropped")
        if not after.clean:
            raise ValueError(f"{db}: still damaged after the repair ({after.lines()[0]}); "
                             "move the file away and rerun (its runs are retrained)")
    return EXIT_DAMAGED
