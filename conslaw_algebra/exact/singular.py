"""The bridge to Singular: rings, conversions, syzygies, Groebner bases, normal forms.

Why Singular, and through which door. Elimination, subalgebra membership and syzygies
all rest on Groebner (standard) bases. Measured on this machine class (2 cores,
Python 3.11; /work/shared/STACK.md section 3 and ``BENCHMARKS.md``):

* SymPy 1.14 ``groebner`` (buchberger and f5b) does not finish in 300 s on the
  elimination ideal of the four invariants of a [3,3,3] linear net's Gram difference
  (D = 18), because it has no block orders (elimination = a full lex basis);
  python-flint 0.9 has only a naive Buchberger over ZZ and no normal form.
* Singular answers the same ideal in about 10 ms of computation. Two ways to reach it:
  Debian's ``singular`` as a subprocess (a ``.sing`` script, output parsed back; ~10 ms
  process start, 0.35 s wall for the 7-generator [3,3,3] elimination, needs root and
  ``apt-get`` on the CI machine) or **passagemath-singular** from PyPI (Cython bindings
  to libSingular, in process; 0.11 s for that elimination, 1.5 s to import once,
  about 50 s and 1.3 GB to install with pip).
* We use passagemath-singular: it installs with pip in the ``sage`` extra (the same
  extra the Sage bridge uses, so CI installs it once, without root), polynomials cross
  as exact coefficient dictionaries instead of printed text, and a Groebner basis stays
  in memory for many normal forms. On the models of the tests each Singular call
  (``syz`` + ``std`` of a module, or a block-order basis) takes 1-10 ms; relations
  among the 6 laws of a [3,3,3] linear net 0.12 s, among the 9 laws of 1 -> 3 -> 1
  0.015 s; the cost is the one-time import. ``pip install -e '.[test]'`` in a fresh
  venv took 77 s here (warm pip cache).
* SymPy stays as the fallback when passagemath is missing, for tiny ideals only
  (at most ``SYMPY_LIMIT`` variables in all): a lex basis, which is an elimination
  order for "parameters > law variables". Syzygies have no fallback.

Where it stops winning: Groebner bases are doubly exponential in the worst case.
The 10 laws of a [4,4,4] linear net (42 variables in all) already take 263 s and
1.6 GB with the block order (Singular's ``eliminate`` and a weighted order: not
within 90 s; ``slimgb``: not within 120 s), and ``syz`` of the 25 cubic fields of a
[5,5,4,4,5] linear net (D = 81) does not finish in 500 s; its part of degree <= 1,
all the law engine needs, takes 0.6-2 s under a degree bound (``graded_syzygies``).

>>> from flint import fmpq_mpoly_ctx
>>> t0, t1 = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
>>> basis = groebner_basis([t0**2 - t1], eliminate=1)
>>> [str(g) for g in basis]
['t0^2 - t1']
"""
from __future__ import annotations

from itertools import compress

from flint import fmpq

from ..errors import ConslawError

SYMPY_LIMIT = 12   # variables; above this the SymPy fallback refuses (lex bases explode)


class BackendMissingError(ConslawError):
    """Singular (passagemath-singular) is not installed."""

    kind = "missing backend"


_SAGE = None


def _sage():
    """The passagemath namespace, imported once (about 1.5 s)."""
    global _SAGE
    if _SAGE is None:
        try:
            import sage.all__sagemath_singular as sage_all
            from sage.libs.singular.function import singular_function
        except ImportError:
            raise BackendMissingError(
                "this needs Singular: pip install 'conslaw_algebra[sage]' "
                "(passagemath-singular)") from None
        _SAGE = (sage_all, singular_function)
    return _SAGE


def sage_namespace():
    """Sage's namespace for values users keep: ``sage.all`` when SageMath is installed,
    else passagemath's ``sage.all__sagemath_singular``.

    >>> sage_namespace().QQ(3) / 6
    1/2
    """
    for name in ("sage.all", "sage.all__sagemath_singular"):
        try:
            return __import__(name, fromlist=["PolynomialRing"])
        except ImportError:
            continue
    raise BackendMissingError("Sage is not importable here: install SageMath, or passagemath "
                              "(pip install -e '.[sage]')")


