"""What an argument may be, declared as data, and one checker with one message format.

A constraint says which values it accepts (``accepts``), what it allows in words
(``describe``) and a few values it rejects (``invalid``, for tests that generate bad input).
``check`` raises the one message format::

    SGD: `momentum` must be a finite float in [0, 1]. Received: momentum=1.5

naming the owner, the parameter, what is allowed and what was given. A field of a study
file or a command-line flag is named by its place instead (``check_at``)::

    study.toml: fit.epochs: expected an int >= 1, found 0

This module is the
bottom of the package graph: it imports nothing from hyperlab.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Constraint", "Interval", "Options", "Boolean", "Optional", "AnyOf", "Duck",
           "Items", "Instance", "PlainInt", "check", "message", "check_at", "expected", "FINITE",
           "NON_NEGATIVE", "POSITIVE", "UNIT", "UNIT_OPEN", "POSITIVE_INT", "NON_NEGATIVE_INT"]


class Constraint:
    """Base: a predicate on values with a description of what it allows."""

    error: type[Exception] = ValueError

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        """What the constraint allows, to follow "must be" in a message."""
        raise NotImplementedError

    def invalid(self) -> list[Any]:
        """Values this constraint rejects (the bounds' outside, a wrong type...)."""
        raise NotImplementedError


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval(Constraint):
    """A finite real (``integer=True``: an int) between ``low`` and ``high``; ``None``
    leaves that side open to infinity, ``closed`` says which bounds belong to it."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right" or "neither"
    integer: bool = False  # an int (not 2.0)
    whole: bool = False  # an int or an integral float (2.0)

    def accepts(self, value: Any) -> bool:
        is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if self.integer and not is_int:
            return False
        if is_int:
            x: Any = int(value)  # exact, however large
        elif _real(value) and math.isfinite(float(value)):
            x = float(value)
            if self.whole and not x.is_integer():
                return False
        else:
            return False
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        ok_low = self.low is None or x > self.low or (left and x == self.low)
        return ok_low and (self.high is None or x < self.high or (right and x == self.high))

    def describe(self) -> str:
        kind = "int" if self.integer else "whole number" if self.whole else "finite number"
        article = "an" if self.integer else "a"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return (f"{article} {kind} in {'[' if left else '('}{self.low:g}, "
                    f"{self.high:g}{']' if right else ')'}")
        if self.low == 0 and left:
            return f"a non-negative {kind}"
        if self.low is not None:
            return f"{article} {kind} {'>=' if left else '>'} {self.low:g}"
        if self.high is not None:
            return f"{article} {kind} {'<=' if right else '<'} {self.high:g}"
        return f"{article} {kind}"

    def invalid(self) -> list[Any]:
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        out: list[Any] = ["0.1", float("nan"), float("inf")]
        if self.low is not None:
            out.append(self.low - 1 if left else self.low)
        if self.high is not None:
            out.append(self.high + 1 if right else self.high)
        if self.integer or self.whole:
            out.append(2.5)
        return out


@dataclass(frozen=True)
class PlainInt(Interval):
    """A Python ``int`` (not a NumPy integer, not a bool) between ``low`` and ``high``: a
    count that is written to JSON as it is (a study file's)."""

    integer: bool = True

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and super().accepts(value)


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def invalid(self) -> list[Any]:
        return ["<not an option>"]


@dataclass(frozen=True)
class Boolean(Constraint):
    """True or False (not 0/1, not a string)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "a bool"

    def invalid(self) -> list[Any]:
        return ["yes", 1]


@dataclass(frozen=True)
class Optional(Constraint):
    """None, or what ``inner`` accepts."""

    inner: Constraint

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def describe(self) -> str:
        return f"{self.inner.describe()} or None"

    def invalid(self) -> list[Any]:
        return self.inner.invalid()


@dataclass(frozen=True)
class AnyOf(Constraint):
    """What any of ``options`` accepts."""

    options: tuple[Constraint, ...]

    def accepts(self, value: Any) -> bool:
        return any(c.accepts(value) for c in self.options)

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.options)

    def invalid(self) -> list[Any]:
        return [v for c in self.options for v in c.invalid() if not self.accepts(v)]


@dataclass(frozen=True)
class Duck(Constraint):
    """An object with the given methods (e.g. a schedule: ``evaluate`` and ``hyperparams``)."""

    methods: tuple[str, ...]
    what: str

    def accepts(self, value: Any) -> bool:
        return all(hasattr(value, m) for m in self.methods)

    def describe(self) -> str:
        return f"{self.what} (with {' and '.join(f'`{m}`' for m in self.methods)})"

    def invalid(self) -> list[Any]:
        return [lambda step: 0.1]


@dataclass(frozen=True)
class Items(Constraint):
    """A sequence whose items each satisfy ``item``, at least ``min_len`` long, strictly
    increasing if ``increasing``."""

    item: Constraint
    min_len: int = 0
    increasing: bool = False

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            return False
        if len(value) < self.min_len or self.bad_item(value) is not None:
            return False
        return not (self.increasing and any(b <= a for a, b in zip(value, value[1:])))

    def describe(self) -> str:
        what = "a non-empty list" if self.min_len else "a list"
        order = ", strictly increasing" if self.increasing else ""
        return f"{what} of {self.item.describe()}{order}"

    def bad_item(self, value: Sequence[Any]) -> int | None:
        """The index of the first item ``item`` rejects, if any."""
        return next((i for i, v in enumerate(value) if not self.item.accepts(v)), None)

    def invalid(self) -> list[Any]:
        out: list[Any] = ["0.1", [self.item.invalid()[-1]]]
        if self.min_len:
            out.append([])
        return out


@dataclass(frozen=True)
class Instance(Constraint):
    """An instance of one of ``kinds`` (a bool is not an int or a float)."""

    kinds: tuple[type, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.kinds) and (
            bool in self.kinds or not isinstance(value, bool))

    def describe(self) -> str:
        return " or ".join(k.__name__ for k in self.kinds)

    def invalid(self) -> list[Any]:
        return [None, 1j]


def message(owner: str, name: str, allowed: str, value: Any) -> str:
    """The one error message: owner, parameter, what is allowed, what was given."""
    return f"{owner}: `{name}` must be {allowed}. Received: {name}={value!r}"


def check(value: Any, constraint: Constraint, name: str, owner: str) -> Any:
    """``value`` if ``constraint`` accepts it, else its error with the one message format.
    A list item ``Items`` rejects is named by its index (``values[1]``)."""
    if constraint.accepts(value):
        return value
    if isinstance(constraint, Items) and isinstance(value, Sequence) and not isinstance(value, str):
        i = constraint.bad_item(value)
        if i is not None:
            raise constraint.error(message(owner, f"{name}[{i}]", constraint.item.describe(),
                                           value[i]))
    raise constraint.error(message(owner, name, constraint.describe(), value))


def expected(where: str, allowed: str, value: Any) -> str:
    """The message of a value named by its place (a study file's field, a flag)."""
    return f"{where}: expected {allowed}, found {value!r}"


def check_at(value: Any, constraint: Constraint, where: str,
             error: type[Exception] | None = None) -> Any:
    """``value`` if ``constraint`` accepts it, else ``error`` (default: the constraint's)
    with the message of a place: ``where: expected ..., found ...``; a list item ``Items``
    rejects is named by its index (``model.hidden[1]``)."""
    if constraint.accepts(value):
        return value
    error = error or constraint.error
    if isinstance(constraint, Items) and isinstance(value, Sequence) and not isinstance(value, str):
        i = constraint.bad_item(value)
        if i is not None:
            raise error(expected(f"{where}[{i}]", constraint.item.describe(), value[i]))
    raise error(expected(where, constraint.describe(), value))


FINITE = Interval()
NON_NEGATIVE = Interval(0.0)
POSITIVE = Interval(0.0, closed="neither")
UNIT = Interval(0.0, 1.0)  # [0, 1]
UNIT_OPEN = Interval(0.0, 1.0, closed="left")  # [0, 1)
POSITIVE_INT = Interval(1, integer=True)
NON_NEGATIVE_INT = Interval(0, integer=True)
