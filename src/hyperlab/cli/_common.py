"""What the command modules share: the error line, the help formatter, flag parsers, and
the flags and loading of a study's stored results (``show``, ``plot``, ``report``).

Only the standard library is imported here; the library's modules are imported inside the
functions that need them, so that ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from hyperlab.studies import Study
    from hyperlab.studies.results import StudyResults
    from hyperlab.studies.store import Store

PROG = "hyperlab"
EXIT_USAGE = 2
DEFAULT_OUT = "hyperlab-results"


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; flag help wrapped without splitting examples mid-word."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def print_error(message: str) -> None:
    """``message`` as the one line ``hyperlab: error: <message>`` on stderr."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


def parse_value(text: str) -> Any:
    """A flag value as Python: None, bool, int, float, a [list], else the string itself.

    ``none``/``null`` -> None, ``true``/``false`` -> bool (any case), ``3`` -> 3,
    ``1e-3`` -> 0.001, ``[1,2]`` -> [1, 2], ``val_accuracy`` -> "val_accuracy".
    """
    text = text.strip()
    low = text.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [parse_value(item) for item in _split_top(inner)] if inner else []
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside [brackets]."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_pairs(items: str | Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``KEY=VALUE[,KEY=VALUE...]`` (one string, or several from a repeated flag) as a dict.

    Raises ValueError naming ``flag`` for a part without ``=``, an empty key or a key given
    twice.
    """
    if items is None:
        return {}
    if isinstance(items, str):
        items = [items]
    out: dict[str, Any] = {}
    for item in items:
        for part in _split_top(item):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not key.isidentifier():
                raise ValueError(f"{flag}: expected KEY=VALUE, got {part.strip()!r}")
            if key in out:
                raise ValueError(f"{flag}: {key!r} given twice")
            out[key] = parse_value(value)
    return out


def parse_batch_size(text: str) -> int | str:
    """A positive int, or ``full`` (one batch of the whole training set)."""
    if text.strip().lower() == "full":
        return "full"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--batch-size: expected a positive int or 'full', got {text!r}") from None




# ---------------------------------------------------------------- a study's stored results
def output_flags(p: argparse.ArgumentParser) -> None:
    """Where results go: ``--out DIR`` and ``--db PATH``."""
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"output directory (default: {DEFAULT_OUT}; e.g. --out results)")
    p.add_argument("--db", metavar="PATH", default=None,
                   help="SQLite results store (default: OUT/hyperlab.db; e.g. --db runs.db)")


def study_flags(p: argparse.ArgumentParser, sets: bool = True) -> None:
    """What selects a study's runs, the same for run, show, plot and report: ``--repeats``
    and (with ``sets``) ``--set``."""
    p.add_argument("--repeats", type=int, metavar="N", default=None,
                   help="seeds per value (default: the study's own; e.g. --repeats 10)")
    if sets:
        p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a field that is not swept, repeatable; a relative "
                            "data.path is relative to the working directory (e.g. --set "
                            "fit.epochs=50)")


def open_store(args: argparse.Namespace, out: Path) -> Store:
    """The results store the flags name: ``--db``, else ``OUT/hyperlab.db``."""
    from hyperlab.studies.store import Store
    return Store(Path(args.db) if args.db else out / "hyperlab.db")


def load_study(args: argparse.Namespace) -> Study:
    """The study ``args.study`` names, with ``--repeats`` and ``--set`` applied."""
    from hyperlab import studies
    return studies.get(args.study).with_overrides(repeats=args.repeats, sets=getattr(args, "sets", None))


def run_command(args: argparse.Namespace) -> str:
    """The ``hyperlab run`` command that trains what ``args`` select."""
    words = ["hyperlab", "run", args.study]
    if args.repeats is not None:
        words += ["--repeats", str(args.repeats)]
    for item in getattr(args, "sets", []):
        words += ["--set", item]
    return shlex.join(words)


def stored_results(args: argparse.Namespace) -> tuple[StudyResults, Path]:
    """The stored runs of the study ``args`` select, assembled, and the output folder; a
    ValueError naming the ``hyperlab run`` command to use when the store lacks them."""
    from hyperlab.studies.executors import stored_results as assembled
    study = load_study(args)
    out = Path(args.out)
    db = Path(args.db) if args.db else out / "hyperlab.db"
    if not db.exists():
        raise ValueError(f"{db}: no results store; run '{run_command(args)}' first")
    with open_store(args, out) as opened:
        results, stored = assembled(study, opened)
    if not stored:
        raise ValueError(f"{db}: no stored runs of study {study.name!r} (with these repeats and "
                         f"settings); run '{run_command(args)}' first")
    return results, out
