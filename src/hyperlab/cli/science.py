"""Science commands: ``lr-sweep``, ``noise-scale``, ``epochs``, ``critical-batch`` and
``scaling-rule`` and ``doctor``.

    hyperlab lr-sweep                                    # blobs, the tutorial's MLP and SGD
    hyperlab lr-sweep --optimizer adam --seeds 10 --json
    hyperlab noise-scale --seeds 5 --epochs 10           # B_simple per epoch, over seeds
    hyperlab epochs --epochs 100                         # plateau, overfitting, patience
    hyperlab critical-batch batch-size                   # S_min, B_noise from stored runs
    hyperlab scaling-rule my-grid.toml                   # lr* ∝ B^alpha from a batch x rate grid
    hyperlab doctor --lr 50                              # why a run does not learn

The measurements live in ``hyperlab.science``, imported only when a command runs; runs are
stored in the results store (``--out``/``--db``) like a study's, so running the same
command again trains only what is missing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hyperlab.cli._common import (DEFAULT_OUT, Formatter, output_flags, parse_batch_size,
                                  parse_pairs, study_flags)

NAME = "lr-sweep"
TUTORIAL_MOMENTUM = 0.9  # hyperlab fit's SGD: the tutorial's momentum
# hyperlab.science.sweep's defaults, repeated so that --help imports no SciPy
LOW, HIGH, COUNT, SEEDS, EPOCHS, RANGE_EPOCHS = 1e-5, 10.0, 13, 5, 3, 25


def setup_flags(p: argparse.ArgumentParser, opt_arg_help: str, lr: bool = False
                ) -> argparse._ArgumentGroup:
    """The data, model and optimizer flags of 'hyperlab fit' (``lr``: with --lr), and the
    training group with --batch-size and --no-shuffle, which it returns."""
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default="blobs", metavar="NAME",
                      help="dataset name, one of hyperlab.datasets.NAMES (default: blobs; "
                           "e.g. --dataset moons)")
    data.add_argument("--data-arg", action="append", metavar="KEY=VALUE",
                      help="dataset argument, repeatable (e.g. --data-arg noise=0.3)")
    model = p.add_argument_group("model")
    model.add_argument("--hidden", type=int, nargs="*", default=[50], metavar="UNITS",
                       help="units of each hidden Dense layer (default: 50; e.g. --hidden 50 50)")
    model.add_argument("--activation", default="relu",
                       help="activation of the hidden layers (default: relu)")
    model.add_argument("--initializer", default="he_uniform",
                       help="kernel initializer of the hidden layers (default: he_uniform)")
    opt = p.add_argument_group("optimizer")
    opt.add_argument("--optimizer", default="sgd", metavar="NAME",
                     help="sgd, rmsprop, adagrad, adadelta, adam, adamax or nadam "
                          "(default: sgd; e.g. --optimizer adam)")
    opt.add_argument("--momentum", type=float, metavar="FLOAT",
                     help=f"momentum of sgd or rmsprop (default: {TUTORIAL_MOMENTUM} for sgd, "
                          "as 'hyperlab fit'; e.g. --momentum 0.0)")
    if lr:
        opt.add_argument("--lr", "--learning-rate", dest="lr", type=float, metavar="FLOAT",
                         help="learning rate (default: 0.01 for sgd, as 'hyperlab fit'; else "
                              "the optimizer's Keras default; e.g. --lr 0.1)")
    opt.add_argument("--opt-arg", action="append", metavar="KEY=VALUE",
                     help=opt_arg_help)
    train = p.add_argument_group("training")
    train.add_argument("--batch-size", default="32", metavar="N|full",
                       help="samples per update, or 'full' (default: 32)")
    train.add_argument("--no-shuffle", action="store_true",
                       help="keep the training order fixed (default: shuffle every epoch)")
    return train


def add_lr_sweep_parser(subparsers: argparse._SubParsersAction) -> None:
    """``hyperlab lr-sweep``: learning-rate sensitivity with seeds and intervals."""
    p = subparsers.add_parser(
        NAME, formatter_class=Formatter,
        help="which learning rate: constant rates x seeds, stable region, divergence edge, "
             "a recommended rate with its interval, and the one-run range test per seed",
        description="Train --rates constant learning rates from --low to --high (log-spaced) "
                    "with --seeds seeds each for\n--epochs epochs, and the one-run range test "
                    "(the rate growing x(high/low)^(1/(N-1)) each epoch\nfor --range-epochs N "
                    "epochs) once per seed. Prints the answer, a table per rate (median final\n"
                    "loss and validation accuracy with bootstrap intervals, divergences with "
                    "exact intervals) and\nwrites the figure to OUT/lr-sweep/. A run diverged "
                    "when its final loss is not finite or above\nits initial loss. The model, "
                    "data and optimizer flags are those of 'hyperlab fit'.",
        epilog="examples:\n"
               "  hyperlab lr-sweep\n"
               "  hyperlab lr-sweep --optimizer adam --seeds 10 --epochs 5\n"
               "  hyperlab lr-sweep --dataset moons --low 1e-4 --high 1 --rates 9 --json\n")
    train = setup_flags(p, "any other optimizer argument except the swept learning rate, "
                             "repeatable (e.g. --opt-arg nesterov=true)")
    train.add_argument("--epochs", type=int, default=EPOCHS, metavar="N",
                       help=f"epochs of every constant-rate run (default: {EPOCHS})")
    sweep = p.add_argument_group("sweep")
    sweep.add_argument("--low", type=float, default=LOW, metavar="RATE",
                       help=f"lowest learning rate (default: {LOW:g})")
    sweep.add_argument("--high", type=float, default=HIGH, metavar="RATE",
                       help=f"highest learning rate (default: {HIGH:g})")
    sweep.add_argument("--rates", type=int, default=COUNT, metavar="N",
                       help=f"number of log-spaced rates (default: {COUNT})")
    sweep.add_argument("--seeds", type=int, default=SEEDS, metavar="N",
                       help=f"seeds per rate, 0 .. N-1 (default: {SEEDS})")
    sweep.add_argument("--range-epochs", type=int, default=RANGE_EPOCHS, metavar="N",
                       help=f"epochs of the range test, one rate each (default: {RANGE_EPOCHS})")
    sweep.add_argument("--no-range-test", action="store_true",
                       help="skip the one-run range test")
    out = p.add_argument_group("output")
    output_flags(out)
    out.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout (per-seed results, the analysis, "
                          "the range test, the answer) instead of text")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_lr_sweep)


NOISE = "noise-scale"
# hyperlab.science.noise's defaults, repeated so that --help imports no JAX
NOISE_SEEDS, NOISE_EPOCHS, PROBE = 5, 10, 1024


def add_noise_scale_parser(subparsers: argparse._SubParsersAction) -> None:
    """``hyperlab noise-scale``: the simple gradient noise scale per epoch, over seeds."""
    p = subparsers.add_parser(
        NOISE, formatter_class=Formatter,
        help="the gradient noise scale B_simple = tr(Sigma)/|G|^2 per epoch over seeds, "
             "against the batch size trained with",
        description="Train the model --seeds times (seeds 0 .. N-1) for --epochs epochs and "
                    "measure, before training\nand after every epoch, the simple noise "
                    "scale B_simple = tr(Sigma)/|G|^2 of its training loss\n(McCandlish et "
                    "al. 2018) from per-example gradients on --probe training examples, with\n"
                    "the paper's unbiased estimates from two batch sizes --b-small and "
                    "--b-big. Prints the answer\nand writes the figure and JSON to "
                    "OUT/noise-scale/. The model, data and optimizer flags are\nthose of "
                    "'hyperlab fit'.",
        epilog="examples:\n"
               "  hyperlab noise-scale\n"
               "  hyperlab noise-scale --optimizer adam --lr 0.001 --seeds 10 --epochs 20\n"
               "  hyperlab noise-scale --dataset moons --batch-size 128 --probe 512 --json\n")
    train = setup_flags(p, "any other optimizer argument, repeatable "
                           "(e.g. --opt-arg nesterov=true)", lr=True)
    train.add_argument("--epochs", type=int, default=NOISE_EPOCHS, metavar="N",
                       help=f"epochs of every seed's run (default: {NOISE_EPOCHS})")
    train.add_argument("--seeds", type=int, default=NOISE_SEEDS, metavar="N",
                       help=f"runs, seeds 0 .. N-1 (default: {NOISE_SEEDS})")
    probe = p.add_argument_group("estimate")
    probe.add_argument("--probe", type=int, default=PROBE, metavar="N",
                       help=f"training examples drawn for the per-example gradients; all of "
                            f"them if fewer (default: {PROBE})")
    probe.add_argument("--b-small", type=int, default=1, metavar="N",
                       help="the small batch size of the two-batch estimate (default: 1)")
    probe.add_argument("--b-big", type=int, metavar="N",
                       help="the big batch size, a multiple of --b-small (default: the probe)")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                     help=f"output directory (default: {DEFAULT_OUT}; e.g. --out results)")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout (every seed's measurements, the "
                          "medians with intervals, the answer) instead of text")
    p.set_defaults(handler=cmd_noise_scale)


EPOCHS_NAME = "epochs"
# hyperlab.science.epochs's defaults, repeated so that --help imports no JAX
EPOCHS_SEEDS, EPOCHS_BUDGET = 5, 100


def add_epochs_parser(subparsers: argparse._SubParsersAction) -> None:
    """``hyperlab epochs``: how many epochs, and an EarlyStopping calibrated to the noise."""
    p = subparsers.add_parser(
        EPOCHS_NAME, formatter_class=Formatter,
        help="how many epochs: per seed the plateau and the onset of overfitting, and an "
             "EarlyStopping patience and min_delta calibrated to the validation noise",
        description="Train the model --seeds times (seeds 0 .. N-1) for --epochs epochs "
                    "without callbacks and find,\nper seed, the epoch where the validation "
                    "accuracy comes within 1 point of its best and\nwhere overfitting starts "
                    "(validation loss rising while the training loss falls); then an\n"
                    "EarlyStopping on val_accuracy with min_delta the measured epoch-to-epoch "
                    "noise and the\nsmallest patience that lets every seed reach its plateau. "
                    "Runs are stored (--out/--db).",
        epilog="examples:\n"
               "  hyperlab epochs\n"
               "  hyperlab epochs --optimizer adam --lr 0.001 --seeds 10 --epochs 200 --json\n")
    train = setup_flags(p, "any other optimizer argument, repeatable "
                           "(e.g. --opt-arg nesterov=true)", lr=True)
    train.add_argument("--epochs", type=int, default=EPOCHS_BUDGET, metavar="N",
                       help=f"epochs of every seed's run (default: {EPOCHS_BUDGET})")
    train.add_argument("--seeds", type=int, default=EPOCHS_SEEDS, metavar="N",
                       help=f"runs, seeds 0 .. N-1 (default: {EPOCHS_SEEDS})")
    out = p.add_argument_group("output")
    output_flags(out)
    out.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout (every seed's epochs, the "
                          "calibrated EarlyStopping, the answer) instead of text")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_epochs)


CRITICAL = "critical-batch"
METRICS = ("val_accuracy", "accuracy", "val_loss", "loss")  # hyperlab.science.critical's


def add_critical_batch_parser(subparsers: argparse._SubParsersAction) -> None:
    """``hyperlab critical-batch``: S_min and B_noise from a batch-size study's stored runs."""
    p = subparsers.add_parser(
        CRITICAL, formatter_class=Formatter,
        help="the critical batch size: fit S = S_min (1 + B_noise/B) to the steps a "
             "batch-size study needed to reach a target (no training)",
        description="From the stored runs of a study that sweeps fit.batch_size (and, "
                    "optionally, the learning\nrate: then the rate with the fewest median "
                    "steps is chosen per batch size), the updates each\nrun needed to reach "
                    "--target on --metric, and the fit of McCandlish et al.'s (2018)\n"
                    "S = S_min (1 + B_noise / B) with seed-bootstrap intervals. Prints the "
                    "answer and a table,\nwrites the figure and JSON to OUT/<study>/"
                    "critical-batch/; trains nothing ('hyperlab run' first).",
        epilog="examples:\n"
               "  hyperlab run batch-size && hyperlab critical-batch batch-size\n"
               "  hyperlab critical-batch batch-size --metric val_loss --target 0.3 --json\n"
               "  hyperlab critical-batch my-grid.toml --noise-scale "
               "hyperlab-results/noise-scale/noise-scale.json\n")
    p.add_argument("study", metavar="STUDY_OR_FILE", help="a built-in study or a study file")
    output_flags(p)
    study_flags(p)
    fit = p.add_argument_group("target")
    fit.add_argument("--metric", default="val_accuracy", choices=METRICS,
                     help="the logged value the target is on (default: val_accuracy)")
    fit.add_argument("--target", type=float, metavar="VALUE",
                     help="an accuracy to rise to or a loss to fall to (default for an "
                          "accuracy: the study's threshold, e.g. 0.8)")
    fit.add_argument("--noise-scale", metavar="FILE",
                     help="the noise-scale.json of 'hyperlab noise-scale', whose final "
                          "median B_simple is shown beside B_noise")
    fit.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout (every run's steps, the fit, "
                          "the answer) instead of text")
    p.set_defaults(handler=cmd_critical_batch)


