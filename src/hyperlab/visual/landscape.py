"""Optimizer paths on loss landscapes: hyperlab's optimizers on small test functions.

The functions (``LANDSCAPES``; each takes a float32 vector ``x``):

- ``wavy`` (1-D): ``0.02 x^4 - 0.25 x^2 - 0.4 x + 0.4 sin(4x)``, the chapter's "function to
  minimize": local minima at x = -3.2347 (f = 0.7221), -1.9600 (-0.2812), -0.3574 (-0.2847)
  and 1.3230 (-1.2402), global minimum at x = 2.763493402 (f = -2.247495860). From the
  default start x = -4, a small learning rate stops in the first local minimum; momentum
  carries the point over the bumps to the global one.
- ``rosenbrock``: ``(1 - x)^2 + 100 (y - x^2)^2``, global minimum (1, 1), f = 0, at the end
  of a long curved valley.
- ``beale``: ``(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2``, global
  minimum (3, 0.5), f = 0.
- ``saddle``: ``x^2 - y^2``: a saddle point at (0, 0) and no minimum (unbounded below along
  y); the report says where the path went.
- ``bowl``: ``0.05 x^2 + 2.5 y^2``, an ill-conditioned quadratic (curvatures 0.1 and 5,
  condition number 50), minimum (0, 0).

:func:`run_paths` runs optimizers for N steps from a start, as one compiled ``lax.scan``
per optimizer class (the runs of one class are vmapped over their hyperparameters), and
classifies each path (:class:`PathResult`): ``converged`` (within ``tol`` of the global
minimum from some step on, and stayed), ``local minimum``, ``saddle point``, ``no minimum``
(the function has none), ``diverged`` (non-finite or beyond 1e6) or ``not converged``.

    import hyperlab.visual.landscape as ls
    results = ls.run_paths("rosenbrock", ["SGD(learning_rate=1e-3, momentum=0.9)",
                                          "Adam(learning_rate=0.05)"], steps=500)
    print(ls.format_table(results))
    ls.landscape_figure("rosenbrock", results).savefig("rosenbrock.png")
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hyperlab._constraints import POSITIVE, POSITIVE_INT, check_at
from hyperlab.visual import _util

__all__ = ["Landscape", "PathResult", "LANDSCAPES", "get", "run_paths", "format_table",
           "landscape_figure", "landscape_animation", "save", "FIGURE_SUFFIXES",
           "ANIMATION_SUFFIXES"]

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
ANIMATION_SUFFIXES = (".gif", ".mp4")
DIVERGED = 1e6          # |x| beyond this counts as diverged
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
# run colours avoid green, orange and red, which mark time along the paths
RUN_COLORS = ("tab:blue", "tab:purple", "black", "tab:cyan", "tab:pink", "tab:brown",
              "tab:olive", "tab:gray", "navy", "magenta")


@dataclass(frozen=True)
class Landscape:
    """A test function and what is known about it."""

    name: str
    dim: int
    fn: Callable[[jax.Array], jax.Array]
    formula: str
    minimum: tuple[float, ...] | None       # the global minimum (None: there is none)
    min_value: float | None
    start: tuple[float, ...]
    bounds: tuple[tuple[float, float], ...]  # plot range per coordinate
    log_levels: bool = False
    local_minima: tuple[tuple[float, ...], ...] = ()
    optimizers: tuple[str, ...] = ()        # the default comparison
    steps: int = 500


def _wavy(x):
    x = x[0]
    return 0.02 * x**4 - 0.25 * x**2 - 0.4 * x + 0.4 * jnp.sin(4 * x)


def _rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(p):
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _saddle(p):
    return p[0] ** 2 - p[1] ** 2


def _bowl(p):
    return 0.05 * p[0] ** 2 + 2.5 * p[1] ** 2


LANDSCAPES: dict[str, Landscape] = {ls.name: ls for ls in (
    Landscape("wavy", 1, _wavy, "0.02x⁴ − 0.25x² − 0.4x + 0.4 sin 4x",
              (2.7634934023578954,), -2.2474958602564152, (-4.0,), ((-4.3, 4.0),),
              local_minima=((-3.234703902318253,), (-1.9600010306563136,),
                            (-0.35743613929052176,), (1.322986262627907,)),
              optimizers=("SGD(learning_rate=0.01)", "SGD(learning_rate=0.01, momentum=0.9)",
                          "SGD(learning_rate=0.03, momentum=0.9)",
                          "SGD(learning_rate=0.08, momentum=0.9)"),
              steps=300),
    Landscape("rosenbrock", 2, _rosenbrock, "(1 − x)² + 100 (y − x²)²", (1.0, 1.0), 0.0,
              (-1.5, 2.0), ((-2.0, 2.0), (-1.0, 3.0)), log_levels=True,
              optimizers=("SGD(learning_rate=0.001, momentum=0.9)", "Adam(learning_rate=0.05)"),
              steps=2000),
    Landscape("beale", 2, _beale, "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
              (3.0, 0.5), 0.0, (1.0, 1.5), ((-4.5, 4.5), (-4.5, 4.5)), log_levels=True,
              optimizers=("SGD(learning_rate=0.001, momentum=0.9)", "Adam(learning_rate=0.05)"),
              steps=2000),
    Landscape("saddle", 2, _saddle, "x² − y²", None, None, (1.5, 0.05),
              ((-2.0, 2.0), (-2.0, 2.0)),
              optimizers=("SGD(learning_rate=0.01)", "Adam(learning_rate=0.01)"), steps=300),
    Landscape("bowl", 2, _bowl, "0.05x² + 2.5y²", (0.0, 0.0), 0.0, (-4.0, 1.0),
              ((-5.0, 5.0), (-2.0, 2.0)),
              optimizers=("SGD(learning_rate=0.38)", "SGD(learning_rate=0.1, momentum=0.9)",
                          "Adam(learning_rate=0.1)"),
              steps=300),
)}


def get(name: str | Landscape) -> Landscape:
    if isinstance(name, Landscape):
        return name
    key = str(name).lower()
    if key not in LANDSCAPES:
        raise ValueError(f"unknown landscape {name!r}; choose one of {', '.join(LANDSCAPES)}")
    return LANDSCAPES[key]


@dataclass
class PathResult:
    """One optimizer's path and what became of it."""

    label: str
    optimizer: Any
    path: np.ndarray                 # (steps + 1, dim): the start, then after each step
    values: np.ndarray               # f along the path
    status: str                      # converged | local minimum | saddle point | no minimum
                                     # | diverged | not converged
    steps_to_minimum: int | None     # first step from which it stayed within tol
    diverged_step: int | None = None
    tol: float = 1e-2
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final_point(self) -> np.ndarray:
        return self.path[-1]

    @property
    def final_value(self) -> float:
        return float(self.values[-1])


