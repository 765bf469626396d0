"""Laws of large blocks of normalized models among axis forms (``analyses/axis_forms.py``).

Expected values come from hand derivations written in the tests, from the exact
reduction on the variety (``normalized.ExactModel.violation``, which expands the whole
model and shares nothing with the sampled system), from the complete degree-2 search of
small blocks (monomials as unknowns, ``blocks._SampledBlocks``) and from derivatives of
the forms' polynomials taken term by term here.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import conslaw_algebra as ca
from conslaw_algebra.analyses import blocks
from conslaw_algebra.analyses.axis_forms import AxisForms, axis_form_laws
from conslaw_algebra.analyses.normalized import ExactModel
from conslaw_algebra.exact.modp import draw_prime, using
from conslaw_algebra.exact.sparse import ring_polynomial
from conslaw_algebra.language.expand import theta_ring
from conslaw_algebra.language.program import TensorInfo

ENCODER = "examples/transformer_encoder_layer.net"


def _tensors(shapes):
    infos, offset = [], 0
    for k, shape in enumerate(shapes):
        infos.append(TensorInfo(f"T{k}", tuple(shape), "param", offset))
        offset += int(np.prod(shape, dtype=np.int64))
    return infos, offset


shapes = st.lists(st.lists(st.integers(1, 3), min_size=0, max_size=3), min_size=1, max_size=3)


def _derivative_along(law: dict, theta, value, p) -> int:
    """<grad law(theta), value> modulo p, term by term."""
    total = 0
    for monomial, c in law.items():
        for k, variable in enumerate(monomial):
            rest = 1
            for other in monomial[:k] + monomial[k + 1:]:
                rest = rest * int(theta[other]) % p
            total += int(c) * rest * int(value[variable])
    return total % p


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 2**32 - 1))
def test_each_row_is_the_derivative_of_its_form(tensor_shapes, seed):
    infos, dim = _tensors(tensor_shapes)
    forms = AxisForms(infos, range(dim))
    p, _ = draw_prime(seed)
    rng = np.random.default_rng(seed)
    theta = rng.integers(0, p, (3, dim), dtype=np.int64)
    value = rng.integers(0, p, (3, dim), dtype=np.int64)
    with using(p):
        first = forms.first_rows(theta, value)
        products = [forms.products(theta, value, a) for a in range(len(forms.slices))]
    for b in range(3):
        for column, form in enumerate(forms.first):
            assert first[b, column] == _derivative_along(forms.law({form: 1}), theta[b], value[b], p)
        for (i, j), axes in forms.pairs.items():
            for a in axes:
                law = forms.law({("pair", a, i, j): 1})
                assert products[a][b, i, j] == _derivative_along(law, theta[b], value[b], p)


@settings(max_examples=30, deadline=None)
@given(shapes)
def test_the_forms_are_independent_polynomials(tensor_shapes):
    """No combination of the unknowns is the zero polynomial (else every kernel would
    hold it): the squares and sums of the later axes drop their last one."""
    infos, dim = _tensors(tensor_shapes)
    forms = AxisForms(infos, range(dim))
    unknowns = list(forms.first) + [("pair", a, i, j) for (i, j), axes in forms.pairs.items()
                                     for a in axes]
    polys = [forms.law({u: 1}) for u in unknowns]
    monomials = sorted({m for h in polys for m in h})
    matrix = sp.Matrix([[int(h.get(m, 0)) for m in monomials] for h in polys])
    assert matrix.rank() == len(unknowns)


def _exact_law(model, h):
    return ExactModel(model.program).violation(
        ring_polynomial(theta_ring(model.dim), {m: c for m, c in h.items()})) is None


def test_a_linear_layer_before_a_layernorm_by_hand():
    """n = layernorm(W x) is invariant under W -> c W (scale) and W -> W + 1 a^T (the
    shift (a . x) 1 is removed with the mean): ||W||^2 and W's two column sums are
    conserved; V n with the entries of n summing to 0 is invariant under V -> V + b 1^T:
    V's two row sums are conserved."""
    model = ca.parse("param W[3,2], V[2,3]\ninput x[2]\noutput V @ layernorm(W @ x)")
    frozen, coordinates = blocks.freeze(model.program, {"W", "V"}, cover=True)
    found = axis_form_laws(frozen, coordinates, seed=3)
    w = lambda i, j: 2 * i + j         # W[i, j]
    v = lambda i, j: 6 + 3 * i + j     # V[i, j]
    expected = [{(w(i, j), w(i, j)): 1 for i in range(3) for j in range(2)}]
    expected += [{(w(i, j),): 1 for i in range(3)} for j in range(2)]
    expected += [{(v(i, j),): 1 for j in range(3)} for i in range(2)]
    assert _rank(found + expected) == _rank(expected) <= _rank(found)
    assert all(_exact_law(model, h) for h in found)


