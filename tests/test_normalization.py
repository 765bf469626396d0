"""Normalization layers: layernorm, rmsnorm, batchnorm (README, *Normalization layers*).

The expected laws are derived by hand in each test; the counts of small models are
compared with an independent SymPy computation (``_sympy_lie_rank``): symbols for theta
and the scales s, the relation s^2 q = 1, the generator fields differentiated with the
chain rule ds = -s^3 dq / 2, brackets, and the rank at a rational point where every q
is a rational square (so that s is rational and the rank exact).
"""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import ring
from hypothesis import HealthCheck, given, settings, strategies as st

import conslaw_algebra as ca
from conslaw_algebra.analyses.normalized import refutation
from conslaw_algebra.language.expand import theta_ring
from conslaw_algebra.errors import ConslawError

ROOT = Path(__file__).resolve().parents[1]


def _laws(text: str, degree: int = 2):
    return ca.parse(text, name="m").laws(degree)


# ------------------------------------------------------------ known consequences
def test_layernorm_conserves_the_whole_squared_norm():
    # v @ layernorm(W x): layernorm(c W x) = layernorm(W x) for c > 0 (eps = 0), so the
    # gradient is orthogonal to W: d/dt ||W||_F^2 = 2 <W, grad_W E> = 0.
    model = ca.parse("param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(W @ x)")
    assert model.check("sum(W * W)").conserved
    # not each row alone: scaling one row changes the normalized vector
    assert not model.check("W[0,0]^2 + W[0,1]^2").conserved
    # the mean is removed: W + 1 c^T changes nothing, so the column sums are conserved;
    # the output sums to 0, so v + a 1 changes nothing: sum(v) is conserved
    assert model.check("W[0,0] + W[1,0] + W[2,0]").conserved
    assert model.check("v[0] + v[1] + v[2]").conserved
    result = model.laws(2)
    assert result.complete and result.certified
    assert result.lie.laws == 4          # the two column sums, sum(v), ||W||^2


def test_rmsnorm_conserves_the_whole_squared_norm():
    # rmsnorm(c W x) = rmsnorm(W x): ||W||^2 and nothing else (no mean removed)
    result = _laws("param W[2,2], v[2]\ninput x[2]\noutput v @ rmsnorm(W @ x)")
    assert result.strings() == ["W[0,0]^2 + W[0,1]^2 + W[1,0]^2 + W[1,1]^2"]
    assert result.certified and result.lie.laws == 1


def test_batchnorm_conserves_each_row_norm():
    # batchnorm(X W^T): column j of X W^T is X W[j,:]^T, normalized over the batch on its
    # own, so scaling row j of W changes nothing: ||W[j,:]||^2 for each j
    result = _laws("param W[2,3]\ninput X[4,3]\noutput batchnorm(X @ W.T)")
    assert sorted(result.strings()) == ["W[0,0]^2 + W[0,1]^2 + W[0,2]^2",
                                        "W[1,0]^2 + W[1,1]^2 + W[1,2]^2"]
    assert result.certified


def test_with_eps_the_scale_law_is_not_reported():
    # s^2 (var + eps) = 1 with eps > 0 is no longer scale invariant
    text = "param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(W @ x, eps=1/10)"
    model = ca.parse(text)
    assert not model.check("sum(W * W)").conserved
    laws = model.laws(2).strings()
    assert "W[0,0]^2 + W[0,1]^2 + W[1,0]^2 + W[1,1]^2 + W[2,0]^2 + W[2,1]^2" not in laws
    assert "W[0,0] + W[1,0] + W[2,0]" in laws         # the translation survives eps
    assert model.laws(2).lie.laws == 3


def test_affine_parameters_broadcast_over_rows():
    # g * layernorm(X W^T) + b: g and b ([3]) against the last axis of a [4,3] matrix
    model = ca.parse("param W[3,2], g[3], b[3]\ninput X[4,2]\n"
                     "output sum(g * layernorm(X @ W.T) + b)")
    assert model.check("sum(W * W)").conserved
    with pytest.raises(ConslawError, match="last axis"):
        ca.parse("param W[3,2], g[2]\ninput X[4,2]\noutput sum(g * layernorm(X @ W.T))")