# ---------------------------------------------------------------------------- running
@functools.lru_cache(maxsize=64)
def _program(name: str, static: tuple, steps: int, opt_ref: "_OptRef"):
    fn = get(name).fn
    opt = opt_ref.opt
    grad = jax.grad(lambda p: fn(p["x"]))

    def one(x0, state):
        def step(carry, _):
            p, s = carry
            p, s = opt.apply(p, grad(p), s)
            return (p, s), p["x"]
        _, xs = jax.lax.scan(step, ({"x": x0}, state), None, length=steps)
        xs = jnp.concatenate([x0[None], xs])
        return xs, jax.vmap(fn)(xs)

    return jax.jit(jax.vmap(one))


class _OptRef:
    """Hashable by the optimizer's structure (values come in through its state)."""

    def __init__(self, opt) -> None:
        self.opt, self.key = opt, opt.static_config()

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _OptRef) and other.key == self.key


def run_paths(landscape: str | Landscape, optimizers: Sequence[Any] | None = None, *,
              steps: int | None = None, start: Sequence[float] | None = None,
              tol: float = 1e-2) -> list[PathResult]:
    """Run each optimizer (an instance or a spec such as ``"SGD(learning_rate=0.1,
    momentum=0.9)"``; a bare name uses Keras defaults) for ``steps`` updates from ``start``
    (default: the landscape's) and classify its path. Optimizers of one class and structure
    run together as one vmapped program."""
    ls = get(landscape)
    steps = ls.steps if steps is None else steps
    steps = int(check_at(steps, POSITIVE_INT, "--steps"))
    check_at(tol, POSITIVE, "--tol")
    x0 = np.asarray(ls.start if start is None else start, dtype=np.float64).ravel()
    if x0.shape != (ls.dim,) or not np.all(np.isfinite(x0)):
        got = " ".join(f"{float(v):g}" for v in np.ravel(start)) if start is not None else ""
        raise ValueError(f"--start: {ls.name} is {ls.dim}-D, so the start needs {ls.dim} "
                         f"finite number(s), got '{got}'")
    specs = list(optimizers) if optimizers else list(ls.optimizers)
    built = [_util.build_optimizer(s, tutorial_sgd=False) for s in specs]
    opts, labels = [o for o, _ in built], [lbl for _, lbl in built]

    x0 = jnp.asarray(x0, jnp.float32)
    groups: dict[tuple, list[int]] = {}
    for i, opt in enumerate(opts):
        groups.setdefault(opt.static_config(), []).append(i)
    paths: list[Any] = [None] * len(opts)
    for key, members in groups.items():
        states = [opts[i].init({"x": x0}) for i in members]
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *states)
        starts = jnp.broadcast_to(x0, (len(members), ls.dim))
        run = _program(ls.name, key, steps, _OptRef(opts[members[0]]))
        xs, fs = jax.device_get(run(starts, stacked))
        for j, i in enumerate(members):
            paths[i] = (np.asarray(xs[j], np.float64), np.asarray(fs[j], np.float64))
    return [_classify(ls, labels[i], opts[i], xs, fs, tol)
            for i, (xs, fs) in enumerate(paths)]


