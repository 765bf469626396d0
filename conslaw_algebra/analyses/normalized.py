"""Models with normalization layers: counts on a variety, laws checked by reduction.

A normalization call (``layernorm``, ``rmsnorm``, ``batchnorm``) gives each group of
entries a scale s with s^2 q = 1, q the group's variance (or mean square) plus eps: an
algebraic function of theta and the data, so the outputs are polynomials in theta, the
data x and the scales s, restricted to the variety V = {s_g^2 q_g = 1 for every g}.
There are no features (the outputs are not polynomial in theta), so everything is
done on points of V, and every claim is checked exactly by reduction with the relations.

**Counting** (``lie.py`` with ``modular.Evaluator``): the point theta and the data are
drawn uniformly modulo p and drawn again until every q_g is a nonzero square there
(the point again for groups without data, the data of each sample for the others);
s_g = 1/sqrt(q_g) modulo p, and its derivatives come from the relation
(ds = -s^3 dq / 2; on jets s = s0 (1 + N/q0)^(-1/2), a finite series). Every sampled
generator is then the value at a point of V(GF(p)) of a genuine generator, a polynomial
field in (theta, x, s) with the chain rule through s.
*Why the upper bound N <= D - rank stays certain.* Let P be a minor of the rows, a
polynomial in (theta, x, s) with rational coefficients whose denominators are prime to
p. Multiplying P by powers of the q_g (latest group first, since a q may hold earlier
scales) and using s_g^2 q_g = 1 writes Q P = sum_S A_S prod_{g in S} s_g on V, with
integer polynomials A_S in (theta, x) and Q a product of powers of the q_g: an identity
that holds on V over QQ and on V(GF(p)) alike. If the q_g are independent modulo
squares (below), the products prod_S s_g are linearly independent over QQ(theta, x)
(Kummer theory: the field of the s has degree 2^G), so V is irreducible and P = 0 on V
forces every A_S = 0, hence Q P = 0 at every point of V(GF(p)), where Q != 0. So a
nonzero minor at our point proves that P is not 0 on V: rank <= the generic rank on V,
which is the rank of the real model (its points with s > 0 are Zariski-dense in the
irreducible V). *Independence* is certified exactly before a count
(``independence``): a relation prod_{g in S} q_g = c r^2 would make the sum of
the Legendre symbols' bits over S the same at every point (modulo any good p), so bit
vectors whose differences span F_2^G, observed at random points, prove there is none;
groups whose q holds other scales are tested level by level at points of the variety
of the earlier levels. The count's samples share one point theta, so its rows lie on
the product of the samples' varieties over theta, irreducible when moreover no product
of one sample's q is f(theta) times a square (every sample would then hold sqrt(f),
and the real model, s > 0, may lie on one component only: y = x (v + sum(rmsnorm(w
(x^2 + 1)))) has N = 3 while points mixing the components give N <= 2). The same test
with theta held fixed and the data varied (``independence``, second part; rows in
blocks sharing theta) proves that; when it fails the count runs, but its bound is
said to be not certified (``lie.DATA_UNPROVED``), and ``check`` draws no refutation.
A model for which the first test fails is refused: ``layernorm(e)``
beside ``layernorm(2*e)`` (s_2 = s_1/2: write the value once), or a variance that is
itself a square, as over two entries a, b (((a - b)/2)^2: s = 2/|a - b| is piecewise,
V has two components); both make V reducible.
*Error bound* (the count too large in N): as in ``lie.py``, with two changes, each
multiplying the point term (a). The point is uniform on the points of V(GF(p)) with
q != 0; a nonzero F = sum_S A_S s^S on V vanishes only where its norm N(F) = prod over
the 2^G sign changes of the s does, a polynomial in (theta, x) of degree at most 2^G deg F;
and the points (theta, x) at which all G variances are squares are about a 2^-G share
(Weil's bound on character sums: up to O(G deg q / sqrt(p)), which we do not add), so
conditioning on them multiplies a probability by at most about 2^G. Hence the factor
4^G (``point_factor``) and a field degree in (theta, x, s) that counts the chain rule
(``normalized_degree``). What is assumed: that share; the bad-prime term (b) uses the
generators' l1 bounds with s counted as a data symbol of norm 1, not a bound on the
reduction by the relations. The error bound is therefore weaker, and for G beyond
about 10 it is 1: the certain upper bound is the part to rely on.

*Gates inside a variance* (a ReLU before a normalization): s = q^(-1/2) is not
polynomial in the gates q holds, so random gate values would not stand for 0/1 ones
(``Program.gates_enter_linearly`` says so). Such models draw every gate in {0, 1} and
every window one-hot (``modular.Evaluator.binary_gates``): each sample is then the
value of a genuine generator for that gate pattern, the argument above holds with the
gates fixed, and N <= D - rank stays certain. What is lost: Schwartz-Zippel over
{0, 1} bounds nothing (a nonzero minor, multilinear in the gates, may vanish at most
patterns), so no probability is given for equality ("equality not bounded"); and a
pattern whose variance is a constant times a square at the point is never admissible
there, which can only make N too large. The independence test before the count is
run with the same 0/1 draws, mixing patterns: it is not a proof for each pattern. So
the count remembers the distinct patterns of its samples (``flows.system``) and
``certify_patterns`` runs the Legendre test again for each, its gates fixed and theta
and the data random: when every pattern passes, each sample is a point of an
irreducible variety and N <= D - rank is certain (``LieCount.bound_unproved`` cleared
by ``api.Model.lie_count``); a pattern that fails (its variance a constant times a
square, as with a single open gate before a two-entry rmsnorm when that constant is a
square modulo p) leaves the bound "not certified". Cost: one forward pass of
``_PATTERN_POINTS`` points per pattern and round, usually one round (transformer
example: its 59 patterns in 0.01 s).

**Laws** of degree <= k (``normalized_laws``): the linear system <grad h, v> = 0 for
h = sum_m a_m theta^m is sampled at points of V modulo p (one random point, data and
carrier weights per row, as the count draws them), solved modulo p, lifted to QQ by
rational reconstruction, and each lifted law is **verified exactly**: first by the
local check (``local_check.py``: forward derivatives expanded only where they move,
which is what makes real blocks possible), and when that is inconclusive by
``ExactModel.violation``: for every carrier entry y_c, the derivative along grad h,
D y_c = sum_j h_j dy_c/dtheta_j with ds = -s^3 Dq / 2, is expanded as a polynomial in
(theta, x, s), gates reduced (g^2 = g), then reduced by each relation
(s^2 q = 1, multiplying by powers of q, latest group first) to sum_S A_S s^S; it is a
law exactly when every A_S is 0. That direction needs no independence, so a law
reported is conserved, with certainty; a lifted law that fails is never reported.
Every true law satisfies the sampled rows (the reduction identity holds modulo p), so
the kernel modulo p holds them all; when every lifted law passes, they are all of them.
With gates at 0/1 the rows of one pattern span less than generic rows, so each attempt
whose kernel held a non-law doubles the rows.
Where it stops winning: the unknowns are all C(D + k, k) - 1 monomials in one block
(no features, hence no grading), and the exact check expands the outputs in
(theta, x, s): small models (D up to a few dozen at degree 2).

>>> from conslaw_algebra.api import parse
>>> model = parse("param W[2,2], v[2]\\ninput x[2]\\noutput v @ rmsnorm(W @ x)")
>>> [str(h) for h in normalized_laws(model.program, 2, seed=0)[0]]
['t0^2 + t1^2 + t2^2 + t3^2']
"""
from __future__ import annotations

