"""Figure layouts and rendering, on small synthetic StudyResults (no training)."""
from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from hyperlab.reports import figures
from hyperlab.reports.figures import (
    gradients,
    median_band,
    overlay,
    panels,
    plateau,
    render,
    schedule_preview,
    schedules,
    stopping,
)
from hyperlab.reports.measures import MeasureResult
from hyperlab.stats import compare_values
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

LABELS = ["16", "32", "64", "128", "256"]
EPOCHS = 12
SEEDS = 3


def _run(seed: int, final: float, epochs: int = EPOCHS, lr: list[float] | None = None,
         diverged: int | None = None, updates: int | None = None, wall: float = 0.6,
         extra: dict[str, list[float]] | None = None) -> RunResult:
    e = np.arange(1, epochs + 1)
    val = 0.33 + (final - 0.33) * (1 - np.exp(-e / 2.0)) + 0.01 * np.sin(e + seed)
    val[-1] = final
    acc = np.minimum(val + 0.03, 1.0)
    loss = 1.2 * np.exp(-e / 4.0) + 0.2 + 0.01 * seed
    history = {"loss": list(loss), "accuracy": list(acc), "val_loss": list(loss + 0.05),
               "val_accuracy": list(val), "learning_rate": list(lr or [0.01] * epochs)}
    history.update(extra or {})
    if diverged is not None:
        for key in ("loss", "val_loss", "val_accuracy", "accuracy"):
            history[key][diverged:] = [math.nan] * (epochs - diverged)
    return RunResult(key=f"k{seed}-{final}", seed=seed, history=history,
                     updates=updates if updates is not None else 10 * epochs, wall_time_s=wall,
                     diverged_epoch=diverged)


def make_study(labels=LABELS, figures_=("panels", "overlay", "plateau", "schedules"),
               axis="Batch Size", lr=None, name="batch-size") -> StudyResults:
    values = []
    for j, label in enumerate(labels):
        finals = ([0.82, 0.83, 0.87] if j == 1
                  else [0.7 - 0.02 * j, 0.74 - 0.02 * j, 0.71 - 0.02 * j])
        runs = [_run(s, f, lr=lr(j, s) if lr else None, updates=(j + 1) * EPOCHS)
                for s, f in enumerate(finals)]
        values.append(ValueResult(label=label, value=int(label) if label.isdigit() else label,
                                  runs=runs))
    return StudyResults(name=name, description="Batch size on blobs", axis=axis, values=values,
                        config={}, figures=list(figures_))


def _plateau_lr(j: int, s: int) -> list[float]:
    """ReduceLROnPlateau-like steps: a tenth every (2 + j + s) epochs; the first run falls
    to 1e-38 in its last two epochs (as float32 rates do after many reductions)."""
    lr = [0.01 * 0.1 ** (e // (2 + j + s)) for e in range(EPOCHS)]
    return lr[:-2] + [1e-38] * 2 if j == s == 0 else lr


def _gid(ax, gid: str) -> list:
    return [a for a in (*ax.get_lines(), *ax.collections) if a.get_gid() == gid]


def _band_y(band) -> np.ndarray:
    return np.concatenate([p.vertices[:, 1] for p in band.get_paths()])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def res() -> StudyResults:
    return make_study()


# --------------------------------------------------------------------------- median_band

CURVES = np.array([[0.1, 0.2, 0.3, 0.4, 0.5],
                   [0.3, 0.4, 0.5, np.nan, np.nan],          # stopped after 3 epochs
                   [0.2, 0.9, np.inf, np.nan, np.nan],       # diverged (inf left out)
                   [0.6, 0.5, 0.1, np.nan, np.nan]])


def test_median_band_draws_each_seed_the_median_and_the_interquartile_band():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    line = median_band(ax, CURVES, color="k", label="x")
    assert len(_gid(ax, "seed")) == 4 and _gid(ax, "median") == [line]
    masked = np.where(np.isfinite(CURVES), CURVES, np.nan)
    np.testing.assert_allclose(line.get_ydata(), np.nanmedian(masked, axis=0))
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 6))
    (band,) = _gid(ax, "band")
    xs = np.concatenate([p.vertices[:, 0] for p in band.get_paths()])
    assert xs.min() >= 1 and xs.max() <= 3                    # epochs 4-5: one run only
    q1, q3 = np.nanquantile(masked[:, :3], [0.25, 0.75], axis=0)
    ys = _band_y(band)
    assert ys.min() == pytest.approx(q1.min()) and ys.max() == pytest.approx(q3.max())
    for q in (*q1, *q3):
        assert np.isclose(ys, q).any()

    fig, ax = plt.subplots()
    median_band(ax, CURVES, band="range")
    ys = _band_y(_gid(ax, "band")[0])
    assert ys.min() == pytest.approx(0.1) and ys.max() == pytest.approx(0.9)
    with pytest.raises(ValueError, match="band must be one of 'iqr', 'range'"):
        median_band(ax, CURVES, band="sd")