def read_b_simple(path: str) -> tuple[float, float, float]:
    """The final median B_simple with its interval from a noise-scale.json."""
    try:
        final = json.loads(Path(path).read_text())["median"][-1]
        values = tuple(float(final[k]) for k in ("estimate", "low", "high"))
    except OSError as err:
        raise ValueError(f"--noise-scale {path}: cannot read it ({err.strerror}); give the "
                         f"noise-scale.json that 'hyperlab noise-scale' wrote") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise ValueError(f"--noise-scale {path}: not a noise-scale.json with a finite final "
                         f"median; give the file 'hyperlab noise-scale' wrote") from None
    return values


def _publish(args: argparse.Namespace, folder: Path, name: str, data: dict[str, Any],
             result: Any, what: str) -> int:
    """Write ``folder/<name>.json``; print it (``--json``) or the result's answer and table
    and where the files are."""
    from hyperlab._fileio import write_text
    write_text(folder / f"{name}.json", json.dumps(data, indent=1) + "\n", what)
    if args.json:
        print(json.dumps(data))
    else:
        print(f"{result.answer()}\n\n{result.table()}\n")
        print(f"written to {folder}/")
    return 0


def cmd_critical_batch(args: argparse.Namespace) -> int:
    """Read the stored runs, fit, write the figure and JSON, print the answer."""
    from hyperlab._fileio import output_folder
    from hyperlab.cli._common import load_study, stored_results
    b_simple = read_b_simple(args.noise_scale) if args.noise_scale else None
    target = args.target
    if target is None:
        if not args.metric.endswith("accuracy"):
            raise ValueError(f"--metric {args.metric}: give the loss to reach with --target "
                             f"(e.g. --target 0.3)")
        target = load_study(args).threshold
    results, out = stored_results(args)
    from hyperlab.science import figures
    from hyperlab.science.critical import critical_batch
    result = critical_batch(load_study(args), results, metric=args.metric, target=target,
                            b_simple=b_simple)
    folder = output_folder(out / results.name / CRITICAL, "the critical batch size")
    data = {**result.to_dict(),
            "figures": [str(p) for p in figures.save_critical_batch(result, folder)]}
    return _publish(args, folder, CRITICAL, data, result, "the critical batch size")