def available() -> bool:
    """Whether passagemath-singular can be imported.

    >>> isinstance(available(), bool)
    True
    """
    try:
        _sage()
    except BackendMissingError:
        return False
    return True


def sage_ring(nvars: int, blocks: tuple[int, ...] | None = None, prefix: str = "t"):
    """QQ[prefix0..] in degrevlex, or a block order (degrevlex on each block).

    >>> sage_ring(3, (1, 2)).ngens()
    3
    """
    sage_all, _ = _sage()
    names = [f"{prefix}{i}" for i in range(nvars)]
    if blocks is None or len(blocks) == 1:
        order = "degrevlex"
    else:
        order = sage_all.TermOrder("degrevlex", blocks[0])
        for size in blocks[1:]:
            order = order + sage_all.TermOrder("degrevlex", size)
    return sage_all.PolynomialRing(sage_all.QQ, len(names), names, order=order)


def to_sage(poly, ring, offset: int = 0):
    """An fmpq_mpoly as an element of a Sage ring, its variable i becoming offset + i.

    >>> from flint import fmpq_mpoly_ctx
    >>> a, b = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> to_sage(a * b / 2, sage_ring(3), offset=1)
    1/2*t1*t2
    """
    sage_all, _ = _sage()
    total = ring.ngens()
    terms = {}
    for exps, coeff in poly.terms():
        key = [0] * total
        key[offset:offset + len(exps)] = exps
        terms[tuple(key)] = sage_all.QQ((int(coeff.p), int(coeff.q)))
    return ring(terms)


def from_sage(value, ctx, offset: int = 0):
    """A Sage polynomial as an fmpq_mpoly of ``ctx`` (Sage variable offset + i -> i).

    Raises ValueError when the polynomial involves a variable outside that window.

    >>> from flint import fmpq_mpoly_ctx
    >>> R = sage_ring(3); x = R.gens()
    >>> str(from_sage(x[1]**2 - 3*x[2], fmpq_mpoly_ctx.get(("y", 2), "degrevlex"), offset=1))
    'y0^2 - 3*y1'
    """
    nvars = ctx.nvars()
    terms = {}
    for exps, coeff in value.dict().items():
        exps = tuple(exps)
        if any(exps[:offset]) or any(exps[offset + nvars:]):
            raise ValueError("the polynomial involves variables outside the target ring")
        terms[exps[offset:offset + nvars]] = fmpq(int(coeff.numerator()), int(coeff.denominator()))
    return ctx.from_dict(terms) if terms else ctx.constant(0)


def module_standard_basis(rows: list[dict], dim: int, ctx) -> list[list]:
    """A standard basis of the syzygies {g in QQ[t]^dim : sum_j row[j] g_j = 0 for all rows}.

    ``rows``: each {component j: fmpq_mpoly of ``ctx``} (absent = 0). Singular's
    ``syz`` then ``std`` in the module order (degrevlex, then position): the leading
    term of a vector has its largest total degree, so the elements of degree <= e of
    the module are spanned by m * g with g in the basis and deg m + deg g <= e.
    Returns each basis vector as a list of ``dim`` fmpq_mpoly.

    >>> from flint import fmpq_mpoly_ctx
    >>> ctx = fmpq_mpoly_ctx.get(("t", 2), "degrevlex"); u, v = ctx.gens()
    >>> [[str(c) for c in g] for g in module_standard_basis([{0: v, 1: u}], 2, ctx)]
    [['t0', '-t1']]
    """
    sage_all, singular_function = _sage()
    ring = sage_ring(dim)
    if not rows:
        return [[ctx.constant(1) if i == j else ctx.constant(0) for i in range(dim)]
                for j in range(dim)]
    matrix = sage_all.matrix(ring, [[to_sage(row[j], ring) if j in row else ring(0)
                                     for j in range(dim)] for row in rows])
    syzygies = singular_function("syz")(matrix)
    if not len(syzygies):
        return []
    basis = singular_function("std")(syzygies)
    return [[from_sage(c, ctx) for c in vector] for vector in basis if not vector.is_zero()]


