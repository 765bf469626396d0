"""The hand-written parser against the reference (lark's LALR parser on grammar/net.lark).

The reference is the independent source: wherever the fast parser answers, the
reference must give the same statements, positions included; where it declines, the
reference decides. Valid programs (generated from the grammar with random spacing,
comments, parentheses and line endings, and the shipped examples) must be answered by
the fast parser itself, so the command line really does skip lark on valid files.
"""
from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conslaw_algebra.errors import ConslawError
from conslaw_algebra.language import fast_parser, lark_parser
from conslaw_algebra.language import parser as dsl
from test_fuzz import PROGRAMS, TOKENS, TYPED_PROGRAMS, mutated_examples

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.net"))
CHECK = settings(max_examples=int(os.environ.get("CONSLAW_FUZZ_EXAMPLES", "300")), deadline=None,
                 derandomize=True, database=None, suppress_health_check=list(HealthCheck))


def _reference(text: str):
    """The reference's statements, or its error as (kind, message)."""
    try:
        return lark_parser.statements(text, "f.net")
    except ConslawError as exc:
        return type(exc).__name__, str(exc)


def _fast(text: str):
    try:
        return fast_parser.statements(text)
    except fast_parser.NotAccepted:
        return None


def _agree(text: str) -> bool:
    """True when the fast parser answered (and then equals the reference)."""
    text = text if text.endswith("\n") else text + "\n"
    fast = _fast(text)
    if fast is not None:
        assert fast == _reference(text), text
    return fast is not None


def test_every_shipped_example_is_read_by_the_fast_parser_as_by_the_reference():
    for path in EXAMPLES:
        assert _agree(path.read_text()), path.name


# ----------------------------------------------------------- valid programs
SPACE = st.sampled_from(["", " ", "  ", "\t"])
NAME = st.sampled_from(["a", "W1", "x_2", "_h", "relu", "sum", "T", "onehot", "models", "Tx"])
NUMBER = st.sampled_from(["0", "1", "42", "007", "1/2", "10/3"])
QUOTIENT = st.builds(lambda n, d, s: f"({n}{s}/{s}{d})", st.sampled_from(["3", "-3", "0"]),
                     st.sampled_from(["4", "1/2"]), SPACE)


def _grow(inner):
    binary = st.builds(lambda a, s, op, t, b: f"{a}{s}{op}{t}{b}", inner, SPACE,
                       st.sampled_from(["+", "-", "*", "@", "^"]), SPACE, inner)
    keyword = st.builds(lambda k, e: f"{k}={e}", st.sampled_from(["size", "axes", "eps"]), inner)
    call = st.builds(lambda f, s, args: f"{f}{s}({', '.join(args)})",
                     st.sampled_from(["relu", "conv2d", "f", "sum"]), st.sampled_from(["", ""]),
                     st.lists(inner | keyword, min_size=1, max_size=3))
    grouped = st.builds(lambda s, e, t: f"({s}{e}{t})", SPACE, inner, SPACE)
    postfix = st.builds(lambda e, p: f"{e}{p}", grouped | NAME,
                        st.sampled_from([".T", "[0]", "[1, 2]", ".T[3]", "[0].T", " .T"]))
    chain = st.lists(st.tuples(st.sampled_from(["", "-", "- -"]), inner,
                               st.sampled_from(["+", "-", "*", "@", "^", "^-"])),
                     min_size=2, max_size=6).map(
        lambda terms: " ".join(f"{sign}{e} {op}" for sign, e, op in terms[:-1])
        + f" {terms[-1][0]}{terms[-1][1]}")
    return st.one_of(binary, chain, call, grouped, postfix, inner.map(lambda e: f"-{e}"),
                     inner.map(lambda e: f"- {e}"))


EXPRESSION = st.recursive(NAME | NUMBER | QUOTIENT, _grow, max_leaves=12)
DECLARATION = st.builds(lambda n, shape: n + shape, st.sampled_from(["W", "b2", "x", "_t"]),
                        st.sampled_from(["", "[3]", "[2,5]", "[1, 2, 3]"]))
STATEMENT = st.one_of(
    st.builds(lambda n, s, e: f"{n}{s}={s}{e}", st.sampled_from(["h", "out2", "relu"]), SPACE, EXPRESSION),
    EXPRESSION.map(lambda e: f"output {e}"),
    st.builds(lambda n, e: f"metric {n} = {e}", st.sampled_from(["W", "b", "flow"]), EXPRESSION),
    st.lists(DECLARATION, min_size=1, max_size=3).map(lambda d: "param " + ", ".join(d)),
    st.lists(DECLARATION, min_size=1, max_size=3).map(lambda d: "input " + ", ".join(d)),
    st.just("input t[4,10] onehot, u[2]"),
    st.builds(lambda n: f"model {n}", st.sampled_from(["m", "resnet_2"])),
    st.builds(lambda w, steps: f"layers {w} " + " ".join(steps), st.sampled_from(["1", "12"]),
              st.lists(st.sampled_from(["-> 3", "-> 2 relu", "->4 relu bias", "-> 1 output"]),
                       min_size=1, max_size=4)),
    st.builds(lambda k, opts: f"flow {k} " + " ".join(opts),
              st.sampled_from(["gradient", "momentum", "mirror"]),
              st.lists(st.sampled_from(["tau=1", "tau = 1/2", "nesterov", ",", "mirror=W", "W"]),
                       max_size=4)),
)
LINE = st.builds(lambda s, statement, comment: s + statement + comment, SPACE, STATEMENT,
                 st.sampled_from(["", " # note", "#", "\t# x = (", "  "]))
VALID = st.builds(lambda lines, ending: ending.join(lines),
                  st.lists(LINE | st.sampled_from(["", "# comment", "   "]), min_size=1, max_size=6),
                  st.sampled_from(["\n", "\r\n"]))


@CHECK
@given(VALID)
def test_valid_programs_are_read_by_the_fast_parser_exactly_as_by_the_reference(text):
    assert _agree(text), text


# ------------------------------------- anything: answered alike, or declined
@CHECK
@given(PROGRAMS | TYPED_PROGRAMS | mutated_examples())
def test_generated_and_mutated_programs_never_read_differently(text):
    _agree(text)


@CHECK
@given(st.lists(st.sampled_from(TOKENS + list("abcXYZ0123456789 \n\r")), max_size=40).map("".join))
def test_token_soup_never_reads_differently(text):
    _agree(text)


def test_a_mistake_is_reported_by_the_reference_with_its_position():
    text = "param a\noutput a ** 2\n"
    expected = _reference(text)
    try:
        dsl.parse(text, "f.net")
    except ConslawError as exc:
        assert (type(exc).__name__, str(exc)) == expected
    assert expected[1] == "f.net:2:10: '**' is not an operator: write powers with '^', as in a^2"


def test_deep_expressions_parse_without_recursion():
    depth = 5_000
    text = "param a\noutput " + "(" * depth + "a" + ")" * depth + " + " + "-" * depth + "a\n"
    program = dsl.parse(text)
    node = program.statements[1].value.right
    for _ in range(depth):
        node = node.operand
    assert node.ident == "a"
