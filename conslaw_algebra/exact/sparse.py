"""Sparse terms of a FLINT polynomial: (sorted variable indices with repetition, coefficient).

The gradient, metric and bracket code multiplies and differentiates polynomials as lists
of such terms (a monomial is the multiset of its variables, so d/dt_j drops one j); this
is the one conversion from python-flint's ``fmpq_mpoly`` to that form (the way back is
``language.expand.ring_polynomial``). Why numpy: the exponent vectors come out of FLINT
dense (one entry per variable), and one ``nonzero`` over their matrix finds the few
variables of every term at once instead of a Python loop over all D entries of each.
Where it stops winning: the cost stays proportional to terms x D, since FLINT already
hands over dense exponent tuples; 2,000 cubic terms take 15 ms at D = 30, 0.1 s at
D = 300 and 1.5 s at D = 3,000 (of which ``terms()`` itself is about a third).
"""
from __future__ import annotations

import numpy as np
from flint import fmpq_mpoly


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