def test_median_band_is_geometric_on_log_axes():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(3)
    curves = 10.0 ** rng.uniform(-6, 0, size=(4, 6))           # spans six decades per epoch
    curves[0, 2] = 0.0                                          # no place on a log axis
    fig, ax = plt.subplots()
    line = median_band(ax, curves, log=True)
    logs = np.log(np.where(curves > 0, curves, np.nan))
    np.testing.assert_allclose(line.get_ydata(), np.exp(np.nanquantile(logs, 0.5, axis=0)))
    ys = _band_y(_gid(ax, "band")[0])
    for q in np.exp(np.nanquantile(logs, [0.25, 0.75], axis=0)).ravel():
        assert np.isclose(ys, q, rtol=1e-9).any()
    assert ys.min() > 0                                         # never below zero
    arithmetic = np.nanquantile(np.where(curves > 0, curves, np.nan), 0.25, axis=0)
    assert not np.isclose(ys, arithmetic[1]).any()              # not the arithmetic quartile


# --------------------------------------------------------------------------- panels

def test_panels_every_seed_median_and_band_with_fitted_limits(res):
    fig = panels(res)
    axes = fig.axes
    assert len(axes) == len(LABELS)
    assert axes[0].get_subplotspec().get_gridspec().ncols == 4
    for ax, value in zip(axes, res.values):
        assert len(_gid(ax, "seed")) == 2 * SEEDS                # train + validation per seed
        medians = _gid(ax, "median")
        assert [m.get_label() for m in medians] == ["train", "validation"]
        assert [m.get_color() for m in medians] == ["tab:blue", "tab:orange"]
        assert len(_gid(ax, "band")) == 2
        np.testing.assert_allclose(medians[1].get_ydata(),
                                   np.median(value.curves("val_accuracy"), axis=0))
        final = np.median([r.history["val_accuracy"][-1] for r in value.runs])
        assert ax.get_title() == (f"Batch Size = {value.label}\nlast-epoch validation accuracy: "
                                  f"median {100 * final:.1f} %")
        assert ax.get_xlabel() == "epoch" and "test" not in ax.get_title()
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[4])
    data = np.concatenate([v.curves(k).ravel() for v in res.values
                           for k in ("accuracy", "val_accuracy")])
    lo, hi = axes[0].get_ylim()
    assert data.min() - 0.05 <= lo <= data.min() and data.max() <= hi <= data.max() + 0.05
    assert panels(res, y="full").axes[0].get_ylim() == (0.0, 1.0)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["train: median", "validation: median", "one seed", "interquartile range"]
    assert "thin lines: each seed (n = 3 per value)" in fig._suptitle.get_text()
    assert "sd" not in fig._suptitle.get_text()


@pytest.mark.parametrize("x, label", [("updates", "weight updates"),
                                      ("examples", "examples seen (250 per epoch)"),
                                      ("time", "wall time (s; each run's time spread evenly "
                                               "over its epochs)")])
def test_panels_x_axis_choice(res, x, label):
    fig = panels(res, x=x, train_size=250)
    ax = fig.axes[2]                                            # value "64": 3 updates per epoch
    assert ax.get_xlabel() == label
    per = {"updates": 3.0, "examples": 250.0, "time": 0.6 / EPOCHS}[x]
    seed_line = _gid(ax, "seed")[0]
    np.testing.assert_allclose(seed_line.get_xdata(), per * np.arange(1, EPOCHS + 1))


def test_x_axis_choice_is_checked(res):
    with pytest.raises(ValueError, match="x='examples' needs the number of training examples"):
        panels(res, x="examples")
    with pytest.raises(ValueError, match="x must be one of 'epochs', 'updates'"):
        overlay(res, x="steps")
    with pytest.raises(ValueError, match="y must be one of 'fit', 'full'"):
        panels(res, y="auto")