SCALING = "scaling-rule"


def add_scaling_rule_parser(subparsers: argparse._SubParsersAction) -> None:
    """``hyperlab scaling-rule``: the exponent of lr* ∝ B^α from a batch x rate grid study."""
    p = subparsers.add_parser(
        SCALING, formatter_class=Formatter,
        help="referee the learning-rate scaling rule: the best rate per batch size and the "
             "exponent of lr* ∝ B^alpha with a seed-bootstrap interval (no training)",
        description="From the stored runs of a study that sweeps fit.batch_size and "
                    "compile.optimizer.learning_rate\nas a grid, per batch size the rate "
                    "with the best median final --measure over the seeds, and\nthe "
                    "least-squares exponent alpha of lr* ∝ B^alpha with a seed-bootstrap "
                    "interval. A rule\n(linear 1, square root 0.5, none 0) is named only "
                    "when the interval contains it and\nexcludes the other two. Writes the "
                    "figure and JSON to OUT/<study>/scaling-rule/; trains\nnothing "
                    "('hyperlab run' first).",
        epilog="examples:\n"
               "  hyperlab run my-grid.toml && hyperlab scaling-rule my-grid.toml\n"
               "  hyperlab scaling-rule my-grid.toml --measure val_accuracy --json\n")
    p.add_argument("study", metavar="STUDY_OR_FILE", help="a built-in study or a study file")
    output_flags(p)
    study_flags(p)
    p.add_argument("--measure", default="loss", choices=("loss", "val_loss", "val_accuracy",
                                                         "accuracy"),
                   help="the final logged value that ranks the rates (default: loss, the "
                        "final training loss; a run that diverged ranks last)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (every run's value, the best rates, "
                        "alpha, the verdict, the answer) instead of text")
    p.set_defaults(handler=cmd_scaling_rule)


