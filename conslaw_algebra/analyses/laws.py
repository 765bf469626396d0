"""Polynomial conservation laws of degree <= k: an exact sparse linear system.

A polynomial h = sum_m a_m theta^m is conserved iff <grad h, v> = 0 identically for
every generator v (orthogonality to W implies orthogonality to Lie(W)). Each
coefficient of each <grad h, v> is a linear form in the unknowns a_m. The system is
very sparse (most rows force one unknown to zero), so we
1. eliminate singleton rows repeatedly (those unknowns are 0),
2. split the rest into connected components of the row/unknown incidence graph
   (this recovers the multi-degree grading of H.5 without being told about layers),
3. solve each block exactly over QQ (``exact/rational.py``: its ``auto`` method).
Kernel vectors become laws with coprime integer coefficients, in a fixed order.
Blocks of up to 2^21 entries are reduced by FLINT's dense ``fmpq_mat``; SymPy is
imported only for larger ones.
Degree >= 3 (``_graded_laws``): the C(D + k, k) unknowns are not built into rows at
all. A grading of the variables (the degrees and rescaling symmetries under which
every field is homogeneous, found from the fields) gives each entry (unknown m,
variable j) a key shared by everything in its row; monomials with a key of their
own are 0 in every law and are dropped before any row exists, and the rest split
into blocks by common keys (for examples/relu_2layer.net at degree 5: 658,000
monomials, 665 left, in blocks of at most 49). Each block is solved modulo p
from random evaluations of <grad h, v> and lifted to QQ; every lifted law is checked
exactly, and the count of laws over QQ is at most that modulo p, so the basis is
complete and the same as the exact solve gives (else the block falls back to it).
Measured on relu_2layer: degree 4 in 0.8 s and 110 MB, degree 5 in 3.2 s and 340 MB
(8 s / 490 MB and 71 s / 4.3 GB when the whole system was built).
A block's sampled rows cost about 65 bytes per entry of its (size + 8) x size matrix
(the largest block of linear_3layer at degree 4 has 1,104 unknowns: about 80 MB), so
the memory guard is checked again with the largest block once the grading is known,
before any block is built (``guards.graded_laws_bytes``).
Where it stops winning: the monomials of degree <= k are still enumerated (numpy,
48 bytes each): C(D + k, k) must fit; a grading that leaves a large block pays its
size squared; fields that are not homogeneous for any
grading (none of the flows here) fall back to the whole system; at degree 2 the
system has about (terms of all fields) x (their degree + 2) entries, built in Python, and
only the monomials that some entry or no field touches get a column (not all C(D + 2, 2):
a block of 68,000 parameters, examples of BENCHMARKS.md "real networks by block").

>>> from flint import fmpq_mpoly_ctx
>>> ring = fmpq_mpoly_ctx.get(("t", 2), "degrevlex")
>>> u, v = ring.gens()
>>> from conslaw_algebra.flows.system import gradient_fields
>>> [str(h) for h in polynomial_laws(gradient_fields([u * v]), ring, 2)]
['t0^2 - t1^2']
"""
from __future__ import annotations

from itertools import combinations_with_replacement
from math import gcd

import numpy as np
from flint import fmpq, fmpq_mpoly, nmod_mat

from ..exact.modp import draw_prime, matmul, prime, rank, residue, using
from ..exact.modp import prime as current_prime
from ..exact.rational import nullspace, primitive, rref
from ..exact.sparse import add_into, ring_polynomial
from ..progress import report


def _monomials(dim: int, low: int, high: int):
    for degree in range(low, high + 1):
        yield from combinations_with_replacement(range(dim), degree)

def build_system(fields, dim: int, degree: int):
    """Rows {row key: {unknown: coefficient}} and the list of unknown monomials.

    >>> rows, unknowns = build_system([[(0, [((1,), 1)]), (1, [((0,), 1)])]], dim=2, degree=2)
    >>> unknowns          # the monomials t0, t1, t0^2, t0*t1, t1^2 of degree 1..2
    [(0,), (1,), (0, 0), (0, 1), (1, 1)]
    """
    unknowns = list(_monomials(dim, 1, degree))
    column = {m: c for c, m in enumerate(unknowns)}
    cofactors = list(_monomials(dim, 0, degree - 1))
    entries = [(field_index, j, term_index, coeff, cofactor)
               for field_index, field in enumerate(fields) for j, terms in field
               for cofactor in cofactors for term_index, coeff in terms]
    return _exact_rows(entries, column), unknowns