def test_panels_rate_row_shares_x_and_steps_per_seed():
    res = make_study(labels=["2", "5"], lr=_plateau_lr)
    fig = panels(res)
    assert len(fig.axes) == 4                                   # accuracy + rate per value
    acc, rate = fig.axes[0], fig.axes[1]
    assert acc.get_shared_x_axes().joined(acc, rate)
    lines = _gid(rate, "rate")
    assert len(lines) == SEEDS and all(ln.get_drawstyle() == "steps-post" for ln in lines)
    # the rate epoch e trained with holds from the end of epoch e - 1 to the end of epoch e
    lr = res.values[0].runs[0].history["learning_rate"]
    np.testing.assert_allclose(lines[0].get_ydata(), [*lr, lr[-1]])
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(0, EPOCHS + 1))
    assert rate.get_yscale() == "log"
    low, high = rate.get_ylim()
    assert low >= 0.01 * 10.0 ** -figures.RATE_DECADES / 1.5 and high == pytest.approx(0.015)
    assert any("fell below 1e-06 (lowest 1e-38)" in t.get_text() for t in rate.texts)
    assert "learning rate (each seed)" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(panels(make_study(labels=["2", "5"])).axes) == 2  # constant rate: no rate row


def test_panels_mark_restored_weights_and_diverged_runs():
    res = make_study(labels=["none", "restore"], axis="Early stopping")
    for r in res.values[1].runs:
        r.restored_epoch = 4
    res.values[0].runs[2] = _run(2, 0.5, diverged=5)
    fig = panels(res)
    (dots,) = _gid(fig.axes[1], "restored")
    np.testing.assert_allclose(dots.get_ydata(),
                               [r.history["val_accuracy"][4] for r in res.values[1].runs])
    np.testing.assert_array_equal(dots.get_xdata(), [5, 5, 5])   # 0-based index 4 = epoch 5
    assert not _gid(fig.axes[0], "restored")
    assert fig.axes[0].get_title().endswith("; 1 of 3 seeds diverged")
    assert "diverged" not in fig.axes[1].get_title()
    assert "restored weights (each seed)" in [t.get_text() for t in fig.legends[0].get_texts()]


def _boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [ax.title for ax in fig.axes if ax.get_title()] + [fig._suptitle]
    return [t.get_window_extent(renderer) for t in texts]


@pytest.mark.parametrize("labels, axis", [
    (["none", "patience 3", "patience 3, restore best", "patience 10, restore best"],
     "Early stopping"),
    (["sigmoid + Glorot", "tanh + Glorot", "relu + He", "elu + He", "selu + LeCun"],
     "Activation + initializer"),
])
def test_panel_titles_do_not_overlap(labels, axis):
    fig = panels(make_study(labels=labels, axis=axis))
    boxes = _boxes(fig)
    assert len(boxes) == len(labels) + 1
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    width = fig.get_size_inches()[0] * fig.dpi
    assert all(0 <= b.x0 and b.x1 <= width for b in boxes)


# --------------------------------------------------------------------------- other layouts

def test_overlay_one_colour_per_value_with_seeds_and_median(res):
    fig = overlay(res)
    ax = fig.axes[0]
    assert len(_gid(ax, "seed")) == SEEDS * len(LABELS)
    medians = _gid(ax, "median")
    assert len(medians) == len(LABELS) == len(_gid(ax, "band"))
    assert len({m.get_color() for m in medians}) == len(LABELS)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[1] == "32: 83.0 %"                             # median of 0.82, 0.83, 0.87
    assert [t.split(":")[0] for t in texts] == LABELS
    assert ax.get_ylabel() == "validation accuracy"
    assert overlay(res, key="val_loss").axes[0].get_ylabel() == "validation loss"


def test_plateau_rates_as_steps_limited_to_rates_that_matter():
    res = make_study(labels=["2", "5", "8"], lr=_plateau_lr)
    fig = plateau(res)
    rax, lax, aax = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["Learning rate (each seed)", "Training loss",
                                                   "Training accuracy"]
    assert len(_gid(rax, "rate")) == 3 * SEEDS and not _gid(rax, "median")
    assert rax.get_yscale() == "log" and rax.get_ylim()[0] >= 1e-6 / 1.5
    assert rax.get_shared_x_axes().joined(rax, aax)
    for ax in (lax, aax):
        assert len(_gid(ax, "median")) == 3 and len(_gid(ax, "seed")) == 3 * SEEDS
    assert [t.get_text() for t in aax.get_legend().get_texts()] == ["2", "5", "8"]
    for v in res.values:
        for r in v.runs:
            r.history["learning_rate"] = [0.01] * 6 + [0.005] * (EPOCHS - 6)
    assert plateau(res).axes[0].get_yscale() == "linear"


