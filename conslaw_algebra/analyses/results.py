"""What the analyses return: values, and the hook through which they are shown.

A result is a frozen dataclass of what was computed (numbers, polynomials, names) with the
properties that follow from them (``laws``, ``complete``, ``certified``). How it reads as
text, JSON, HTML, LaTeX or a Sage snippet is not decided here: ``views/results.py``
registers one function per (result type, form) with ``renders``, and the methods users
call (``to_text()``, ``to_json()``, ``to_latex()``, ``_repr_html_``, ``_repr_latex_``,
``str()``) look that function up. The views module is imported by the package itself
(``conslaw_algebra/__init__.py``), and Python imports a package before any module in
it, so every result can be shown as soon as it exists, while no module of the pipeline
imports a view (``tests/test_layout.py``).
Where it stops: a program that imports ``conslaw_algebra.analyses.results`` in a way that
skips the package's ``__init__`` (it cannot through ``import``) would find no renderer;
``Shown`` then says which one is missing instead of printing nothing.

>>> lie = LieCount(dim=3, generator_rank=1, trace_rank=1, seed=0, prime=7, error_bound=0.0)
>>> r = CountResult("m", "gradient flow (Euclidean)", 3, 1, None, lie)
>>> r.laws, r.to_json()["laws"]
(2, 2)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .lie import LieCount
from ..exact.render import render

_RENDERERS: dict = {}


def renders(kind: type | str, form: str):
    """Register the decorated function as the ``form`` ('text', 'json', 'html', 'latex',
    'sage') of results of type ``kind`` (the class, or its name: a view need not import
    the module of every result it can show); views call this once, at import.

    >>> class Example(Shown):
    ...     pass
    >>> @renders(Example, "text")
    ... def _(result):
    ...     return "an example"
    >>> str(Example())
    'an example'
    """
    def register(function):
        _RENDERERS[kind if isinstance(kind, str) else kind.__name__, form] = function
        return function
    return register


class Shown:
    """What every result can be shown as; the forms are registered by the views."""

    def _show(self, form: str, *args, **kwargs):
        function = _RENDERERS.get((type(self).__name__, form))
        if function is None:
            raise LookupError(f"no {form} view of {type(self).__name__} is registered "
                              "(import conslaw_algebra.views.results)")
        return function(self, *args, **kwargs)

    def to_text(self) -> str:
        return self._show("text")

    def to_json(self) -> dict:
        return self._show("json")

    def _repr_html_(self) -> str:
        return self._show("html")

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True)
class CountResult(Shown):
    """N = D - dim Lie(W)(theta) with its provenance.

    >>> from conslaw_algebra.api import parse
    >>> parse("param a, b, c\\noutput a*b*c").count_laws().laws
    2
    """

    model: str
    flow: str
    dim: int
    features: int | None
    features_estimate: int
    lie: LieCount
    no_features: str | None = None    # why a model has no features (normalization scales)

    @property
    def laws(self) -> int:
        return self.lie.laws


@dataclass(frozen=True)
class LawsResult(Shown):
    """A basis of the polynomial laws of degree <= ``degree``, exact and verified.

    >>> from conslaw_algebra.api import parse
    >>> parse("param a, b\\noutput a*b").laws(2).to_text().splitlines()[1]
    '  h1 = a^2 - b^2'
    """

    model: str
    degree: int
    laws: tuple                 # fmpq_mpoly with coprime integer coefficients
    names: tuple[str, ...]      # text names of the state variables
    identifiers: tuple[str, ...]  # their identifiers (``program.variable_names``)
    independent: int            # gradient rank at a random point: a certain lower bound on N
    lie: LieCount
    note: str | None = None     # how to read the variables (momentum flows)
    symbols: tuple | None = None  # SymPy symbols of a model built with ``from_sympy``
    renamed: tuple = ()         # names changed from the usual scheme (``VariableNames``)
    engine: str = "linear"      # 'linear' (``laws.py``) or 'syzygy' (``syzygy_laws.py``)
    source: object = field(default=None, repr=False, compare=False)   # the Model, for to_sage
    basis: str = "echelon"      # 'natural' (``natural_basis.py``) or 'echelon' (the engines')
    echelon_blocks: tuple = ()  # natural basis: sizes of blocks too large, left in echelon form

    @property
    def count(self) -> int:
        return len(self.laws)

    @property
    def complete(self) -> bool:
        """The independent laws reach N: every law is locally a function of these."""
        return self.independent == self.lie.laws

    @property
    def certified(self) -> bool:
        """independent (certain lower bound) = D - rank (certain upper bound)."""
        return self.complete and not self.lie.bound_unproved

    def strings(self, style: str = "text") -> list[str]:
        """The laws as text in the variables' names ('text'), identifiers ('ident', 'sage')
        or LaTeX ('latex').

        >>> from conslaw_algebra.api import parse
        >>> parse("param a, b\\noutput a*b").laws(2).strings("latex")
        ['a^{2} - b^{2}']
        """
        names = self.identifiers if style in ("sage", "ident") else self.names
        return [render(h, list(names), "latex" if style == "latex" else "text") for h in self.laws]

    def to_text(self, matrix_form: bool | None = None) -> str:
        """The laws as text; ``matrix_form``: Gram differences whose entries are all laws as
        matrix equations (default: for the natural basis), else every law on its own line.

        >>> from conslaw_algebra.api import parse
        >>> print(parse("layers 2 -> 2 -> 2", "m").laws(2).to_text().splitlines()[1])
          W1 W1^T - W2^T W2 = C1   (symmetric 2x2: 3 laws)
        """
        return self._show("text", matrix_form)

    def to_latex(self, matrix_form: bool = True) -> str:
        """An ``aligned`` block; Gram-difference laws as matrix equations (``views/exports.py``)."""
        return self._show("latex", matrix_form)

    def _repr_latex_(self) -> str:
        return "$" + self.to_latex() + "$"

    def verdict(self) -> str:
        """The last line of the text: complete (certified or not) or not, and why.

        >>> from conslaw_algebra.api import parse
        >>> parse("param a, b\\noutput a*b").laws(2).verdict()[:9]
        'complete:'
        """
        return self._show("verdict")

    def to_sage(self) -> str:
        """The Sage script of ``conslaw laws --format sage`` (the ring ``R`` over QQ, its
        generators, the fields, ``laws``, and the checks) when the result comes from a
        Model; else Sage lines defining the ring, its generators and ``laws``.

        >>> from conslaw_algebra.api import parse
        >>> script = parse("param a, b\\noutput a*b", "m").laws(2).to_sage()
        >>> script.splitlines()[0], "    a^2 - b^2," in script, "assert _J.rank() == 1" in script
        ('# Conservation laws of m, degree <= 2, from conslaw.', True, True)
        >>> from dataclasses import replace
        >>> print(replace(parse("param a, lambda\\noutput a*lambda", "m").laws(2),
        ...               source=None).to_sage())
        # conservation laws of m, degree <= 2
        # renamed: lambda is lambda_ in identifiers (lambda is reserved)
        R = PolynomialRing(QQ, ['a', 'lambda_'], order='degrevlex')
        a, lambda_ = R.gens()
        laws = [
            a^2 - lambda_^2,
        ]
        """
        return self._show("sage")

    def as_sympy(self, symbols=None) -> list:
        """The laws as SymPy expressions, in the model's own symbols when it has them.

        >>> from conslaw_algebra import parse
        >>> parse("param a, b\\noutput a*b").laws(2).as_sympy()
        [a**2 - b**2]
        """
        import sympy

        symbols = symbols if symbols is not None else self.symbols
        if symbols is None:
            symbols = [sympy.Symbol(name) for name in self.identifiers]
        symbols = tuple(symbols)
        if len(symbols) != len(self.identifiers):
            raise ValueError(f"need {len(self.identifiers)} symbols, got {len(symbols)}")
        out = []
        for h in self.laws:
            terms = []
            for exps, c in h.terms():
                term = sympy.Rational(int(c.p), int(c.q))
                for var, e in enumerate(exps):
                    if e:
                        term *= symbols[var] ** e
                terms.append(term)
            out.append(sympy.Add(*terms))
        return out

    def as_sage(self) -> list:
        """The laws as Sage polynomials over QQ in the identifiers (needs Sage or
        passagemath).

        >>> from conslaw_algebra import parse
        >>> parse("param a, b\\noutput a*b").laws(2).as_sage()
        [a^2 - b^2]
        """
        from ..exact.singular import sage_namespace
        sage = sage_namespace()
        ring = sage.PolynomialRing(sage.QQ, list(self.identifiers), order="degrevlex")
        return [ring({tuple(exps): sage.QQ((int(c.p), int(c.q))) for exps, c in h.terms()})
                for h in self.laws]


@dataclass(frozen=True)
class CheckResult(Shown):
    """Whether a polynomial is conserved, with a generator that breaks it if not.

    >>> from conslaw_algebra.api import parse
    >>> model = parse("param a, b\\noutput a*b")
    >>> model.check("a^2 - b^2").conserved, model.check("a*b").conserved
    (True, False)
    """

    expression: str
    conserved: bool
    feature: str | None = None        # e.g. "output 1[0], coefficient of x[1]*gate1[0]"
    derivative: str | None = None     # <grad h, grad psi> for that feature
    feature_poly: str | None = None
    proof: str | None = None          # what "conserved" was checked against, when not features
