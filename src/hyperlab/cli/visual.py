"""Picture commands: ``animate``, ``landscape`` and ``figure``.

    hyperlab animate --optimizer SGD --optimizer "Adam(learning_rate=0.01)" --out run.gif
    hyperlab landscape rosenbrock --optimizer "SGD(learning_rate=1e-3, momentum=0.9)" \\
        --optimizer "Adam(learning_rate=0.05)" --steps 500 --start -1.5 2 --out path.png
    hyperlab figure activations --out activations.png
    hyperlab figure schedule --epochs 100 \\
        --schedule "StepDecay(initial_learning_rate=0.1, drop=0.5, epochs_drop=10)"

Optimizer and schedule specs are ``Name`` or ``Name(key=value, ...)`` with literal values
(parsed with ``ast``, never evaluated). The drawing code lives in ``hyperlab.visual`` and is
imported only when a command runs.
"""
from __future__ import annotations

import argparse
import time

from hyperlab.cli._common import Formatter, parse_batch_size, parse_pairs

SPEC_HELP = ("NAME or NAME(key=value, ...) with literal values, repeatable")


def _wrap(*paragraphs: str) -> str:
    """Paragraphs filled to 88 columns (the help formatter keeps descriptions as written)."""
    import textwrap
    return "\n\n".join(textwrap.fill(p, 88) for p in paragraphs)


# ------------------------------------------------------------------------------ animate
def add_animate_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "animate", formatter_class=Formatter,
        help="animate training on a 2-D dataset (GIF/MP4), one column per optimizer",
        description=_wrap("Train the tutorial's classifier on a 2-D dataset and animate it: "
                          "decision regions shaded by confidence behind the points, each Dense "
                          "layer's weights and last update (red +, blue -), loss/accuracy/"
                          "learning-rate curves. One column per --optimizer, all from the same "
                          "seed.", "Frames: the initial weights, then one every --every epochs "
                          "(ceil(epochs/every) + 1 in all)."),
        epilog="examples:\n"
               "  hyperlab animate\n"
               "  hyperlab animate --optimizer SGD --optimizer Adam --epochs 100 --out cmp.gif\n"
               "  hyperlab animate --dataset spiral --hidden 64 --hidden 64 --optimizer "
               "\"Adam(learning_rate=0.01)\" --epochs 300 --every 3\n"
               "\n" + _wrap("A bare 'sgd' is the tutorial's SGD(learning_rate=0.01, "
                            "momentum=0.9), as in 'hyperlab fit'; a call like "
                            "'SGD(learning_rate=1.0)' uses Keras defaults for what it leaves "
                            "out. MP4 needs ffmpeg on PATH."))
    p.add_argument("--dataset", default="blobs", metavar="NAME",
                   help="a 2-D dataset: blobs, moons, circles, spiral (default: blobs)")
    p.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                   help="dataset argument, repeatable (e.g. --data-arg noise=0.3)")
    p.add_argument("--optimizer", action="append", metavar="SPEC",
                   help=f"optimizer of one column, {SPEC_HELP} (default: sgd; e.g. "
                        "--optimizer \"SGD(learning_rate=0.1, momentum=0.5)\")")
    p.add_argument("--hidden", action="append", type=int, metavar="UNITS",
                   help="units of a hidden Dense layer, repeatable (default: 50; "
                        "e.g. --hidden 50 --hidden 20)")
    p.add_argument("--activation", default="relu", help="hidden activation (default: relu)")
    p.add_argument("--initializer", default="he_uniform",
                   help="hidden kernel initializer (default: he_uniform)")
    p.add_argument("--lr", "--learning-rate", dest="lr", type=float, metavar="FLOAT",
                   help="learning rate of every optimizer whose spec does not set one")
    p.add_argument("--momentum", type=float, metavar="FLOAT",
                   help="momentum of every SGD/RMSprop whose spec does not set one")
    p.add_argument("--epochs", type=int, default=200, metavar="N", help="(default: 200)")
    p.add_argument("--batch-size", default="32", metavar="N|full", help="(default: 32)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed of the initial weights and batch order, shared by all columns "
                        "(default: 0)")
    p.add_argument("--every", type=int, default=2, metavar="K",
                   help="a frame every K epochs (default: 2)")
    p.add_argument("--out", default="hyperlab-animation.gif", metavar="PATH",
                   help="output .gif or .mp4 (default: hyperlab-animation.gif)")
    p.add_argument("--fps", type=float, default=10, help="frames per second (default: 10)")
    p.add_argument("--size", type=int, nargs=2, default=[360, 720], metavar=("W", "H"),
                   help="pixels of one column (default: 360 720)")
    p.add_argument("--grid", type=int, default=100, metavar="N",
                   help="decision-region resolution, points per axis (default: 100)")
    p.set_defaults(handler=cmd_animate)


