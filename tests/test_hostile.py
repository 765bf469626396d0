"""Hostile and extreme input through the command line, as a separate process under a
memory limit: every case ends in one clear line (exit status 2, or 124 for --timeout),
or is answered, within its time, and never with a traceback, a RecursionError or an
internal error.

Each case runs ``python -m conslaw_algebra.views.cli`` with ``resource.setrlimit``
capping the child's address space (``LIMIT``), so a case that tried to read or build
without bound would fail with a MemoryError (exit 3) instead of exhausting the machine.
The expected outcomes are the documented contract (README, DSL.md section 3): one
``conslaw: file:line:col: message`` line for bad input, the estimate for a refusal.
The time bounds leave room for the interpreter's start (about 0.4 s) on a loaded
machine; BENCHMARKS.md gives the idle figures.
"""
from __future__ import annotations

import json
import os
from decimal import Decimal
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LIMIT = 3 * 2**30          # address space of each child: far below what the hostile cases would take


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


# Time limits here only catch a hang (these inputs used to run for minutes or exhaust
# memory): each is the target times HANG_FACTOR, so a loaded machine does not fail
# a test; how fast the answers are is measured in benchmarks/, not asserted here.
HANG_FACTOR = 10


def run_cli(args, stdin: str | None = None, stdout=subprocess.PIPE, env: dict | None = None):
    """Run the CLI in a child process under the memory limit: (status, out, err, seconds)."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    environment.pop("CONSLAW_MEMORY_BUDGET", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", *map(str, args)],
                          input=stdin, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          env=environment, preexec_fn=_limit, timeout=300, cwd=ROOT)
    return done.returncode, done.stdout or "", done.stderr, time.perf_counter() - started


def one_line(err: str) -> str:
    """The single stderr line of a refused case, with its ``conslaw: `` prefix removed."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("conslaw: "), err
    assert "internal error" not in err and "RecursionError" not in err, err
    return lines[0][len("conslaw: "):]


def refused(args, *, words=(), where: str | None = None, seconds: float = 3.0, **kw) -> str:
    """Exit status 2, one line naming ``where`` (file:line:col) and ``words``, in time."""
    status, out, err, elapsed = run_cli(args, **kw)
    assert status == 2, (status, out, err)
    line = one_line(err)
    if where is not None:
        assert line.startswith(where), (line, where)
    for word in words:
        assert word in line, (word, line)
    assert elapsed < seconds * HANG_FACTOR, (elapsed, line)
    return line


def answered(args, *, seconds: float = 10.0, **kw) -> str:
    status, out, err, elapsed = run_cli(args, **kw)
    assert status == 0, (status, out, err)
    assert "Traceback" not in err and "error" not in err, err
    assert elapsed < seconds * HANG_FACTOR, elapsed
    return out


def model(tmp_path, text: str, name: str = "m.net") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------ files
def test_a_device_is_refused_before_reading(tmp_path):
    refused(["info", "/dev/zero"], where="/dev/zero: ", words=("not a regular file",))


def test_load_of_a_device_in_the_repl_is_refused_and_the_session_goes_on():
    status, out, err, elapsed = run_cli(["repl"], stdin="load /dev/zero\nparam a, b\n"
                                        "output a*b\ncount\nquit\n")
    assert status == 0 and "Traceback" not in out + err
    assert "error: /dev/zero: not a regular file" in out
    assert "laws N     1" in out                   # the session went on: a*b has a^2 - b^2
    assert elapsed < 10 * HANG_FACTOR


def test_a_named_pipe_and_a_large_file_are_refused(tmp_path):
    pipe = tmp_path / "pipe.net"
    os.mkfifo(pipe)
    refused(["info", pipe], words=("named pipe",))
    big = model(tmp_path, "param a, b\noutput a*b\n" + "# padding\n" * 200, "big.net")
    refused(["info", big], env={"CONSLAW_MAX_MODEL_BYTES": "1000"},
            words=("more than the limit of 1,000", "CONSLAW_MAX_MODEL_BYTES"))
    answered(["info", big])                       # under the default 10 MiB


# ------------------------------------------------------------------ powers
def test_a_huge_power_is_refused_at_once(tmp_path):
    path = model(tmp_path, "param a, b\noutput a^1000000000 * b\n")
    refused(["count", path], words=("degree about 1,000,000,001", "lower the exponents"))
    refused(["laws", path], words=("would need about", "lower the exponents"))
    refused(["check", path, "a^1000000000 * b"], words=("expanding the expression",))
    out = answered(["info", path])                # the features are not listed, not expanded
    assert "not listed" in out


def test_a_large_power_is_computed_by_squaring(tmp_path):
    path = model(tmp_path, "param a, b\noutput a^30000 * b\n")
    out = answered(["count", path], seconds=5)
    assert "laws N     1" in out                  # one law: a^2 - 30000 b^2 (by hand: d/dt)