def test_one_call_one_value_shares_the_scale():
    # layernorm(-e) has the variance of layernorm(e): one scale for both
    model = ca.parse("param W[3,2]\ninput X[4,2]\n"
                     "output sum(layernorm(X @ W.T) + layernorm(-(X @ W.T)))")
    assert [d.size for d in model.program.data if d.kind == "norm"] == [4]


# ----------------------------------------------------------------- hostile input
@pytest.mark.parametrize("text, message", [
    ("param W[3,2]\ninput x[2]\noutput layernorm(W @ x, eps=-1)", "eps must be"),
    ("param W[3,2], a\ninput x[2]\noutput layernorm(W @ x, eps=a)", "eps must be"),
    ("param W[1,2]\ninput x[2]\noutput layernorm(W @ x)", "identically 0"),
    ("param W[3,2]\ninput x[2]\noutput layernorm(W @ x, axes=3)", "at least 3 axes"),
    ("param W[3,2]\ninput x[2]\noutput batchnorm(W @ x)", "batch first"),
    ("param W[3,2]\ninput x[2]\noutput layernorm(W @ x)\nflow momentum", "gradient flow only"),
    ("param w[3]\noutput sum(layernorm(w - w))", "identically 0"),
    ("param w[3]\noutput sum(rmsnorm(w - w + 1, eps=1))", "not rational"),
])
def test_bad_normalizations_are_refused_with_a_position(text, message):
    with pytest.raises(ConslawError, match=message) as caught:
        ca.parse(text, name="bad.net").count_laws()
    assert caught.value.line == 3 or caught.value.line == 2


def test_dependent_variances_are_refused():
    # var(2 e) = 4 var(e): s_2 = s_1 / 2, two roots chosen independently would not be
    # the model (a reducible variety)
    model = ca.parse("param W[3,2]\ninput x[2]\noutput layernorm(W @ x) + layernorm(2 * W @ x)")
    with pytest.raises(ConslawError, match="independent modulo squares"):
        model.count_laws()


def test_commands_without_features_refuse_with_one_line(tmp_path):
    path = tmp_path / "ln.net"
    path.write_text("param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(W @ x)\n")
    for command in (["paths"], ["laws", "--engine", "syzygy"]):
        run = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", *command,
                              str(path)], capture_output=True, text=True, cwd=ROOT,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert run.returncode == 2, command
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{path}:3:12: layernorm()" in lines[0], run.stderr


def test_a_constant_group_has_a_constant_scale():
    # rmsnorm of the constant vector (2, 2, 2): mean square 4, s = 1/2, no scale symbol;
    # the output is w0 + w1 + w2, whose gradient (1, 1, 1) conserves the differences
    model = ca.parse("param w[3]\noutput sum(w * rmsnorm(w - w + 2))")
    assert not model.normalized
    assert model.laws(1).strings() == ["w[0] - w[2]", "w[1] - w[2]"]


def test_data_only_and_nested_normalizations():
    # no parameter under the norm: s is a function of the data, fine
    model = ca.parse("param v[3]\ninput x[3]\noutput v @ layernorm(x)")
    assert model.check("v[0] + v[1] + v[2]").conserved     # layernorm(x) sums to 0
    assert model.count_laws().laws == 1
    nested = ca.parse("param W1[3,3], W2[3,3]\ninput x[3]\n"
                      "output sum(layernorm(W2 @ layernorm(W1 @ x)))")
    assert nested.check("sum(W1 * W1)").conserved and nested.check("sum(W2 * W2)").conserved


def test_simulation_keeps_the_scale_law():
    from conslaw_algebra.tools.simulate import simulate
    model = ca.parse("param W[2,2], v[2]\ninput x[2]\noutput v @ rmsnorm(W @ x)")
    run = simulate(model, seed=0, horizon=1.0, etas=(0.1,))
    assert "h1" in run.to_text() and "conserved along the flow" in run.to_text()


