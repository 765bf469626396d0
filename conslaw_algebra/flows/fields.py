"""Vector fields as values to evaluate, never expanded.

A field here is a batch of B vector fields on R^D that can be evaluated at a jet
point (shape (2^k, 1 or B, D)), giving shape (2^k, B, D). Three kinds compose:
generator samples (elements of W, from ``flows.py``), ``Brackets`` of two batches,
and ``Combinations`` (fixed linear combinations of other batches). The value of
[X, Y] needs only first derivatives: [X, Y](p) = DY(p) X(p) - DX(p) Y(p), and DY(p) X(p)
is the new-direction part of Y evaluated at p + e X(p) on a jet with one more
direction. So a bracket nested k deep costs evaluations on jets with k directions.
``Chains`` gives the brackets [X, [X, ..., [X, Y]]] of every depth up to K at once
from one curve of X, on power-series jets of order K (``jets.series``): O(K^3)
products instead of about 4^K evaluations (``lie.py`` says when each is used).

>>> import numpy as np
>>> class Linear(Field):          # the fields x -> A x for a batch of matrices A
...     def __init__(self, mats): self.mats, self.batch = mats, len(mats)
...     def eval(self, point): return np.einsum("bij,kbj->kbi", self.mats, point) % prime()
>>> X = Linear(np.array([[[0, 1], [0, 0]]])); Y = Linear(np.array([[[0, 0], [1, 0]]]))
>>> value = Brackets(X, Y).eval(np.array([[[1, 2]]]))[0, 0]   # (B A - A B) x
>>> [int(v) - prime() if v > prime() // 2 else int(v) for v in value]
[-1, 2]
"""
from __future__ import annotations

import math

import numpy as np

from ..exact import jets
from ..exact.modp import inverse, matmul, prime