def _screen_degree_two(fields, dim: int):
    """Degree 2: the rows with more than one entry, found without listing the others.

    An entry is (field f, component j, term t of v_j, cofactor c), c = 1 or one
    variable; it lies in row (f, c*t) and multiplies the unknown of monomial c*t_j.
    Two entries of one field share a row only if (a) the same term appears in two
    components (then for every cofactor), (b) t = m*y and t' = m*x for two variables
    x != y (the row m*x*y), or (c) t' = t/x (the row t). So the rows with several
    entries are found from each term and the terms one variable smaller, in
    O(terms x degree) instead of O(terms x D); every other entry is alone in its row
    and forces its unknown to 0.
    Returns (the monomials not forced to zero, [(field, component, term, coefficient,
    cofactor)] of the rows with several entries, to be built exactly). Nothing of size
    D^2 is made: the monomials not forced are those of the shared rows' entries and those
    in variables without any field term (at most the entries, plus the monomials of the
    inactive variables), so a block of 10^5 parameters costs its fields' terms.

    >>> from conslaw_algebra.flows.system import gradient_fields
    >>> free, rest = _screen_degree_two(gradient_fields([[((0, 1), 1)]]), 2)
    >>> sorted(free), [(j, t, c) for _, j, t, _, c in rest]
    ([(0, 0), (1, 1)], [(0, (1,), (0,)), (1, (0,), (1,))])
    """
    rest = []
    entries_of = np.zeros(dim, dtype=np.int64)     # entries of each component: n_j
    for f, field in enumerate(fields):
        where: dict[tuple, list] = {}
        for j, terms in field:
            entries_of[j] += len(terms)
            for t, coeff in terms:
                where.setdefault(t, []).append((j, coeff))
        rows: set[tuple] = set()
        by_quotient: dict[tuple, list] = {}
        for t, owners in where.items():
            if len(owners) > 1:                                          # (a)
                rows.add(t)
                rows.update(tuple(sorted(t + (x,))) for x in range(dim))
            for position, y in enumerate(t):
                if position and t[position - 1] == y:
                    continue
                quotient = t[:position] + t[position + 1:]
                by_quotient.setdefault(quotient, []).append(y)
                if quotient in where:                                    # (c)
                    rows.add(t)
        for quotient, ys in by_quotient.items():                         # (b)
            for a in range(len(ys)):
                for b in range(a + 1, len(ys)):
                    rows.add(tuple(sorted(quotient + (ys[a], ys[b]))))
        for row in rows:
            found = [(j, coeff, row, ()) for j, coeff in where.get(row, ())]
            for position, x in enumerate(row):
                if position and row[position - 1] == x:
                    continue
                t = row[:position] + row[position + 1:]
                found.extend((j, coeff, t, (x,)) for j, coeff in where.get(t, ()))
            if len(found) > 1:
                rest.extend((f, j, t, coeff, c) for j, coeff, t, c in found)
    # an unknown is forced unless every entry that multiplies it is in a shared row
    shared: dict[tuple, int] = {}
    for _, j, _, _, c in rest:
        shared[(j, c)] = shared.get((j, c), 0) + 1
    inactive = np.flatnonzero(entries_of == 0).tolist()   # no entry: never forced
    free = {(j,) for j in inactive}
    free.update((a, b) for k, a in enumerate(inactive) for b in inactive[k:])
    for (j, c), count in shared.items():
        if count < entries_of[j]:
            continue
        if not c:
            free.add((j,))
            continue
        x = c[0]
        if x == j or shared.get((x, (j,)), 0) == entries_of[x]:
            free.add((min(j, x), max(j, x)))
    return free, rest

class _Numbering(dict):
    """Monomial -> column, a new column for each monomial at its first use."""

    def __missing__(self, key):
        self[key] = len(self)
        return self[key]


def _exact_rows(entries, column):
    """The rows of the entries (field, component j, term, coefficient, cofactor): entry
    c * t multiplies the unknown of monomial cofactor * t_j in the row (field, cofactor * t)."""
    rows: dict[tuple, dict[int, fmpq]] = {}
    for field_index, j, term_index, coeff, cofactor in entries:
        add_into(rows.setdefault((field_index, tuple(sorted(cofactor + term_index))), {}),
                 column[tuple(sorted(cofactor + (j,)))], coeff * (cofactor.count(j) + 1))
    return [r for r in rows.values() if r]

def _eliminate_singletons(rows: list[dict], ncols: int,
                          zero: set[int] | None = None) -> tuple[list[dict], set[int]]:
    """Drop unknowns forced to zero by one-entry rows, until none is left."""
    zero = set(zero or ())
    changed = True
    while changed:
        changed = False
        kept = []
        for row in rows:
            live = {c: v for c, v in row.items() if c not in zero}
            if len(live) == 1:
                zero.add(next(iter(live)))
                changed = True
            elif live:
                kept.append(live)
        rows = kept
    return rows, zero

