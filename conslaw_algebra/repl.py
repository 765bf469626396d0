"""A small line-oriented REPL: define a model in `.net` lines, then query it.

Lines in the model language add to the current model; commands (``count``,
``laws [K]``, ``check EXPR``, ``info``, ``show``, ``load FILE``, ``reset``, ``help``,
``quit``) query it. Errors are printed and the session goes on.

>>> import io
>>> out = io.StringIO()
>>> run_repl(None, io.StringIO("param a, b\\noutput a*b\\ncount\\nquit\\n"), out)
0
>>> "laws N     1" in out.getvalue()
True
"""
from __future__ import annotations

import sys

from . import api, dsl
from .errors import ConslawError

HELP = """commands:
  count             number of independent laws
  laws [K]          polynomial laws of degree <= K (default 2)
  check EXPR        is EXPR (in the parameters) conserved?
  info              parameters, D, features
  show              the model's lines so far
  load FILE         replace the model by a file
  reset             start an empty model
  quit              leave
any other line is a line of the .net language and is added to the model"""

COMMANDS = ("count", "laws", "check", "info", "show", "load", "reset", "help", "quit", "exit")


def run_repl(path: str | None, stdin=None, stdout=None) -> int:
    """Run the session on the given streams (standard ones by default)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, file=stdout)

    if path:
        try:
            lines = dsl.read_model_text(path).splitlines()
            api.parse("\n".join(lines), path)
        except ConslawError as exc:
            say(f"error: {exc}")
            lines = []
    interactive = stdin is sys.stdin and sys.stdin.isatty()
    while True:
        if interactive:
            stdout.write("conslaw> ")
            stdout.flush()
        raw = stdin.readline()
        if not raw:
            return 0
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        try:
            if word in ("quit", "exit"):
                return 0
            if word == "help":
                say(HELP)
            elif word == "reset":
                lines = []
            elif word == "show":
                say("\n".join(lines) or "(empty model)")
            elif word == "load":
                text = dsl.read_model_text(rest.strip())
                api.parse(text, rest.strip())
                lines = text.splitlines()
            elif word in ("count", "laws", "check", "info"):
                model = api.parse("\n".join(lines), "<repl>")
                if word == "count":
                    say(model.count_laws().to_text())
                elif word == "laws":
                    say(model.laws(int(rest) if rest.strip() else 2).to_text())
                elif word == "check":
                    say(model.check(rest).to_text())
                else:
                    say("\n".join(f"{k}: {v}" for k, v in model.info().items()))
            else:
                dsl.parse(line, "<repl>")
                lines.append(line)
        except ConslawError as exc:
            say(f"error: {exc}")
        except ValueError as exc:
            say(f"error: {exc}")