def graded_syzygies(rows: list[dict], dim: int, ctx, top: int) -> list[list]:
    """Homogeneous syzygies of degree <= ``top`` that span (over QQ[t], with multipliers
    keeping the degree <= ``top``) every syzygy of degree <= ``top``, for rows that are
    each homogeneous (all entries of a row of one degree d_i; ``row_degree``).

    Singular's ``syz`` under the option ``degBound`` = top + max d_i: for homogeneous
    input a degree-bounded standard basis is exact in every degree up to the bound
    (Singular manual, ``option``). ``syz`` makes the extended generators
    (column_j, e_j) homogeneous with nonnegative component weights, so e_j weighs
    max d_i and a syzygy of degree e sits in degree e + max d_i <= the bound
    (measured: with the bound ``top`` alone, syzygies of degree ``top`` are lost).
    The option is restored afterwards, also on error.

    >>> from flint import fmpq_mpoly_ctx
    >>> ctx = fmpq_mpoly_ctx.get(("t", 2), "degrevlex"); u, v = ctx.gens()
    >>> [[str(c) for c in g] for g in graded_syzygies([{0: v, 1: u}], 2, ctx, 1)]
    [['t0', '-t1']]
    """
    sage_all, singular_function = _sage()
    if not rows:
        return [[ctx.constant(1) if i == j else ctx.constant(0) for i in range(dim)]
                for j in range(dim)]
    degrees = [row_degree(row) for row in rows]
    if None in degrees:
        raise ValueError("graded_syzygies needs homogeneous rows")
    from sage.libs.singular.option import opt
    ring = sage_ring(dim)
    gens, rationals = ring.gens(), sage_all.QQ
    entries = {(i, j): _sparse_to_sage(p, gens, rationals, ring)
               for i, row in enumerate(rows) for j, p in row.items()}
    matrix = sage_all.matrix(ring, len(rows), dim, entries, sparse=False)
    bound = top + max(degrees)
    previous = opt["deg_bound"]
    opt["deg_bound"] = bound
    try:
        syzygies = singular_function("syz")(matrix)
    finally:
        opt["deg_bound"] = previous
    out = []
    for vector in syzygies:
        if vector.is_zero():
            continue
        if max(c.degree() for c in vector if not c.is_zero()) <= top:
            out.append([from_sage(c, ctx) for c in vector])
    return out


def _sparse_to_sage(poly, gens, rationals, ring):
    """``to_sage`` for sparse polynomials in many variables: each term as a product of
    generators (building a full exponent tuple per term costs O(variables))."""
    total = ring(0)
    for exps, coeff in poly.terms():
        term = ring(rationals((int(coeff.p), int(coeff.q))))
        for var in compress(range(len(exps)), exps):
            power = int(exps[var])
            term *= gens[var] if power == 1 else gens[var] ** power
        total += term
    return total


def row_degree(row: dict) -> int | None:
    """The common total degree of the nonzero entries of a row, None when they are not
    all homogeneous of one degree (or the row is zero).

    >>> from flint import fmpq_mpoly_ctx
    >>> u, v = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> row_degree({0: u * v, 1: v**2}), row_degree({0: u, 1: v**2})
    (2, None)
    """
    degrees = set()
    for p in row.values():
        if p.is_zero():
            continue
        if len(p) == 1:
            degrees.add(p.total_degree())
        else:
            degrees.update(sum(e) for e in p.monoms())
        if len(degrees) > 1:
            return None
    return degrees.pop() if degrees else None