def _fmt_point(x: np.ndarray) -> str:
    if len(x) == 1:
        return f"x≈{x[0]:.4g}"
    return "(" + ", ".join(f"{v:.4g}" for v in x) + ")"


def _classify(ls: Landscape, label: str, opt, xs: np.ndarray, fs: np.ndarray,
              tol: float) -> PathResult:
    n = len(xs) - 1
    bad = ~np.all(np.isfinite(xs), axis=1) | ~np.isfinite(fs) | (np.abs(xs).max(axis=1) > DIVERGED)
    result = PathResult(label=label, optimizer=opt, path=xs, values=fs, status="",
                        steps_to_minimum=None, tol=tol)
    if bad.any():
        result.diverged_step = int(np.argmax(bad))
        result.status = "diverged"
        where = "f → −∞" if ls.minimum is None else f"|x| > {DIVERGED:g} or not finite"
        result.summary = f"diverged at step {result.diverged_step} ({where})"
        return result
    final = xs[-1]
    if ls.minimum is not None:
        dist = np.linalg.norm(xs - np.asarray(ls.minimum), axis=1)
        within = dist <= tol
        if within[-1]:
            outside = np.flatnonzero(~within)
            result.steps_to_minimum = int(outside[-1] + 1) if outside.size else 0
            result.status = "converged"
            result.summary = (f"reached the global minimum {_fmt_point(np.asarray(ls.minimum))} "
                              f"in {result.steps_to_minimum} steps")
            return result
    x32 = jnp.asarray(final, jnp.float32)
    g = float(np.linalg.norm(np.asarray(jax.grad(ls.fn)(x32), np.float64)))
    back = max(1, n // 10)
    moved = float(np.linalg.norm(xs[-1] - xs[-1 - back]))
    eig = np.linalg.eigvalsh(np.asarray(jax.hessian(ls.fn)(x32), np.float64))
    result.extra = {"grad_norm": g, "moved_last_10pct": moved, "hessian_eigenvalues": eig}
    stationary = g < 1e-2 and moved < 1e-3
    if stationary and eig.min() > 0:
        result.status = "local minimum"
        result.summary = f"stuck at {_fmt_point(final)} (local minimum, f={fs[-1]:.4g})"
    elif stationary and eig.min() < 0:
        result.status = "saddle point"
        result.summary = f"stuck at {_fmt_point(final)} (saddle point, f={fs[-1]:.4g})"
    elif ls.minimum is None:
        result.status = "no minimum"
        result.summary = (f"no minimum to find: went to {_fmt_point(final)}, f={fs[-1]:.4g}, "
                          f"still moving")
    else:
        dist = float(np.linalg.norm(final - np.asarray(ls.minimum)))
        result.status = "not converged"
        result.summary = (f"still moving at {_fmt_point(final)}, {dist:.3g} from the minimum "
                          f"after {n} steps")
    return result


def format_table(results: Sequence[PathResult]) -> str:
    """The results as an aligned text table."""
    rows = [("optimizer", "final point", "f(final)", "steps to min", "result")]
    for r in results:
        point = "(" + ", ".join(f"{v:.5g}" for v in r.final_point) + ")"
        rows.append((r.label, point, f"{r.final_value:.5g}",
                     "-" if r.steps_to_minimum is None else str(r.steps_to_minimum), r.summary))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------------------- figures
def _limits(ls: Landscape, results: Sequence[PathResult]) -> list[tuple[float, float]]:
    """The landscape's bounds, widened (by at most half their size) to show the paths."""
    out = []
    for d, (lo, hi) in enumerate(ls.bounds):
        span = hi - lo
        pts = np.concatenate([r.path[:, d] for r in results]) if results else np.empty(0)
        pts = pts[np.isfinite(pts)]
        if pts.size:
            lo = max(min(lo, pts.min() - 0.05 * span), lo - 0.5 * span)
            hi = min(max(hi, pts.max() + 0.05 * span), hi + 0.5 * span)
        out.append((float(lo), float(hi)))
    return out


def _surface(ls: Landscape, lims, n: int = 300):
    xs = [np.linspace(lo, hi, n) for lo, hi in lims]
    if ls.dim == 1:
        z = np.asarray(jax.vmap(ls.fn)(jnp.asarray(xs[0][:, None], jnp.float32)), np.float64)
        return xs, z
    gx, gy = np.meshgrid(*xs)
    pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), jnp.float32)
    z = np.asarray(jax.vmap(ls.fn)(pts), np.float64).reshape(gx.shape)
    return (gx, gy), z


