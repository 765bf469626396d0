"""Laws of degree >= 3 solved block by block modulo p (``laws._graded_laws``): the same
basis as the whole exact system over QQ, on gradient, mirror and momentum flows."""
import pytest
from flint import fmpq

import conslaw_algebra as ca
from conslaw_algebra.analyses import laws as law_module
from conslaw_algebra.analyses.laws import first_violation, polynomial_laws

CASES = [
    ("layers 2 -> 3 -> 2", 3),
    ("layers 3 -> 2 relu bias -> 2", 4),
    ("layers 2 -> 3 -> 2\nflow momentum", 3),
    ("layers 2 -> 2 -> 2\nflow momentum tau=1", 3),
    ("param a, b, c\ninput x\noutput a*b*c*x + a^3*x^2", 4),
    ("examples/nmf_mirror.net", 3),
    ("examples/attention_head.net", 3),
]


def _model(text):
    return ca.load(text) if text.endswith(".net") else ca.parse(text)


def _whole_system(monkeypatch, model, degree):
    """The exact solve of the whole system over QQ, with the graded path switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(law_module, "_graded_laws", lambda *args: None)
        return polynomial_laws(model.fields, model.state_ring, degree)


@pytest.mark.parametrize("text, degree", CASES)
def test_graded_laws_equal_the_whole_system(monkeypatch, text, degree):
    model = _model(text)
    graded = polynomial_laws(model.fields, model.state_ring, degree, seed=3)
    assert [str(h) for h in graded] == [str(h) for h in _whole_system(monkeypatch, model, degree)]
    assert all(first_violation(h, model.polynomial_fields) is None for h in graded)


def test_relu_degree_four_laws_are_the_products_of_the_neuron_laws():
    """THEORY.md A.5: one law per hidden neuron; at degree <= 4 the laws are the 5 laws
    h_j and the 15 products h_i h_j (the count of the whole system, re-derived here as
    the dimension of the span of those products, which are laws by the product rule)."""
    model = ca.load("examples/relu_2layer.net")
    found = polynomial_laws(model.fields, model.state_ring, 4, seed=1)
    assert len(found) == 5 + 5 * 6 // 2
    quadratic = [h for h in found if h.total_degree() == 2]
    assert len(quadratic) == 5
    products = [a * b for i, a in enumerate(quadratic) for b in quadratic[i:]]
    # every product lies in the span of the basis: reduce by the leading monomials
    basis = {max(h.monoms()): h for h in found}
    for product in products:
        rest = product
        while not rest.is_zero():
            leading = max(rest.monoms())
            assert leading in basis
            h = basis[leading]
            rest = rest - h * (rest.coeffs()[rest.monoms().index(leading)]
                               / h.coeffs()[h.monoms().index(leading)])


def test_a_failed_lift_falls_back_to_the_exact_solve(monkeypatch):
    model = ca.parse("layers 2 -> 3 -> 2")
    expected = [str(h) for h in polynomial_laws(model.fields, model.state_ring, 3)]
    monkeypatch.setattr(law_module, "_rational", lambda value, p: None)
    assert [str(h) for h in polynomial_laws(model.fields, model.state_ring, 3)] == expected


def test_rational_reconstruction():
    p = 2**31 - 1
    bound = int((p // 2) ** 0.5)                  # |numerator|, denominator <= this
    for value in (fmpq(3, 7), fmpq(-22, 5), fmpq(0), fmpq(bound), fmpq(1, bound)):
        residue = int(value.p) * pow(int(value.q), p - 2, p) % p
        assert law_module._rational(residue, p) == value
    assert law_module._rational(bound + 1, p) is None      # too large: no lift