# ------------------------------------------------- the independent SymPy count
def _sympy_lie_rank(theta, outputs, scales, point, levels=3):
    """Rank at ``point`` (theta and s values) of the fields grad_theta of each output
    (one per data point) and their brackets up to ``levels`` deep, stopping at the first
    level that adds nothing to the rank at the point. Outputs, fields and brackets are
    polynomials in theta and the s over QQ (SymPy's sparse polynomial ring); the
    derivative in theta_j counts every s as a function of theta: ds = -s^3 dq / 2."""
    d = len(theta)
    symbols = list(theta) + [s for s, _ in scales]
    R, *_ = ring(symbols, QQ)
    ts = R.gens[:d]
    chain = [(R(s), R(q)) for s, q in scales]

    def derivative(f, j):
        out = f.diff(ts[j])
        for s, q in chain:
            out += f.diff(s) * (-s**3 / 2) * q.diff(ts[j])
        return out

    at = [point[v] for v in symbols]

    def value(field):
        return [sp.Rational(c.evaluate(list(zip(R.gens, at)))) if c else 0 for c in field]

    fields = [[derivative(R(y), j) for j in range(d)] for y in outputs]
    level, rows = fields, [value(f) for f in fields]
    rank = sp.Matrix(rows).rank()
    for _ in range(levels - 1):
        if rank == d:
            break
        new = []
        for x in fields:
            for y in level:
                new.append([sum((derivative(y[i], j) * x[j] - derivative(x[i], j) * y[j]
                                 for j in range(d)), R.zero) for i in range(d)])
        rows += [value(f) for f in new]
        grown = sp.Matrix(rows).rank()
        if grown == rank:
            break
        level, rank = new, grown
    return rank


def _square_variance(rng, n, centered):
    """An integer vector of length n whose variance (or mean square) is a nonzero
    rational square."""
    while True:
        v = [int(a) for a in rng.integers(-9, 10, n)]
        mean = Fraction(sum(v), n) if centered else 0
        q = sum((Fraction(a) - mean) ** 2 for a in v) / n
        if q and all(int(sp.sqrt(t)) ** 2 == t for t in (q.numerator, q.denominator)):
            return v


def test_count_of_rmsnorm_model_matches_sympy():
    # v @ rmsnorm(W x), W 2x2: data x chosen so that W0 x has a square mean square
    rng = np.random.default_rng(5)
    theta = sp.symbols("w0:4 v0:2")
    w = sp.Matrix(2, 2, theta[:4])
    v = sp.Matrix(theta[4:])
    w0 = sp.Matrix(2, 2, [3, 1, -2, 5])
    point = dict(zip(theta, [3, 1, -2, 5, 2, -7]))
    outputs, scales = [], []
    for k in range(4):
        target = sp.Matrix(_square_variance(rng, 2, centered=False))
        x = w0.inv() * target
        s = sp.Symbol(f"s{k}")
        y = w * x
        q = (y[0] ** 2 + y[1] ** 2) / 2
        scales.append((s, q))
        outputs.append((v.T * y)[0] * s)
        point[s] = 1 / sp.sqrt(q.subs(point))
    rank = _sympy_lie_rank(theta, outputs, scales, point)
    count = ca.parse("param W[2,2], v[2]\ninput x[2]\noutput v @ rmsnorm(W @ x)").count_laws()
    assert count.lie.trace_rank == rank and count.laws == 6 - rank


def test_count_of_weight_normalized_model_matches_sympy():
    # (v * layernorm(w)) @ x, w of 4 entries: s depends on theta only
    rng = np.random.default_rng(7)
    theta = sp.symbols("w0:4 v0:4")
    w, v = sp.Matrix(theta[:4]), sp.Matrix(theta[4:])
    w0 = _square_variance(rng, 4, centered=True)
    point = dict(zip(theta, w0 + [1, -3, 2, 5]))
    s = sp.Symbol("s")
    centered = w - sp.ones(4, 1) * (sum(w) / 4)
    q = sum(c ** 2 for c in centered) / 4
    point[s] = 1 / sp.sqrt(q.subs(point))
    outputs = []
    for k in range(6):
        x = sp.Matrix([int(a) for a in rng.integers(-5, 6, 4)])
        outputs.append(sum(v[i] * centered[i] * s * x[i] for i in range(4)))
    rank = _sympy_lie_rank(theta, outputs, [(s, q)], point, levels=2)
    count = ca.parse("param w[4], v[4]\ninput x[4]\noutput (v * layernorm(w)) @ x").count_laws()
    assert count.lie.trace_rank == rank and count.laws == 8 - rank


