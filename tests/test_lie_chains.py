"""The Lie count along curves (``fields.Chains``, power-series jets): values checked
against nested brackets built the old way, series products against plain polynomial
products, and counts of deep nets against the linear-net formula of THEORY.md E.1.
"""
import numpy as np
import pytest

import conslaw_algebra as ca
from conslaw_algebra.analyses import lie
from conslaw_algebra.exact import jets
from conslaw_algebra.exact.modp import draw_prime, prime, using
from conslaw_algebra.flows.fields import Brackets, Chains, Repeated, chain_values
from conslaw_algebra.tools.families import layered_text


def _linear_net_laws(widths):
    """THEORY.md E.1, deep linear with generic widths: n(n+1)/2 per hidden layer n."""
    return sum(n * (n + 1) // 2 for n in widths[1:-1])


@pytest.mark.parametrize("hidden", [1, 3, 6, 12, 20])
def test_deep_narrow_linear_net(hidden):
    widths = [2] * (hidden + 1) + [1]             # input 2, `hidden` layers of width 2, output 1
    model = ca.parse(layered_text(widths))
    count = model.count_laws(seed=hidden, list_features=False)
    assert model.dim == 4 * hidden + 2
    assert count.laws == _linear_net_laws(widths) == 3 * hidden
    assert count.lie.error_bound < 1e-2


def _nested(x, y, n):
    field = y
    for _ in range(n):
        field = Brackets(x, field)
    return field


@pytest.mark.parametrize("text", ["layers 2 -> 3 -> 2 -> 1",
                                  "param a, b, c\ninput x\noutput a*b*c*x + a^3*x^2",
                                  "layers 2 -> 2 -> 2\nflow momentum"])
def test_chains_are_nested_brackets(text):
    """ad_X^n Y from one curve equals [X, [X, ..., Y]] evaluated by nested directions."""
    system = ca.parse(text).system
    with using(draw_prime(7)[0]):
        rng = np.random.default_rng(7)
        x, y = system.generators(rng, 3), system.generators(rng, 3)
        point = rng.integers(0, prime(), (1, 1, system.dim))
        values = chain_values(x, y, point, 3)
        for n in range(4):
            assert np.array_equal(values[n], _nested(x, y, n).eval(point))
        # at a jet point (one nilpotent direction) too: the derivative of the bracket
        direction = rng.integers(0, prime(), (1, 1, system.dim))
        jet = np.concatenate([point, direction])
        picks = [(2, 0), (3, 2), (1, 1)]
        got = Chains(x, y, picks).eval(jet)
        for column, (n, b) in enumerate(picks):
            expected = _nested(x.select([b]), y.select([b]), n).eval(jet)[:, 0]
            assert np.array_equal(got[:, column], expected)


def test_repeated_bracket_matches_plain_bracket():
    system = ca.parse("layers 2 -> 3 -> 2").system
    with using(draw_prime(3)[0]):
        rng = np.random.default_rng(3)
        x, y = system.generators(rng, 1), system.generators(rng, 4)
        point = rng.integers(0, prime(), (1, 1, system.dim))
        plain = Brackets(x.select([0, 0, 0, 0]), y).eval(point)
        assert np.array_equal(Brackets(Repeated(x, 4), y).eval(point), plain)
        assert np.array_equal(lie._bracket_with(x, y, point), plain[0])


def test_series_products_are_polynomial_products():
    """Jets with a time variable of order 4 inside one nilpotent direction: the product
    is the product of polynomials in (e, t) truncated at e^2 and t^5."""
    rng = np.random.default_rng(0)
    order = 4
    a = rng.integers(0, 50, (2, order + 1))        # a[i, k] = coefficient of e^i t^k
    b = rng.integers(0, 50, (2, order + 1))
    full = np.zeros((3, 2 * order + 1), dtype=np.int64)
    for i in range(2):
        for j in range(2):
            full[i + j] += np.convolve(a[i], b[j])
    expected = full[:2, :order + 1]               # drop e^2 and t^5..
    as_jet = lambda c: c.T.reshape(-1, 1)          # component e_bit + 2 * k
    with jets.series(2, order):
        product = jets.multiply(as_jet(a), as_jet(b))
    assert product[:, 0].tolist() == (as_jet(expected)[:, 0] % prime()).tolist()


def test_closure_rounds_alone_give_the_same_counts(monkeypatch):
    """With chains cut to one bracket, the closure rounds must adopt the deeper
    brackets themselves (nested fields of ``Brackets`` and ``Repeated``)."""
    monkeypatch.setattr(lie, "_MAX_ORDER", 1)
    widths = [2, 2, 2, 2, 1]
    assert ca.parse(layered_text(widths)).count_laws(seed=1).laws == _linear_net_laws(widths)
    count = ca.load("examples/linear_momentum.net").lie_count(seed=2)
    assert count.laws == 3 * 2 // 2      # THEORY.md E.1, momentum: n(n-1)/2 per hidden layer n
    assert max(count.adopted) >= 3
