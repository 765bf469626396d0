"""A basis of the laws a paper would print: split by monomial support, then made sparse.

The law engines return one basis of the space V of laws, in reduced echelon form
(``laws.py``): each law owns its leading monomial, which makes the basis unique but not
readable (``relu_bias_3layer``'s first law is the sum of four per-neuron balance laws).
Here the same space gets another basis, computed from the laws alone:

1. **Blocks.** The laws are brought to reduced echelon form over QQ (columns: the
   monomials, in the order they print), rows [I | A]. Fact (matroid connectivity, see
   Oxley, *Matroid Theory*, ch. 4): the connected components of the bipartite graph on
   pivot rows and non-pivot columns (an edge where A_ij != 0) are exactly the
   components of the column matroid of V, that is the finest splitting
   V = (+) V ∩ span(monomials of a block). Proof: the rows of a component span a space
   on that component's columns, and V is the direct sum of these; conversely each row
   is a vector of V of minimal support (the only one, up to scale, that vanishes on the
   other pivots), and a minimal-support vector lies inside one matroid component. It
   holds for the reduced echelon form of any column order, not for an arbitrary basis
   (a + b, a - b span two blocks {a}, {b}), so the echelon rows are taken first and then
   joined by shared monomials (union-find). Different blocks share no monomial, so no
   cancellation between them can make a law sparser: each block is made sparse alone.
2. **Sparse within a block.** Pairwise elimination: u <- u - c v, with c one of the
   ratios u_m / v_m on the monomials the two share, whenever that strictly lowers
   |supp(u)| (the span is unchanged: v stays), the step that saves most terms first; it
   ends since the total support falls at every step. It runs from two starts, the
   echelon rows and the echelon form whose pivots are taken from the largest parallel
   classes of columns first (monomials with proportional coefficients in every law: a
   law's private monomials, such as a neuron's incoming weights and bias), and the
   sparsest independent laws of both are kept (the matroid greedy, so never more terms
   than either start, nor than the echelon rows); a last elimination pass follows.
   Then each law gets coprime integer coefficients and its first printed term positive,
   and the laws are listed as the engines list theirs (by degree, then by monomials).
   Everything depends on the space only (the echelon form is unique), not on the basis
   the engine returned: the linear and syzygy engines give the same natural basis.

Measured (``tests/test_natural_basis.py`` re-checks the spans and the laws named here).
``relu_bias_3layer`` is one block of 8 laws, not one block per neuron: a neuron's law
shares the W2[i,j]^2 monomials with the next layer's. The elimination turns its echelon
laws (82 terms; the first is the sum of four balance laws) into the 5 + 3 balance laws
||W_l[j,:]||^2 + b_l[j]^2 - ||W_{l+1}[:,j]||^2 (64 terms). ``linear_3layer``: the 13
off-diagonal Gram entries are blocks of their own, the 8 diagonal entries of the two
Gram differences one block, from which the elimination returns the diagonal entries
themselves (162 terms -> 147). ``matrix_factorization``, ``conv_relu``,
``attention_head``, ``relu_2layer``, ``resnet_block``, ``maxpool`` and the mirror
examples split into blocks of one law at degree 2, already sparsest; the heavy-ball laws
e^t (...) of ``linear_momentum`` at degree 3 and 4 are blocks of one law (only the sign
convention changes); at degree 4, ``matrix_factorization`` goes from 266 terms to 252
and ``attention_head`` from 328 to 324. Layered ReLU nets with biases, 3 or 4 hidden
layers of widths 10 to 120 (one block of k = 30 to 400 laws): the per-neuron basis, the
sparsest, is reached every time. The first improving step instead of the best one, from
the echelon rows alone, stops at 527 terms instead of 470 for widths 2-10-10-10-2 (at
the telescoped sum ||W1||^2 + ||b||^2 - ||W4||^2, which no single step undoes), hence
the best step and the second start. Time: k = 60 in 0.1 s, 120 in 0.4 s, 240 in 2-3 s,
360 in 12 s (finding the laws of such a model takes far longer: 20 s for k = 60);
reading the laws out of FLINT (dense exponent vectors) adds O(terms x D), 0.7 s at
D = 940.
Where it stops winning: elimination is a local search (a sparsest basis is NP-hard in
general): a law that only a combination of several others makes sparser, from both
starts, stays as it is (none of the models above). A block of more than ``BLOCK_LIMIT``
laws keeps its echelon rows; the result says which (``echelon_blocks``), and the text
and JSON say so.

>>> from flint import fmpq_mpoly_ctx
>>> a, b, c = fmpq_mpoly_ctx.get(("t", 3), "degrevlex").gens()
>>> natural_basis([a**2 + b**2 - 2*c**2, b**2 - c**2]).laws
(t0^2 - t2^2, t1^2 - t2^2)
"""
from __future__ import annotations