def _plot_landscape(ax, ls: Landscape, lims) -> None:
    from matplotlib.colors import LogNorm
    grid, z = _surface(ls, lims)
    if ls.dim == 1:
        ax.plot(grid[0], z, color="0.25", linewidth=1.5, zorder=1)
        ax.set_xlim(*lims[0])
        pad = 0.05 * (z.max() - z.min())
        ax.set_ylim(z.min() - pad, z.max() + pad)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
    else:
        gx, gy = grid
        if ls.log_levels:
            floor = max(float(z.min()), 1e-3)
            levels = np.logspace(math.log10(floor), math.log10(float(z.max())), 30)
            zc = np.maximum(z, floor)
            ax.contourf(gx, gy, zc, levels=levels, norm=LogNorm(), cmap="Blues_r", alpha=0.55,
                        zorder=0)
            ax.contour(gx, gy, zc, levels=levels, norm=LogNorm(), colors="0.45",
                       linewidths=0.4, zorder=1)
        else:
            levels = np.linspace(float(z.min()), float(z.max()), 30)
            ax.contourf(gx, gy, z, levels=levels, cmap="Blues_r", alpha=0.55, zorder=0)
            ax.contour(gx, gy, z, levels=levels, colors="0.45", linewidths=0.4, zorder=1)
        ax.set_xlim(*lims[0])
        ax.set_ylim(*lims[1])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    if ls.minimum is not None:
        m = ls.minimum
        pt = (m[0], ls.min_value) if ls.dim == 1 else m
        ax.plot(*pt, marker="*", markersize=15, color="gold", markeredgecolor="black",
                linestyle="none", zorder=6)


def _xy(ls: Landscape, r: PathResult) -> tuple[np.ndarray, np.ndarray]:
    if ls.dim == 1:
        return r.path[:, 0], r.values
    return r.path[:, 0], r.path[:, 1]