def _components(rows: list[dict], columns: list[int]) -> list[tuple[list[int], list[dict]]]:
    """The connected components of the row/unknown incidence graph: (unknowns, rows) each,
    in the order of their least unknown.

    >>> [cols for cols, _ in _components([{0: 1, 2: 1}, {3: 1}, {2: 1, 4: 1}], [0, 1, 2, 3, 4])]
    [[0, 2, 4], [1], [3]]
    """
    parent = {c: c for c in columns}     # union-find (networkx's import alone took 0.1-0.3 s)

    def root(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]   # path halving
            c = parent[c]
        return c

    for row in rows:
        first = root(next(iter(row)))
        for c in row:
            other = root(c)
            if other != first:
                parent[other] = first
    blocks: dict[int, tuple[list[int], list[dict]]] = {}
    for c in columns:
        blocks.setdefault(root(c), ([], []))[0].append(c)
    for row in rows:
        blocks[root(next(iter(row)))][1].append(row)
    return sorted(blocks.values(), key=lambda block: block[0][0])


def _block_kernel(cols: list[int], rows: list[dict]) -> list[dict[int, fmpq]]:
    """A basis of the unknowns ``cols`` that solve the block's rows (``rational.nullspace``)."""
    position = {c: k for k, c in enumerate(cols)}
    local = [{position[c]: v for c, v in row.items()} for row in rows]
    return [{cols[k]: v for k, v in vector.items()} for vector in nullspace(local, len(cols))]


def _echelon(kernel: list[dict], cols: list[int], unknowns) -> list[dict]:
    """Reduced echelon form of a kernel basis, columns in monomial order.

    Each law then has its own leading monomial, absent from the others, which keeps
    the basis sparse and independent of how the block was solved.
    """
    if len(kernel) < 2:
        return kernel
    ordered = sorted(cols, key=lambda c: _order_key(unknowns[c]))
    position = {c: k for k, c in enumerate(ordered)}
    reduced, _ = rref([{position[c]: v for c, v in vector.items()} for vector in kernel],
                      len(ordered))
    return [{ordered[k]: v for k, v in row.items()} for row in reduced]


def _primitive(vector: dict[int, fmpq], unknowns) -> dict[int, int]:
    return primitive(vector, leading=min(vector, key=lambda c: _order_key(unknowns[c])))


def _order_key(monomial):
    return (-len(monomial), monomial)


def polynomial_laws(fields, ring, degree: int, seed: int = 0,
                    memory_budget: int | str | None = None, as_terms: bool = False) -> list:
    """A basis of the polynomial laws of degree 1..``degree`` of a family of fields.

    ``fields``: each a list of (component, [(variable indices, coefficient)]), in the
    variables of ``ring`` (see ``flows.system.exact_fields``). Exact over QQ; each law has coprime
    integer coefficients and a positive leading coefficient; the order is by degree,
    then by leading monomial. ``as_terms``: each law as {variable indices: coefficient}
    instead (no FLINT polynomial in a ring of many variables is made).

    >>> from conslaw_algebra.api import parse
    >>> model = parse("param a, b\\noutput a*b")       # one feature, t0*t1
    >>> [str(h) for h in polynomial_laws(model.fields, model.state_ring, 2)]
    ['t0^2 - t1^2']
    """
    dim = ring.nvars()
    fields = list({repr(f): f for f in fields}.values())   # a repeated field adds no equation
    report(f"building the degree-{degree} law system")
    if degree == 2:       # columns only for the monomials of shared rows and the free ones
        free, rest = _screen_degree_two(fields, dim)
        column = _Numbering()
        rows = _exact_rows(rest, column)
        forced = {c for m, c in column.items() if m not in free}
        for m in sorted(free, key=lambda m: (len(m), m)):
            column[m]
        unknowns = list(column)
        rows, zero = _eliminate_singletons(rows, len(unknowns), forced)
    else:
        polys = (ring, [field_polynomials(f, ring) for f in fields])
        graded = _graded_laws(fields, dim, degree, polys, seed, memory_budget)
        if graded is not None:
            laws, unknowns = graded
            laws.sort(key=lambda law: _law_key(law, unknowns))
            return _as_laws(ring, laws, unknowns, as_terms)
        rows, unknowns = build_system(fields, dim, degree)
        rows, zero = _eliminate_singletons(rows, len(unknowns))
    live = [c for c in range(len(unknowns)) if c not in zero]
    laws = []
    components = _components(rows, live)
    for done, (cols, block) in enumerate(components):
        if len(components) > 1:
            report("law systems solved", done, len(components))
        kernel = _echelon(_block_kernel(cols, block), cols, unknowns)
        laws.extend(_primitive(vector, unknowns) for vector in kernel)
    laws.sort(key=lambda law: _law_key(law, unknowns))
    return _as_laws(ring, laws, unknowns, as_terms)


