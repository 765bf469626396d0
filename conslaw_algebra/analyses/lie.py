"""N = D - dim Lie(W)(theta), decided exactly over GF(p) by frame closure.

Algorithm (all values exact residues modulo p = 2^31 - 1, at one random point theta):
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
Certainty: every adopted vector is the value of a genuine element of Lie(W), so
rank <= dim Lie(W)(theta) and N <= D - rank hold with certainty. The answer could
only be too large in N if a random choice hit a zero of a nonzero polynomial
(Schwartz-Zippel); ``error_bound`` bounds that probability.
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

from dataclasses import dataclass, field

import numpy as np

from ..flows.fields import Brackets, Combinations, Field
from ..errors import ConslawError
from ..exact.modp import PRIME, PRIME_ERROR, Span
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

    ``system`` provides ``dim``, ``generators(rng, batch)``, ``field_degree`` and
    ``sample_degree`` (see ``flows.py``). The same seed gives the same result.

    >>> from conslaw_algebra.api import parse
    >>> count = count_laws(parse("param a, b, c\\noutput a*b*c").system, seed=0)
    >>> count.dim, count.trace_rank, count.laws      # a^2 - b^2 and b^2 - c^2
    (3, 1, 2)
    """
    if PRIME_ERROR:
        raise ConslawError(PRIME_ERROR, file="<environment>")
    rng = np.random.default_rng(seed)
    dim = system.dim
    theta = rng.integers(0, PRIME, dim, dtype=np.int64)
    point = theta.reshape(1, 1, dim)

    span = _generator_span(system, rng, point)
    generator_rank = span.rank
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
            batch_of[(i, j)] = 2 * batch if len(raised) == batch else 1
            if raised:
                levels.setdefault(i + j, []).append(candidate.select(raised))
                progress = True
                break  # start again from the lowest pair: brackets stay as shallow as possible
        quiet_rounds = 0 if progress else quiet_rounds + 1

    degree = top_level * (system.field_degree + system.sample_degree + 1)
    decisions = 1 + pairs_checked
    bound = 0.0 if span.rank == dim else min(1.0, decisions * (span.rank + 1) * degree / PRIME)
    adopted = {level: sum(f.batch for f in fields) for level, fields in sorted(levels.items())}
    return LieCount(dim, generator_rank, span.rank, seed, PRIME, bound, adopted, tests)


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
    return Combinations(sources, rng.integers(0, PRIME, (batch, width), dtype=np.int64))