def _draw_paths(ax, ls, results, upto: int | None = None, max_markers: int = 250):
    """Per run: a thin line in the run's colour, markers (one shape per run) coloured by step
    green -> orange -> red, and a large end marker; returns the animated pieces, the step
    norm and colormap, and legend handles."""
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D
    cmap = _util.time_cmap()
    n_steps = max(len(r.path) - 1 for r in results)
    norm = Normalize(0, max(n_steps, 1))
    artists, handles = [], []
    for k, r in enumerate(results):
        x, y = _xy(ls, r)
        color = RUN_COLORS[k % len(RUN_COLORS)]
        marker = MARKERS[k % len(MARKERS)]
        stride = max(1, (len(x) - 1) // max_markers)
        idx = np.arange(0, len(x), stride)
        show = slice(None) if upto is None else slice(0, upto + 1)
        (line,) = ax.plot(x[show], y[show], "-", color=color, linewidth=1.0, alpha=0.9,
                          zorder=3)
        sc = ax.scatter(x[idx], y[idx], c=idx, cmap=cmap, norm=norm, s=14, marker=marker,
                        edgecolors="black", linewidths=0.3, zorder=4)
        end = -1 if upto is None else upto
        (head,) = ax.plot([x[end]], [y[end]], marker=marker, markersize=10, color=color,
                          markeredgecolor="black", linestyle="none", zorder=7)
        artists.append((line, sc, head, x, y, idx))
        handles.append(Line2D([], [], color=color, marker=marker, markersize=7,
                              markerfacecolor=color, markeredgecolor="black",
                              label=f"{r.label}: {r.status}"))
    x0, y0 = _xy(ls, results[0])
    ax.plot(x0[0], y0[0], "o", color="white", markeredgecolor="black", markersize=7,
            zorder=5)
    handles.append(Line2D([], [], color="white", marker="o", markeredgecolor="black",
                          linestyle="none", label="start"))
    if ls.minimum is not None:
        handles.append(Line2D([], [], color="gold", marker="*", markersize=12,
                              markeredgecolor="black", linestyle="none",
                              label="global minimum"))
    return artists, norm, cmap, handles


def landscape_figure(landscape: str | Landscape, results: Sequence[PathResult], *,
                     title: str | None = None, size: tuple[float, float] = (8.0, 6.0)):
    """The function (curve or log/linear contours) with every path, steps coloured green ->
    orange -> red, one marker shape per optimizer, the global minimum as a star."""
    plt = _util.pyplot()
    ls = get(landscape)
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    lims = _limits(ls, results)
    _plot_landscape(ax, ls, lims)
    _, norm, cmap, handles = _draw_paths(ax, ls, results)
    from matplotlib.cm import ScalarMappable
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="step", shrink=0.85)
    ax.set_title(title or f"{ls.name}: f = {ls.formula}", fontsize=10)
    ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.85)
    return fig


def landscape_animation(landscape: str | Landscape, results: Sequence[PathResult], out,
                        *, fps: float = 15, frames: int = 80,
                        size: tuple[float, float] = (8.0, 6.0), dpi: int = 80) -> int:
    """A GIF (or MP4) of the paths growing step by step; returns the frame count."""
    plt = _util.pyplot()
    ls = get(landscape)
    path = _util.check_output(out, ANIMATION_SUFFIXES)
    fig, ax = plt.subplots(figsize=size, dpi=dpi, layout="constrained")
    lims = _limits(ls, results)
    _plot_landscape(ax, ls, lims)
    artists, norm, cmap, handles = _draw_paths(ax, ls, results, upto=0)
    from matplotlib.cm import ScalarMappable
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="step", shrink=0.85)
    ax.set_title(f"{ls.name}: f = {ls.formula}", fontsize=10)
    ax.legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.85)
    n_steps = max(len(r.path) - 1 for r in results)
    ticks = np.unique(np.linspace(0, n_steps, max(2, min(frames, n_steps + 1))).round().astype(int))
    text = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=9,
                   bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
    fig.canvas.draw()  # fix the layout before the background is saved
    fig.set_layout_engine("none")
    animated = [a for line, sc, head, *_ in artists for a in (line, sc, head)] + [text]
    blitter = _util.Blitter(fig, animated)

    def gen():
        for t in ticks:
            for line, sc, head, x, y, idx in artists:
                line.set_data(x[: t + 1], y[: t + 1])
                keep = idx[idx <= t]
                sc.set_offsets(np.column_stack([x[keep], y[keep]]))
                sc.set_array(keep.astype(float))
                head.set_data([x[min(t, len(x) - 1)]], [y[min(t, len(y) - 1)]])
            text.set_text(f"step {t}")
            yield blitter.frame()

    n = _util.write_frames(gen(), path, fps)
    plt.close(fig)
    return n


def save(landscape: str | Landscape, results: Sequence[PathResult], out, **kwargs) -> Path:
    """Write the figure (.png/.svg/.pdf) or the animation (.gif/.mp4) to ``out``."""
    path = _util.check_output(out, FIGURE_SUFFIXES + ANIMATION_SUFFIXES)
    if path.suffix.lower() in ANIMATION_SUFFIXES:
        landscape_animation(landscape, results, path, **kwargs)
        return path
    return _util.save_figure(landscape_figure(landscape, results, **kwargs), path)