def _as_laws(ring, laws, unknowns, as_terms: bool) -> list:
    if as_terms:
        return [{unknowns[c]: fmpq(v) for c, v in law.items()} for law in laws]
    return [ring_polynomial(ring, {unknowns[c]: v for c, v in law.items()}) for law in laws]


# ------------------------------------------------------------ graded, degree >= 3
def _grading(fields, dim: int, rng) -> tuple[np.ndarray, np.ndarray] | None:
    """Weights (w, s) modulo the working prime that split the law system into blocks.

    Every entry of the system multiplies the unknown m = c * x_j and lies in the row
    (field f, c * t), t a term of component j of f. If wt(t) - s(j) is the same for
    all entries (j, t) of each field (for a gradient field, s = -w: t * x_j runs over
    the monomials of one homogeneous feature), then every entry of a row has the same
    key wt(m) - w_j + s(j), so unknowns whose keys never meet share no row: the laws
    are the sums of laws of each block. (w, s) is a random element of the space of
    such weights (the model's rescaling symmetries and degrees, found from the fields),
    checked on every entry; a weight that happens to coincide only merges blocks.
    None when only the trivial weights fit.
    """
    p = prime()
    entries = []                       # (field, component, exponent vector of t)
    for f, field in enumerate(fields):
        for j, terms in field:
            for index, _ in terms:
                entries.append((f, j, index))
    if not entries:
        return None
    # constraints wt(t) - s(j) = wt(t0) - s(j0) on (w, s), 2 * dim unknowns
    first: dict[int, int] = {}
    rows = []
    for k, (f, j, index) in enumerate(entries):
        row = np.zeros(2 * dim, dtype=np.int64)
        np.add.at(row, list(index), 1)
        row[dim + j] -= 1
        if f not in first:
            first[f] = k
            rows.append(row)             # kept as the field's reference, not a constraint
            continue
        rows.append(row)
    reference = np.array([first[f] for f, _, _ in entries])
    matrix = np.array(rows) - np.array(rows)[reference]
    matrix = matrix[np.any(matrix, axis=1)] % p
    if len(matrix) > 4 * dim:          # a random mix of the constraints has their rank
        mix = rng.integers(0, p, (4 * dim, len(matrix)), dtype=np.int64)
        matrix = matmul(mix, matrix)
    if len(matrix):
        basis, nullity = nmod_mat(len(matrix), 2 * dim, matrix.ravel().tolist(), p).nullspace()
        if nullity == 0:
            return None
        basis = np.array(basis.tolist(), dtype=np.int64)[:, :nullity]
        weights = matmul(basis, rng.integers(0, p, (nullity, 1), dtype=np.int64))[:, 0]
    else:
        weights = rng.integers(0, p, 2 * dim, dtype=np.int64)
    w, s = weights[:dim], weights[dim:]
    # the check: one value of wt(t) - s(j) per field
    values: dict[int, int] = {}
    for f, j, index in entries:
        value = (int(w[list(index)].sum()) - int(s[j])) % p
        if values.setdefault(f, value) != value:
            return None
    return w, s


