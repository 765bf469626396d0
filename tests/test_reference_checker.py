"""The reference checker (``reference_checker.py``) against the shared ground truth.

The differential test trusts the reference; here the reference meets independent
counts (``tests/data/ground_truth.json``, a copy of the shared table): products, linear
networks and matrix factorisation, ReLU networks, mirror NMF, attention and momentum
rows, built as the reference's own syntax trees (no `.net` text, no package code). The
tensor operations of the grown language (convolution options, pooling windows, reshape,
permute, cat) meet PyTorch's on seeded integer tensors; one-hot data, gelu/silu and
groups meet hand derivations.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference_checker import (Flow, Poly, Program, concatenate, convolution, permute,
                               pool_windows, regions, reshape)

ROWS = {str(r["id"]): r for r in json.loads(
    (Path(__file__).parent / "data" / "ground_truth.json").read_text())}
P, I = (lambda n: ("param", n)), (lambda n: ("input", n))


def _layered(widths, relu=False, flow=Flow()):
    """U1 a(U2 a(... Uq x)), widths output side first (THEORY.md E)."""
    q = len(widths) - 1
    params = [(f"U{i}", (widths[i - 1], widths[i])) for i in range(1, q + 1)]
    value = I("x")
    for i in range(q, 0, -1):
        value = ("@", P(f"U{i}"), value)
        if relu and i > 1:
            value = ("fn", "relu", value)
    return Program(params=params, inputs=[("x", (widths[-1],))], outputs=[value], flow=flow)


def _only(program):
    found = regions(program)
    assert len(found) == 1 and found[0].description == ""
    return found[0]


@pytest.mark.parametrize("row_id", ["1", "2", "4", "5", "12", "13", "14", "20"])
def test_products_and_linear_networks(row_id):
    row = ROWS[row_id]
    if row["kind"] == "product":
        names = [f"x{i}" for i in range(row["n"])]
        out = P(names[0])
        for name in names[1:]:
            out = ("*", out, P(name))
        program = Program(params=[(n, ()) for n in names], outputs=[out])
    else:
        program = _layered(row["widths_output_first"])
    region = _only(program)
    assert (region.dim, region.N) == (row["D"], row["N"])


@pytest.mark.parametrize("row_id", ["5", "13", "14"])
def test_matrix_factorisation_without_input(row_id):
    """U V^T has the features of the 2-layer linear network [n, r, m] (DSL.md section 2)."""
    n, r, m = ROWS[row_id]["widths_output_first"]
    program = Program(params=[("U", (n, r)), ("V", (m, r))],
                      outputs=[("@", P("U"), ("T", P("V")))])
    assert _only(program).N == ROWS[row_id]["N"]


@pytest.mark.parametrize("row_id", ["27", "28", "32"])
def test_relu_networks(row_id):
    row = ROWS[row_id]
    region = _only(_layered(row["widths_output_first"], relu=True))
    assert (region.dim, region.N) == (row["D"], row["N"])


@pytest.mark.parametrize("row_id", ["39", "42", "43"])
def test_mirror_nmf(row_id):
    row = ROWS[row_id]
    program = Program(params=[("U", tuple(row["U"])), ("V", tuple(row["V"]))],
                      outputs=[("@", P("U"), P("V"))], flow=Flow(mirror=("U", "V")))
    region = _only(program)
    assert (region.dim, region.N) == (row["D"], row["N"])
    # THEORY.md B.3: sum_i U[i,k] - sum_j V[k,j] is conserved, U[0,0] alone is not
    (n, r), m = row["U"], row["V"][1]

    def unit(k):
        return tuple(int(j == k) for j in range(row["D"]))

    law = {unit(i * r): Fraction(1) for i in range(n)}            # U[i,0]
    law.update({unit(n * r + j): Fraction(-1) for j in range(m)})  # V[0,j]
    assert region.conserved(region.law(law))
    assert not region.conserved(region.law({tuple(int(k == 0) for k in range(row["D"])): 1}))


def test_attention_head():
    """Row 47: one head, X [2 tokens, d = 2], Q, K, V, O all 2 x 2: N = 3 + 3."""
    row = ROWS["47"]
    program = Program(params=[(n, (2, 2)) for n in "QKVO"], inputs=[("X", (2, 2))],
                      outputs=[("attention", I("X"), P("Q"), P("K"), P("V"), P("O"), 1)])
    region = _only(program)
    assert (region.dim, region.N) == (row["D"], row["N"])


@pytest.mark.parametrize("row_id,tau", [("55", 0), ("55", 1), ("56", 0), ("56", 1),
                                        ("57", 0), ("57", 1)])
def test_momentum_rows(row_id, tau):
    row = ROWS[row_id]
    region = _only(_layered(row["widths_output_first"], flow=Flow("momentum", Fraction(tau))))
    assert (region.dim, region.N) == (row["phase_dim"], row["N"])


def test_momentum_law_of_a_two_layer_linear_net():
    """THEORY.md B.3, tau = 0, U1 [2,2] U2 [2,2] x: the antisymmetric part
    (U1^T U1' - U1'^T U1) - (U2' U2^T - U2 U2'^T) entry [0,1] is conserved."""
    region = _only(_layered([2, 2, 2], flow=Flow("momentum")))
    # state (t, U1[0,0], U1[0,1], U1[1,0], U1[1,1], U2[...], then the velocities)
    def var(name, prime=False):
        index = 1 + {"U1": 0, "U2": 4}[name[:2]] + int(name[3]) * 2 + int(name[5]) + 8 * prime
        return index

    def mono(a, b):
        e = [0] * 17
        e[a] += 1
        e[b] += 1
        return tuple(e)

    law = {}
    for k in range(2):   # (U1^T U1')[0,1] - (U1'^T U1)[0,1]
        law[mono(var(f"U1[{k},0]"), var(f"U1[{k},1]", True))] = Fraction(1)
        law[mono(var(f"U1[{k},0]", True), var(f"U1[{k},1]"))] = Fraction(-1)
        # - (U2' U2^T)[0,1] + (U2 U2'^T)[0,1]
        law[mono(var(f"U2[0,{k}]", True), var(f"U2[1,{k}]"))] = Fraction(-1)
        law[mono(var(f"U2[0,{k}]"), var(f"U2[1,{k}]", True))] = Fraction(1)
    assert region.conserved(region.law(law))


# ------------------------------------------------ the grown language, against torch and by hand
def _polys(array):
    return np.vectorize(Poly.of, otypes=[object])(array.astype(object))


def _values(polys):
    return np.vectorize(lambda p: p.terms.get((), 0), otypes=[object])(polys).astype(np.int64)


CONVS = [  # dims, W shape, x shape, options
    (1, (2, 1, 2), (2, 5), {"groups": 2, "padding": 1}),
    (1, (3, 2, 3), (2, 7), {"stride": 2, "dilation": 2, "padding": 2}),
    (1, (2, 2, 1), (2, 2, 3), {"padding": 2}),                     # a batch; empty borders
    (2, (2, 1, 2, 2), (2, 4, 3), {"groups": 2, "stride": 2, "padding": 1}),
    (2, (1, 2, 2, 1), (2, 2, 3, 3), {"dilation": 2}),
]


@pytest.mark.parametrize("dims,sw,sx,options", CONVS)
def test_convolution_is_torchs(dims, sw, sx, options):
    """The reference's explicit sum against torch.nn.functional.conv1d/conv2d on
    seeded integer tensors (float64 holds these small integers exactly)."""
    rng = np.random.default_rng(7)
    w, x = rng.integers(-5, 6, sw), rng.integers(-5, 6, sx)
    conv = F.conv1d if dims == 1 else F.conv2d
    expected = conv(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                    **options).numpy()
    got = _values(convolution(_polys(w), _polys(x), options, dims))
    assert got.shape == expected.shape and (got == expected).all()


@pytest.mark.parametrize("dims,shape,size,stride", [(1, (2, 7), 3, 2), (1, (5,), 2, None),
                                                    (2, (1, 5, 4), 2, 1), (2, (3, 4, 4), 2, None)])
def test_pool_windows_are_torchs(dims, shape, size, stride):
    """Max and mean over pool_windows against torch's max_pool and avg_pool."""
    x = np.random.default_rng(3).integers(-9, 10, shape)
    t = torch.tensor(x, dtype=torch.float64)[None]
    units = pool_windows(shape, size, stride, dims)
    mx = F.max_pool1d if dims == 1 else F.max_pool2d
    av = F.avg_pool1d if dims == 1 else F.avg_pool2d
    got_max = np.vectorize(lambda w: max(x[i] for i in w), otypes=[object])(units)
    got_avg = np.vectorize(lambda w: Fraction(sum(int(x[i]) for i in w), len(w)),
                           otypes=[object])(units)
    assert (got_max.astype(np.int64) == mx(t, size, stride)[0].numpy()).all()
    assert (got_avg.astype(float) == av(t, size, stride)[0].numpy()).all()