def test_count_of_batchnorm_model_matches_sympy():
    # batchnorm(X W^T) @ u, W 2x2, X [4,2]: each channel's column has a square variance
    rng = np.random.default_rng(11)
    theta = sp.symbols("w0:4 u0:2")
    w, u = sp.Matrix(2, 2, theta[:4]), sp.Matrix(theta[4:])
    w0 = sp.Matrix(2, 2, [2, -1, 1, 3])
    point = dict(zip(theta, [2, -1, 1, 3, 4, -1]))
    outputs, scales = [], []
    for k in range(3):
        target = sp.Matrix([_square_variance(rng, 4, centered=True),
                            _square_variance(rng, 4, centered=True)]).T      # [4, 2]
        x = target * w0.T.inv()                        # X W0^T = target
        y = x * w.T
        total = 0
        weights = [int(a) for a in rng.integers(1, 6, 4)]
        for j in range(2):
            s = sp.Symbol(f"s{k}_{j}")
            column = y[:, j]
            mean = sum(column) / 4
            q = sum((c - mean) ** 2 for c in column) / 4
            scales.append((s, q))
            point[s] = 1 / sp.sqrt(q.subs(point))
            total += sum(weights[b] * (column[b] - mean) * s * u[j] for b in range(4))
        outputs.append(total)
    rank = _sympy_lie_rank(theta, outputs, scales, point, levels=2)
    count = ca.parse("param W[2,2], u[2]\ninput X[4,2]\noutput batchnorm(X @ W.T) @ u").count_laws()
    assert count.lie.trace_rank == rank and count.laws == 6 - rank


# ------------------------------------------------------- every law passes exactly
MODELS = [
    "param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(W @ x{eps})",
    "param W[2,2], v[2]\ninput x[2]\noutput v @ rmsnorm(W @ x{eps})",
    "param W[2,3]\ninput X[4,3]\noutput batchnorm(X @ W.T{eps})",
    "param W[3,3], g[3]\ninput x[3]\noutput sum(g * layernorm(relu(W @ x){eps}))",
]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODELS), st.sampled_from(["", ", eps=1/7", ", eps=2"]),
       st.integers(0, 3))
def test_every_reported_law_passes_the_exact_reduction(template, eps, seed):
    model = ca.parse(template.format(eps=eps))
    exact = model.exact_normalized
    for h in model.laws(2, seed=seed).laws:
        assert exact.violation(h) is None


# -------------------------------------- a "no" at a point of the variety modulo p
@settings(max_examples=24, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True, database=None)
@given(st.sampled_from(MODELS), st.sampled_from(["", ", eps=1/7"]), st.integers(0, 3),
       st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(-3, 3)),
                min_size=1, max_size=4), st.booleans())
def test_a_refutation_agrees_with_the_exact_reduction(template, eps, seed, terms, with_law):
    # h = (optionally a law of the model) + a random quadratic: the exact reduction
    # (ExactModel) is the independent judge; a refutation must never call a law a
    # non-law, and without gates at 0/1 it finds every non-law here
    model = ca.parse(template.format(eps=eps))
    t = theta_ring(model.dim).gens()
    h = sum((c * t[i % model.dim] * t[j % model.dim] for i, j, c in terms), t[0] * 0)
    if with_law:
        laws = model.laws(2, seed=seed).laws
        h = h + (laws[0] if laws else 0)
    if h == 0:
        return
    judged = model.exact_normalized.violation(h)
    refuted = refutation(model.program, h, seed)
    if refuted is not None:
        assert judged is not None                   # never a law called a non-law
    if "relu" not in template:
        assert (refuted is None) == (judged is None)


