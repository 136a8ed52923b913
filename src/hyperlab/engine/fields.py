"""Hyperparameters declared once, as class fields.

A field says what an argument is to the compiled program: a *traced value* (a program input:
runs that differ only in it share one program, ``value``), *static structure* (part of the
program's key, ``static``) or a plain *setting* (neither, such as a name). It carries the
argument's default and its constraint. From the declarations ``Declared`` derives the
constructor (with an inspectable signature), validation, ``hyperparams()``,
``static_config()``, ``get_config()``/``from_config()`` and ``repr``::

    class PowerDecay(LearningRateSchedule):
        initial_learning_rate = value(REQUIRED, NON_NEGATIVE)
        decay_steps = value(REQUIRED, POSITIVE)
        power = value(1.0, NON_NEGATIVE)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar

from hyperlab._constraints import Constraint, check

__all__ = ["REQUIRED", "Field", "Declared", "value", "static", "setting", "default",
           "fields_of"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class Field:
    """One declared hyperparameter (see ``value``, ``static`` and ``setting``)."""

    default: Any = REQUIRED
    constraint: Constraint | None = None
    role: str = "value"  # "value" (traced), "static" (program key) or "setting"
    prepare: Callable[[Any], Any] | None = None  # before the check (e.g. 0 -> None)
    convert: Callable[[Any], Any] | None = None  # after the check, when not None
    when: Callable[[Any], bool] | None = None  # shapes the program only when this holds
    init: bool = True  # a constructor parameter; else the class's `_prepare` supplies it
    attr: str = ""  # the instance attribute, when it is not the field's name
    nested_key: str = ""  # hyperparams() key of a nested object's hyperparameters
    config: bool = True  # in get_config()
    name: str = ""  # set from the class body


def value(default: Any = REQUIRED, constraint: Constraint | None = None, **kw: Any) -> Any:
    """A traced value: a program input, in ``hyperparams()`` (when not None)."""
    return Field(default, constraint, "value", **kw)


def static(default: Any = REQUIRED, constraint: Constraint | None = None, **kw: Any) -> Any:
    """Static structure: part of ``static_config()``, the compiled program's key."""
    return Field(default, constraint, "static", **kw)


def setting(default: Any = REQUIRED, constraint: Constraint | None = None, **kw: Any) -> Any:
    """A setting that is neither a program input nor structure (in ``get_config`` only)."""
    return Field(default, constraint, "setting", **kw)


@dataclass(frozen=True)
class _Default:
    value: Any


def default(new: Any) -> Any:
    """An inherited field with another default (e.g. a per-class learning rate)."""
    return _Default(new)


def _numbers(v: Any) -> Any:
    return [float(x) for x in v] if isinstance(v, (list, tuple)) else float(v)