from math import comb

import numpy as np
from flint import fmpq, fmpq_mpoly_ctx

from ..errors import BudgetError
from ..language.canonical import term_bound
from . import guards
from ..exact.modp import draw_prime, is_square, kernel, using
from ..exact.render import render
from ..exact.sparse import Terms, ring_polynomial, sparse_terms
from ..language.expand import EXACT, entries, evaluate_node, reduce_gates, tangent_step, theta_ring
from ..language.modular import Evaluator, Sample, gate_pattern
from ..language.program import Program
from .local_check import reduce_scale
from .laws import _derivative_rows, _law_key, _monomial_array, _order_key, _primitive, lifted_kernel

MAX_UNKNOWNS = 20_000      # monomials of the sampled law system (one dense block)
_MARGIN = 16               # rows beyond the unknowns
_CERTIFY_BATCH = 64
_CERTIFY_ROUNDS = 64
_STREAM = 0x6E6F726D       # the seed's stream for these computations


def call_place(program: Program) -> tuple[str, int, int]:
    """(function, line, column) of the first normalization call of the model.

    >>> from conslaw_algebra.api import parse
    >>> call_place(parse("param w[3]\\noutput sum(layernorm(w))").program)
    ('layernorm', 2, 12)
    """
    return next(iter(program.normalizations.values()))


