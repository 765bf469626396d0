"""A hand-written parser for valid `.net` files: the same trees as the grammar, quickly.

Why a second parser: lark's import and the analysis of the grammar cost about 25 ms,
more than a small model's whole count, so the command line reads valid files without
them. Tokens come from one regular expression; a statement is read by its first word;
an expression by operator precedence with explicit stacks (operands, and operators
with the parentheses and calls still open), so nothing recurses on nesting depth and
the time is linear in the text.

It answers only what it is sure of, and never explains a mistake: on anything outside
the plain grammar (an unknown character, a token out of place, a statement keyword
used as a name, a zero shape or width, a literal of more than ``MAX_DIGITS`` digits,
``/`` between non-numbers, a division by zero, an input option other than ``onehot``)
it raises :class:`NotAccepted`, and ``parser.parse`` asks the reference parser
(``lark_parser.py``, lark's LALR parser on ``grammar/net.lark``) for the error and its
position. Tests compare the two parsers on every example and on generated programs:
whenever this one answers, the reference gives the same tree, positions included.

Positions follow lark's rules: a statement is at its first token, a binary operation,
power, transpose or index at the first character of its left operand's text
(an opening parenthesis included), a negation at its ``-``, a call at its name.

>>> [type(s).__name__ for s in statements("param a, b\\noutput -(a + b)^2\\n")]
['ParamStmt', 'OutputStmt']
>>> statements("output a ** 2\\n")
Traceback (most recent call last):
...
conslaw_algebra.language.fast_parser.NotAccepted: 1:11: '*' not expected here
"""
from __future__ import annotations

import re
from fractions import Fraction

from .syntax import (MAX_DIGITS, STATEMENT_KEYWORDS, BinOp, Call, Decl, FlowOption, FlowStmt, Index,
                     InputStmt, LayerStep, LayersStmt, LetStmt, MetricStmt, ModelStmt, Name, Neg,
                     Number, OutputStmt, ParamStmt, Pos, Pow, Transpose)


class NotAccepted(Exception):
    """The text is not plainly valid: the reference parser decides and explains."""


_TOKENS = re.compile(r"""
    (?P<skip>[ \t\f]+|\#[^\n]*)
  | (?P<newline>\r?\n)
  | (?P<rational>[0-9]+/[0-9]+)
  | (?P<int>[0-9]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<symbol>->|\.T|[-+*@/^()\[\],=])
""", re.VERBOSE)

_KEYWORDS = frozenset(STATEMENT_KEYWORDS)
_BINARY = {"+": 1, "-": 1, "*": 2, "@": 2, "/": 2}
_NEGATION_LEVEL = 3     # binds tighter than * and +, looser than ^ (-a^2 is -(a^2))
_POWER_LEVEL = 4        # right-associative; its exponent is a unary expression


class _Token:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: Pos):
        self.kind, self.text, self.pos = kind, text, pos


def _tokens(text: str) -> list[list[_Token]]:
    """The tokens of ``text`` line by line (comments and blanks dropped)."""
    lines, current, line, line_start, at = [], [], 1, 0, 0
    for match in _TOKENS.finditer(text):
        if match.start() != at:
            break                       # an unknown character
        at = match.end()
        kind = match.lastgroup
        if kind == "skip":
            continue
        if kind == "newline":
            lines.append(current)
            current, line, line_start = [], line + 1, match.end()
            continue
        word = match.group()
        pos = Pos(line, match.start() - line_start + 1)
        if kind == "name" and word in _KEYWORDS and not current:
            kind = "keyword"
        elif kind == "symbol":
            kind = word
        current.append(_Token(kind, word, pos))
    if at != len(text) or current:
        raise NotAccepted(f"{line}:{at - line_start + 1}: unexpected character")
    return lines


def _refuse(token: _Token | None, what: str = "not expected here"):
    where = f"{token.pos.line}:{token.pos.column}: {token.text!r} " if token else "end of line: "
    raise NotAccepted(where + what)


def _integer(token: _Token, digits: str | None = None) -> int:
    digits = token.text if digits is None else digits
    if len(digits) > MAX_DIGITS:
        _refuse(token, "has too many digits")
    return int(digits)


def _positive(token: _Token) -> int:
    value = _integer(token)
    if value <= 0:
        _refuse(token, "must be positive")
    return value


def _fraction(token: _Token) -> Fraction:
    numerator, _, denominator = token.text.partition("/")
    if not denominator:
        return Fraction(_integer(token))
    bottom = _integer(token, denominator)
    if bottom == 0:
        _refuse(token, "divides by zero")
    return Fraction(_integer(token, numerator), bottom)


