"""Tests for hyperlab._constraints and hyperlab.engine.fields: one constraint
vocabulary, one message format, and classes whose arguments are declared once."""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

import numpy as np
import pytest

from hyperlab.engine import callbacks, initializers, optimizers, regularizers, schedules
from hyperlab._constraints import (NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE,
                                         POSITIVE_INT, UNIT, UNIT_OPEN, AnyOf, Boolean,
                                         Constraint, Duck, Instance, Interval, Items, Optional,
                                         Options, PlainInt, check, check_at, expected, message)
from hyperlab.engine.fields import (REQUIRED, Declared, Field, default, fields_of, setting,
                                    static, value)


# ----------------------------------------------------------------------- constraints
@pytest.mark.parametrize("constraint, good, bad", [
    (NON_NEGATIVE, [0, 0.0, 3, 1e9], [-1e-9, math.nan, math.inf, "1", True, None]),
    (POSITIVE, [1e-9, 2], [0, 0.0, -1]),
    (UNIT, [0.0, 1.0, 0.5], [-0.1, 1.1]),
    (UNIT_OPEN, [0.0, 0.999], [1.0, -0.1]),
    (Interval(2, integer=True), [2, 10**400], [1, 2.0, True, "2"]),
    (Interval(0, whole=True), [0, 3, 3.0], [2.5, -1, math.inf]),
    (Interval(None, 5, closed="neither"), [-1e9, 4.9], [5, 6]),
    (Options(("a", -1)), ["a", -1], ["b", -1.0, True]),
    (Boolean(), [True, False], [0, 1, "yes", None]),
    (Optional(POSITIVE), [None, 1.0], [0.0, "x"]),
    (AnyOf((Boolean(), POSITIVE)), [True, 2.0], [0.0, "x"]),
    (Duck(("evaluate",), "a schedule"), [schedules.PowerDecay(0.1, 10)], [0.1, lambda s: s]),
    (Items(NON_NEGATIVE, min_len=1, increasing=True), [[0, 1], (0.5,)], [[], [1, 1], "ab", 3]),
    (Instance((int, float)), [0, 2.5], [True, "1", None]),
    (Instance((bool, str)), [True, "x"], [0, None]),
    (POSITIVE_INT, [1, 10**400], [0, 1.0, True]),
    (NON_NEGATIVE_INT, [0, 3], [-1, 0.0, False]),
    (PlainInt(1), [1, 10**400], [np.int64(2), 0, 1.0, True]),
])
def test_accepts_and_invalid_examples(constraint: Constraint, good: list, bad: list) -> None:
    assert all(constraint.accepts(v) for v in good)
    assert not any(constraint.accepts(v) for v in bad)
    assert constraint.invalid() and not any(constraint.accepts(v) for v in constraint.invalid())


@pytest.mark.parametrize("constraint, words", [
    (NON_NEGATIVE, "a non-negative finite number"),
    (POSITIVE, "a finite number > 0"),
    (UNIT, "a finite number in [0, 1]"),
    (UNIT_OPEN, "a finite number in [0, 1)"),
    (Interval(2, integer=True), "an int >= 2"),
    (Optional(Interval(1, integer=True)), "an int >= 1 or None"),
    (Options(("fan_in", "fan_out")), "one of 'fan_in', 'fan_out'"),
    (Boolean(), "a bool"),
    (Instance((int, float)), "int or float"),
    (POSITIVE_INT, "an int >= 1"),
    (NON_NEGATIVE_INT, "a non-negative int"),
    (PlainInt(1), "an int >= 1"),
])
def test_describe_says_what_is_allowed(constraint: Constraint, words: str) -> None:
    assert constraint.describe() == words


def test_check_returns_the_value_or_raises_the_one_message() -> None:
    assert check(0.5, UNIT, "momentum", "SGD") == 0.5
    with pytest.raises(ValueError) as err:
        check(1.5, UNIT, "momentum", "SGD")
    assert str(err.value) == ("SGD: `momentum` must be a finite number in [0, 1]. "
                              "Received: momentum=1.5")
    assert str(err.value) == message("SGD", "momentum", UNIT.describe(), 1.5)


def test_check_names_the_bad_item_of_a_list() -> None:
    with pytest.raises(ValueError, match=r"^P: `values\[1\]` must be a non-negative finite "
                                         r"number\. Received: values\[1\]=-0\.5$"):
        check([1.0, -0.5], Items(NON_NEGATIVE), "values", "P")
    with pytest.raises(ValueError, match=r"strictly increasing\. Received: b=\[10, 5\]$"):
        check([10, 5], Items(NON_NEGATIVE, increasing=True), "b", "P")


def test_check_at_names_the_place_of_the_value() -> None:
    assert check_at(3, POSITIVE_INT, "--workers") == 3
    with pytest.raises(KeyError) as err:
        check_at(0, POSITIVE_INT, "s.toml: fit.epochs", KeyError)
    assert err.value.args[0] == "s.toml: fit.epochs: expected an int >= 1, found 0"
    assert err.value.args[0] == expected("s.toml: fit.epochs", "an int >= 1", 0)
    with pytest.raises(ValueError, match=r"^model\.hidden\[1\]: expected an int >= 1, found 0$"):
        check_at([8, 0], Items(POSITIVE_INT), "model.hidden")


