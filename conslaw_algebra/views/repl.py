"""The interactive session: define a model in `.net` lines, then query it.

Lines in the model language add to the current model; commands (``count``,
``laws [K]``, ``check EXPR``, ``relations``, ``info``, ``show [model|features|params]``,
``export latex|sage|json|text FILE``, ``load FILE``, ``undo``, ``reset``, ``help``,
``quit``) query it. Every error is printed and the session goes on.

On a terminal the line editor is prompt_toolkit (a maintained library, the one
IPython uses): history across sessions in ``~/.conslaw_history`` (or the file named
by ``CONSLAW_HISTORY``), tab completion of commands, parameter names and entries
(``W1[0,``), and multi-line input (a line with an open bracket or ending in ``\\``
goes on). When standard input is not a terminal (a pipe, a file, a test) the same
commands are read line by line with no editor, so scripts work unchanged.

>>> import io
>>> out = io.StringIO()
>>> run_repl(None, io.StringIO("param a, b\\noutput a*b\\ncount\\nquit\\n"), out)
0
>>> "laws N     1" in out.getvalue()
True
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .. import api, progress
from ..language import parser as dsl
from ..errors import ConslawError

HELP = """commands:
  count [SEED]               number of independent laws N
  laws [K]                   polynomial laws of degree <= K (default 2)
  check EXPR                 is EXPR (a polynomial in the parameters) conserved?
  relations [K]              polynomial relations among the laws of degree <= K
  info                       parameters, D, features
  show [model|features|params]   the model's lines, its features, or its parameters
  export latex|sage|json|text FILE [K]   write the laws of degree <= K to FILE
  load FILE                  replace the model by a file
  undo                       remove the last model line
  reset                      start an empty model
  help                       this text
  quit                       leave (also Ctrl-D)
