"""The syntax tree of the `.net` language: frozen dataclasses with source positions.

Both parsers (``fast_parser.py`` and the reference ``lark_parser.py``) build these, and
everything downstream reads them; they say what was written, nothing about meaning
(``compiler.py`` checks names, shapes and semantics).

>>> BinOp("+", Name("a", Pos(1, 8)), Number(Fraction(1), Pos(1, 12)), Pos(1, 8)).op
'+'
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# The words that start a statement: no model, tensor or binding may be named like them.
STATEMENT_KEYWORDS = ("model", "param", "input", "output", "layers", "flow", "metric")
MAX_DIGITS = 300    # of an integer literal: within a float (simulate), and Python reads <= 4,300


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column in the source text."""

    line: int
    column: int


# ----------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Name:
    ident: str
    pos: Pos


@dataclass(frozen=True)
class Number:
    value: Fraction
    pos: Pos


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * @ /
    left: "Expr"
    right: "Expr"
    pos: Pos


@dataclass(frozen=True)
class Neg:
    operand: "Expr"
    pos: Pos


@dataclass(frozen=True)
class Pow:
    base: "Expr"
    exponent: "Expr"
    pos: Pos


@dataclass(frozen=True)
class Transpose:
    operand: "Expr"
    pos: Pos


@dataclass(frozen=True)
class Index:
    operand: "Expr"
    indices: tuple[int, ...]
    pos: Pos


@dataclass(frozen=True)
class Call:
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
@dataclass(frozen=True)
class Decl:
    name: str
    shape: tuple[int, ...]
    pos: Pos
    onehot: bool = False   # input only: the last axis holds 0/1 entries that sum to 1


@dataclass(frozen=True)
class ModelStmt:
    name: str
    pos: Pos


@dataclass(frozen=True)
class ParamStmt:
    decls: tuple[Decl, ...]
    pos: Pos


@dataclass(frozen=True)
class InputStmt:
    decls: tuple[Decl, ...]
    pos: Pos


@dataclass(frozen=True)
class LetStmt:
    name: str
    value: Expr
    pos: Pos


@dataclass(frozen=True)
class OutputStmt:
    value: Expr
    pos: Pos


@dataclass(frozen=True)
class LayerStep:
    width: int
    options: tuple[str, ...]
    pos: Pos


@dataclass(frozen=True)
class LayersStmt:
    input_width: int
    steps: tuple[LayerStep, ...]
    pos: Pos


@dataclass(frozen=True)
class FlowOption:
    key: str
    value: str | Fraction | None
    pos: Pos


@dataclass(frozen=True)
class FlowStmt:
    kind: str
    options: tuple[FlowOption, ...]
    pos: Pos


@dataclass(frozen=True)
class MetricStmt:
    """``metric W = expr``: the diagonal of M(theta) on the entries of parameter W."""

    name: str
    value: Expr
    pos: Pos


Statement = MetricStmt | ModelStmt | ParamStmt | InputStmt | LetStmt | OutputStmt | LayersStmt | FlowStmt


@dataclass(frozen=True)
class Program:
    """A parsed model file: its statements in source order and where it came from."""

    statements: tuple[Statement, ...]
    source_name: str | None = None
