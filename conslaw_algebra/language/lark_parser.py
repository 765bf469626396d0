"""The reference parser of the `.net` language: lark's LALR parser on ``net.lark``.

Why keep it beside the hand-written parser (``fast_parser.py``): the grammar file is the
language's definition, and lark turns it into a parser whose errors carry the line,
column and the tokens expected, which our syntax messages are built from. It is only
imported when the fast parser meets something it does not accept (a syntax error, a
reserved word, a bad literal) and for the tests that compare the two parsers, so the
command line does not pay for lark's import and grammar analysis (about 25 ms) on
valid files.

The LALR parser keeps its own stack, and the transformer is lark's non-recursive one
(the tree is turned into postfix order and built bottom-up), so neither recurses on
the depth of an expression: 5,000 unary minus signs or 20,000 factors on one line
parse in linear time. Syntax errors say what to write instead where the mistake is a
common one (``**``, decimals, a misspelt statement word).

>>> [type(s).__name__ for s in statements("param a, b\\noutput a * b\\n")]
['ParamStmt', 'OutputStmt']
"""
from __future__ import annotations

import difflib
import re
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import ConslawError, ModelNameError, ModelSyntaxError
from .syntax import (MAX_DIGITS, STATEMENT_KEYWORDS, BinOp, Call, Decl, FlowOption, FlowStmt, Index,
                     InputStmt, LayerStep, LayersStmt, LetStmt, MetricStmt, ModelStmt, Name, Neg,
                     Number, OutputStmt, ParamStmt, Pos, Pow, Transpose)


def grammar_path() -> Path:
    """Where ``net.lark`` is: beside the package (installed) or in ``grammar/``.

    >>> grammar_path().name
    'net.lark'
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "net.lark", here.parent.parent / "grammar" / "net.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("grammar file net.lark not found")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(grammar_path().read_text(), parser="lalr", propagate_positions=True, cache=True,
                maybe_placeholders=False)


def _pos(item) -> Pos:
    if isinstance(item, Token):
        return Pos(item.line, item.column)
    return Pos(item.line, item.column)


def _free_name(token: Token, what: str) -> str:
    """The token's text, unless it is a statement keyword (reserved, DSL.md section 1)."""
    name = str(token)
    if name in STATEMENT_KEYWORDS:
        raise ModelNameError(f"'{name}' is a reserved word (a statement keyword) and cannot name "
                             f"{what}; choose another name, e.g. '{name}_'",
                             line=token.line, column=token.column)
    return name


def _integer(token: Token, text: str | None = None) -> int:
    """The integer a literal token (or part ``text`` of it) spells, at most MAX_DIGITS long."""
    digits = str(token) if text is None else text
    if len(digits) > MAX_DIGITS:
        raise ModelSyntaxError(f"a number with {len(digits):,} digits; at most {MAX_DIGITS:,} "
                               "are read", line=token.line, column=token.column)
    return int(digits)


