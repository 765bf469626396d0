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


def test_sampled_blocks_give_the_laws_of_the_expanded_blocks(monkeypatch):
    """Laws by block from samples of the whole model equal those of the expanded blocks;
    a deep narrow linear net is complete (N = 3L, THEORY.md E.1) with nothing expanded."""
    from conslaw_algebra.analyses import blocks
    from conslaw_algebra.tools.families import layered_text
    for text in ("layers 3 -> 4 relu bias -> 3 -> 2", layered_text([2, 2, 2, 2, 1]),
                 "examples/nmf_mirror.net", "examples/icnn_mirror.net",
                 "examples/attention_head.net", "examples/conv_relu.net"):
        sampled = _model(text).block_laws(2)
        with monkeypatch.context() as patch:
            patch.setattr(blocks, "SAMPLED_UNKNOWNS", 0)
            expanded = _model(text).block_laws(2)
        assert [[str(h) for h in b.laws] for b in sampled.blocks] == \
               [[str(h) for h in b.laws] for b in expanded.blocks]
    monkeypatch.setattr(blocks, "expand_features", None)   # any expansion would fail
    deep = ca.parse(layered_text([2] * 13 + [1])).block_laws(2)
    assert deep.complete and deep.independent == 3 * 12


def test_a_wrong_sampled_law_sends_its_block_to_the_expansion(monkeypatch):
    from conslaw_algebra.analyses import blocks
    solve = blocks._block_laws_modular

    def with_a_wrong_law(block, monomials, unknowns, *rest):
        found = solve(block, monomials, unknowns, *rest)
        square = next(c for c, m in unknowns.items() if m == (0, 0))
        return found + [{square: 1}]                       # t0^2: not a law

    monkeypatch.setattr(blocks, "_block_laws_modular", with_a_wrong_law)
    result = ca.parse("layers 2 -> 3 relu -> 2").block_laws(2)
    (block,) = result.blocks
    assert len(block.laws) == 3 and not block.rejected and result.complete


def _span_rank(polys) -> int:
    """Rank over QQ of the coefficient vectors of fmpq_mpoly's (exact)."""
    from flint import fmpq_mat
    monomials = sorted({m for h in polys for m in h.monoms()})
    where = {m: k for k, m in enumerate(monomials)}
    rows = [[fmpq(0)] * len(monomials) for _ in polys]
    for row, h in zip(rows, polys):
        for m, c in zip(h.monoms(), h.coeffs()):
            row[where[m]] = c
    return fmpq_mat(rows).rank() if rows and monomials else 0


@pytest.mark.parametrize("hidden", [3, 9])
def test_deep_narrow_linear_blocks_are_the_gram_differences(monkeypatch, hidden):
    """Deep linear net 2 -> 2 -> ... -> 2 -> 1 (THEORY.md E.1, ground truth: one law per
    entry of the symmetric Gram difference W_k W_k^T - W_{k+1}^T W_{k+1} of each hidden
    layer, 3 per layer of width 2, N = 3L). Built here by hand in the model's variables:
    each consecutive block's laws span exactly its three Gram differences, every other
    block's laws lie in their span, and the union is certified complete, all without
    expanding a feature (the sampled small blocks)."""
    from conslaw_algebra.analyses import blocks
    from conslaw_algebra.tools.families import layered_text
    widths = [2] * (hidden + 1) + [1]
    model = ca.parse(layered_text(widths))
    theta = model.state_ring.gens()
    offset, weights = 0, []
    for n_in, n_out in zip(widths, widths[1:]):       # W_k is n_out x n_in, rows first
        weights.append([[theta[offset + i * n_in + j] for j in range(n_in)]
                        for i in range(n_out)])
        offset += n_in * n_out
    assert offset == model.dim

    def gram_differences(k):         # hidden layer k + 1, between W_{k+1} and W_{k+2}
        a, b = weights[k], weights[k + 1]
        return [sum(a[i][t] * a[j][t] for t in range(len(a[0])))
                - sum(b[s][i] * b[s][j] for s in range(len(b))) for i in range(2)
                for j in range(i, 2)]

    expected = {(f"W{k + 1}", f"W{k + 2}"): gram_differences(k) for k in range(hidden)}
    monkeypatch.setattr(blocks, "expand_features", None)   # any expansion would fail
    result = model.block_laws(2)
    every = [h for laws in expected.values() for h in laws]
    assert _span_rank(every) == 3 * hidden
    for block in result.blocks:
        assert block.skipped is None and not block.rejected
        if block.tensors in expected:
            assert len(block.laws) == 3
            assert _span_rank(list(block.laws) + expected[block.tensors]) == 3
        assert _span_rank(list(block.laws) + every) == 3 * hidden
    assert result.lie_laws == 3 * hidden and result.independent == 3 * hidden
    assert result.complete
