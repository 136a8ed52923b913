"""Shared helpers of the visual tools: safe ``Name(arg=literal, ...)`` specs, output paths,
pyplot without a window, frame blitting and GIF/MP4 writing."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from hyperlab.studies import build

GREEN_ORANGE_RED = ("#1a9850", "#fdae61", "#f46d43", "#d73027")  # steps: early -> late


# ------------------------------------------------------------------------------- call specs
def parse_call(text: str, what: str, nested: Callable[[str, list, dict], Any] | None = None
               ) -> tuple[str, list[Any], dict[str, Any]]:
    """``Name`` or ``Name(arg, key=value, ...)`` -> (name, args, kwargs), never evaluated.

    Each value must be a Python literal (``ast.literal_eval``: numbers, strings, True/False/
    None, lists, tuples, dicts); with ``nested``, a value may also be another call, which
    ``nested(name, args, kwargs)`` builds (e.g. a schedule as an optimizer's learning rate).
    Raises one-line ValueErrors that name ``what`` (e.g. ``--optimizer``).
    """
    source = " ".join(str(text).split())
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise ValueError(f"{what}: cannot parse {source!r}; expected NAME or NAME(key=value, "
                         "...), e.g. \"SGD(learning_rate=0.1, momentum=0.9)\"") from None
    return _call(node, source, what, nested)


def _call(node: ast.AST, source: str, what: str, nested) -> tuple[str, list, dict]:
    if isinstance(node, ast.Name):
        return node.id, [], {}
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise ValueError(f"{what}: {source!r} is not NAME or NAME(key=value, ...)")
    args = [_literal(a, source, what, nested) for a in node.args]
    kwargs: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise ValueError(f"{what}: **arguments are not allowed in {source!r}")
        if kw.arg in kwargs:
            raise ValueError(f"{what}: {kw.arg!r} given twice in {source!r}")
        kwargs[kw.arg] = _literal(kw.value, source, what, nested)
    return node.func.id, args, kwargs


def _literal(node: ast.AST, source: str, what: str, nested) -> Any:
    if isinstance(node, ast.Starred):
        raise ValueError(f"{what}: *arguments are not allowed in {source!r}")
    if isinstance(node, ast.Call) and nested is not None:
        return nested(*_call(node, source, what, nested))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        text = ast.get_source_segment(source, node) or ast.dump(node)
        raise ValueError(f"{what}: {text!r} in {source!r} is not a literal value (numbers, "
                         "strings, True/False/None, lists)") from None


def format_call(name: str, kwargs: dict[str, Any]) -> str:
    """``Name(k=v, ...)``; ``learning_rate`` shortened to ``lr`` for labels."""
    parts = []
    for k, v in kwargs.items():
        k = "lr" if k == "learning_rate" else k
        shown = f"{type(v).__name__}(...)" if hasattr(v, "get_config") else repr(v)
        parts.append(f"{k}={shown}")
    return f"{name}({', '.join(parts)})"


def build_optimizer(spec: Any, *, lr: float | None = None, momentum: float | None = None,
                    tutorial_sgd: bool = True, what: str = "--optimizer"):
    """An optimizer and its label from ``spec``: an Optimizer, ``"adam"`` or
    ``"SGD(learning_rate=0.1, momentum=0.9)"`` (learning_rate may be a schedule call,
    ``"Adam(learning_rate=CosineDecay(initial_learning_rate=0.01, decay_steps=500))"``).

    A bare ``sgd`` is the tutorials' ``SGD(learning_rate=0.01, momentum=0.9)`` (as
    ``hyperlab fit``) when ``tutorial_sgd``; a call uses Keras defaults for what it omits.
    ``lr``/``momentum`` fill in arguments the spec does not set (``momentum`` only for
    optimizers that have one).
    """
    from hyperlab.engine import optimizers, schedules

    if isinstance(spec, optimizers.Optimizer):
        return spec, format_call(type(spec).__name__, _explicit(spec))

    def schedule(name, args, kwargs):
        if name not in schedules.NAMES:
            raise ValueError(f"{what}: {name!r} is not a learning-rate schedule; only a "
                             f"schedule call may be nested ({', '.join(schedules.NAMES)})")
        if args:
            raise ValueError(f"{what}: {name}(...) takes keyword arguments only")
        try:
            sched = schedules.get(name, **kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{what}: {err}") from None
        if sched.per_epoch:
            raise ValueError(f"{what}: {name} counts epochs, not optimizer updates, so it "
                             "cannot be an optimizer's learning rate")
        return sched

    name, args, kwargs = parse_call(spec, what, nested=schedule)
    try:
        cls = build.optimizer_class(name)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
    bare = "(" not in str(spec)
    if bare and tutorial_sgd and cls.__name__ == "SGD":
        kwargs = dict(build.TUTORIAL_SGD)
    if lr is not None and not args and "learning_rate" not in kwargs and "lr" not in kwargs:
        kwargs["learning_rate"] = lr
    if momentum is not None and "momentum" in _parameters(cls) and "momentum" not in kwargs:
        kwargs["momentum"] = momentum
    try:
        opt = cls(*args, **kwargs)
    except (TypeError, ValueError) as err:
        message = str(err)
        if not message.startswith(cls.__name__):
            message = f"{cls.__name__}: {message}"
        raise ValueError(f"{what}: {message}") from None
    import inspect
    given = dict(inspect.signature(cls).bind_partial(*args, **kwargs).arguments)
    given.pop("kwargs", None)
    given = {("learning_rate" if k == "lr" else k): v for k, v in {**given, **kwargs}.items()}
    if "learning_rate" not in given:
        given = {"learning_rate": opt.learning_rate, **given}
    return opt, format_call(cls.__name__, given)


def _parameters(cls) -> list[str]:
    import inspect
    return list(inspect.signature(cls.__init__).parameters)


def _explicit(opt) -> dict[str, Any]:
    """An optimizer's learning rate and the numeric/flag arguments that differ from the
    class defaults (for labels)."""
    import inspect
    defaults = {k: p.default for k, p in inspect.signature(type(opt).__init__).parameters.items()}
    out: dict[str, Any] = {"learning_rate": opt.learning_rate}
    for k in type(opt)._numeric + type(opt)._flags:
        if getattr(opt, k) != defaults.get(k):
            out[k] = getattr(opt, k)
    if opt.decay:
        out["decay"] = opt.decay
    return out


# ------------------------------------------------------------------------------- outputs
def check_output(path: str | Path, suffixes: Sequence[str], what: str = "--out") -> Path:
    """``path`` if its suffix is one of ``suffixes`` and it can be written (its directory is
    created if needed), else a one-line ValueError; nothing is left behind."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise ValueError(f"{what} {path}: unsupported file type {suffix or '(none)'!r}; "
                         f"use one of {', '.join(suffixes)}")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise ValueError(f"{what} {path}: writing MP4 needs ffmpeg on PATH (not found); "
                         "install ffmpeg or write a .gif")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory; give a file name")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".hyperlab-write-test"):
            pass
    except OSError as err:
        raise ValueError(f"{what} {path}: cannot write there ({err.strerror or err}); "
                         "choose another path") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{what} {path}: the file exists and is not writable")
    return path


