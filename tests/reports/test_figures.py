"""Figure layouts and rendering, on small synthetic StudyResults (no training)."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from hyperlab.reports import figures
from hyperlab.reports.figures import mean_band, overlay, panels, plateau, render, schedule_preview, schedules
from hyperlab.studies.results import RunResult, StudyResults, ValueResult

LABELS = ["16", "32", "64", "128", "256"]
EPOCHS = 12


def _run(seed: int, final: float, epochs: int = EPOCHS, lr0: float = 0.01, drop_every: int = 4,
         diverged: int | None = None) -> RunResult:
    e = np.arange(1, epochs + 1)
    val = 0.33 + (final - 0.33) * (1 - np.exp(-e / 2.0))
    val[-1] = final
    acc = np.minimum(val + 0.03, 1.0)
    loss = 1.2 * np.exp(-e / 4.0) + 0.2
    lr = lr0 * 0.1 ** ((e - 1) // drop_every)
    history = {"loss": list(loss), "accuracy": list(acc), "val_loss": list(loss + 0.05),
               "val_accuracy": list(val), "learning_rate": list(lr)}
    if diverged is not None:
        for key in ("loss", "val_loss", "val_accuracy"):
            history[key][diverged:] = [math.nan] * (epochs - diverged)
    return RunResult(key=f"k{seed}", seed=seed, history=history, updates=10 * epochs, wall_time_s=0.1,
                     diverged_epoch=diverged)


def make_study(labels=LABELS, figures_=("panels", "overlay", "plateau", "schedules"),
               axis="Batch Size") -> StudyResults:
    values = []
    for j, label in enumerate(labels):
        # value "32" ends at a mean final val accuracy of exactly 0.83
        finals = [0.82, 0.83, 0.84] if label == "32" else [0.7 - 0.02 * j, 0.72 - 0.02 * j, 0.71 - 0.02 * j]
        runs = [_run(10 * j + s, f, drop_every=3 + j) for s, f in enumerate(finals)]
        values.append(ValueResult(label=label, value=int(label) if label.isdigit() else label, runs=runs))
    return StudyResults(name="batch-size", description="Batch size on blobs", axis=axis, values=values,
                        config={}, figures=list(figures_))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def res() -> StudyResults:
    return make_study()


def test_panels_one_subplot_per_value_with_train_and_test(res):
    fig = panels(res)
    assert len(fig.axes) == len(LABELS)
    assert fig.axes[0].get_subplotspec().get_gridspec().ncols == 4       # up to 4 columns
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[1] == "Accuracy = 83.0%, Batch Size = 32"
    assert all(t.startswith("Accuracy = ") and t.endswith(f"Batch Size = {lab}")
               for t, lab in zip(titles, LABELS))
    for ax in fig.axes:
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == ["train", "test"]
        assert [ln.get_color() for ln in lines] == ["tab:blue", "tab:orange"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
        assert ax.get_ylim() == (0.0, 1.0)
        assert len(ax.collections) == 2                                   # one band per line
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[4])
    assert "± 1 sd" in fig._suptitle.get_text()


def test_panels_mean_line_is_the_mean_over_repeats(res):
    fig = panels(res)
    test_line = fig.axes[1].get_lines()[1]
    expected = np.nanmean(res.values[1].curves("val_accuracy"), axis=0)
    np.testing.assert_allclose(test_line.get_ydata(), expected)
    np.testing.assert_array_equal(test_line.get_xdata(), np.arange(1, EPOCHS + 1))


def test_mean_band_uses_nanmean_and_draws_the_band_only_where_two_runs_have_data():
    import matplotlib.pyplot as plt

    curves = np.array([[0.1, 0.2, 0.3, 0.4, 0.5],
                       [0.3, 0.4, 0.5, np.nan, np.nan],                   # stopped after 3 epochs
                       [0.2, 0.3, np.inf, np.nan, np.nan]])               # diverged (inf left out)
    fig, ax = plt.subplots()
    line = mean_band(ax, curves, label="x")
    np.testing.assert_allclose(line.get_ydata(), [0.2, 0.3, 0.4, 0.4, 0.5])
    (band,) = ax.collections
    xs = np.concatenate([p.vertices[:, 0] for p in band.get_paths()])
    assert xs.min() >= 1 and xs.max() <= 3                                # epochs 4-5: one run only
    ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
    sd1 = np.std([0.1, 0.3, 0.2], ddof=1)
    assert ys.min() == pytest.approx(0.2 - sd1) and ys.max() <= 0.4 + np.std([0.3, 0.5], ddof=1) + 1e-12

    fig, ax = plt.subplots()
    mean_band(ax, curves, band="minmax")
    ys = np.concatenate([p.vertices[:, 1] for p in ax.collections[0].get_paths()])
    assert ys.min() == pytest.approx(0.1) and ys.max() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mean_band(ax, curves, band="iqr")


def test_overlay_one_line_per_value_with_labelled_legend(res):
    fig = overlay(res)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.get_lines()) == len(LABELS)
    assert len(ax.collections) == len(LABELS)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert [t.split(":")[0] for t in texts] == LABELS
    assert texts[1] == "32: 83.0%"
    assert "validation accuracy" in ax.get_ylabel()

    loss_fig = overlay(res, key="val_loss")
    assert "validation loss" in loss_fig.axes[0].get_ylabel()


def test_plateau_three_subplots_lr_loss_accuracy(res):
    fig = plateau(res)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["Learning rate", "Training loss", "Training accuracy"]
    for ax in fig.axes:
        assert len(ax.get_lines()) == len(LABELS)
    assert fig.axes[0].get_yscale() == "log"          # 0.01 -> 1e-5 spans > 1 decade
    assert fig.axes[1].get_yscale() == "linear"
    legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert legend == LABELS


def test_plateau_lr_axis_linear_within_one_decade():
    res = make_study(labels=["2", "5"])
    for v in res.values:
        for r in v.runs:
            r.history["learning_rate"] = [0.01] * 6 + [0.005] * (EPOCHS - 6)
    assert plateau(res).axes[0].get_yscale() == "linear"


def test_schedules_and_preview():
    steps = np.arange(200)
    curves = {str(d): 0.01 / (1 + d * steps) for d in (1e-1, 1e-2, 1e-3, 1e-4)}
    fig = schedules(curves, xlabel="update")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.get_lines()) == 4
    assert ax.get_xlabel() == "update" and ax.get_ylabel() == "learning rate"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)

    res = make_study()
    fig = schedule_preview(res)
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == LABELS
    np.testing.assert_allclose(lines[0].get_ydata(), res.values[0].runs[0].history["learning_rate"])


def test_diverged_runs_do_not_break_the_figures():
    res = make_study(labels=["0.1", "1.0"])
    res.values[1].runs = [_run(0, 0.5, diverged=2), _run(1, 0.6, diverged=3)]
    fig = panels(res)
    assert fig.axes[1].get_title() == "Accuracy = n/a, Batch Size = 1.0"
    plateau(res)
    overlay(res)


def test_render_writes_png_and_svg_for_every_layout(res, tmp_path):
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    paths = render(res, tmp_path / "figs")
    assert len(plt.get_fignums()) == before                               # figures are closed
    layouts = ["panels", "overlay", "plateau", "schedules"]
    assert [p.name for p in paths] == [f"batch-size-{name}.{ext}" for name in layouts for ext in ("png", "svg")]
    sizes = {"panels": panels, "overlay": overlay, "plateau": plateau, "schedules": schedule_preview}
    for path in paths:
        assert path.is_file() and path.stat().st_size > 0
        if path.suffix == ".png":
            img = mpimg.imread(path)
            fig = sizes[path.stem.split("-")[-1]](res)
            w, h = fig.get_size_inches() * figures.DPI
            plt.close(fig)
            assert img.shape[:2] == (round(h), round(w))
            assert float(np.var(img[..., :3])) > 0                        # not blank
        else:
            root = ET.parse(path).getroot()
            assert root.tag.endswith("svg")


def test_render_only_the_listed_layouts(tmp_path):
    res = make_study(figures_=("overlay",))
    paths = render(res, tmp_path)
    assert sorted(p.name for p in paths) == ["batch-size-overlay.png", "batch-size-overlay.svg"]


def test_render_unwritable_directory_names_the_path(res, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    target = blocker / "figs"
    with pytest.raises(OSError, match="not-a-dir"):
        render(res, target)


def test_render_rejects_unknown_layouts(tmp_path):
    res = make_study(figures_=("panels", "spaghetti"))
    with pytest.raises(ValueError, match="spaghetti"):
        render(res, tmp_path)
    assert not list(tmp_path.iterdir())
