"""Laws by block of models with normalization layers (``analyses/blocks.py``).

Every expected law is derived by hand in the test; the laws found are compared with it
by exact linear algebra (SymPy), and each law found is checked twice: by the exact
reduction of ``normalized.ExactModel.violation``, and independently in floating point,
<grad h, grad_theta f(theta, x)> = 0 at random points with the model written in torch
(f the output, eps = 0).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import sympy as sp
import torch

import conslaw_algebra as ca

ROOT = Path(__file__).resolve().parents[1]


def _span_rank(model, polys) -> int:
    """Rank over QQ of polynomials' coefficient vectors (SymPy)."""
    rows = [{tuple(m): sp.Rational(str(c)) for m, c in zip(h.monoms(), h.coeffs())} for h in polys]
    monomials = sorted({m for r in rows for m in r})
    return sp.Matrix([[r.get(m, 0) for m in monomials] for r in rows]).rank()


def _same_span(model, found, expected) -> bool:
    return _span_rank(model, found) == _span_rank(model, expected) == _span_rank(
        model, list(found) + list(expected))


def _gradient_rank(model, polys, seed=0) -> int:
    """Rank of the gradients at a random rational point (SymPy): independent laws."""
    rng = np.random.default_rng(seed)
    point = [sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 5)))
             for _ in range(model.dim)]
    t = sp.symbols(f"t0:{model.dim}")
    rows = []
    for h in polys:
        expr = sp.sympify(str(h).replace("^", "**"), locals={f"t{j}": t[j] for j in range(model.dim)})
        rows.append([sp.diff(expr, t[j]).subs(dict(zip(t, point))) for j in range(model.dim)])
    return sp.Matrix(rows).rank()


def _conserved_in_floats(model, h, output, inputs, seed=0, trials=4) -> bool:
    """<grad h, grad_theta <w, output>> = 0 at random points and weights w, in float64
    (torch autograd): ``output(params: dict, data: dict) -> tensor``."""
    rng = np.random.default_rng(seed)
    t = sp.symbols(f"t0:{model.dim}")
    expr = sp.sympify(str(h).replace("^", "**"), locals={f"t{j}": t[j] for j in range(model.dim)})
    grad_h = sp.lambdify([t], [sp.diff(expr, v) for v in t])
    for _ in range(trials):
        theta = rng.normal(size=model.dim)
        params = {}
        for info in model.program.params:
            params[info.name] = torch.tensor(theta[info.offset:info.offset + info.size]
                                             .reshape(info.shape), requires_grad=True)
        data = {name: torch.tensor(rng.normal(size=shape)) for name, shape in inputs.items()}
        value = output(params, data)       # a random combination of the output entries
        (value * torch.tensor(rng.normal(size=tuple(value.shape)))).sum().backward()
        grad_f = np.concatenate([params[info.name].grad.numpy().reshape(-1)
                                 for info in model.program.params])
        dot = float(np.dot(np.array(grad_h(theta), dtype=float), grad_f))
        if abs(dot) > 1e-9 * (1 + np.abs(grad_f).sum()):
            return False
    return True


def _plus(terms) -> str:
    return " + ".join(terms)


def _column(name, j, rows) -> str:
    return _plus(f"{name}[{i},{j}]" for i in range(rows))


def _squares(entries) -> str:
    return _plus(f"{e}^2" for e in entries)


def _layernorm(e):
    centered = e - e.mean(dim=-1, keepdim=True)
    return centered / torch.sqrt((centered ** 2).mean(dim=-1, keepdim=True))


def _rmsnorm(e):
    return e / torch.sqrt((e ** 2).mean(dim=-1, keepdim=True))


def test_layernorm_block_laws_by_hand():
    # f = v . layernorm(W x), W 3x2. By hand: layernorm(c W x) = layernorm(W x) for
    # c > 0, so <grad_W f, W> = 0 and ||W||_F^2 is conserved; layernorm subtracts the
    # mean over the 3 outputs, so W -> W + 1 a^T changes nothing: grad_W f has zero column
    # sums, and each column sum c_j = sum_i W[i,j] is conserved; grad_v f = layernorm(W x)
    # has zero mean, so s_v = sum(v) is conserved. Degree <= 2: c0, c1, s_v, ||W||^2 and
    # the products of the linear ones (3 + 3): 10 laws, all in the one block (W, v).
    model = ca.parse("param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(W @ x)")
    result = model.block_laws(2)
    assert [b.tensors for b in result.blocks] == [("W", "v")]
    P = model.parse_polynomial
    c0, c1, sv = P(_column("W", 0, 3)), P(_column("W", 1, 3)), P("sum(v)")
    norm = P("sum(W * W)")
    expected = [c0, c1, sv, norm, c0 * c0, c0 * c1, c1 * c1, c0 * sv, c1 * sv, sv * sv]
    laws = result.blocks[0].laws
    assert _same_span(model, laws, expected)
    assert all(model.exact_normalized.violation(h) is None for h in laws)
    assert not result.blocks[0].rejected
    # the four linear-and-norm laws are independent (SymPy), and the union reaches N
    assert result.independent == _gradient_rank(model, [c0, c1, sv, norm]) == 4
    assert result.complete