def test_a_power_of_a_sum_is_estimated_by_its_monomials(tmp_path):
    # (a + b)^200 has 201 terms, C(2 + 200 - 1, 200); a bound 2^200 would refuse it
    path = model(tmp_path, "param a, b\noutput (a + b)^200\n")
    out = answered(["info", path])
    assert "features    1" in out
    out = answered(["laws", path, "--format", "json"], seconds=20)
    assert json.loads(out)["lie_laws"] == 1       # D = 2, one feature: N = 1


# ------------------------------------------------------------------ depth
@pytest.mark.parametrize("name, text, laws", [
    # a single parameter under 5,000 signs: one feature +-a, no law (N = 0)
    ("signs", "param a\noutput " + "-" * 5000 + "a\n", 0),
    # a^20000 * b as 20,000 factors: one feature, one law (a^2 - 20000 b^2 by hand)
    ("factors", "param a, b\noutput " + "*".join(["a"] * 19999 + ["b"]) + "\n", 1),
    # relu nested 300 deep around a*b*x: each level's argument holds data, so each level
    # has a gate of its own; the one feature is a*b (times x and the 300 gates): N = 1
    ("nested relu", "param a, b\ninput x\noutput " + "relu(" * 300 + "a*b*x" + ")" * 300 + "\n", 1),
    # 400 chained lets adding a each time: h = a*x + 399 a, features a (x) and a: N = 0
    ("lets", "param a\ninput x\nh0 = a*x\n" + "".join(f"h{i} = h{i - 1} + a\n" for i in range(1, 400))
     + "output h399\n", 0),
])
def test_deep_and_long_expressions_are_answered(tmp_path, name, text, laws):
    path = model(tmp_path, text)
    out = answered(["count", path, "--json", "--quiet"], seconds=60)
    assert json.loads(out)["laws"] == laws


def test_a_300_layer_relu_chain_is_answered(tmp_path):
    # one law per hidden ReLU neuron (THEORY.md): 300 layers of width 2
    path = model(tmp_path, "layers 2 " + "-> 2 relu " * 300 + "-> 1\n")
    out = answered(["count", path, "--json", "--quiet"], seconds=120)
    assert json.loads(out)["laws"] == 600


# ------------------------------------------------------------------ arguments and output
@pytest.mark.parametrize("value", ["inf", "1e300"])
def test_a_timeout_out_of_range_is_refused(value):
    refused(["count", EXAMPLES / "relu_2layer.net", "--timeout", value],
            where="<arguments>: ", words=("--timeout must be a positive number",))


def test_a_huge_path_norm_is_printed_in_decimal():
    out = answered(["paths", EXAMPLES / "relu_2layer.net", "--norm-at", "1e200", "--json"])
    report = json.loads(out)
    # every path of the two-layer net is a product of two weights: each term is 10^400,
    # beyond a float, so the norm (q = 1: the sum itself) is written in decimal
    assert report["path_norm_power_sum"] == str(report["paths"] * 10**400)
    assert report["path_norm"] == format(Decimal(report["paths"] * 10**400), ".5E")


def test_a_full_output_device_is_one_line(tmp_path):
    with open("/dev/full", "w") as full:
        status, _, err, _ = run_cli(["laws", EXAMPLES / "relu_2layer.net"], stdout=full)
    assert status == 2
    assert "cannot write the output" in one_line(err) and "No space left" in err


# ------------------------------------------------------------------ memory budgets
def test_simulate_respects_the_budget():
    line = refused(["simulate", EXAMPLES / "relu_2layer.net", "--samples", "100000000",
                    "--memory-budget", "1G", "--no-plot"], words=("100,000,000 data points",
                                                                 "budget 1.0 GiB", "--samples"))
    assert "would need about" in line


@pytest.mark.parametrize("name, degree", [("relu_2layer", 5), ("linear_3layer", 4)])
def test_high_degree_laws_over_a_budget_are_refused(name, degree):
    # the graded systems' estimates (about 314 MiB and 57 MiB) are above a 30 MiB budget
    refused(["laws", EXAMPLES / f"{name}.net", "--degree", degree, "--memory-budget", "30M"],
            words=(f"the degree-{degree} law system", "budget 30.0 MiB"))


def test_features_as_polynomials_over_the_budget_are_refused_at_once(tmp_path):
    """``layers 30 -> 30 -> 30 -> 30``: 30^4 = 810,000 feature terms (each entry of
    W3 W2 W1 is a sum of 30 x 30 paths, 900 entries), D = 2,700; as FLINT polynomials
    they took 2.2 GB. The Sage export lists them: refused before any law is computed;
    so is the REPL's ``show features`` (the default budget there), and the session ends
    normally."""
    path = model(tmp_path, "layers 30 -> 30 -> 30 -> 30\n", "wide.net")
    line = refused(["laws", path, "--format", "sage", "--memory-budget", "1G"],
                   words=("the features as polynomials", "810,000 terms in 2,700 variables",
                          "would need about", "budget 1.0 GiB"))
    assert "GiB of memory" in line
    # 100^4 = 10^8 terms in 30,000 variables: over any machine's default budget
    huge = model(tmp_path, "layers 100 -> 100 -> 100 -> 100\n", "huge.net")
    status, out, err, elapsed = run_cli(["repl"], stdin=f"load {huge}\nshow features\nquit\n")
    assert status == 0 and "Traceback" not in out + err, (out, err)
    assert "error: the features as polynomials (about 100,000,000 terms in 30,000 " \
           "variables) would need about" in out
    assert elapsed < 3 * HANG_FACTOR


