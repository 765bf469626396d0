"""A second law engine: syzygies, then curl-free vectors, then integration.

A polynomial h is conserved iff its gradient g = grad h satisfies <g, v_i> = 0 for every
generator field v_i, i.e. g lies in the syzygy module of the columns of the matrix whose
rows are the fields; conversely a vector g of that module is a gradient iff it is
curl-free. This is the method of the Singular library ``polconslaw`` (Lueders,
Rahkooy et al.), applied to a family of fields:

1. Singular computes the syzygy module (``syz``) and a standard basis of it (``std``)
   in a degree-compatible module order (``singular.module_standard_basis``). Then the
   vectors of degree <= k - 1 in the module are spanned by m * g, g in the basis,
   m a monomial with deg m + deg g <= k - 1 (a standard representation never raises
   the degree).
2. Curl-freeness of a combination sum_a c_a s_a is a linear condition on c. We impose it
   as g = grad I(g), where I(g)(theta) = int_0^1 <g(s theta), theta> ds is the radial
   (Poincare) integral; for polynomial 1-forms this is equivalent to dg = 0 and gives D
   equations instead of D(D - 1)/2.
3. The kernel (exact, SymPy ``DomainMatrix`` over QQ) gives the laws h = I(g);
   they are brought to the reduced echelon form of ``laws.polynomial_laws`` (coprime
   integers, leading monomial first), so the two engines can be compared term by term.

Where it stops winning: the spanning set has (syzygy generators) x C(D + k - 1, k - 1)
vectors of D components each, so it suits small models (D up to a few dozen at
degree 2); the linear-ansatz engine of ``laws.py`` is the fast one and this one is its
independent check. Needs passagemath-singular (``singular.py``).

>>> from flint import fmpq_mpoly_ctx
>>> ring = fmpq_mpoly_ctx.get(("t", 2), "degrevlex")
>>> u, v = ring.gens()
>>> [str(h) for h in syzygy_laws([{0: v, 1: u}], ring, 2)]
['t0^2 - t1^2']
"""
from __future__ import annotations

from itertools import combinations_with_replacement

from flint import fmpq

from .singular import module_standard_basis


def syzygy_laws(polynomial_fields: list[dict], ring, degree: int) -> list:
    """A basis of the polynomial laws of degree 1..``degree`` (fmpq_mpoly of ``ring``).

    ``polynomial_fields``: each field as {component: fmpq_mpoly} (``Model.polynomial_fields``).
    Same normal form and order as ``laws.polynomial_laws``.
    """
    if degree < 1:
        raise ValueError("degree must be at least 1")
    dim = ring.nvars()
    rows = [f for f in polynomial_fields if any(not p.is_zero() for p in f.values())]
    basis = module_standard_basis(rows, dim, ring)
    spanning = list(_truncation(basis, ring, degree - 1))
    if not spanning:
        return []
    potentials = [_radial_integral(s, ring) for s in spanning]
    residuals = [_minus_gradient(s, h) for s, h in zip(spanning, potentials)]
    kernel = _kernel(residuals)
    laws = []
    for vector in kernel:
        h = ring.constant(0)
        for a, c in vector.items():
            h += potentials[a] * c
        if not h.is_zero():
            laws.append(h)
    return _normal_form(laws, ring)


def _truncation(basis, ring, top: int):
    """m * g for g in the standard basis and deg m + deg g <= top."""
    dim = ring.nvars()
    gens = ring.gens()
    for g in basis:
        g_degree = max(c.total_degree() for c in g if not c.is_zero())
        for d in range(0, top - g_degree + 1):
            for index in combinations_with_replacement(range(dim), d):
                m = ring.constant(1)
                for var in index:
                    m *= gens[var]
                yield [m * c for c in g]


def _radial_integral(g: list, ring):
    """I(g) = sum_j theta_j g_j with each term of degree e divided by e + 1."""
    gens = ring.gens()
    total = ring.constant(0)
    for j, component in enumerate(g):
        if component.is_zero():
            continue
        scaled = ring.from_dict({e: c / (sum(e) + 1) for e, c in component.terms()})
        total += gens[j] * scaled
    return total


def _minus_gradient(g: list, h) -> dict:
    """g - grad h as {(component, exponents): coefficient}."""
    out = {}
    for j, component in enumerate(g):
        difference = component - h.derivative(j)
        for e, c in difference.terms():
            out[(j, e)] = c
    return out


def _kernel(columns: list[dict]) -> list[dict[int, fmpq]]:
    """Kernel of the matrix whose column a is ``columns[a]`` (exact over QQ)."""
    from sympy import QQ
    from sympy.polys.matrices import DomainMatrix
    row_index: dict = {}
    entries: dict[int, dict[int, object]] = {}
    for a, column in enumerate(columns):
        for key, value in column.items():
            r = row_index.setdefault(key, len(row_index))
            entries.setdefault(r, {})[a] = QQ(int(value.p), int(value.q))
    n = len(columns)
    if not row_index:
        return [{a: fmpq(1)} for a in range(n)]
    reduced, pivots = DomainMatrix(entries, (len(row_index), n), QQ).rref()
    reduced = reduced.to_sdm()
    pivot_set = set(pivots)
    kernel = []
    for free in range(n):
        if free in pivot_set:
            continue
        vector = {free: fmpq(1)}
        for r, p in enumerate(pivots):
            value = reduced.get(r, {}).get(free)
            if value:
                vector[p] = -fmpq(int(value.numerator), int(value.denominator))
        kernel.append(vector)
    return kernel


def _monomial_key(exps):
    """Degree first (high to low), then the sorted variable list: the order of laws.py."""
    index = tuple(i for i, e in enumerate(exps) for _ in range(e))
    return (-len(index), index)


def _normal_form(laws: list, ring) -> list:
    """Reduced echelon basis of the span, coprime integers, positive leading coefficient,
    sorted by degree then leading monomials."""
    from math import gcd

    from sympy import QQ
    from sympy.polys.matrices import DomainMatrix
    if not laws:
        return []
    monomials = sorted({e for h in laws for e in h.monoms()}, key=_monomial_key)
    column = {e: k for k, e in enumerate(monomials)}
    entries = {r: {column[e]: QQ(int(c.p), int(c.q)) for e, c in h.terms()}
               for r, h in enumerate(laws)}
    reduced, _ = DomainMatrix(entries, (len(laws), len(monomials)), QQ).rref()
    out = []
    for row in reduced.to_sdm().values():
        denominators = 1
        for v in row.values():
            denominators = denominators * int(v.denominator) // gcd(denominators, int(v.denominator))
        ints = {k: int(v * denominators) for k, v in row.items()}
        common = 0
        for v in ints.values():
            common = gcd(common, v)
        sign = -1 if ints[min(ints)] < 0 else 1
        out.append(ring.from_dict({monomials[k]: sign * v // common for k, v in ints.items()}))
    return sorted(out, key=_law_key)


def _law_key(poly):
    return (poly.total_degree(), sorted(_monomial_key(e) for e in poly.monoms()))
