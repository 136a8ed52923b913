"""The ``hyperlab`` command line.

    hyperlab fit                                   # the tutorial's run (blobs, 2-50-3 MLP, SGD)
    hyperlab fit --optimizer adam --lr 0.001 --epochs 50 --json

Each sub-command is one ``add_<name>_parser(subparsers)`` function that declares its flags
and sets ``handler`` to the function that runs it; ``_commands()`` lists them (the study
commands live in ``hyperlab.cli.studies``). Every error a
user can cause (a bad flag value, a ValueError from the library, a file system error such as
a full disk or a file where a folder should be, running out of memory) ends as ONE line
``hyperlab: error: <message>`` on stderr and exit code 2; Ctrl-C, at any moment, as one line
and exit code 130. Only this module's standard-library imports run before ``main`` starts:
everything heavy is imported inside it.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import re
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator, NoReturn, Sequence

from hyperlab.cli._common import (EXIT_USAGE, PROG, Formatter, parse_batch_size, parse_pairs,
                                  print_error)
from hyperlab.studies import build

EXIT_INTERRUPTED = 130
# Commands that store what they finish, so that running them again resumes.
RESUMABLE = ("run", "reproduce", "lr-sweep", "epochs")
# How to bound the memory of each training command.
MEMORY_FIXES = {
    "fit": "use a smaller --hidden (or --batch-size)",
    "animate": "use a smaller --hidden (or --batch-size)",
    "run": "train fewer runs at once (--max-cohort-runs N or --memory-budget SIZE) or use a "
           "smaller model (model.hidden)",
}
MEMORY_FIXES["reproduce"] = MEMORY_FIXES["run"]
MEMORY_FIXES["lr-sweep"] = "use a smaller --hidden (or fewer --seeds or --rates)"
MEMORY_FIXES["noise-scale"] = "use a smaller --hidden (or --probe or --b-big)"
MEMORY_FIXES["epochs"] = "use a smaller --hidden (or fewer --seeds)"



# ---------------------------------------------------------------------------- parsing helpers
def parse_schedule(text: str | None) -> tuple[str, dict[str, Any]] | None:
    """``NAME[:KEY=VALUE,...]`` -> (NAME, {KEY: VALUE})."""
    if text is None:
        return None
    name, _, args = text.partition(":")
    if not name.strip():
        raise ValueError(f"--schedule: expected NAME[:KEY=VALUE,...], got {text!r}")
    return name.strip(), parse_pairs(args, "--schedule")


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN/inf as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


# ----------------------------------------------------------------------------- the parser
class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line in the ``hyperlab: error:`` format."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{message} (see '{self.prog} --help')")
        raise SystemExit(EXIT_USAGE)


def add_fit_parser(subparsers: argparse._SubParsersAction) -> None:
    """``hyperlab fit``: train one model and report train/test accuracy."""
    p = subparsers.add_parser(
        "fit", formatter_class=Formatter,
        help="train one model (default: the tutorial's run) and print its accuracy",
        description="Train one MLP classifier and print its train/test (validation) accuracy.\n"
                    "Without flags: the tutorial's run - blobs, Dense(50, relu, he_uniform) +\n"
                    "Dense(softmax), SGD(learning_rate=0.01, momentum=0.9), categorical\n"
                    "cross-entropy, batch 32, 200 epochs, seed 0 - ending with the tutorial's\n"
                    "line, e.g. 'Train: 0.834, Test: 0.820' (train and validation accuracy).",
        epilog="examples:\n"
               "  hyperlab fit\n"
               "  hyperlab fit --dataset moons --data-arg noise=0.3 --hidden 16 16\n"
               "  hyperlab fit --optimizer adam --lr 0.001 --epochs 50 --json\n"
               "  hyperlab fit --schedule InverseTimeDecay:initial_learning_rate=0.1,decay_steps=1,decay_rate=0.01\n"
               "  hyperlab fit --schedule StepDecay:initial_learning_rate=0.1,drop=0.5,epochs_drop=32\n"
               "  hyperlab fit --plateau patience=5,factor=0.1 --early-stopping patience=20\n"
               "\nKEY=VALUE values are parsed as int, float, true/false, none or [a,b]; "
               "anything else stays a string.")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default="blobs", metavar="NAME",
                      help="dataset name, one of hyperlab.datasets.NAMES (default: blobs; "
                           "e.g. --dataset moons)")
    data.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                      help="dataset argument, repeatable (default: the dataset's own; "
                           "e.g. --data-arg noise=0.3)")
    model = p.add_argument_group("model")
    model.add_argument("--hidden", type=int, nargs="*", default=[50], metavar="UNITS",
                       help="units of each hidden Dense layer; none for no hidden layer "
                            "(default: 50; e.g. --hidden 50 50)")
    model.add_argument("--activation", default="relu",
                       help="activation of the hidden layers (default: relu; "
                            "e.g. --activation tanh)")
    model.add_argument("--initializer", default="he_uniform",
                       help="kernel initializer of the hidden layers (default: he_uniform; "
                            "e.g. --initializer glorot_uniform)")
    opt = p.add_argument_group("optimizer")
    opt.add_argument("--optimizer", default="sgd", metavar="NAME",
                     help="sgd, rmsprop, adagrad, adadelta, adam, adamax or nadam "
                          "(default: sgd; e.g. --optimizer adam)")
    opt.add_argument("--lr", "--learning-rate", dest="lr", type=float, metavar="FLOAT",
                     help="learning rate (default: 0.01 for sgd, as the tutorial; else the "
                          "optimizer's Keras default; e.g. --lr 0.1)")
    opt.add_argument("--momentum", type=float, metavar="FLOAT",
                     help="momentum of sgd or rmsprop (default: 0.9 for sgd, as the tutorial; "
                          "e.g. --momentum 0.0)")
    opt.add_argument("--opt-arg", action="append", metavar="KEY=VALUE",
                     help="any other optimizer argument, repeatable (default: none; "
                          "e.g. --opt-arg nesterov=true --opt-arg clipnorm=1.0)")
    opt.add_argument("--schedule", metavar="NAME[:KEY=VALUE,...]",
                     help="learning-rate schedule; per-epoch ones (StepDecay) run through "
                          "LearningRateScheduler, the others become the optimizer's learning "
                          "rate (default: none; e.g. --schedule "
                          "CosineDecay:initial_learning_rate=0.1,decay_steps=1000)")
    cb = p.add_argument_group("callbacks")
    cb.add_argument("--plateau", nargs="?", const="", metavar="KEY=VALUE,...",
                    help="add ReduceLROnPlateau with these arguments; the flag alone uses its "
                         "defaults (default: off; e.g. --plateau patience=5,factor=0.1)")
    cb.add_argument("--early-stopping", nargs="?", const="", metavar="KEY=VALUE,...",
                    help="add EarlyStopping with these arguments; the flag alone uses its "
                         "defaults (default: off; e.g. --early-stopping patience=20)")
    train = p.add_argument_group("training")
    train.add_argument("--batch-size", default="32", metavar="N|full",
                       help="samples per update, or 'full' for full-batch (default: 32; "
                            "e.g. --batch-size full)")
    train.add_argument("--epochs", type=int, default=200, metavar="N",
                       help="epochs to train (default: 200; e.g. --epochs 50)")
    train.add_argument("--seed", type=int, default=0, metavar="N",
                       help="seed of the initial weights and the shuffling (default: 0; "
                            "e.g. --seed 1)")
    train.add_argument("--no-shuffle", action="store_true",
                       help="keep the training order fixed (default: shuffle every epoch)")
    train.add_argument("--diagnostics", default="", metavar="NAME,...",
                       help="also log per epoch 'layers' (each layer's gradient norm, update "
                            "ratio, weight norm and activation statistics) and/or 'sharpness' "
                            "(the top Hessian eigenvalue of the training loss, beside SGD's "
                            "stability threshold); in the --json history (default: none; "
                            "e.g. --diagnostics sharpness)")
    out = p.add_argument_group("output")
    out.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 progress bar on stderr, 2 one line per epoch "
                          "(default: 1; e.g. --verbose 0)")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout (config, accuracies, losses, "
                          "history, diverged/stopped epoch, wall time) instead of text; "
                          "progress then goes to stderr (default: text)")
    p.set_defaults(handler=run_fit)


def _commands() -> tuple[Callable[[argparse._SubParsersAction], None], ...]:
    from hyperlab.cli import lab, report, science, store, studies, visual
    return (add_fit_parser,) + studies.COMMANDS + visual.COMMANDS + report.COMMANDS + store.COMMANDS \
        + lab.COMMANDS + science.COMMANDS


def build_parser() -> argparse.ArgumentParser:
    from hyperlab._version import __version__

    parser = _Parser(prog=PROG, formatter_class=Formatter,
                     description="hyperlab: how training hyperparameters shape learning.",
                     epilog="Run 'hyperlab COMMAND --help' for a command's flags.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _commands():
        add(subparsers)
    return parser


# ------------------------------------------------------------------------------ hyperlab fit
def fit_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run that ``args`` asks for, as plain JSON-able data (flags parsed, defaults filled)."""
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    opt_name = args.optimizer.strip().lower()
    opt_args = parse_pairs(args.opt_arg, "--opt-arg")
    for flag, key, value in (("--lr", "learning_rate", args.lr),
                             ("--momentum", "momentum", args.momentum)):
        if value is not None:
            if key in opt_args or (key == "learning_rate" and "lr" in opt_args):
                raise ValueError(f"{flag} and --opt-arg {key}=... both given; use one")
            opt_args[key] = value
    if opt_name == "sgd":  # the tutorial's SGD; a --schedule brings its own learning rate
        defaults = {k: v for k, v in build.TUTORIAL_SGD.items()
                    if not (k == "learning_rate" and (args.schedule or "lr" in opt_args))}
        opt_args = {**defaults, **opt_args}
    schedule = parse_schedule(args.schedule)
    if schedule is not None:
        schedule = {"class_name": schedule[0], "config": schedule[1]}
    return {
        "dataset": {"name": args.dataset, "args": parse_pairs(args.data_arg, "--data-arg")},
        "model": {"hidden": list(args.hidden), "activation": args.activation,
                  "initializer": args.initializer},
        "optimizer": {"name": opt_name, "args": opt_args},
        "schedule": schedule,
        "plateau": None if args.plateau is None else parse_pairs(args.plateau, "--plateau"),
        "early_stopping": (None if args.early_stopping is None
                           else parse_pairs(args.early_stopping, "--early-stopping")),
        "batch_size": parse_batch_size(args.batch_size),
        "epochs": args.epochs,
        "seed": args.seed,
        "shuffle": not args.no_shuffle,
        "diagnostics": parse_diagnostics(getattr(args, "diagnostics", "")),
    }


