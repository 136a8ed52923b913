"""Optimizer paths on test functions: known minima, the classification of where a path
ended, one vmapped program per optimizer class, figures and animations."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import optimize

import hyperlab.visual.landscape as ls


def _wavy64(x):
    return 0.02 * x**4 - 0.25 * x**2 - 0.4 * x + 0.4 * np.sin(4 * x)


def test_wavy_documented_minima_match_a_high_precision_search():
    grid = np.linspace(-6, 6, 2_000_001)
    y = _wavy64(grid)
    i = int(np.argmin(y))
    best = optimize.minimize_scalar(_wavy64, bracket=(grid[i - 50], grid[i], grid[i + 50]),
                                    tol=1e-14)
    land = ls.get("wavy")
    assert abs(best.x - land.minimum[0]) < 1e-7
    assert abs(best.fun - land.min_value) < 1e-12
    # every interior local minimum of the grid is one of the documented ones
    interior = np.flatnonzero((y[1:-1] < y[:-2]) & (y[1:-1] < y[2:])) + 1
    found = sorted(optimize.minimize_scalar(_wavy64, bracket=(grid[j - 50], grid[j], grid[j + 50]),
                                            tol=1e-14).x for j in interior)
    documented = sorted([m[0] for m in land.local_minima] + [land.minimum[0]])
    assert np.allclose(found, documented, atol=1e-7)
    # and the float32 function hyperlab runs agrees with it
    f32 = float(land.fn(np.float32([land.minimum[0]])))
    assert abs(f32 - land.min_value) < 1e-5


def test_two_d_minima_are_zeros_of_the_functions():
    for name, point in (("rosenbrock", (1, 1)), ("beale", (3, 0.5)), ("bowl", (0, 0))):
        land = ls.get(name)
        assert land.minimum == point and land.min_value == 0.0
        assert float(land.fn(np.float32(point))) == 0.0
        best = optimize.minimize(lambda p: float(land.fn(np.float32(p))), land.start,
                                 method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12,
                                                                "maxiter": 4000})
        assert np.allclose(best.x, point, atol=1e-3), name


def test_small_learning_rate_stops_in_a_local_minimum_momentum_reaches_the_global_one():
    slow, heavy, fast = ls.run_paths("wavy", ["SGD(learning_rate=0.01)",
                                              "SGD(learning_rate=0.01, momentum=0.9)",
                                              "SGD(learning_rate=0.08, momentum=0.9)"],
                                     steps=300, start=[-4.0])
    first, second = ls.get("wavy").local_minima[:2]
    assert slow.status == "local minimum" and slow.steps_to_minimum is None
    assert abs(slow.final_point[0] - first[0]) < 1e-3
    assert slow.summary.startswith("stuck at x≈-3.235 (local minimum")
    assert heavy.status == "local minimum" and abs(heavy.final_point[0] - second[0]) < 1e-3
    assert fast.status == "converged"
    assert abs(fast.final_point[0] - 2.7634934) < 1e-2
    assert 0 < fast.steps_to_minimum < 300
    # it stays within tol from that step on, and not one step earlier
    d = np.abs(fast.path[:, 0] - 2.7634934)
    assert np.all(d[fast.steps_to_minimum:] <= 1e-2) and d[fast.steps_to_minimum - 1] > 1e-2
    assert slow.path.shape == (301, 1) and slow.values.shape == (301,)


def test_adam_reaches_the_rosenbrock_minimum():
    (adam,) = ls.run_paths("rosenbrock", ["Adam(learning_rate=0.05)"], steps=2000,
                           start=[-1.5, 2.0])
    assert adam.status == "converged"
    assert np.linalg.norm(adam.final_point - [1, 1]) < 1e-2
    assert adam.final_value < 1e-4 and 100 < adam.steps_to_minimum < 2000
    assert "reached the global minimum (1, 1)" in adam.summary


def test_beale_and_bowl_minima_are_found():
    (beale,) = ls.run_paths("beale", ["Adam(learning_rate=0.05)"], steps=2000)
    assert beale.status == "converged" and np.allclose(beale.final_point, [3, 0.5], atol=1e-2)
    res = ls.run_paths("bowl", ["SGD(learning_rate=0.38)", "SGD(learning_rate=0.45)",
                                "SGD(learning_rate=0.001)"], steps=300)
    assert res[0].status == "converged" and np.allclose(res[0].final_point, 0, atol=1e-2)
    assert res[1].status == "diverged"          # 0.45 > 2 / 5: the steep axis blows up
    assert res[2].status == "not converged"     # far too slow along the flat axis


def test_the_saddle_has_no_minimum_and_the_report_says_where_the_path_went():
    sgd, adam = ls.run_paths("saddle", ["SGD(learning_rate=0.01)", "Adam(learning_rate=0.01)"],
                             steps=300, start=[1.5, 0.05])
    for r in (sgd, adam):
        assert r.status == "no minimum" and r.steps_to_minimum is None
        assert abs(r.final_point[1]) > 1 and r.final_value < -1   # escaped along y
        assert r.summary.startswith("no minimum to find: went to (")
    (exact,) = ls.run_paths("saddle", ["SGD(learning_rate=0.1)"], steps=200, start=[1.0, 0.0])
    assert exact.status == "saddle point" and np.allclose(exact.final_point, 0, atol=1e-6)
    (wild,) = ls.run_paths("saddle", ["SGD(learning_rate=1.5)"], steps=200)
    assert wild.status == "diverged" and "f → −∞" in wild.summary


def test_one_class_runs_vmapped_equal_separate_runs():
    specs = ["SGD(learning_rate=0.001, momentum=0.9)", "SGD(learning_rate=0.002)",
             "SGD(learning_rate=0.0005, momentum=0.5)"]
    together = ls.run_paths("rosenbrock", specs, steps=200)
    for spec, r in zip(specs, together):
        (alone,) = ls.run_paths("rosenbrock", [spec], steps=200)
        assert np.allclose(alone.path, r.path, rtol=1e-6, atol=1e-7)
    assert not np.allclose(together[0].path, together[1].path)


def test_table_lists_every_run():
    res = ls.run_paths("bowl", ["SGD(learning_rate=0.38)", "Adam(learning_rate=0.1)"], steps=300)
    table = ls.format_table(res)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["optimizer", "final"] and len(lines) == 4
    assert lines[2].startswith("SGD(lr=0.38)") and lines[3].startswith("Adam(lr=0.1)")
    assert "reached the global minimum (0, 0)" in table


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "--steps"),
    ({"start": [1.0]}, "--start"),
    ({"start": [1.0, float("nan")]}, "--start"),
    ({"tol": 0}, "--tol"),
    ({"optimizers": ["Bogus(learning_rate=1)"]}, "Unknown optimizer"),
    ({"optimizers": ["SGD(learning_rate=-1)"]}, "learning_rate"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ls.run_paths("rosenbrock", **kwargs)
    with pytest.raises(ValueError, match="unknown landscape"):
        ls.get("himmelblau")


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("name", ["wavy", "rosenbrock", "saddle"])
def test_figures_show_the_function_and_coloured_paths(tmp_path, name):
    res = ls.run_paths(name, steps=150)
    png = ls.save(name, res, tmp_path / f"{name}.png")
    img = _pixels(png)
    assert img.shape == (600, 800, 3) and img.std() > 20
    colors = img.reshape(-1, 3).astype(int)
    assert len(np.unique(colors, axis=0)) > 200
    # the time colours: green at the start, red at the end (the colorbar shows both)
    for rgb in ((0x1a, 0x98, 0x50), (0xd7, 0x30, 0x27)):
        assert np.any(np.abs(colors - rgb).sum(axis=1) < 30), rgb
    svg = ls.save(name, res, tmp_path / f"{name}.svg")
    assert svg.read_text().lstrip().startswith("<?xml")
    again = ls.save(name, res, tmp_path / f"{name}-2.svg")
    assert again.read_bytes() == svg.read_bytes()


def test_animation_of_the_paths(tmp_path):
    res = ls.run_paths("bowl", steps=60)
    n = ls.landscape_animation("bowl", res, tmp_path / "bowl.gif", frames=20, size=(4, 3))
    im = Image.open(tmp_path / "bowl.gif")
    assert n == 20 and im.n_frames == 20 and im.size == (320, 240)
    im.seek(0)
    first = np.asarray(im.convert("RGB")).astype(int)
    im.seek(19)
    last = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(first - last).sum() > 1000  # the paths grew
    again = tmp_path / "again.gif"
    ls.landscape_animation("bowl", res, again, frames=20, size=(4, 3))
    assert again.read_bytes() == (tmp_path / "bowl.gif").read_bytes()