def groebner_basis(polys: list, eliminate: int, backend: str | None = None) -> list:
    """A reduced Groebner basis for an elimination order: the first ``eliminate``
    variables (degrevlex) above the rest (degrevlex). Input and output are fmpq_mpoly
    of one context. ``backend``: "singular", "sympy" or None (Singular when installed,
    else SymPy for tiny ideals).

    >>> from flint import fmpq_mpoly_ctx
    >>> t, y = fmpq_mpoly_ctx.get(("v", 2), "degrevlex").gens()
    >>> [str(g) for g in groebner_basis([y - t**2, t**3 - t], 1, backend="sympy")]
    ['v0^2 - v1', 'v0*v1 - v0', 'v1^2 - v1']
    """
    if not polys:
        return []
    ctx = polys[0].context()
    backend = backend or ("singular" if available() else "sympy")
    if backend == "singular":
        return _singular_basis(polys, eliminate, ctx)
    if backend == "sympy":
        return _sympy_basis(polys, ctx)
    raise ValueError(f"unknown backend {backend!r}")


def _singular_basis(polys, eliminate, ctx):
    _, singular_function = _sage()
    nvars = ctx.nvars()
    blocks = (eliminate, nvars - eliminate) if 0 < eliminate < nvars else None
    ring = sage_ring(nvars, blocks)
    ideal = ring.ideal([to_sage(p, ring) for p in polys])
    basis = ideal.groebner_basis()        # libSingular std (reduced)
    return sorted((from_sage(g, ctx) for g in basis), key=_basis_key)


def _sympy_basis(polys, ctx):
    nvars = ctx.nvars()
    if nvars > SYMPY_LIMIT:
        raise BackendMissingError(
            f"an ideal in {nvars} variables needs Singular (the SymPy fallback stops at "
            f"{SYMPY_LIMIT}): pip install 'conslaw_algebra[sage]'")
    from sympy import QQ
    from sympy.polys.groebnertools import groebner
    from sympy.polys.rings import ring as sympy_ring
    ring, *_ = sympy_ring([f"x{i}" for i in range(nvars)], QQ, "lex")
    elements = [ring.from_dict({e: QQ(int(c.p), int(c.q)) for e, c in p.terms()}) for p in polys]
    out = []
    for poly in groebner(elements, ring):
        out.append(ctx.from_dict({tuple(e): fmpq(int(c.numerator), int(c.denominator))
                                  for e, c in poly.to_dict().items()}))
    return sorted(out, key=_basis_key)


def _basis_key(poly):
    return (poly.total_degree(), [tuple(-e for e in m) for m in poly.monoms()])


def normal_form(poly, basis: list, eliminate: int, backend: str | None = None):
    """The remainder of ``poly`` on division by a Groebner basis computed by
    ``groebner_basis(..., eliminate)`` with the same backend.

    >>> from flint import fmpq_mpoly_ctx
    >>> t, y = fmpq_mpoly_ctx.get(("v", 2), "degrevlex").gens()
    >>> basis = groebner_basis([y - t**2], 1)
    >>> str(normal_form(t**4 + t**2, basis, 1))
    'v1^2 + v1'
    """
    ctx = poly.context()
    if not basis:
        return poly
    backend = backend or ("singular" if available() else "sympy")
    if backend == "singular":
        nvars = ctx.nvars()
        blocks = (eliminate, nvars - eliminate) if 0 < eliminate < nvars else None
        ring = sage_ring(nvars, blocks)
        remainder = to_sage(poly, ring).reduce([to_sage(g, ring) for g in basis])
        return from_sage(remainder, ctx)
    from sympy import QQ
    from sympy.polys.rings import ring as sympy_ring
    ring, *_ = sympy_ring([f"x{i}" for i in range(ctx.nvars())], QQ, "lex")

    def convert(p):
        return ring.from_dict({e: QQ(int(c.p), int(c.q)) for e, c in p.terms()})

    remainder = convert(poly).rem([convert(g) for g in basis])
    return ctx.from_dict({tuple(e): fmpq(int(c.numerator), int(c.denominator))
                          for e, c in remainder.to_dict().items()})
