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