def test_gradients_one_colour_per_layer_across_panels_and_a_complete_legend():
    size = {"dense": 1.0, "batch_normalization": 0.5, "dense_1": 0.1,
            "batch_normalization_1": 0.05, "dense_2": 0.01}

    def diag(names, seed):
        return {f"grad_norm/{n}": list(size[n] * (1 + 0.1 * seed) * np.ones(EPOCHS))
                for n in names}

    plain = ["dense", "dense_1", "dense_2"]
    bn = ["dense", "batch_normalization", "dense_1", "batch_normalization_1", "dense_2"]
    values = [ValueResult(lab, lab, [_run(s, 0.8, extra=diag(names, s)) for s in range(SEEDS)])
              for lab, names in (("none", plain), ("after", bn))]
    res = StudyResults("batch-norm", "BN", "Batch normalization", values, {}, ["gradients"])
    fig = gradients(res)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == bn                                         # every layer, input to output
    none_ax, bn_ax = fig.axes
    assert len(_gid(none_ax, "median")) == 3 and len(_gid(bn_ax, "median")) == 5
    assert len(_gid(bn_ax, "seed")) == 5 * SEEDS
    colour = {round(ln.get_ydata()[0], 6): tuple(ln.get_color()) for ln in _gid(bn_ax, "median")}
    assert len(set(colour.values())) == 5
    for ln in _gid(none_ax, "median"):                          # same layer, same colour
        assert colour[round(ln.get_ydata()[0], 6)] == tuple(ln.get_color())
    assert none_ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="fit.diagnostics = true"):
        gradients(make_study())


def _epochs_study(prefix: bool = True) -> StudyResults:
    rng = np.random.default_rng(0)
    longest = {s: np.clip(0.4 + 0.5 * (1 - np.exp(-np.arange(1, 101) / 15))
                          + rng.normal(0, 0.01, 100), 0, 1) for s in range(SEEDS)}
    values = []
    for stops in (5, 20, 50, 100):
        runs = []
        for s in range(SEEDS):
            curve = longest[s][:stops] if prefix else rng.uniform(0.3, 0.9, stops)
            h = {"loss": [1.0] * stops, "val_accuracy": list(curve)}
            runs.append(RunResult(f"{stops}-{s}", s, h, updates=stops, wall_time_s=1.0))
        values.append(ValueResult(str(stops), stops, runs))
    return StudyResults("epochs", "Epochs", "Epochs", values, {}, ["stopping"],
                        measures=["final_val_accuracy", "epochs_to_plateau"])


def test_stopping_one_set_of_runs_at_several_stops():
    res = _epochs_study()
    fig = stopping(res)
    cax, sax, lax = fig.axes
    assert "identical for all 9 seed pairs" in fig._suptitle.get_text()
    assert "one set of runs observed at 4 stopping points" in fig._suptitle.get_text()
    assert len(_gid(cax, "seed")) == SEEDS
    assert sorted(ln.get_xdata()[0] for ln in _gid(cax, "stop")) == [5, 20, 50, 100]
    dots = _gid(sax, "seed")
    assert [len(d.get_ydata()) for d in dots] == [SEEDS] * 4
    np.testing.assert_allclose(sorted(dots[1].get_ydata()),
                               sorted(100 * r.history["val_accuracy"][-1]
                                      for r in res.values[1].runs))
    best = {r.seed: max(r.history["val_accuracy"]) for r in res.values[-1].runs}
    lost = [100 * (best[r.seed] - r.history["val_accuracy"][-1]) for r in res.values[0].runs]
    np.testing.assert_allclose(_gid(lax, "seed")[0].get_ydata(), lost)
    np.testing.assert_allclose(_gid(lax, "median")[0].get_ydata()[0], np.median(lost))
    assert cax.get_xscale() == "log"                             # stops span 20x

    other = stopping(_epochs_study(prefix=False))
    assert "9 of 9 shorter runs differ" in other._suptitle.get_text()


