"""The command line under bad input and faults: every user error is ONE line on stderr and
exit code 2 (Ctrl-C: 130), never a traceback, and nothing written before is damaged.

Faults are real where that is cheap (crafted data files, a file where the output folder
should be, SIGINT to a real process while JAX imports) and simulated where it is not: out of
memory raises what jaxlib raises, and a full disk is a file whose writes fail with ENOSPC
once it holds a few hundred bytes (the temporary file is really left truncated).
"""
from __future__ import annotations

import errno
import fnmatch
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import numpy as np
import pytest

from crafted import FillingDisk, npy, npy_header, snapshot, write_zip
from hyperlab.cli import _common
from hyperlab.cli.main import main
from hyperlab.engine.model import Sequential
from hyperlab.studies import executors
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

OOM = "RESOURCE_EXHAUSTED: Out of memory allocating 20000013448 bytes."
QUICK = ["--epochs", "1", "--verbose", "0"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *parts: str) -> str:
    """The single ``hyperlab: error:`` line of ``err``, holding every one of ``parts``."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperlab: error: "), err
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def results(figures=()) -> StudyResults:
    """Stored-looking results of the built-in momentum study: 2 values x 2 seeds."""
    def runs(final):
        e = np.arange(1, 6)
        return [RunResult(key=f"k{final}{s}", seed=s, updates=50, wall_time_s=0.1,
                          history={"loss": list(1 / e), "accuracy": list(final - 0.1 / e),
                                   "val_loss": list(1.1 / e), "learning_rate": [0.01] * 5,
                                   "val_accuracy": list(final + 0.01 * s - 0.1 / e)})
                for s in range(2)]
    values = [ValueResult("0.0", 0.0, runs(0.8)), ValueResult("0.9", 0.9, runs(0.9))]
    return StudyResults(name="momentum", description="momentum", axis="Momentum",
                        values=values, config={}, figures=list(figures))


@pytest.fixture()
def trains(monkeypatch):
    """``hyperlab run`` trains nothing: its study 'trains' into the given results."""
    def use(value=None, raises=None):
        def run_study(*args, **kwargs):
            if raises is not None:
                raise raises
            return value
        monkeypatch.setattr(executors, "run_study", run_study)
    return use


@pytest.fixture()
def stored(monkeypatch):
    """``plot`` and ``report`` read these results as the store's."""
    res = results(figures=("overlay",))
    fake = lambda args: (res, Path(args.out))  # noqa: E731
    monkeypatch.setattr(_common, "stored_results", fake)
    return res


def fill_disk(monkeypatch, suffix: str = "", room: int = 300) -> None:
    """The disk is full after ``room`` bytes of each temporary file named ``*<suffix>.tmp``."""
    real = os.fdopen

    def fdopen(fd, *args, **kwargs):
        f = real(fd, *args, **kwargs)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))  # .<name>.<random>.tmp
        return FillingDisk(f, room) if fnmatch.fnmatch(name, f".*{suffix}.*.tmp") else f

    monkeypatch.setattr(os, "fdopen", fdopen)


# ------------------------------------------------------------------------- out of memory
def test_fit_out_of_memory_names_the_model_size_and_the_flag(capsys, monkeypatch):
    def fit(*args, **kwargs):
        raise jax.errors.JaxRuntimeError(OOM)
    monkeypatch.setattr(Sequential, "fit", fit)
    code, out, err = run(capsys, "fit", "--hidden", "100000", *QUICK)
    assert code == 2 and out == ""
    one_line(err, "out of memory", "600,003 parameters", "18.6 GiB", "--hidden")