def _denominators(program: Program) -> list[int]:
    return sorted({n.attr.denominator for n in program.nodes
                   if n.op == "const" and n.attr.denominator > 1})


def _levels(program: Program) -> dict[int, int]:
    """Data index of each scale tensor -> its nesting level (1 + the deepest scale its q
    holds; 0 for none)."""
    depth: list[int] = []
    levels = {}
    for node in program.nodes:
        if node.op == "data" and node.attr in program.normalizations:
            levels[node.attr] = depth[program.sources[node.attr][1]]
            depth.append(levels[node.attr] + 1)
        else:
            depth.append(max((depth[a] for a in node.args), default=0))
    return levels


def _f2_rank(rows: list[int]) -> int:
    """Rank over F_2 of bit vectors given as integers.

    >>> _f2_rank([0b011, 0b101, 0b110])
    2
    """
    pivots: dict[int, int] = {}
    for row in rows:
        while row:
            top = row.bit_length() - 1
            if top not in pivots:
                pivots[top] = row
                break
            row ^= pivots[top]
    return len(pivots)


_SHARED_POINT = 8          # rows of a certificate sharing one theta: only the data vary


def independence(program: Program, seed: int = 0) -> tuple[bool, bool]:
    """(each sample's groups' q proved independent modulo squares (times constants),
    level by level: the differences of the Legendre bit vectors observed at random
    points span F_2^G, module header; and their data-dependent part independent for a
    fixed theta as well). False where the test did not succeed within its rounds.

    The second is what makes the variety of many samples sharing one point irreducible:
    the count's rows come from samples x_1, x_2, ... at one theta, on the fibre product
    of the samples' varieties over theta. If a product of some q of a sample were
    f(theta) r(theta, x)^2, then every sample would hold sqrt(f): the product splits into
    components (r_1 s_1 = +-r_2 s_2), the real model lies on one of them when r keeps its
    sign (r = x^2 + 1), and a point modulo p on another can have a larger rank (a count
    too small). For a fixed theta the sum of that product's Legendre bits would then not
    vary with the data, so bit-vector differences among rows sharing theta that span
    the data-dependent coordinates prove there is no such product.

    >>> from conslaw_algebra.api import parse
    >>> independence(parse("param W[3,3]\\ninput X[2,3]\\noutput layernorm(X @ W)").program)
    (True, True)

    The variance of two entries a, b is ((a - b)/2)^2, a square (s = 2/|a - b| is
    piecewise and V has two components); layernorm(2 e) has the scale of layernorm(e)
    halved: neither passes the first test.
    >>> independence(parse("param W[2,2]\\ninput X[2,2]\\noutput layernorm(X @ W)").program)[0]
    False
    >>> independence(parse("param W[2,2]\\ninput x[2]\\n"
    ...                    "output layernorm(W @ x) + layernorm(2 * W @ x)").program)[0]
    False
    >>> independence(parse("param w[3], v\\ninput x\\n"
    ...                    "output x * v + x * sum(rmsnorm(w * (x * x + 1)))").program)
    (True, False)
    """
    return _certify(program, seed, 1, [{}], _CERTIFY_BATCH)