def pyplot():
    """pyplot on the non-interactive Agg backend unless the user chose one."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        import matplotlib
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: Path, dpi: int = 100) -> Path:
    """``fig.savefig`` with reproducible bytes (no dates, fixed SVG ids), written atomically
    (never half a file under ``path``), then close it."""
    import matplotlib
    from hyperlab._fileio import atomic_write
    suffix = path.suffix.lower()
    meta = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(suffix, {})
    try:
        with matplotlib.rc_context({"svg.hashsalt": "hyperlab"}), \
                atomic_write(path, "figure") as fh:
            fig.savefig(fh, format=suffix.lstrip(".") or None, dpi=dpi, metadata=meta)
    finally:
        pyplot().close(fig)
    return path


def time_cmap():
    """The colormap of steps over time: green -> orange -> red."""
    from matplotlib.colors import LinearSegmentedColormap
    return LinearSegmentedColormap.from_list("green_orange_red", GREEN_ORANGE_RED)


class Blitter:
    """Frames of a figure whose static part is drawn once: per frame only the ``animated``
    artists are redrawn over the saved background (much faster than ``savefig``)."""

    def __init__(self, fig, animated: Sequence[Any]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        self.fig = fig
        canvas = fig.canvas
        self.canvas = canvas if isinstance(canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        self.animated = list(animated)
        for artist in self.animated:
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def frame(self) -> np.ndarray:
        """The figure now, as an (H, W, 3) uint8 array."""
        self.canvas.restore_region(self.background)
        for artist in self.animated:
            self.fig.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def write_frames(frames: Iterable[np.ndarray], path: Path, fps: float) -> int:
    """Write RGB frames as GIF (Pillow, looping) or MP4 (ffmpeg); returns the frame count.

    A GIF uses one palette for all frames (median cut over the first, middle and last
    frame, no dithering), so unchanged pixels between frames cost nothing; deterministic.
    """
    if path.suffix.lower() == ".mp4":
        return _write_mp4(frames, path, fps)
    from PIL import Image
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write")
    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], axis=0)
    palette = Image.fromarray(sample).quantize(colors=255, method=Image.Quantize.MEDIANCUT,
                                               dither=Image.Dither.NONE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
              for f in frames]
    from hyperlab._fileio import atomic_write
    with atomic_write(path, "animation") as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=max(20, int(round(1000 / fps))), optimize=True, disposal=1)
    return len(images)


def _write_mp4(frames: Iterable[np.ndarray], path: Path, fps: float) -> int:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ValueError(f"{path}: writing MP4 needs ffmpeg on PATH (not found); write a .gif")
    proc = None
    count = 0
    for f in frames:
        h, w = f.shape[0] // 2 * 2, f.shape[1] // 2 * 2  # yuv420p needs even sizes
        f = np.ascontiguousarray(f[:h, :w])
        if proc is None:
            proc = subprocess.Popen(
                [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                 "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-an", "-vcodec", "libx264",
                 "-pix_fmt", "yuv420p", str(path)],
                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.stdin.write(f.tobytes())
        except BrokenPipeError:
            break
        count += 1
    if proc is None:
        raise ValueError("no frames to write")
    _, err = proc.communicate()
    if proc.returncode != 0:
        detail = " ".join(err.decode(errors="replace").split())[-300:]
        raise ValueError(f"{path}: ffmpeg failed (exit {proc.returncode}): {detail}")
    return count
