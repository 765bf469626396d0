"""The REPL, driven through a real pseudo-terminal (prompt_toolkit) and through a pipe.

Expected values come from THEORY.md: relu_2layer (4 -> 5 relu -> 3) has N = 5, one law
per hidden neuron j, ||W1[j,:]||^2 - ||W2[:,j]||^2; for phi = a*b, a^2 - b^2 is
conserved (the rescaling a -> t a, b -> b / t).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _env(tmp_path) -> dict:
    env = dict(os.environ, CONSLAW_HISTORY=str(tmp_path / "history"), PROMPT_TOOLKIT_NO_CPR="1",
               TERM="xterm", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NO_COLOR", None)
    return env


def _spawn(tmp_path, *args):
    child = pexpect.spawn(sys.executable, ["-m", "conslaw_algebra.views.cli", "repl", *args],
                          env=_env(tmp_path), cwd=str(tmp_path), encoding="utf-8", timeout=60,
                          dimensions=(40, 200))
    child.expect("conslaw>")
    return child


def test_pty_session_count_laws_error_completion_export(tmp_path):
    child = _spawn(tmp_path)
    try:
        child.sendline("load " + str(EXAMPLES / "relu_2layer.net"))
        child.expect(r"loaded .*relu_2layer.net: <Model relu_2layer: D=35")   # 20 + 15 entries
        child.expect("conslaw>")
        child.sendline("count")
        child.expect(r"laws N\s+(\d+)")
        assert child.match.group(1) == "5"
        child.expect("conslaw>")

        child.sendline("laws 2")
        child.expect(r"polynomial conservation laws of relu_2layer, degree <= 2 .*?: (\d+)")
        assert child.match.group(1) == "5"
        child.expect("conslaw>")
        laws_text = child.before
        # hand computation for neuron 0: ||W1[0,:]||^2 - ||W2[:,0]||^2
        assert ("W1[0,0]^2 + W1[0,1]^2 + W1[0,2]^2 + W1[0,3]^2 - W2[0,0]^2 - W2[1,0]^2 "
                "- W2[2,0]^2") in laws_text

        child.sendline("output W2 @ * x")                    # a syntax error
        child.expect(r"error: <input>:1:\d+: unexpected")
        child.expect("conslaw>")

        # completion of an entry name: 'W1[4,' + Tab completes to the only match starting so
        child.send("check W1[4,3")
        time.sleep(0.2)
        child.send("\t")
        time.sleep(0.2)
        child.send("^2 - W2[0,4]^2 - W2[1,4]^2 - W2[2,4]^2 + W1[4,0]^2 + W1[4,1]^2 + W1[4,2]^2\r")
        child.expect(r"(not )?conserved: ([^\r\n]*)\r")
        assert child.match.group(1) is None                  # the neuron-4 law is conserved
        assert child.match.group(2).startswith("W1[4,3]^2 - W2[0,4]^2")
        child.expect("conslaw>")

        child.sendline("export latex laws.tex")
        child.expect(r"wrote 5 laws of degree <= 2 to laws.tex \(latex\)")
        child.expect("conslaw>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    latex = (tmp_path / "laws.tex").read_text()
    assert latex.startswith("\\begin{aligned}") and latex.rstrip().endswith("\\end{aligned}")
    assert "W1_{0,0}^{2} + W1_{0,1}^{2} + W1_{0,2}^{2} + W1_{0,3}^{2} - W2_{0,0}^{2}" in latex
    assert latex.count("h_{") == 5
    # history survives the session, in the file the environment names
    assert "export latex laws.tex" in (tmp_path / "history").read_text()


def test_pty_model_line_by_line_completion_of_parameter_names_and_multiline(tmp_path):
    child = _spawn(tmp_path)
    try:
        child.sendline("param alpha, beta")
        child.expect("conslaw>")
        child.sendline("input x")
        child.expect("conslaw>")
        child.send("output (alpha\r")                      # an open bracket goes on
        child.expect(r"\.\.\.>")
        child.send(" * beta) * x\r")
        child.expect("conslaw>")
        for keys in ("check al", "\t", "^2 - be", "\t", "^2\r"):   # both names completed by Tab
            child.send(keys)
            time.sleep(0.2)                                # let each completion finish
        child.expect(r"(not )?conserved: ([^\r\n]*)\r")
        assert child.match.group(1) is None
        assert child.match.group(2) == "alpha^2 - beta^2"
        child.expect("conslaw>")
        for keys in ("co", "\t", "\r"):                     # command completion: 'count'
            child.send(keys)
            time.sleep(0.2)
        child.expect(r"laws N\s+(\d+)")
        assert child.match.group(1) == "1"                 # D = 2, one rescaling law
        child.expect("conslaw>")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    # a second session sees the first one's history (Up arrow recalls the last line)
    child = _spawn(tmp_path)
    try:
        child.send("\x1b[A")
        child.expect("count")
    finally:
        child.close(force=True)


def test_piped_session_survives_every_kind_of_error(tmp_path):
    script = "\n".join([
        "load " + str(EXAMPLES / "product_x1x2x3.net"),
        "laws x",                      # not a number
        "frobnicate the model",        # not a command, not .net
        "check x1^2 - x3^2",
        "check x9^2",                  # unknown name
        "export pdf out.pdf",          # unknown format
        "relations",
        "show features",
        "count",
        "quit",
        "count",                       # never reached
    ]) + "\n"
    done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "repl"], input=script,
                          capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path,
                          timeout=300)
    out = done.stdout
    assert done.returncode == 0 and done.stderr == ""
    assert "'x' is not a whole number" in out
    assert "error: <input>:1:" in out
    assert "conserved: x1^2 - x3^2" in out and "not conserved: x1^2" not in out
    assert "unknown name 'x9'" in out
    assert "usage: export latex|sage|json|text FILE" in out
    # N = 2 is reached by two laws, so they are algebraically independent
    assert "relations among the 2 laws" in out and "algebraically independent" in out
    # phi = x1 x2 x3 has the single feature x1*x2*x3 and N = 2 (THEORY.md, product example)
    assert re.search(r"psi1 = x1\*x2\*x3", out) and "psi2" not in out
    assert out.count("laws N     2") == 1


def test_piped_session_with_a_model_argument_and_a_multiline_model(tmp_path):
    script = "count\nreset\nparam u, v\ninput z\noutput (u *\n  v) * z\nlaws\n"
    done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "repl",
                           str(EXAMPLES / "product_x1x2x3.net")], input=script,
                          capture_output=True, text=True, env=_env(tmp_path), cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0
    assert "laws N     2" in done.stdout                # x1 x2 x3: N = 2 (THEORY.md)
    assert "h1 = u^2 - v^2" in done.stdout and "h2" not in done.stdout   # u v z: one law


def _lines(text: str) -> list[str]:
    """The text a terminal shows: escape sequences and carriage returns removed."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


