"""Fuzzing the `.net` language: the parser and the compiler raise only ConslawError.

Four sources of input: programs generated from the grammar (``grammar/net.lark``:
every statement kind, expressions with every operator and function, known and
unknown names, odd shapes and options); programs over a fixed set of declared
tensors (so that most inputs reach the shape checks and the lowering); mutations of
the shipped example files (characters deleted, inserted, lines swapped or repeated,
numbers replaced); and token soup. Each
input goes through ``dsl.parse``, ``compile_program`` and the Model constructor.
Anything but a ConslawError (the documented user-facing errors) is a bug.

CI runs a few hundred examples per strategy; the long run is
``CONSLAW_FUZZ_EXAMPLES=10000 python -m pytest -q tests/test_fuzz.py``
(its result is in BENCHMARKS.md).
"""
from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conslaw_algebra import api
from conslaw_algebra.language import parser as dsl
from conslaw_algebra.language.compiler import compile_program
from conslaw_algebra.errors import ConslawError

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.net"))
EXAMPLE_TEXTS = [p.read_text() for p in EXAMPLES]
FUZZ = settings(max_examples=int(os.environ.get("CONSLAW_FUZZ_EXAMPLES", "300")),
                deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

NAMES = st.sampled_from(["W", "V", "x", "b", "h", "U", "X", "Q", "K", "O", "a", "y", "s",
                         "relu", "sum", "model", "tau", "mirror", "W1", "b1", "_z", "gate1"])
FUNCTIONS = st.sampled_from(["relu", "sum", "generic", "softmax", "sigmoid", "tanh", "maxpool",
                             "conv1d", "conv2d", "attention", "exp", "W"])
SMALL = st.integers(0, 5).map(str) | st.sampled_from(["0", "1", "12", "100", "007"])


LEAVES = NAMES | SMALL | st.builds(lambda a, b: f"{a}/{b}", SMALL, SMALL)


def _extend(sub):
    binary = st.builds(lambda a, op, b: f"{a} {op} {b}", sub, st.sampled_from(list("+-*@/^")), sub)
    keyword = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["size", "heads", "k"]), SMALL)
    call = st.builds(lambda f, args: f"{f}({', '.join(args)})", FUNCTIONS,
                     st.lists(sub | keyword, min_size=0, max_size=5))
    index = st.builds(lambda e, ix: f"{e}[{','.join(ix)}]", sub, st.lists(SMALL, min_size=0, max_size=3))
    return st.one_of(binary, call, index, sub.map(lambda e: f"({e})"), sub.map(lambda e: f"-{e}"),
                     sub.map(lambda e: f"{e}.T"))


EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=10)
SHORT_EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=4)


def declarations():
    shape = st.lists(SMALL, min_size=0, max_size=5).map(lambda d: f"[{','.join(d)}]" if d else "")
    return st.lists(st.builds(lambda n, s: n + s, NAMES, shape), min_size=1, max_size=3).map(", ".join)


def _statements():
    layer_step = st.builds(lambda w, opts: " ".join([f"-> {w}"] + opts), SMALL,
                           st.lists(st.sampled_from(["relu", "bias", "tanh"]), max_size=2))
    flow_option = st.sampled_from(["mirror", "W", "V", "U", ",", "tau=1", "tau=1/2", "tau=-1",
                                   "tau=x", "nesterov", "mirror=2"])
    return st.one_of(
        NAMES.map(lambda n: f"model {n}"),
        declarations().map(lambda d: f"param {d}"),
        declarations().map(lambda d: f"input {d}"),
        st.builds(lambda n, e: f"{n} = {e}", NAMES, EXPRESSIONS),
        EXPRESSIONS.map(lambda e: f"output {e}"),
        st.builds(lambda w, steps: f"layers {w} " + " ".join(steps), SMALL,
                  st.lists(layer_step, max_size=4)),
        st.builds(lambda k, opts: f"flow {k} " + " ".join(opts),
                  st.sampled_from(["gradient", "momentum", "newton"]), st.lists(flow_option, max_size=4)),
        st.builds(lambda n, e: f"metric {n} = {e}", NAMES, SHORT_EXPRESSIONS),
        st.just("# a comment"), st.just(""),
    )


STATEMENTS = _statements()
PROGRAMS = st.lists(STATEMENTS, min_size=1, max_size=8).map("\n".join)


DECLARED = st.sampled_from(["A", "B", "c", "x", "M", "T", "A.T", "M.T", "A[0,1]", "x[1]", "T[0,1,1]"])
TYPED_LEAVES = DECLARED | st.sampled_from(["1", "2", "1/2", "0"])
TYPED_EXPRESSIONS = st.recursive(TYPED_LEAVES, _extend, max_leaves=8)
TYPED_BODY = st.one_of(
    TYPED_EXPRESSIONS.map(lambda e: f"output {e}"),
    st.builds(lambda n, e: f"{n} = {e}", st.sampled_from(["h", "g", "h", "relu"]), TYPED_EXPRESSIONS),
    st.builds(lambda n, e: f"metric {n} = {e}", st.sampled_from(["A", "B", "c", "A"]), TYPED_EXPRESSIONS),
    st.sampled_from(["flow momentum tau=1", "flow gradient mirror A", "flow momentum nesterov",
                     "flow momentum tau=1/2 mirror A, B", "output h", "output g", "output sum(h)"]),
)
TYPED_PROGRAMS = st.builds(
    lambda lines, last: "param A[2,2], B[2], c\ninput x[2], M[2,2], T[2,3,4]\n"
    + "\n".join(lines + [f"output {last}"]),
    st.lists(TYPED_BODY, max_size=5), TYPED_EXPRESSIONS)

TOKENS = ["[", "]", "(", ")", ",", "=", "->", "@", "*", "+", "-", "/", "^", ".T", "\n", " ",
          "relu", "output", "param", "input", "layers", "flow", "metric", "model", "0", "9",
          "99999", "1/0", "#", "\t", "é", "\x00", "W", "x", "size=", "heads="]


@st.composite
def mutated_examples(draw):
    text = draw(st.sampled_from(EXAMPLE_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "swap", "repeat", "number"]))
        position = draw(st.integers(0, len(text)))
        if kind == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 8)):]
        elif kind == "insert":
            text = text[:position] + draw(st.sampled_from(TOKENS)) + text[position:]
        elif kind in ("swap", "repeat"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines[i])
            text = "\n".join(lines)
        else:
            digits = [k for k, c in enumerate(text) if c.isdigit()]
            if digits:
                k = draw(st.sampled_from(digits))
                text = text[:k] + draw(st.sampled_from(["0", "7", "40", "1000"])) + text[k + 1:]
    return text


def front_end(text: str) -> None:
    """Parse, compile and build the Model; only ConslawError may escape."""
    try:
        program = dsl.parse(text, "fuzz.net")
        compile_program(program)
        api.Model(program, memory_budget="64M")
    except ConslawError as exc:
        assert str(exc) and "\n" not in str(exc).strip()


@FUZZ
@given(PROGRAMS)
def test_generated_programs_raise_only_documented_errors(text):
    front_end(text)


@FUZZ
@given(TYPED_PROGRAMS)
def test_typed_programs_raise_only_documented_errors(text):
    front_end(text)


@FUZZ
@given(mutated_examples())
def test_mutated_examples_raise_only_documented_errors(text):
    front_end(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS + list("abcXYZ0123456789 \n")), max_size=40).map("".join))
def test_token_soup_raises_only_documented_errors(text):
    front_end(text)
