"""Exact linear algebra over QQ: reduced row echelon forms, kernels, primitive vectors.

One entry point, ``rref(rows, ncols, method='auto')``, in the spirit of SymPy's
``polys/matrices/rref.py``: the caller says what to compute, the module chooses how.
Rows are sparse ({column: rational}); the answer is the same for every method (the
reduced row echelon form is unique). ``nullspace`` and ``primitive`` build on it, and
``Span`` is the same elimination kept incrementally (one vector at a time, with
membership tests), over any sortable keys. Three backends:

- ``'gauss'``: sparse Gauss-Jordan written here over python-flint ``fmpq`` dicts (the
  rows kept fully reduced, pivot = the least key, so reducing a row costs its own size,
  not the rank). No import, no conversion.
- ``'flint'``: FLINT's dense ``fmpq_mat.rref`` (in C), after copying the rows into a
  dense m x n matrix.
- ``'sympy'``: SymPy's sparse ``DomainMatrix.rref`` (Gauss-Jordan over QQ or
  fraction-free over ZZ, its own choice). Not chosen by ``auto``: kept as an
  independent check of the other two (the tests compare them).

Measured (CPU time, the 1,365 systems the law engines solve on the test suite's
models, the ground-truth rows, the examples and ReLU nets up to D = 520: law blocks,
echelon forms of kernel bases, the syzygy engine's curl conditions; all three agree on
every one). Almost all law blocks are tall and thin (up to 47,385 x 306, fill 0.5-50%).
Totals: 'gauss' 1.21 s, 'flint' 3.81 s, 'sympy' 2.37 s (plus 0.2-0.5 s to import
SymPy), the best of the three on each system 1.14 s. 'flint' wins where the dense copy
is small and filled (a few thousand entries, a fifth of them nonzero: 180 x 7 in
0.21 ms against 0.38 ms), up to 2x; 'gauss' wins everywhere else, most on large
sparse blocks, where the dense copy costs more than the elimination (the 59 blocks of
2,000-20,000 nonzeros: 'gauss' 0.28 s, 'sympy' 0.50 s, 'flint' 0.83 s; 11,328 x 512
at 0.6% fill: 'gauss' 49 ms, 'sympy' 76 ms; 47,385 x 306: 231 ms and 469 ms, 'flint'
not run: its dense copy has millions of entries). ``auto`` takes
'flint' for m x n <= 30,000 with fill >= 20%, else 'gauss': 1.14 s in all, never
more than 1.8x the best on one system.
Where it stops winning: a large system whose elimination fills in (none of the law
systems measured) would want a modular method (elimination modulo primes, rational
reconstruction), which FLINT has for ``fmpz_mat``; not needed yet.

>>> from flint import fmpq
>>> rref([{0: 2, 1: 4}, {0: 1, 2: 1}], 3)           # [[2, 4, 0], [1, 0, 1]]
([{0: 1, 2: 1}, {1: 1, 2: -1/2}], (0, 1))
>>> nullspace([{0: 2, 1: 4}, {0: 1, 2: 1}], 3)
[{0: -1, 1: 1/2, 2: 1}]
>>> primitive({0: fmpq(-1), 1: fmpq(1, 2), 2: fmpq(1)}, leading=0)
{0: 2, 1: -1, 2: -2}
"""
from __future__ import annotations

from math import gcd

from flint import fmpq, fmpq_mat

from .sparse import add_into

METHODS = ("auto", "gauss", "flint", "sympy")
_FLINT_ENTRIES = 30_000        # 'flint' when the dense copy has at most this many entries
_FLINT_FILL = 0.2              # ... and at least this share of them is nonzero


def _q(value) -> fmpq:
    return value if isinstance(value, fmpq) else fmpq(int(value.numerator),
                                                      int(value.denominator))


def choose_method(rows, ncols: int) -> str:
    """The backend ``rref`` uses for ``method='auto'`` (measured thresholds: header).

    >>> choose_method([{0: 1}] * 10, 300), choose_method([{j: 1 for j in range(9)}] * 500, 9)
    ('gauss', 'flint')
    """
    dense = len(rows) * ncols
    if dense and dense <= _FLINT_ENTRIES and sum(map(len, rows)) >= _FLINT_FILL * dense:
        return "flint"
    return "gauss"


def rref(rows, ncols: int, method: str = "auto") -> tuple[list[dict], tuple[int, ...]]:
    """The reduced row echelon form of the matrix with these sparse rows.

    ``rows``: {column: rational} for columns 0..ncols-1 (fmpq, int or Fraction values).
    Returns the nonzero reduced rows as {column: fmpq}, in pivot order, and the pivot
    columns. ``method``: 'auto' (see ``choose_method``), 'gauss', 'flint' or 'sympy';
    all give the same answer.

    >>> rref([{1: 3}, {0: 1, 1: 1}, {0: 2, 1: 2}], 2, method="flint")
    ([{0: 1}, {1: 1}], (0, 1))
    """
    rows = [{c: _q(v) for c, v in row.items() if v} for row in rows]
    rows = [row for row in rows if row]
    if method == "auto":
        method = choose_method(rows, ncols)
    if method == "gauss":
        span = Span()
        for row in rows:
            span.add(row)
        pairs = sorted(span.rows, key=lambda pair: pair[0])
        reduced, pivots = [row for _, row in pairs], tuple(pivot for pivot, _ in pairs)
    elif method == "flint":
        reduced, pivots = _rref_flint(rows, ncols)
    elif method == "sympy":
        reduced, pivots = _rref_sympy(rows, ncols)
    else:
        raise ValueError(f"unknown method {method!r} (one of {', '.join(METHODS)})")
    return [{c: row[c] for c in sorted(row)} for row in reduced], pivots


