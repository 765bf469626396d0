"""Progress of long computations: one self-erasing line on a terminal, nothing elsewhere.

Long loops (the Lie closure in ``lie.py``, the blocks of ``blocks.py``, the sweep)
call ``report(task, done, total)``. By default nothing is shown and a report costs one
global lookup. The command line turns progress on with ``enabled()`` only when standard
error is a terminal and ``--quiet`` was not given, so logs, pipes and tests stay clean.
Lines are redrawn at most ten times a second, so even a tight loop pays no more than a
clock read per report.

>>> import io
>>> stream = io.StringIO()
>>> with enabled(stream, interval=0, delay=0):
...     report("lie rank", 3, 10)
>>> "lie rank" in stream.getvalue() and "3/10" in stream.getvalue()
True
>>> report("silent", 1, 2)   # outside ``enabled``: nothing at all
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager

_active = None   # the current _Line, or None


class _Line:
    """A progress line on ``stream``, redrawn in place with a carriage return."""

    def __init__(self, stream, interval: float, delay: float):
        self.stream = stream
        self.interval = interval
        self.delay = delay
        self.last = 0.0
        self.width = 0
        self.start = time.monotonic()

    def draw(self, task: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.start < self.delay:
            return
        if now - self.last < self.interval and (total is None or done < total):
            return
        self.last = now
        if total:
            filled = int(20 * min(done, total) / total)
            bar = "#" * filled + "." * (20 - filled)
            text = f"{task} [{bar}] {done}/{total}"
        else:
            text = f"{task} {done}"
        text += f"  {now - self.start:.0f} s"
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def report(task: str, done: int, total: int | None = None) -> None:
    """Tell the current progress line (if any) that ``done`` of ``total`` steps are done.

    >>> import io
    >>> stream = io.StringIO()
    >>> with enabled(stream, interval=0, delay=0):
    ...     report("blocks", 1, 4)
    >>> stream.getvalue().split("  ")[0]
    '\\rblocks [#####...............] 1/4'
    """
    if _active is not None:
        _active.draw(task, done, total)


def pause() -> None:
    """Erase the progress line before other output; the next report draws it again.

    >>> import io
    >>> stream = io.StringIO()
    >>> with enabled(stream, interval=0, delay=0):
    ...     report("blocks", 1, 4)
    ...     pause()
    >>> stream.getvalue().split("\\r")[-2].strip()   # the line is overwritten by blanks
    ''
    """
    if _active is not None:
        _active.clear()


def wanted(quiet: bool = False, stream=None) -> bool:
    """Progress is shown on a terminal only, and never with ``--quiet``.

    >>> import io
    >>> wanted(False, io.StringIO())
    False
    """
    stream = stream or sys.stderr
    return not quiet and hasattr(stream, "isatty") and stream.isatty()


@contextmanager
def enabled(stream=None, interval: float = 0.1, delay: float = 0.5):
    """Show progress on ``stream`` (standard error by default) inside the block,
    from ``delay`` seconds on (a quick answer shows no bar at all).

    >>> with enabled(interval=0):
    ...     pass
    """
    global _active
    previous = _active
    _active = _Line(stream or sys.stderr, interval, delay)
    try:
        yield _active
    finally:
        _active.clear()
        _active = previous


@contextmanager
def when(show: bool, stream=None):
    """``enabled`` when ``show`` is true, else a block with no progress.

    >>> with when(False):
    ...     report("nothing", 1, 1)
    """
    if show:
        with enabled(stream) as line:
            yield line
    else:
        yield None
