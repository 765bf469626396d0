"""The natural basis of the laws (``analyses/natural_basis.py``) and how it is shown.

Independent sources of the expected values:
- spans are compared by exact ranks over QQ computed with SymPy's ``DomainMatrix``
  (not the package's ``Span``): rank(natural) = rank(echelon) = rank(both together);
- the laws of ``relu_bias_3layer`` and ``linear_3layer`` are written here by hand from
  the shapes (THEORY.md E.1: one balance law per neuron; the entries of
  W_k W_k^T - W_{k+1}^T W_{k+1}), the Gram entries built with SymPy matrices;
- every law is re-checked exactly with SymPy: <grad h, grad psi> = 0 for every feature;
- the blocks are compared with the components of the column matroid found by brute force
  over circuits (minimal dependent sets of columns, ranks by SymPy).
"""
from __future__ import annotations

import io
import json
import random
from itertools import combinations
from pathlib import Path

import pytest
import sympy
from flint import fmpq_mpoly_ctx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy import QQ
from sympy.polys.matrices import DomainMatrix

import conslaw_algebra as ca
from conslaw_algebra.analyses import natural_basis as nb
from conslaw_algebra.views.cli import main
from conslaw_algebra.views.repl import run_repl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ exact helpers
def _rank(polys) -> int:
    """Exact rank over QQ of polynomials as coefficient vectors (SymPy DomainMatrix)."""
    polys = list(polys)
    if not polys:
        return 0
    monomials = sorted({tuple(e) for h in polys for e in h.monoms()})
    column = {m: k for k, m in enumerate(monomials)}
    rows = [[QQ(0)] * len(monomials) for _ in polys]
    for r, h in enumerate(polys):
        for exps, c in h.terms():
            rows[r][column[tuple(exps)]] = QQ(int(c.p), int(c.q))
    return DomainMatrix(rows, (len(polys), len(monomials)), QQ).rank()


def assert_same_span(first, second) -> None:
    first, second = list(first), list(second)
    assert len(first) == len(second)
    assert _rank(first) == _rank(second) == _rank(first + second) == len(first)


def _sympy(h, symbols):
    return sympy.Add(*[sympy.Rational(int(c.p), int(c.q))
                       * sympy.Mul(*[s ** e for s, e in zip(symbols, exps)])
                       for exps, c in h.terms()])


def assert_conserved_by_features(model, laws) -> None:
    """<grad h, grad psi> = 0 for every feature psi, expanded by SymPy (gradient flows)."""
    symbols = sympy.symbols(f"x0:{model.dim}")
    features = [_sympy(psi, symbols) for psi in model.features]
    for h in laws:
        hs = _sympy(h, symbols)
        grad = [sympy.diff(hs, s) for s in symbols]
        for psi in features:
            assert sympy.expand(sum(g * sympy.diff(psi, s) for g, s in zip(grad, symbols))) == 0


def _lead(h):
    """The coefficient of the first printed term."""
    return next(iter(h.terms()))[1]


def _both(model, degree):
    return model.laws(degree), model.laws(degree, basis="echelon")


# ------------------------------------------------------------ the shipped examples
GRADIENT_EXAMPLES = ["attention_head", "conv_relu", "linear_3layer", "matrix_factorization",
                     "maxpool", "product_x1x2x3", "relu_2layer", "relu_bias_3layer",
                     "resnet_block"]
OTHER_FLOWS = [("icnn_mirror", 2), ("nmf_mirror", 2), ("linear_momentum", 3),
               ("relu_momentum", 2)]


@pytest.mark.parametrize("name", GRADIENT_EXAMPLES)
def test_the_natural_basis_spans_the_echelon_space_on_every_example(name):
    model = ca.load(EXAMPLES / f"{name}.net")
    natural, echelon = _both(model, 2)
    assert natural.basis == "natural" and echelon.basis == "echelon"
    assert_same_span(natural.laws, echelon.laws)
    assert natural.independent == echelon.independent
    # never more terms than the echelon form it starts from
    assert sum(map(len, natural.laws)) <= sum(map(len, echelon.laws))
    assert_conserved_by_features(model, natural.laws)
    for h in natural.laws:     # coprime integers, first printed term positive
        coeffs = [c for _, c in h.terms()]
        assert all(c.q == 1 for c in coeffs) and coeffs[0] > 0
        assert sympy.gcd_list([int(c.p) for c in coeffs]) == 1