class _Line:
    """A cursor over one line's tokens."""

    def __init__(self, tokens: list[_Token]):
        self.tokens, self.at = tokens, 0

    def peek(self, ahead: int = 0) -> _Token | None:
        index = self.at + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, *kinds: str) -> _Token:
        token = self.peek()
        if token is None or token.kind not in kinds:
            _refuse(token)
        self.at += 1
        return token

    def taking(self, kind: str) -> bool:
        """Take the next token when it is of ``kind``; say whether it was."""
        token = self.peek()
        if token is not None and token.kind == kind:
            self.at += 1
            return True
        return False

    def end(self) -> None:
        if self.peek() is not None:
            _refuse(self.peek())


def statements(text: str) -> tuple:
    """The statements of ``text`` (ending with a newline), or :class:`NotAccepted`.

    >>> statements("layers 4 -> 3 relu bias -> 1\\n")[0].steps[0]
    LayerStep(width=3, options=('relu', 'bias'), pos=Pos(line=1, column=13))
    """
    parsed = []
    for tokens in _tokens(text):
        if tokens:
            parsed.append(_statement(_Line(tokens)))
    return tuple(parsed)


def _statement(line: _Line):
    first = line.take("keyword", "name")
    if first.kind == "name":
        line.take("=")
        statement = LetStmt(first.text, _expression(line), first.pos)
    elif first.text == "model":
        statement = ModelStmt(_free_name(line).text, first.pos)
    elif first.text in ("param", "input"):
        declarations = [_declaration(line, first.text == "input")]
        while line.taking(","):
            declarations.append(_declaration(line, first.text == "input"))
        statement = (InputStmt if first.text == "input" else ParamStmt)(tuple(declarations), first.pos)
    elif first.text == "output":
        statement = OutputStmt(_expression(line), first.pos)
    elif first.text == "metric":
        name = line.take("name")
        line.take("=")
        statement = MetricStmt(name.text, _expression(line), name.pos)
    elif first.text == "layers":
        statement = _layers(line, first)
    else:
        statement = _flow(line, first)
    line.end()
    return statement


def _free_name(line: _Line) -> _Token:
    """A name that is not a statement keyword (those are reserved, DSL.md section 1)."""
    name = line.take("name")
    if name.text in _KEYWORDS:
        _refuse(name, "is a statement keyword")
    return name


def _declaration(line: _Line, is_input: bool) -> Decl:
    name = _free_name(line)
    shape = []
    if line.taking("["):
        shape.append(_positive(line.take("int")))
        while line.taking(","):
            shape.append(_positive(line.take("int")))
        line.take("]")
    onehot = False
    if is_input and line.peek() is not None and line.peek().kind == "name":
        option = line.take("name")
        if option.text != "onehot" or not shape:
            _refuse(option, "is not an input option here")
        onehot = True
    return Decl(name.text, tuple(shape), name.pos, onehot)


def _layers(line: _Line, first: _Token) -> LayersStmt:
    input_width = _positive(line.take("int"))
    steps = []
    while line.taking("->"):
        width = line.take("int")
        options = []
        while line.peek() is not None and line.peek().kind == "name":
            options.append(line.take("name").text)
        steps.append(LayerStep(_positive(width), tuple(options), width.pos))
    if not steps:
        _refuse(line.peek())
    return LayersStmt(input_width, tuple(steps), first.pos)


def _flow(line: _Line, first: _Token) -> FlowStmt:
    kind = line.take("name")
    options = []
    while line.peek() is not None:
        if line.taking(","):
            continue
        key = line.take("name")
        value = None
        if line.taking("="):
            token = line.take("name", "int", "rational")
            value = token.text if token.kind == "name" else _fraction(token)
        options.append(FlowOption(key.text, value, key.pos))
    return FlowStmt(kind.text, tuple(options), first.pos)


# ----------------------------------------------------------------- expressions
class _Operand:
    """A parsed expression and where its text starts (an opening parenthesis included)."""

    __slots__ = ("node", "start")

    def __init__(self, node, start: Pos):
        self.node, self.start = node, start


class _Open:
    """An opening parenthesis or call on the operator stack, with the call's arguments."""

    __slots__ = ("token", "function", "arguments", "keywords", "keyword")

    def __init__(self, token: _Token, function: _Token | None = None):
        self.token, self.function = token, function
        self.arguments, self.keywords, self.keyword = [], [], None


