"""The reference checker (``reference_checker.py``) against the shared ground truth.

The differential test trusts the reference; here the reference meets independent
counts (``tests/data/ground_truth.json``, a copy of the shared table): products, linear
networks and matrix factorisation, ReLU networks, mirror NMF, attention and momentum
rows, built as the reference's own syntax trees (no `.net` text, no package code).
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from reference_checker import Flow, Program, regions

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