@pytest.mark.parametrize("where", ["build", "fit"])
def test_fit_memory_error_anywhere_is_one_line(capsys, monkeypatch, where):
    def fail(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(Sequential, where, fail)
    code, _, err = run(capsys, "fit", *QUICK)
    assert code == 2
    one_line(err, "out of memory", "parameters", "--hidden")


def test_study_out_of_memory_names_the_flags_that_bound_it(capsys, trains, tmp_path):
    trains(raises=jax.errors.JaxRuntimeError(OOM))
    code, _, err = run(capsys, "run", "momentum", "--out", tmp_path, "--no-progress")
    assert code == 2
    one_line(err, "out of memory", "--max-cohort-runs", "--memory-budget")


def test_a_runtime_error_that_is_not_memory_is_not_hidden(capsys, trains, tmp_path):
    trains(raises=RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["run", "momentum", "--out", str(tmp_path), "--no-progress"])


# ------------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_while_fitting(capsys, monkeypatch):
    def fit(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(Sequential, "fit", fit)
    code, out, err = run(capsys, "fit", *QUICK)
    assert code == 130 and out == ""
    assert one_line(err) == "hyperlab: error: interrupted"


def test_ctrl_c_while_a_study_trains_says_how_to_resume(capsys, trains, tmp_path):
    trains(raises=KeyboardInterrupt())
    code, _, err = run(capsys, "run", "momentum", "--out", tmp_path, "--no-progress")
    assert code == 130
    one_line(err, "interrupted", "run the same command to resume")


def test_ctrl_c_while_the_modules_import(capsys, monkeypatch):
    import hyperlab.cli.main as cli

    def commands():
        raise KeyboardInterrupt  # as an import inside build_parser would
    monkeypatch.setattr(cli, "_commands", commands)
    code, out, err = run(capsys, "studies")
    assert code == 130 and out == ""
    one_line(err, "interrupted")


def test_sigint_during_the_imports_waits_for_them_to_finish(capsys, monkeypatch):
    """An interrupt inside a C extension's initialization would abort the interpreter: it is
    held until the imports are done, then ends the command."""
    import hyperlab.cli.main as cli

    real = cli._commands
    done = []

    def commands():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # Python runs signal handlers between bytecodes: let it
        done.append(True)
        return real()
    monkeypatch.setattr(cli, "_commands", commands)
    code, _, err = run(capsys, "studies")
    assert code == 130 and done == [True]
    one_line(err, "interrupted")


def _interrupt_once_loaded(argv: list[str], marker: str) -> tuple[int, str, str]:
    """Start ``argv``, send SIGINT as soon as a shared library whose path holds ``marker``
    is mapped (the process is then importing it), and return (exit code, stdout, stderr)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if marker in maps.read_text():
                break
        except OSError:
            pass
        time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_ctrl_c_in_the_first_second_of_a_real_process():
    """``python -m hyperlab studies`` and the ``hyperlab`` script, interrupted while numpy and
    while jaxlib load (detected from the process's memory map, not guessed from a delay)."""
    cases = [([sys.executable, "-m", "hyperlab", "studies"], "numpy")]
    script = Path(sys.executable).with_name("hyperlab")
    cases.append(([str(script), "studies"] if script.exists()
                  else [sys.executable, "-m", "hyperlab", "studies"], "jaxlib"))
    with ThreadPoolExecutor(len(cases)) as pool:
        outcomes = list(pool.map(lambda c: _interrupt_once_loaded(*c), cases))
    for (argv, marker), (code, out, err) in zip(cases, outcomes):
        assert (code, out, err) == (130, "", "hyperlab: error: interrupted\n"), (argv, marker)


# ------------------------------------------------------------------------------- outputs
def test_the_study_folder_is_a_file(capsys, trains, tmp_path):
    trains(results())
    (tmp_path / "momentum").write_text("my notes")
    code, _, err = run(capsys, "run", "momentum", "--out", tmp_path, "--no-progress")
    assert code == 2
    one_line(err, str(tmp_path / "momentum"), "is a file, not a folder", "--out")
    assert (tmp_path / "momentum").read_text() == "my notes"


def test_the_output_folder_is_a_file(capsys, trains, tmp_path):
    trains(results())
    (tmp_path / "out").write_text("my notes")
    code, _, err = run(capsys, "run", "momentum", "--out", tmp_path / "out", "--no-progress")
    assert code == 2
    one_line(err, "--out")
    assert (tmp_path / "out").read_text() == "my notes"


def test_a_full_disk_never_damages_a_good_summary(capsys, trains, tmp_path, monkeypatch):
    trains(results())
    assert run(capsys, "run", "momentum", "--out", tmp_path, "--no-progress")[0] == 0
    folder = tmp_path / "momentum"
    before = snapshot(folder)
    assert before["summary.csv"].startswith(b"value,n,")
    fill_disk(monkeypatch, ".csv")
    code, _, err = run(capsys, "run", "momentum", "--out", tmp_path, "--no-progress")
    assert code == 2
    one_line(err, str(folder / "summary.csv"), "disk is full", "unchanged")
    assert snapshot(folder) == before  # byte-identical, and no temporary file left


def test_a_full_disk_never_leaves_a_truncated_svg(capsys, stored, tmp_path, monkeypatch):
    folder = tmp_path / "momentum"
    fill_disk(monkeypatch, ".svg")
    code, _, err = run(capsys, "plot", "momentum", "--out", tmp_path)
    assert code == 2
    one_line(err, "momentum-measures.svg", "disk is full")
    assert sorted(snapshot(folder)) == ["momentum-measures.png"]  # the SVG is not there at all
    monkeypatch.undo()
    stored_again = results(figures=("overlay",))
    monkeypatch.setattr(_common, "stored_results", lambda args: (stored_again, tmp_path))
    assert run(capsys, "plot", "momentum", "--out", tmp_path)[0] == 0
    good = snapshot(folder)
    assert good["momentum-overlay.svg"].rstrip().endswith(b"</svg>")
    fill_disk(monkeypatch, ".svg")
    assert run(capsys, "plot", "momentum", "--out", tmp_path)[0] == 2
    assert snapshot(folder) == good  # the good figures stay as they were


def test_a_full_disk_keeps_the_previous_report(capsys, stored, tmp_path, monkeypatch):
    target = tmp_path / "r.html"
    target.write_text("<html>the good report</html>")
    fill_disk(monkeypatch, ".html")
    code, _, err = run(capsys, "report", "momentum", "--out", target)
    assert code == 2
    one_line(err, str(target), "disk is full")
    assert snapshot(tmp_path) == {"r.html": b"<html>the good report</html>"}


def test_a_report_under_a_file(capsys, stored, tmp_path):
    (tmp_path / "blocker").write_text("x")
    code, _, err = run(capsys, "report", "momentum", "--out", tmp_path / "blocker" / "r.html")
    assert code == 2
    one_line(err, "blocker", "not a folder")


def test_plot_into_a_study_folder_that_is_a_file(capsys, stored, tmp_path):
    (tmp_path / "momentum").write_text("x")
    code, _, err = run(capsys, "plot", "momentum", "--out", tmp_path)
    assert code == 2
    one_line(err, "momentum")


def test_another_write_error_is_one_line(capsys, trains, tmp_path, monkeypatch):
    trains(results())

    def replace(*args):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run(capsys, "run", "momentum", "--out", tmp_path, "--no-progress")
    assert code == 2
    one_line(err, "summary.csv", "Permission denied")
    assert not list((tmp_path / "momentum").glob("*.tmp"))


# --------------------------------------------------------------------- flags and files
def _bomb_npz(path: Path) -> Path:
    header = npy_header((1 << 28, 2))
    return write_zip(path, {"x.npy": header, "y.npy": npy(np.zeros(6))},
                     {"x.npy": len(header) + 8 * (1 << 28)})


@pytest.mark.parametrize("argv, parts", [
    (["run", "momentum", "--memory-budget", "lots"], ["--memory-budget", "lots"]),
    (["run", "momentum", "--memory-budget", "0"], ["--memory-budget"]),
    (["run", "momentum", "--max-cohort-runs", "0"], ["--max-cohort-runs"]),
    (["run", "no-such-study"], ["no-such-study"]),
    (["run", "momentum", "--set", "fit.epochs"], ["fit.epochs"]),
    (["fit", "--hidden", "1e9"], ["--hidden", "1e9"]),
    (["fit", "--hidden", "-3"], ["units"]),
    (["fit", "--epochs", "-1"], ["epochs"]),
    (["fit", "--batch-size", "0"], ["batch_size"]),
    (["fit", "--dataset", "npz", "--data-arg", "path={tmp}/bomb.npz"], ["bomb.npz", "more than"]),
    (["fit", "--dataset", "csv", "--data-arg", "path={tmp}/junk.csv"], ["junk.csv", "UTF-8"]),
    (["fit", "--dataset", "npz", "--data-arg", "path={tmp}/nothing.npz"], ["nothing.npz"]),
])
def test_bad_flags_and_files(capsys, tmp_path, argv, parts):
    _bomb_npz(tmp_path / "bomb.npz")
    (tmp_path / "junk.csv").write_bytes(np.random.default_rng(1).bytes(500))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run(capsys, argv[0], *(QUICK if argv[0] == "fit" else ["--out", tmp_path]),
                         *argv[1:])
    assert code == 2 and out == ""
    one_line(err, *parts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.npz", "junk.csv"]