def test_nine_groups_per_sample_are_still_counted():
    # 9 LayerNorm groups (rows of X): all variances squares at 1 draw in 512, within the
    # redraw rounds. By hand: layernorm over features is invariant under scaling W
    # (||W||_F^2) and under W -> W + u 1^T (each row sum of W: 3), and its rows sum to
    # 0, so v -> v + c 1 changes nothing (sum(v)): N = 5
    count = ca.parse("param W[3,3], v[3]\ninput X[9,3]\noutput sum(layernorm(X @ W) @ v)"
                     ).count_laws()
    assert count.laws == 5 and count.lie.bound_unproved is None


def test_check_without_points_of_the_variety_still_proves_a_law():
    # 12 LayerNorm groups per sample (one per row of X): all 12 variances are squares at
    # about 1 draw in 4,096, too rare to draw refuting points; ||W||_F^2 is still proved
    # conserved (layernorm(X @ (c W)) = layernorm(X @ W) for c > 0, by hand) by the
    # local check
    model = ca.parse("param W[3,3], v[3]\ninput X[12,3]\noutput sum(layernorm(X @ W) @ v)")
    norm = " + ".join(f"W[{i},{j}]^2" for i in range(3) for j in range(3))
    assert model.check(norm).conserved


def test_check_says_no_at_once_where_the_exact_expansion_cannot_fit(tmp_path):
    # examples/resnet_basic_block.net: ExactModel would hold about 10^11 terms. By hand,
    # h = W1[0,0,0,0]^2 has <grad h, grad y> = 2 W1[0,0,0,0] dy/dW1[0,0,0,0], not 0 on
    # the variety (the output depends on that weight), so it is not conserved; the
    # squared norm of the filter before a BatchNorm is (scale invariance)
    example = str(ROOT / "examples" / "resnet_basic_block.net")
    run = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "check", example,
                          "W1[0,0,0,0]^2", "--json", "--seed", "3"], capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    assert '"conserved": false' in run.stdout and "modulo p" in run.stdout
    norm = " + ".join(f"W1[0,0,{i},{j}]^2" for i in range(3) for j in range(3))
    run = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "check", example,
                          norm], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("conserved"), run.stderr


# ------------------------------------------- gates inside a variance: drawn at 0/1
def test_a_gate_inside_a_variance_is_not_linear():
    # s = q^(-1/2) is not polynomial in the gates q holds: such a model's gates are
    # not linear, even where q is linear in them
    assert not ca.parse("param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(relu(W @ x))"
                        ).program.gates_enter_linearly()
    assert ca.parse("param W[3,2], v[3]\ninput x[2]\noutput v @ relu(layernorm(W @ x))"
                    ).program.gates_enter_linearly()


GATED = ("param a[2], b[2]\ninput x[1]\n"
         "output sum(a * relu(x)) * sum(rmsnorm(cat(a * relu(x), b * x)))")


def _gated_output(g, x, a, b, s):
    # the model's output with gate value g and input x (and its q, for s^2 q = 1)
    y = g * x * (a[0] + a[1]) * (g * x * (a[0] + a[1]) + x * (b[0] + b[1])) * s
    q = x ** 2 * (g ** 2 * (a[0] ** 2 + a[1] ** 2) + b[0] ** 2 + b[1] ** 2) / 4
    return y, q


