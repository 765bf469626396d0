"""The syzygy law engine, relations among laws, membership and minimal generators.

Independent sources: the ground-truth N (ground_truth.json), the linear-ansatz engine
(laws.py, a different algorithm), hand computations written below (Gram-difference
matrices of linear nets, whose determinant vanishes when the hidden width exceeds the
rank of W1 W1^T - W2^T W2), exact substitution with flint, and SymPy's Groebner bases.
"""
import json

import pytest
from flint import fmpq_mpoly_ctx
from hypothesis import given, settings
from hypothesis import strategies as st

import conslaw_algebra as ca
from conslaw_algebra.exact import singular
from conslaw_algebra.analyses.relations import (LawPresentation, generators, membership,
                                                minimal_generators, relations)
from conslaw_algebra.views.cli import main
from conslaw_algebra.flows.system import gradient_fields
from conslaw_algebra.analyses.laws import field_polynomials, independent_count, polynomial_laws
from conslaw_algebra.analyses.syzygy_laws import syzygy_laws

from models import GROUND_TRUTH, icnn_text, model_text, nmf_text


def _text(row):
    if row["kind"] == "nmf":
        return nmf_text(row["U"], row["V"])
    if row["kind"] == "icnn":
        return icnn_text(row["U"], row["V"], row["bias"])
    return model_text(row)


# every first-order (gradient or mirror) row: all their laws are polynomial of degree <= 2
ENGINE_ROWS = [r for r in GROUND_TRUTH if r["flow"] != "momentum"]
# Euclidean rows whose laws are all quadratic (the selection of test_ground_truth.py)
QUADRATIC = {str(r["id"]) for r in GROUND_TRUTH
             if r["flow"] == "gradient" and (isinstance(r["id"], int) or
                                             str(r["id"]).startswith(("C2", "D2")))}


@pytest.mark.parametrize("row", ENGINE_ROWS, ids=[str(r["id"]) for r in ENGINE_ROWS])
def test_syzygy_engine_agrees_with_linear_ansatz_on_ground_truth(row):
    model = ca.parse(_text(row))
    ring = model.state_ring
    ansatz = polynomial_laws(model.fields, ring, 2)
    syzygy = syzygy_laws(model.polynomial_fields, ring, 2)
    assert [str(h) for h in syzygy] == [str(h) for h in ansatz]   # same basis, same count
    assert model.dim == row["D"]
    if str(row["id"]) in QUADRATIC:
        assert independent_count(syzygy, ring.nvars(), seed=0) == row["N"]


@st.composite
def small_fields(draw):
    """1-3 random polynomials psi in 2-4 variables (degree <= 3, small integer
    coefficients); the fields are their gradients."""
    dim = draw(st.integers(2, 4))
    ring = fmpq_mpoly_ctx.get(("t", dim), "degrevlex")
    exponent = st.tuples(*[st.integers(0, 2)] * dim).filter(lambda e: 0 < sum(e) <= 3)
    polys = []
    for _ in range(draw(st.integers(1, 3))):
        terms = draw(st.dictionaries(exponent, st.integers(-3, 3).filter(bool),
                                     min_size=1, max_size=3))
        polys.append(ring.from_dict(terms))
    return ring, polys


@settings(max_examples=40, deadline=None)
@given(small_fields(), st.integers(1, 3))
def test_syzygy_engine_agrees_on_random_small_models(data, degree):
    ring, features = data
    fields = gradient_fields(features)
    ansatz = polynomial_laws(fields, ring, degree)
    syzygy = syzygy_laws([field_polynomials(f, ring) for f in fields], ring, degree)
    assert [str(h) for h in syzygy] == [str(h) for h in ansatz]
    for h in syzygy:   # and each law is conserved: <grad h, grad psi> = 0 exactly
        for psi in features:
            total = sum((h.derivative(j) * psi.derivative(j) for j in range(ring.nvars())),
                        ring.constant(0))
            assert total.is_zero()


def _gram_difference(model, hidden: int, left: int, right: int):
    """M = W1 W1^T - W2^T W2 (hidden x hidden) for `layers left -> hidden -> right`,
    built by hand from the parameter names."""
    def entry(i, j):
        terms = [f"W1[{i},{k}]*W1[{j},{k}]" for k in range(left)]
        terms += [f"-W2[{k},{i}]*W2[{k},{j}]" for k in range(right)]
        return model.parse_polynomial(" + ".join(terms).replace("+ -", "- "))
    return [[entry(i, j) for j in range(hidden)] for i in range(hidden)]


