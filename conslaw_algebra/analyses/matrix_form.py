"""The matrix form of degree-2 laws: Gram differences whose entries are all laws.

When the degree-2 laws contain every entry of a Gram difference such as
W1 W1^T - W2^T W2 (optionally + b b^T for a bias), the whole matrix is a law, and the
views print one matrix equation instead of its entries (``views/exports.latex_laws``, and
the text of the natural basis: ``views/exports.matrix_lines``).
Candidates are built from the parameter tensors' shapes alone (every pair of matrices,
every pair of sides of equal size, with or without a vector of that size), and a
candidate is accepted when each of its entries lies in the exact QQ span of the laws
(``rational.Span``). Nothing depends on an architecture's name. Laws not in the span of
the accepted matrices are returned as they are.
Where it stops winning: with t matrices the candidates grow like t^2; above
``MATRIX_FORM_LIMIT`` laws no matrix is looked for.

>>> import conslaw_algebra as ca
>>> matrices, rest = matrix_laws(ca.parse("layers 2 -> 2 -> 2").laws(2))
>>> matrices, rest
([GramDifference(first='W1', first_side='rows', second='W2', second_side='cols', bias=None, sign=0, size=2, laws=3)], [])
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..exact.rational import Span
from ..exact.sparse import add_into

MATRIX_FORM_LIMIT = 500    # laws; above this no matrix form is looked for

_ENTRY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9,]*)\])?$")


@dataclass(frozen=True)
class GramDifference:
    """first first^T - second^T second (side 'rows': M M^T, 'cols': M^T M), plus or minus
    (``sign``) bias bias^T when ``bias`` names a vector: a constant symmetric matrix of
    ``size`` x ``size``, whose entries give ``laws`` independent laws."""

    first: str
    first_side: str
    second: str
    second_side: str
    bias: str | None
    sign: int
    size: int
    laws: int


def tensors_of(names) -> dict[str, dict[tuple, int]]:
    """Group variable names by tensor: ``{'W1': {(0, 1): variable index, ...}}``.

    >>> tensors_of(["W[0,0]", "W[0,1]", "b"])
    {'W': {(0, 0): 0, (0, 1): 1}, 'b': {(): 2}}
    """
    groups: dict[str, dict[tuple, int]] = {}
    for var, name in enumerate(names):
        match = _ENTRY.match(name)
        if not match:          # velocities, time factors: not entries of a tensor
            continue
        index = tuple(int(i) for i in match.group(2).split(",")) if match.group(2) else ()
        groups.setdefault(match.group(1), {})[index] = var
    return groups


def _matrices(names) -> tuple[dict, dict]:
    """Full 2-D tensors as (rows, cols, index map) and 1-D tensors as (size, index map)."""
    matrices, vectors = {}, {}
    for name, entries in tensors_of(names).items():
        dims = {len(i) for i in entries}
        if dims == {2}:
            rows = 1 + max(i for i, _ in entries)
            cols = 1 + max(j for _, j in entries)
            if len(entries) == rows * cols:
                matrices[name] = (rows, cols, entries)
        elif dims == {1}:
            size = 1 + max(i for (i,) in entries)
            if len(entries) == size:
                vectors[name] = (size, entries)
    return matrices, vectors


# ----------------------------------------------------------------- exact spans
def _as_vector(poly) -> dict:
    return {tuple(exps): c for exps, c in poly.terms()}


def _quadratic(pairs, dim) -> dict:
    """sum of c * x_i * x_j over (i, j, c) as a vector over monomials (exponent tuples)."""
    vector: dict = {}
    for i, j, c in pairs:
        exps = [0] * dim
        exps[i] += 1
        exps[j] += 1
        add_into(vector, tuple(exps), c)
    return vector


def _gram(entries, rows: int, cols: int, side: str, a: int, b: int):
    """Products of entry pairs of (M M^T)[a,b] (side 'rows') or (M^T M)[a,b] (side 'cols')."""
    if side == "rows":
        return [(entries[(a, k)], entries[(b, k)]) for k in range(cols)]
    return [(entries[(k, a)], entries[(k, b)]) for k in range(rows)]


def matrix_laws(result):
    """Gram-difference matrices whose entries are all laws, and the laws they leave.

    Returns ``(matrices, rest)``: ``matrices`` a list of ``GramDifference``, ``rest`` the
    laws (fmpq_mpoly) not in the span of their entries.

    >>> import conslaw_algebra as ca
    >>> matrices, rest = matrix_laws(ca.parse("layers 3 -> 2 relu -> 1").laws(2))
    >>> matrices, len(rest)
    ([], 2)
    """
    laws = list(result.laws)
    matrices, vectors = _matrices(result.names)
    if len(laws) > MATRIX_FORM_LIMIT or result.note or len(matrices) < 2:
        return [], laws
    dim = len(result.names)
    span = Span()
    for h in laws:
        if h.total_degree() == 2 and all(sum(e) == 2 for e in h.monoms()):
            span.add(_as_vector(h))
    order = list(matrices)
    covered = Span()
    found = []
    for x, first in enumerate(order):
        for second in order[x + 1:]:
            r1, c1, e1 = matrices[first]
            r2, c2, e2 = matrices[second]
            for side1, n1 in (("rows", r1), ("cols", c1)):
                for side2, n2 in (("rows", r2), ("cols", c2)):
                    if n1 != n2 or n1 < 2:
                        continue
                    choices = [(None, 0)] + [(v, s) for v in vectors if vectors[v][0] == n1
                                             for s in (1, -1)]
                    for bias, sign in choices:
                        entries = []
                        for a in range(n1):
                            for b in range(a, n1):
                                pairs = [(i, j, 1) for i, j in _gram(e1, r1, c1, side1, a, b)]
                                pairs += [(i, j, -1) for i, j in _gram(e2, r2, c2, side2, a, b)]
                                if bias:
                                    bv = vectors[bias][1]
                                    pairs.append((bv[(a,)], bv[(b,)], sign))
                                entries.append(_quadratic(pairs, dim))
                        if not all(span.contains(v) for v in entries):
                            continue
                        new = sum(covered.add(v) for v in entries)
                        if new:
                            found.append(GramDifference(first, side1, second, side2, bias,
                                                        sign, n1, new))
                        break
    rest = [h for h in laws if covered.add(_as_vector(h))]
    return found, rest
