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
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

from .. import api, progress
from ..language import parser as dsl
from ..errors import ConslawError, ModelNameError

HELP = """commands:
  count [SEED]               number of independent laws N
  laws [K] [--entries] [--basis echelon]
                             polynomial laws of degree <= K (default 2); --entries: each
                             law on its line, not as matrix equations; --basis echelon:
                             the solver's reduced echelon basis
  check EXPR                 is EXPR (a polynomial in the parameters) conserved?
  relations [K]              polynomial relations among the laws of degree <= K (default 2)
  info                       parameters, D, data, features (the table of 'conslaw info')
  show [model|features|params]   the model's lines, its features, or its parameters
  export latex|sage|json|text FILE [K]   write the laws of degree <= K (default 2) to FILE;
                             quote a FILE with spaces: export sage "my laws.sage"
  load FILE                  replace the model by a file
  undo                       remove the last model line
  reset                      start an empty model
  help                       this text
  quit                       leave (also Ctrl-D)
any other line is a line of the .net language and is added to the model, unless the
compiler refuses it (a name declared twice, a shape that does not fit, ...); a name
declared on a later line is fine. A line with an open bracket, or ending in '\\',
continues on the next line. Input typed while a command runs is kept for the next prompt."""

COMMANDS = ("count", "laws", "check", "relations", "info", "show", "export", "load", "undo",
            "reset", "help", "quit", "exit")
STATEMENTS = ("model", "param", "input", "output", "layers", "flow", "metric")
EXPORT_FORMATS = ("latex", "sage", "json", "text")
SHOW_WHAT = ("model", "features", "params")