def test_gates_at_random_values_would_give_too_small_a_count():
    # By hand: the gate is 0 or 1. At g = 0 the output is 0. At g = 1, with n = (a, b)
    # and x != 0, rmsnorm(n x) = 2 sign(x) n / |n|, so the output is 2 |x| F with
    # F = (a0 + a1)(a0 + a1 + b0 + b1) / |n|: every generator is a multiple of grad F,
    # the Lie algebra is spanned by one field (its bracket with itself is 0), rank 1,
    # N = 4 - 1 = 3. Checked with SymPy on both 0/1 patterns; at gate values 4 and 11
    # (not 0/1: what a sampler drawing random residues would use) the rank is 4, N = 0.
    theta = sp.symbols("a0 a1 b0 b1")
    a, b = theta[:2], theta[2:]
    point = dict(zip(theta, [1, 2, 2, 4]))            # |n|^2 = 25
    outputs, scales = [], []
    for k, x in enumerate([1, 2, 3]):
        s = sp.Symbol(f"s{k}")
        y, q = _gated_output(1, x, a, b, s)
        outputs.append(y)
        scales.append((s, q))
        point[s] = 1 / sp.sqrt(q.subs(point))
        assert _gated_output(0, x, a, b, s)[0] == 0
    assert _sympy_lie_rank(theta, outputs, scales, point) == 1
    outputs, scales = [], []
    for k, (g, x) in enumerate([(4, 1), (11, 1), (4, 2), (11, 3)]):   # q = 25, 625/4 (x = 1)
        s = sp.Symbol(f"r{k}")
        y, q = _gated_output(g, x, a, b, s)
        outputs.append(y)
        scales.append((s, q))
        point[s] = 1 / sp.sqrt(q.subs(point))
    assert _sympy_lie_rank(theta, outputs, scales, point) == 4
    model = ca.parse(GATED)
    for seed in range(3):
        count = model.count_laws(seed=seed)
        assert count.lie.trace_rank == 1 and count.laws == 3
        # q = x^2 (g^2 |a|^2 + |b|^2) / 4: with the gate fixed its data part is the
        # square x^2, so at a fixed point its Legendre symbol never varies with the data,
        # and the variety of many samples of one pattern cannot be proved irreducible:
        # the bound stays uncertified
        assert count.lie.bound_unproved
    text = model.count_laws().to_text()
    assert "N <= 3, not certified: " in text
    assert "with certainty" not in text
    data = model.count_laws().to_json()
    assert data["error_bound"] is None and data["upper_bound_certified"] is False


def test_a_variance_whose_data_part_is_a_square_of_constant_sign_is_not_certified():
    # y = x (v + sum(rmsnorm(w (x^2 + 1)))) = x (v + sum(w) / rms(w)), as x^2 + 1 > 0:
    # every generator is x times the one field F = grad(v + sum(w)/rms(w)), so the Lie
    # algebra is spanned by F and N = 4 - 1 = 3. Modulo p the scale of each sample is
    # +-1/((x^2 + 1) rms(w)) with its own sign, and points mixing the signs have rank 2:
    # the count gives N <= 2, which is false, so it must not be certified
    model = ca.parse("param w[3], v\ninput x\noutput x * v + x * sum(rmsnorm(w * (x * x + 1)))")
    for seed in range(3):
        count = model.count_laws(seed=seed)
        assert count.lie.bound_unproved and "not certified" in count.to_text()
        assert "with certainty" not in count.to_text()
        assert count.to_json()["upper_bound_certified"] is False
    # and no "not conserved" is concluded from a point of such a variety
    assert model.check("w[0]^2 + w[1]^2 + w[2]^2").conserved


def test_a_gate_pattern_with_a_dependent_variance_leaves_the_bound_uncertified():
    # rmsnorm(relu(W @ x)) over two entries: the pattern with one gate open has the
    # variance (0^2 + e^2)/2 = e^2/2, one half times a square, so its variety s^2 e^2 = 2
    # is reducible (s = +-sqrt(2)/e). Such samples exist modulo p exactly when 2 is a
    # square, i.e. p = +-1 (mod 8) (the second supplement of quadratic reciprocity); the
    # other patterns' variances are independent. So the upper bound is certified
    # exactly for the primes p = +-3 (mod 8)
    model = ca.parse("param W[2,2], v[2]\ninput x[2]\noutput v @ rmsnorm(relu(W @ x))")
    seen = set()
    for seed in range(6):
        lie = model.count_laws(seed=seed).lie
        certified = lie.bound_unproved is None
        assert certified == (lie.prime % 8 in (3, 5)), (seed, lie.prime)
        seen.add(certified)
        assert lie.laws == 1          # ||W||_F^2 (rmsnorm is scale-invariant), and no other
    assert seen == {True, False}


