"""The working prime: drawn from the seed, never an internal error on a vanishing
denominator, a true error bound; block laws re-verified against the whole model."""
import json
import math
import os
import subprocess
import sys

import pytest
import sympy
from flint import fmpq

import conslaw_algebra as ca
from conslaw_algebra.analyses import blocks
from conslaw_algebra.exact import modp
from conslaw_algebra.views.cli import main

MERSENNE = 2**31 - 1

# Two features a + b and a + 2^31 b (coefficients of x and y). 2^31 = 1 modulo
# 2^31 - 1, so modulo that prime they coincide; over QQ their gradients (1, 1) and
# (1, 2^31) are independent, W(theta) = R^2, and N = 0 (hand derivation).
COLLIDING = "param a, b\ninput x, y\noutput (a + b)*x + (a + 2147483648*b)*y\n"
# One feature ab/(2^31 - 1): its gradient is (b, a)/(2^31 - 1), D = 2, rank 1, N = 1;
# grad(a^2 - b^2) . (b, a) = 2ab - 2ab = 0, so a^2 - b^2 is the law (hand derivation).
VANISHING = "param a, b\ninput x\noutput 1/2147483647 * a*b*x\n"


def _cli(args, env=None):
    """Run the command line in a fresh process (CONSLAW_PRIME is read at import)."""
    script = "import sys; from conslaw_algebra.views.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))


@pytest.mark.parametrize("seed", range(12))
def test_features_equal_modulo_2_31_minus_1_give_no_law(seed):
    count = ca.parse(COLLIDING).count_laws(seed=seed)
    assert count.laws == 0 and count.lie.certain and count.to_json()["error_bound"] == 0
    assert sympy.isprime(count.lie.prime) and 2**30 < count.lie.prime < 2**31
    assert count.lie.prime != MERSENNE
    assert "certain: the Lie algebra's trace is all of R^D" in count.to_text()


def test_a_forced_prime_that_merges_the_features_is_never_called_certain(tmp_path):
    path = tmp_path / "colliding.net"
    path.write_text(COLLIDING)
    out = _cli(["count", str(path), "--json"], {"CONSLAW_PRIME": str(MERSENNE)})
    data = json.loads(out.stdout)
    # modulo 2^31 - 1 the rank is 1: the certain statement N <= 1 is true (N = 0) ...
    assert data["prime"] == MERSENNE and data["prime_forced"] is True
    assert data["laws_at_most"] == 1 >= 0
    # ... and N = 1 is not claimed: a forced prime is not random, no bound below 1
    assert data["error_bound"] == 1.0 and data["error_bound_prime"] is None
    text = _cli(["count", str(path)], {"CONSLAW_PRIME": str(MERSENNE)}).stdout
    assert "certain:" not in text and "error probability <= 1" in text
    assert "forced by CONSLAW_PRIME" in text