def cmd_scaling_rule(args: argparse.Namespace) -> int:
    """Read the stored runs, referee, write the figure and JSON, print the answer."""
    from hyperlab._fileio import output_folder
    from hyperlab.cli._common import load_study, stored_results
    results, out = stored_results(args)
    from hyperlab.science import figures
    from hyperlab.science.scaling import scaling_rule
    result = scaling_rule(load_study(args), results, measure=args.measure)
    folder = output_folder(out / results.name / SCALING, "the scaling rule")
    data = {**result.to_dict(),
            "figures": [str(p) for p in figures.save_scaling_rule(result, folder)]}
    return _publish(args, folder, SCALING, data, result, "the scaling rule")


DOCTOR = "doctor"
DOCTOR_EPOCHS = 20


def add_doctor_parser(subparsers: argparse._SubParsersAction) -> None:
    """``hyperlab doctor``: why a run does not learn, one finding per line."""
    p = subparsers.add_parser(
        DOCTOR, formatter_class=Formatter,
        help="why a run does not learn: train it with diagnostics and report each "
             "pathology with the follow-up that tests its fix",
        description="Train the run the flags describe (those of 'hyperlab fit', plus the "
                    "output activation and\nthe loss; or a study's value, --study) once with "
                    "diagnostics and report, one line each:\nan output activation the loss "
                    "does not expect, the epoch the loss stops being finite, a loss\nthat "
                    "never fell below the chance loss of the labels, dead ReLU layers, "
                    "gradient-norm spikes,\nand (SGD) a top Hessian eigenvalue above the "
                    "stability threshold (2 + 2 momentum)/rate at the end.\nEach finding "
                    "comes with the command that tests its fix; --run runs the first one's.",
        epilog="examples:\n"
               "  hyperlab doctor --lr 50                       # the loss blows up\n"
               "  hyperlab doctor --output-activation linear    # cross-entropy needs softmax\n"
               "  hyperlab doctor --lr 50 --run --json\n"
               "  hyperlab doctor --study learning-rate --value 1.0 --epochs 30\n")
    study = p.add_argument_group("a study's run instead of the flags'")
    study.add_argument("--study", metavar="STUDY_OR_FILE",
                       help="diagnose a value of this built-in study or study file (its model, "
                            "data, optimizer and batch size; the flags below then stay unset)")
    study.add_argument("--value", metavar="LABEL",
                       help="which of the study's values (its label; default: the first)")
    study.add_argument("--set", dest="sets", action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override a field of that value's configuration, repeatable, "
                            "swept or not (e.g. --set compile.optimizer.learning_rate=0.01)")
    train = setup_flags(p, "any other optimizer argument, repeatable "
                           "(e.g. --opt-arg nesterov=true)", lr=True)
    train.add_argument("--epochs", type=int, default=None, metavar="N",
                       help=f"epochs (default: {DOCTOR_EPOCHS}, or the study's)")
    train.add_argument("--seed", type=int, default=0, metavar="N",
                       help="seed of the weights and the shuffling (default: 0)")
    head = p.add_argument_group("output layer and loss")
    head.add_argument("--output-activation", default="softmax", metavar="NAME",
                      help="activation of the output layer (default: softmax)")
    head.add_argument("--loss", default="categorical_crossentropy", metavar="NAME",
                      help="the loss (default: categorical_crossentropy)")
    out = p.add_argument_group("output")
    out.add_argument("--run", action="store_true",
                     help="then run the first finding's follow-up command")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object on stdout (the findings with their "
                          "commands, the chance loss, the sharpness, the history)")
    p.set_defaults(handler=cmd_doctor)


