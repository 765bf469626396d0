"""The shipped examples and the examples of DSL.md work as written.

Each example states its expected N in a comment ("Expected: N = ..."), taken from
THEORY.md or the ground truth; the test reads that comment, not our output.
"""
import re
from pathlib import Path

import pytest

import conslaw_algebra as ca
from conslaw_algebra.views.cli import main

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.net"))
REQUIRED = {"linear_3layer.net", "matrix_factorization.net", "relu_2layer.net",
            "relu_bias_3layer.net", "product_x1x2x3.net"}


def test_required_examples_ship():
    assert REQUIRED <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_has_its_stated_count_and_complete_laws(path):
    stated = re.search(r"Expected: N = (\d+)", path.read_text())
    assert stated, f"{path.name} must state its expected N"
    degree = re.search(r"laws of degree (\d+)", path.read_text())
    model = ca.load(path)
    assert model.count_laws().laws == int(stated.group(1))
    assert model.laws(int(degree.group(1)) if degree else 2).independent == int(stated.group(1))


DSL_MLP = """\
# comments start with '#'
model mlp                       # optional name; defaults to the file's stem

input x[4]                      # data: symbolic, never trained
param W1[5,4], b1[5]            # parameters: theta is their entries, row-major,
param W2[3,5]                   #   in declaration order (D = 20 + 5 + 15 = 40)

h = relu(W1 @ x + b1)           # let-binding: a named intermediate
output W2 @ h                   # one or more `output` lines
"""


def test_dsl_example_model():
    model = ca.parse(DSL_MLP, "mlp.net")
    assert model.name == "mlp"
    assert model.dim == 40
    assert model.names[:2] == ("W1[0,0]", "W1[0,1]")
    assert model.names[20] == "b1[0]"
    # ReLU with a hidden bias: one law per hidden neuron (THEORY.md A.5)
    assert model.count_laws().laws == 5


def test_dsl_layers_sugar_matches_explicit_model():
    explicit = ca.parse("input x[4]\nparam W1[5,4], b1[5], W2[3,5], b2[3], W3[2,3]\n"
                        "output W3 @ relu(W2 @ relu(W1 @ x + b1) + b2)")
    sugar = ca.parse("layers 4 -> 5 relu bias -> 3 relu bias -> 2")
    assert sugar.names == explicit.names
    assert [str(f) for f in sugar.features] == [str(f) for f in explicit.features]


def test_deep_linear_features_are_the_product_entries():
    """DSL.md section 2: for a deep linear network the features are the product's entries."""
    model = ca.parse("layers 2 -> 2 -> 1")   # W2 (1x2) @ W1 (2x2): two entries
    # t0..t3 = W1 row-major, t4, t5 = W2
    assert sorted(str(f) for f in model.features) == ["t0*t4 + t2*t5", "t1*t4 + t3*t5"]


def test_rational_literals_scalars_indexing_and_sum():
    model = ca.parse("param A[2,2], s\noutput 1/2 * s * sum(A^2) - A[0,1]")
    assert [str(f) for f in model.features] == [
        "1/2*t0^2*t4 + 1/2*t1^2*t4 + 1/2*t2^2*t4 + 1/2*t3^2*t4 - t1"]


def test_gates_are_idempotent_in_features():
    """DSL.md section 2: g^2 = g, so relu(h)^2 has the features of g*h^2."""
    model = ca.parse("param a\ninput x\noutput relu(a*x)^2")
    assert [(str(f.poly), f.monomial) for f in model.expansion.features] == [("t0^2", "x^2*gate1")]


@pytest.mark.parametrize("command", [
    ["count", "{m}"], ["count", "{m}", "--seed", "3", "--json"],
    ["laws", "{m}"], ["laws", "{m}", "--degree", "1"], ["laws", "{m}", "--format", "latex"],
    ["laws", "{m}", "--format", "sage"], ["laws", "{m}", "--format", "json"],
    ["check", "{m}", "W1[0,0]^2 + W1[0,1]^2 + W1[0,2]^2 + W1[0,3]^2 - W2[0,0]^2 - W2[1,0]^2 - W2[2,0]^2"],
    ["info", "{m}"], ["info", "{m}", "--json"],
])
def test_cli_commands_of_the_dsl_page_run(command, capsys):
    model = str(Path(__file__).parent.parent / "examples" / "relu_2layer.net")
    assert main([part.format(m=model) for part in command]) == 0
    assert capsys.readouterr().out.strip()