@pytest.mark.parametrize("seed", range(4))
def test_a_denominator_equal_to_a_prime_is_no_error(tmp_path, capsys, seed):
    path = tmp_path / "vanishing.net"
    path.write_text(VANISHING)
    assert main(["count", str(path), "--json", "--seed", str(seed)]) == 0
    assert json.loads(capsys.readouterr().out)["laws"] == 1
    assert main(["laws", str(path), "--format", "json", "--seed", str(seed)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["laws"] == ["a^2 - b^2"] and data["certified"] and data["lie_laws"] == 1
    assert main(["check", str(path), "a^2 - b^2"]) == 0
    assert main(["check", str(path), "a*b"]) == 1
    assert "internal error" not in capsys.readouterr().err


def test_a_denominator_divisible_by_the_drawn_prime_makes_the_next_draw():
    seed = 3
    first = modp.draw_prime(seed)[0]
    model = ca.parse(f"param a, b\ninput x\noutput 1/{first} * a*b*x\n")
    count = model.count_laws(seed=seed)
    assert count.lie.prime != first and sympy.isprime(count.lie.prime)
    assert count.lie.skipped_primes == (first,) and count.to_json()["primes_skipped"] == [first]
    assert count.laws == 1 and f"skipped {first}" in count.to_text()
    # deterministic: the same seed skips the same prime and lands on the same one
    assert model.count_laws(seed=seed).to_json() == count.to_json()
    laws = model.laws(2, seed=seed)
    assert laws.strings() == ["a^2 - b^2"] and laws.certified and laws.lie.prime == count.lie.prime


def test_a_forced_prime_dividing_a_denominator_is_bad_input(tmp_path):
    path = tmp_path / "vanishing.net"
    path.write_text(VANISHING)
    out = _cli(["count", str(path)], {"CONSLAW_PRIME": str(MERSENNE)})
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("conslaw: <environment>: CONSLAW_PRIME=2147483647 divides")
    assert len(out.stderr.splitlines()) == 1


def test_same_seed_same_prime_and_output_different_seeds_different_primes():
    model = ca.load("examples/relu_2layer.net")
    assert model.count_laws(seed=5).to_json() == model.count_laws(seed=5).to_json()
    assert model.laws(2, seed=5).to_json() == model.laws(2, seed=5).to_json()
    primes = [model.count_laws(seed=s).lie.prime for s in range(10)]
    assert len(set(primes)) >= 9 and all(sympy.isprime(p) for p in primes)
    assert model.laws(2, seed=5).to_json()["prime"] == primes[5]


def test_the_bound_adds_a_bad_prime_to_the_random_point():
    count = ca.load("examples/linear_3layer.net").count_laws(seed=0).lie
    assert not count.certain
    assert count.prime_bound > 0 and count.point_bound > 0
    assert count.error_bound == pytest.approx(count.point_bound + count.prime_bound)
    assert count.error_bound < 1e-3


def test_value_bounds_bound_the_l1_norms_of_the_expanded_entries():
    """The l1 norm of every output entry, expanded by SymPy, is at most the bound."""
    from conslaw_algebra.language.modular import value_bounds
    text = ("param W1[2,2], W2[1,2], c\ninput x[2]\n"
            "output W2 @ (W1 @ x + 1/3) * c^2 - 5/2 * c")
    model = ca.parse(text)
    bits, constants = value_bounds(model.program)
    w1 = sympy.Matrix(2, 2, sympy.symbols("w0:4"))
    w2 = sympy.Matrix(1, 2, sympy.symbols("v0:2"))
    c = sympy.Symbol("c")
    x = sympy.Matrix(sympy.symbols("x0:2"))
    value = sympy.expand((w2 * (w1 * x + sympy.Matrix([1, 1]) / 3))[0] * c**2
                         - sympy.Rational(5, 2) * c)
    l1 = sum(abs(coefficient) for coefficient in sympy.Poly(value).coeffs())
    output = model.program.outputs[0]
    assert l1 <= 2 ** bits[output] * (1 + 1e-12)
    # two denominators 3 and 2 in different terms: times 6^m it is an integer polynomial
    assert all(coefficient * 6 ** constants[output] == int(coefficient * 6 ** constants[output])
               for coefficient in sympy.Poly(value).coeffs())


def test_generator_bits_bound_the_norm_of_a_random_gradient():
    """log2 sum_j |d_j Phi|_1 for Phi = w1 psi_1 + w2 psi_2, denominators cleared."""
    model = ca.parse("param a, b\ninput x, y\noutput 3/2*a*b*x + a^2*y")
    a, b, x, y, w = sympy.symbols("a b x y w")
    phi = w * (sympy.Rational(3, 2) * a * b * x + a**2 * y)
    gradient = [sympy.expand(2 * sympy.diff(phi, v)) for v in (a, b)]   # times L = 2
    norm = sum(abs(k) for g in gradient for k in sympy.Poly(g, a, b, x, y, w).coeffs())
    assert math.log2(norm) <= model.system.generator_bits + 1e-9


# Features psi_i = sum_j A_ij T[j] written as repeated sums (no constant at all) with
# det A = 3 * 1174970761 (checked below by SymPy): modulo q = 1174970761 the rank of
# W drops by one. Over QQ, W(theta) = R^20 + the direction (v, u) of u*v*y: N = 1
# (D = 22, the law u^2 - v^2).
PATTERN = [
    "22313021021013033003", "00322002131312003131", "03313211203103313222",
    "20022213201303030322", "21103232220003310023", "02022303023121321010",
    "00013232133330002301", "02300013113023103012", "02000211233132020210",
    "03011203222033032202", "01111101110231011201", "01322203011223213122",
    "13000211021330232311", "32131221032131320100", "10320112012203201113",
    "22102212123130202331", "01232010211000121033", "11100120212133032211",
    "32102331303020103032", "01111022103130120010",
]
BAD = 1174970761


def _pattern_model() -> str:
    rows = [f"x[{i}]*(" + " + ".join(f"T[{j}]" for j, k in enumerate(row) for _ in range(int(k)))
            + ")" for i, row in enumerate(PATTERN)]
    return "param T[20], u, v\ninput x[20], y\noutput " + " + ".join(rows) + " + u*v*y\n"


def test_a_prime_dividing_a_minor_without_constants_is_in_the_bound(tmp_path):
    """The bad prime comes from no constant: the bound must still count it."""
    det = sympy.Matrix([[int(k) for k in row] for row in PATTERN]).det()
    assert det % BAD == 0 and det != 0 and sympy.isprime(BAD) and 2**30 < BAD < 2**31
    model = ca.parse(_pattern_model())
    for seed in range(3):
        lie = model.count_laws(seed=seed).lie
        assert lie.laws == 1 and lie.prime != BAD
        assert lie.prime_bound >= modp.prime_probability()    # at least one bad prime counted
    path = tmp_path / "pattern.net"
    path.write_text(_pattern_model())
    data = json.loads(_cli(["count", str(path), "--json"], {"CONSLAW_PRIME": str(BAD)}).stdout)
    # modulo the bad prime the count is too large; it says so only as an upper bound
    assert data["laws"] == 2 and data["laws_at_most"] == 2 and data["error_bound"] == 1.0


# ------------------------------------------------------------------ block laws
RESIDUAL = "input x[3]\nparam W1[4,3], b1[4], W2[3,4]\noutput x + W2 @ relu(W1 @ x + b1)"


def _sympy_whole_model_check(text, laws):
    """Whole-model fields by SymPy: the residual ReLU block written out by hand, each
    feature the coefficient of a monomial in the data x and the gates g."""
    w1 = sympy.Matrix(4, 3, sympy.symbols("W1_0:12"))
    b1 = sympy.Matrix(sympy.symbols("b1_0:4"))
    w2 = sympy.Matrix(3, 4, sympy.symbols("W2_0:12"))
    x = sympy.Matrix(sympy.symbols("x0:3"))
    g = sympy.symbols("g0:4")
    output = x + w2 * sympy.diag(*g) * (w1 * x + b1)
    theta = list(w1) + list(b1) + list(w2)           # declaration order, row-major
    features = [coefficient for entry in output
                for coefficient in sympy.Poly(sympy.expand(entry), *x, *g).coeffs()]
    t = {f"t{i}": s for i, s in enumerate(theta)}
    for h in laws:
        h = sympy.sympify(str(h).replace("^", "**"), locals=t)
        for psi in features:
            assert sympy.expand(sum(sympy.diff(h, v) * sympy.diff(psi, v) for v in theta)) == 0
    return len(features)


def test_every_block_law_passes_an_independent_whole_model_check():
    result = ca.parse(RESIDUAL).block_laws(2)
    laws = [h for block in result.blocks for h in block.laws]
    assert len(laws) == 4 and not any(block.rejected for block in result.blocks)
    assert _sympy_whole_model_check(RESIDUAL, laws) > 4


def test_a_wrong_law_injected_into_a_block_is_dropped_and_reported(monkeypatch, capsys, tmp_path):
    solve = blocks.polynomial_laws

    def with_a_wrong_law(fields, ring, degree, as_terms=False):   # the block's laws as terms
        wrong = {(0, 0): fmpq(1)} if as_terms else ring.gens()[0] ** 2  # W1[0,0]^2: not a law
        return solve(fields, ring, degree, as_terms=as_terms) + [wrong]

    monkeypatch.setattr(blocks, "polynomial_laws", with_a_wrong_law)
    monkeypatch.setattr(blocks, "SAMPLED_UNKNOWNS", 0)     # the block's expansion, not samples
    model = ca.parse("layers 2 -> 3 relu -> 2")
    result = model.block_laws(2)
    (block,) = result.blocks
    assert [str(h) for h, _ in block.rejected] == ["t0^2"]
    # grad(W1[0,0]^2) . grad psi = 2 W1[0,0] W2[k,0] x[0] g[0] for psi = W2[k,0] W1[0,0]
    assert "not zero" in block.rejected[0][1]
    assert len(block.laws) == 3 and result.complete      # one law per hidden neuron
    path = tmp_path / "m.net"
    path.write_text("layers 2 -> 3 relu -> 2\n")
    assert main(["laws", str(path), "--by-block"]) == 0
    out = capsys.readouterr().out
    assert "dropped, failed the whole-model check: W1[0,0]^2" in out
    assert main(["laws", str(path), "--by-block", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["law"] for r in data["blocks"][0]["rejected"]] == ["W1[0,0]^2"]
    assert "W1[0,0]^2" not in data["blocks"][0]["laws"]


def test_the_whole_model_check_sees_beyond_the_block():
    """Features abc (of x) and a (of y): a^2 - b^2 balances abc but not a, since
    grad(a^2 - b^2) . grad(a) = 2a; and a law with c is outside the block (a, b)."""
    model = ca.parse("param a, b, c\ninput x, y\noutput a*b*c*x + a*y")
    check = blocks.WholeModelCheck(model.program, {"a", "b"})
    a, b, c = model.state_ring.gens()
    assert check.violation(a**2 - b**2) is not None          # a*y breaks it: d/da (a) = 1
    assert check.violation(a**2 - b**2 - c**2) is not None   # c is outside the block