def setup_words(args: argparse.Namespace) -> list[str]:
    """The flags of :func:`setup_flags` as given (without --lr), for a follow-up command."""
    words = ["--dataset", args.dataset]
    for item in args.data_arg or []:
        words += ["--data-arg", item]
    words += ["--hidden", *map(str, args.hidden), "--activation", args.activation,
              "--initializer", args.initializer, "--optimizer", args.optimizer]
    if args.momentum is not None:
        words += ["--momentum", f"{args.momentum:g}"]
    for item in args.opt_arg or []:
        words += ["--opt-arg", item]
    words += ["--batch-size", str(args.batch_size)] + (["--no-shuffle"] if args.no_shuffle
                                                       else [])
    return words


def study_follow_up(kind: str, args: argparse.Namespace, label: str, epochs: int,
                    rate: float | None) -> str | None:
    """With ``--study``: the doctor of the same value with the fix set (None when there is
    none to set: a study's output layer and loss always suit each other). A loss stuck at
    chance is tested with a rate ten times larger below 0.1, ten times smaller from 0.1 up
    (the command line's lr-sweep over decades needs the flags' model)."""
    import shlex
    fix = {"grad_spike": "compile.optimizer.global_clipnorm=1.0"}.get(kind)
    if fix is None and rate is not None and kind in ("nan", "sharpness", "dead_relu", "chance"):
        larger = kind == "chance" and rate < 0.1
        fix = f"compile.optimizer.learning_rate={rate * 10 if larger else rate / 10:.3g}"
    if fix is None:
        return None
    words = ["hyperlab", DOCTOR, "--study", args.study, "--value", label, "--epochs",
             str(epochs), "--seed", str(args.seed)]
    key = fix.split("=", 1)[0]
    for item in args.sets:
        if item.split("=", 1)[0].strip() != key:        # the fix replaces an earlier value
            words += ["--set", item]
    return shlex.join(words + ["--set", fix])


