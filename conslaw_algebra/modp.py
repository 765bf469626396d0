"""Exact arithmetic modulo one word-size prime, vectorised with numpy int64.

Why this prime and this representation: residues below 2^31 multiply without
overflow in int64 (products < 2^62), so elementwise work is plain numpy. Matrix
products split one factor into 15- and 16-bit halves so every partial sum stays
below 2^63 for inner dimensions up to 2^15 (longer ones are chunked). Ranks and
echelon forms of dense matrices go to python-flint's ``nmod_mat`` (FLINT's C code).
Where it stops winning: dense elimination is cubic; past a few thousand columns the
rank itself dominates (about 5 s at n = 3,000 on this machine class).

>>> import numpy as np
>>> int(matmul(np.array([[PRIME - 1]]), np.array([[2]]))[0, 0]) == PRIME - 2
True
"""
from __future__ import annotations

import numpy as np
from flint import nmod_mat

PRIME = 2**31 - 1
_INNER_CHUNK = 1 << 15


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` modulo PRIME for int64 arrays of residues (numpy batching rules).

    >>> matmul(np.array([[1, 2]]), np.array([[3], [4]])).tolist()
    [[11]]
    """
    inner = a.shape[-1]
    if inner > _INNER_CHUNK:
        total = None
        for start in range(0, inner, _INNER_CHUNK):
            part = matmul(a[..., start:start + _INNER_CHUNK], b[..., start:start + _INNER_CHUNK, :])
            total = part if total is None else (total + part) % PRIME
        return total
    high = a >> 15
    low = a & 0x7FFF
    return ((np.matmul(high, b) % PRIME) * 32768 + np.matmul(low, b)) % PRIME


def inverse(x: int) -> int:
    """The inverse of a nonzero residue.

    >>> inverse(2) * 2 % PRIME
    1
    """
    return pow(int(x), PRIME - 2, PRIME)


def residue(value) -> int:
    """A rational number (Fraction, fmpq, int) as a residue modulo PRIME.

    >>> from fractions import Fraction
    >>> residue(Fraction(1, 2)) * 2 % PRIME
    1
    """
    numerator, denominator = int(value.numerator), int(value.denominator)
    if denominator % PRIME == 0:
        raise ZeroDivisionError("denominator divisible by the working prime")
    return numerator * inverse(denominator % PRIME) % PRIME


def rank(rows: np.ndarray) -> int:
    """Rank of a matrix of residues.

    >>> rank(np.array([[1, 2], [2, 4]]))
    1
    """
    if rows.size == 0:
        return 0
    m, n = rows.shape
    return nmod_mat(m, n, rows.ravel().tolist(), PRIME).rank()


def echelon_basis(rows: np.ndarray) -> np.ndarray:
    """Reduced row echelon basis (nonzero rows only) of the row space.

    >>> echelon_basis(np.array([[2, 4], [1, 2]])).tolist()
    [[1, 2]]
    """
    m, n = rows.shape
    if m == 0:
        return np.zeros((0, n), dtype=np.int64)
    reduced, r = nmod_mat(m, n, rows.ravel().tolist(), PRIME).rref()
    flat = np.array([int(x) for x in reduced.entries()], dtype=np.int64).reshape(m, n)
    return flat[:r]


class Span:
    """A subspace of GF(p)^n kept in reduced row echelon form.

    >>> s = Span(3)
    >>> s.add(np.array([[1, 0, 1], [2, 0, 2], [0, 1, 0]]))
    [0, 2]
    >>> s.rank, s.contains(np.array([3, 5, 3]))
    (2, True)
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
        vectors = np.atleast_2d(vectors) % PRIME
        if not self.pivots:
            return vectors
        coefficients = vectors[:, self.pivots]
        return (vectors - matmul(coefficients, self.rows)) % PRIME

    def contains(self, vector: np.ndarray) -> bool:
        return not self.reduce(vector).any()

    def add(self, vectors: np.ndarray) -> list[int]:
        """Add vectors in order; return the indices of those that raised the rank."""
        rest = self.reduce(vectors)
        raised = []
        for i in range(rest.shape[0]):
            row = rest[i]
            nonzero = np.flatnonzero(row)
            if nonzero.size == 0:
                continue
            pivot = int(nonzero[0])
            row = row * inverse(row[pivot]) % PRIME
            if self.rows.shape[0]:
                self.rows = (self.rows - np.outer(self.rows[:, pivot], row) % PRIME) % PRIME
            rest[i + 1:] = (rest[i + 1:] - np.outer(rest[i + 1:, pivot], row) % PRIME) % PRIME
            self.rows = np.vstack([self.rows, row])
            self.pivots.append(pivot)
            raised.append(i)
        return raised

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> "Span":
        """The span of many rows at once, through FLINT's echelon form."""
        span = cls(rows.shape[1])
        basis = echelon_basis(rows)
        span.rows = basis
        span.pivots = [int(np.flatnonzero(r)[0]) for r in basis]
        return span