def test_relations_of_scalar_linear_net_contain_the_gram_determinant():
    model = ca.parse("layers 1 -> 3 -> 1")
    result = relations(model, 2)
    laws = list(result.laws)
    assert result.relations and result.verified
    for r in result.relations:                     # each relation vanishes on the laws
        assert r.compose(*laws, ctx=laws[0].context()).is_zero()
    # the 3 x 3 Gram difference has rank <= 2 (hand: u u^T - v v^T with u, v in R^3)
    gram = _gram_difference(model, 3, 1, 1)
    (a, b, c), (d, e, f), (g, h, i) = gram
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    assert det.is_zero()
    # express every entry in the laws, then det(M(y)) must lie in the ideal of relations
    presentation = LawPresentation(laws)
    in_laws = [[presentation.express(x) for x in line] for line in gram]
    for line, theta_line in zip(in_laws, gram):
        for y, x in zip(line, theta_line):
            assert y is not None and y.compose(*laws, ctx=laws[0].context()) == x
    (a, b, c), (d, e, f), (g, h, i) = in_laws
    det_y = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    assert not det_y.is_zero()
    assert _sympy_ideal_contains(list(result.relations), det_y)


def _sympy_ideal_contains(generators_, poly) -> bool:
    from sympy import QQ, groebner
    from sympy.abc import symbols
    ctx = poly.context()
    names = symbols(f"y0:{ctx.nvars()}")

    def expr(p):
        return sum(int(c.p) * QQ(1, int(c.q)) *
                   _monomial(names, e) for e, c in p.terms())
    basis = groebner([expr(g) for g in generators_], *names, order="grevlex")
    return basis.contains(expr(poly))


def _monomial(names, exps):
    out = 1
    for n, e in zip(names, exps):
        out *= n**e
    return out


