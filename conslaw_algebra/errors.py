"""Errors a user can cause, each carrying the file, line and column it points at.

Every mistake in a model file or a command-line argument raises a subclass of
``ConslawError``; the command line turns it into one line ``file:line:col: message``
and exit status 2, so no Python traceback ever reaches a user.

>>> err = ModelNameError("unknown name 'W3'", file="m.net", line=4, column=8)
>>> str(err)
"m.net:4:8: unknown name 'W3'"
"""
from __future__ import annotations


class ConslawError(Exception):
    """Base class of every user-facing error.

    >>> str(ConslawError("no output", file="a.net"))
    'a.net: no output'
    """

    kind = "error"

    def __init__(self, message: str, *, file: str | None = None,
                 line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def located(self, file: str | None) -> "ConslawError":
        """Attach a file name when the error was raised without one.

        >>> ConslawError("x", line=1, column=2).located("m.net").file
        'm.net'
        """
        if self.file is None:
            self.file = file
        return self

    def __str__(self) -> str:
        where = [str(part) for part in (self.file, self.line, self.column) if part is not None]
        prefix = ":".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ModelSyntaxError(ConslawError):
    """The text does not follow the `.net` grammar."""

    kind = "syntax error"


class ModelNameError(ConslawError):
    """A name is unknown, declared twice, or used in a cycle."""

    kind = "name error"


class ShapeError(ConslawError):
    """Tensor shapes do not fit the operation."""

    kind = "shape error"


class UnsupportedError(ConslawError):
    """A construct the language parses but this version does not compute."""

    kind = "unsupported"


class ModelFileError(ConslawError):
    """The model file cannot be read."""

    kind = "file error"


class BudgetError(ConslawError):
    """A requested computation would exceed a stated size limit."""

    kind = "too large"