def test_stopping_shows_the_epochs_to_plateau_distribution():
    res = _epochs_study()
    samples = {v.label: {r.seed: float(np.argmax(r.history["val_accuracy"]) + 1) for r in v.runs}
               for v in res.values}
    m = MeasureResult("epochs_to_plateau", "epochs to the plateau", "epochs", False, False,
                      samples, compare_values(samples, higher_is_better=False))
    fig = stopping(res, [m])
    assert len(fig.axes) == 4
    pax = fig.axes[3]
    assert [len(d.get_ydata()) for d in _gid(pax, "seed")] == [SEEDS] * 4
    assert len(_gid(fig.axes[0], "plateau")) == SEEDS
    assert pax.get_ylabel() == "epochs"


def test_schedules_and_preview():
    steps = np.arange(200)
    curves = {str(d): 0.01 / (1 + d * steps) for d in (1e-1, 1e-2, 1e-3, 1e-4)}
    fig = schedules(curves, xlabel="update")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.get_lines()) == 4
    assert ax.get_xlabel() == "update" and ax.get_ylabel() == "learning rate"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)

    res = make_study(lr=_plateau_lr)
    fig = schedule_preview(res)
    lines = _gid(fig.axes[0], "rate")
    assert len(lines) == SEEDS * len(LABELS)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == LABELS
    np.testing.assert_allclose(lines[0].get_ydata()[:-1],
                               res.values[0].runs[0].history["learning_rate"])


def test_diverged_runs_do_not_break_the_figures():
    res = make_study(labels=["0.1", "1.0"])
    res.values[1].runs = [_run(0, 0.5, diverged=2), _run(1, 0.6, diverged=3)]
    fig = panels(res)
    assert fig.axes[1].get_title() == ("Batch Size = 1.0\nlast-epoch validation accuracy: median "
                                       "n/a; 2 of 2 seeds diverged")
    plateau(res)
    overlay(res)


# --------------------------------------------------------------------------- render

def _final_accuracy(res: StudyResults) -> MeasureResult:
    samples = {v.label: {r.seed: r.history["val_accuracy"][-1] for r in v.runs}
               for v in res.values}
    return MeasureResult("final_val_accuracy", "final validation accuracy", "", True, True,
                         samples, compare_values(samples, percent=True))


def test_render_draws_the_measure_figure_first_then_every_layout(tmp_path):
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    res = make_study(labels=LABELS[:2])
    before = len(plt.get_fignums())
    paths = render(res, tmp_path / "figs", measures=[_final_accuracy(res)], dpi=20,
                   formats=("png",))
    assert len(plt.get_fignums()) == before                      # figures are closed
    names = ["measures", "panels", "overlay", "plateau", "schedules"]
    assert [p.name for p in paths] == [f"batch-size-{n}.png" for n in names]
    png = mpimg.imread(paths[1])
    w, h = panels(res).get_size_inches() * 20
    assert png.shape[:2] == (round(h), round(w)) and float(np.var(png[..., :3])) > 0
    res.figures = ["schedules"]                                  # no measures: no measure figure
    (svg,) = render(res, tmp_path, dpi=20, formats=("svg",))
    assert svg.name == "batch-size-schedules.svg"
    assert ET.parse(svg).getroot().tag.endswith("svg")


def test_render_passes_the_options_each_layout_takes(tmp_path):
    import matplotlib.image as mpimg

    res = _epochs_study()
    samples = {v.label: {r.seed: 3.0 for r in v.runs} for v in res.values}
    m = MeasureResult("epochs_to_plateau", "epochs to the plateau", "epochs", False, False,
                      samples, compare_values(samples, higher_is_better=False))
    paths = render(res, tmp_path, measures=[m], x="updates", y="full", formats=("png",),
                   dpi=10)
    assert [p.name for p in paths] == ["epochs-measures.png", "epochs-stopping.png"]
    assert mpimg.imread(paths[1]).shape[1] == 190                # 4 panels: it got the measures
    assert stopping(res).get_size_inches()[0] * 10 == 150
    with pytest.raises(ValueError, match="x='examples' needs"):
        render(res, tmp_path / "other", x="examples")
    assert not (tmp_path / "other").exists()


def test_render_unwritable_directory_names_the_path(res, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(OSError, match="not-a-dir"):
        render(res, blocker / "figs")


def test_render_rejects_unknown_layouts(tmp_path):
    res = make_study(figures_=("panels", "spaghetti"))
    with pytest.raises(ValueError, match="spaghetti"):
        render(res, tmp_path)
    assert not list(tmp_path.iterdir())