def follow_up(kind: str, args: argparse.Namespace, rate: float | None) -> str:
    """The command that tests the fix of a finding of ``kind`` (``rate``: the run's)."""
    import shlex
    doctor = ["hyperlab", DOCTOR, *setup_words(args), "--epochs", str(args.epochs),
              "--seed", str(args.seed)]
    doctor += ["--lr", f"{args.lr:g}"] if args.lr is not None else []
    head = ["--output-activation", args.output_activation, "--loss", args.loss]
    sweep = ["hyperlab", NAME, *setup_words(args)]
    if kind == "mismatch":
        pair = (["--output-activation", "sigmoid", "--loss", "binary_crossentropy"]
                if args.loss == "binary_crossentropy" and args.output_activation != "softmax"
                else ["--output-activation", "softmax", "--loss", "categorical_crossentropy"])
        return shlex.join(doctor + pair)
    if kind == "grad_spike":
        return shlex.join(doctor + head + ["--opt-arg", "global_clipnorm=1.0"])
    if kind == "chance" or rate is None:
        return shlex.join(sweep)          # the default range: does any rate learn?
    return shlex.join(sweep + ["--low", f"{rate / 1000:.3g}", "--high", f"{rate:.3g}",
                               "--rates", "7"])   # the rates below this one


def cmd_doctor(args: argparse.Namespace) -> int:
    """Train with diagnostics, print one line per finding with its follow-up (or run it)."""
    if args.seed < 0:
        raise ValueError(f"--seed must be an int >= 0, got {args.seed}")
    from hyperlab.data import datasets
    from hyperlab.engine import layers
    from hyperlab.engine.model import Sequential
    from hyperlab.science.doctor import diagnose
    from hyperlab.studies import build
    if args.study is not None:
        label, resolved = study_run(args)
        args.epochs = resolved["fit"]["epochs"] if args.epochs is None else args.epochs
        loss = resolved["compile"]["loss"]
    else:
        if args.value is not None or args.sets:
            flag = "--value" if args.value is not None else "--set"
            raise ValueError(f"{flag} chooses a study's run: give --study STUDY_OR_FILE too")
        args.epochs = DOCTOR_EPOCHS if args.epochs is None else args.epochs
        resolved, loss = flags_run(args)
    if args.epochs < 3:
        raise ValueError(f"--epochs must be an int >= 3, got {args.epochs}")
    ds = datasets.get(**resolved["data"])
    stack = build.build_layers(resolved, tuple(ds.x_train.shape[1:]), ds.n_classes)
    if args.study is None:
        stack[-1] = layers.Dense(ds.n_classes, args.output_activation)
    model = Sequential(stack, seed=args.seed)
    model.compile(build.build_optimizer(resolved), loss, ["accuracy"])
    sparse = loss == "sparse_categorical_crossentropy"
    y, vy = ((ds.y_train, ds.y_val) if sparse else
             (datasets.to_categorical(ds.y_train, ds.n_classes),
              datasets.to_categorical(ds.y_val, ds.n_classes)))
    batch = build.batch_size(resolved["fit"]["batch_size"], len(y))
    found = diagnose(model, ds.x_train, y, epochs=args.epochs, batch_size=batch,
                     validation_data=(ds.x_val, vy) if len(vy) else None, seed=args.seed,
                     shuffle=resolved["fit"].get("shuffle", True))
    rate = resolved["compile"]["optimizer"].get("learning_rate")
    rate = rate if isinstance(rate, (int, float)) else None
    commands = [follow_up(f.kind, args, rate) if args.study is None
                else study_follow_up(f.kind, args, label, args.epochs, rate)
                for f in found.findings]
    if args.json:
        data = found.to_dict()
        for item, command in zip(data["findings"], commands):
            item["follow_up"] = command
        print(json.dumps(data))
    else:
        for line, command in zip(found.lines(), commands or [None]):
            print(line + (f"  ->  {command}" if command else ""))
    commands = [c for c in commands if c]
    if args.run and commands:
        import shlex
        import subprocess
        import sys
        print(f"running: {commands[0]}", file=sys.stderr if args.json else sys.stdout,
              flush=True)
        return subprocess.run([sys.executable, "-m", "hyperlab",
                               *shlex.split(commands[0])[1:]]).returncode
    return 0


