"""``hyperlab.keras``: Keras's import paths, tf.keras's regularizer shortcuts, ``utils`` and
``backend``; and the short ``hyperlab.layers``-style modules."""
from __future__ import annotations

import importlib
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import hyperlab
import hyperlab.keras as keras
from hyperlab.keras._api import reexport

MODULES = ["activations", "backend", "callbacks", "datasets", "datasets.fashion_mnist",
           "datasets.mnist", "initializers", "layers", "losses", "metrics", "models",
           "optimizers", "optimizers.schedules", "regularizers", "utils"]


@pytest.mark.parametrize("name", MODULES)
def test_each_module_imports_and_exports_what_it_lists(name: str) -> None:
    module = importlib.import_module(f"hyperlab.keras.{name}")
    parent = keras
    for part in name.split("."):
        parent = getattr(parent, part)
    assert parent is module
    assert module.__all__ and all(getattr(module, n) is not None for n in module.__all__)


def test_the_three_import_forms_give_the_engine_objects() -> None:
    from hyperlab import keras as k
    from hyperlab.engine import layers, model, optimizers, schedules
    from hyperlab.keras.layers import Dense
    from hyperlab.keras.optimizers.schedules import ExponentialDecay

    assert k is keras and Dense is layers.Dense and keras.layers.Dense is layers.Dense
    assert keras.models.Sequential is model.Sequential is keras.Sequential
    assert keras.optimizers.SGD is optimizers.SGD
    assert ExponentialDecay is schedules.ExponentialDecay
    assert keras.initializers.he_normal is keras.initializers.HeNormal
    assert keras.initializers.variance_scaling is keras.initializers.VarianceScaling
    assert "StepDecay" not in keras.optimizers.schedules.__all__  # hyperlab's, not Keras's


def test_short_modules_forward_the_engine_names() -> None:
    from hyperlab.engine import layers, schedules
    from hyperlab.layers import Dense

    assert Dense is layers.Dense and hyperlab.layers.Dense is layers.Dense
    assert hyperlab.schedules.StepDecay is schedules.StepDecay
    assert hyperlab.datasets.blobs is importlib.import_module("hyperlab.data.datasets").blobs
    assert hyperlab.layers.__all__ == layers.__all__
    with pytest.raises(AttributeError, match="NoSuchLayer"):
        hyperlab.layers.NoSuchLayer  # noqa: B018


def test_imports_stay_lazy() -> None:
    code = ("import sys, hyperlab, hyperlab.keras; from hyperlab import keras; "
            "assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_listed_name_the_engine_lacks_says_so() -> None:
    namespace = {"__name__": "hyperlab.keras.demo"}
    names = reexport(namespace, ("hyperlab.engine.layers", ["Dense", "Conv2D"]),
                     ("hyperlab.engine.no_such_module", ["Lambda"]))
    assert names == ["Dense"]
    for missing in ("Conv2D", "Lambda"):
        with pytest.raises(AttributeError, match=f"hyperlab.keras.demo.{missing} is not available"):
            namespace["__getattr__"](missing)
    with pytest.raises(AttributeError, match="has no attribute 'Dense2'"):
        namespace["__getattr__"]("Dense2")


# ------------------------------------------------------------------------ regularizers
W = np.array([[0.5, -1.5], [2.0, 0.0], [-0.25, 1.0]], np.float32)


def test_regularizer_defaults_and_penalties() -> None:
    r = keras.regularizers
    abs_sum, sq_sum = np.abs(W).sum(), (W.astype(np.float64) ** 2).sum()
    # tf.keras defaults: l1(l1=0.01), l2(l2=0.01), l1_l2(l1=0.01, l2=0.01); L1L2(0, 0).
    assert r.l1().get_config() == {"l1": 0.01} and r.l2().get_config() == {"l2": 0.01}
    assert r.l1_l2().get_config() == {"l1": 0.01, "l2": 0.01}
    assert r.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert float(r.l1(0.01)(W)) == pytest.approx(0.01 * abs_sum, rel=1e-6)
    assert float(r.l2(0.01)(W)) == pytest.approx(0.01 * sq_sum, rel=1e-6)
    assert float(r.l1_l2(0.01)(W)) == pytest.approx(0.01 * abs_sum + 0.01 * sq_sum, rel=1e-6)
    assert float(r.L1L2(0.01)(W)) == pytest.approx(0.01 * abs_sum, rel=1e-6)  # as Keras


# ------------------------------------------------------------------------ utils, backend
def test_to_categorical_matches_numpy() -> None:
    y = np.array([[2], [0], [1], [2]])
    np.testing.assert_array_equal(keras.utils.to_categorical(y),
                                  np.eye(3, dtype=np.float32)[y[:, 0]])
    assert keras.utils.to_categorical(y, 5).shape == (4, 5)
    assert keras.utils.to_categorical([1, 3]).dtype == np.float32


def test_set_random_seed_seeds_python_and_numpy() -> None:
    import random

    keras.utils.set_random_seed(7)
    first = (random.random(), np.random.rand())
    keras.utils.set_random_seed(7)
    assert (random.random(), np.random.rand()) == first
    with pytest.raises(ValueError, match="Expected `seed` argument to be an integer"):
        keras.utils.set_random_seed(1.5)


def test_get_value_of_an_optimizers_learning_rate() -> None:
    opt = keras.optimizers.SGD(learning_rate=0.01)
    assert float(keras.backend.get_value(opt.learning_rate)) == pytest.approx(0.01)
    value = keras.backend.get_value(jnp.arange(3.0))
    assert isinstance(value, np.ndarray) and value.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="set_value needs a variable"):
        keras.backend.set_value(0.01, 0.001)


def test_set_value_of_an_optimizers_learning_rate() -> None:
    opt = keras.optimizers.SGD(learning_rate=0.01)
    keras.backend.set_value(opt.learning_rate, 0.001)
    assert float(keras.backend.get_value(opt.learning_rate)) == pytest.approx(0.001)