def _rank(polys) -> int:
    monomials = sorted({m for h in polys for m in h})
    return sp.Matrix([[sp.Rational(str(h.get(m, 0))) for m in monomials] for h in polys]).rank()


def test_attention_scores_give_the_gram_laws_by_hand():
    """x Q (x K)^T is invariant under (Q, K) -> (Q A, K A^-T): the three entries of
    Q^T Q - K^T K are conserved, and nothing else among the forms."""
    model = ca.parse("param Q[2,2], K[2,2]\ninput x[3,2], y[3]\n"
                     "output y @ softmax((x @ Q) @ (x @ K).T)")
    frozen, coordinates = blocks.freeze(model.program, {"Q", "K"}, cover=True)
    found = axis_form_laws(frozen, coordinates, seed=1)
    q = lambda i, j: 2 * i + j
    k = lambda i, j: 4 + 2 * i + j
    expected = []
    for a, b in ((0, 0), (0, 1), (1, 1)):
        h = {}
        for d in range(2):
            h[tuple(sorted((q(d, a), q(d, b))))] = 1
            h[tuple(sorted((k(d, a), k(d, b))))] = -1
        expected.append(h)
    assert _rank(found) == _rank(expected) == _rank(found + expected) == 3


def _polys_as_dicts(block_result):
    out = {}
    for block in block_result.blocks:
        out[block.tensors] = [{tuple(sorted(sum(([j] * e for j, e in enumerate(m)), []))):
                               sp.Rational(str(c)) for m, c in zip(h.monoms(), h.coeffs())}
                              for h in block.laws]
    return out


@pytest.mark.parametrize("path", [ENCODER, "examples/resnet_basic_block.net"])
def test_axis_laws_lie_in_the_complete_degree_2_laws_of_each_block(path, monkeypatch):
    """Forced through the axis forms (limit 5 unknowns), each block's laws are among
    the complete degree-2 laws of that block (all monomials as unknowns); for the
    encoder layer they reach the 22 laws derived by hand (examples/*.net header), N."""
    model = ca.load(path)
    whole = _polys_as_dicts(blocks.block_laws(model, 2))
    monkeypatch.setattr(blocks, "NORMALIZED_SAMPLED_UNKNOWNS", 5)
    result = blocks.block_laws(model, 2)
    axis = _polys_as_dicts(result)
    assert all(b.searched == blocks.AXIS_SEARCH for b in result.blocks if not b.skipped)
    for tensors, laws in axis.items():
        assert _rank(whole[tensors] + laws) == _rank(whole[tensors])
    if path == ENCODER:
        assert result.independent == result.lie_laws == 22 and result.complete
        assert "among axis forms" in result.to_text()


def test_covering_loses_no_law_of_the_encoder_blocks():
    """``freeze(cover=True)`` drops the values that only carriers determine (and their
    normalizations); the axis laws of every block are the same without it."""
    model = ca.load(ENCODER)
    for tensors in blocks.interactions(model.program):
        spans = []
        for cover in (False, True):
            frozen, coordinates = blocks.freeze(model.program, set(tensors), cover=cover)
            spans.append(axis_form_laws(frozen, coordinates, seed=2))
        assert _rank(spans[0]) == _rank(spans[1]) == _rank(spans[0] + spans[1])


TOKENS = "param W[3,2], V[2,3]\ninput X[4,2]\noutput layernorm(X @ W.T) @ V.T"


