"""The command line and the Python API as a new user meets them: version, help, the
progress clock, state dimensions and degree hints of momentum flows, model names, the
Sage export, laws by block of a mirror flow, gates squared, and messages that blame
the right input.

Expected values are derived by hand in each test (THEORY.md sections named there).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from pathlib import Path

import pexpect
import pytest

import conslaw_algebra as ca
from conslaw_algebra.views.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# ------------------------------------------------------------------ version, help
def test_version_is_the_project_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"conslaw {project}\n"


def _parsers(parser):
    yield "conslaw", parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub


def test_every_option_and_argument_has_help_text():
    missing = [f"{name} {action.dest}" for name, parser in _parsers(build_parser())
               for action in parser._actions
               if not isinstance(action, argparse._HelpAction)
               and (not action.help or action.help == argparse.SUPPRESS)]
    assert missing == []
    commands = dict(_parsers(build_parser()))
    assert set(commands) == {"conslaw", "count", "laws", "check", "relations", "info", "sweep",
                             "paths", "simulate", "repl"}


def test_the_progress_clock_ticks_while_one_step_runs(tmp_path):
    # a step with no report of its own (here: a sleep of 1.6 s inside the progress block)
    # still shows its time going on: the line is redrawn every half second with the same
    # task and a later time
    script = ("import sys, time\nfrom conslaw_algebra import progress\n"
              "with progress.when(True, sys.stderr, task='a long step'):\n"
              "    time.sleep(1.6)\nprint('laws N done')\n")
    env = dict(os.environ, TERM="xterm",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = pexpect.spawn(sys.executable, ["-c", script], env=env, encoding="utf-8",
                          timeout=60, dimensions=(40, 200))
    child.expect(pexpect.EOF)
    child.close()
    frames = [f.strip() for f in child.before.split("laws N")[0].split("\r") if f.strip()]
    frames = [f for f in frames if f.endswith(" s")]
    parsed = [re.fullmatch(r"(.+?)  (\d+\.\d) s", f) for f in frames]
    assert frames and all(parsed), frames
    times = [float(m.group(2)) for m in parsed]
    assert times[0] <= 1.0                            # shown from half a second on
    assert times == sorted(times)
    assert all(b - a <= 1.0 for a, b in zip(times, times[1:])), frames   # never a long gap
    tasks = [m.group(1) for m in parsed]
    assert any(x == y and s < t for (x, s), (y, t) in zip(zip(tasks, times),
                                                           zip(tasks[1:], times[1:]))), frames


# ------------------------------------------------- momentum: dimensions and degrees
def test_count_and_sweep_name_the_phase_space(capsys):
    # relu_momentum: 2 -> 2 relu bias -> 2, D = 4 + 2 + 4 = 10; phase space 2 D + 1 = 21;
    # no law survives momentum for ReLU nets (THEORY.md B.3), so the trace is all of R^21
    assert main(["count", str(EXAMPLES / "relu_momentum.net")]) == 0
    out = capsys.readouterr().out
    assert "D          10 parameters; phase space (time, theta, theta') of dimension 21" in out
    assert "certain: the Lie algebra's trace is all of R^21 (the phase space)" in out
    assert "R^D" not in out
    assert main(["sweep", "--quiet", "--jobs", "1", str(EXAMPLES / "relu_momentum.net"),
                 str(EXAMPLES / "product_x1x2x3.net")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["model", "D", "state", "rank", "N", "seconds"]
    assert table[1].split()[1:5] == ["10", "21", "21", "0"]
    assert table[2].split()[1:5] == ["3", "3", "1", "2"]   # x1 x2 x3: D = 3, N = 2


@pytest.mark.parametrize("flow, degree, expected", [
    ("tau=1", 2, 3),          # heavy ball: e^t times a degree-2 law (THEORY.md B.3)
    ("nesterov", 3, 5),       # Nesterov: t^3 times one
])
def test_laws_at_too_low_a_degree_say_where_momentum_laws_are(tmp_path, capsys, flow, degree,
                                                               expected):
    path = tmp_path / "m.net"
    path.write_text(f"layers 2 -> 3 -> 2\nflow momentum {flow}\n")
    assert main(["laws", str(path), "--degree", str(degree)]) == 0
    out = capsys.readouterr().out
    # N = 3: the antisymmetric 3x3 matrix of the hidden layer (THEORY.md B.3)
    assert f"hint: no law of degree <= {degree} reaches N = 3" in out
    assert f"expected from degree {expected} on: try --degree {expected}" in out
    assert main(["laws", str(path), "--degree", str(expected)]) == 0
    out = capsys.readouterr().out
    assert f"degree <= {expected} (exact over QQ, each verified): 3" in out and "hint" not in out


def test_a_metric_flow_without_polynomial_laws_says_so(tmp_path, capsys):
    # a*b*x with M = diag(a^2, b^2): the fields are a b x (a, b), so a law has
    # a h_a + b h_b = 0, degree 0 homogeneous (a/b): N = 1 and no polynomial law
    path = tmp_path / "m.net"
    path.write_text("param a, b\ninput x\noutput a*b*x\nmetric a = a^2\nmetric b = b^2\n")
    assert main(["laws", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hint: no law of degree <= 2 reaches N = 1: a metric changes the degrees" in out
    assert "may have another degree or not be polynomial; try --degree 3" in out


# ------------------------------------------------------------ the smaller items
def test_parse_keeps_the_name_it_is_given():
    assert ca.parse("param a, b\noutput a*b", name="net v1.2").name == "net v1.2"
    assert ca.parse("param a, b\noutput a*b", name="dir/ab.net").name == "ab"   # a file's stem
    assert ca.parse("model m\nparam a, b\noutput a*b", name="net v1.2").name == "m"
    assert ca.load(EXAMPLES / "relu_2layer.net").name == "relu_2layer"


def test_to_sage_is_the_script_of_format_sage(capsys):
    path = EXAMPLES / "product_x1x2x3.net"
    assert main(["laws", str(path), "--format", "sage"]) == 0
    script = capsys.readouterr().out
    assert ca.load(path).laws(2).to_sage() + "\n" == script
    assert "    x1^2 - x3^2," in script and "    x2^2 - x3^2," in script


def test_laws_by_block_of_the_mirror_example(capsys):
    # nmf_mirror: U[3,2] V[2,4] under theta' = -theta * grad E; one linear law per inner
    # index k, sum_i U[i,k] - sum_j V[k,j] (THEORY.md B.3, NMF mirror GF); N = 2
    assert main(["laws", str(EXAMPLES / "nmf_mirror.net"), "--by-block"]) == 0
    out = capsys.readouterr().out
    assert "h1 = U[0,0] + U[1,0] + U[2,0] - V[0,0] - V[0,1] - V[0,2] - V[0,3]" in out
    assert "h2 = U[0,1] + U[1,1] + U[2,1] - V[1,0] - V[1,1] - V[1,2] - V[1,3]" in out
    assert "independent in the union: 2 of N = 2" in out and "complete:" in out


def test_a_gate_squared_is_one_gate_in_count_laws_and_check(tmp_path, capsys):
    # b * relu(a x)^2 = b g (a x)^2 with g^2 = g (DSL.md section 2): one feature a^2 b.
    # h = a^2 - 2 b^2: <grad h, grad psi> = 2a * 2ab - 4b * a^2 = 0; N = 2 - 1 = 1
    path = tmp_path / "g.net"
    path.write_text("param a, b\ninput x\noutput b * relu(a*x) * relu(a*x)\n")
    assert main(["count", str(path)]) == 0
    assert re.search(r"laws N\s+1\n", capsys.readouterr().out)
    assert main(["laws", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  h1 = a^2 - 2*b^2\n" in out and "h2" not in out
    assert main(["check", str(path), "a^2 - 2*b^2"]) == 0
    assert main(["check", str(path), "a^2 - b^2"]) == 1
    capsys.readouterr()


def test_sweep_count_zero_is_named(capsys):
    assert main(["sweep", "--family", "relu", "--count", "0"]) == 2
    assert capsys.readouterr().err == ("conslaw: <arguments>: --count 0 asks for a family of no "
                                       "models; give --count 1 or more\n")


def test_a_bad_memory_budget_in_the_environment_is_blamed_on_it(monkeypatch, capsys):
    monkeypatch.setenv("CONSLAW_MEMORY_BUDGET", "lots")
    assert main(["count", str(EXAMPLES / "product_x1x2x3.net")]) == 2
    assert capsys.readouterr().err == ("conslaw: <environment>: CONSLAW_MEMORY_BUDGET='lots' is "
                                       "not a size like 2G, 500M or 1000000\n")
    # given on the command line, the same text is the argument's fault
    monkeypatch.delenv("CONSLAW_MEMORY_BUDGET")
    assert main(["count", str(EXAMPLES / "product_x1x2x3.net"), "--memory-budget", "lots"]) == 2
    assert capsys.readouterr().err.startswith("conslaw: <arguments>: 'lots' is not a size")
