"""The algebra of laws: relations among laws, membership, minimal generators.

Products and polynomials of conservation laws are again laws, so the polynomial laws
form an algebra. For a basis h_1..h_m of the laws of degree <= k (``laws.py``) we work
in QQ[theta, y_1..y_m] with the ideal J = <y_j - h_j(theta)> and a Groebner basis G of
J for an elimination order, theta above y (``singular.py``):

* relations: J meets QQ[y] in the ideal of polynomial relations P(h_1..h_m) = 0, and
  G meets QQ[y] in a Groebner basis of it. Each relation is re-verified by
  substituting the laws (exact, flint ``compose``). First, the Jacobian criterion:
  in characteristic 0 the laws are algebraically independent iff their gradients have
  rank m; a rank modulo p at a random point is a certain lower bound on that rank, so
  rank m certifies "no relation" without any Groebner basis (this is what makes
  [4,4,4] instant instead of 263 s).
* membership: f(theta) is a polynomial in the laws iff its normal form modulo G lies
  in QQ[y], and then that normal form is the polynomial (Shannon-Sweedler).
* minimal generators: laws in order of degree, each kept only when it is not a
  polynomial in the laws kept before it.

Where it stops winning: the Groebner basis of J grows quickly with the numbers of laws
and parameters. Up to [3,3,3] (6 laws, 18 parameters) it takes 0.1 s; for the 10 laws
of a [4,4,4] linear net (32 parameters) 263 s and 1.6 GB, which membership pays and
relations pay unless the Jacobian criterion settles them (``BENCHMARKS.md``).

>>> from conslaw_algebra.api import parse
>>> result = relations(parse("layers 1 -> 1 -> 1"), degree=2)
>>> result.relations
()
>>> result.laws_text
('W1[0,0]^2 - W2[0,0]^2',)
"""
from __future__ import annotations

from dataclasses import dataclass

from flint import fmpq_mpoly_ctx

from ..exact import singular
from .laws import independent_count
from .results import Shown
from ..exact.render import render


def law_names(count: int) -> tuple[str, ...]:
    """h1..h{count}, the names of the law variables y_j.

    >>> law_names(3)
    ('h1', 'h2', 'h3')
    """
    return tuple(f"h{j}" for j in range(1, count + 1))


class LawPresentation:
    """QQ[theta, y] / <y_j - h_j(theta)> with an elimination Groebner basis, computed once.

    >>> from flint import fmpq_mpoly_ctx
    >>> u, v = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> p = LawPresentation([u**2 - v**2])
    >>> str(p.express(u**4 - 2*u**2*v**2 + v**4 + 1))
    'y0^2 + 1'
    >>> p.express(u**2) is None
    True
    """

    def __init__(self, laws: list, backend: str | None = None):
        self.laws = list(laws)
        if not self.laws:
            raise ValueError("no laws to present")
        self.theta_ring = self.laws[0].context()
        self.dim = self.theta_ring.nvars()
        self.count = len(self.laws)
        self.backend = backend or ("singular" if singular.available() else "sympy")
        self.ring = fmpq_mpoly_ctx.get(("v", self.dim + self.count), "degrevlex")
        self.law_ring = fmpq_mpoly_ctx.get(("y", self.count), "degrevlex")
        gens = self.ring.gens()
        ideal = [gens[self.dim + j] - self._lift(h) for j, h in enumerate(self.laws)]
        self.basis = singular.groebner_basis(ideal, self.dim, self.backend)

    def _lift(self, poly):
        """theta-polynomial -> QQ[theta, y]."""
        pad = (0,) * self.count
        return self.ring.from_dict({tuple(e) + pad: c for e, c in poly.terms()})

    def _in_laws(self, poly):
        """QQ[theta, y]-polynomial without theta -> QQ[y], or None when theta occurs."""
        terms = {}
        for e, c in poly.terms():
            if any(e[:self.dim]):
                return None
            terms[tuple(e[self.dim:])] = c
        return self.law_ring.from_dict(terms) if terms else self.law_ring.constant(0)

    def relations(self) -> list:
        """A Groebner basis of the ideal of relations, as polynomials in QQ[y]."""
        found = [self._in_laws(g) for g in self.basis]
        return [r for r in found if r is not None and not r.is_zero()]

    def express(self, poly):
        """f(theta) as a polynomial in the laws (in QQ[y]), or None if it is not one."""
        remainder = singular.normal_form(self._lift(poly), self.basis, self.dim, self.backend)
        return self._in_laws(remainder)

    def substitute(self, poly_in_laws):
        """P(h_1(theta), ..., h_m(theta)) for P in QQ[y]."""
        return poly_in_laws.compose(*self.laws, ctx=self.theta_ring)


