"""The syntax tree of the `.net` language: immutable records with source positions.

Both parsers (``fast_parser.py`` and the reference ``lark_parser.py``) build these, and
everything downstream reads them; they say what was written, nothing about meaning
(``compiler.py`` checks names, shapes and semantics).

Why records rather than frozen dataclasses: a dataclass generates and compiles its
methods when its class is made, about 0.3 ms for each of these 22 classes, and every
command line makes them at start-up (7 ms of the 150 ms budget, measured). ``Record``
gives the same behaviour (fields in declaration order with their defaults, equality and
hash by type and fields, a dataclass-like repr, no assignment after construction,
pickling) from methods written once.

>>> BinOp("+", Name("a", Pos(1, 8)), Number(Fraction(1), Pos(1, 12)), Pos(1, 8)).op
'+'
"""
from __future__ import annotations

from fractions import Fraction

# The words that start a statement: no model, tensor or binding may be named like them.
STATEMENT_KEYWORDS = ("model", "param", "input", "output", "layers", "flow", "metric")
MAX_DIGITS = 300    # of an integer literal: within a float (simulate), and Python reads <= 4,300


class Record:
    """An immutable record whose fields are the annotated names of its class, in order
    (a value after ``=`` is the field's default).

    >>> Pos(1, 2) == Pos(line=1, column=2), Pos(1, 2)
    (True, Pos(line=1, column=2))
    """

    _fields: tuple = ()
    _defaults: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._fields = tuple(cls.__dict__.get("__annotations__", {}))
        cls._defaults = {name: cls.__dict__[name] for name in cls._fields if name in cls.__dict__}

    def __init__(self, *args, **kwargs):
        fields = self._fields
        if len(args) == len(fields) and not kwargs:
            for name, value in zip(fields, args):
                object.__setattr__(self, name, value)
            return
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments")
        for name, value in zip(fields, args):
            object.__setattr__(self, name, value)
        for name in fields[len(args):]:
            if name in kwargs:
                object.__setattr__(self, name, kwargs.pop(name))
            elif name in self._defaults:
                object.__setattr__(self, name, self._defaults[name])
            else:
                raise TypeError(f"{type(self).__name__}() needs {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}() has no field {next(iter(kwargs))!r}")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r} of an immutable record")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r} of an immutable record")

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self):
        return (type(self), self._values())


class Pos(Record):
    """A 1-based line and column in the source text."""

    line: int
    column: int


# ----------------------------------------------------------------- expressions
class Name(Record):
    ident: str
    pos: Pos


class Number(Record):
    value: Fraction
    pos: Pos


class BinOp(Record):
    op: str  # one of + - * @ /
    left: "Expr"
    right: "Expr"
    pos: Pos


class Neg(Record):
    operand: "Expr"
    pos: Pos


class Pow(Record):
    base: "Expr"
    exponent: "Expr"
    pos: Pos


class Transpose(Record):
    operand: "Expr"
    pos: Pos


class Index(Record):
    operand: "Expr"
    indices: tuple[int, ...]
    pos: Pos


class Call(Record):
    function: str
    arguments: tuple["Expr", ...]
    keywords: tuple[tuple[str, "Expr"], ...]
    pos: Pos

    @property
    def argument(self) -> "Expr":
        """The first positional argument."""
        return self.arguments[0]


Expr = Name | Number | BinOp | Neg | Pow | Transpose | Index | Call


# ------------------------------------------------------------------ statements
class Decl(Record):
    name: str
    shape: tuple[int, ...]
    pos: Pos
    onehot: bool = False   # input only: the last axis holds 0/1 entries that sum to 1


class ModelStmt(Record):
    name: str
    pos: Pos


class ParamStmt(Record):
    decls: tuple[Decl, ...]
    pos: Pos


class InputStmt(Record):
    decls: tuple[Decl, ...]
    pos: Pos


class LetStmt(Record):
    name: str
    value: Expr
    pos: Pos


class OutputStmt(Record):
    value: Expr
    pos: Pos


class LayerStep(Record):
    width: int
    options: tuple[str, ...]
    pos: Pos


class LayersStmt(Record):
    input_width: int
    steps: tuple[LayerStep, ...]
    pos: Pos


class FlowOption(Record):
    key: str
    value: str | Fraction | None
    pos: Pos


class FlowStmt(Record):
    kind: str
    options: tuple[FlowOption, ...]
    pos: Pos


class MetricStmt(Record):
    """``metric W = expr``: the diagonal of M(theta) on the entries of parameter W."""

    name: str
    value: Expr
    pos: Pos


Statement = MetricStmt | ModelStmt | ParamStmt | InputStmt | LetStmt | OutputStmt | LayersStmt | FlowStmt


class Program(Record):
    """A parsed model file: its statements in source order and where it came from."""

    statements: tuple[Statement, ...]
    source_name: str | None = None