def _data_dependent(program: Program, fixed) -> list[bool]:
    """Per node: does its value depend on data other than the ``fixed`` data tensors
    (a scale depends on what its q depends on)?"""
    dependent: list[bool] = []
    for node in program.nodes:
        if node.op == "data" and node.attr in program.normalizations:
            dependent.append(dependent[program.sources[node.attr][1]])
        elif node.op == "data":
            dependent.append(node.attr not in fixed)
        else:
            dependent.append(any(dependent[a] for a in node.args))
    return dependent


def _as_integer(bits) -> int:
    return int("".join("1" if b else "0" for b in bits) or "0", 2)


def _certify(program: Program, seed: int, stream: int, patterns: list[dict],
             rows_each: int) -> tuple[bool, bool]:
    """The Legendre certificates of ``independence``, for each gate pattern (data index
    -> fixed values; ``{}``: none fixed), ``rows_each`` random rows per pattern and round
    in blocks of ``_SHARED_POINT`` rows that share theta. Returns (every pattern's q
    independent, and every pattern's data-dependent part independent at a fixed theta);
    a pattern is given up after ``_CERTIFY_ROUNDS`` rounds."""
    levels = _levels(program)
    if not levels:
        return True, True
    fixed = set(patterns[0])
    dependent = _data_dependent(program, fixed)
    order = sorted(levels)
    columns: dict[int, list[bool]] = {level: [] for level in set(levels.values())}
    for k in order:
        columns[levels[k]] += [dependent[program.sources[k][1]]] * program.data[k].size
    masks = {level: np.array(c) for level, c in columns.items()}
    evaluator = Evaluator(program)
    # per pattern and level: all rows' bits, and the differences within shared thetas
    found = [{level: ([], []) for level in columns} for _ in patterns]
    whole = {i: False for i in range(len(patterns))}
    within = {i: False for i in range(len(patterns))}
    alive = list(range(len(patterns)))
    p, _ = draw_prime(seed, _denominators(program))
    with using(p):
        rng = np.random.default_rng([seed, _STREAM, stream])
        for _ in range(_CERTIFY_ROUNDS):
            batch = rows_each * len(alive)
            theta = np.repeat(rng.integers(0, p, (batch // _SHARED_POINT, program.num_params),
                                           dtype=np.int64), _SHARED_POINT, axis=0)[None]
            sample = evaluator.sample(rng, batch)
            data = list(sample.data)
            for k in fixed:
                values = np.stack([np.asarray(patterns[i][k], dtype=np.int64) for i in alive])
                data[k] = np.repeat(values, rows_each, axis=0)[None]
            values = evaluator.forward(theta, Sample(tuple(data), sample.weights), misses={})
            square, nonzero = {}, {}
            for k in levels:
                q0 = np.broadcast_to(values[program.sources[k][1]][0],
                                     (batch, program.data[k].size))
                square[k], nonzero[k] = is_square(q0), q0 % p != 0
            for level, mask in masks.items():
                valid = np.ones(batch, dtype=bool)
                for k, l in levels.items():
                    if l < level:
                        valid &= square[k].all(axis=1)
                    elif l == level:
                        valid &= nonzero[k].all(axis=1)
                bits = np.concatenate([~square[k] for k in order if levels[k] == level], axis=1)
                for j, i in enumerate(alive):
                    every, differences = found[i][level]
                    for start in range(j * rows_each, (j + 1) * rows_each, _SHARED_POINT):
                        rows = [r for r in range(start, start + _SHARED_POINT) if valid[r]]
                        every += [_as_integer(bits[r]) for r in rows]
                        differences += [_as_integer((bits[r] ^ bits[rows[0]]) & mask)
                                        for r in rows[1:]]
            for i in alive:
                whole[i] = all(every and _f2_rank([r ^ every[0] for r in every[1:]]) == len(masks[l])
                               for l, (every, _) in found[i].items())
                within[i] = all(_f2_rank(differences) == int(masks[l].sum())
                                for l, (_, differences) in found[i].items())
            alive = [i for i in alive if not (whole[i] and within[i])]
            if not alive:
                break
    return all(whole.values()), all(within.values())


_PATTERN_POINTS = 16      # random points per gate pattern and round


def certify_patterns(program: Program, patterns, seed: int = 0) -> bool:
    """True when, for every gate pattern given, the groups' q with those gate values
    are proved independent modulo squares, level by level, both ways of ``independence``
    (each sample, and the data's part at a fixed theta), as it proves them with random
    gates: then the variety of samples with these patterns at one point is irreducible
    and a count whose samples have these patterns keeps N <= D - rank certain (module
    header). ``patterns``: one dict per pattern, gate data index -> its 0/1 values in
    one sample (shape of the data tensor). False when some pattern fails its rounds
    (its variances may be dependent, as when every gate before a variance is 0), and
    when a variance depends on the gates but on no other data: its value is then one
    function of theta per pattern, shared by the samples of that pattern at the count's
    point, and those functions are not compared across patterns.

    >>> from conslaw_algebra.api import parse
    >>> program = parse("param W[3,3], g[3]\\ninput x[3]\\n"
    ...                 "output sum(g * layernorm(relu(W @ x)))").program
    >>> gate = next(k for k, d in enumerate(program.data) if d.kind == "gate")
    >>> certify_patterns(program, [{gate: np.ones(3, dtype=np.int64)}])
    True

    With one gate of three open the variance of (a, 0, 0) is 2 a^2 / 9: a constant times
    a square, and s = 3 / (sqrt(2) |a|) is piecewise.
    >>> certify_patterns(program, [{gate: np.array([1, 0, 0])}])
    False
    """
    if not patterns:
        return True
    gates = set(patterns[0])
    with_gates, without = _data_dependent(program, ()), _data_dependent(program, gates)
    variances = [program.sources[k][1] for k in program.normalizations]
    if any(with_gates[q] and not without[q] for q in variances):
        return False    # a variance of theta and gates only: one per pattern, not compared
    return all(_certify(program, seed, 4, list(patterns), _PATTERN_POINTS))


def normalized_degree(program: Program) -> int:
    """A bound on the degree of a generator field in (theta, x, s) after the chain rule
    through the scales (ds = -s^3 dq / 2 raises a degree by at most deg q + 2 per
    scale met on the way): the largest carrier degree times 1 + sum (deg q + 2) over the
    scale tensors.

    >>> from conslaw_algebra.api import parse
    >>> normalized_degree(parse("param w[2]\\noutput sum(rmsnorm(w))").program)   # 2 (1 + 2 + 2)
    10
    """
    degrees = program._degrees(lambda node: 1 if node.op in ("param", "data") else 0)
    carriers = max(degrees[c] for c, _ in program.carriers)
    extra = sum(degrees[program.sources[k][1]] + 2 for k in program.normalizations)
    return max(1, carriers * (1 + extra))


# ------------------------------------------------------------------ exact check
EXACT_TERM_BYTES = 250   # a sparse term: its monomial tuple, coefficient and dict slot (measured 160-200)


def _sizes(value) -> tuple[int, int]:
    """(largest entry, total) term counts of an exact value (None: a zero tangent)."""
    if value is None:
        return (0, 0)
    lengths = [len(entry) for entry in value.reshape(-1)]
    return (max(lengths, default=0), sum(lengths))


class ExactModel:
    """The model's values as exact polynomials in (theta, x, s), once, and the derivative
    of every carrier along a direction u(theta), reduced by the relations.

    Variables: theta 0..D-1, then the data symbols (inputs, gates, smooth values and the
    scales s) from D on, as ``expand.Exact`` numbers them.

    >>> from conslaw_algebra.api import parse
    >>> model = ExactModel(parse("param w[2]\\noutput sum(rmsnorm(w))").program)
    >>> len(model.relations)
    1
    """

    def __init__(self, program: Program, memory_budget: int | str | None = None):
        self.program = program
        self.dim = program.num_params
        self.memory_budget = memory_budget
        self.terms = 0                 # terms held so far (values, then tangents)
        self.values: list[np.ndarray] = []
        for index, node in enumerate(program.nodes):
            self._admit(node, [_sizes(self.values[a]) for a in node.args])
            self.values.append(evaluate_node(program, index, self.values))
            self.terms += _sizes(self.values[-1])[1]
        self.relations = []            # (variable of s, its q as reduced Terms), latest first
        for k in program.normalizations:
            info = program.data[k]
            qs = entries(self.values[program.sources[k][1]])
            for j in range(info.size):
                self.relations.append((self.dim + info.offset + j,
                                       Terms(reduce_gates(program, qs[j]))))
        self.relations.sort(key=lambda r: -r[0])

    def _admit(self, node, args: list[tuple[int, int]]) -> None:
        """Refuse, before it is computed, a node whose terms (bounded from its arguments'
        actual sizes, ``canonical.term_bound``) would take the memory over the budget."""
        inner = 1
        if node.op == "matmul" and self.program.nodes[node.args[0]].shape:
            inner = self.program.nodes[node.args[0]].shape[-1]
        bound = term_bound(node, args, inner) if args else node.size
        guards.require((self.terms + bound) * EXACT_TERM_BYTES,
                       f"verifying laws exactly on the variety (the model expanded in theta, "
                       f"the data and the scales: over {self.terms + bound:,} terms)",
                       "conslaw count does not need it; laws of a model this large with "
                       "normalization layers cannot be verified exactly yet",
                       self.memory_budget)

    def tangents(self, direction: list) -> list:
        """D(node) for every node along ``direction`` (D Terms, one per parameter), with
        ds = -s^3 Dq / 2: forward-mode differentiation on exact values (None = 0)."""
        program, values = self.program, self.values
        out: list = []
        half = fmpq(-1, 2)
        held = self.terms
        for i, node in enumerate(program.nodes):
            op = node.op
            if out and out[-1] is not None:
                self.terms += _sizes(out[-1])[1]
            if op in ("mul", "matmul", "pow") and any(out[a] is not None for a in node.args):
                # D(a b) = Da b + a Db: each part bounded like a product
                self._admit(node, [_sizes(out[a] if out[a] is not None else values[a])
                                   for a in node.args])
            if op == "param":
                info = program.params[node.attr]
                value = np.empty((1,) + node.shape, dtype=object)
                flat = value.reshape(-1)
                for k in range(info.size):
                    flat[k] = direction[info.offset + k]
                out.append(value)
            elif op == "const":
                out.append(None)
            elif op == "data":
                if node.attr in program.normalizations:
                    dq = out[program.sources[node.attr][1]]
                    s = values[i]
                    out.append(None if dq is None else EXACT.times(EXACT.multiply(
                        EXACT.multiply(EXACT.multiply(s, s), s), dq), half))
                else:
                    out.append(None)
            elif all(out[a] is None for a in node.args):
                out.append(None)
            else:                       # product rule, pow, linear (``expand.tangent_step``)
                out.append(tangent_step(program, node, [out[a] for a in node.args],
                                        values.__getitem__))
        self.terms = held
        return out

    def reduce(self, entry: dict) -> Terms:
        """``entry`` reduced by the gates' relations and by s^2 q = 1 for every scale:
        the coefficients A_S of sum_S A_S s^S (times powers of the q), as one Terms.

        >>> from conslaw_algebra.api import parse
        >>> model = ExactModel(parse("param w[1]\\ninput x[1]\\noutput rmsnorm(w * x)").program)
        >>> model.relations                 # s is variable 2, q = w^2 x^2
        [(2, {(0, 0, 1, 1): 1})]
        >>> model.reduce({(0, 0, 1, 1, 2, 2): fmpq(1), (): fmpq(-1)})   # s^2 w^2 x^2 - 1
        {}
        """
        out = Terms(reduce_gates(self.program, entry))
        for var, q in self.relations:
            out = reduce_scale(self.program, out, var, q)
        return out

    def violation(self, h) -> tuple[str, Terms] | None:
        """(carrier entry, its reduced derivative) for the first carrier entry whose
        derivative along grad h is not 0 on the variety, or None: h is a law, exactly.

        >>> from conslaw_algebra.api import parse
        >>> program = parse("param W[2,2], v[2]\\ninput x[2]\\noutput v @ rmsnorm(W @ x)").program
        >>> model, ring = ExactModel(program), theta_ring(6)
        >>> t = ring.gens()
        >>> model.violation(t[0]**2 + t[1]**2 + t[2]**2 + t[3]**2) is None
        True
        >>> model.violation(t[0]**2)[0]
        'output 1'
        """
        direction = [Terms(dict(sparse_terms(h.derivative(j)))) if d else Terms()
                     for j, d in enumerate(h.degrees())]
        tangents = self.tangents(direction)
        for carrier, label in self.program.carriers:
            value = tangents[carrier]
            if value is None:
                continue
            shape = self.program.nodes[carrier].shape
            for flat, entry in enumerate(entries(value)):
                reduced = self.reduce(entry)
                if reduced:
                    where = label + ("[" + ",".join(map(str, np.unravel_index(flat, shape)))
                                     + "]" if shape else "")
                    return where, reduced
        return None

    def render(self, terms: Terms, names) -> str:
        """Reduced terms as text, with the parameters' and data symbols' names."""
        data = []
        for info in self.program.data:
            data += info.entry_names()
        ring = fmpq_mpoly_ctx.get(("v", self.dim + len(data)), "degrevlex")
        return render(ring_polynomial(ring, terms), list(names) + data)


# ------------------------------------------------------------------ sampled laws
REFUTATION_ROWS = 8        # sampled generators a non-law is tested against


def refutation(program: Program, h, seed: int = 0,
               rows: int = REFUTATION_ROWS) -> tuple[int, int, int] | None:
    """A proof that ``h`` is not conserved, or None (no proof either way): (p, row, value)
    with ``value`` = <grad h, v> != 0 modulo p for the generator v of sampled ``row``, at
    a point of the variety modulo p drawn from ``seed``.

    Why it is a proof: each row is one sample with its own point, v = sum_c w_c grad y_c
    at a point of the variety V of one sample modulo p. V is irreducible (the model was
    admitted by ``independence``), so its real points with s > 0 are dense in it
    and a law, <grad h, grad y_c> = 0 there, vanishes on all of V: reduced by the
    relations it is sum_S A_S s^S with every A_S = 0 (module header), an identity over QQ
    that holds modulo p wherever it is defined: p divides no denominator of the model or
    of h. So a nonzero value at one point is impossible for a law. With gates drawn at
    0/1 the row counts only when its gate pattern's variety is proved irreducible too
    (``certify_patterns``' first test, for that pattern).
    This needs no expansion, which is what lets ``check`` answer "not conserved" for
    real blocks whose exact expansion cannot fit.

    >>> from conslaw_algebra.api import parse
    >>> program = parse("param W[2,2], v[2]\\ninput x[2]\\noutput v @ rmsnorm(W @ x)").program
    >>> t = theta_ring(6).gens()
    >>> refutation(program, t[0]**2 + t[1]**2 + t[2]**2 + t[3]**2) is None
    True
    >>> refutation(program, t[0]**2)[2] != 0
    True
    """
    dim = program.num_params
    terms = [(tuple(e), c) for e, c in h.terms()]
    avoid = _denominators(program) + [int(c.q) for _, c in terms if c.q > 1]
    p, _ = draw_prime(seed, avoid)
    with using(p):
        evaluator = Evaluator(program)
        if evaluator.draw_refusal(rows):
            return None             # no points of the variety to be had: no refutation
        rng = np.random.default_rng([seed, _STREAM, 3])
        points, sample = evaluator.admissible(rng, rows)
        moved = evaluator.gradient(points, sample)[0]
        theta = points[0]
    terms = [(e, int(c.p) * pow(int(c.q), -1, p) % p) for e, c in terms]
    for row in range(rows):
        point = [int(v) for v in np.broadcast_to(theta[row % theta.shape[0]], (dim,))]
        velocity = [int(v) for v in moved[row]]
        total = 0
        for exponents, coefficient in terms:
            powers = [(j, k) for j, k in enumerate(exponents) if k]
            for j, k in powers:
                term = coefficient * k * pow(point[j], k - 1, p) * velocity[j]
                for i, m in powers:
                    if i != j:
                        term = term * pow(point[i], m, p) % p
                total = (total + term) % p
        if total and (not evaluator.binary_gates or _certify(
                program, seed, 5, [gate_pattern(program, sample, row)], _PATTERN_POINTS)[0]):
            return p, row, total
    return None


def normalized_laws(program: Program, degree: int, seed: int = 0, exact=None,
                    attempts: int = 3) -> tuple[list, int]:
    """A basis of the polynomial laws of degree 1..``degree`` of a model with
    normalization layers, each verified exactly (module header); and how many lifted
    candidates failed the exact check (0 when the basis is complete for the degree).

    ``exact``: the check of a lifted law, with ``ExactModel.violation``'s answer (made
    here when not given: ``local_check.Verifier``, the local check first, then
    ``ExactModel``).
    """
    dim = program.num_params
    unknowns_count = comb(dim + degree, degree) - 1
    if unknowns_count > MAX_UNKNOWNS:
        raise BudgetError(f"the degree-{degree} law system of a model with normalization "
                          f"layers has {unknowns_count:,} unknowns, sampled in one block "
                          f"(limit {MAX_UNKNOWNS:,}); use a lower --degree")
    if exact is None:
        from .local_check import Verifier
        exact = Verifier(program, lambda: ExactModel(program))
    ring = theta_ring(dim)
    evaluator = Evaluator(program)
    monomials = _monomial_array(dim, degree)
    unknowns = {i: tuple(int(v) for v in monomials[i] if v < dim) for i in range(len(monomials))}
    order = sorted(range(len(monomials)), key=lambda c: _order_key(unknowns[c]))
    failed = 0
    for attempt in range(attempts):
        p, _ = draw_prime(seed + attempt, _denominators(program))
        with using(p):
            rng = np.random.default_rng([seed, _STREAM, 2, attempt])
            count = len(monomials) + _MARGIN
            if evaluator.binary_gates:
                # rows of one gate pattern span less than generic rows: more rows on
                # each attempt whose kernel held a non-law
                count *= 2 ** (attempt + 1)
            points, sample = evaluator.admissible(rng, count)
            value = evaluator.gradient(points, sample)[0]
            theta = np.ones((count, dim + 1), dtype=np.int64)
            theta[:, :dim] = points[0]
            moved = np.zeros((count, dim + 1), dtype=np.int64)
            moved[:, :dim] = value
            rows = _derivative_rows(monomials[order], theta, moved)
            basis = kernel(rows)
            if basis.shape[0] == 0:
                return [], 0
            rows_lifted = lifted_kernel(basis, p)
        laws, failed = [], 0
        for lifted in rows_lifted:
            if lifted is not None:
                law = _primitive({order[k]: v for k, v in lifted.items()}, unknowns)
                h = ring_polynomial(ring, {unknowns[c]: v for c, v in law.items()})
                if exact.violation(h) is None:
                    laws.append(law)
                    continue
            failed += 1
        if not failed:
            break
    laws.sort(key=lambda law: _law_key(law, unknowns))
    return [ring_polynomial(ring, {unknowns[c]: v for c, v in law.items()}) for law in laws], failed