@dataclass(frozen=True)
class RelationsResult(Shown):
    """The polynomial relations among a basis of laws.

    >>> from conslaw_algebra.api import parse
    >>> result = relations(parse("param a, b, c\\noutput a*b + b*c"), degree=2)
    >>> result.laws_text, result.relations      # (a - c)^2 - (a^2 - 2ac + c^2) = 0
    (('a - c', 'a^2 - 2*a*c + c^2', 'b^2 - 2*a*c'), (y0^2 - y1,))
    """

    model: str
    degree: int | None
    laws: tuple                  # fmpq_mpoly in the parameters
    laws_text: tuple[str, ...]   # the same, in parameter names
    relations: tuple             # fmpq_mpoly in y0..y{m-1}, meaning h1..hm
    verified: bool               # each relation vanishes after substituting the laws
    backend: str                 # "singular", "sympy", or "jacobian" (full rank: none)

    @property
    def names(self) -> tuple[str, ...]:
        return law_names(len(self.laws))

    def strings(self) -> list[str]:
        return [render(r, list(self.names)) for r in self.relations]


def _model_laws(model, degree: int, seed: int = 0):
    result = model.laws(degree, seed=seed)
    return list(result.laws), tuple(result.strings()), model.name


def relations(model_or_laws, degree: int = 2, *, names=None, model_name: str = "laws",
              backend: str | None = None, seed: int = 0) -> RelationsResult:
    """The ideal of polynomial relations among a basis of laws.

    ``model_or_laws``: a ``Model`` (its laws of degree <= ``degree`` are computed) or a
    list of fmpq_mpoly laws (``names``: the variable names used to print them).
    ``seed`` chooses the point of the Jacobian test (it never changes the answer, only
    whether a Groebner basis is needed to reach it).

    >>> from flint import fmpq_mpoly_ctx
    >>> u, v = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> relations([u**2, v**2, u*v], names=["u", "v"]).strings()
    ['h1*h2 - h3^2']
    """
    if isinstance(model_or_laws, (list, tuple)):
        laws = list(model_or_laws)
        if not laws:
            return RelationsResult(model_name, None, (), (), (), True, "none")
        names = list(names or [f"t{i}" for i in range(laws[0].context().nvars())])
        texts, name, degree = tuple(render(h, names) for h in laws), model_name, None
    else:
        if degree < 1:
            raise ValueError("degree must be at least 1")
        laws, texts, name = _model_laws(model_or_laws, degree, seed)
        if not laws:
            return RelationsResult(name, degree, (), (), (), True, "none")
    if independent_count(laws, laws[0].context().nvars(), seed) == len(laws):
        return RelationsResult(name, degree, tuple(laws), texts, (), True, "jacobian")
    presentation = LawPresentation(laws, backend)
    found = presentation.relations()
    verified = all(presentation.substitute(r).is_zero() for r in found)
    if not verified:
        raise AssertionError("internal error: a relation does not vanish on the laws")
    return RelationsResult(name, degree, tuple(laws), texts, tuple(found), verified,
                           presentation.backend)


