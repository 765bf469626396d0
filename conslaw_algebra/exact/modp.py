"""Exact arithmetic modulo a word-size prime, vectorised with numpy.

Why primes of this size and this representation: residues below 2^31 multiply without
overflow in int64 (products < 2^62), so elementwise work is plain numpy int64.
Large matrix products go through floating-point BLAS, exactly: the left factor is
cut into three 11-bit limbs, so every partial sum of a chunk of 2,048 products stays
below 2^53 and is an exact double; three BLAS products and a reduction give the
residue. That runs at BLAS speed (about 70 GFLOP/s on this machine class) instead
of numpy's scalar integer loops. Echelon forms use a recursive blocked LU with row
pivoting whose updates are such products, so a rank costs a few n^3 floating-point
operations plus O(n^2 log n) integer work. That integer work is kept to one pass per
entry where it can be: updates in place with one reduction (residues below 2^31, so
a - s * r stays above -2^63), leaves of the triangular solves inverted (32 x 32) and
applied as one product instead of a row update per row, pivot columns cleared by blocks
of rows; this took a dense rank of a 4,001 x 4,000 matrix from 5.2 to 3.5 CPU seconds
and the D = 10,650 count from 64 to 57 (one BLAS thread, busy machine; BENCHMARKS.md).
A prime below 2^26 (``draw_prime(..., bits=26)``, for the largest ranks) needs two
13-bit limbs and chunks of 16,384 products: two BLAS products instead of three, about
1.6 times faster; the price is a weaker error bound (a bad prime or point is about 40
times likelier, see ``lie.py``).
Where it stops winning: tiny matrices (the integer path is used below a size
threshold), and beyond n of a few tens of thousands, memory (n^2 int64 entries).

Which prime: a computation draws its own from its seed (``draw_prime``): x uniform
in [2^30, 2^31 - 2] from a stream of the seed kept apart from the point's, then the
least prime >= x, so about 5 * 10^7 primes in (2^30, 2^31) can come out, none with
probability above MAX_PRIME_GAP / (2^30 - 1) (see ``lie.py`` for what that buys).
A prime dividing a denominator of the model's constants is skipped: the next one is
drawn from the same stream, deterministically, and the skip is recorded. The
environment variable CONSLAW_PRIME, read at import, forces one prime between 2^24 and
2^31 instead (to re-run a count modulo a chosen prime; nothing is random about it
then, so no bound on a bad prime can be given).
The working prime is one context value (``contextvars``), set around a computation
with ``using(p)`` and read by every function here and in the evaluators at call time
through ``prime()``; outside any computation it is 2^31 - 1 (or the forced prime).
Reading it costs about 50 ns per call, against microseconds of array work.

>>> import numpy as np
>>> p = prime()
>>> int(matmul(np.array([[p - 1]]), np.array([[2]]))[0, 0]) == p - 2
True
>>> with using(13):
...     int(matmul(np.array([[12]]), np.array([[2]]))[0, 0])
11
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from flint import fmpz, nmod_mat

from ..errors import ConslawError

DEFAULT_PRIME = 2**31 - 1
PRIME_VARIABLE = "CONSLAW_PRIME"
DRAW_LOW = 1 << 30            # x is drawn in [DRAW_LOW, DRAW_HIGH - 1] ...
DRAW_HIGH = (1 << 31) - 1     # ... so the next prime is at most 2^31 - 1 (limbs need p < 2^31)
DRAW_VALUES = DRAW_HIGH - DRAW_LOW
MAX_PRIME_GAP = 336           # exceeds every gap between consecutive primes below 2^32
_PRIME_STREAM = 0x7072696D    # the seed's stream of primes, apart from its random point
_MAX_SKIPS = 64


def prime_from_environment(text: str | None) -> tuple[int | None, str | None]:
    """(the forced prime, or None, and an error message when ``text`` is bad).

    >>> prime_from_environment(None)
    (None, None)
    >>> prime_from_environment("2147483629")
    (2147483629, None)
    >>> prime_from_environment("1000")[1]
    'CONSLAW_PRIME must be a prime between 2^24 and 2^31, got 1000'
    """
    if text is None or not text.strip():
        return None, None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not (1 << 24 < value < 1 << 31) or not fmpz(value).is_prime():
        return None, f"{PRIME_VARIABLE} must be a prime between 2^24 and 2^31, got {text}"
    return value, None


FORCED_PRIME, PRIME_ERROR = prime_from_environment(os.environ.get(PRIME_VARIABLE))
_CURRENT: ContextVar[int] = ContextVar("conslaw_prime", default=FORCED_PRIME or DEFAULT_PRIME)


def prime() -> int:
    """The working prime of the current computation.

    >>> with using(101):
    ...     prime()
    101
    """
    return _CURRENT.get()


@contextmanager
def using(p: int):
    """Make ``p`` the working prime inside the ``with`` block (this thread or task only).

    >>> with using(7):
    ...     residue(3)
    3
    """
    token = _CURRENT.set(int(p))
    try:
        yield int(p)
    finally:
        _CURRENT.reset(token)


def draw_prime(seed: int, avoid=(), bits: int = 31) -> tuple[int, tuple[int, ...]]:
    """(the working prime for ``seed``, the primes skipped because they divide ``avoid``).

    ``avoid``: integers (the denominators of the model's constants) that the prime must
    not divide. The same seed gives the same prime; CONSLAW_PRIME overrides the draw
    (and is refused, as bad input, when it divides one of them). ``bits``: 31 draws
    from (2^30, 2^31), 26 from (2^25, 2^26) (two limbs in ``matmul``).

    >>> p, skipped = draw_prime(0)
    >>> p == draw_prime(0)[0] and fmpz(p).is_prime() and DRAW_LOW < p <= DRAW_HIGH
    True
    >>> q, skipped = draw_prime(0, avoid=[3 * p])
    >>> q != p and skipped == (p,)
    True
    >>> 2**25 < draw_prime(0, bits=26)[0] < 2**26
    True
    """
    avoid = [abs(int(d)) for d in avoid if abs(int(d)) > 1]
    if FORCED_PRIME is not None:
        for d in avoid:
            if d % FORCED_PRIME == 0:
                raise ConslawError(f"{PRIME_VARIABLE}={FORCED_PRIME} divides the denominator {d} "
                                   "of a constant of the model; choose another prime",
                                   file="<environment>")
        return FORCED_PRIME, ()
    low, high = _draw_range(bits)
    rng = np.random.default_rng([_PRIME_STREAM, seed] + ([] if bits == 31 else [bits]))
    skipped: list[int] = []
    for _ in range(_MAX_SKIPS):
        candidate = fmpz(int(rng.integers(low, high)))
        while not candidate.is_prime():
            candidate += 1
        p = int(candidate)
        if not any(d % p == 0 for d in avoid):
            return p, tuple(skipped)
        skipped.append(p)
    raise ConslawError(f"no usable prime in {_MAX_SKIPS} draws: the model's denominators are "
                       f"divisible by too many primes above 2^{bits - 1}", file="<model>")


def _draw_range(bits: int) -> tuple[int, int]:
    if bits not in (26, 31):
        raise ValueError("primes are drawn with 26 or 31 bits")
    return 1 << (bits - 1), (1 << bits) - 1


def prime_probability(avoid=(), bits: int = 31) -> float:
    """An upper bound on the probability that ``draw_prime`` returns any given prime.

    One value of x leads to a prime q for each integer in (previous prime, q], fewer
    than MAX_PRIME_GAP; skips (primes above 2^30 dividing a denominator d, at most
    (bits(d) - 1) // 30 of them) condition on avoiding that set, dividing by one minus
    its probability.

    >>> prime_probability() == MAX_PRIME_GAP / DRAW_VALUES
    True
    >>> prime_probability(bits=26) == MAX_PRIME_GAP / (2**26 - 1 - 2**25)
    True
    """
    low, high = _draw_range(bits)
    single = MAX_PRIME_GAP / (high - low)
    excluded = sum((abs(int(d)).bit_length() - 1) // (bits - 1) for d in avoid if abs(int(d)) > 1)
    return single / max(1e-300, 1.0 - excluded * single)
_INNER_CHUNK = 1 << 15          # integer path: keeps int64 partial sums below 2^62
_FLOAT_CHUNK = 1 << 11          # float path: 2^11 * 2^11 * 2^31 < 2^53
_TWO_LIMB_PRIME = 1 << 26        # below it, two limbs: 2^14 * 2^13 * 2^26 < 2^53
_TWO_LIMB_CHUNK = 1 << 14
_FLOAT_THRESHOLD = 1 << 18      # multiply-adds above which BLAS pays off
_TILE = 1 << 22                 # entries of a float temporary before tiling columns
_PANEL = 32                     # below this size, elimination is a plain loop
_LEAF = 32                      # columns of an unblocked LU panel, rows of a triangle inverted
_ROW_BLOCK = 512                # rows normalised at once in ``echelonize``


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` modulo p for int64 arrays of residues (numpy batching rules).

    >>> matmul(np.array([[1, 2]]), np.array([[3], [4]])).tolist()
    [[11]]
    >>> rng = np.random.default_rng(0)
    >>> p = prime()
    >>> x = rng.integers(0, p, (70, 3000)); y = rng.integers(0, p, (3000, 50))
    >>> exact = [[sum(int(u) * int(v) for u, v in zip(row, col)) % p for col in y.T[:2]]
    ...          for row in x[:2]]
    >>> matmul(x, y)[:2, :2].tolist() == exact
    True
    """
    p = prime()
    inner = a.shape[-1]
    if a.ndim == 2 and b.ndim == 2 and inner * a.shape[0] * b.shape[1] >= _FLOAT_THRESHOLD:
        return _matmul_float(a, b)
    if inner > _INNER_CHUNK:
        total = None
        for start in range(0, inner, _INNER_CHUNK):
            part = matmul(a[..., start:start + _INNER_CHUNK], b[..., start:start + _INNER_CHUNK, :])
            total = part if total is None else (total + part) % p
        return total
    high = a >> 15
    low = a & 0x7FFF
    return ((np.matmul(high, b) % p) * 32768 + np.matmul(low, b)) % p


def _matmul_float(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if prime() < _TWO_LIMB_PRIME:   # two 13-bit limbs: products < 2^39, 2^14 of them < 2^53
        return _matmul_limbs(a, b, bits=13, count=2, chunk=_TWO_LIMB_CHUNK)
    return _matmul_limbs(a, b, bits=11, count=3, chunk=_FLOAT_CHUNK)


def _matmul_limbs(a: np.ndarray, b: np.ndarray, bits: int, count: int, chunk: int) -> np.ndarray:
    """``a @ b`` modulo p with ``a`` cut into ``count`` limbs of ``bits`` bits: every
    float product of a chunk of ``chunk`` terms is exact (below 2^53), and Horner in
    2^bits keeps every partial value below 2^63.

    >>> with using(50331653):
    ...     x = np.array([[50331652, 3]]); y = np.array([[50331652], [5]])
    ...     int(_matmul_limbs(x, y, 13, 2, _TWO_LIMB_CHUNK)[0, 0]) == (50331652**2 + 15) % 50331653
    True
    """
    p = prime()
    mask = (1 << bits) - 1
    rows, cols = a.shape[-2], b.shape[-1]
    step = cols if rows * cols <= _TILE or cols == 1 or a.ndim != 2 else max(1, _TILE // rows)
    total = None
    for start in range(0, a.shape[-1], chunk):
        block_a = a[..., start:start + chunk]
        # the limbs of ``a`` are converted once for all column tiles, highest first
        limbs = [((block_a >> (bits * limb)) & mask).astype(np.float64)
                 for limb in reversed(range(count))]
        tiles = []
        for j in range(0, cols, step):
            block_b = b[..., start:start + chunk, j:j + step].astype(np.float64)
            combined = None
            for part in limbs:
                product = np.matmul(part, block_b).astype(np.int64)   # exact: < 2^53
                if combined is None:
                    combined = product % p
                else:
                    combined <<= bits
                    combined += product
                    combined %= p
            tiles.append(combined)
        piece = tiles[0] if len(tiles) == 1 else np.concatenate(tiles, axis=-1)
        total = piece if total is None else (total + piece) % p
    return total


def inverse(x: int) -> int:
    """The inverse of a nonzero residue.

    >>> inverse(2) * 2 % prime()
    1
    """
    p = prime()
    return pow(int(x), p - 2, p)


def power(base: np.ndarray, exponent: int) -> np.ndarray:
    """base^exponent entrywise modulo p (int64 arrays of residues; products < 2^62).

    >>> power(np.array([3, 0]), 4).tolist()
    [81, 0]
    """
    p = prime()
    result = np.ones_like(base)
    square = base % p
    while exponent:
        if exponent & 1:
            result = result * square % p
        exponent >>= 1
        if exponent:
            square = square * square % p
    return result


def is_square(values: np.ndarray) -> np.ndarray:
    """Which entries are nonzero squares modulo p (Euler's criterion).

    >>> is_square(np.array([4, 0, 1])).tolist()
    [True, False, True]
    """
    values = np.asarray(values, dtype=np.int64) % prime()
    return (values != 0) & (power(values, (prime() - 1) // 2) == 1)


def square_root(values: np.ndarray) -> np.ndarray:
    """A square root of every entry modulo p, vectorised Tonelli-Shanks; each entry
    must be a square (``is_square``, or 0). The root returned is the one in [0, p/2].

    >>> with using(13):
    ...     square_root(np.array([4, 10, 0])).tolist()     # 2^2 = 4, 6^2 = 36 = 10
    [2, 6, 0]
    """
    p = prime()
    values = np.asarray(values, dtype=np.int64) % p
    odd, twos = p - 1, 0
    while odd % 2 == 0:
        odd, twos = odd // 2, twos + 1
    z = 2
    while pow(z, (p - 1) // 2, p) != p - 1:
        z += 1
    root = power(values, (odd + 1) // 2)
    t = power(values, odd)
    c = np.full_like(values, pow(z, odd, p))
    m = np.full_like(values, twos)
    for _ in range(twos):
        open_ = (t != 1) & (values != 0)
        if not open_.any():
            break
        # the least i with t^(2^i) = 1, per entry
        i = np.zeros_like(values)
        probe = t.copy()
        for step in range(1, twos):
            probe = probe * probe % p
            i = np.where((i == 0) & (probe == 1), step, i)
        b = c.copy()
        for step in range(twos):
            more = open_ & (step < m - i - 1)
            b = np.where(more, b * b % p, b)
        root = np.where(open_, root * b % p, root)
        c = np.where(open_, b * b % p, c)
        t = np.where(open_, t * c % p, t)
        m = np.where(open_, i, m)
    return np.minimum(root, (p - root) % p)


def residue(value) -> int:
    """A rational number (Fraction, fmpq, int) as a residue modulo p.

    >>> from fractions import Fraction
    >>> residue(Fraction(1, 2)) * 2 % prime()
    1
    """
    p = prime()
    numerator, denominator = int(value.numerator), int(value.denominator)
    if denominator % p == 0:
        raise ZeroDivisionError("denominator divisible by the working prime")
    return numerator * pow(denominator % p, p - 2, p) % p


def echelonize(matrix: np.ndarray, overwrite: bool = False) -> tuple[np.ndarray, list[int], list[int]]:
    """Row echelon form by recursive blocked elimination with row pivoting.

    Returns ``(rows, pivots, sources)``: the echelon rows (pivot entries 1, zero at
    the pivot columns of earlier rows), their pivot columns, and for each the index
    of the input row it was pivoted from. ``len(pivots)`` is the rank. With
    ``overwrite`` an int64 input is used as workspace (no copy of a large matrix).

    >>> rows, pivots, sources = echelonize(np.array([[0, 2, 4], [0, 1, 2], [1, 0, 1]]))
    >>> rows.tolist(), pivots, sources
    ([[1, 0, 1], [0, 1, 2]], [0, 1], [2, 1])
    """
    p = prime()
    if overwrite and isinstance(matrix, np.ndarray) and matrix.dtype == np.int64:
        a = matrix
        a %= p
    else:
        a = np.array(matrix, dtype=np.int64) % p
    m, n = a.shape
    if m == 0 or n == 0:
        return np.zeros((0, n), dtype=np.int64), [], []
    order, pivots = _plu(a)
    rank = len(pivots)
    rows = a[:rank]
    columns = np.asarray(pivots, dtype=np.int64)
    for t0 in range(0, rank, _ROW_BLOCK):   # below-diagonal pivot entries hold multipliers
        t1 = min(rank, t0 + _ROW_BLOCK)
        rows[t0:t1, columns[:t0]] = 0
        corner = rows[t0:t1, columns[t0:t1]]
        corner[np.tril_indices(t1 - t0, -1)] = 0
        rows[t0:t1, columns[t0:t1]] = corner
        scale = np.array([inverse(x) for x in rows[np.arange(t0, t1), columns[t0:t1]].tolist()],
                         dtype=np.int64)
        block = rows[t0:t1]
        block *= scale[:, None]
        block %= p
    return rows, pivots, [int(i) for i in order[:rank]]


def _plu(a: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """In-place LU with row pivoting of a rank-deficient matrix (a view is fine).

    On return ``a`` holds the permuted rows: for row t and pivot number t' < t the
    entry at column pivots[t'] is the multiplier L[t, t']; the other entries of the
    first s = rank rows are the echelon rows U; later rows are 0 off the pivot
    columns. Returns (order, pivots) with a_before[order] = L @ U. The columns are
    split in halves, recursively, so that almost all work is in BLAS products.
    """
    m, n = a.shape
    if n <= _LEAF or m <= _LEAF:
        return _plu_small(a)
    p = prime()
    half = n // 2
    left, right = a[:, :half], a[:, half:]
    order1, pivots1 = _plu(left)
    if not _identity(order1):
        right[:] = right[order1]
    s1 = len(pivots1)
    if s1:
        lower = a[:, pivots1]                         # column t' = multipliers of pivot t'
        top = right[:s1]
        _unit_lower_solve_into(lower[:s1], top)
        if m > s1:
            rest = right[s1:]
            rest -= matmul(lower[s1:], top)
            rest %= p
    order2, pivots2 = _plu(right[s1:])
    if not _identity(order2):
        left[s1:] = left[s1:][order2]
    order = np.concatenate([order1[:s1], order1[s1:][order2]])
    return order, pivots1 + [half + j for j in pivots2]


def _plu_small(a: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Unblocked in-place elimination, for few rows or few columns."""
    p = prime()
    m, n = a.shape
    order = np.arange(m)
    pivots: list[int] = []
    for j in range(n):
        s = len(pivots)
        if s == m:
            break
        nonzero = np.flatnonzero(a[s:, j])
        if nonzero.size == 0:
            continue
        i = s + int(nonzero[0])
        if i != s:
            a[[s, i]] = a[[i, s]]
            order[[s, i]] = order[[i, s]]
        scale = a[s + 1:, j] * inverse(a[s, j]) % p
        if j + 1 < n:             # residues < 2^31: a - scale * row stays above -2^62
            below = a[s + 1:, j + 1:]
            below -= np.outer(scale, a[s, j + 1:])
            below %= p
        a[s + 1:, j] = scale
        pivots.append(j)
    return order, pivots


def _identity(order: np.ndarray) -> bool:
    return bool((order == np.arange(len(order))).all())


def _unit_lower_solve(lower: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """X with (I + strictly lower part of ``lower``) @ X = rhs; blocked recursion.

    >>> _unit_lower_solve(np.array([[5, 0], [3, 7]]), np.array([[1], [4]])).tolist()
    [[1], [1]]
    """
    x = np.array(rhs, dtype=np.int64) % prime()
    _unit_lower_solve_into(lower, x)
    return x


def _unit_lower_solve_into(lower: np.ndarray, x: np.ndarray) -> None:
    """``_unit_lower_solve`` in place on ``x`` (residues; a view is fine). A leaf of the
    recursion inverts its small triangle and multiplies (one product instead of a row
    update per row of the triangle)."""
    p = prime()
    size = lower.shape[0]
    if size <= _LEAF:
        if size > 1:
            x[:] = matmul(_unit_lower_inverse(lower), x)
        return
    half = size // 2
    _unit_lower_solve_into(lower[:half, :half], x[:half])
    rest = x[half:]
    rest -= matmul(lower[half:, :half], x[:half])
    rest %= p
    _unit_lower_solve_into(lower[half:, half:], rest)


def _unit_lower_inverse(lower: np.ndarray) -> np.ndarray:
    """The inverse of I + (strictly lower part of a small ``lower``), modulo p.

    >>> _unit_lower_inverse(np.array([[9, 9], [3, 9]])).tolist() == [[1, 0], [prime() - 3, 1]]
    True
    """
    p = prime()
    size = lower.shape[0]
    x = np.eye(size, dtype=np.int64)
    for t in range(size - 1):
        column = lower[t + 1:, t]
        if column.any():
            below = x[t + 1:]
            below -= np.outer(column, x[t])
            below %= p
    return x


def kernel(matrix: np.ndarray) -> np.ndarray:
    """A basis of the right kernel {x : matrix x = 0} modulo the working prime, one
    vector per row (free columns set to the unit vectors), from ``echelonize``: its
    rows restricted to the pivot columns are unit upper triangular, so the pivot
    coordinates come from one blocked triangular solve (BLAS products, where FLINT's
    ``nmod_mat.nullspace`` eliminates entry by entry: about ten times slower at 3,000).

    >>> kernel(np.array([[1, 2, 3], [0, 1, 1]])).tolist() == [[prime() - 1, prime() - 1, 1]]
    True
    """
    p = prime()
    n = matrix.shape[1]
    rows, pivots, _ = echelonize(matrix)
    taken = set(pivots)
    free = [c for c in range(n) if c not in taken]
    out = np.zeros((len(free), n), dtype=np.int64)
    if not free:
        return out
    out[np.arange(len(free)), free] = 1
    if pivots:
        flip = np.arange(len(pivots))[::-1]
        triangle = rows[:, pivots][flip][:, flip]           # unit lower triangular
        solved = _unit_lower_solve(triangle, rows[:, free][flip])[flip]
        out[:, pivots] = (-solved.T) % p
    return out


def rank(rows: np.ndarray) -> int:
    """Rank of a matrix of residues.

    >>> rank(np.array([[1, 2], [2, 4]]))
    1
    """
    if rows.size == 0:
        return 0
    m, n = rows.shape
    p = prime()
    if m * n <= 1 << 20:
        return nmod_mat(m, n, (np.asarray(rows) % p).ravel().tolist(), p).rank()
    return len(echelonize(rows)[1])


class Span:
    """A subspace of GF(p)^n, kept as echelon rows in insertion order.

    Row i has 1 at its pivot column and 0 at the pivot columns of rows before it, so
    the pivot block is unit upper triangular and reducing a vector is one triangular
    solve and one product.

    >>> s = Span(3)
    >>> s.add(np.array([[1, 0, 1], [2, 0, 2], [0, 1, 0]]))
    [0, 2]
    >>> s.rank, s.contains(np.array([3, 5, 3])), s.contains(np.array([0, 0, 1]))
    (2, True, False)
    """

    def __init__(self, dim: int):
        self.dim = dim
        self.rows = np.zeros((0, dim), dtype=np.int64)
        self.pivots: list[int] = []

    @property
    def rank(self) -> int:
        return len(self.pivots)

    def reduce(self, vectors: np.ndarray) -> np.ndarray:
        """Residues of the vectors after removing their components in the span."""
        p = prime()
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.int64)) % p
        if not self.pivots:
            return vectors
        coefficients = self._coordinates(vectors[:, self.pivots])
        return (vectors - matmul(coefficients, self.rows)) % p

    def _coordinates(self, at_pivots: np.ndarray) -> np.ndarray:
        """C with C @ rows[:, pivots] = at_pivots (forward substitution, blocked)."""
        p = prime()
        pivots = np.asarray(self.pivots, dtype=np.int64)
        c = at_pivots.copy()
        r = self.rank
        for j0 in range(0, r, _PANEL):
            j1 = min(r, j0 + _PANEL)
            # the rows' entries at this panel's pivots only (not the whole r x r block)
            block_matrix = self.rows[:j1, pivots[j0:j1]]
            if j0:
                c[:, j0:j1] = (c[:, j0:j1] - matmul(c[:, :j0], block_matrix[:j0])) % p
            for j in range(j0 + 1, j1):
                c[:, j] = (c[:, j] - matmul(c[:, j0:j], block_matrix[j0:j, j - j0:j - j0 + 1])[:, 0]) % p
        return c

    def contains(self, vector: np.ndarray) -> bool:
        return not self.reduce(vector).any()

    def add(self, vectors: np.ndarray) -> list[int]:
        """Add vectors; return the indices of a subset that raised the rank."""
        rest = self.reduce(vectors)
        rows, pivots, sources = echelonize(rest, overwrite=True)
        if pivots:
            self.rows = np.vstack([self.rows, rows])
            self.pivots.extend(pivots)
        return sorted(sources)

    @classmethod
    def from_rows(cls, rows: np.ndarray, overwrite: bool = False) -> "Span":
        """The span of many rows at once (``overwrite``: use ``rows`` as workspace)."""
        span = cls(rows.shape[1])
        span.rows, span.pivots, _ = echelonize(rows, overwrite=overwrite)
        return span
