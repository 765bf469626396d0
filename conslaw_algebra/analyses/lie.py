"""N = D - dim Lie(W)(theta), decided exactly over GF(p) by frame closure.

Algorithm (all values exact residues modulo a prime p drawn from the seed, in
(2^30, 2^31), at one random point theta):
1. Span of W(theta): evaluate random generators in doubling batches until a batch
   leaves the rank below the number of samples.
2. Closure: keep the adopted brackets by level (level 1 = W itself). For the pairs
   of levels (i, j), lowest first, bracket a batch of random elements A of level i
   and B of level j and evaluate [A, B](theta) with jets. Values outside the current
   span are adopted as level i + j fields, and the search starts again from the
   lowest pair. When two whole rounds over all pairs adopt nothing, the span is
   closed under brackets at theta, so the distribution it spans is involutive near
   theta and contains W: it is the trace of Lie(W), and N = D - rank.
Why: the reference's stagnation rule prunes by values at one point and can stop
early; closure of the frame is the Frobenius criterion itself, and random
combinations test all r^2/2 brackets of the frame with a few evaluations.
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
    is outside the span of the g generator rows), or in the last two rounds, which
    adopt nothing, the bracket of random elements of some pair of levels (i, j) is
    outside the span of the final rows. Such a test asks whether P = 0, P a
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
    (ceil(b_P / 30) - 1) primes are bad. The prime is drawn from its own stream of
    the seed, independently of the point; any given prime comes out with probability
    at most pi = 336 / (2^30 - 1) (336 exceeds every prime gap below 2^32; the
    skips divide by one minus their probability: ``modp.prime_probability``). So
    P(p bad) <= K * pi, and for a good p, (a) applies.
What is assumed: as in (a), which tests are made (the pairs of levels, the rows) is
taken as the run reached them; the closure criterion above. A count modulo a prime
forced by CONSLAW_PRIME has no randomness in p, so (b) does not exist: when it is not
certain, its ``error_bound`` is 1 and ``point_bound`` says what (a) alone gives.
Why not bound (b) by the bit sizes of the model's constants alone: sums of
parameters with no constant at all (features sum_j A_ij theta_j, A a 0/1 pattern)
give minors that are determinants of 0/1 matrices, and one of a few dozen rows can
have a prime factor above 2^30; the l1 norms of the rows see that, constants do not. The price: (b) is the larger term, about 1e-5 for a 50-parameter ReLU net
and growing with D * bits per row, against (a)'s 1e-6.
Where it stops winning: the dense echelon form costs r*D per adopted vector, and a
deep Lie algebra (many levels) multiplies evaluations; see BENCHMARKS.md.

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
from ..flows.fields import Brackets, Combinations, Field
from ..errors import ConslawError
from ..exact.modp import PRIME_ERROR, Span, draw_prime, prime, prime_probability, using
from ..progress import report

_FIRST_BATCH = 16
_JUMP_AFTER = 512
_MAX_PAIR_BATCH = 256
_CONFIRMING_ROUNDS = 2


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

    @property
    def laws(self) -> int:
        """N = D - dim Lie(W)(theta): the number of independent conservation laws."""
        return self.dim - self.trace_rank

    @property
    def certain(self) -> bool:
        """True when the trace is all of R^D: then N = 0 with no probability attached."""
        return self.trace_rank == self.dim


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
    p, skipped = draw_prime(seed, system.denominators)
    with using(p):
        return _count(system, seed, skipped)


def _count(system, seed: int, skipped: tuple[int, ...]) -> LieCount:
    p = prime()
    rng = np.random.default_rng(seed)
    dim = system.dim
    theta = rng.integers(0, p, dim, dtype=np.int64)
    point = theta.reshape(1, 1, dim)

    report("sampling the generators")
    span = _generator_span(system, rng, point)
    generator_rank = span.rank
    row_bits = generator_rank * system.generator_bits   # log2 of the rows' norm product
    tested_bits: dict[tuple[int, int], float] = {}      # the last candidate of each pair
    levels: dict[int, list[Field]] = {}
    tests = 0
    quiet_rounds = 0
    top_level = 1
    pairs_checked = 0
    batch_of: dict[tuple[int, int], int] = {}   # grows while a pair keeps raising the rank
    while span.rank < dim and quiet_rounds < _CONFIRMING_ROUNDS:
        progress = False
        for i, j in _level_pairs([1] + sorted(levels)):
            top_level = max(top_level, i + j)
            first = dim if (i, j) == (1, 1) else 1
            batch = min(dim - span.rank, batch_of.get((i, j), first), _MAX_PAIR_BATCH)
            candidate = Brackets(_random_element(system, levels, i, batch, rng),
                                 _random_element(system, levels, j, batch, rng))
            raised = span.add(candidate.eval(point)[0])
            report("Lie closure, rank", span.rank, dim)
            tests += batch
            pairs_checked += 1
            tested_bits[(i, j)] = candidate.bits
            row_bits += len(raised) * candidate.bits
            batch_of[(i, j)] = 2 * batch if len(raised) == batch else 1
            if raised:
                levels.setdefault(i + j, []).append(candidate.select(raised))
                progress = True
                break  # start again from the lowest pair: brackets stay as shallow as possible
        quiet_rounds = 0 if progress else quiet_rounds + 1

    adopted = {level: sum(f.batch for f in fields) for level, fields in sorted(levels.items())}
    forced = modp.FORCED_PRIME is not None
    if span.rank == dim:
        return LieCount(dim, generator_rank, span.rank, seed, p, 0.0, adopted, tests, 0.0,
                        None if forced else 0.0, skipped, forced)
    degree = top_level * (system.field_degree + system.sample_degree + 1)
    decisions = 1 + pairs_checked
    point_bound = min(1.0, decisions * (span.rank + 1) * degree / p)
    final_tests = [(generator_rank + 1) * system.generator_bits]
    final_tests += [row_bits + tested_bits[pair] for pair in _level_pairs([1] + sorted(levels))
                    if pair in tested_bits]
    bad_primes = sum(max(0, math.ceil(bits / 30) - 1) for bits in final_tests)
    if forced:
        prime_bound, bound = None, 1.0
    else:
        prime_bound = min(1.0, bad_primes * prime_probability(system.denominators))
        bound = min(1.0, point_bound + prime_bound)
    return LieCount(dim, generator_rank, span.rank, seed, p, bound, adopted, tests, point_bound,
                    prime_bound, skipped, forced)


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


def _level_pairs(levels: list[int]):
    pairs = [(i, j) for i in levels for j in levels if i <= j]
    return sorted(pairs, key=lambda p: (p[0] + p[1], p))


def _random_element(system, levels, level, batch, rng) -> Field:
    if level == 1:
        return system.generators(rng, batch)
    sources = levels[level]
    width = sum(s.batch for s in sources)
    return Combinations(sources, rng.integers(0, prime(), (batch, width), dtype=np.int64))