def test_reach_finds_the_group_of_each_output_by_hand():
    """Each token has its own layernorm group: output entry (t, j) depends on group t
    only; in the second model a later layernorm over a mix of two tokens' outputs
    depends on both of their groups and on its own."""
    from conslaw_algebra.analyses.axis_forms import _reach
    from conslaw_algebra.language.modular import Evaluator
    p, _ = draw_prime(0)
    with using(p):
        program = ca.parse(TOKENS).program
        reach = _reach(Evaluator(program), np.random.default_rng(0))
        assert len(reach) == 1 and reach[0].shape == (4, 4, 2)
        expected = np.zeros((4, 4, 2), dtype=bool)
        for t in range(4):
            expected[t, t, :] = True
        assert (reach[0] == expected).all()
        program = ca.parse("param W[3,2]\ninput X[2,2], y[2]\nh = layernorm(X @ W.T)\n"
                           "output layernorm(h.T @ y)").program
        reach = _reach(Evaluator(program), np.random.default_rng(1))
        assert reach[0].shape == (3, 3) and reach[0].all()


def test_samples_with_some_variances_not_square_keep_the_other_outputs():
    """Four tokens, four groups: most samples have some variance that is not a square;
    the rows keep the other tokens' outputs. The laws are those of the one-token model
    (derived by hand above): ||W||^2, W's column sums, V's row sums; each verified by
    the exact reduction."""
    model = ca.parse(TOKENS)
    frozen, coordinates = blocks.freeze(model.program, {"W", "V"}, cover=True)
    found = axis_form_laws(frozen, coordinates, seed=5)
    w = lambda i, j: 2 * i + j
    v = lambda i, j: 6 + 3 * i + j
    expected = [{(w(i, j), w(i, j)): 1 for i in range(3) for j in range(2)}]
    expected += [{(w(i, j),): 1 for i in range(3)} for j in range(2)]
    expected += [{(v(i, j),): 1 for j in range(3)} for i in range(2)]
    assert _rank(found) == _rank(expected) == _rank(found + expected) == 5
    assert all(_exact_law(model, h) for h in found)


def test_a_tensor_whose_outputs_need_many_square_variances_is_refused_at_once():
    """Eight tokens, each normalized, then mixed and normalized again: every output
    that W moves depends on 8 + 1 groups (by hand), which are all squares at about
    1 in 2^9 random points, beyond the samples drawn (``DRAWS``): refused with that
    count, before any row is drawn."""
    from conslaw_algebra.analyses.axis_forms import DRAWS
    from conslaw_algebra.errors import UnsupportedError
    assert 2 ** 9 > DRAWS
    model = ca.parse("param W[3,2], v[3]\ninput X[8,2], y[8]\n"
                     "output v @ layernorm(layernorm(X @ W.T).T @ y)")
    frozen, coordinates = blocks.freeze(model.program, {"W", "v"}, cover=True)
    with pytest.raises(UnsupportedError, match="W reaches depends on 9 or more"):
        axis_form_laws(frozen, coordinates)


def test_axis_blocks_run_as_jobs_with_the_same_answer(monkeypatch):
    """The large normalized blocks are independent jobs: two local processes give the
    text of one, byte for byte (the blocks are assembled in their order)."""
    model = ca.load(ENCODER)
    monkeypatch.setattr(blocks, "NORMALIZED_SAMPLED_UNKNOWNS", 5)
    one = blocks.block_laws(model, 2, jobs=1).to_text()
    two = blocks.block_laws(model, 2, jobs=2).to_text()
    assert one == two and "among axis forms" in one


def test_reach_holds_through_relu_gates_inside_a_variance():
    """Gates inside a variance are drawn 0/1; a closed gate hides dependences, so the
    trace opens them all. By hand: the output mixes both tokens' ReLU outputs, so it
    depends on both tokens' groups and on its own, whatever the gates of a sample."""
    from conslaw_algebra.analyses.axis_forms import _reach
    from conslaw_algebra.language.modular import Evaluator
    program = ca.parse("param W[3,2], v[3]\ninput X[2,2], y[2]\n"
                       "h = relu(layernorm(X @ W.T))\noutput v @ layernorm(h.T @ y)").program
    p, _ = draw_prime(0)
    with using(p):
        evaluator = Evaluator(program)
        assert evaluator.binary_gates
        for seed in range(8):
            reach = _reach(evaluator, np.random.default_rng(seed))
            assert len(reach) == 1 and reach[0].shape == (3,) and reach[0].all()