any other line is a line of the .net language and is added to the model;
a line with an open bracket, or ending in '\\', continues on the next line"""

COMMANDS = ("count", "laws", "check", "relations", "info", "show", "export", "load", "undo",
            "reset", "help", "quit", "exit")
STATEMENTS = ("model", "param", "input", "output", "layers", "flow", "metric")
EXPORT_FORMATS = ("latex", "sage", "json", "text")
SHOW_WHAT = ("model", "features", "params")


class Quit(Exception):
    """Leave the session."""


def history_path() -> Path:
    """``$CONSLAW_HISTORY``, else ``~/.conslaw_history``.

    >>> os.environ["CONSLAW_HISTORY"] = "/tmp/h"; str(history_path())
    '/tmp/h'
    >>> del os.environ["CONSLAW_HISTORY"]
    """
    return Path(os.environ.get("CONSLAW_HISTORY") or Path.home() / ".conslaw_history")


def incomplete(text: str) -> bool:
    """Does the input go on: an open bracket, or a trailing backslash?

    >>> incomplete("output W2 @ relu(W1 @ x"), incomplete("output a*b")
    (True, False)
    """
    code = [line.split("#", 1)[0].rstrip() for line in text.splitlines()] or [""]
    if code[-1].endswith("\\"):
        return True
    depth = 0
    for ch in "".join(code):
        depth += ch in "(["
        depth -= ch in ")]"
    return depth > 0


def logical_lines(text: str) -> list[str]:
    """Physical lines joined where the input goes on (open brackets, backslashes).

    >>> logical_lines("output relu(a\\n  * b)\\ncount")
    ['output relu(a * b)', 'count']
    >>> logical_lines("output relu(a  # first factor\\n  * b)")
    ['output relu(a * b)']
    """
    lines, pending = [], ""
    for raw in text.splitlines():
        piece = raw.split("#", 1)[0].rstrip()          # '#' starts a comment everywhere
        goes_on = piece.endswith("\\")
        piece = piece[:-1] if goes_on else piece
        pending = f"{pending} {piece.strip()}".strip()
        if goes_on or incomplete(pending):
            continue
        lines.append(pending)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


class Session:
    """The model being built and the commands on it; output goes to ``say``.

    >>> out = []
    >>> session = Session(out.append)
    >>> for line in ["param a, b", "output a*b", "laws 2"]:
    ...     session.handle(line)
    >>> "a^2 - b^2" in out[-1]
    True
    """

    def __init__(self, say):
        self.say = say
        self.lines: list[str] = []
        self.source = "<repl>"
        self._model = None
        self._model_lines = None
        self.last_degree = 2

    # ------------------------------------------------------------ the model
    def model(self) -> api.Model:
        if self._model_lines != tuple(self.lines):
            text = "\n".join(self.lines)
            if not text.strip():
                raise ConslawError("the model is empty: type .net lines, or load FILE")
            self._model = api.parse(text, self.source)
            self._model_lines = tuple(self.lines)
        return self._model

    def load(self, path: str) -> None:
        text = dsl.read_model_text(path)
        api.parse(text, path)              # refuse a bad file before replacing the model
        self.lines, self.source = text.splitlines(), path
        self.say(f"loaded {path}: {self.model()!r}")

    def parameter_words(self) -> list[str]:
        """Tensor names and entry names, for completion (from the lines when they compile)."""
        try:
            model = self.model()
        except ConslawError:
            names = []
            for line in self.lines:
                if line.strip().startswith("param"):
                    names += re.findall(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?",
                                        line.strip()[len("param"):])
            return names
        tensors = [p.name for p in model.program.params]
        return list(dict.fromkeys(tensors + list(model.names)))

    # ------------------------------------------------------------ commands
    def handle(self, line: str) -> None:
        line = line.strip()
        if not line or line.startswith("#"):
            return
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word in ("quit", "exit"):
            raise Quit
        handler = getattr(self, f"do_{word}", None) if word in COMMANDS else None
        if handler is None:
            self.add_line(line)
        else:
            handler(rest)

    def add_line(self, line: str) -> None:
        dsl.parse(line, "<input>")         # a syntax error leaves the model as it was
        self.lines.append(line)

    def do_help(self, rest: str) -> None:
        self.say(HELP)

    def do_reset(self, rest: str) -> None:
        self.lines, self.source = [], "<repl>"

    def do_undo(self, rest: str) -> None:
        self.say(f"removed: {self.lines.pop()}" if self.lines else "nothing to undo")

    def do_load(self, rest: str) -> None:
        if not rest:
            raise ConslawError("load needs a file name")
        self.load(rest)

    def do_count(self, rest: str) -> None:
        seed = _number(rest, "count SEED", 0)
        self.say(self.model().count_laws(seed=seed).to_text())

    def do_laws(self, rest: str) -> None:
        self.last_degree = _number(rest, "laws K", 2, least=1)
        self.say(self.model().laws(self.last_degree).to_text())

    def do_check(self, rest: str) -> None:
        if not rest:
            raise ConslawError("check needs an expression, e.g. check W1[0,0]^2 - W2[0,0]^2")
        self.say(self.model().check(rest).to_text())

    def do_relations(self, rest: str) -> None:
        from ..analyses.relations import relations   # loads Singular only when asked
        degree = _number(rest, "relations K", self.last_degree, least=1)
        self.say(relations(self.model(), degree).to_text())

    def do_info(self, rest: str) -> None:
        self.say("\n".join(f"{k}: {v}" for k, v in self.model().info().items()))

    def do_show(self, rest: str) -> None:
        what = rest or "model"
        if what == "model":
            self.say("\n".join(f"{k:>3}  {line}" for k, line in enumerate(self.lines, start=1))
                     or "(empty model)")
        elif what == "features":
            from ..exact.render import render
            model = self.model()
            for k, feature in enumerate(model.expansion.features, start=1):
                self.say(f"psi{k} = {render(feature.poly, list(model.names))}"
                         f"    ({feature.carrier}, coefficient of {feature.monomial})")
        elif what == "params":
            for p in self.model().info()["parameters"]:
                self.say(f"{p['name']:<8} {'x'.join(map(str, p['shape'])) or 'scalar':<10} "
                         f"{p['size']} entries")
        else:
            raise ConslawError(f"show what? ({', '.join(SHOW_WHAT)})")

    def do_export(self, rest: str) -> None:
        parts = rest.split()
        if len(parts) not in (2, 3) or parts[0] not in EXPORT_FORMATS:
            raise ConslawError("usage: export latex|sage|json|text FILE [K]")
        kind, path = parts[0], parts[1]
        degree = _number(parts[2] if len(parts) == 3 else "", "export ... K", self.last_degree,
                         least=1)
        model = self.model()
        result = model.laws(degree)
        if kind == "latex":
            text = result.to_latex()
        elif kind == "sage":
            from .exports import sage_script
            text = sage_script(model, result)
        elif kind == "json":
            import json
            text = json.dumps(result.to_json(), indent=2)
        else:
            text = result.to_text()
        try:
            Path(path).expanduser().write_text(text + ("" if text.endswith("\n") else "\n"))
        except OSError as exc:
            raise ConslawError(f"cannot write the file ({exc.strerror})", file=path) from None
        self.say(f"wrote {result.count} laws of degree <= {degree} to {path} ({kind})")


def _number(text: str, usage: str, default: int, least: int = 0) -> int:
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConslawError(f"'{text}' is not a whole number (usage: {usage})") from None
    if value < least:
        raise ConslawError(f"{value} is too small (usage: {usage}, at least {least})")
    return value


def _run_one(session: Session, line: str) -> None:
    """One logical line; every error is reported and the session goes on."""
    try:
        with progress.when(progress.wanted()):
            session.handle(line)
    except Quit:
        raise
    except ConslawError as exc:
        session.say(f"error: {exc}")
    except KeyboardInterrupt:
        session.say("interrupted")
    except (MemoryError, RecursionError) as exc:
        session.say(f"error: the computation ran out of resources ({type(exc).__name__})")
    except Exception as exc:  # noqa: BLE001 - the session must survive anything
        session.say(f"internal error ({type(exc).__name__}: {exc}); the session goes on")


# ---------------------------------------------------------------- line editors
def _completer(session: Session):
    from prompt_toolkit.completion import Completer, Completion, PathCompleter
    from prompt_toolkit.document import Document

    paths = PathCompleter(expanduser=True)

    class SessionCompleter(Completer):
        def get_completions(self, document, complete_event):
            text = document.text_before_cursor
            if " " not in text.lstrip():
                for word in COMMANDS + STATEMENTS:
                    if word.startswith(text.lstrip()):
                        yield Completion(word, -len(text.lstrip()))
                return
            first, _, rest = text.lstrip().partition(" ")
            if first in ("load",) or (first == "export" and len(rest.split(" ")) >= 2):
                argument = rest.split(" ")[-1]
                yield from paths.get_completions(Document(argument), complete_event)
                return
            if first == "export" and " " not in rest:
                choices = EXPORT_FORMATS
            elif first == "show" and " " not in rest:
                choices = SHOW_WHAT
            else:
                choices = session.parameter_words()
            word = re.search(r"[A-Za-z_][\w\[\],']*$", text)
            prefix = word.group(0) if word else ""
            for choice in choices:
                if choice.startswith(prefix) and choice != prefix:
                    yield Completion(choice, -len(prefix))

    return SessionCompleter()


def _prompt_loop(session: Session) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("enter")
    def _(event):
        buffer = event.current_buffer
        if incomplete(buffer.document.text_before_cursor) and buffer.document.is_cursor_at_the_end:
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(path))
    except OSError:
        from prompt_toolkit.history import InMemoryHistory
        history = InMemoryHistory()
    prompt = PromptSession(history=history, completer=_completer(session), multiline=True,
                           key_bindings=bindings, complete_while_typing=False,
                           prompt_continuation=lambda width, *_: "...> ".rjust(width))
    while True:
        try:
            text = prompt.prompt("conslaw> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        for line in logical_lines(text):
            try:
                _run_one(session, line)
            except Quit:
                return 0


def run_repl(path: str | None, stdin=None, stdout=None) -> int:
    """Run the session; a line editor on a terminal, plain lines otherwise.

    >>> import io
    >>> out = io.StringIO()
    >>> run_repl(None, io.StringIO("param a, b\\noutput a*b\\nlaws 2\\n"), out)
    0
    >>> "h1 = a^2 - b^2" in out.getvalue()
    True
    """
    stdout = stdout or sys.stdout

    def say(text: str) -> None:
        progress.pause()
        print(text, file=stdout, flush=True)

    session = Session(say)
    if path:
        try:
            session.load(path)
        except ConslawError as exc:
            say(f"error: {exc}")
    if stdin is None and sys.stdin.isatty() and sys.stdout.isatty():
        return _prompt_loop(session)
    stdin = stdin or sys.stdin
    pending = ""
    while True:
        raw = stdin.readline()
        if not raw:
            if pending:
                lines = logical_lines(pending)
                for line in lines:
                    try:
                        _run_one(session, line)
                    except Quit:
                        return 0
            return 0
        pending += raw
        if incomplete(pending):
            continue
        for line in logical_lines(pending):
            try:
                _run_one(session, line)
            except Quit:
                return 0
        pending = ""
