"""Sparse polynomials as terms: {sorted tuple of variable indices with repetition: coefficient}.

A monomial is the multiset of its variables (t0^2 t3 is (0, 0, 3)), so a product of two
terms concatenates and sorts two short tuples, and d/dt_j drops one j. Every stage that
expands, differentiates or multiplies polynomials term by term uses this one form and
these helpers: ``Terms`` (add, subtract and multiply, zeros dropped), ``add_into``,
``derivatives``, ``terms_key``, the index helpers ``flatten``/``unflatten``, and the two
conversions to and from python-flint's ``fmpq_mpoly`` (``ring_polynomial``,
``sparse_terms``).
Why tuples of indices and not FLINT: a product costs the degree of the term (2 to 6
here), while FLINT packs the exponents of all variables into every term, so each term it
creates or lists costs O(number of variables) (a 16,000-term block of a D = 2,048 model:
3 s to list with FLINT, 0.1 s here). Where it stops winning: dense high-degree
polynomials in few variables, which neural-network features are not.
``sparse_terms`` uses numpy: the exponent vectors come out of FLINT dense (one entry per
variable), and one ``nonzero`` over their matrix finds the few variables of every term
at once instead of a Python loop over all D entries of each; its cost stays
proportional to terms x D (2,000 cubic terms: 15 ms at D = 30, 0.1 s at D = 300, 1.5 s
at D = 3,000, a third of it FLINT's own ``terms()``).

>>> Terms({(0,): 1}) * Terms({(0,): 1, (1,): 2})      # t0 (t0 + 2 t1)
{(0, 0): 1, (0, 1): 2}
"""
from __future__ import annotations

import numpy as np
from flint import fmpq, fmpq_mpoly


class Terms(dict):
    """A sparse polynomial; arithmetic drops the terms that cancel.

    >>> a = Terms({(0,): 1, (): 3})
    >>> a - a, a + Terms({(): -3}), -a
    ({}, {(0,): 1}, {(0,): -1, (): -3})
    """

    __slots__ = ()

    def __add__(self, other):
        out = Terms(self)
        for m, c in other.items():
            add_into(out, m, c)
        return out

    def __sub__(self, other):
        out = Terms(self)
        for m, c in other.items():
            add_into(out, m, -c)
        return out

    def __neg__(self):
        return Terms({m: -c for m, c in self.items()})

    def __mul__(self, other):
        out = Terms()
        out.accumulate(self, other)
        return out

    def accumulate(self, a, b) -> None:
        """self += a * b, in place.

        >>> total = Terms({(0, 1): 1}); total.accumulate({(0,): 1}, {(1,): -1}); total
        {}
        """
        for m1, c1 in a.items():
            for m2, c2 in b.items():
                m = tuple(sorted(m1 + m2)) if m1 and m2 else (m1 or m2)
                value = self.get(m, 0) + c1 * c2
                if value:
                    self[m] = value
                else:
                    del self[m]

    def scaled(self, factor):
        """Every coefficient times ``factor``.

        >>> Terms({(0,): 2}).scaled(3)
        {(0,): 6}
        """
        return Terms({m: c * factor for m, c in self.items()} if factor else {})

    def power(self, exponent: int, one=1):
        """self ** exponent (``one``: the coefficient of the constant 1).

        >>> Terms({(0,): 1, (): 1}).power(2)          # (t0 + 1)^2
        {(0, 0): 1, (0,): 2, (): 1}
        """
        out = Terms({(): one})
        for _ in range(exponent):
            out = out * self
        return out


def add_into(terms: dict, key, value) -> None:
    """terms[key] += value, in place, removing the key when the sum is 0.

    >>> row = {(0,): 2}; add_into(row, (0,), -2); add_into(row, (1,), 5); row
    {(1,): 5}
    """
    value = terms.get(key, 0) + value
    if value:
        terms[key] = value
    else:
        terms.pop(key, None)


def derivatives(terms) -> dict[int, list]:
    """{j: terms of d/dt_j} for the variables j that occur, each a list of terms.

    >>> derivatives([((0, 0, 1), 3)])                    # d/dt (3 t0^2 t1)
    {0: [((0, 1), 6)], 1: [((0, 0), 3)]}
    """
    out: dict[int, list] = {}
    for index, coeff in terms:
        for position, var in enumerate(index):
            if position and index[position - 1] == var:
                continue
            out.setdefault(var, []).append((index[:position] + index[position + 1:],
                                            coeff * index.count(var)))
    return out