def test_a_huge_layered_net_is_refused_at_once(tmp_path):
    path = model(tmp_path, "layers 1000 -> 1000 -> 1000\n", "big.net")
    times = []
    for _ in range(3):
        status, _, err, elapsed = run_cli(["count", path])
        assert status == 2
        line = one_line(err)
        assert "2,000,000 x 2,000,000 frames" in line and "would need about" in line
        times.append(elapsed)
    assert min(times) < 1.0, times               # 0.4 s idle (BENCHMARKS.md)


def test_by_block_does_not_refuse_with_the_count_s_advice(tmp_path):
    path = model(tmp_path, "layers 1000 -> 1000 -> 1000\n", "big.net")
    out = answered(["laws", path, "--by-block", "--format", "json"], seconds=60)
    report = json.loads(out)
    assert report["lie_laws"] is None and "would need about" in report["count_skipped"]
    assert all(b["skipped"] for b in report["blocks"])


# ------------------------------------------------------------------ statement rules
@pytest.mark.parametrize("text, where, words", [
    ("model model\nparam a, b\noutput a*b\n", ":1:7: ", ("reserved word", "'model_'")),
    ("param output, flow\noutput output*flow\n", ":1:7: ", ("reserved word", "'output'")),
    ("param a, b\noutput a*b\nflow gradient\nflow momentum\n", ":4:1: ", ("second 'flow' line",)),
    ("model one\nmodel two\nparam a, b\noutput a*b\n", ":2:1: ", ("second 'model' line",)),
    ("param a, b\noutput a*b\nflow gradient mirror\n", ":3:1: ", ("'mirror' needs the names",)),
    ("param a, b\noutput a*b\nmetric a = 0\n", ":3:8: ", ("is zero",)),
    ("param a, b\noutput a*b\nmetric a = -1\n", ":3:8: ", ("is -1", "positive")),
    ("param a, b\nouput a*b\n", ":2:1: ", ("did you mean 'output'",)),
    ("param a, b\noutput a**2\n", ":2:9: ", ("'^'", "a^2")),
    ("param a, b\noutput 0.5*a\n", ":2:8: ", ("rational 1/2 for 0.5",)),
    ("param a, b\noutput a^9^9\n", ":2:8: ", ("integer literal", "(a^b)^c")),
])
def test_statement_rules_and_messages(tmp_path, text, where, words):
    path = model(tmp_path, text)
    refused(["count", path], where=path + where, words=words)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = model(tmp_path, "\ufeffparam a, b\noutput a*b\n")
    assert "laws N     1" in answered(["count", path])


@pytest.mark.parametrize("expression, words", [
    ("a**2", ("'^'",)), ("0.5*a", ("1/2",)), ("a^9^9", ("integer literal",)),
    ("a^1000000000 * b", ("would need about",)),
])
def test_check_expressions_say_what_to_write(tmp_path, expression, words):
    path = model(tmp_path, "param a, b\noutput a*b\n")
    refused(["check", path, expression], where="<expression>", words=words)


# ------------------------------------------------------------------ the fuzz corpus
CORPUS = settings(max_examples=int(os.environ.get("CONSLAW_HOSTILE_EXAMPLES", "6")),
                  deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))


def _through_the_cli(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.net"
    path.write_text(text, encoding="utf-8")
    status, out, err, elapsed = run_cli(["count", path, "--timeout", "60", "--quiet",
                                         "--memory-budget", "1G"])
    assert status in (0, 2, 124), (status, text, err)
    assert "Traceback" not in err and "internal error" not in err, (text, err)
    assert len(err.splitlines()) <= 1, (text, err)


def _strategies():
    import test_fuzz     # the fuzz tests' generators, from this folder
    return {"generated": test_fuzz.PROGRAMS, "typed": test_fuzz.TYPED_PROGRAMS,
            "mutated": test_fuzz.mutated_examples(),
            "soup": st.lists(st.sampled_from(test_fuzz.TOKENS + list("abcXYZ0123456789 \n")),
                             max_size=40).map("".join)}


@pytest.mark.parametrize("kind", ["generated", "typed", "mutated", "soup"])
def test_the_fuzz_corpus_through_the_cli(kind, tmp_path_factory):
    @CORPUS
    @given(_strategies()[kind])
    def check(text):
        _through_the_cli(tmp_path_factory, text)
    check()
