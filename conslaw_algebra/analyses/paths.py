"""The path-lifting view: path monomials Phi_p(theta) and path-norms.

For a ReLU network (any DAG, with biases, max-pooling or weight sharing) every
feature is a sum of path products (THEORY.md D): a path from an input, or from a
bias, to an output, through one unit per layer, contributes the product of its
weights. Listing the terms of all features therefore lists the path monomials (a
monomial reached by several paths, as with weight sharing, appears once with their
number as coefficient). The path-norm of THEORY.md D is then a sum over that list.
Where it stops winning: the list has one entry per path, so it is for small models;
``count_paths`` without listing gives the path count of the expansion as a bound.

>>> import conslaw_algebra as ca
>>> model = ca.parse("layers 2 -> 2 relu bias -> 1")
>>> sorted(str(p) for p in path_monomials(model))    # W1 = t0..t3, b1 = t4, t5, W2 = t6, t7
['t0*t6', 't1*t6', 't2*t7', 't3*t7', 't4*t6', 't5*t7']
>>> path_norm(model, [1, 2, 3, 4, 5, 6, 7, 8], q=1)   # |W2| (|W1| 1 + |b1|) = 7*8 + 8*13
Fraction(160, 1)
"""
from __future__ import annotations

from fractions import Fraction

from ..language.expand import estimate_terms, expand_features, ring_polynomial


def path_terms(model) -> list:
    """Every path monomial as sparse terms (variable indices with repetition, coefficient),
    feature by feature: no FLINT polynomial, whose exponent vector would cost D per term.

    >>> import conslaw_algebra as ca
    >>> path_terms(ca.parse("layers 1 -> 2 relu -> 1"))
    [((0, 2), 1), ((1, 3), 1)]
    """
    expansion = model.expansion
    if any(d.window for d in model.program.data):   # max-pool: every selection is a path
        expansion = expand_features(model.program, window_relations=False)
    return [term for f in expansion.features for term in f.terms]


def path_monomials(model, most: int | None = None) -> list:
    """Every path monomial (with its coefficient), feature by feature; the first
    ``most`` of them when given.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("layers 1 -> 2 relu -> 1")    # W1[0,0], W1[1,0], W2[0,0], W2[0,1]
    >>> path_monomials(model)                          # one path through each hidden unit
    [t0*t2, t1*t3]
    """
    ring = model.expansion.ring
    terms = path_terms(model)
    return [ring_polynomial(ring, [term]) for term in terms[:most]]


def count_paths(model, limit: int = 200_000) -> tuple[int, bool]:
    """(number of paths, exact?): exact from the expansion when it has at most
    ``limit`` terms, otherwise the expansion's term count, an upper bound.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("layers 1 -> 2 relu -> 1")    # W1[0,0], W1[1,0], W2[0,0], W2[0,1]
    >>> count_paths(model)
    (2, True)
    """
    estimate = estimate_terms(model.program)
    if estimate <= limit:
        return len(path_terms(model)), True
    return estimate, False


def path_norm(model, point, q: int = 1) -> Fraction:
    """sum_p |Phi_p(theta)|^q at ``point`` (the parameters in order, rationals), exactly.

    The path-norm is this value to the power 1/q.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("layers 1 -> 2 relu -> 1")    # W1[0,0], W1[1,0], W2[0,0], W2[0,1]
    >>> path_norm(model, [1, 2, 3, -4]), path_norm(model, [1, 2, 3, -4], q=2)   # |1*3| + |2*(-4)|
    (Fraction(11, 1), Fraction(73, 1))
    """
    if len(point) != model.dim:
        raise ValueError(f"the point needs {model.dim} coordinates, got {len(point)}")
    if q < 1:
        raise ValueError("q must be a positive integer")
    values = [Fraction(v) for v in point]
    total = Fraction(0)
    for variables, coeff in path_terms(model):
        value = Fraction(int(coeff.p), int(coeff.q))
        for var in variables:
            value *= values[var]
        total += abs(value) ** q
    return total