def terms_key(terms: dict) -> tuple:
    """A hashable, exact key of sparse terms: equal keys for equal polynomials.

    >>> from fractions import Fraction
    >>> terms_key({(1,): Fraction(1, 2), (0,): 3})
    (((0,), (3, 1)), ((1,), (1, 2)))
    """
    return tuple(sorted((m, (int(c.numerator), int(c.denominator))) for m, c in terms.items()))


def unflatten(flat: int, shape) -> tuple[int, ...]:
    """The index of entry ``flat`` of a row-major tensor of ``shape``.

    >>> unflatten(5, (2, 3)), flatten((1, 2), (2, 3))
    ((1, 2), 5)
    """
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def flatten(index: tuple, shape) -> int:
    """The row-major position of ``index`` in a tensor of ``shape`` (``unflatten``'s inverse)."""
    flat = 0
    for i, size in zip(index, shape):
        flat = flat * size + i
    return flat


def sparse_terms(poly: fmpq_mpoly):
    """Terms as (sorted tuple of variable indices with repetition, coefficient).

    >>> from flint import fmpq_mpoly_ctx
    >>> t0, t1 = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> sparse_terms(3 * t0**2 * t1)
    [((0, 0, 1), 3)]
    """
    terms = list(poly.terms())
    if not terms:
        return []
    exps = np.array([t[0] for t in terms], dtype=np.int64)
    rows, cols = np.nonzero(exps)
    indices: list[list[int]] = [[] for _ in terms]
    for r, c in zip(rows.tolist(), cols.tolist()):
        indices[r].extend([c] * int(exps[r, c]))
    return [(tuple(index), coeff) for index, (_, coeff) in zip(indices, terms)]


class SparseLaw(dict):
    """A polynomial in very many variables, {sorted variable indices: fmpq}, read where an
    ``fmpq_mpoly`` would be (``render.render``, ``laws.independent_count``). Why: FLINT
    stores an exponent for every variable of its ring in every term, at least a byte
    each, so a law of 300 terms in D = 85,000 variables took 25 MB and 512 of them did not
    fit in 8 GB; here a term costs its degree. Laws by block use it from
    ``SPARSE_VARIABLES`` variables on.

    >>> h = SparseLaw({(0, 0): 1, (1, 1): -1})
    >>> h.variables(), h.degree()
    ([0, 1], 2)
    """

    def variables(self) -> list[int]:
        """The variables h involves, in order.

        >>> SparseLaw({(3, 3): 1, (1,): 2}).variables()
        [1, 3]
        """
        return sorted({v for index in self for v in index})

    def degree(self) -> int:
        """The total degree of h.

        >>> SparseLaw({(3, 3): 1, (1,): 2}).degree()
        2
        """
        return max((len(index) for index in self), default=0)

    def gradient_at(self, point, modulus: int) -> dict[int, int]:
        """{j: dh/dt_j at ``point``, modulo ``modulus``} for the variables of h (the point
        as residues, one per variable of the ring).

        >>> SparseLaw({(0, 0): 1, (0, 1): 3}).gradient_at([2, 5], 7)    # (2 t0 + 3 t1, 3 t0)
        {0: 5, 1: 6}
        """
        out: dict[int, int] = {}
        for index, coeff in self.items():
            exact = fmpq(coeff)
            c = int(exact.p) * pow(int(exact.q), -1, modulus) % modulus
            for k, j in enumerate(index):
                if k and index[k - 1] == j:
                    continue
                rest = index[:k] + index[k + 1:]      # d/dt_j of t_j^e: e t_j^(e-1)
                value = c * index.count(j) % modulus
                for v in rest:
                    value = value * point[v] % modulus
                out[j] = (out.get(j, 0) + value) % modulus
        return out


SPARSE_VARIABLES = 4_000   # from this many variables on, laws by block are ``SparseLaw``


def ring_polynomial(ring, terms) -> fmpq_mpoly:
    """A polynomial of ``ring`` (an fmpq_mpoly_ctx) from sparse terms: (variable indices
    with repetition, c) pairs or a dict of them; repeated monomials add up.

    >>> from flint import fmpq_mpoly_ctx
    >>> ring_polynomial(fmpq_mpoly_ctx.get(("t", 3), "degrevlex"),
    ...                 [((0, 0, 2), 3), ((1,), -1), ((1,), 2)])
    3*t0^2*t2 + t1
    """
    items = terms.items() if isinstance(terms, dict) else terms
    dim = ring.nvars()
    dense: dict[tuple, object] = {}
    for monomial, coeff in items:
        exps = [0] * dim
        for var in monomial:
            exps[var] += 1
        add_into(dense, tuple(exps), coeff)
    return ring.from_dict(dense)