def cmd_animate(args: argparse.Namespace) -> int:
    from hyperlab.visual.animate import animate
    batch = parse_batch_size(args.batch_size)
    result = animate(args.out, dataset=args.dataset,
                     data_args=parse_pairs(args.data_arg, "--data-arg"),
                     optimizers=args.optimizer, hidden=args.hidden or [50],
                     activation=args.activation, initializer=args.initializer, lr=args.lr,
                     momentum=args.momentum, epochs=args.epochs,
                     batch_size=None if batch == "full" else batch, seed=args.seed,
                     every=args.every, fps=args.fps, size=args.size, grid=args.grid)
    rec = result.recording
    width = max(map(len, rec.labels))
    for label, hist in zip(rec.labels, rec.history):
        print(f"{label:<{width}}  loss {hist['loss'][-1]:.4f}  accuracy "
              f"{hist['accuracy'][-1]:.3f}  val_accuracy {hist['val_accuracy'][-1]:.3f}")
    s = result.seconds
    print(f"wrote {result.path} ({result.n_frames} frames, {rec.epochs} epochs, a frame every "
          f"{rec.every}; {result.size[0]}x{result.size[1]} px) in {s['total']:.1f} s "
          f"(train {s['train']:.1f}, regions {s['predict']:.1f}, draw+write {s['render']:.1f})")
    return 0


# ------------------------------------------------------------------------------ landscape
def add_landscape_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "landscape", formatter_class=Formatter,
        help="optimizer paths on a test function (figure or GIF) and where they ended",
        description=_wrap("Run optimizers on a test function from one start and print, per "
                          "optimizer, the final point and value, the steps it took to reach "
                          "the global minimum (within --tol), or whether it got stuck in a "
                          "local minimum / saddle point, diverged or is still moving. Draws "
                          "the function with the paths, steps coloured green -> orange -> red.",
                          "Functions: wavy (1-D: local minima at -3.235, -1.960, -0.357, "
                          "1.323; global minimum x=2.7635, f=-2.2475), rosenbrock (min (1, 1)), "
                          "beale (min (3, 0.5)), saddle (x^2 - y^2: no minimum), bowl "
                          "(0.05x^2 + 2.5y^2, min (0, 0))."),
        epilog="examples:\n"
               "  hyperlab landscape wavy --out wavy.png --out wavy.gif\n"
               "  hyperlab landscape rosenbrock --optimizer \"SGD(learning_rate=1e-3, "
               "momentum=0.9)\" --optimizer \"Adam(learning_rate=0.05)\" --steps 500 "
               "--start -1.5 2 --out path.png\n"
               "\nA bare optimizer name uses the Keras defaults (SGD: learning_rate=0.01).")
    p.add_argument("function", metavar="FUNCTION",
                   help="wavy, rosenbrock, beale, saddle or bowl")
    p.add_argument("--optimizer", action="append", metavar="SPEC",
                   help=f"an optimizer, {SPEC_HELP} (default: a comparison chosen for the "
                        "function)")
    p.add_argument("--steps", type=int, default=None, metavar="N",
                   help="updates per optimizer (default: the function's, e.g. 2000 for "
                        "rosenbrock)")
    p.add_argument("--start", type=float, nargs="+", default=None, metavar="X",
                   help="start point, one number per dimension (default: the function's)")
    p.add_argument("--tol", type=float, default=1e-2, metavar="FLOAT",
                   help="distance to the global minimum that counts as reached "
                        "(default: 0.01)")
    p.add_argument("--out", action="append", metavar="PATH",
                   help="figure (.png, .svg, .pdf) or animation (.gif, .mp4), repeatable "
                        "(default: landscape-FUNCTION.png)")
    p.add_argument("--fps", type=float, default=15, help="animation frames per second "
                   "(default: 15)")
    p.set_defaults(handler=cmd_landscape)


def cmd_landscape(args: argparse.Namespace) -> int:
    from hyperlab.visual import _util, landscape as ls
    land = ls.get(args.function)
    outs = args.out or [f"landscape-{land.name}.png"]
    for out in outs:
        _util.check_output(out, ls.FIGURE_SUFFIXES + ls.ANIMATION_SUFFIXES)
    if not (args.fps > 0 and args.fps < float("inf")):
        raise ValueError(f"--fps must be a number > 0, got {args.fps}")
    results = ls.run_paths(land, args.optimizer, steps=args.steps, start=args.start,
                           tol=args.tol)
    n = len(results[0].path) - 1
    print(f"{land.name}: f = {land.formula}; {n} steps from "
          f"({', '.join(f'{v:g}' for v in results[0].path[0])})")
    print(ls.format_table(results))
    for out in outs:
        kwargs = {"fps": args.fps} if out.lower().endswith(ls.ANIMATION_SUFFIXES) else {}
        print(f"wrote {ls.save(land, results, out, **kwargs)}")
    return 0