def test_layernorm_after_relu_balances_and_scale():
    # f = v . layernorm(W relu(A x)), A 3x2, W 3x3. By hand, besides the laws above
    # (column sums of W, sum(v), ||W||^2): each ReLU neuron j is balanced,
    # ||A[j,:]||^2 - ||W[:,j]||^2 (A[j,:] -> c A[j,:], W[:,j] -> W[:,j]/c, c > 0);
    # and A -> c A scales W relu(A x) by c, which layernorm removes: ||A||_F^2 (the sum
    # of the balances plus ||W||^2). Blocks: (A, W), (A, v), (W, v).
    model = ca.parse("param A[3,2], W[3,3], v[3]\ninput x[2]\n"
                     "output v @ layernorm(W @ relu(A @ x))")
    result = model.block_laws(2)
    blocks = {b.tensors: b for b in result.blocks}
    assert set(blocks) == {("A", "W"), ("A", "v"), ("W", "v")}
    P = model.parse_polynomial
    columns = [P(_column("W", j, 3)) for j in range(3)]
    balances = [P(_squares(f"A[{j},{k}]" for k in range(2)) + " - ("
                  + _squares(f"W[{i},{j}]" for i in range(3)) + ")") for j in range(3)]
    norm_w, norm_a, sv = P("sum(W * W)"), P("sum(A * A)"), P("sum(v)")
    # block (A, W): the column sums, their products, the balances and ||W||^2: 3+6+3+1
    products = [columns[i] * columns[j] for i in range(3) for j in range(i, 3)]
    assert _same_span(model, blocks["A", "W"].laws, columns + products + balances + [norm_w])
    # block (A, v): sum(v), sum(v)^2, ||A||^2
    assert _same_span(model, blocks["A", "v"].laws, [sv, sv * sv, norm_a])

    def f(p, d):
        return p["v"] @ _layernorm(p["W"] @ torch.relu(p["A"] @ d["x"]))
    for block in result.blocks:
        for h in block.laws:
            assert model.exact_normalized.violation(h) is None
            assert _conserved_in_floats(model, h, f, {"x": (2,)})
    assert _gradient_rank(model, columns + balances + [norm_w, sv]) == 8
    assert result.complete and result.independent == 8


def test_rmsnorm_block_keeps_only_the_scale_law():
    # f = v . rmsnorm(W x): no mean is subtracted, so only the scale invariance is left:
    # ||W||_F^2, and nothing in v (grad_v f = rmsnorm(W x) is a generic vector)
    model = ca.parse("param W[3,2], v[3]\ninput x[2]\noutput v @ rmsnorm(W @ x)")
    result = model.block_laws(2)
    assert _same_span(model, result.blocks[0].laws, [model.parse_polynomial("sum(W * W)")])

    def f(p, d):
        return p["v"] @ _rmsnorm(p["W"] @ d["x"])
    assert all(_conserved_in_floats(model, h, f, {"x": (2,)}) for h in result.blocks[0].laws)


def test_batchnorm_block_has_one_scale_law_per_row():
    # batchnorm(X W^T) normalizes column j of X W^T = X W[j,:]^T over the batch: the
    # output is invariant under W[j,:] -> c W[j,:], so each ||W[j,:]||^2 is conserved;
    # the mean over the batch is subtracted, which changes nothing in W (no column sums:
    # the shift would be in X's direction). Then u mixes the channels: sum(u) is not a
    # law (the channels' values are not centred across channels).
    model = ca.parse("param W[2,3], u[2]\ninput X[4,3]\noutput batchnorm(X @ W.T) @ u")
    result = model.block_laws(2)
    P = model.parse_polynomial
    rows = [P(_squares(f"W[{j},{k}]" for k in range(3))) for j in range(2)]
    laws = [h for b in result.blocks for h in b.laws]
    assert _same_span(model, laws, rows)

    def f(p, d):
        e = d["X"] @ p["W"].T
        centred = e - e.mean(dim=0, keepdim=True)
        return centred / torch.sqrt((centred ** 2).mean(dim=0, keepdim=True)) @ p["u"]
    assert all(_conserved_in_floats(model, h, f, {"X": (4, 3)}) for h in laws)


def test_cli_laws_by_block_of_a_normalized_model(tmp_path):
    path = tmp_path / "ln.net"
    path.write_text("param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(W @ x)\n")
    run = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "laws", "--by-block",
                          str(path)], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert "by exact reduction" in run.stdout and "block W, v: 10 laws" in run.stdout
    assert "complete: the blocks' laws reach N (certified)" in run.stdout


def test_a_law_that_cannot_be_verified_is_dropped_and_said(monkeypatch):
    # when neither the local check nor the whole expansion can decide a candidate (the
    # latter over the budget), the block drops it as "not verified", never reports it
    from conslaw_algebra.errors import BudgetError
    model = ca.parse("input x[3]\nparam W[4,3], v[1,4]\noutput v @ layernorm(W @ x)")

    def undecided(h):
        raise BudgetError("the whole expansion would need 1 TiB")
    monkeypatch.setattr(model.law_verifier, "violation", undecided)
    result = model.block_laws(2)
    assert all(not b.laws for b in result.blocks)
    text = result.to_text()
    assert "dropped, not verified" in text and "could not be verified exactly" in text