@pytest.mark.parametrize("name, degree", OTHER_FLOWS)
def test_the_natural_basis_of_other_flows_spans_the_same_space(name, degree):
    model = ca.load(EXAMPLES / f"{name}.net")
    natural, echelon = _both(model, degree)
    assert_same_span(natural.laws, echelon.laws)
    for h in natural.laws:      # the exact check of the package, on each natural law
        assert ca.analyses.laws.first_violation(h, model.polynomial_fields) is None


def test_degree_three_momentum_laws_are_unchanged_where_already_sparsest():
    # heavy-ball laws of linear_momentum at degree 3: one per pair of hidden neurons, each
    # its own block (no monomial shared), so each is its echelon row up to the sign: the
    # natural basis prints its first term positive, the echelon form need not
    model = ca.load(EXAMPLES / "linear_momentum.net")
    natural, echelon = _both(model, 3)
    assert natural.count == 3
    assert {str(h) for h in natural.laws} == {str(h if _lead(h) > 0 else -h)
                                               for h in echelon.laws}
    assert all(_lead(h) > 0 for h in natural.laws)
    assert natural.strings()[0].startswith("e^t*W1[1,0]*W1'[0,0] + ")


# ------------------------------------------------------------ relu_bias_3layer
def test_relu_bias_3layer_prints_one_balance_law_per_hidden_neuron(capsys):
    model = ca.load(EXAMPLES / "relu_bias_3layer.net")     # 4 -> 5 -> 3 -> 2, biases
    expected = []
    for j in range(5):      # ||W1[j,:]||^2 + b1[j]^2 - ||W2[:,j]||^2
        expected.append(" + ".join(f"W1[{j},{k}]^2" for k in range(4)) + f" + b1[{j}]^2 - "
                        + " - ".join(f"W2[{i},{j}]^2" for i in range(3)))
    for i in range(3):      # ||W2[i,:]||^2 + b2[i]^2 - ||W3[:,i]||^2
        expected.append(" + ".join(f"W2[{i},{k}]^2" for k in range(5)) + f" + b2[{i}]^2 - "
                        + " - ".join(f"W3[{o},{i}]^2" for o in range(2)))
    assert main(["laws", str(EXAMPLES / "relu_bias_3layer.net"), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    printed = [line.split(" = ", 1)[1] for line in lines if line.startswith("  h")]
    assert len(printed) == 8
    as_poly = model.parse_polynomial
    assert [as_poly(text) for text in printed] == [as_poly(text) for text in expected]
    # the support of each law: the neuron's incoming weights and bias, outgoing weights
    names = model.names
    for text, law in zip(expected, model.laws(2).laws):
        support = {names[v] for exps in law.monoms() for v, e in enumerate(exps) if e}
        assert support == {term.strip().split("^")[0] for term in
                           text.replace(" - ", " + ").split(" + ")}


def test_relu_bias_3layer_echelon_basis_is_the_previous_output(capsys):
    assert main(["laws", str(EXAMPLES / "relu_bias_3layer.net"), "--quiet",
                 "--basis", "echelon"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the reduced echelon form: h1 is the first neuron's law plus the 3 of the next layer
    # (the pivots W2[i,0]^2 of those laws are eliminated from it), derived by hand
    h1 = ("W1[0,0]^2 + W1[0,1]^2 + W1[0,2]^2 + W1[0,3]^2 + b1[0]^2 + "
          + " + ".join(f"W2[{i},{j}]^2" for i in range(3) for j in range(1, 5))
          + " + b2[0]^2 + b2[1]^2 + b2[2]^2 - "
          + " - ".join(f"W3[{o},{i}]^2" for o in range(2) for i in range(3)))
    assert lines[1] == f"  h1 = {h1}"
    assert sum(line.startswith("  h") for line in lines) == 8


# ------------------------------------------------------------------ linear_3layer
def _gram_entries(model, pairs):
    """Entries on and above the diagonal of A A^T - B^T B, with SymPy matrices."""
    out = []
    for (a_name, a_shape), (b_name, b_shape) in pairs:
        a = sympy.Matrix(*a_shape, lambda i, j: sympy.Symbol(f"{a_name}[{i},{j}]"))
        b = sympy.Matrix(*b_shape, lambda i, j: sympy.Symbol(f"{b_name}[{i},{j}]"))
        gram = (a * a.T - b.T * b).applyfunc(sympy.expand)
        for r in range(gram.rows):
            for c in range(r, gram.cols):
                text = str(gram[r, c]).replace("**", "^")
                out.append(model.parse_polynomial(text))
    return out


def test_linear_3layer_prints_the_two_gram_difference_equations(capsys):
    path = str(EXAMPLES / "linear_3layer.net")
    assert main(["laws", path, "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  W1 W1^T - W2^T W2 = C1   (symmetric 5x5: 15 laws)"
    assert lines[2] == "  W2 W2^T - W3^T W3 = C2   (symmetric 3x3: 6 laws)"
    assert not any(line.startswith("  h") for line in lines)
    # the basis itself is the 15 + 6 entries, up to sign (W1 is 5x4, W2 3x5, W3 2x3)
    model = ca.load(path)
    entries = _gram_entries(model, [(("W1", (5, 4)), ("W2", (3, 5))),
                                    (("W2", (3, 5)), ("W3", (2, 3)))])
    natural = model.laws(2).laws
    assert {str(h) for h in natural} == {str(e if _lead(e) > 0 else -e) for e in entries}
    # --entries: every law on its own line, the same 21 as JSON lists
    assert main(["laws", path, "--quiet", "--entries"]) == 0
    lines = capsys.readouterr().out.splitlines()
    printed = [line.split(" = ", 1)[1] for line in lines if line.startswith("  h")]
    assert main(["laws", path, "--quiet", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert printed == data["laws"] and len(printed) == 21 and data["basis"] == "natural"
    assert [m["equation"] for m in data["matrices"]] == ["W1 W1^T - W2^T W2 = C1",
                                                         "W2 W2^T - W3^T W3 = C2"]
    assert [(m["size"], m["laws"]) for m in data["matrices"]] == [(5, 15), (3, 6)]


def test_linear_3layer_echelon_basis_is_the_previous_output(capsys):
    assert main(["laws", str(EXAMPLES / "linear_3layer.net"), "--quiet", "--basis",
                 "echelon"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # echelon h1 = (W1 W1^T - W2^T W2)[0,0] + trace(W2 W2^T - W3^T W3) (by hand)
    h1 = (" + ".join(f"W1[0,{k}]^2" for k in range(4)) + " + "
          + " + ".join(f"W2[{i},{j}]^2" for i in range(3) for j in range(1, 5)) + " - "
          + " - ".join(f"W3[{o},{i}]^2" for o in range(2) for i in range(3)))
    assert lines[0].endswith(": 21") and lines[1] == f"  h1  = {h1}"
    assert sum(line.startswith("  h") for line in lines) == 21
    assert not any("C1" in line for line in lines)


def test_matrix_equations_then_the_remaining_laws():
    # a linear hidden layer (whole Gram difference W1 W1^T - W2^T W2, 3x3) followed by a
    # ReLU layer (only the diagonal: one balance law per neuron, THEORY.md E.1)
    model = ca.parse("layers 2 -> 3 -> 3 relu -> 2", "mixed")
    lines = model.laws(2).to_text().splitlines()
    assert lines[0].endswith(": 9")
    assert lines[1] == "  W1 W1^T - W2^T W2 = C1   (symmetric 3x3: 6 laws)"
    expected = [" + ".join(f"W2[{i},{k}]^2" for k in range(3)) + " - "
                + " - ".join(f"W3[{o},{i}]^2" for o in range(2)) for i in range(3)]
    assert lines[2:5] == [f"  h{i + 1} = {law}" for i, law in enumerate(expected)]
    assert lines[5] == ("  (C1: a constant symmetric matrix, a law per entry; --entries "
                        "lists them one by one)")


# ---------------------------------------------------------------- exports and REPL
def test_exports_use_the_natural_basis(capsys):
    path = str(EXAMPLES / "relu_bias_3layer.net")
    law = "W1_0_0^2 + W1_0_1^2 + W1_0_2^2 + W1_0_3^2 + b1_0^2 - W2_0_0^2 - W2_1_0^2 - W2_2_0^2"
    assert main(["laws", path, "--quiet", "--format", "sage"]) == 0
    assert f"    {law}," in capsys.readouterr().out
    assert main(["laws", path, "--quiet", "--format", "sage", "--basis", "echelon"]) == 0
    assert f"    {law}," not in capsys.readouterr().out
    model = ca.load(path)
    assert sympy.sympify(law.replace("^", "**")) in model.laws(2).as_sympy()
    latex = model.laws(2).to_latex()
    assert latex.count("h_{") == 8 and "b_{1}_{0}^{2}" not in latex
    # linear_3layer: LaTeX matrix form by default, each entry with --entries
    assert main(["laws", str(EXAMPLES / "linear_3layer.net"), "--quiet", "--format",
                 "latex", "--entries"]) == 0
    latex = capsys.readouterr().out
    assert latex.count("h_{") == 21 and "C_{1}" not in latex


def test_repl_laws_takes_the_basis_and_entries_options():
    out = io.StringIO()
    lines = [f"load {EXAMPLES / 'linear_3layer.net'}", "laws", "laws 2 --entries",
             "laws --basis echelon", "laws --basis sparse"]
    assert run_repl(None, io.StringIO("\n".join(lines) + "\n"), out) == 0
    text = out.getvalue()
    assert "W1 W1^T - W2^T W2 = C1   (symmetric 5x5: 15 laws)" in text
    assert ("  h21 = W2[2,0]^2 + W2[2,1]^2 + W2[2,2]^2 + W2[2,3]^2 + W2[2,4]^2 - W3[0,2]^2"
            " - W3[1,2]^2") in text
    assert "  h1  = W1[0,0]^2 + W1[0,1]^2 + W1[0,2]^2 + W1[0,3]^2 + W2[0,1]^2" in text   # echelon
    assert "--basis needs natural or echelon" in text


def test_large_blocks_keep_the_echelon_form_and_say_so(monkeypatch, capsys):
    monkeypatch.setattr(nb, "BLOCK_LIMIT", 4)      # relu_bias_3layer: one block of 8 laws
    path = str(EXAMPLES / "relu_bias_3layer.net")
    assert main(["laws", path, "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "(blocks of 8 laws are in reduced echelon form: a block of more than 4 laws" in text
    model = ca.load(path)
    natural, echelon = _both(model, 2)
    assert natural.echelon_blocks == (8,) and natural.to_json()["echelon_blocks"] == [8]
    assert [str(h) for h in natural.laws] == [str(h) for h in echelon.laws]


# ------------------------------------------------------------ generated models
@st.composite
def layered(draw):
    depth = draw(st.integers(2, 4))
    widths = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    relu = draw(st.booleans())
    steps = []
    for layer, width in enumerate(widths[1:], start=1):
        hidden = layer < depth
        flags = (" relu" if relu and hidden else "") + \
            (" bias" if hidden and draw(st.booleans()) else "")
        steps.append(f"{width}{flags}")
    return f"layers {widths[0]} -> " + " -> ".join(steps)


@SETTINGS
@given(layered())
def test_generated_models_natural_basis_spans_the_same_space(text):
    model = ca.parse(text, "generated")
    natural, echelon = _both(model, 2)
    assert_same_span(natural.laws, echelon.laws)
    assert sum(map(len, natural.laws)) <= sum(map(len, echelon.laws))
    for h in natural.laws:
        assert ca.analyses.laws.first_violation(h, model.polynomial_fields) is None


@st.composite
def law_spaces(draw):
    """A few sparse integer polynomials of degree 2 in up to 4 variables (at most 10
    monomials: the brute-force circuits below stay cheap)."""
    nvars = draw(st.integers(2, 4))
    monomials = [(i, j) for i in range(nvars) for j in range(i, nvars)]
    count = draw(st.integers(1, 4))
    vectors = []
    for _ in range(count):
        support = draw(st.lists(st.sampled_from(monomials), min_size=1, max_size=4, unique=True))
        vectors.append({m: draw(st.sampled_from([-2, -1, 1, 1, 2, 3])) for m in support})
    return nvars, vectors


def _polys(nvars, vectors):
    ring = fmpq_mpoly_ctx.get(("t", nvars), "degrevlex")
    out = []
    for vector in vectors:
        dense = {}
        for (i, j), c in vector.items():
            exps = [0] * nvars
            exps[i] += 1
            exps[j] += 1
            dense[tuple(exps)] = c
        out.append(ring.from_dict(dense))
    return ring, out


def _matroid_components(polys):
    """Components of the column matroid (columns: the monomials used), by brute force:
    two columns are in one component iff some circuit holds both."""
    monomials = sorted({tuple(e) for h in polys for e in h.monoms()})
    matrix = sympy.zeros(len(polys), len(monomials))
    for r, h in enumerate(polys):
        for exps, c in h.terms():
            matrix[r, monomials.index(tuple(exps))] = sympy.Rational(int(c.p), int(c.q))

    def rank(columns):
        return matrix[:, list(columns)].rank() if columns else 0

    parent = list(range(len(monomials)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for size in range(2, rank(range(len(monomials))) + 2):    # a circuit has <= rank + 1
        for subset in combinations(range(len(monomials)), size):
            if rank(subset) == size - 1 and all(rank(tuple(c for c in subset if c != d))
                                                 == size - 1 for d in subset):
                for a in subset[1:]:
                    parent[find(a)] = find(subset[0])
    groups = {}
    for k, m in enumerate(monomials):
        groups.setdefault(find(k), set()).add(m)
    return sorted(map(frozenset, groups.values()), key=sorted)


def _support_components(polys):
    groups: list[set] = []
    for h in polys:
        support = {tuple(e) for e in h.monoms()}
        touching = [g for g in groups if g & support]
        for g in touching:
            support |= g
            groups.remove(g)
        groups.append(support)
    return sorted(map(frozenset, groups), key=sorted)


@SETTINGS
@given(law_spaces(), st.integers(0, 10**6))
def test_natural_basis_depends_on_the_space_only_and_splits_it_finest(space, seed):
    nvars, vectors = space
    ring, polys = _polys(nvars, vectors)
    polys = [h for h in polys if h != 0]
    found = nb.natural_basis(polys)
    rank = _rank(polys)
    assert len(found.laws) == rank == _rank(list(found.laws) + polys) and sum(found.blocks) == rank
    # an invertible integer recombination of the input (a different basis of the same
    # space, in a different order) gives the same natural basis
    rng = random.Random(seed)
    independent = []
    for h in polys:
        if _rank(independent + [h]) > len(independent):
            independent.append(h)
    mixed = [h + sum((rng.randint(-2, 2) * g for g in independent[k + 1:]), ring.from_dict({}))
             for k, h in enumerate(independent)]          # unitriangular: invertible
    rng.shuffle(mixed)
    assert [str(h) for h in nb.natural_basis(mixed).laws] == [str(h) for h in found.laws]
    # the blocks are the components of the column matroid (finest direct sum)
    if rank:
        assert _support_components(found.laws) == _matroid_components(list(found.laws))
        assert len(_support_components(found.laws)) == len(found.blocks)