from dataclasses import dataclass

from flint import fmpq

from ..exact.rational import Span, primitive
from ..exact.sparse import ring_polynomial, sparse_terms

BLOCK_LIMIT = 250     # laws in one block; above it the block keeps its echelon rows
BASES = ("natural", "echelon")   # the bases ``Model.laws`` can return


@dataclass(frozen=True)
class NaturalBasis:
    """The laws of the natural basis, the number of laws in each block (in the order
    of their first monomial), and the sizes of the blocks left in echelon form."""

    laws: tuple
    blocks: tuple[int, ...]
    echelon_blocks: tuple[int, ...] = ()


def _print_key(monomial) -> tuple:
    """Sort key of a monomial (sorted variable indices) in printing order: degrevlex,
    largest first (same degree: the smaller exponent of the last variable where two
    differ is the larger monomial, i.e. the variables sorted downwards, compared lex).

    >>> sorted([(1, 1), (0, 0), (0, 1), (0,)], key=_print_key)
    [(0, 0), (0, 1), (1, 1), (0,)]
    """
    return (-len(monomial), tuple(sorted(monomial, reverse=True)))


def _list_key(monomials) -> tuple:
    """Laws are listed as the engines list them (``laws._law_key``): by degree, then by
    their monomials, each by degree downwards, then lex in the variable indices."""
    return (max(map(len, monomials)), sorted((-len(m), m) for m in monomials))


def echelon_rows(vectors) -> list[dict]:
    """The reduced echelon form of sparse vectors {column: rational} over QQ, each row's
    pivot its least column; rows in pivot order.

    >>> echelon_rows([{0: 1, 1: 1, 2: 2}, {1: 1, 2: 1}])
    [{0: 1, 2: 1}, {1: 1, 2: 1}]
    """
    span = Span()
    for vector in vectors:
        span.add(vector)
    # keys sorted: the rows' own order (which later ties follow) is that of the space
    return [{c: row[c] for c in sorted(row)}
            for _, row in sorted(span.rows, key=lambda pair: pair[0])]


def support_blocks(rows) -> list[list[int]]:
    """Indices of the rows grouped by the components of their shared columns; for rows
    in reduced echelon form these are the finest direct-sum blocks of their span
    (module header). Blocks ordered by their least column.

    >>> support_blocks([{0: 1, 3: 1}, {1: 1}, {2: 1, 3: 2}])
    [[0, 2], [1]]
    """
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in rows:
        columns = iter(row)
        first = find(next(columns))
        for column in columns:
            root = find(column)
            if root != first:
                parent[max(root, first)] = min(root, first)
                first = min(root, first)
    groups: dict = {}
    for index, row in enumerate(rows):
        groups.setdefault(find(next(iter(row))), []).append(index)
    return [groups[root] for root in
            sorted(groups, key=lambda r: min(min(rows[i]) for i in groups[r]))]


def _best_step(u: dict, v: dict):
    """(terms saved, c) of the best u - c v, c a ratio u_m / v_m on a shared monomial;
    None when no c saves a term."""
    if len(v) >= 2 * len(u):        # v would add more terms than u could lose
        return None
    shared = [m for m in v if m in u]
    added = len(v) - len(shared)
    if len(shared) <= added:
        return None
    hits: dict = {}                   # (p, q) of a ratio -> [count, ratio]: an fmpq's hash is slow
    for m in shared:
        ratio = u[m] / v[m]
        key = (int(ratio.p), int(ratio.q))
        if key in hits:
            hits[key][0] += 1
        else:
            hits[key] = [1, ratio]
    best, ratio = max(hits.values(), key=lambda pair: pair[0])   # the first of the best
    return (best - added, ratio) if best > added else None


def sparsify(rows) -> list[dict]:
    """Pairwise elimination u <- u - c v while it strictly lowers |supp(u)|, the step that
    saves most terms first (steepest descent: a first-found step can lead into a sum of
    several sparse laws that no single step undoes); same span.

    >>> sparsify([{0: 1, 1: 1, 2: 1, 3: 1}, {0: 1, 1: 1, 2: 1}])
    [{3: 1}, {0: 1, 1: 1, 2: 1}]
    """
    rows = [{m: fmpq(v) for m, v in row.items()} for row in rows]
    where: dict = {}                  # monomial -> the rows that have it
    for i, row in enumerate(rows):
        for m in row:
            where.setdefault(m, set()).add(i)
    changed = True
    while changed:
        changed = False
        for i in range(len(rows)):
            while True:
                best = None
                others = sorted(set().union(*(where[m] for m in rows[i])) - {i})
                for j in others:
                    step = _best_step(rows[i], rows[j])
                    if step is not None and (best is None or step[0] > best[0]):
                        best = (step[0], step[1], j)
                if best is None:
                    break
                _, ratio, j = best
                new = dict(rows[i])
                for m, value in rows[j].items():
                    value = new.get(m, 0) - ratio * value
                    if value:
                        new[m] = value
                    else:
                        new.pop(m, None)
                for m in rows[i].keys() - new.keys():
                    where[m].discard(i)
                for m in new.keys() - rows[i].keys():
                    where.setdefault(m, set()).add(i)
                rows[i] = new
                changed = True
    return rows


