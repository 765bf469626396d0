"""Vector fields as values to evaluate, never expanded.

A field here is a batch of B vector fields on R^D that can be evaluated at a jet
point (shape (2^k, 1 or B, D)), giving shape (2^k, B, D). Three kinds compose:
generator samples (elements of W, from ``flows.py``), ``Brackets`` of two batches,
and ``Combinations`` (fixed linear combinations of other batches). The value of
[X, Y] needs only first derivatives: [X, Y](p) = DY(p) X(p) - DX(p) Y(p), and DY(p) X(p)
is the new-direction part of Y evaluated at p + e X(p) on a jet with one more
direction. So a bracket nested k deep costs evaluations on jets with k directions.

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

from ..exact.modp import matmul, prime


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
        width = point.shape[0]
        x_value = self.x.eval(point)
        y_value = self.y.eval(point)
        base = np.broadcast_to(point, x_value.shape)
        dy_x = self.y.eval(np.concatenate([base, x_value]))[width:]
        dx_y = self.x.eval(np.concatenate([base, y_value]))[width:]
        return (dy_x - dx_y) % prime()

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