def _fraction(token: Token) -> Fraction:
    numerator, _, denominator = str(token).partition("/")
    if denominator and _integer(token, denominator) == 0:
        raise ModelSyntaxError("division by zero", line=token.line, column=token.column)
    return Fraction(_integer(token, numerator), _integer(token, denominator or "1"))


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """Tree -> AST; one method per grammar rule, applied bottom-up without recursion."""

    def start(self, meta, children):
        return tuple(children)

    # statements
    def model_stmt(self, meta, children):
        return ModelStmt(_free_name(children[0], "the model"), _pos(meta))

    def decl(self, meta, children):
        name, *dims = children
        _free_name(name, "a tensor")
        shape = tuple(_integer(d) for d in dims)
        for dim, size in zip(dims, shape):
            if size <= 0:
                raise ModelSyntaxError(f"shape of '{name}' must be positive, got {size}",
                                       line=dim.line, column=dim.column)
        return Decl(str(name), shape, _pos(name))

    def param_stmt(self, meta, children):
        return ParamStmt(tuple(children), _pos(meta))

    def input_stmt(self, meta, children):
        return InputStmt(tuple(children), _pos(meta))

    def input_decl(self, meta, children):
        decl, *flag = children
        if flag and str(flag[0]) != "onehot":
            raise ModelSyntaxError(f"unknown input option '{flag[0]}' (use onehot)",
                                   line=flag[0].line, column=flag[0].column)
        if flag and not decl.shape:
            raise ModelSyntaxError(f"a onehot input needs a shape, e.g. {decl.name}[4,10] "
                                   "onehot (rows along the last axis)",
                                   line=flag[0].line, column=flag[0].column)
        return Decl(decl.name, decl.shape, decl.pos, bool(flag))

    def let_stmt(self, meta, children):
        name, value = children
        return LetStmt(str(name), value, _pos(name))

    def output_stmt(self, meta, children):
        return OutputStmt(children[0], _pos(meta))

    def layer_step(self, meta, children):
        width, *options = children
        if _integer(width) <= 0:
            raise ModelSyntaxError("layer widths must be positive", line=width.line, column=width.column)
        return LayerStep(_integer(width), tuple(str(o) for o in options), _pos(width))

    def layers_stmt(self, meta, children):
        width, *steps = children
        if _integer(width) <= 0:
            raise ModelSyntaxError("layer widths must be positive", line=width.line, column=width.column)
        return LayersStmt(_integer(width), tuple(steps), _pos(meta))

    def flow_option(self, meta, children):
        if not children:
            return None
        key = children[0]
        value = children[1] if len(children) > 1 else None
        if isinstance(value, Token):
            value = str(value)
        return FlowOption(str(key), value, _pos(key))

    def flow_stmt(self, meta, children):
        kind, *options = children
        return FlowStmt(str(kind), tuple(o for o in options if o is not None), _pos(meta))

    def metric_stmt(self, meta, children):
        name, value = children
        return MetricStmt(str(name), value, _pos(name))

    def number(self, meta, children):
        return _fraction(children[0])

    # expressions
    def name(self, meta, children):
        return Name(str(children[0]), _pos(children[0]))

    def integer(self, meta, children):
        return Number(Fraction(_integer(children[0])), _pos(children[0]))

    def rational(self, meta, children):
        return Number(_fraction(children[0]), _pos(children[0]))

    def call(self, meta, children):
        function, (positional, keywords) = children
        return Call(str(function), tuple(positional), tuple(keywords), _pos(function))

    def arguments(self, meta, children):
        positional = [c for c in children if not isinstance(c, tuple)]
        keywords = [c for c in children if isinstance(c, tuple)]
        return positional, keywords

    def argument(self, meta, children):
        return children[0]

    def keyword_argument(self, meta, children):
        name, value = children
        return (str(name), value)

    def _binary(op):
        def build(self, meta, children):
            left, right = children
            return BinOp(op, left, right, _pos(meta))
        return build

    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    matmul = _binary("@")

    def div(self, meta, children):
        left, right = children
        if isinstance(left, Number) and isinstance(right, Number):
            if right.value == 0:
                raise ModelSyntaxError("division by zero", line=right.pos.line, column=right.pos.column)
            return Number(left.value / right.value, left.pos)
        raise ModelSyntaxError("'/' is only allowed between number literals, as in 1/2",
                               line=meta.line, column=meta.column)

    def neg(self, meta, children):
        operand = children[0]
        if isinstance(operand, Number):
            return Number(-operand.value, _pos(meta))
        return Neg(operand, _pos(meta))

    def pow(self, meta, children):
        base, exponent = children
        return Pow(base, exponent, _pos(meta))

    def transpose(self, meta, children):
        return Transpose(children[0], _pos(meta))

    def index(self, meta, children):
        operand, *indices = children
        return Index(operand, tuple(_integer(i) for i in indices), _pos(meta))


_TOKEN_WORDS = {
    "_NL": "end of line", "NAME": "a name", "INT": "an integer", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "EQUAL": "'='", "PLUS": "'+'", "MINUS": "'-'",
    "STAR": "'*'", "RATIONAL": "a fraction", "SLASH": "'/'", "CIRCUMFLEX": "'^'", "__ANON_0": "'->'", "$END": "end of file",
}


def _describe_expected(expected) -> str:
    words = sorted({_TOKEN_WORDS.get(name, name.lower().strip("_")) for name in expected})
    if not words:
        return ""
    if len(words) > 6:
        return ""
    return "; expected " + ", ".join(words)


def statements(text: str, source_name: str | None = None) -> tuple:
    """The statements of ``text`` (ending with a newline), or the first mistake as a
    :class:`ModelSyntaxError` (or :class:`ModelNameError`) with its line and column.

    >>> statements("output 1 +\\n")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ModelSyntaxError: 1:11: unexpected end of line; expected '(', '-', a fraction, a name, an integer
    """
    try:
        tree = _parser().parse(text)
        return tuple(_ToAst().transform(tree))
    except VisitError as exc:
        if isinstance(exc.orig_exc, ConslawError):
            raise exc.orig_exc.located(source_name) from None
        raise
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, source_name) from None