PROMPT_ENDS, PROMPT_STARTS = "\x1b[?2004l", "\x1b[?2004h"   # the editor's bracketed paste
                                                              # mode: off while a command runs


def _answer(child) -> str:
    """What a command printed: from the end of its prompt to the start of the next."""
    child.expect_exact(PROMPT_ENDS)
    child.expect_exact(PROMPT_STARTS)
    answer = child.before
    child.expect("conslaw>")
    return answer


def _command(child, line: str) -> str:
    """Type a line, wait for the next prompt, return what came out in between."""
    child.sendline(line)
    return "\n".join(_lines(_answer(child)))


def test_pty_defaults_stay_defaults_and_an_interrupted_computation_leaves_nothing(tmp_path):
    child = _spawn(tmp_path, str(EXAMPLES / "product_x1x2x3.net"))
    try:
        out = _command(child, "laws 3")
        assert "degree <= 3" in out
        # a bare relations or export uses the documented default degree 2, not the last one
        assert "relations among the 2 laws of product_x1x2x3, degree <= 2" in _command(child,
                                                                                       "relations")
        assert "wrote 2 laws of degree <= 2 to after.json (json)" in _command(
            child, "export json after.json")
        # an interrupted computation: the next export computes its own degree, 2
        assert "loaded" in _command(child, "load " + str(EXAMPLES / "relu_2layer.net"))
        child.sendline("laws 4")                 # several seconds (a degree-4 system in 35 variables)
        time.sleep(1.5)
        child.sendcontrol("c")
        assert "interrupted" in _answer(child)
        assert "wrote 5 laws of degree <= 2 to relu.json (json)" in _command(
            child, "export json relu.json")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    import json
    assert json.loads((tmp_path / "after.json").read_text())["degree"] == 2
    relu = json.loads((tmp_path / "relu.json").read_text())
    assert relu["degree"] == 2 and relu["count"] == 5      # one law per hidden neuron (THEORY.md A.5)