def parse_diagnostics(text: str) -> list[str]:
    """``--diagnostics layers,sharpness`` as a list of names of ``fit(diagnostics=...)``."""
    from hyperlab.engine.training import DIAGNOSTICS
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIAGNOSTICS]
    if unknown:
        raise ValueError(f"--diagnostics: unknown name {unknown[0]!r}; choose among "
                         f"{', '.join(DIAGNOSTICS)} (e.g. --diagnostics sharpness)")
    return list(dict.fromkeys(names))


@contextlib.contextmanager
def blame(flag: str):
    """Re-raise a ValueError/TypeError of the block as one ValueError that names ``flag``."""
    try:
        yield
    except (TypeError, ValueError) as err:
        raise ValueError(f"{flag}: {err}") from None


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` says memory ran out: a MemoryError, or XLA's RESOURCE_EXHAUSTED."""
    return isinstance(err, MemoryError) or (
        type(err).__name__ in ("JaxRuntimeError", "XlaRuntimeError")
        and "RESOURCE_EXHAUSTED" in str(err))


def memory_message(err: BaseException, what: str, fix: str) -> str:
    """The one-line error for an out-of-memory ``err``: ``what`` was too large, and ``fix``."""
    asked = re.search(r"allocat\w* (\d+) bytes", str(err))
    detail = f" (XLA could not allocate {int(asked[1]) / 2**30:.1f} GiB)" if asked else ""
    return f"out of memory: {what} is too large for this machine's memory{detail}; {fix}"


@contextlib.contextmanager
def too_large(what: str, fix: str) -> Iterator[None]:
    """Re-raise running out of memory in the block as one ValueError naming ``what`` and
    ``fix``."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        if not out_of_memory(err):
            raise
        raise ValueError(memory_message(err, what, fix)) from None


def build_training(config: dict[str, Any]):
    """Optimizer and callbacks of ``config`` (validated before any data or JAX work)."""
    opt_args = dict(config["optimizer"]["args"])
    callbacks = []
    if config["schedule"] is not None:
        with blame("--schedule"):
            schedule = build.schedule(config["schedule"]["class_name"],
                                      config["schedule"]["config"])
        learning_rate, callbacks = build.split_schedule(schedule)
        if learning_rate is not None:
            if "learning_rate" in opt_args or "lr" in opt_args:
                raise ValueError(f"--schedule {config['schedule']['class_name']} sets the "
                                 "learning rate; drop --lr (or the learning_rate --opt-arg)")
            opt_args["learning_rate"] = learning_rate
    optimizer_cls = build.optimizer_class(config["optimizer"]["name"])
    try:  # the optimizers' own ValueErrors name the class and the argument
        optimizer = optimizer_cls(**opt_args)
    except TypeError as err:
        raise ValueError(f"{optimizer_cls.__name__}: {err}") from None
    for flag, key in (("--plateau", "plateau"), ("--early-stopping", "early_stopping")):
        monitor = (config[key] or {}).get("monitor", "val_loss")
        if monitor not in build.LOG_KEYS:
            raise ValueError(f"{flag}: monitor={monitor!r} is not logged by fit; "
                             f"choose one of {', '.join(build.LOG_KEYS)}")
    for flag, key, name in (("--plateau", "plateau", "ReduceLROnPlateau"),
                            ("--early-stopping", "early_stopping", "EarlyStopping")):
        if config[key] is not None:
            with blame(flag):
                callbacks.append(build.callback(name, config[key]))
    return optimizer, callbacks


def run_fit(args: argparse.Namespace) -> int:
    """Build the model ``args`` describe, train it, print the result (text or --json)."""
    import hyperlab as hl

    config = fit_config(args)
    optimizer, callbacks = build_training(config)
    with blame("--dataset"):
        ds = hl.datasets.get(config["dataset"]["name"], **config["dataset"]["args"])
    sizes = [ds.n_features, *config["model"]["hidden"], ds.n_classes]
    params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    with too_large(f"the model ({params:,} parameters)", MEMORY_FIXES["fit"]):
        layers = build.build_layers(config, ds.n_features, ds.n_classes)
        model = hl.Sequential(layers, seed=config["seed"])
        model.compile(optimizer, "categorical_crossentropy", ["accuracy"])
        y = hl.datasets.to_categorical(ds.y_train, ds.n_classes)
        vy = hl.datasets.to_categorical(ds.y_val, ds.n_classes)
        batch_size = None if config["batch_size"] == "full" else config["batch_size"]

        # In --json mode stdout carries the JSON object only: progress goes to stderr.
        progress_out = sys.stderr if args.json else sys.stdout
        start = time.perf_counter()
        with contextlib.redirect_stdout(progress_out):
            history = model.fit(ds.x_train, y, batch_size=batch_size, epochs=config["epochs"],
                                validation_data=(ds.x_val, vy), verbose=args.verbose,
                                callbacks=callbacks, shuffle=config["shuffle"],
                                seed=config["seed"], log_learning_rate=True,
                                diagnostics=config["diagnostics"] or False)
        wall = time.perf_counter() - start
        train_loss, train_acc = model.evaluate(ds.x_train, y, verbose=0)
        test_loss, test_acc = model.evaluate(ds.x_val, vy, verbose=0)

    if args.json:
        layers = [{"name": layer.name, "units": layer.units, "activation": layer.activation}
                  for layer in model.layers]
        result = {"config": config, "optimizer_config": _optimizer_config(optimizer),
                  "layers": layers, "params": model.count_params(),
                  "train_accuracy": train_acc, "test_accuracy": test_acc,
                  "train_loss": train_loss, "test_loss": test_loss,
                  "epochs_run": len(history.history.get("loss", [])),
                  "history": history.history, "diverged_epoch": history.diverged_epoch,
                  "stopped_epoch": history.stopped_epoch, "wall_time_s": wall}
        print(json.dumps(_jsonable(result)))
        return 0
    if history.diverged_epoch is not None:
        print(f"Diverged: the loss was not finite from epoch {history.diverged_epoch + 1}.")
    if history.stopped_epoch is not None:
        print(f"EarlyStopping stopped the run at epoch {history.stopped_epoch + 1}.")
    print(f"Train: {train_acc:.3f}, Test: {test_acc:.3f}")
    if "sharpness" in config["diagnostics"]:
        print(_sharpness_line(history.history, optimizer))
    return 0


def _sharpness_line(history: dict[str, list[float]], optimizer: Any) -> str:
    """The last epoch's sharpness and, for SGD, its stability threshold (2 + 2β)/η."""
    from hyperlab.science.sharpness import stability_threshold
    value = history["sharpness"][-1]
    line = f"Sharpness (top Hessian eigenvalue of the training loss) after the last epoch: {value:.4g}"
    if type(optimizer).__name__ != "SGD":
        return line + "."
    rate, momentum = history["learning_rate"][-1], float(optimizer.momentum)
    limit = stability_threshold(rate, momentum)
    what = "2/η" if momentum == 0 else f"(2 + 2·{momentum:g})/η"
    side = "above" if value > limit else "below"
    return f"{line}, {side} SGD's stability threshold {what} = {limit:.4g}."


def _optimizer_config(optimizer: Any) -> dict[str, Any]:
    """The optimizer's full Keras config (defaults included); a schedule as its config."""
    config = {"class_name": type(optimizer).__name__, **optimizer.get_config()}
    lr = config["learning_rate"]
    if hasattr(lr, "get_config"):
        config["learning_rate"] = {"class_name": type(lr).__name__, "config": lr.get_config()}
    return config


# ------------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 usage or input error, 130
    interrupted by Ctrl-C, which may come at any moment: while the modules import too)."""
    args = None
    try:
        with _interrupt_after():
            parser = build_parser()
        try:
            parsed = parser.parse_args(argv)
        except SystemExit as exit_:  # --help, --version, or an argparse error already printed
            code = exit_.code or 0
            return code if isinstance(code, int) else EXIT_USAGE
        with _interrupt_after():  # the commands' handlers need JAX: --help does not wait for it
            import jax  # noqa: F401
        args = parsed
        return _handle(args)
    except KeyboardInterrupt:
        resume = "; what finished is stored, run the same command to resume"
        print_error("interrupted" + (resume if getattr(args, "command", None) in RESUMABLE
                                      else ""))
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold Ctrl-C while the block runs and raise it as KeyboardInterrupt when it ends: an
    interrupt inside a C extension's initialization (jaxlib's) aborts the interpreter."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield  # Ctrl-C does not raise KeyboardInterrupt here anyway
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _handle(args: argparse.Namespace) -> int:
    """Run the command's handler; a user error ends as one line and exit code 2."""
    from hyperlab.studies.store import StoreError
    try:
        return args.handler(args)
    except BrokenPipeError:  # e.g. `hyperlab studies | head -1`
        return 0
    except (ValueError, StoreError) as err:
        print_error(err)
    except (OSError, MemoryError, RuntimeError) as err:
        if out_of_memory(err):
            what = "the model" + (" times the runs trained together"
                                  if args.command in RESUMABLE else "")
            print_error(memory_message(err, what, MEMORY_FIXES.get(args.command,
                                                                    "use a smaller model")))
        elif isinstance(err, OSError):
            print_error(_file_error(err))
        else:
            raise
    return EXIT_USAGE


def _file_error(err: OSError) -> str:
    """One line for a file system error: what failed, and the fix."""
    where = f"{err.filename}: " if err.filename else ""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{where}the disk is full (no space left on device); free some space or write "
                "elsewhere (--out DIR)")
    if isinstance(err, (FileExistsError, NotADirectoryError)):
        return (f"{where}a file is where a folder should be ({err.strerror}); move it away or "
                "write elsewhere (--out DIR)")
    return f"{where}{err.strerror or err}"


if __name__ == "__main__":
    sys.exit(main())