def parallel_order(rows) -> list:
    """The columns of ``rows`` (reduced echelon form), those of the largest parallel
    classes first (columns whose coefficients are proportional in every law: a law's
    private monomials), then by column.

    >>> parallel_order([{0: 1, 2: 1, 3: 1}, {1: 1, 2: -1, 4: 1}])
    [0, 1, 3, 4, 2]
    """
    entries: dict = {}
    for i, row in enumerate(rows):
        for column, value in row.items():
            entries.setdefault(column, []).append((i, fmpq(value)))
    direction = {column: tuple((i, value / pairs[0][1]) for i, value in pairs)
                 for column, pairs in entries.items()}
    size: dict = {}
    for key in direction.values():
        size[key] = size.get(key, 0) + 1
    return sorted(entries, key=lambda column: (-size[direction[column]], column))


def _reordered_echelon(rows, order) -> list[dict]:
    """The reduced echelon form of the rows' span with the columns taken in ``order``."""
    rank = {column: k for k, column in enumerate(order)}
    reduced = echelon_rows([{rank[c]: v for c, v in row.items()} for row in rows])
    return [{order[k]: v for k, v in row.items()} for row in reduced]


def sparse_block(rows) -> list[dict]:
    """A sparse basis of the span of ``rows`` (one block, reduced echelon form): the
    rows and the echelon form with the largest parallel classes as pivots, each made
    sparse by ``sparsify``; then the sparsest independent ones of both (the matroid
    greedy: never more terms than either), and ``sparsify`` once more.

    >>> rows = echelon_rows([{0: 1, 3: -1}, {1: 1, 3: -1}, {2: 1, 3: -1}])   # a - d, ...
    >>> sparse_block(rows) == rows
    True
    """
    if len(rows) < 2:
        return [dict(row) for row in rows]
    candidates = sparsify(rows) + sparsify(_reordered_echelon(rows, parallel_order(rows)))
    span, chosen = Span(), []
    for row in sorted(candidates, key=lambda row: (len(row), sorted(row))):
        if span.add(row):
            chosen.append(row)
            if len(chosen) == len(rows):
                break
    return sparsify(chosen)


def natural_basis(laws, limit: int | None = None) -> NaturalBasis:
    """The natural basis of the span of ``laws`` (fmpq_mpoly of one ring; module header).

    ``limit``: blocks of more laws keep their reduced echelon rows (default ``BLOCK_LIMIT``).

    >>> from flint import fmpq_mpoly_ctx
    >>> a, b, c, d, e, f = fmpq_mpoly_ctx.get(("t", 6), "degrevlex").gens()
    >>> laws = [a**2 + b**2 + d**2 - e**2, c**2 + d**2 - e**2, a*f]     # reduced echelon
    >>> found = natural_basis(laws)
    >>> found.laws, found.blocks        # (a^2 + b^2 - c^2, c^2 + d^2 - e^2) and (a*f)
    ((t0^2 + t1^2 - t2^2, t0*t5, t2^2 + t3^2 - t4^2), (2, 1))
    >>> natural_basis(laws, limit=1).echelon_blocks
    (2,)
    """
    limit = BLOCK_LIMIT if limit is None else limit
    laws = list(laws)
    if not laws:
        return NaturalBasis((), ())
    ring = laws[0].context()
    terms = [sparse_terms(h) for h in laws]
    monomials = sorted({m for law in terms for m, _ in law}, key=_print_key)
    position = {m: k for k, m in enumerate(monomials)}
    rows = echelon_rows([{position[m]: c for m, c in law} for law in terms])
    out, sizes, kept = [], [], []
    for block in support_blocks(rows):
        members = [rows[i] for i in block]
        sizes.append(len(members))
        if len(members) > limit:
            kept.append(len(members))
        else:
            members = sparse_block(members)
        for row in members:     # columns in printing order: the least prints first
            out.append({monomials[c]: v for c, v in primitive(row, leading=min(row)).items()})
    out.sort(key=_list_key)
    return NaturalBasis(tuple(ring_polynomial(ring, law) for law in out), tuple(sizes),
                        tuple(kept))