_DECIMAL = re.compile(r"(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+")


def _decimal_at(text: str, position: int) -> tuple[int, str] | None:
    """(start, text) of the decimal or scientific literal around ``position``, if any."""
    start = position
    while start > 0 and (text[start - 1].isdigit() or text[start - 1] == "."):
        start -= 1
    match = _DECIMAL.match(text, start)
    if match and position <= match.end():
        return start, match.group()
    return None


def _rational_hint(literal: str) -> str:
    """What to write for a decimal literal: its exact rational (when it is short).

    >>> _rational_hint("0.25"), _rational_hint("1e999999")[-28:]
    ('decimal numbers are not part of the language: write the rational 1/4 for 0.25', 'write a rational such as 1/2')
    """
    mantissa, _, exponent = literal.lower().partition("e")
    if len(literal) > 40 or (exponent and abs(int(exponent)) > 40):
        return "decimal numbers are not part of the language: write a rational such as 1/2"
    value = Fraction(literal)
    return (f"decimal numbers are not part of the language: write the rational {value} for "
            f"{literal}" if value.denominator != 1 else
            f"decimal numbers are not part of the language: write the integer {value} for {literal}")


def _statement_word(text: str, token: Token) -> str | None:
    """The first word of the token's line when it is not a statement keyword and the
    line is no binding (``NAME = ...``): a misspelt statement such as ``ouput a*b``."""
    start = text.rfind("\n", 0, token.start_pos) + 1
    line = text[start:text.find("\n", start)]
    match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(.?)", line)
    if not match or match.group(1) in STATEMENT_KEYWORDS or match.group(2) == "=":
        return None
    if start + match.start(1) >= token.start_pos:
        return None
    return match.group(1)


def _syntax_error(exc: UnexpectedInput, text: str, source_name: str | None) -> ModelSyntaxError:
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        message = f"unexpected character {char!r}"
        found = _decimal_at(text, exc.pos_in_stream) if char in ".eE0123456789" else None
        if found:
            message = _rational_hint(found[1])
            column -= exc.pos_in_stream - found[0]
    elif isinstance(exc, UnexpectedToken) and (word := _statement_word(text, exc.token)):
        start = text.rfind("\n", 0, exc.token.start_pos) + 1
        column = text.index(word, start) - start + 1
        near = difflib.get_close_matches(word, STATEMENT_KEYWORDS, n=1, cutoff=0.6)
        message = (f"unknown statement '{word}'; did you mean '{near[0]}'?" if near else
                   f"unknown statement '{word}': a line starts with "
                   + ", ".join(STATEMENT_KEYWORDS) + ", or binds a name (NAME = expression)")
    elif isinstance(exc, UnexpectedToken) and exc.token.type == "EQUAL" \
            and str(_line_first_word(text, exc.token)) in STATEMENT_KEYWORDS:
        word = _line_first_word(text, exc.token)
        column = text.rfind(word, 0, exc.token.start_pos) - text.rfind("\n", 0, exc.token.start_pos)
        message = (f"'{word}' is a reserved word (a statement keyword) and cannot be bound; "
                   f"choose another name, e.g. '{word}_'")
    elif isinstance(exc, UnexpectedToken) and exc.token.type == "STAR" \
            and text[exc.token.start_pos - 1:exc.token.start_pos] == "*":
        message = "'**' is not an operator: write powers with '^', as in a^2"
        column -= 1
    elif isinstance(exc, UnexpectedToken) and exc.token.type in ("NAME", "INT") \
            and (found := _decimal_at(text, exc.token.start_pos)):
        message = _rational_hint(found[1])
        column -= exc.token.start_pos - found[0]
    elif isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            message = "unexpected end of file"
            lines = text.rstrip("\n").split("\n")
            line, column = len(lines), len(lines[-1]) + 1
        elif token.type == "_NL":
            message = "unexpected end of line"
        else:
            message = f"unexpected {str(token)!r}"
        message += _describe_expected(exc.expected)
    elif isinstance(exc, UnexpectedEOF):
        message = "unexpected end of file"
    else:  # pragma: no cover - lark has no other kinds today
        message = "syntax error"
    if line is None or line < 0:
        line, column = None, None
    return ModelSyntaxError(message, file=source_name, line=line, column=column)


def _line_first_word(text: str, token: Token) -> str:
    start = text.rfind("\n", 0, token.start_pos) + 1
    return text[start:token.start_pos].strip()