# ----------------------------------------------------------------------- fields
class _Base(Declared):
    _leading = ("rate",)
    rate = value(0.1, NON_NEGATIVE, convert=float)
    flag = static(False, Boolean())
    extra = value(0.9, UNIT, when=lambda self: self.flag)
    name = setting(None)


class _Child(_Base):
    rate = default(0.5)
    beta = value(0.99, UNIT_OPEN)
    steps = value((1,), Items(POSITIVE, min_len=1), prepare=list)


class _Needs(Declared):
    x = value(REQUIRED, POSITIVE)


def test_declared_fields_give_the_constructor_and_its_signature() -> None:
    assert list(inspect.signature(_Child).parameters) == ["rate", "beta", "steps", "flag",
                                                          "extra", "name"]
    assert inspect.signature(_Child).parameters["rate"].default == 0.5
    c = _Child(1, steps=(2, 3))
    assert (c.rate, c.beta, c.steps, c.flag, c.name) == (1.0, 0.99, [2, 3], False, None)
    assert type(c.rate) is float
    with pytest.raises(TypeError):
        _Needs()  # x is required
    assert _Needs(2).x == 2  # stored as given: no convert
    with pytest.raises(ValueError, match=r"^_Child: `beta` must be a finite number in \[0, 1\)"):
        _Child(steps=[1], beta=1.0)


def test_declared_fields_derive_hyperparams_static_config_and_config() -> None:
    c = _Child(steps=[2, 3])
    assert c.hyperparams() == {"rate": 0.5, "beta": 0.99, "steps": [2.0, 3.0]}  # extra: off
    on = _Child(steps=[2, 3], flag=True)
    assert on.hyperparams()["extra"] == 0.9
    assert c.static_config() == ("_Child", (("flag", False),), ("rate", "beta", ("steps", 2)))
    assert c.static_config() == _Child(0.7, 0.5, [9, 9]).static_config()
    assert c.static_config() != on.static_config() != _Child(steps=[1]).static_config()
    config = c.get_config()
    assert config == {"rate": 0.5, "beta": 0.99, "steps": [2, 3], "flag": False, "extra": 0.9,
                      "name": None}
    assert _Child.from_config(config).get_config() == config
    assert repr(c) == "_Child(rate=0.5, beta=0.99, steps=[2, 3], flag=False, extra=0.9)"
    assert all(isinstance(f, Field) for f in fields_of(_Base)) and not hasattr(_Base, "rate")


# ---------------------------------- every public class with declared constraints
_REQUIRED_ARGS: dict[str, Any] = {"initial_learning_rate": 0.1, "decay_steps": 10,
                                  "decay_rate": 0.5, "first_decay_steps": 10,
                                  "boundaries": [10], "values": [1.0, 0.5]}
_CLASSES = ([getattr(optimizers, n) for n in ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam",
                                              "Adamax", "Nadam")]
            + [getattr(schedules, n) for n in schedules.NAMES]
            + [regularizers.L1, regularizers.L2, regularizers.L1L2]
            + [callbacks.ReduceLROnPlateau, callbacks.EarlyStopping]
            + [initializers.RandomNormal, initializers.TruncatedNormal,
               initializers.RandomUniform, initializers.VarianceScaling,
               initializers.GlorotUniform])


def _invalid_cases() -> list:
    cases = []
    for cls in _CLASSES:
        arguments = inspect.signature(cls).parameters
        for f in fields_of(cls):
            name = f.name
            if f.constraint is None or name not in arguments:
                continue
            for bad in f.constraint.invalid():
                try:
                    prepared = f.prepare(bad) if f.prepare else bad
                except TypeError:
                    continue
                if not f.constraint.accepts(prepared):  # e.g. 0 steps is "no accumulation"
                    shown = "a function" if callable(bad) else repr(bad)  # ids equal across workers
                    cases.append(pytest.param(cls, name, bad, id=f"{cls.__name__}-{name}-{shown}"))
    return cases


@pytest.mark.parametrize("cls, name, bad", _invalid_cases())
def test_every_declared_constraint_rejects_its_invalid_values_in_one_line(
        cls: type, name: str, bad: Any) -> None:
    names = {f.name for f in fields_of(cls)}
    args = {k: v for k, v in _REQUIRED_ARGS.items() if k in names}
    with pytest.raises(ValueError) as err:
        cls(**{**args, name: bad})
    text = str(err.value)
    assert "\n" not in text
    pattern = (rf"{cls.__name__}: `{name}(\[\d+\])?` must be .+\. "
               rf"Received: {name}(\[\d+\])?=.+")
    assert re.fullmatch(pattern, text, re.S), text


def test_the_generated_cases_cover_every_class() -> None:
    covered = {p.values[0] for p in _invalid_cases()}
    assert covered == set(_CLASSES)