def _rref_flint(rows, ncols):
    if not rows:
        return [], ()
    dense = [fmpq(0)] * (len(rows) * ncols)
    for r, row in enumerate(rows):
        for c, v in row.items():
            dense[r * ncols + c] = v
    reduced, rank = fmpq_mat(len(rows), ncols, dense).rref()
    out, pivots = [], []
    for r in range(rank):
        entries = {c: reduced[r, c] for c in range(ncols) if reduced[r, c]}
        pivots.append(min(entries))
        out.append(entries)
    return out, tuple(pivots)


def _rref_sympy(rows, ncols):
    from sympy import QQ  # imported here: SymPy takes a fraction of a second to load
    from sympy.polys.matrices import DomainMatrix
    if not rows:
        return [], ()
    entries = {r: {c: QQ(int(v.p), int(v.q)) for c, v in row.items()}
               for r, row in enumerate(rows)}
    reduced, pivots = DomainMatrix(entries, (len(rows), ncols), QQ).rref()
    sdm = reduced.to_sdm()
    out = [{c: _q(v) for c, v in sdm.get(r, {}).items()} for r in range(len(pivots))]
    return out, tuple(pivots)


def nullspace(rows, ncols: int, method: str = "auto") -> list[dict]:
    """A basis of {x : row . x = 0 for every row}: one vector per free column f, with
    x_f = 1 and the pivot columns solved for, in the order of f.

    >>> nullspace([], 2)
    [{0: 1}, {1: 1}]
    """
    reduced, pivots = rref(rows, ncols, method)
    pivot_set = set(pivots)
    kernel = []
    for free in range(ncols):
        if free in pivot_set:
            continue
        vector = {free: fmpq(1)}
        for row, pivot in zip(reduced, pivots):
            value = row.get(free)
            if value:
                vector[pivot] = -value
        kernel.append({c: vector[c] for c in sorted(vector)})
    return kernel


def primitive(vector, leading) -> dict:
    """The vector scaled to coprime integers with a positive entry at key ``leading``.

    >>> primitive({"x": fmpq(2, 3), "y": fmpq(-4, 9)}, "y")
    {'x': -3, 'y': 2}
    """
    denominators = 1
    for v in vector.values():
        q = int(_q(v).q)
        denominators = denominators * q // gcd(denominators, q)
    ints = {k: int(_q(v) * denominators) for k, v in vector.items()}
    common = 0
    for v in ints.values():
        common = gcd(common, v)
    sign = -1 if ints[leading] < 0 else 1
    return {k: v * sign // common for k, v in ints.items()}


class Span:
    """A subspace of QQ^keys kept in reduced echelon form (each row: pivot = its least
    key, entry 1 there, 0 at every other row's pivot), built one vector at a time.

    Since no row has an entry at another row's pivot, reducing a vector touches only the
    pivots it has itself: the cost of a reduction is its own size, not the rank.

    >>> span = Span()
    >>> span.add({"a": 1, "b": 1}), span.add({"b": 2}), span.add({"a": 3})
    (True, True, False)
    >>> span.contains({"a": 1, "b": -1}), span.rows
    (True, [('a', {'a': 1}), ('b', {'b': 1})])
    """

    def __init__(self):
        self.pivots: dict = {}          # pivot key -> row with 1 there, in insertion order

    @property
    def rows(self) -> list[tuple[object, dict]]:
        """(pivot key, row) pairs, in the order the rows were added."""
        return list(self.pivots.items())

    def reduce(self, vector) -> dict:
        """The vector minus its part in the span's pivot columns: {} when in the span."""
        out = {k: _q(v) for k, v in vector.items() if v}
        for pivot in [k for k in out if k in self.pivots]:
            _subtract_multiple(out, out[pivot], self.pivots[pivot])
        return out

    def add(self, vector) -> bool:
        """Add a vector; False when it was already in the span."""
        rest = self.reduce(vector)
        if not rest:
            return False
        pivot = min(rest)
        scale = rest[pivot]
        row = {k: v / scale for k, v in rest.items()} if scale != 1 else rest
        for other in self.pivots.values():          # keep the rows fully reduced
            c = other.get(pivot)
            if c:
                _subtract_multiple(other, c, row)
        self.pivots[pivot] = row
        return True

    def contains(self, vector) -> bool:
        return not self.reduce(vector)


def _subtract_multiple(vector: dict, c, row: dict) -> None:
    """vector -= c * row, in place, dropping zeros."""
    for k, v in row.items():
        add_into(vector, k, -c * v)