def test_reshape_permute_cat_are_torchs():
    x = np.arange(24).reshape(2, 3, 4)
    t = torch.tensor(x)
    assert (reshape(x.astype(object), (4, 6)).astype(np.int64) == t.reshape(4, 6).numpy()).all()
    assert (permute(x.astype(object), (2, 0, 1)).astype(np.int64)
            == t.permute(2, 0, 1).numpy()).all()
    for axis in range(3):
        got = concatenate([x.astype(object), (-x).astype(object), x.astype(object)], axis)
        assert (got.astype(np.int64) == torch.cat([t, -t, t], axis).numpy()).all()


def test_one_hot_bias():
    """x @ A + b, A [2,1], b [1], one-hot x [1,2]: the value is s A0 + (1 - s) A1 + b =
    (A1 + b) + s (A0 - A1), features A1 + b and A0 - A1 (rank 2 of D = 3): N = 1, the
    law A0 + A1 - b (gradient (1, 1, -1), orthogonal to (0, 1, 1) and (1, -1, 0)). With
    free data the features are A0, A1, b: N = 0 (README's example)."""
    out = ("+", ("@", I("x"), P("A")), P("b"))
    params = [("A", (2, 1)), ("b", (1,))]
    region = _only(Program(params=params, inputs=[("x", (1, 2))], outputs=[out], onehot=("x",)))
    assert region.N == 1
    assert region.conserved(region.law({(1, 0, 0): 1, (0, 1, 0): 1, (0, 0, 1): -1}))
    assert _only(Program(params=params, inputs=[("x", (1, 2))], outputs=[out])).N == 0


