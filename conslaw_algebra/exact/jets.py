"""Truncated Taylor arithmetic: GF(p)[e_1..e_k] / (e_i^2), and power series, vectorised.

(p is the working prime, ``modp.prime()``, read at every call.)

A value with k nilpotent directions is an int64 array whose first axis has 2^k
entries, one per square-free monomial in e_1..e_k (bit i of the index = e_{i+1}).
Evaluating a polynomial map at ``theta + e_1 u`` yields its value and its derivative
along u; nesting directions yields the mixed higher derivatives that Lie brackets of
brackets need. Inside ``series(width, K)`` a jet may also carry a power series in
one more variable t (truncated after t^K, the outermost variable): the value at a
point moving along a curve, to order K, as ``fields.Chains`` uses it. In general the
variables of a jet have orders o_1, o_2, ... (innermost first; 1 for a nilpotent
direction) and the first axis has prod (o_i + 1) entries in mixed radix.
Why this and not symbolic brackets: the cost is a small constant times one
evaluation of the model, whatever the number of monomials the expanded fields would
have. Where it stops winning: a product costs prod (o_i + 1)(o_i + 2) / 2 array
operations: 3^k for k directions (brackets nested more than about six deep get
expensive, hence the series), about K^2 / 2 for a series of order K.

>>> import numpy as np
>>> x = np.array([[3], [1]])       # 3 + e
>>> multiply(x, x)[:, 0].tolist()  # (3 + e)^2 = 9 + 6e
[9, 6]
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

import numpy as np

from .modp import matmul as _matmul, prime

# the orders of the jet variables of the current computation, innermost first; a jet
# wider than their product has further variables of order 1 (nilpotent directions)
_ORDERS: ContextVar[tuple[int, ...]] = ContextVar("conslaw_jet_orders", default=())


def structure(width: int) -> tuple[int, ...]:
    """The orders of the variables of a jet with ``width`` components, innermost first.

    >>> structure(8)
    (1, 1, 1)
    >>> with series(2, 3):
    ...     structure(8), structure(16)
    ((1, 3), (1, 3, 1))
    """
    size, out = 1, []
    for order in _ORDERS.get():
        if size >= width:
            break
        out.append(order)
        size *= order + 1
    while size < width:
        out.append(1)
        size *= 2
    if size != width:
        raise ValueError(f"no jet variables give {width} components")
    return tuple(out)


@contextmanager
def series(width: int, order: int):
    """Inside the block, a jet of ``width * (order + 1)`` components has one more variable,
    outermost, truncated after degree ``order`` (a power series in time, say).

    Its coefficient of degree i is the slice ``[i * width:(i + 1) * width]`` of axis 0.

    >>> t = np.array([[1], [1], [0], [0], [1], [0]])     # 1 + e + t^2, e^2 = 0, t^3 = 0
    >>> with series(2, 2):
    ...     multiply(t, t)[:, 0].tolist()                 # 1 + 2e + 2t^2 + 2e t^2
    [1, 2, 0, 0, 2, 2]
    """
    token = _ORDERS.set(structure(width) + (int(order),))
    try:
        yield
    finally:
        _ORDERS.reset(token)


@lru_cache(maxsize=None)
def _pairs_of(orders: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (a, b, starts): all pairs of monomials whose product a * b = c
    survives the truncation, grouped by c."""
    a, b, c = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    stride = 1
    for order in orders:
        i, j = np.array([(i, j) for i in range(order + 1) for j in range(order + 1 - i)]).T
        a = (a[:, None] + i[None] * stride).ravel()
        b = (b[:, None] + j[None] * stride).ravel()
        c = (c[:, None] + (i + j)[None] * stride).ravel()
        stride *= order + 1
    order_c = np.argsort(c, kind="stable")
    a, b, c = a[order_c], b[order_c], c[order_c]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    return a, b, starts


def _pairs(width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _pairs_of(structure(width))


def _combine(x: np.ndarray, y: np.ndarray, product) -> np.ndarray:
    p = prime()
    if x.shape[0] == 1 or y.shape[0] == 1:
        return product(x, y) % p
    width = x.shape[0]
    if width != y.shape[0]:
        raise ValueError("jets of different orders")
    left, right, starts = _pairs(width)
    terms = product(x[left], y[right]) % p
    return np.add.reduceat(terms, starts, axis=0) % p


def multiply(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise product of two jets (numpy broadcasting on the other axes).

    >>> multiply(np.array([[3], [1]]), np.array([[2], [5]]))[:, 0].tolist()  # (3+e)(2+5e) = 6+17e
    [6, 17]
    """
    return _combine(x, y, np.multiply)


def matmul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Matrix product of two jets of matrices (last two axes).

    >>> x = np.array([[[1, 0], [0, 1]], [[0, 1], [0, 0]]])    # I + e N
    >>> y = np.array([[[1, 2], [3, 4]], [[0, 0], [0, 0]]])    # C
    >>> matmul(x, y).tolist()                                 # C + e N C
    [[[1, 2], [3, 4]], [[3, 4], [0, 0]]]
    """
    if x.shape[0] == 1 or y.shape[0] == 1:
        return _matmul(x, y)
    return _combine(x, y, _matmul)


def widen(x: np.ndarray, width: int) -> np.ndarray:
    """A jet as one with ``width`` components; a constant (width 1) gets zero parts.

    Plain numpy broadcasting would copy a constant into every derivative slot.

    >>> widen(np.array([[7]]), 2).tolist()
    [[7], [0]]
    """
    if x.shape[0] == width:
        return x
    if x.shape[0] != 1:
        raise ValueError("jets of different orders")
    out = np.zeros((width,) + x.shape[1:], dtype=np.int64)
    out[0] = x[0]
    return out


def add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum of two jets (numpy broadcasting on the other axes).

    >>> add(np.array([[3], [1]]), np.array([[5]]))[:, 0].tolist()   # (3 + e) + 5
    [8, 1]
    """
    width = max(x.shape[0], y.shape[0])
    return (widen(x, width) + widen(y, width)) % prime()


def subtract(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Difference of two jets.

    >>> subtract(np.array([[3], [1]]), np.array([[2], [5]]))[:, 0].tolist() == [1, prime() - 4]
    True
    """
    width = max(x.shape[0], y.shape[0])
    return (widen(x, width) - widen(y, width)) % prime()