class Declared:
    """Base of classes whose constructor arguments are declared as fields.

    Fields are ordered as declared, base class first; a field redeclared in a subclass keeps
    its place, ``default(v)`` changes only an inherited field's default, and ``_leading``
    (``_trailing``) name base fields that stay ahead of (after) a subclass's own. A class
    that writes its own ``__init__`` keeps it (and calls a base's ``__init__`` with the
    field values). ``_var_keyword`` adds ``**kwargs``, handed to ``_prepare`` (which must
    consume or reject them). Like dataclasses, a field without a default cannot follow one
    with a default.
    """

    _fields: ClassVar[dict[str, Field]] = {}
    _signature: ClassVar[inspect.Signature]  # the constructor's, without self
    _leading: ClassVar[tuple[str, ...]] = ()
    _trailing: ClassVar[tuple[str, ...]] = ()
    _var_keyword: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = {k: replace(f, name=k) for k, f in vars(cls).items() if isinstance(f, Field)}
        defaults = {k: d.value for k, d in vars(cls).items() if isinstance(d, _Default)}
        for k in [*own, *defaults]:
            delattr(cls, k)
        inherited = {k: own.get(k, f) for k, f in cls._fields.items()}
        for k, new in defaults.items():
            inherited[k] = replace(inherited[k], default=new)
        lead = {k: inherited[k] for k in cls._leading if k in inherited}
        trail = {k: inherited[k] for k in cls._trailing if k in inherited}
        new = {k: f for k, f in own.items() if k not in inherited}
        rest = {k: f for k, f in inherited.items() if k not in trail}
        cls._fields = {**lead, **new, **rest, **trail}
        params = [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    default=_EMPTY if f.default is REQUIRED else f.default)
                  for k, f in cls._fields.items() if f.init]
        if cls._var_keyword:
            params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
        cls._signature = inspect.Signature(params)
        writer = next(c for c in cls.__mro__ if "__init__" in vars(c))
        if not issubclass(writer, Declared) or getattr(writer.__init__, "_declared", False):
            cls.__init__ = _make_init(cls)  # type: ignore[method-assign]

    def _construct(self, args: tuple, kwargs: dict[str, Any]) -> None:
        bound = type(self)._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        extra = values.pop("kwargs", {}) if self._var_keyword else {}
        values = self._prepare(values, extra)
        for k, f in self._fields.items():
            setattr(self, f.attr or k, self._checked(f, values.get(k, f.default)))
        self._validate()

    def _checked(self, f: Field, v: Any) -> Any:
        """``v`` prepared, checked against the field's constraint and converted."""
        if f.prepare is not None:
            v = f.prepare(v)
        if f.constraint is not None:
            check(v, f.constraint, f.name, type(self).__name__)
        return v if f.convert is None or v is None else f.convert(v)

    def _prepare(self, values: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """Arguments before the fields' checks (aliases, legacy names)."""
        return values

    def _validate(self) -> None:
        """Checks across fields, after each field's own."""

    # ---------------------------------------------------------------- derived API
    def _get(self, f: Field) -> Any:
        return getattr(self, f.attr or f.name)

    def _active(self, f: Field) -> bool:
        return f.when is None or f.when(self)

    def hyperparams(self) -> dict[str, Any]:
        """Every traced value that is set, as floats (lists of floats); a nested object's
        hyperparameters (a schedule) under its ``nested_key``."""
        hp: dict[str, Any] = {}
        for f in self._fields.values():
            v = self._get(f)
            if f.role != "value" or v is None or not self._active(f):
                continue
            if hasattr(v, "hyperparams"):
                hp[f.nested_key or f.name] = v.hyperparams()
            else:
                hp[f.name] = _numbers(v)
        return hp

    def static_config(self) -> tuple:
        """Hashable key of everything that shapes the program: the class, the static fields,
        which traced values are set (and list lengths), then nested objects' keys."""
        statics = tuple((f.name, self._get(f) if self._active(f) else None)
                        for f in self._fields.values() if f.role == "static")
        shape, nested = [], []
        for key, v in self.hyperparams().items():
            shape.append((key, len(v)) if isinstance(v, list) else key)
        for f in self._fields.values():
            v = self._get(f)
            if f.role == "value" and hasattr(v, "static_config") and self._active(f):
                nested.append(v.static_config())
        return (type(self).__name__, statics, tuple(shape), *nested)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (``from_config`` inverts it)."""
        config = {}
        for f in self._fields.values():
            if f.config:
                v = self._get(f)
                config[f.name] = list(v) if isinstance(v, list) else v
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def fields_of(cls: type[Declared]) -> tuple[Field, ...]:
    """The fields ``cls`` declares and inherits, in constructor order."""
    return tuple(cls._fields.values())


def _make_init(cls: type[Declared]) -> Callable[..., None]:
    def __init__(self: Declared, *args: Any, **kwargs: Any) -> None:
        self._construct(args, kwargs)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = cls._signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *cls._signature.parameters.values()])
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__._declared = True  # type: ignore[attr-defined]  # a subclass gets its own
    return __init__
