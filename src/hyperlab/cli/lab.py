"""``hyperlab lab``: the live lab, a local web page on the results store.

    hyperlab lab                                # hyperlab-results/hyperlab.db, opens the browser
    hyperlab lab my-study.toml --out results    # also a study file; store results/hyperlab.db
    hyperlab lab --db runs.db --port 8765 --no-browser
    hyperlab lab --export lab.html              # the same page, offline and read-only

The server binds 127.0.0.1 unless ``--host`` says otherwise and answers only requests that
carry the random token of the URL it prints. The web stack is imported when the command
runs, never for ``--help``.
"""
from __future__ import annotations

import argparse
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from hyperlab.cli._common import DEFAULT_OUT, Formatter, output_flags

if TYPE_CHECKING:
    from hyperlab.lab.views import Catalog

INSTALL = "pip install 'hyperlab[lab]'"


def add_lab_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lab", formatter_class=Formatter,
        help="open the live lab: studies, answers and curves in the browser; edit and run",
        description="Serve a local web page on the results store: every study with its question\n"
                    "and current answer; one study's measures and learning curves (every seed,\n"
                    "median and band); a form to change its knobs and train what the store\n"
                    "lacks, with progress as chunks finish. The store is the only state: several\n"
                    "tabs and a running 'hyperlab run' can share it. Stop with Ctrl-C.",
        epilog="examples:\n"
               "  hyperlab lab\n"
               "  hyperlab lab my-study.toml --out results\n"
               "  hyperlab lab --db runs.db --port 8765 --no-browser\n"
               "  hyperlab lab --export lab.html --study momentum\n"
               f"\nneeds the web stack: {INSTALL}")
    p.add_argument("files", nargs="*", metavar="STUDY_FILE",
                   help="study files to open besides the built-in studies")
    output_flags(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; e.g. "
                        "--host 0.0.0.0 to let other machines in, with the token)")
    p.add_argument("--port", type=int, default=0,
                   help="port to listen on (default: 0, a free one; e.g. --port 8765)")
    p.add_argument("--no-browser", action="store_true", help="print the URL, open no browser")
    p.add_argument("--export", metavar="FILE.html", default=None,
                   help="write the page as one self-contained HTML file (offline, read-only: "
                        "the stored runs' answers, measures and curves) and exit (default: "
                        "serve; e.g. --export lab.html)")
    p.add_argument("--study", dest="studies", action="append", default=None, metavar="NAME",
                   help="with --export: a study to include, repeatable (default: every study "
                        "with a stored run; e.g. --study momentum)")
    p.set_defaults(handler=cmd_lab)


COMMANDS = (add_lab_parser,)


def cmd_lab(args: argparse.Namespace) -> int:
    """Check the files; write the offline page, or bind the port, print the URL and serve
    until Ctrl-C."""
    from hyperlab.lab.views import Catalog
    catalog = Catalog(tuple(Path(f) for f in args.files))
    catalog.names()  # a bad study file: its one-line error before anything else
    db = Path(args.db) if args.db else Path(args.out or DEFAULT_OUT) / "hyperlab.db"
    if args.export is not None:
        return _export(args, db, catalog)
    if args.studies is not None:
        raise ValueError("--study selects the studies of --export; the served lab has them all")
    try:
        import uvicorn
        from hyperlab.lab.app import create_app
    except ImportError as err:
        raise ValueError(f"the lab needs its web stack ({err.name} is missing): "
                         f"{INSTALL}") from None
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port: expected 0 (a free port) to 65535, found {args.port}")
    token = secrets.token_urlsafe(16)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}/?token={token}"
    print(f"hyperlab lab on {db}: {url}\n(Ctrl-C to stop)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {args.host}: whoever can reach it and has the URL can read "
              "the store and train", flush=True)
    if not args.no_browser:
        import webbrowser
        webbrowser.open(url)
    # Ctrl-C: the progress streams end, then the job in flight is cancelled
    app = create_app(db, token, catalog.files, stopping=lambda: server.should_exit)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
    return 0


def _export(args: argparse.Namespace, db: Path, catalog: Catalog) -> int:
    """Write the offline page; print its path."""
    from hyperlab.lab import offline
    from hyperlab.studies.store import Store
    if not db.is_file():
        raise ValueError(f"{db}: no results store; give it with --db PATH or --out DIR")
    with Store(db) as store:
        page = offline.data(catalog, store, args.studies)
    if not page["studies"]:
        raise ValueError(f"{db}: no study has stored runs to show; run one first")
    print(offline.write(args.export, page))
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or one line saying why not."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port} ({err.strerror or err}); choose "
                         "another with --host/--port") from None
    return sock