def test_law_rows_with_gates_at_0_1_find_the_scale_law():
    # e = (a g x, d x): scaling (a, d) by c > 0 scales e by c at both gate values, and
    # rmsnorm(c e) = rmsnorm(e): |a|^2 + d^2 is a law (the rows of the two gate patterns
    # together must leave only the laws in the kernel)
    model = ca.parse("param a[3], d, c[4]\ninput x[1]\noutput c @ rmsnorm(cat(a * relu(x), d * x))")
    assert model.laws(2).strings() == ["a[0]^2 + a[1]^2 + a[2]^2 + d^2"]


def test_exact_check_reduces_the_gates_inside_the_variance():
    # q holds g^2 terms: the relation s^2 q = 1 is reduced by g^2 = g too; sum(W2 * W2)
    # is not a law here (the relu before the norm), the column sums of W2 are
    model = ca.parse("input x[2]\nparam W1[3,2], W2[3,3], v[1,3]\n"
                     "output v @ layernorm(W2 @ relu(W1 @ x))")
    gate = next(d for d in model.program.data if d.kind == "gate")
    first = model.program.num_params + gate.offset          # the gates' variables
    gates = range(first, first + gate.size)
    (_, q), = model.exact_normalized.relations
    assert any(g in m for m in q for g in gates)            # q holds the gates,
    assert all(m.count(g) <= 1 for m in q for g in gates)   # each reduced to degree 1
    assert model.check("W2[0,0] + W2[1,0] + W2[2,0]").conserved


# --------------------------------------------------- a ResNet basic block, bounded
RESNET_BLOCK = """input x[2,2,3,3]
param W1[2,2,3,3], g2[2,1,1], b2[2,1,1], W3[2,2,3,3], g4[2,1,1], b4[2,1,1]
output relu((g4 * batchnorm(conv2d(W3, relu(g2 * batchnorm(conv2d(W1, x, padding=1)) + b2), padding=1)) + b4) + x)
"""


def _address_limit():
    import resource
    limit = 4_000_000 * 1024            # ulimit -v 4000000
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_resnet_block_compiles_and_counts_within_bounded_memory(tmp_path):
    # The second batchnorm's variance holds the first ReLU's gates squared: compared
    # without expanding past the term budget (it used to be expanded whole, 24 GB).
    # Its laws, by hand (eps = 0, D = 80):
    # - batchnorm(k e) = batchnorm(e) per channel for k > 0, so scaling W1[c] (channel c
    #   of the first conv, no bias) or W3[c] changes nothing: E(k W1[c]) = E(W1[c]) gives
    #   <grad_W1[c] E, W1[c]> = 0, hence ||W1[c]||^2 and ||W3[c]||^2 (c = 0, 1) are laws;
    # - relu(k u) = k relu(u) for k > 0 (the gate is the same): scaling g2[i], b2[i] by k
    #   scales the first block's channel i by k, and W3[:, i] / k undoes it in the second
    #   conv, so g2[i]^2 + b2[i]^2 - ||W3[:, i]||^2 (i = 0, 1) are laws.
    # Six laws, independent (the W1 laws and the two W3 row norms hold disjoint
    # variables; only the last two hold g2[0], g2[1]), so N >= 6; with the count's
    # certain N <= 6, N = 6.
    path = tmp_path / "block.net"
    path.write_text(RESNET_BLOCK)
    done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "count", "--json",
                           str(path)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                          preexec_fn=_address_limit)
    assert done.returncode == 0, done.stderr
    import json
    data = json.loads(done.stdout)
    assert data["D"] == 80 and data["laws_at_most"] >= 6
    assert data["laws"] == 6          # the sampled bound meets the 6 laws derived by hand
    # every sampled gate pattern's variances proved independent: N <= 6 certain, no
    # probability for equality (gates drawn at 0/1)
    assert data["upper_bound_certified"] is True and data["equality_not_bounded"]