def test_relations_json_of_two_by_two_net_is_empty(tmp_path, capsys):
    path = tmp_path / "net.net"
    path.write_text("layers 2 -> 2 -> 2\n")
    assert main(["relations", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["relations"] == []          # 3 laws, N = 3 (ground-truth row 5): independent
    assert len(out["laws"]) == 3


def test_no_relations_by_jacobian_and_by_groebner_basis():
    for text in ("layers 2 -> 2 -> 2", "layers 3 -> 3 -> 3"):   # rows 5 and 6: laws = N
        model = ca.parse(text)
        result = relations(model, 2)
        assert result.relations == () and result.backend == "jacobian"
        assert LawPresentation(list(result.laws)).relations() == []   # the elimination agrees


def test_relations_text_names_the_laws(tmp_path, capsys):
    path = tmp_path / "net.net"
    path.write_text("layers 1 -> 2 -> 1\n")
    assert main(["relations", str(path)]) == 0
    text = capsys.readouterr().out
    assert "= 0" in text and "h1 = W1[0,0]^2 - W2[0,0]^2" in text


def test_singular_and_sympy_give_the_same_relation_ideal():
    laws = list(ca.parse("layers 1 -> 2 -> 1").laws(2).laws)   # 4 laws, 4 parameters, N = 3
    by_singular = relations(laws, backend="singular").relations
    by_sympy = relations(laws, backend="sympy").relations
    assert len(by_singular) >= 1
    assert all(_sympy_ideal_contains(list(by_sympy), r) for r in by_singular)
    assert all(_sympy_ideal_contains(list(by_singular), r) for r in by_sympy)


GRAM_EXPRESSION = ("(W1[0,0]^2 + W1[0,1]^2 - W2[0,0]^2 - W2[1,0]^2)^2 + "
                   "3*(W1[0,0]*W1[1,0] + W1[0,1]*W1[1,1] - W2[0,0]*W2[0,1] - W2[1,0]*W2[1,1])")


def test_check_in_algebra_expresses_gram_entries(tmp_path, capsys):
    path = tmp_path / "net.net"
    path.write_text("layers 2 -> 2 -> 2\n")
    assert main(["check", str(path), GRAM_EXPRESSION, "--in-algebra", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["conserved"] and out["in_algebra"]
    # hand: the basis is M11, M12, M22 of M = W1 W1^T - W2^T W2, so the answer is h1^2 + 3 h2
    model = ca.parse("layers 2 -> 2 -> 2")
    gram = _gram_difference(model, 2, 2, 2)
    legend = [model.parse_polynomial(out["laws"][n]) for n in ("h1", "h2", "h3")]
    assert legend == [gram[0][0], gram[0][1], gram[1][1]]
    assert out["polynomial"] == "h1^2 + 3*h2"


def test_check_in_algebra_substitution_reproduces_the_expression():
    model = ca.parse("layers 2 -> 3 -> 2")
    gram = _gram_difference(model, 3, 2, 2)
    target = gram[0][1] * gram[2][2] - 2 * gram[1][1] ** 2 + 5
    expression = str(target)
    for k, name in reversed(list(enumerate(model.names))):
        expression = expression.replace(f"t{k}", name)
    found = membership(model, expression)
    assert found.in_algebra and found.conserved
    laws = list(model.laws(2).laws)
    assert found.polynomial.compose(*laws, ctx=laws[0].context()) == target


def test_conserved_but_not_in_the_algebra_of_lower_degree(tmp_path, capsys):
    # hand: the field of a*b + b*c is (b, a + c, b); a - c is its only linear law and
    # a^2 - b^2 + c^2 is conserved (2ab - 2b(a + c) + 2cb = 0) but depends on b
    path = tmp_path / "m.net"
    path.write_text("param a, b, c\noutput a*b + b*c\n")
    status = main(["check", str(path), "a^2 - b^2 + c^2", "--in-algebra", "--degree", "1",
                   "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 1
    assert out["conserved"] and not out["in_algebra"] and out["polynomial"] is None
    assert out["laws"] == {"h1": "a - c"}
    assert main(["check", str(path), "a^2 - b^2 + c^2", "--in-algebra"]) == 0
    assert "in the algebra of laws" in capsys.readouterr().out


def test_not_conserved_is_not_in_the_algebra(tmp_path, capsys):
    path = tmp_path / "net.net"
    path.write_text("layers 2 -> 2 -> 2\n")
    assert main(["check", str(path), "W1[0,0]^2", "--in-algebra"]) == 1
    assert capsys.readouterr().out.startswith("not conserved")


def test_minimal_generators_drop_products_of_lower_degree_laws():
    result = generators(ca.parse("param a, b, c\noutput a*b + b*c"), 2)
    # degree <= 2 laws: a - c, (a - c)^2 and a^2 - b^2 + c^2 (up to the first two)
    assert result.basis_count == 3
    assert result.generators[0] == "a - c"
    assert len(result.generators) == 2
    # grad(a*b + b*c) = (b, a + c, b): a^2 - b^2 + c^2 pairs to 2ab - 2b(a + c) + 2cb = 0.
    # The natural basis (the default) lists the sparsest laws of the quadratic block:
    # (a - c)^2 = a^2 - 2ac + c^2 and (a - c)^2 - (a^2 - b^2 + c^2) = b^2 - 2ac, whose
    # gradient (-2c, 2b, -2a) pairs to -2cb + 2b(a + c) - 2ab = 0; (a - c)^2 is a product
    # of the first generator, so the second one kept is b^2 - 2ac
    assert result.generators[1] == "b^2 - 2*a*c"


def test_minimal_generators_of_linear_net_are_the_gram_entries(tmp_path, capsys):
    # hand/THEORY E.1: every law of [2,2,2] is a function of the 3 Gram entries
    path = tmp_path / "net.net"
    path.write_text("layers 2 -> 2 -> 2\n")
    assert main(["laws", str(path), "--degree", "4", "--minimal", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    model = ca.parse("layers 2 -> 2 -> 2")
    gram = _gram_difference(model, 2, 2, 2)
    kept = [model.parse_polynomial(g) for g in out["generators"]]
    assert kept == [gram[0][0], gram[0][1], gram[1][1]]
    assert out["basis_count"] > 3


def test_minimal_generators_by_hand():
    u, v = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    laws = [u**2 - v**2, (u**2 - v**2) ** 2 + 7, u * v, (u * v) ** 3 - u**2 + v**2]
    assert minimal_generators(laws) == [0, 2]


def test_missing_singular_is_a_clear_error(monkeypatch, tmp_path, capsys):
    def missing():
        raise singular.BackendMissingError("this needs Singular: pip install "
                                           "'conslaw_algebra[sage]' (passagemath-singular)")
    monkeypatch.setattr(singular, "_sage", missing)
    path = tmp_path / "net.net"
    path.write_text("layers 2 -> 2 -> 2\n")
    assert main(["laws", str(path), "--minimal"]) == 0      # tiny: the SymPy fallback
    capsys.readouterr()
    path.write_text("layers 1 -> 3 -> 1\n")
    assert main(["relations", str(path)]) == 2               # 15 variables: refused
    err = capsys.readouterr().err
    assert err.startswith("conslaw: ") and "pip install" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("example", ["product_x1x2x3", "linear_3layer", "relu_2layer",
                                     "nmf_mirror", "resnet_block"])
def test_cli_engine_syzygy_gives_the_default_basis(example, capsys):
    # two algorithms (linear ansatz, syzygies + curl-free vectors), one normal form
    path = f"examples/{example}.net"
    answers = []
    for engine in ("linear", "syzygy"):
        assert main(["laws", path, "--format", "json", "--engine", engine]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0]["laws"] == answers[1]["laws"] and answers[0]["count"] > 0
    assert answers[1]["certified"] == answers[0]["certified"]


def test_cli_engine_syzygy_is_refused_with_by_block(capsys):
    assert main(["laws", "examples/relu_2layer.net", "--engine", "syzygy", "--by-block"]) == 2
    assert "--engine syzygy" in capsys.readouterr().err


def test_bad_degree_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "net.net"
    path.write_text("layers 2 -> 2 -> 2\n")
    assert main(["relations", str(path), "--degree", "0"]) == 2
    assert "--degree" in capsys.readouterr().err
    assert main(["check", str(path), "W1[0,0]", "--in-algebra", "--degree", "0"]) == 2
    assert "--degree must be at least 1" in capsys.readouterr().err
    # the analysis itself says what is wrong without the command line's words
    with pytest.raises(ValueError, match="^degree must be at least 1$"):
        membership(ca.parse("layers 2 -> 2 -> 2"), "W1[0,0]", degree=0)


def test_relations_of_a_three_layer_gram_invariants():
    # STACK.md section 3 'inv3': tr M, tr M^2, tr M^3, det M for [3,3,3] satisfy
    # y0^3 - 3 y0 y1 + 2 y2 - 6 y3 = 0 (Newton's identities)
    model = ca.parse("layers 3 -> 3 -> 3")
    m = _gram_difference(model, 3, 3, 3)

    def mul(x, y):
        return [[sum((x[i][k] * y[k][j] for k in range(3)), x[0][0] * 0) for j in range(3)]
                for i in range(3)]
    m2 = mul(m, m)
    m3 = mul(m2, m)
    (a, b, c), (d, e, f), (g, h, i) = m
    laws = [m[0][0] + m[1][1] + m[2][2], m2[0][0] + m2[1][1] + m2[2][2],
            m3[0][0] + m3[1][1] + m3[2][2],
            a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)]
    result = relations(laws, names=list(model.names))
    y = fmpq_mpoly_ctx.get(("y", 4), "degrevlex").gens()
    newton = y[0] ** 3 - 3 * y[0] * y[1] + 2 * y[2] - 6 * y[3]
    assert len(result.relations) == 1
    r = result.relations[0]
    assert r == newton or r == -newton or r * 6 == newton or r * -6 == newton or \
        _sympy_ideal_contains([r], newton)


def test_without_laws_only_constants_are_in_the_algebra():
    model = ca.parse("layers 2 -> 2 -> 2")          # no linear laws (hand: fields are bilinear)
    gram = "W1[0,0]^2 + W1[0,1]^2 - W2[0,0]^2 - W2[1,0]^2"
    found = membership(model, gram, degree=1)
    assert found.conserved and not found.in_algebra and found.laws_text == ()
    constant = membership(model, "3/2", degree=1)
    assert constant.in_algebra and constant.polynomial_text() == "3/2"
