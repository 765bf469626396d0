"""Mirror and momentum flows (THEORY.md B): counts from the ground truth, laws checked
against the formulas of B.3 with an independent SymPy computation of the lifted fields.
"""
import json

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import conslaw_algebra as ca
from conslaw_algebra.views.cli import main

from models import GROUND_TRUTH, icnn_text, layers_text, nmf_text

MIRROR_ROWS = [r for r in GROUND_TRUTH if r["flow"].startswith("gradient mirror")]
MOMENTUM_ROWS = [r for r in GROUND_TRUTH if r["flow"] == "momentum"]
FLOWS = {"0": "momentum", "1": "momentum tau=1", "3": "momentum tau=3",
         "Nesterov": "momentum nesterov"}


def _taus(row):
    words = row["taus"].replace("or", "/").replace(" ", "").split("/")
    return [w for w in words if w in FLOWS]


def _count(tmp_path, capsys, text):
    path = tmp_path / "m.net"
    path.write_text(text)
    assert main(["count", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("row", MIRROR_ROWS, ids=[str(r["id"]) for r in MIRROR_ROWS])
def test_mirror_rows(row, tmp_path, capsys):
    text = (nmf_text(row["U"], row["V"]) if row["kind"] == "nmf"
            else icnn_text(row["U"], row["V"], row["bias"]))
    result = _count(tmp_path, capsys, text)
    assert (result["D"], result["laws"]) == (row["D"], row["N"])


MOMENTUM_CASES = [(r, tau) for r in MOMENTUM_ROWS for tau in _taus(r)]


@pytest.mark.parametrize("row,tau", MOMENTUM_CASES,
                         ids=[f"{r['id']}-tau{t}" for r, t in MOMENTUM_CASES])
def test_momentum_rows(row, tau, tmp_path, capsys):
    result = _count(tmp_path, capsys, layers_text(row["widths_output_first"]) + "\nflow " + FLOWS[tau])
    assert (result["D"], result["state_dim"], result["laws"]) == (row["D"], row["phase_dim"], row["N"])


ZERO_UNDER_MOMENTUM = [  # ground_truth.md rows 73-75: no law survives momentum
    layers_text([1, 1, 1], relu=True), layers_text([2, 2, 2], relu=True),
    layers_text([2, 2, 2], relu=True, bias=True), layers_text([3, 2, 3], relu=True),
    layers_text([2, 3, 2, 2], relu=True),
    "param U[1,1], V[1,1]\noutput U @ V", "param U[2,2], V[2,2]\noutput U @ V",
    "param U[2,3], V[3,2]\noutput U @ V", "param U[3,2], V[2,3]\noutput U @ V",
]


@pytest.mark.parametrize("text", ZERO_UNDER_MOMENTUM)
@pytest.mark.parametrize("flow", ["momentum", "momentum tau=1"])
def test_relu_and_nmf_lose_every_law_under_momentum(text, flow):
    mirror = " mirror U, V" if text.startswith("param U") else ""
    assert ca.parse(text + f"\nflow {flow}{mirror}").count_laws().laws == 0


@pytest.mark.parametrize("u,v", [([1, 1], [1, 1]), ([2, 2], [2, 2])])
def test_icnn_loses_every_law_under_momentum(u, v):
    assert ca.parse(icnn_text(u, v, False, "momentum")).count_laws().laws == 0


# ------------------------------------------------------------ independent check
def _linear_phase_problem(widths_input_first, tau):
    """SymPy symbols (s, theta, v), the features, and the drift of THEORY.md B.2."""
    mats, names = [], []
    for k, (n_in, n_out) in enumerate(zip(widths_input_first, widths_input_first[1:]), start=1):
        mats.append(sympy.Matrix(n_out, n_in, lambda i, j: sympy.Symbol(f"W{k}_{i}_{j}")))
        names += list(mats[-1])
    d = len(names)
    state = sympy.symbols(f"t0:{2 * d + 1}")
    s, theta, v = state[0], state[1:1 + d], state[1 + d:]
    product = mats[0]
    for m in mats[1:]:
        product = m * product
    to_state = dict(zip(names, theta))
    features = [sympy.expand(e.subs(to_state)) for e in product]
    if tau == "Nesterov":
        drift = [s] + [s * x for x in v] + [-3 * x for x in v]
    elif tau == "0":
        drift = [sympy.Integer(1)] + list(v) + [0] * d
    else:
        drift = [int(tau) * s] + list(v) + [-int(tau) * x for x in v]
    return state, theta, v, features, drift


def _conserved(h, state, theta, v, features, drift) -> bool:
    if sympy.expand(sum(sympy.diff(h, z) * g for z, g in zip(state, drift))) != 0:
        return False
    return all(sympy.expand(sum(sympy.diff(h, vj) * sympy.diff(psi, tj)
                                for vj, tj in zip(v, theta))) == 0 for psi in features)


def _antisymmetric_laws(widths_input_first, tau, state):
    """THEORY.md B.3 with U_i = W_{q+1-i}: per hidden layer, the matrix
    (U_i^T U_i' - U_i'^T U_i) - (U_{i+1}' U_{i+1}^T - U_{i+1} U_{i+1}'^T) with U_i = W_{l+1},
    U_{i+1} = W_l, times the time factor."""
    d_offsets, mats, vels = 1, [], []
    count = sum(a * b for a, b in zip(widths_input_first, widths_input_first[1:]))
    for n_in, n_out in zip(widths_input_first, widths_input_first[1:]):
        mats.append(sympy.Matrix(n_out, n_in, lambda i, j, o=d_offsets: state[o + i * n_in + j]))
        vels.append(sympy.Matrix(n_out, n_in, lambda i, j, o=d_offsets: state[o + count + i * n_in + j]))
        d_offsets += n_in * n_out
    factor = {"0": 1, "Nesterov": state[0] ** 3}.get(tau, state[0])
    laws = []
    for l in range(len(mats) - 1):
        a, av, b, bv = mats[l], vels[l], mats[l + 1], vels[l + 1]
        m = (b.T * bv - bv.T * b) - (av * a.T - a * av.T)
        n = m.shape[0]
        laws += [sympy.expand(factor * m[i, j]) for i in range(n) for j in range(i + 1, n)]
    return laws


def _in_span(polys, basis, state) -> bool:
    gens = list(state)
    monomials = sorted({mono for p in polys + basis for mono in sympy.Poly(p, *gens).monoms()})
    def row(p):
        coeffs = dict(sympy.Poly(p, *gens).terms())
        return [coeffs.get(m, 0) for m in monomials]
    base = sympy.Matrix([row(p) for p in basis]) if basis else sympy.zeros(0, len(monomials))
    return base.rank() == sympy.Matrix([row(p) for p in basis + polys]).rank()


@pytest.mark.parametrize("widths,tau,degree", [([2, 3, 2], "0", 2), ([2, 3, 2], "1", 3),
                                               ([2, 2, 2], "Nesterov", 5), ([2, 3, 2, 2], "3", 3)])
def test_linear_momentum_laws_include_the_antisymmetric_matrices(widths, tau, degree):
    model = ca.parse(layers_text(list(reversed(widths))) + "\nflow " + FLOWS[tau])
    result = model.laws(degree)
    state, theta, v, features, drift = _linear_phase_problem(widths, tau)
    reported = [sympy.sympify(str(h), locals={str(z): z for z in state}) for h in result.laws]
    expected = _antisymmetric_laws(widths, tau, state)
    assert all(_conserved(h, state, theta, v, features, drift) for h in expected)  # B.3 itself
    assert all(_conserved(h, state, theta, v, features, drift) for h in reported)
    assert _in_span(expected, reported, state)
    assert result.complete


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(widths=st.lists(st.integers(1, 3), min_size=3, max_size=3),
       tau=st.sampled_from(["0", "1", "3", "Nesterov"]))
def test_every_reported_momentum_law_is_conserved_by_every_lifted_field(widths, tau):
    degree = {"0": 2, "1": 3, "3": 3, "Nesterov": 5}[tau]
    if tau == "Nesterov" and sum(a * b for a, b in zip(widths, widths[1:])) > 8:
        degree = 3  # keeps the unknowns few; the laws returned must still be conserved
    model = ca.parse(layers_text(list(reversed(widths))) + "\nflow " + FLOWS[tau])
    state, theta, v, features, drift = _linear_phase_problem(widths, tau)
    for h in model.laws(degree).laws:
        law = sympy.sympify(str(h), locals={str(z): z for z in state})
        assert _conserved(law, state, theta, v, features, drift)


# ------------------------------------------------------------ diagonal metrics
NMF_ROWS = [r for r in MIRROR_ROWS if r["kind"] == "nmf"]


@pytest.mark.parametrize("row", NMF_ROWS, ids=[str(r["id"]) for r in NMF_ROWS])
def test_metric_lines_equal_to_the_parameters_reproduce_the_mirror_flow(row):
    """metric U = U gives M = diag(theta) on U: the mirror geometry of the NMF rows."""
    text = nmf_text(row["U"], row["V"]).replace("flow gradient mirror U, V",
                                                "metric U = U\nmetric V = V")
    assert ca.parse(text).count_laws().laws == row["N"]


def test_constant_metric_law_by_hand():
    """phi = a b, M = diag(2, 1): a' = -2 c b, b' = -c a, so a^2 - 2 b^2 is conserved."""
    model = ca.parse("param a, b\noutput a*b\nmetric a = 2")
    assert [str(h) for h in model.laws(2).laws] == ["t0^2 - 2*t1^2"]
    assert model.check("a^2 - 2*b^2").conserved
    assert not model.check("a^2 - b^2").conserved


@pytest.mark.parametrize("text,words", [
    ("input x[2]\nparam W[2,2]\noutput W @ x\nmetric W = x", "shape"),
    ("input x\nparam a\noutput a * x\nmetric a = x", "parameters only"),
    ("input x\nparam a\noutput a * x\nmetric x = a", "not a parameter"),
])
def test_bad_metric_lines(text, words, tmp_path, capsys):
    path = tmp_path / "m.net"
    path.write_text(text)
    assert main(["count", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{path}:4:" in err and words in err