@dataclass(frozen=True)
class MembershipResult(Shown):
    """Whether a polynomial in the parameters is a polynomial in the basis laws.

    >>> from conslaw_algebra.api import parse
    >>> membership(parse("layers 1 -> 1 -> 1"), "W1[0,0]^4 - W2[0,0]^4").conserved
    False
    """

    expression: str
    degree: int
    conserved: bool
    in_algebra: bool
    polynomial: object | None        # in y0..y{m-1} (meaning h1..hm) when in_algebra
    laws_text: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return law_names(len(self.laws_text))

    def polynomial_text(self) -> str | None:
        return None if self.polynomial is None else render(self.polynomial, list(self.names))


def membership(model, expression: str, degree: int = 2,
               backend: str | None = None) -> MembershipResult:
    """Is the polynomial ``expression`` (in the parameters) a polynomial in the laws of
    degree <= ``degree``? If so, which one.

    >>> from conslaw_algebra.api import parse
    >>> model = parse("layers 1 -> 1 -> 1")
    >>> membership(model, "(W1[0,0]^2 - W2[0,0]^2)^2 + 3").polynomial_text()
    'h1^2 + 3'
    """
    if degree < 1:
        raise ValueError("degree must be at least 1")
    conserved = model.check(expression).conserved
    laws, texts, _ = _model_laws(model, degree)
    if not conserved:   # every polynomial in laws is conserved: no Groebner basis needed
        return MembershipResult(expression, degree, False, False, None, texts)
    h = model.to_state(model.parse_polynomial(expression))
    if not laws:   # the algebra is QQ: only constants belong to it
        constants = fmpq_mpoly_ctx.get(("y", 1), "degrevlex")
        polynomial = (constants.from_dict({(0,): c for _, c in h.terms()})
                      if h.total_degree() <= 0 else None)
        return MembershipResult(expression, degree, conserved, polynomial is not None, polynomial,
                                texts)
    presentation = LawPresentation(laws, backend)
    polynomial = presentation.express(h)
    if polynomial is not None and presentation.substitute(polynomial) != h:
        raise AssertionError("internal error: the expression in the laws does not verify")
    return MembershipResult(expression, degree, conserved, polynomial is not None, polynomial,
                            texts)


def minimal_generators(laws: list, backend: str | None = None) -> list[int]:
    """Indices of laws that generate the algebra generated by all of them: in order of
    degree (then the given order), a law is kept unless it is a polynomial in the
    laws kept before it.

    >>> from flint import fmpq_mpoly_ctx
    >>> u, v = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> minimal_generators([u - v, u**2 - 2*u*v + v**2, u**3 + v])
    [0, 2]
    """
    order = sorted(range(len(laws)), key=lambda i: (laws[i].total_degree(), i))
    kept: list[int] = []
    presentation = None          # of the kept laws; rebuilt only when one is added
    for i in order:
        if presentation is not None and presentation.express(laws[i]) is not None:
            continue
        kept.append(i)
        presentation = LawPresentation([laws[k] for k in kept], backend)
    return sorted(kept)


@dataclass(frozen=True)
class GeneratorsResult(Shown):
    """Minimal generators of the algebra generated by the laws of degree <= ``degree``.

    >>> from conslaw_algebra.api import parse
    >>> result = generators(parse("param a, b, c\\noutput a*b + b*c"), 2)
    >>> result.basis_count, result.generators   # b^2 - 2ac = (a - c)^2 - (a^2 - b^2 + c^2)
    (3, ('a - c', 'b^2 - 2*a*c'))
    """

    model: str
    degree: int
    basis_count: int             # laws in the vector-space basis
    generators: tuple[str, ...]  # the kept laws, in parameter names


def generators(model, degree: int = 2, backend: str | None = None) -> GeneratorsResult:
    """Minimal generators of the algebra of the model's laws of degree <= ``degree``.

    >>> from conslaw_algebra.api import parse
    >>> generators(parse("param a, b, c\\noutput a*b + b*c"), 2).generators
    ('a - c', 'b^2 - 2*a*c')
    """
    if degree < 1:
        raise ValueError("degree must be at least 1")
    laws, texts, name = _model_laws(model, degree)
    kept = minimal_generators(laws, backend)
    return GeneratorsResult(name, degree, len(laws), tuple(texts[i] for i in kept))