# ------------------------------------------------------------------------------ figure
def add_figure_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "figure", formatter_class=Formatter,
        help="reference figures: activation functions, learning-rate schedules",
        description=_wrap("activations: each activation (solid) and its derivative (dashed, "
                          "by jax.grad), one small panel each.",
                          "schedule: learning rate over epochs of each --schedule (per-update "
                          "schedules need --steps-per-epoch) and/or of a study's stored runs "
                          "(--db PATH --study NAME)."),
        epilog="examples:\n"
               "  hyperlab figure activations --out activations.png\n"
               "  hyperlab figure schedule --schedule \"StepDecay(initial_learning_rate=0.1, "
               "drop=0.5, epochs_drop=10)\" --schedule \"PowerDecay(initial_learning_rate=0.1, "
               "decay_steps=100)\" --epochs 100 --steps-per-epoch 16\n"
               "  hyperlab figure schedule --db hyperlab-results/hyperlab.db --study step-decay")
    p.add_argument("kind", choices=("activations", "schedule"), help="which figure")
    p.add_argument("--out", metavar="PATH", default=None,
                   help="output .png, .svg or .pdf (default: activations.png or schedule.png)")
    act = p.add_argument_group("activations")
    act.add_argument("--activation", nargs="+", metavar="NAME",
                     help="which activations (default: linear sigmoid tanh softplus relu "
                          "leaky_relu elu selu)")
    act.add_argument("--range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                     help="x range (default: -5 5)")
    sch = p.add_argument_group("schedule")
    sch.add_argument("--schedule", action="append", metavar="SPEC",
                     help=f"a schedule, {SPEC_HELP}, e.g. "
                          "\"ExponentialDecay(initial_learning_rate=0.1, decay_steps=100, "
                          "decay_rate=0.5)\"")
    sch.add_argument("--epochs", type=int, default=None, metavar="N",
                     help="epochs to draw (default: 100)")
    sch.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                     help="optimizer updates per epoch, for per-update schedules (e.g. 16)")
    sch.add_argument("--db", metavar="PATH", help="a results store, with --study")
    sch.add_argument("--study", metavar="NAME", help="a built-in study or a study file whose "
                     "stored runs' learning rates to draw (with --db)")
    sch.add_argument("--repeats", type=int, default=None, metavar="N",
                     help="seeds of the stored study (default: the study's own)")
    sch.add_argument("--log", dest="logy", action="store_const", const=True, default=None,
                     help="log-scaled learning rate (default: log when rates span >10x)")
    sch.add_argument("--linear", dest="logy", action="store_const", const=False,
                     help="linear learning-rate axis")
    p.set_defaults(handler=cmd_figure)


def _reject(args: argparse.Namespace, flags: dict[str, str], kind: str) -> None:
    for flag, attr in flags.items():
        if getattr(args, attr) not in (None, False, []):
            raise ValueError(f"{flag} does not apply to 'figure {kind}'")


def cmd_figure(args: argparse.Namespace) -> int:
    from hyperlab.visual import _util, reference as ref
    start = time.perf_counter()
    if args.kind == "activations":
        _reject(args, {"--schedule": "schedule", "--epochs": "epochs", "--db": "db",
                       "--study": "study", "--steps-per-epoch": "steps_per_epoch",
                       "--repeats": "repeats", "--log/--linear": "logy"}, "activations")
        out = _util.check_output(args.out or "activations.png", ref.SUFFIXES)
        fig = ref.activations_figure(args.activation or ref.ACTIVATIONS,
                                     tuple(args.range) if args.range else (-5, 5))
    else:
        _reject(args, {"--activation": "activation", "--range": "range"}, "schedule")
        if (args.db is None) != (args.study is None):
            raise ValueError("--db and --study go together: --db PATH --study NAME")
        if not args.schedule and args.study is None:
            raise ValueError("figure schedule needs --schedule SPEC (repeatable) and/or "
                             "--db PATH --study NAME")
        out = _util.check_output(args.out or "schedule.png", ref.SUFFIXES)
        curves = {}
        if args.study is not None:
            curves.update(ref.study_curves(args.db, args.study, args.repeats))
        if args.schedule:
            epochs = args.epochs
            if epochs is None:  # as long as the stored runs, else 100
                epochs = max((len(x) for x, _ in curves.values()), default=100)
            curves.update(ref.schedule_curves(args.schedule, epochs, args.steps_per_epoch))
        fig = ref.schedule_figure(curves, logy=args.logy)
    path = ref.save_figure(fig, out)
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    return 0


COMMANDS = (add_animate_parser, add_landscape_parser, add_figure_parser)
