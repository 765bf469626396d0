"""N = D - dim Lie(W)(theta), decided exactly over GF(p) by frame closure.

Algorithm (all values exact residues modulo a prime p drawn from the seed, in
(2^30, 2^31), or in (2^25, 2^26) from D = 8,192 on, at one random point theta):
1. Span of W(theta): evaluate random generators in doubling batches until a batch
   leaves the rank below the number of samples.
2. Chains: for random X, Y in W, the nested brackets ad_X^n Y = [X, [X, ..., [X, Y]]]
   for n = 1..K all come from one computation along the curve of X through theta
   (``fields.Chains``: the curve as a power series in time, then n derivatives
   along it). Values outside the span are adopted. While some order adopts as many
   values as there are pairs, the next trial doubles the pairs (a wide algebra: its
   low levels are not exhausted, so no deeper); else, while a trial adopts at its top
   order K, the next doubles K; otherwise the chains are saturated.
3. Closure: for one random X in W, [X, F](theta) for every adopted field F and for
   random F in W (each adopted family evaluated once, at theta + e X(theta)). Values
   outside the span are adopted as brackets [X, F]. When two rounds adopt nothing,
   [X, F] lies in the span for the generators X and every field F of the frame: the
   distribution the frame spans near theta contains W and is carried into itself by
   every bracket with W, so it contains all right-nested brackets of generators,
   which span Lie(W) (THEORY.md A.3): it is the trace of Lie(W), and N = D - rank.
Why: the reference's stagnation rule prunes by values at one point and can stop
early; closure of the frame is the Frobenius criterion itself. Why chains: a bracket
nested k deep, evaluated as brackets of brackets, needs jets in k nilpotent
directions, 2^k components multiplied at 3^k cost, and four evaluations per level:
the deep narrow linear net (``layers 2 -> 2 -> ... -> 1``, L hidden layers) needs
levels up to about sqrt(2 L) + 1 and took 1.7 s at L = 6, 17 s at L = 10, more than
120 s at L = 14. Along one curve the same brackets cost K evaluations of X on power
series of order <= K (products of about K^2/2 terms) and K derivatives: O(K^3)
products for all levels <= K + 1 at once. Measured on a busy machine: 0.16 s at
L = 12 (13 s before, same run), 0.7 s at L = 32, 2.6 s at L = 64 (D = 258, levels up
to 13), time growing like L^1.45 to L^1.7 (BENCHMARKS.md, ``--only deep-linear``).
Certainty: every adopted vector is the value, reduced modulo p, of a genuine element
of Lie(W), a polynomial field whose rational coefficients have denominators prime to
p (``modp.draw_prime`` skips primes dividing a denominator of the model). Vectors
independent modulo p have a nonzero minor modulo p, hence a nonzero minor over QQ:
rank <= the generic rank r* of the trace over QQ, and N <= D - rank hold with
certainty, for every prime and every point; rank = D makes N = 0 certain.
Error bound: the answer is too large in N only when rank < r*. Its probability is at
most the sum of two terms (``error_bound``; ``point_bound`` and ``prime_bound``):
(a) the point. When p is good for the model (below), every test the run made
    asks whether a polynomial that is nonzero modulo p vanishes at the random choices
    (point, data, weights, combination coefficients, uniform in GF(p)); by
    Schwartz-Zippel over GF(p) each misses with probability at most its degree over
    p: decisions * (rank + 1) * degree / p in all.
(b) the prime. Were rank < r*, some final test must have missed (the closure
    criterion the algorithm rests on): the last generator batch (one more generator
    is outside the span of the g generator rows), or in one of the last two closure
    rounds, which adopt nothing, [X, F] is outside the span of the final rows for F
    a random combination of the frame (all [X, F_b] in the span puts every
    combination there; with no field adopted beyond W, a chain trial that adopts
    nothing is such a round: its [X, Y], Y random in W). Such a test asks whether P = 0, P a
    (rows + 1)-minor of the matrix of the final rows and the candidate, each row
    written over QQ with all its random choices as variables. A prime is bad when
    P != 0 over QQ but P = 0 modulo p: then p divides every coefficient of the
    integer polynomial L^M P (L the common multiple of the constants' denominators,
    M the number of constants multiplied), so one nonzero integer c. Expanding the
    determinant, |c| <= |L^M P|_1 <= the product of the rows' l1 norms (sums of
    |coefficients| over the components), and ``Field.bits`` bounds each row's log2:
    generators by ``numeric.value_bounds`` through the program (``flows.py``), a
    bracket [X, Y] by bits X + bits Y + log2(deg X + deg Y), a combination of w
    fields by the largest bits + log2 w. A nonzero integer below 2^b has fewer than
    b/30 prime factors above 2^30, so at most K = sum over the final tests of
    (ceil(b_P / 30) - 1) primes are bad (b/25 and 2^25 for a prime below 2^26). The
    prime is drawn from its own stream of the seed, independently of the point; any
    given prime comes out with probability at most pi = 336 / (2^30 - 1), or
    336 / (2^25 - 1) (336 exceeds every prime gap below 2^32; the
    skips divide by one minus their probability: ``modp.prime_probability``). So
    P(p bad) <= K * pi, and for a good p, (a) applies.
What is assumed: as in (a), which tests are made (the chains, the rounds, the rows) is
taken as the run reached them; the closure criterion above. A count modulo a prime
forced by CONSLAW_PRIME has no randomness in p, so (b) does not exist: when it is not
certain, its ``error_bound`` is 1 and ``point_bound`` says what (a) alone gives.
Why not bound (b) by the bit sizes of the model's constants alone: sums of
parameters with no constant at all (features sum_j A_ij theta_j, A a 0/1 pattern)
give minors that are determinants of 0/1 matrices, and one of a few dozen rows can
have a prime factor above 2^30; the l1 norms of the rows see that, constants do not.
The price: (b) is the larger term, about 1e-5 for a 50-parameter ReLU net and growing
with D * bits per row (6e-3 for the deep narrow linear net at L = 64), against (a)'s
1e-6.
Why a shorter prime for large D: there the dense rank of D + 1 generator samples
is nearly all the time, and its products need two floating-point limbs instead of
three below 2^26 (``modp``): about 1.5 times faster at D = 10,650, for a bound about
40 times weaker (still stated exactly, as above).
Where it stops winning: the dense echelon form costs r*D per adopted vector. Chains
give the brackets of one generator with itself and another; the rest comes from the
closure rounds, whose adopted brackets nest one level deeper per round (the old
exponential again, when many rounds adopt: none of the layered, attention, momentum
or example models needs more than one). A model whose curves need very high orders
pays K^3 in the series products; see BENCHMARKS.md.

>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> from conslaw_algebra.flows.system import GradientFlow
>>> flow = GradientFlow(compile_program(parse("layers 2 -> 2 -> 2"))[0])
>>> result = count_laws(flow, seed=1)
>>> result.dim, result.trace_rank, result.laws
(8, 5, 3)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..exact import modp
from ..flows.fields import Brackets, Chains, Field, Repeated, chain_values
from ..errors import ConslawError
from ..exact.modp import PRIME_ERROR, Span, draw_prime, prime, prime_probability, using
from ..progress import report

_FIRST_BATCH = 16
_JUMP_AFTER = 512
_MAX_PAIR_BATCH = 256
_CONFIRMING_ROUNDS = 2
_CHAIN_BATCH = 8           # random pairs (X, Y) in the first chain trial
_FIRST_ORDER = 1           # brackets nested up to this depth in the first chain trial
_MAX_ORDER = 256           # and never deeper (series of higher order cost K^3)
SHORT_PRIME_DIM = 8192     # from this D on, a prime below 2^26: two-limb products
_CLOSURE_SAMPLES = 2       # random elements of W bracketed in each closure round


# A count on the variety of normalization scales (``normalized.py``): its error bound
# rests on the share of points where every variance is a square (not proved)
NORMALIZED_ASSUMPTION = ("an estimate: it assumes the variances are squares modulo p at "
                         "about half the points each (analyses/normalized.py)")


# A count whose gates are drawn at 0/1 (``modular.Evaluator.binary_gates``): nothing
# bounds P(N < laws); and N <= laws is certain only once the variances are proved
# independent for each gate pattern sampled (``normalized.certify_patterns``, run by
# ``api.Model.lie_count``, which clears ``bound_unproved`` when it succeeds)
GATES_UNBOUNDED = ("gates drawn at 0/1: no probability bounds N = laws, since a nonzero "
                   "minor may vanish at most 0/1 patterns")
GATES_UNPROVED = ("the gates are drawn at 0/1, and the variances' independence is not "
                  "proved for each gate pattern sampled")
# A count on the variety of normalization scales whose variances' data part is not
# proved independent at a fixed point (``normalized.independence``): the samples' variety
# may be reducible, and a point modulo p off the real model's component
DATA_UNPROVED = ("a variance's dependence on the data is not proved free of a factor in "
                 "theta alone times a square, so the samples' variety may be reducible "
                 "(analyses/normalized.py, independence)")


@dataclass(frozen=True)
class LieCount:
    """The outcome of a count, with everything needed to reproduce and trust it.

    >>> LieCount(dim=3, generator_rank=1, trace_rank=1, seed=0, prime=7, error_bound=0.0).laws
    2
    """

    dim: int                 # D (dimension of the state space)
    generator_rank: int      # dim W(theta)
    trace_rank: int          # dim Lie(W)(theta)
    seed: int
    prime: int
    error_bound: float       # P(trace_rank < the generic dimension) at most this
    adopted: dict = field(default_factory=dict)   # level -> number of adopted brackets
    tests: int = 0           # bracket values evaluated
    point_bound: float = 0.0                # (a): the random point, given a good prime
    prime_bound: float | None = 0.0         # (b): a bad prime; None when the prime is forced
    skipped_primes: tuple[int, ...] = ()    # drawn first, but dividing a denominator
    prime_forced: bool = False              # set by CONSLAW_PRIME
    bound_assumes: str | None = None        # what an error bound rests on beyond proof
    unbounded: str | None = None            # why no probability is given for N = laws
    bound_unproved: str | None = None       # why N <= laws is not certain (None: it is)

    @property
    def laws(self) -> int:
        """N = D - dim Lie(W)(theta): the number of independent conservation laws."""
        return self.dim - self.trace_rank

    @property
    def certain(self) -> bool:
        """True when the trace is all of R^D: then N = 0 with no probability attached
        (not when the upper bound itself is unproved, ``bound_unproved``)."""
        return self.trace_rank == self.dim and not self.bound_unproved


def count_laws(system, seed: int = 0) -> LieCount:
    """Count the independent conservation laws of a flow's generator family.

    ``system`` provides ``dim``, ``generators(rng, batch)``, ``field_degree``,
    ``sample_degree``, ``generator_bits`` and ``denominators`` (see ``flows.py``).
    The prime and the point are drawn from the seed: the same seed gives the same
    result.

    >>> from conslaw_algebra.api import parse
    >>> count = count_laws(parse("param a, b, c\\noutput a*b*c").system, seed=0)
    >>> count.dim, count.trace_rank, count.laws      # a^2 - b^2 and b^2 - c^2
    (3, 1, 2)
    >>> count.prime == count_laws(parse("param a, b, c\\noutput a*b*c").system, seed=0).prime
    True
    >>> count.error_bound == min(1.0, count.point_bound + count.prime_bound) < 1e-3
    True
    """
    if PRIME_ERROR:
        raise ConslawError(PRIME_ERROR, file="<environment>")
    bits = 26 if system.dim >= SHORT_PRIME_DIM else 31
    p, skipped = draw_prime(seed, system.denominators, bits)
    with using(p):
        return _count(system, seed, skipped, bits)


def _count(system, seed: int, skipped: tuple[int, ...], bits: int) -> LieCount:
    p = prime()
    rng = np.random.default_rng(seed)
    dim = system.dim
    theta = rng.integers(0, p, dim, dtype=np.int64)
    if getattr(system, "normalized", False):    # a point of the variety s^2 q = 1
        theta = system.settle_point(rng, theta)
    point = theta.reshape(1, 1, dim)

    report("sampling the generators")
    span = _generator_span(system, rng, point)
    generator_rank = span.rank
    row_bits = generator_rank * system.generator_bits   # log2 of the rows' norm product
    frame: list[Field] = []        # adopted fields (beyond W) whose values are rows of the span
    adopted: dict[int, int] = {}
    tests = decisions = 0
    top_level = 1
    order, batch = min(_FIRST_ORDER, _MAX_ORDER), max(1, min(_CHAIN_BATCH, dim - span.rank))
    chaining = True
    quiet_rounds = 0
    final_bits: list[float] = []   # the candidates of the confirming closure rounds
    while span.rank < dim and quiet_rounds < _CONFIRMING_ROUNDS:
        if chaining:
            # ad_X^n Y (theta) for n = 1..order along the curves of random X through theta
            x, y = system.generators(rng, batch), system.generators(rng, batch)
            values = chain_values(x, y, point, order)
            raised = span.add(np.concatenate([values[n][0] for n in range(1, order + 1)]))
            report("Lie closure, rank", span.rank, dim)
            picks = [(1 + i // batch, i % batch) for i in raised]
            gains = [sum(1 for n, _ in picks if n == m) for m in range(1, order + 1)]
            row_bits += sum(Chains(x, y, [(n, 0)]).bits_of(n) for n, _ in picks)
            tests += order * batch
            decisions += order
            top_level = max(top_level, order + 1)
            if picks:
                frame.append(Chains(x, y, picks))
                for n, _ in picks:
                    adopted[n + 1] = adopted.get(n + 1, 0) + 1
            elif not frame:
                # the frame is W alone: the brackets [X, Y] of random X, Y in W were the
                # closure test, and they all stayed in the span
                final_bits.append(_bracket_bits(x, y) + math.log2(batch))
                quiet_rounds += 1
            top = max((n for n, _ in picks), default=0)
            if not picks or span.rank == dim:
                chaining = False
            elif max(gains) == batch:
                # the pairs are the limit (a wide algebra): more pairs, no deeper
                batch = max(1, min(2 * batch, _MAX_PAIR_BATCH, dim - span.rank))
            elif top >= order - 1:
                order = min(_MAX_ORDER, 2 * order)   # the depth is the limit: deeper
            else:
                chaining = False                      # neither: the chains are saturated
            continue
        # closure: [X, F](theta) in the span for a random X in W and every adopted F (and W)
        x = system.generators(rng, 1)
        families = [system.generators(rng, _CLOSURE_SAMPLES)] + frame
        values = [_bracket_with(x, family, point) for family in families]
        stacked = np.concatenate(values)
        # a few random combinations first: all in the span (the usual end) needs no
        # elimination of every row; one outside sends every row to the span
        mix = rng.integers(0, p, (_CLOSURE_SAMPLES, len(stacked)), dtype=np.int64)
        raised = span.add(stacked) if span.reduce(modp.matmul(mix, stacked)).any() else []
        report("Lie closure, rank", span.rank, dim)
        start = 0
        for family, rows in zip(families, values):
            mine = [i - start for i in raised if start <= i < start + len(rows)]
            start += len(rows)
            tests += family.batch
            decisions += 1
            top_level = max(top_level, family.level + 1)
            if mine:
                adopted_field = Brackets(Repeated(x, len(mine)), family.select(mine))
                frame.append(adopted_field)
                adopted[adopted_field.level] = adopted.get(adopted_field.level, 0) + len(mine)
                row_bits += len(mine) * _bracket_bits(x, family)
        fields = sum(f.batch for f in families)
        final_bits.append(max(_bracket_bits(x, f) for f in families) + math.log2(fields))
        quiet_rounds = 0 if raised else quiet_rounds + 1

    adopted = dict(sorted(adopted.items()))
    forced = modp.FORCED_PRIME is not None
    if span.rank == dim:
        return LieCount(dim, generator_rank, span.rank, seed, p, 0.0, adopted, tests, 0.0,
                        None if forced else 0.0, skipped, forced)
    degree = top_level * (system.field_degree + system.sample_degree + 1)
    point_bound = min(1.0, (1 + decisions) * (span.rank + 1) * degree / p
                      * getattr(system, "point_factor", 1))
    final_tests = [(generator_rank + 1) * system.generator_bits]
    final_tests += [row_bits + bits for bits in final_bits[-_CONFIRMING_ROUNDS:]]
    bad_primes = sum(max(0, math.ceil(b / (bits - 1)) - 1) for b in final_tests)
    if forced:
        prime_bound, bound = None, 1.0
    else:
        prime_bound = min(1.0, bad_primes * prime_probability(system.denominators, bits))
        bound = min(1.0, point_bound + prime_bound)
    assumes = NORMALIZED_ASSUMPTION if getattr(system, "normalized", False) else None
    if getattr(system, "binary_gates", False):
        # a nonzero minor multilinear in the gates may vanish at most 0/1 patterns:
        # Schwartz-Zippel over {0, 1} bounds nothing, so equality gets no probability
        return LieCount(dim, generator_rank, span.rank, seed, p, 1.0, adopted, tests, 1.0,
                        None if forced else 1.0, skipped, forced, None, GATES_UNBOUNDED,
                        GATES_UNPROVED)
    return LieCount(dim, generator_rank, span.rank, seed, p, bound, adopted, tests, point_bound,
                    prime_bound, skipped, forced, assumes)


def _bracket_with(x: Field, family: Field, point: np.ndarray) -> np.ndarray:
    """[X, F_b](point) for one field X and every field F_b of ``family``: rows (batch, D).

    The family is evaluated once, at p + e X(p); X at p + e F_b(p) for every b.
    """
    x_value = x.eval(point)
    jet = family.eval(np.concatenate([point, x_value]))
    values, along_x = jet[0], jet[1]                          # F_b(p), DF_b(p) X(p)
    base = np.broadcast_to(point[0], values.shape)
    moved = Repeated(x, family.batch).eval(np.stack([base, values]))[1]   # DX(p) F_b(p)
    return (along_x - moved) % prime()


def _bracket_bits(x: Field, family: Field) -> float:
    """``Field.bits`` of [X, F] (as ``Brackets``)."""
    return math.log2(max(1, x.degree + family.degree)) + x.bits + family.bits


def _generator_span(system, rng, point) -> Span:
    """Span of W(theta) from random generators, added in doubling batches.

    Stops when a batch fails to raise the rank by its full size. Past
    ``_JUMP_AFTER`` samples with the rank still full, the next batch goes straight
    to D + 1 samples: one large elimination costs less than many medium ones.
    """
    dim = system.dim
    span = Span(dim)
    blocks = []
    samples = 0
    batch = min(_FIRST_BATCH, dim + 1)
    while samples < _JUMP_AFTER:
        values = system.generators(rng, batch).eval(point)[0]
        raised = span.add(values)
        report("generators, rank", span.rank, dim)
        blocks.append(values)
        samples += batch
        if len(raised) < batch or span.rank == dim:
            return span
        batch = min(samples, dim + 1 - samples)
    # the rank is still full: one elimination of D + 1 samples beats more updates
    everything = np.empty((dim + 1, dim), dtype=np.int64)
    done = np.vstack(blocks)
    everything[:samples] = done
    del blocks, done
    for start in range(samples, dim + 1, _JUMP_AFTER):
        stop = min(dim + 1, start + _JUMP_AFTER)
        everything[start:stop] = system.generators(rng, stop - start).eval(point)[0]
    return Span.from_rows(everything, overwrite=True)