def _monomial_array(dim: int, degree: int) -> np.ndarray:
    """All monomials of degree 1..``degree`` as sorted variable indices, padded with
    ``dim``: shape (count, degree), in the order of ``_monomials``."""
    parts = []
    for d in range(1, degree + 1):
        flat = np.fromiter((v for m in combinations_with_replacement(range(dim), d) for v in m),
                           dtype=np.int64)
        block = np.full((len(flat) // d, degree), dim, dtype=np.int64)
        block[:, :d] = flat.reshape(-1, d)
        parts.append(block)
    return np.concatenate(parts)


def _blocks(monomials: np.ndarray, w, s, active: np.ndarray, dim: int) -> np.ndarray:
    """Block label of each monomial (``_grading``), or -1 for a monomial forced to 0.

    An entry (m, j) lies in a row whose entries all have the key of (m, j); a key that
    no other monomial has puts each entry of (m, j) alone in its row (entries of one m
    and one j are in different rows for different terms), so m is 0 in every law. Such
    monomials are dropped, repeatedly (dropping one can leave a key to a single
    monomial), before any row is built; the rest are linked by their common keys.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    p = prime()
    padded_w = np.append(w, 0)
    count = len(monomials)
    weight = padded_w[monomials].sum(axis=1) % p
    keys = (weight[:, None] - padded_w[monomials] + np.append(s, 0)[monomials]) % p
    use = np.append(active, False)[monomials]
    owners = np.broadcast_to(np.arange(count)[:, None], monomials.shape)[use]
    key_index, distinct = _dense_ranks(keys[use])
    code = np.sort(key_index * count + owners)                     # (key, monomial), once
    code = code[np.r_[True, code[1:] != code[:-1]]]
    pairs = np.stack([code // count, code % count])
    alive = np.ones(count, dtype=bool)
    while True:
        live = alive[pairs[1]]
        per_key = np.bincount(pairs[0][live], minlength=distinct)
        lonely = live & (per_key[pairs[0]] == 1)
        if not lonely.any():
            break
        alive[pairs[1][lonely]] = False
    pairs = pairs[:, alive[pairs[1]]]
    graph = coo_matrix((np.ones(pairs.shape[1], dtype=np.int8), (pairs[1], count + pairs[0])),
                       shape=(count + distinct,) * 2)
    _, labels = connected_components(graph, directed=False)
    labels = labels[:count]
    labels[~alive] = -1
    return labels


def _dense_ranks(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(index of each value among the distinct values, their number), by one sort.

    >>> _dense_ranks(np.array([7, 3, 7, 9]))
    (array([1, 0, 1, 2]), 3)
    """
    order = np.argsort(values, kind="stable")
    new = np.r_[True, values[order][1:] != values[order][:-1]]
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    return ranks, int(new.sum()) if len(values) else 0


LARGEST_BLOCK = 0         # unknowns of the largest block of the last graded solve (benchmarks)
_ROW_CHUNK = 1 << 18      # (sample, monomial, position) entries per piece of ``_derivative_rows``


def _samples(fields, dim: int, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random points theta_s and v_s = sum_f r_sf v_f(theta_s), modulo p: (count, dim + 1)
    each, with a last column theta = 1, v = 0 for the padding index."""
    p = prime()
    theta = np.ones((count, dim + 1), dtype=np.int64)
    theta[:, :dim] = rng.integers(1, p, (count, dim))
    value = np.zeros((count, dim + 1), dtype=np.int64)
    weights = rng.integers(0, p, (count, len(fields)), dtype=np.int64)
    for f, field in enumerate(fields):
        for j, terms in field:
            total = np.zeros(count, dtype=np.int64)
            for index, coeff in terms:
                term = np.full(count, residue(coeff), dtype=np.int64)
                for v in index:
                    term = term * theta[:, v] % p
                total = (total + term) % p
            value[:, j] = (value[:, j] + total * weights[:, f]) % p
    return theta, value


def _derivative_rows(monomials: np.ndarray, theta: np.ndarray, value: np.ndarray) -> np.ndarray:
    """rows[s, i] = <grad m_i (theta_s), v_s> modulo p (product rule over positions),
    computed a few samples at a time: the temporaries hold (samples x monomials x
    width) entries, about 20 times the rows themselves when taken all at once (a block
    of 1,225 monomials of degree 4 took 230 MB).

    >>> import numpy as np
    >>> theta, value = np.array([[2, 3, 1]]), np.array([[5, 7, 0]])   # m = t0^2 t1, padding 2
    >>> int(_derivative_rows(np.array([[0, 0, 1]]), theta, value)[0, 0]) == 2*2*3*5 + 2*2*7
    True
    """
    step = max(1, _ROW_CHUNK // max(1, monomials.size))
    if theta.shape[0] > step:
        return np.concatenate([_derivative_rows(monomials, theta[s:s + step], value[s:s + step])
                               for s in range(0, theta.shape[0], step)])
    p = prime()
    at = theta[:, monomials]                     # (samples, monomials, width)
    moved = value[:, monomials]
    width = monomials.shape[1]
    prefix = np.ones(at.shape[:2], dtype=np.int64)
    suffixes = [np.ones(at.shape[:2], dtype=np.int64)]
    for k in range(width - 1, 0, -1):
        suffixes.append(suffixes[-1] * at[:, :, k] % p)
    suffixes.reverse()
    total = np.zeros(at.shape[:2], dtype=np.int64)
    for k in range(width):
        total = (total + moved[:, :, k] * prefix % p * suffixes[k]) % p
        prefix = prefix * at[:, :, k] % p
    return total


def _rational(residue_value: int, p: int) -> fmpq | None:
    """n/d = the residue with |n|, d <= sqrt(p/2), or None (rational reconstruction).

    >>> p = 2**31 - 1
    >>> _rational(3 * pow(7, p - 2, p) % p, p), _rational(p - 2, p)
    (3/7, -2)
    """
    bound = int((p // 2) ** 0.5)
    r0, r1, t0, t1 = p, residue_value % p, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, t0, t1 = r1, r0 - q * r1, t1, t0 - q * t1
    if t1 == 0 or abs(t1) > bound or gcd(r1, abs(t1)) != 1:
        return None
    return fmpq(r1, t1) if t1 > 0 else fmpq(-r1, -t1)


def _graded_laws(fields, dim: int, degree: int, polys, seed: int,
                 memory_budget: int | str | None = None) -> list[dict] | None:
    """The laws of degree 1..``degree`` as {unknown index: fmpq}, block by block, or
    None when the system does not split (then ``polynomial_laws`` builds it whole).

    Each block is solved modulo p from random evaluations: the row of a sample is
    <grad h(theta), v(theta)> = 0 for a random point and a random combination v of the
    fields. Every law with integer coefficients satisfies it modulo p, and the
    saturated lattice of the block's laws stays of full rank modulo any prime, so
    the kernel modulo p has at least the dimension of the block's laws over QQ. Its
    reduced echelon basis is lifted to QQ by rational reconstruction and every lifted
    law is checked exactly against every field: when all pass, they are that many
    independent laws, so they are all of them (and, being in reduced echelon form, the
    basis the exact solve gives). A block whose lift fails is solved exactly.
    """
    denominators = [int(c.q) for field in fields for _, terms in field for _, c in terms]
    p, _ = draw_prime(seed, denominators)
    with using(p):
        rng = np.random.default_rng([seed, 0x6C617773])
        grading = _grading(fields, dim, rng)
        if grading is None:
            return None
        w, s = grading
        active = np.zeros(dim, dtype=bool)
        for field in fields:
            for j, terms in field:
                active[j] |= bool(terms)
        monomials = _monomial_array(dim, degree)
        labels = _blocks(monomials, w, s, active, dim)
        kept = np.flatnonzero(labels >= 0)
        order = kept[np.argsort(labels[kept], kind="stable")]
        if len(order) == 0:
            return [], {}
        starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
        sizes = np.diff(np.r_[starts, len(order)])
        margin = 8
        global LARGEST_BLOCK
        LARGEST_BLOCK = int(sizes.max())
        from . import guards              # guards imports the expansion, which imports this
        terms = sum(len(t) for field in fields for _, t in field)
        guards.require(guards.graded_laws_bytes(len(monomials), degree, terms, LARGEST_BLOCK),
                       f"the degree-{degree} law system (its largest block: "
                       f"{LARGEST_BLOCK:,} unknowns)", "lower the degree", memory_budget)
        theta, value = _samples(fields, dim, LARGEST_BLOCK + margin, rng)
        unknowns = {int(i): tuple(int(v) for v in monomials[i] if v < dim) for i in order}
        laws = []
        blocks = [order[a:a + n] for a, n in zip(starts, sizes)]
        for done, block in enumerate(blocks):
            if len(blocks) > 50 and done % 50 == 0:
                report("law systems solved", done, len(blocks))
            found = _block_laws_modular(block, monomials, unknowns, theta, value, margin,
                                        lambda h: _conserved(h, polys))
            if found is None:
                return None
            laws.extend(found)
        return laws, unknowns


def _block_laws_modular(block, monomials, unknowns, theta, value, margin, verify):
    """The laws of one block of unknowns from sampled rows (``_graded_laws``), each
    lifted to QQ and accepted by ``verify`` ({monomial: coefficient} -> bool, an exact
    check), as {unknown: integer}; None when a lift fails."""
    p = prime()
    block = sorted(block.tolist(), key=lambda c: _order_key(unknowns[c]))
    rows = _derivative_rows(monomials[block], theta[:len(block) + margin],
                            value[:len(block) + margin])
    basis, nullity = nmod_mat(rows.shape[0], rows.shape[1], rows.ravel().tolist(), p).nullspace()
    if nullity == 0:
        return []
    # the first ``nullity`` columns only: the whole basis as Python integers doubled the peak
    kernel = np.array([[basis[i, j] for i in range(len(block))] for j in range(nullity)],
                      dtype=np.int64).reshape(nullity, len(block))
    laws = []
    for lifted in lifted_kernel(kernel, p):
        if lifted is None:
            return None
        law = _primitive({block[k]: v for k, v in lifted.items()}, unknowns)
        if not verify({unknowns[c]: v for c, v in law.items()}):
            return None
        laws.append(law)
    return laws


def lifted_kernel(basis: np.ndarray, p: int) -> list[dict[int, fmpq] | None]:
    """A kernel basis modulo p (one vector per row) in reduced echelon form, each row
    lifted to QQ entry by entry (rational reconstruction): {column: fmpq}, or None for
    a row with an entry that does not lift.

    >>> p = prime()
    >>> lifted_kernel(np.array([[2, 4, (p + 1) // 2]]), p)      # 1, 2, 1/4 after scaling
    [{0: 1, 1: 2, 2: 1/4}]
    """
    if not basis.shape[0]:
        return []
    reduced, rank_ = nmod_mat(basis.shape[0], basis.shape[1], basis.ravel().tolist(), p).rref()
    out = []
    for row in np.array(reduced.tolist(), dtype=np.int64)[:rank_]:
        vector = {}
        for k in np.flatnonzero(row):
            value = _rational(int(row[k]), p)
            if value is None:
                vector = None
                break
            vector[int(k)] = value
        out.append(vector)
    return out


def _conserved(h: dict, polys) -> bool:
    ring = polys[0]
    return first_violation(ring_polynomial(ring, h), polys[1]) is None


def _law_key(law: dict[int, int], unknowns):
    """Laws are listed by degree, then by their sorted monomials."""
    return (max(len(unknowns[c]) for c in law), sorted(_order_key(unknowns[c]) for c in law))

def field_polynomials(field, ring) -> dict[int, fmpq_mpoly]:
    """A field given by terms as {component: polynomial of ``ring``}.

    >>> from conslaw_algebra.language.expand import theta_ring
    >>> field_polynomials([(0, [((1,), 1)]), (1, [((0,), 1)])], theta_ring(2))   # grad(t0*t1)
    {0: t1, 1: t0}
    """
    return {j: ring_polynomial(ring, terms) for j, terms in field}

def first_violation(h: fmpq_mpoly, polynomial_fields: list[dict]):
    """(index, <grad h, v>) for the first field v that does not conserve h, or None.

    ``polynomial_fields``: each field as {component: polynomial} (``field_polynomials``).

    >>> from flint import fmpq_mpoly_ctx
    >>> ring = fmpq_mpoly_ctx.get(("t", 2), "degrevlex")
    >>> u, v = ring.gens()
    >>> from conslaw_algebra.flows.system import gradient_fields
    >>> fields = [field_polynomials(f, ring) for f in gradient_fields([u * v])]
    >>> first_violation(u**2 - v**2, fields) is None
    True
    >>> index, value = first_violation(u**2, fields); str(value)
    '2*t0*t1'
    """
    derivatives = {j: h.derivative(j) for j, d in enumerate(h.degrees()) if d}
    for index, field in enumerate(polynomial_fields):
        total = None
        for j, component in field.items():
            if j in derivatives:
                term = derivatives[j] * component
                total = term if total is None else total + term
        if total is not None and not total.is_zero():
            return index, total
    return None

def independent_count(laws, dim: int, seed: int, prime: int | None = None) -> int:
    """Rank of the laws' gradients at a random integer point, modulo a prime.

    The prime is ``prime`` (that of the count the laws are compared with) or the
    seed's own (``modp.draw_prime``). The laws have integer coefficients, so a rank
    modulo any prime at one point is at most the generic rank over QQ: this is a
    certain lower bound on the number of functionally independent laws.

    >>> from flint import fmpq_mpoly_ctx
    >>> u, v = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> independent_count([u**2 - v**2, 2*u**2 - 2*v**2], 2, seed=0)
    1
    """
    if not laws:
        return 0
    rng = np.random.default_rng(seed + 1)
    point = [int(v) for v in rng.integers(1, 1 << 30, dim)]
    with using(prime or draw_prime(seed)[0]):
        if isinstance(laws[0], dict):      # sparse.SparseLaw: only the variables it has
            p = current_prime()
            residues = [v % p for v in point]
            return sum(_sparse_rank(part, residues, p) for part in _disjoint_groups(laws))
        rows = []
        for h in laws:
            row = [0] * dim
            for j, d in enumerate(h.degrees()):
                if d:
                    row[j] = residue(h.derivative(j)(*point))
            rows.append(row)
        return rank(np.array(rows, dtype=np.int64))


def _disjoint_groups(laws) -> list[list]:
    """Distinct sparse laws grouped so that no two groups share a variable: the rank of
    the union is the sum of the groups' ranks, each over its own variables only (a
    transformer's 11,000 block laws in 99,200 variables were one 8 GiB matrix).

    >>> from conslaw_algebra.exact.sparse import SparseLaw
    >>> laws = [SparseLaw({(0, 0): 1, (1, 1): -1}), SparseLaw({(2,): 1}),
    ...         SparseLaw({(1,): 1}), SparseLaw({(0, 0): 1, (1, 1): -1})]
    >>> sorted(len(part) for part in _disjoint_groups(laws))    # the copy is dropped
    [1, 2]
    """
    distinct = list({tuple(sorted(h.items())): h for h in laws}.values())
    parent: dict[int, int] = {}

    def root(j: int) -> int:
        while parent.setdefault(j, j) != j:
            parent[j] = parent[parent[j]]
            j = parent[j]
        return j

    for h in distinct:
        first, *rest = h.variables()
        for j in rest:
            parent[root(j)] = root(first)
    groups: dict[int, list] = {}
    for h in distinct:
        groups.setdefault(root(next(iter(h.variables()))), []).append(h)
    return list(groups.values())


def _sparse_rank(laws, residues, p: int) -> int:
    columns = sorted({j for h in laws for j in h.variables()})
    where = {j: k for k, j in enumerate(columns)}
    rows = np.zeros((len(laws), len(columns)), dtype=np.int64)
    for i, h in enumerate(laws):
        for j, value in h.gradient_at(residues, p).items():
            rows[i, where[j]] = value
    return rank(rows)


def time_factor_degree(flow) -> int:
    """How many degrees a momentum flow's time factor adds to a law (THEORY.md B.3).

    A law of heavy-ball momentum with tau > 0 is e^(tau t) times a polynomial in
    (theta, theta'), and e^(tau t) is the phase-space variable s: one degree more.
    Nesterov's (tau = 3/t) is t^3 times one: three more. With tau = 0, gradient
    flow or a metric there is no factor.

    >>> from conslaw_algebra.language.compiler import FlowSpec
    >>> from fractions import Fraction
    >>> [time_factor_degree(f) for f in (FlowSpec(), FlowSpec("momentum"),
    ...  FlowSpec("momentum", tau=Fraction(1, 2)), FlowSpec("momentum", nesterov=True))]
    [0, 0, 1, 3]
    """
    if flow.kind != "momentum":
        return 0
    return 3 if flow.nesterov else 1 if flow.tau else 0


def expected_degree(flow, base: int = 2) -> int:
    """The degree from which a flow's laws are expected: the degree ``base`` of their
    part in (theta, theta') (2 for the balance laws of products and layers, and for
    the momentum versions of those, THEORY.md B.3) plus the time factor's.

    >>> from conslaw_algebra.language.compiler import FlowSpec
    >>> expected_degree(FlowSpec()), expected_degree(FlowSpec("momentum", nesterov=True))
    (2, 5)
    """
    return base + time_factor_degree(flow)


def degree_hint(flow, metric: bool, degree: int, found: int, independent: int, laws: int,
                time_name: str, suggest: str = "--degree {}") -> str | None:
    """What to try when the laws found at ``degree`` do not reach N = ``laws``:
    the degree the flow's laws are expected at when it is higher, else the next one.
    ``suggest`` formats the suggestion (``--degree {}`` on the command line,
    ``laws {}`` in the REPL). None when nothing is missing.

    >>> from conslaw_algebra.language.compiler import FlowSpec
    >>> from fractions import Fraction
    >>> print(degree_hint(FlowSpec("momentum", tau=Fraction(1)), False, 2, 0, 0, 3, "e^t"))
    no law of degree <= 2 reaches N = 3: heavy-ball momentum's laws carry the time factor e^t, one degree above their part in (theta, theta'), so they are expected from degree 3 on: try --degree 3
    >>> degree_hint(FlowSpec(), False, 2, 1, 1, 1, "")   # complete: nothing to say
    """
    if independent >= laws:
        return None
    extra = time_factor_degree(flow)
    head = (f"no law of degree <= {degree} reaches N = {laws}" if found == 0 else
            f"the laws of degree <= {degree} give {independent} of N = {laws}")
    if extra and degree < expected_degree(flow):
        which = "Nesterov momentum's" if flow.nesterov else "heavy-ball momentum's"
        above = "three degrees" if extra == 3 else "one degree"
        return (f"{head}: {which} laws carry the time factor {time_name}, {above} above "
                f"their part in (theta, theta'), so they are expected from degree "
                f"{expected_degree(flow)} on: try {suggest.format(expected_degree(flow))}")
    why = ("a metric changes the degrees of the laws (a mirror flow of a product has laws of "
           "degree 1, a metric of higher degree can leave none that is polynomial), so the "
           "missing ones may have another degree or not be polynomial" if metric else
           "the missing ones have a higher degree, or are not polynomial")
    return f"{head}: {why}; try {suggest.format(degree + 1)}"