def test_gelu_and_silu_are_two_values():
    """v gelu(a x) + u silu(a x): features a (the argument), v and u (coefficients of
    two values): rank 3 = D, N = 0. With gelu twice, one value: features a and u + v,
    N = 1 (the law u - v)."""
    def program(second):
        arg = ("*", P("a"), I("x"))
        return Program(params=[("a", ()), ("u", ()), ("v", ())], inputs=[("x", ())], outputs=[
            ("+", ("*", P("v"), ("fn", "gelu", arg)), ("*", P("u"), ("fn", second, arg)))])
    assert _only(program("silu")).N == 0
    once = _only(program("gelu"))
    assert once.N == 1 and once.conserved(once.law({(0, 1, 0): 1, (0, 0, 1): -1}))


def test_grouped_convolution():
    """v @ conv1d(W, x, groups=2), W [2,1,1], x [2,1], v [1,2]: v0 W0 x0 + v1 W1 x1, two
    features v0 W0 and v1 W1 in disjoint variables (commuting fields): rank 2 of D = 4,
    N = 2 (laws v0^2 - W0^2, v1^2 - W1^2)."""
    region = _only(Program(params=[("W", (2, 1, 1)), ("v", (1, 2))], inputs=[("x", (2, 1))],
                           outputs=[("@", P("v"), ("conv1d", P("W"), I("x"), (("groups", 2),)))]))
    assert region.N == 2 and region.conserved(region.law({(2, 0, 0, 0): 1, (0, 0, 2, 0): -1}))