def test_pty_a_refused_statement_is_not_kept_and_points_at_the_typed_line(tmp_path):
    child = _spawn(tmp_path)
    try:
        _command(child, "param a, b")
        _command(child, "output a*b")
        out = _command(child, "param a")
        assert "error: <input>:1:7: 'a' is already declared at line 1" in out
        out = _command(child, "param W1[2,2], W1[2,2]")
        assert "error: <input>:1:16: 'W1' is already declared" in out
        assert _command(child, "show model").splitlines()[-2:] == ["1  param a, b", "2  output a*b"]
        assert re.search(r"laws N\s+1", _command(child, "count"))   # a*b: one law, a^2 - b^2
        # a name declared on a later line is not an error while the model is written
        out = _command(child, "output a*c")
        assert "note: unknown name 'c'" in out and "error" not in out
        out = _command(child, "count")            # the error points at line 3 as typed
        assert "error: <repl>:3:10: unknown name 'c'" in out
        _command(child, "param c")
        # outputs a*b and a*c: the bracket of their gradients (b, a, 0) and (c, 0, a) is
        # (0, -c, b), in their span (determinant abc - abc = 0): rank 2, N = 3 - 2 = 1
        assert re.search(r"laws N\s+1\n", _command(child, "count"))

        # on a loaded file: a refused line is not kept, and the file's lines keep its name
        path = EXAMPLES / "product_x1x2x3.net"
        _command(child, f"load {path}")
        out = _command(child, "param x1")
        assert "error: <input>:1:7: 'x1' is already declared at line 5" in out
        assert re.search(r"laws N\s+2", _command(child, "count"))   # x1 x2 x3: N = 2
        out = _command(child, "output x1*y")
        out = _command(child, "count")
        length = len(path.read_text().splitlines())
        assert f"error: <repl>:{length + 1}:11: unknown name 'y'" in out
        assert str(path) not in out
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_pty_info_is_the_table_of_the_command_line(tmp_path):
    path = EXAMPLES / "linear_momentum.net"
    done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "info", str(path)],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    table = [line.strip() for line in done.stdout.splitlines()]
    # a 2 -> 3 -> 2 net with momentum: D = 12, phase space 2 D + 1 = 25
    assert table[1] == "D           12" and table[2].startswith("state       25")
    child = _spawn(tmp_path, str(path))
    try:
        out = _command(child, "info").splitlines()
        assert out == table
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_pty_export_paths_may_be_quoted(tmp_path):
    child = _spawn(tmp_path, str(EXAMPLES / "product_x1x2x3.net"))
    try:
        out = _command(child, 'export text "my laws.txt"')
        assert "wrote 2 laws of degree <= 2 to my laws.txt (text)" in out
        out = _command(child, "export sage 'two words.sage' 2")
        assert "to two words.sage (sage)" in out
        out = _command(child, "export sage my file.sage")
        assert ("error: 'file.sage' is not a degree K; a FILE with spaces needs quotes: "
                'export sage "my file.sage"') in out
        out = _command(child, 'export sage "unclosed.sage')
        assert "error: No closing quotation" in out
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert "x1^2 - x3^2" in (tmp_path / "my laws.txt").read_text()
    assert "laws = [" in (tmp_path / "two words.sage").read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "history") == [
        "my laws.txt", "two words.sage"]


def test_pty_input_typed_during_a_computation_is_kept_and_not_echoed_into_it(tmp_path):
    child = _spawn(tmp_path, str(EXAMPLES / "linear_momentum.net"))
    try:
        child.sendline("laws 3")           # about two seconds (a degree-3 system in 25 variables)
        time.sleep(0.3)
        for key in "info\r":               # typed one key at a time while it runs
            child.send(key)
            time.sleep(0.05)
        answer = _answer(child)
        # heavy-ball laws of a 2 -> 3 -> 2 net: 3 (THEORY.md B.3, ground_truth row 58)
        assert re.search(r"degree <= 3 \(exact over QQ, each verified\): 3", answer)
        # nothing typed was echoed into the answer: before the result, the terminal shows
        # only whole progress frames ("task [bar] done/total  time") and the blanks that erase them
        before = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", answer).split("polynomial conservation")[0]
        frame = re.compile(r"[A-Za-z ,'-]+?( \[[#.]{20}\] \d+/\d+| \d+)?  \d+(\.\d)? s")
        for piece in re.split(r"[\r\n]+", before):
            assert not piece.strip() or frame.fullmatch(piece.strip()), repr(piece)
        assert "D           12" in "\n".join(_lines(_answer(child)))   # then it runs by itself
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_pty_laws_at_too_low_a_degree_suggest_the_momentum_degree(tmp_path):
    child = _spawn(tmp_path, str(EXAMPLES / "linear_momentum.net"))
    try:
        out = " ".join(_command(child, "laws").splitlines())
        assert ("hint: no law of degree <= 2 reaches N = 3: heavy-ball momentum's laws carry "
                "the time factor e^t") in out
        assert "expected from degree 3 on: try laws 3" in out
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