def _expression(line: _Line):
    """One expression, up to the end of the line, by operator precedence.

    The operator stack holds ``(level, symbol, token)`` for binary operators, negations
    (``"neg"``) and powers (``"^"``), and :class:`_Open` entries for parentheses and calls.
    """
    operands: list[_Operand] = []
    operators: list = []
    expect_operand = True
    while True:
        token = line.peek()
        if expect_operand:
            if token is None:
                _refuse(token)
            line.at += 1
            if token.kind == "-":
                operators.append((_NEGATION_LEVEL, "neg", token))
            elif token.kind == "(":
                operators.append(_Open(token))
            elif token.kind == "name" and line.peek() is not None and line.peek().kind == "(":
                line.at += 1
                operators.append(_Open(line.tokens[line.at - 1], function=token))
                _keyword_start(line, operators[-1])
            elif token.kind == "name":
                if token.text in _KEYWORDS:
                    _refuse(token, "is a statement keyword")
                operands.append(_Operand(Name(token.text, token.pos), token.pos))
                expect_operand = False
            elif token.kind in ("int", "rational"):
                operands.append(_Operand(Number(_fraction(token), token.pos), token.pos))
                expect_operand = False
            else:
                _refuse(token)
            continue
        # an operand has just been read: a postfix, an operator, a closing or the end
        if token is None:
            _reduce(operands, operators, 0)
            if operators or len(operands) != 1:
                _refuse(token)
            return operands[0].node
        line.at += 1
        if token.kind == ".T":
            top = operands[-1]
            top.node = Transpose(top.node, top.start)
        elif token.kind == "[":
            indices = [_integer(line.take("int"))]
            while line.taking(","):
                indices.append(_integer(line.take("int")))
            line.take("]")
            top = operands[-1]
            top.node = Index(top.node, tuple(indices), top.start)
        elif token.kind in _BINARY:
            _reduce(operands, operators, _BINARY[token.kind])
            operators.append((_BINARY[token.kind], token.kind, token))
            expect_operand = True
        elif token.kind == "^":
            operators.append((_POWER_LEVEL, "^", token))
            expect_operand = True
        elif token.kind in (")", ","):
            _reduce(operands, operators, 0)
            if not operators:
                _refuse(token)
            opening = operators[-1]
            if opening.function is None:
                if token.kind == ",":
                    _refuse(token)
                operators.pop()
                operands[-1].start = opening.token.pos
                continue
            argument = operands.pop().node
            if opening.keyword is None:
                opening.arguments.append(argument)
            else:
                opening.keywords.append((opening.keyword, argument))
                opening.keyword = None
            if token.kind == ",":
                _keyword_start(line, opening)
                expect_operand = True
                continue
            operators.pop()
            name = opening.function
            operands.append(_Operand(Call(name.text, tuple(opening.arguments),
                                          tuple(opening.keywords), name.pos), name.pos))
        else:
            _refuse(token)


def _keyword_start(line: _Line, opening: _Open) -> None:
    """At the start of a call's argument: ``NAME =`` makes it a keyword argument."""
    first, second = line.peek(), line.peek(1)
    if first is not None and first.kind == "name" and second is not None and second.kind == "=":
        if first.text in _KEYWORDS:
            _refuse(first, "is a statement keyword")
        opening.keyword = first.text
        line.at += 2


def _reduce(operands: list[_Operand], operators: list, level: int) -> None:
    """Apply the stacked operators that bind at least as tightly as ``level`` (0: all
    of them, down to the innermost open parenthesis or call)."""
    while operators and not isinstance(operators[-1], _Open) and operators[-1][0] >= level:
        _, symbol, token = operators.pop()
        if symbol == "neg":
            operand = operands.pop()
            node = operand.node
            node = Number(-node.value, token.pos) if isinstance(node, Number) else Neg(node, token.pos)
            operands.append(_Operand(node, token.pos))
            continue
        right, left = operands.pop(), operands.pop()
        if symbol == "^":
            node = Pow(left.node, right.node, left.start)
        elif symbol == "/":
            if not (isinstance(left.node, Number) and isinstance(right.node, Number)) \
                    or right.node.value == 0:
                _refuse(token, "is only read between nonzero number literals")
            node = Number(left.node.value / right.node.value, left.node.pos)
        else:
            node = BinOp(symbol, left.node, right.node, left.start)
        operands.append(_Operand(node, left.start))
