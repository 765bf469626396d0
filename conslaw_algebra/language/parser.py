"""The `.net` language: text -> typed AST with source positions.

Two parsers of one grammar (``grammar/net.lark``) build the syntax tree (``syntax.py``).
A valid file is read by the hand-written one (``fast_parser.py``: one regular
expression for the tokens, explicit stacks for expressions, no import beyond the
standard library), which is what lets the command line start quickly; anything it
does not accept goes to lark's LALR parser on the grammar file (``lark_parser.py``),
whose error is the one reported, with its line and column and what to write instead.
Tests compare the two on every example and on generated programs: where the fast
parser answers, the reference gives the same tree. Neither recurses on the depth of
an expression (5,000 unary minus signs or 20,000 factors on one line parse in linear
time); consumers of the AST walk it iteratively too (``compiler.py``). This module
knows syntax only: names, shapes and meaning are checked by ``compiler.py``, except
the statement keywords, which no declaration may take as its name.

A file is read only when it is a regular file no larger than ``MAX_MODEL_BYTES``
(10 MB, or ``$CONSLAW_MAX_MODEL_BYTES``), checked before reading, so a device such as
``/dev/zero`` or a named pipe is refused at once. A leading UTF-8 byte-order mark is
skipped.

>>> program = parse("param a, b\\noutput a * b\\n")
>>> [type(s).__name__ for s in program.statements]
['ParamStmt', 'OutputStmt']
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ModelFileError
from .syntax import (  # the syntax tree, read as parser.X by its consumers
    MAX_DIGITS, STATEMENT_KEYWORDS, BinOp, Call, Decl, Expr, FlowOption, FlowStmt, Index, InputStmt,
    LayerStep, LayersStmt, LetStmt, MetricStmt, ModelStmt, Name, Neg, Number, OutputStmt, ParamStmt,
    Pos, Pow, Program, Record, Statement, Transpose)

__all__ = ["MAX_DIGITS", "STATEMENT_KEYWORDS", "BinOp", "Call", "Decl", "Expr", "FlowOption",
           "FlowStmt", "Index", "InputStmt", "LayerStep", "LayersStmt", "LetStmt",
           "MetricStmt", "ModelStmt", "Name", "Neg", "Number", "OutputStmt", "ParamStmt",
           "Pos", "Pow", "Program", "Record", "Statement", "Transpose", "parse",
           "read_model_text", "max_model_bytes"]

MAX_MODEL_BYTES = 10 * 2**20          # model files above this are refused before reading
MAX_MODEL_BYTES_ENVIRONMENT = "CONSLAW_MAX_MODEL_BYTES"


# --------------------------------------------------------------------- parsing
def parse(text: str, source_name: str | None = None) -> Program:
    """Parse `.net` text into a :class:`Program`.

    Raises :class:`ModelSyntaxError` with the line and column of the first mistake.

    >>> parse("layers 4 -> 5 relu -> 2").statements[0].steps[0].options
    ('relu',)
    >>> parse("output 1 +")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ModelSyntaxError: 1:11: unexpected end of line; expected '(', '-', a fraction, a name, an integer
    """
    from . import fast_parser

    if text.startswith("\ufeff"):      # a UTF-8 byte-order mark, as some editors write
        text = text[1:]
    if not text.endswith("\n"):
        text += "\n"
    try:
        statements = fast_parser.statements(text)
    except fast_parser.NotAccepted:    # a mistake: the reference parser says which, and where
        from . import lark_parser
        statements = lark_parser.statements(text, source_name)
    return Program(statements, source_name)


def max_model_bytes() -> int:
    """The largest model file read: ``$CONSLAW_MAX_MODEL_BYTES`` (bytes), else 10 MiB.

    >>> max_model_bytes() == int(os.environ.get(MAX_MODEL_BYTES_ENVIRONMENT, MAX_MODEL_BYTES))
    True
    """
    text = os.environ.get(MAX_MODEL_BYTES_ENVIRONMENT)
    if not text:
        return MAX_MODEL_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise ModelFileError(f"${MAX_MODEL_BYTES_ENVIRONMENT} must be a positive number of "
                             f"bytes, got '{text}'", file="<environment>")
    return value


def read_model_text(path: str | Path) -> str:
    """Read a model file, turning OS errors into :class:`ModelFileError`.

    Only a regular file is read (not a device, a pipe or a directory), and only when
    it is at most :func:`max_model_bytes` long; both are checked before reading.

    >>> read_model_text("/no/such/file.net")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ModelFileError: /no/such/file.net: cannot read the file (No such file or directory)
    >>> read_model_text("/dev/zero")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ModelFileError: /dev/zero: not a regular file (a character device); give a .net file
    """
    limit = max_model_bytes()
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(f"not a regular file ({_file_kind(info.st_mode)}); give a .net "
                                 "file", file=str(path))
        if info.st_size > limit:
            raise ModelFileError(f"the file has {info.st_size:,} bytes, more than the limit of "
                                 f"{limit:,} for a model file (${MAX_MODEL_BYTES_ENVIRONMENT} "
                                 "raises it)", file=str(path))
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)      # the file may grow after the check
        if len(data) > limit:
            raise ModelFileError(f"the file grew past the limit of {limit:,} bytes while being "
                                 "read", file=str(path))
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError("the file is not UTF-8 text", file=str(path)) from None
    except OSError as exc:
        raise ModelFileError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from None


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a plain file"
