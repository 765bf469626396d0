"""Progress of long computations: one self-erasing line on a terminal, nothing elsewhere.

Long loops (the Lie closure in ``lie.py``, the law systems of ``laws.py``, the blocks
of ``blocks.py``) call ``report(task, done, total)``, and the steps that have no loop
to count (expanding the features, building a law system) call ``report(task)`` when
they start. By default nothing is shown and a report costs one global lookup. The
command line turns progress on with ``enabled()`` only when standard error is a
terminal and ``--quiet`` was not given, so logs, pipes and tests stay clean.

The line shows what is being done and the time since the command started. Reports
redraw it at most ten times a second, so a tight loop pays no more than a clock read
per report; a clock thread redraws it every half second between reports, so a step
that reports nothing for a minute still shows its time going on instead of looking
hung. Both draw under one lock, and ``pause()`` (called before any other output)
silences the clock until the next report, so no redraw lands in the middle of a result.
Why a thread: the long steps are single calls into C libraries (an exact rank, a
sparse solve) that cannot call back; a thread is the one way to keep the clock
going without changing them. It only writes to standard error and holds no data.

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
import threading
import time
from contextlib import contextmanager

_active = None   # the current _Line, or None
TICK = 0.5       # seconds between the clock's redraws


class _Line:
    """A progress line on ``stream``, redrawn in place with a carriage return."""

    def __init__(self, stream, interval: float, delay: float, task: str = "working"):
        self.stream = stream
        self.interval = interval
        self.delay = delay
        self.last = 0.0
        self.width = 0
        self.start = time.monotonic()
        self.state: tuple[str, int | None, int | None] = (task, None, None)
        self.paused = False
        self.lock = threading.Lock()

    def text(self, now: float) -> str:
        """The line: task, a bar when the total is known, and the elapsed time.

        >>> line = _Line(None, 0, 0)
        >>> line.state = ("law systems solved", 2, 4)
        >>> line.text(line.start + 1.25)
        'law systems solved [##########..........] 2/4  1.2 s'
        >>> line.state = ("expanding the features", None, None)
        >>> line.start = 1000.0
        >>> line.text(1061.0)
        'expanding the features  1 min 01 s'
        """
        task, done, total = self.state
        if total:
            filled = int(20 * min(done, total) / total)
            text = f"{task} [{'#' * filled}{'.' * (20 - filled)}] {done}/{total}"
        elif done is not None:
            text = f"{task} {done}"
        else:
            text = task
        elapsed = now - self.start
        clock = (f"{elapsed:.1f} s" if elapsed < 60 else
                 f"{int(elapsed // 60)} min {int(elapsed % 60):02d} s")
        return f"{text}  {clock}"

    def draw(self, task: str, done: int | None, total: int | None) -> None:
        with self.lock:
            self.state = (task, done, total)
            self.paused = False
            now = time.monotonic()
            if now - self.start < self.delay:
                return
            if now - self.last < self.interval and (total is None or done is None or done < total):
                return
            self._write(now)

    def tick(self) -> None:
        """The clock's redraw: the same task, the time going on."""
        with self.lock:
            now = time.monotonic()
            if not self.paused and now - self.start >= self.delay:
                self._write(now)

    def _write(self, now: float) -> None:
        self.last = now
        text = self.text(now)
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def clear(self, pause: bool = False) -> None:
        with self.lock:
            self.paused = self.paused or pause
            if self.width:
                self.stream.write("\r" + " " * self.width + "\r")
                self.stream.flush()
                self.width = 0


def report(task: str, done: int | None = None, total: int | None = None) -> None:
    """Tell the current progress line (if any) what is being done: ``done`` of ``total``
    steps, or a step with no count (``report("expanding the features")``).

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
    """Erase the progress line before other output; the next report draws it again
    (the clock does not redraw it until then).

    >>> import io
    >>> stream = io.StringIO()
    >>> with enabled(stream, interval=0, delay=0):
    ...     report("blocks", 1, 4)
    ...     pause()
    >>> stream.getvalue().split("\\r")[-2].strip()   # the line is overwritten by blanks
    ''
    """
    if _active is not None:
        _active.clear(pause=True)


def wanted(quiet: bool = False, stream=None) -> bool:
    """Progress is shown on a terminal only, and never with ``--quiet``.

    >>> import io
    >>> wanted(False, io.StringIO())
    False
    """
    stream = stream or sys.stderr
    return not quiet and hasattr(stream, "isatty") and stream.isatty()


@contextmanager
def enabled(stream=None, interval: float = 0.1, delay: float = 0.5, task: str = "working",
            tick: float | None = TICK):
    """Show progress on ``stream`` (standard error by default) inside the block,
    from ``delay`` seconds on (a quick answer shows no line at all); ``task`` is
    what the line says until the first report; the clock redraws the line every
    ``tick`` seconds (None: only reports draw).

    >>> import io
    >>> stream = io.StringIO()
    >>> with enabled(stream, delay=0, task="counting", tick=0.05):
    ...     time.sleep(0.3)                       # no report at all: the clock draws
    >>> lines = [part for part in stream.getvalue().split("\\r") if part.strip()]
    >>> len(lines) >= 2 and all(part.startswith("counting  0.") for part in lines)
    True
    """
    global _active
    previous = _active
    line = _Line(stream or sys.stderr, interval, delay, task)
    _active = line
    stop = threading.Event()
    clock = None
    if tick:
        def run():
            while not stop.wait(tick):
                line.tick()
        clock = threading.Thread(target=run, name="conslaw-progress-clock", daemon=True)
        clock.start()
    try:
        yield line
    finally:
        stop.set()
        if clock is not None:
            clock.join()
        line.clear()
        _active = previous


@contextmanager
def when(show: bool, stream=None, task: str = "working"):
    """``enabled`` when ``show`` is true, else a block with no progress.

    >>> with when(False):
    ...     report("nothing", 1, 1)
    """
    if show:
        with enabled(stream, task=task) as line:
            yield line
    else:
        yield None