class Field:
    """A batch of ``batch`` vector fields; ``level`` = bracket nesting + 1.

    For the error bound of a count (``lie.py``) each field also carries ``degree``,
    its degree in the state variables, and ``bits``: log2 of a bound on the sum over
    its components of the l1 norms (sum of |coefficients|) of the field as an integer
    polynomial in the state variables and in every random choice that built it (data,
    weights, combination coefficients taken as variables), constants' denominators
    cleared by a power of their common multiple.

    >>> class Linear(Field):          # the fields x -> A x for a batch of matrices A
    ...     def __init__(self, mats): self.mats, self.batch = mats, len(mats)
    ...     def eval(self, point): return np.einsum("bij,kbj->kbi", self.mats, point) % prime()

    >>> Linear(np.array([[[1, 2], [3, 4]]])).eval(np.array([[[1, 1]]])).tolist()
    [[[3, 7]]]
    """

    batch: int = 1
    level: int = 1
    degree: int = 1
    bits: float = 0.0

    def eval(self, point: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def select(self, indices) -> "Field":  # pragma: no cover - interface
        raise NotImplementedError


class Brackets(Field):
    """[X_b, Y_b] for b in the batch.

    >>> class Linear(Field):          # the fields x -> A x for a batch of matrices A
    ...     def __init__(self, mats): self.mats, self.batch = mats, len(mats)
    ...     def eval(self, point): return np.einsum("bij,kbj->kbi", self.mats, point) % prime()

    >>> X = Linear(np.array([[[1, 2], [3, 4]]]))
    >>> bracket = Brackets(X, X)                   # a field commutes with itself
    >>> bracket.level, bracket.eval(np.array([[[1, 1]]])).tolist()
    (2, [[[0, 0]]])
    """

    def __init__(self, x: Field, y: Field):
        if x.batch != y.batch:
            raise ValueError("bracketed batches must have equal sizes")
        self.x, self.y = x, y
        self.batch = x.batch
        self.level = x.level + y.level
        # [X, Y]_i = sum_j d_j Y_i X_j - d_j X_i Y_j, and sum_j |d_j f|_1 <= deg f |f|_1
        self.degree = max(0, x.degree + y.degree - 1)
        self.bits = math.log2(max(1, x.degree + y.degree)) + x.bits + y.bits

    def eval(self, point):
        # the value of a field at p + e v is its value at p plus e times the derivative:
        # three evaluations, the cheaper (lower) field alone at p
        width = point.shape[0]
        first, second, sign = ((self.x, self.y, 1) if self.x.level <= self.y.level
                               else (self.y, self.x, -1))
        if isinstance(first, Repeated) and point.shape[1] == 1:
            first_value = first.field.eval(point)      # one field: ``second`` at one point
        else:
            first_value = first.eval(point)
        base = np.broadcast_to(point, first_value.shape)
        second_jet = second.eval(np.concatenate([base, first_value]))
        second_value, d_second = second_jet[:width], second_jet[width:]
        base = np.broadcast_to(point, second_value.shape)
        d_first = first.eval(np.concatenate([base, second_value]))[width:]
        return sign * (d_second - d_first) % prime()

    def select(self, indices):
        return Brackets(self.x.select(indices), self.y.select(indices))


class Combinations(Field):
    """Row b is sum_i coefficients[b, i] * (the i-th field of the sources, stacked).

    >>> class Linear(Field):          # the fields x -> A x for a batch of matrices A
    ...     def __init__(self, mats): self.mats, self.batch = mats, len(mats)
    ...     def eval(self, point): return np.einsum("bij,kbj->kbi", self.mats, point) % prime()

    >>> pair = Linear(np.array([[[1, 0], [0, 0]], [[0, 0], [0, 1]]]))   # diag(1, 0), diag(0, 1)
    >>> Combinations([pair], np.array([[2, 3]])).eval(np.array([[[1, 1]]])).tolist()  # diag(2, 3) x
    [[[2, 3]]]
    """

    def __init__(self, sources: list[Field], coefficients: np.ndarray):
        self.sources = sources
        self.coefficients = coefficients % prime()
        self.batch = coefficients.shape[0]
        self.level = max(s.level for s in sources)
        width = sum(s.batch for s in sources)
        if coefficients.shape[1] != width:
            raise ValueError("one coefficient per source field is needed")
        self.degree = max(s.degree for s in sources)
        self.bits = max(s.bits for s in sources) + math.log2(width)   # sum of width fields

    def eval(self, point):
        width, points = point.shape[0], point.shape[1]
        if points == 1:
            stacked = np.concatenate([s.eval(point) for s in self.sources], axis=1)
            stacked = np.broadcast_to(stacked, (width,) + stacked.shape[1:])
            return matmul(self.coefficients[None], stacked)
        # every source field at every point, in one batch: index (field, point)
        values = []
        for source in self.sources:
            tiled = source.select(np.repeat(np.arange(source.batch), points))
            at = tiled.eval(np.tile(point, (1, source.batch, 1)))
            values.append(at.reshape(width, source.batch, points, -1))
        stacked = np.concatenate(values, axis=1)            # (width, fields, points, D)
        p = prime()
        weighted = stacked * self.coefficients.T[None, :, :, None] % p
        return weighted.sum(axis=1) % p

    def select(self, indices):
        return Combinations(self.sources, self.coefficients[np.asarray(indices)])


class Repeated(Field):
    """One field (a batch of 1) repeated ``batch`` times: brackets of one X with many F.

    >>> class Linear(Field):          # the fields x -> A x for a batch of matrices A
    ...     def __init__(self, mats): self.mats, self.batch = mats, len(mats)
    ...     def eval(self, point): return np.einsum("bij,kbj->kbi", self.mats, point) % prime()
    ...     def select(self, i): return Linear(self.mats[np.asarray(i)])
    >>> Repeated(Linear(np.array([[[1, 0], [0, 2]]])), 3).eval(np.array([[[1, 1]]])).tolist()
    [[[1, 2], [1, 2], [1, 2]]]
    """

    def __init__(self, field: Field, batch: int):
        if field.batch != 1:
            raise ValueError("only a single field is repeated")
        self.field, self.batch = field, batch
        self.level, self.degree, self.bits = field.level, field.degree, field.bits

    def eval(self, point):
        if point.shape[1] == 1:
            value = self.field.eval(point)
            return np.broadcast_to(value, (value.shape[0], self.batch) + value.shape[2:])
        return self.field.select(np.zeros(self.batch, dtype=int)).eval(point)

    def select(self, indices):
        return Repeated(self.field, len(np.asarray(indices).ravel()))


class Chains(Field):
    """ad_X^n Y = [X, [X, ..., [X, Y]]] (n brackets) for chosen pairs (n, sample).

    ``picks`` lists (n, b): field b of the batches ``x`` and ``y`` bracketed n times. All
    orders come from one computation along the curve q(t) of X through the point:
    q' = X(q) as a power series in t (order K = the largest n), Z_0(t) = Y(q(t)), and
    Z_{m+1} = Z_m' - DX(q) Z_m. When Z_m(t) = F(q(t)) for a field F, Z_m' = DF(q) X(q),
    so Z_{m+1}(t) = [X, F](q(t)): Z_n(0) = ad_X^n Y (p). Each step loses one order of t.
    Cost: K evaluations of X for the curve and K derivatives of X on series of order at
    most K, each product of series costing about K^2 / 2: O(K^3) model evaluations'
    worth, against about 4^K nested directions for the same bracket built by ``Brackets``.

    >>> class Linear(Field):          # the fields x -> A x for a batch of matrices A
    ...     def __init__(self, mats): self.mats, self.batch = mats, len(mats)
    ...     def eval(self, point): return np.einsum("bij,kbj->kbi", self.mats, point) % prime()
    ...     def select(self, i): return Linear(self.mats[np.asarray(i)])
    >>> X = Linear(np.array([[[0, 1], [0, 0]]])); Y = Linear(np.array([[[0, 0], [1, 0]]]))
    >>> value = Chains(X, Y, [(2, 0)]).eval(np.array([[[1, 2]]]))[0, 0]
    >>> nested = Brackets(X, Brackets(X, Y)).eval(np.array([[[1, 2]]]))[0, 0]
    >>> value.tolist() == nested.tolist()
    True
    """

    def __init__(self, x: Field, y: Field, picks):
        if x.batch != y.batch:
            raise ValueError("bracketed batches must have equal sizes")
        self.x, self.y = x, y
        self.picks = [(int(n), int(b)) for n, b in picks]
        self.batch = len(self.picks)
        self.order = max(n for n, _ in self.picks)
        self.level = self.order * x.level + y.level
        degree, bits = y.degree, y.bits
        for _ in range(self.order):      # as ``Brackets``, n times
            degree, bits = (max(0, x.degree + degree - 1),
                            math.log2(max(1, x.degree + degree)) + x.bits + bits)
        self.degree, self.bits = degree, bits

    def bits_of(self, n: int) -> float:
        """``bits`` of ad_X^n Y alone (the rows of one order)."""
        degree, bits = self.y.degree, self.y.bits
        for _ in range(n):
            degree, bits = (max(0, self.x.degree + degree - 1),
                            math.log2(max(1, self.x.degree + degree)) + self.x.bits + bits)
        return bits

    def eval(self, point):
        if point.shape[1] == 1:         # one point: each sample once, every order
            samples = sorted({b for _, b in self.picks})
            where = {b: i for i, b in enumerate(samples)}
            values = chain_values(self.x.select(samples), self.y.select(samples), point,
                                  self.order)
            return np.stack([values[n][:, where[b]] for n, b in self.picks], axis=1)
        samples = [b for _, b in self.picks]        # one point per pick
        values = chain_values(self.x.select(samples), self.y.select(samples), point, self.order)
        return np.stack([values[n][:, i] for i, (n, _) in enumerate(self.picks)], axis=1)

    def select(self, indices):
        return Chains(self.x, self.y, [self.picks[i] for i in np.asarray(indices).ravel()])


def chain_values(x: Field, y: Field, point: np.ndarray, order: int) -> list[np.ndarray]:
    """[ad_X^n Y (point) for n = 0..order], each of shape (width, batch, D) (``Chains``).

    >>> class Linear(Field):          # the fields x -> A x for a batch of matrices A
    ...     def __init__(self, mats): self.mats, self.batch = mats, len(mats)
    ...     def eval(self, point): return np.einsum("bij,kbj->kbi", self.mats, point) % prime()
    >>> X = Linear(np.array([[[1, 1], [0, 1]]])); Y = Linear(np.array([[[0, 0], [1, 0]]]))
    >>> values = chain_values(X, Y, np.array([[[1, 0]]]), 1)     # B p, then (BA - AB) p
    >>> [v[0, 0].tolist() for v in values] == [[0, 1], [prime() - 1, 0]]
    True
    """
    p = prime()
    width, dim = point.shape[0], point.shape[-1]
    batch = max(x.batch, point.shape[1])
    curve = np.zeros(((order + 1) * width, batch, dim), dtype=np.int64)
    curve[:width] = np.broadcast_to(point, (width, batch, dim))
    for m in range(order):            # q_{m+1} = (coefficient m of X(q)) / (m + 1)
        with jets.series(width, m):
            value = x.eval(curve[:(m + 1) * width])
        curve[(m + 1) * width:(m + 2) * width] = (value[m * width:(m + 1) * width]
                                                  * inverse(m + 1) % p)
    with jets.series(width, order):
        z = y.eval(curve)
    out = [z[:width]]
    for m in range(1, order + 1):     # Z <- Z' - DX(q) Z, one order shorter
        top = order - m
        size = (top + 1) * width
        derivative = np.concatenate([z[(i + 1) * width:(i + 2) * width] * (i + 1)
                                     for i in range(top + 1)]) % p
        with jets.series(width, top):
            moved = x.eval(np.concatenate([np.broadcast_to(curve[:size], z[:size].shape),
                                           z[:size]]))[size:]
        z = (derivative - moved) % p
        out.append(z[:width])
    return out