def info_text(model: api.Model) -> str:
    """The table of ``conslaw info``: parameters and shapes, D, data, outputs, features.

    >>> print(info_text(api.parse("param a, b\\ninput x\\noutput a*b*x", "ab")))
    model       ab   (gradient flow (Euclidean))
    D           2
      param     a        scalar   1 entries
      param     b        scalar   1 entries
      data      x        scalar   input
    outputs     1
    features    1
    """
    if model.sign_regions:
        lines = [f"model       {model.name}   ({model.flow.describe()})",
                 f"D           {model.dim}",
                 f"piecewise   {len(model.sign_regions)} sign regions (ReLU or max-pool of "
                 "arguments with no data); count, laws and check answer per region:"]
        return "\n".join(lines + [f"  {r.description}" for r in model.sign_regions])
    info = model.info()
    lines = [f"model       {info['model']}   ({info['flow']})", f"D           {info['D']}"]
    if info["state_dim"] != info["D"]:
        lines.append(f"state       {info['state_dim']} (time, theta, theta': the phase space of "
                     "momentum)")
    for p in info["parameters"]:
        shape = "x".join(map(str, p["shape"])) or "scalar"
        lines.append(f"  param     {p['name']:<8} {shape:<8} {p['size']} entries")
    for d in info["data"]:
        shape = "x".join(map(str, d["shape"])) or "scalar"
        lines.append(f"  data      {d['name']:<8} {shape:<8} {d['kind']}")
    lines.append(f"outputs     {info['outputs']}")
    features = info["features"]
    lines.append("features    " + (str(features) if features is not None else
                                   f"not listed (about {info['expansion_terms_estimate']:,} terms)"))
    return "\n".join(lines)


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
        self.file_lines = 0                # how many of the lines come from the loaded file
        self._model = None
        self._model_lines = None
        self._laws: dict[tuple, object] = {}   # ((source, lines), degree, basis) -> result

    # ------------------------------------------------------------ the model
    def model(self) -> api.Model:
        if self._model_lines != tuple(self.lines):
            text = "\n".join(self.lines)
            if not text.strip():
                raise ConslawError("the model is empty: type .net lines, or load FILE")
            self._model = self._compile(self.lines)
            self._model_lines = tuple(self.lines)
        return self._model

    def _compile(self, lines: list[str]) -> api.Model:
        """The model of these lines; an error in a typed line points at it as
        ``<repl>:LINE:COL`` with LINE as ``show model`` numbers it (the loaded file's
        own lines keep the file's name)."""
        try:
            return api.parse("\n".join(lines), self.source)
        except ConslawError as exc:
            if exc.file == self.source and exc.line is not None and exc.line > self.file_lines:
                exc.file = "<repl>"
            raise

    def laws(self, degree: int, basis: str = "natural"):
        """The laws of degree <= ``degree``, computed once per model, degree and basis (a
        computation that was interrupted left nothing behind, so it is not reused)."""
        key = ((self.source, tuple(self.lines)), degree, basis)
        if key not in self._laws:
            self._laws = {k: v for k, v in self._laws.items() if k[0] == key[0]}
            self._laws[key] = self.model().laws(degree, basis=basis)
        return self._laws[key]

    def load(self, path: str) -> None:
        text = dsl.read_model_text(path)
        api.parse(text, path)              # refuse a bad file before replacing the model
        self.lines, self.source = text.splitlines(), path
        self.file_lines = len(self.lines)
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
        """Add a `.net` line, unless the compiler refuses it: a syntax error, or an
        error in the line itself, points at the line typed (``<input>:1:COL``); a line
        that breaks a model that compiled names where. A model still being written is
        no error: no 'output' or 'param' line yet, or a name declared on a later line."""
        dsl.parse(line, "<input>")         # a syntax error leaves the model as it was
        candidate = self.lines + [line]
        try:
            model = self._compile(candidate)
        except ConslawError as exc:
            if exc.line == len(candidate) and exc.file == "<repl>" and not _unfinished(exc):
                exc.file, exc.line = "<input>", 1
                raise
            if not _unfinished(exc) and self._compiled():
                raise ConslawError(f"not added: with it the model fails at {exc}") from None
            if _unfinished(exc) and exc.line == len(candidate):
                self.say(f"note: {exc.message}; the model needs it declared")
            self.lines.append(line)
            return
        self.lines.append(line)
        self._model, self._model_lines = model, tuple(self.lines)

    def _compiled(self) -> bool:
        """Do the lines so far make a model?"""
        try:
            self.model()
        except ConslawError:
            return False
        return True

    def do_help(self, rest: str) -> None:
        self.say(HELP)

    def do_reset(self, rest: str) -> None:
        self.lines, self.source, self.file_lines = [], "<repl>", 0

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
        usage = "laws K [--entries] [--basis echelon]"
        words = rest.split()
        entries = "--entries" in words
        words = [w for w in words if w != "--entries"]
        basis = "natural"
        if "--basis" in words:
            at = words.index("--basis")
            if at + 1 >= len(words) or words[at + 1] not in ("natural", "echelon"):
                raise ConslawError(f"--basis needs natural or echelon (usage: {usage})")
            basis = words[at + 1]
            del words[at:at + 2]
        if len(words) > 1:
            raise ConslawError(f"'{' '.join(words)}' is not a degree K (usage: {usage})")
        degree = _number(words[0] if words else "", usage, 2, least=1)
        model = self.model()
        result = self.laws(degree, basis)
        hint = model.degree_hint(result, "laws {}")
        self.say(result.to_text(False if entries else None) + (f"\nhint: {hint}" if hint else ""))

    def do_check(self, rest: str) -> None:
        if not rest:
            raise ConslawError("check needs an expression, e.g. check W1[0,0]^2 - W2[0,0]^2")
        self.say(self.model().check(rest).to_text())

    def do_relations(self, rest: str) -> None:
        from ..analyses.relations import relations   # loads Singular only when asked
        degree = _number(rest, "relations K", 2, least=1)
        self.say(relations(self.model(), degree).to_text())

    def do_info(self, rest: str) -> None:
        self.say(info_text(self.model()))

    def do_show(self, rest: str) -> None:
        what = rest or "model"
        if what == "model":
            self.say("\n".join(f"{k:>3}  {line}" for k, line in enumerate(self.lines, start=1))
                     or "(empty model)")
        elif what == "features":
            from ..exact.render import render
            model = self.model()
            model.require_polynomials()
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
        usage = 'usage: export latex|sage|json|text FILE [K] (quote a FILE with spaces: "my laws.sage")'
        try:
            parts = shlex.split(rest)
        except ValueError as exc:            # an unclosed quote
            raise ConslawError(f"{exc}; {usage}") from None
        if len(parts) not in (2, 3) or parts[0] not in EXPORT_FORMATS:
            if len(parts) > 3 and parts[0] in EXPORT_FORMATS:
                raise ConslawError(f"a FILE with spaces needs quotes: export {parts[0]} "
                                   f"\"{' '.join(parts[1:])}\"; {usage}")
            raise ConslawError(usage)
        kind, path = parts[0], parts[1]
        if len(parts) == 3 and not parts[2].lstrip("+-").isdigit():
            raise ConslawError(f"'{parts[2]}' is not a degree K; a FILE with spaces needs "
                               f"quotes: export {kind} \"{path} {parts[2]}\"")
        degree = _number(parts[2] if len(parts) == 3 else "", "export ... K", 2, least=1)
        model = self.model()
        result = self.laws(degree)
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


def _unfinished(exc: ConslawError) -> bool:
    """An error that more lines can cure: a name not declared yet, no output or
    parameters yet (the compiler's messages for them)."""
    return isinstance(exc, ModelNameError) and (
        (exc.message.startswith("unknown name '") and not exc.message.endswith("parentheses)"))
        or exc.message.startswith(("the model has no 'output' line", "the model has no parameters")))


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
@contextmanager
def held_input(stream=None):
    """While a command runs, keys typed on the terminal are kept for the next prompt
    and not echoed (so they do not land in the middle of the progress line or the
    answer): canonical mode and echo are off, input is not flushed, and Ctrl-C still
    interrupts. Nothing happens when the stream is not a terminal.

    >>> import io
    >>> with held_input(io.StringIO()):
    ...     pass
    """
    stream = stream or sys.stdin
    try:
        import termios
        fd = stream.fileno()
        before = termios.tcgetattr(fd)
    except (ImportError, AttributeError, OSError, ValueError):
        yield
        return
    import termios
    quiet = list(before)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)      # local modes; ISIG stays on
    termios.tcsetattr(fd, termios.TCSANOW, quiet)     # TCSANOW: nothing typed is dropped
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, before)


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
                with held_input():
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