def flags_run(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The resolved configuration the setup flags describe, and the loss (--loss)."""
    from hyperlab.engine import activations, losses
    from hyperlab.studies import from_dict
    config = rate_config(args)
    try:
        loss = losses.get(args.loss)
    except ValueError as err:
        raise ValueError(f"--loss: {err}") from None
    try:
        activations.get(args.output_activation)
    except ValueError as err:
        raise ValueError(f"--output-activation: {err}") from None
    resolved = from_dict({**config, "name": DOCTOR, "axis": "run", "repeats": 1},
                         source=DOCTOR).variants()[0].config
    return resolved, loss


# The flags that describe a run; with --study the study does.
SETUP_FLAGS = ("dataset", "data_arg", "hidden", "activation", "initializer", "optimizer",
               "momentum", "opt_arg", "batch_size", "no_shuffle", "lr", "output_activation",
               "loss")


def study_run(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """``--study``'s value ``--value`` (default: the first): its label and its resolved
    configuration with ``--set`` applied; a ValueError for a setup flag given beside it."""
    from hyperlab import studies
    parser = build_doctor_defaults()
    given = [f for f in SETUP_FLAGS if getattr(args, f) != parser[f]]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise ValueError(f"{flag}: with --study the run is the study's; change it with "
                         "--set KEY=VALUE (e.g. --set compile.optimizer.learning_rate=0.01)")
    study = studies.get(args.study)
    variants = study.variants()
    labels = [v.label for v in variants]
    if args.value is not None and args.value not in labels:
        raise ValueError(f"--value {args.value!r}: not a value of study {study.name!r}; "
                         f"choose one of {', '.join(map(repr, labels))}")
    variant = variants[labels.index(args.value)] if args.value is not None else variants[0]
    run = studies.from_dict({k: variant.config[k] for k in ("data", "model", "compile", "fit")}
                            | {"name": study.name, "repeats": 1},
                            source=f"{args.study} value {variant.label!r}")
    return variant.label, run.with_overrides(sets=args.sets).variants()[0].config


def build_doctor_defaults() -> dict[str, Any]:
    """The doctor parser's default of every setup flag."""
    parser = argparse.ArgumentParser()
    add_doctor_parser(parser.add_subparsers())
    defaults = vars(parser.parse_args([DOCTOR]))
    return {f: defaults[f] for f in SETUP_FLAGS}


COMMANDS = (add_lr_sweep_parser, add_noise_scale_parser, add_epochs_parser,
            add_critical_batch_parser, add_scaling_rule_parser, add_doctor_parser)


def sweep_config(args: argparse.Namespace) -> dict[str, Any]:
    """The study configuration the flags describe (its learning rate is swept)."""
    for flag, value, least in (("--seeds", args.seeds, 1), ("--rates", args.rates, 2),
                               ("--epochs", args.epochs, 1),
                               ("--range-epochs", args.range_epochs, 3)):
        if value < least:
            raise ValueError(f"{flag} must be an int >= {least}, got {value}")
    if not 0 < args.low < args.high < float("inf"):
        raise ValueError(f"--low and --high need 0 < low < high, got --low {args.low:g} "
                         f"--high {args.high:g} (e.g. --low 1e-5 --high 10)")
    opt_args = parse_pairs(args.opt_arg, "--opt-arg")
    for key in ("learning_rate", "lr"):
        if key in opt_args:
            raise ValueError(f"--opt-arg {key}: the learning rate is what lr-sweep sweeps; "
                             "set its range with --low and --high")
    return setup_config(args, opt_args, args.low)


def setup_config(args: argparse.Namespace, opt_args: dict[str, Any], rate: float | None
                 ) -> dict[str, Any]:
    """The configuration the flags of :func:`setup_flags` describe, with ``opt_args``
    (``rate``: a learning rate the optimizer is checked with)."""
    opt_name = args.optimizer.strip().lower()
    if args.momentum is not None:
        if "momentum" in opt_args:
            raise ValueError("--momentum and --opt-arg momentum=... both given; use one")
        opt_args["momentum"] = args.momentum
    elif opt_name == "sgd":
        opt_args.setdefault("momentum", TUTORIAL_MOMENTUM)
    from hyperlab.data import datasets
    from hyperlab.engine import optimizers
    if args.dataset not in datasets.NAMES:
        raise ValueError(f"--dataset {args.dataset}: unknown dataset; choose one of "
                         f"{', '.join(datasets.NAMES)}")
    try:
        optimizer_cls = type(optimizers.get(opt_name))
    except ValueError as err:
        raise ValueError(f"--optimizer: {err}") from None
    try:  # the optimizers' own ValueErrors name the class and the argument
        optimizer_cls(**({} if rate is None else {"learning_rate": rate}), **opt_args)
    except TypeError as err:
        raise ValueError(f"{optimizer_cls.__name__}: {err}") from None
    data_args = parse_pairs(args.data_arg, "--data-arg")
    if "name" in data_args:
        raise ValueError("--data-arg name=...: choose the dataset with --dataset")
    return {"data": {"name": args.dataset, **data_args},
            "model": {"hidden": list(args.hidden), "activation": args.activation,
                      "initializer": args.initializer},
            "compile": {"optimizer": {"name": opt_name, **opt_args}},
            "fit": {"batch_size": parse_batch_size(args.batch_size),
                    "shuffle": not args.no_shuffle}}


def cmd_lr_sweep(args: argparse.Namespace) -> int:
    """Train what the store lacks, analyse, write the figure and print the answer."""
    from hyperlab._fileio import output_folder
    from hyperlab.science import figures, lr_sweep
    config = sweep_config(args)
    out = Path(args.out)
    folder = output_folder(out / NAME, "the learning-rate sweep")  # before training
    db = Path(args.db) if args.db else out / "hyperlab.db"
    result = lr_sweep(config, low=args.low, high=args.high, count=args.rates,
                      seeds=args.seeds, epochs=args.epochs,
                      range_epochs=None if args.no_range_test else args.range_epochs,
                      db=db, progress=not args.no_progress)
    data = {**result.to_dict(),
            "figures": [str(p) for p in figures.save_lr_sweep(result, folder)]}
    return _publish(args, folder, NAME, data, result, "the sweep's results")


def noise_config(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration the noise-scale flags describe."""
    for flag, value, least in (("--probe", args.probe, 2), ("--b-small", args.b_small, 1)):
        if value < least:
            raise ValueError(f"{flag} must be an int >= {least}, got {value}")
    if args.b_big is not None and not (args.b_small < args.b_big <= args.probe
                                       and args.b_big % args.b_small == 0):
        raise ValueError(f"--b-big {args.b_big}: it must be a multiple of --b-small "
                         f"({args.b_small}), above it and at most --probe ({args.probe})")
    return training_config(args, least_epochs=1)


def training_config(args: argparse.Namespace, least_epochs: int) -> dict[str, Any]:
    """The configuration of flags with --lr, --seeds and --epochs (at least
    ``least_epochs``)."""
    for flag, value, least in (("--seeds", args.seeds, 1),
                               ("--epochs", args.epochs, least_epochs)):
        if value < least:
            raise ValueError(f"{flag} must be an int >= {least}, got {value}")
    return rate_config(args)


def rate_config(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration of the flags of :func:`setup_flags` with --lr."""
    opt_args = parse_pairs(args.opt_arg, "--opt-arg")
    if args.lr is not None:
        if "learning_rate" in opt_args or "lr" in opt_args:
            raise ValueError("--lr and --opt-arg learning_rate=... both given; use one")
        if not 0 < args.lr < float("inf"):
            raise ValueError(f"--lr must be > 0, got {args.lr:g}")
        opt_args["learning_rate"] = args.lr
    return setup_config(args, opt_args, None)


def cmd_noise_scale(args: argparse.Namespace) -> int:
    """Train, measure, write the figure and JSON, and print the answer."""
    from hyperlab._fileio import output_folder
    config = noise_config(args)
    folder = output_folder(Path(args.out) / NOISE, "the noise scale")  # before training
    from hyperlab.science import figures, noise_scale_curve
    curve = noise_scale_curve(config, seeds=args.seeds, epochs=args.epochs, probe=args.probe,
                              b_small=args.b_small, b_big=args.b_big)
    data = {**curve.to_dict(),
            "figures": [str(p) for p in figures.save_noise_scale(curve, folder)]}
    return _publish(args, folder, NOISE, data, curve, "the noise scale's results")


def cmd_epochs(args: argparse.Namespace) -> int:
    """Train what the store lacks, analyse, write the JSON and print the answer."""
    from hyperlab._fileio import output_folder
    config = training_config(args, least_epochs=4)
    out = Path(args.out)
    folder = output_folder(out / EPOCHS_NAME, "the epochs analysis")  # before training
    from hyperlab.science import how_many_epochs
    advice = how_many_epochs(config, seeds=args.seeds, epochs=args.epochs,
                             db=Path(args.db) if args.db else out / "hyperlab.db",
                             progress=not args.no_progress)
    return _publish(args, folder, EPOCHS_NAME, advice.to_dict(), advice, "the epochs analysis")
