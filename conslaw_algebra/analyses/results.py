"""What the analyses return: small values that print as text, JSON and LaTeX.

>>> r = CountResult("m", "gradient flow (Euclidean)", 3, 1, None, _lie(3, 1))
>>> r.to_json()["laws"]
2
"""
from __future__ import annotations

from dataclasses import dataclass

from .lie import LieCount
from ..exact.render import comment_text, render
from ..language.program import renamed_lines


def _lie(dim, rank):  # a tiny LieCount for examples
    return LieCount(dim, rank, rank, 0, 2**31 - 1, 0.0)


def _bound(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


@dataclass(frozen=True)
class CountResult:
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

    @property
    def laws(self) -> int:
        return self.lie.laws

    def to_json(self) -> dict:
        lie = self.lie
        return {
            "model": self.model, "flow": self.flow, "D": self.dim, "state_dim": lie.dim,
            "features": self.features,
            "generator_rank": lie.generator_rank, "lie_rank": lie.trace_rank, "laws": lie.laws,
            "laws_at_most": lie.laws, "seed": lie.seed, "prime": lie.prime,
            "error_bound": lie.error_bound,
            "adopted_brackets": {str(k): v for k, v in lie.adopted.items()},
        }

    def to_text(self) -> str:
        lie = self.lie
        features = (str(self.features) if self.features is not None
                    else f"not listed (expansion would have about {self.features_estimate:,} terms)")
        adopted = ", ".join(f"level {k}: {v}" for k, v in lie.adopted.items()) or "none needed"
        lines = [
            f"model      {self.model}   ({self.flow})",
            f"D          {self.dim} parameters"
            + (f"; phase space (time, theta, theta') of dimension {lie.dim}" if lie.dim != self.dim
               else ""),
            f"features   {features}",
            f"lie rank   {lie.trace_rank}   (generators: {lie.generator_rank}; brackets adopted: {adopted})",
            f"laws N     {lie.laws}",
        ]
        if lie.certain:
            lines.append("           certain: the Lie algebra's trace is all of R^D")
        else:
            lines.append(f"           N <= {lie.laws} with certainty; N = {lie.laws} with error "
                         f"probability <= {_bound(lie.error_bound)}")
        lines.append(f"           seed {lie.seed}, exact arithmetic modulo {lie.prime}")
        return "\n".join(lines)

    __str__ = to_text

    def _repr_html_(self) -> str:
        from html import escape
        data = self.to_json()
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(data[k]))}</td></tr>"
                       for k in ("model", "flow", "D", "features", "lie_rank", "laws", "seed",
                                 "error_bound"))
        return f"<table>{rows}</table>"


@dataclass(frozen=True)
class LawsResult:
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
        return self.complete

    def strings(self, style: str = "text") -> list[str]:
        names = self.identifiers if style in ("sage", "ident") else self.names
        return [render(h, list(names), "latex" if style == "latex" else "text") for h in self.laws]

    def to_json(self) -> dict:
        return {
            "model": self.model, "degree": self.degree, "laws": self.strings(),
            "count": self.count, "independent": self.independent, "lie_laws": self.lie.laws,
            "complete": self.complete, "certified": self.certified, "seed": self.lie.seed,
            "error_bound": 0.0 if self.certified else self.lie.error_bound,
            "variables": list(self.names), "identifiers": list(self.identifiers),
            "renamed": [{"variable": variable, "usual": usual, "used": used, "in": kind}
                        for variable, usual, used, kind in self.renamed],
        }

    def verdict(self) -> str:
        lie = self.lie
        if self.certified:
            return (f"complete: {self.independent} independent laws = N (certified: exact laws give "
                    f"N >= {self.independent}, the Lie trace gives N <= {lie.laws}, both with certainty)")
        return (f"not complete at degree {self.degree}: {self.independent} independent; "
                f"{self.independent} <= N <= {lie.laws} with certainty "
                f"(N = {lie.laws} with error probability <= {_bound(lie.error_bound)})")

    def to_text(self) -> str:
        lines = [f"polynomial conservation laws of {self.model}, degree <= {self.degree} "
                 f"(exact over QQ, each verified): {self.count}"]
        width = len(str(self.count))
        for k, text in enumerate(self.strings(), start=1):
            lines.append(f"  h{k:<{width}} = {text}")
        lines.append(f"independent: {self.independent} of N = {self.lie.laws}")
        lines.append(self.verdict())
        if self.note:
            lines.append(f"({self.note})")
        lines += [f"(renamed: {line})" for line in renamed_lines(self.renamed)]
        return "\n".join(lines)

    def to_latex(self, matrix_form: bool = True) -> str:
        """An ``aligned`` block; Gram-difference laws as matrix equations (``exports.py``)."""
        from .exports import latex_laws
        return latex_laws(self, matrix_form)

    def as_sympy(self, symbols=None) -> list:
        """The laws as SymPy expressions, in the model's own symbols when it has them.

        >>> from conslaw_algebra import parse
        >>> parse("param a, b\\noutput a*b").laws(2).as_sympy()
        [a**2 - b**2]
        """
        from .exports import sympy_laws
        return sympy_laws(self, symbols if symbols is not None else self.symbols)

    def as_sage(self) -> list:
        """The laws as Sage polynomials over QQ (needs Sage or passagemath)."""
        from .exports import sage_laws
        return sage_laws(self)

    def _repr_html_(self) -> str:
        from html import escape
        rows = "".join(f"<tr><td>h{k}</td><td><code>{escape(text)}</code></td></tr>"
                       for k, text in enumerate(self.strings(), start=1))
        return (f"<table><caption>polynomial laws of {escape(self.model)}, degree &le; "
                f"{self.degree}</caption>{rows}</table><p>{escape(self.verdict())}</p>")

    def to_sage(self) -> str:
        """Sage lines defining the ring ``R`` over QQ, its generators and ``laws``.

        >>> from conslaw_algebra.api import parse
        >>> print(parse("param a, lambda\\noutput a*lambda", "m").laws(2).to_sage())
        # conservation laws of m, degree <= 2
        # renamed: lambda is lambda_ in identifiers (lambda is reserved)
        R = PolynomialRing(QQ, ['a', 'lambda_'], order='degrevlex')
        a, lambda_ = R.gens()
        laws = [
            a^2 - lambda_^2,
        ]
        """
        names = ", ".join(self.identifiers)
        lines = [f"# conservation laws of {comment_text(self.model)}, degree <= {self.degree}"]
        lines += [f"# renamed: {line}" for line in renamed_lines(self.renamed)]
        lines += [f"R = PolynomialRing(QQ, {list(self.identifiers)!r}, order='degrevlex')",
                 f"{names}{',' if len(self.identifiers) == 1 else ''} = R.gens()",
                 "laws = ["]
        lines += [f"    {text}," for text in self.strings("sage")]
        lines.append("]")
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        return "$" + self.to_latex() + "$"

    __str__ = to_text


@dataclass(frozen=True)
class CheckResult:
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

    def to_json(self) -> dict:
        return {"expression": self.expression, "conserved": self.conserved,
                "breaking_feature": self.feature, "feature_polynomial": self.feature_poly,
                "derivative": self.derivative}

    def to_text(self) -> str:
        if self.conserved:
            return (f"conserved: {self.expression}\n"
                    "  <grad h, grad psi> = 0 exactly for every feature psi")
        return (f"not conserved: {self.expression}\n"
                f"  broken by the generator grad psi, psi = {self.feature_poly}\n"
                f"  ({self.feature})\n"
                f"  <grad h, grad psi> = {self.derivative}")

    __str__ = to_text

    def _repr_html_(self) -> str:
        from html import escape
        return "<pre>" + escape(self.to_text()) + "</pre>"


def block_laws_json(result, names, degree: int) -> dict:
    """JSON view of ``blocks.BlockLaws``.

    >>> from conslaw_algebra.api import parse
    >>> from conslaw_algebra.analyses.blocks import block_laws
    >>> model = parse("layers 1 -> 1 -> 1")
    >>> block_laws_json(block_laws(model, 2), model.names, 2)["blocks"]
    [{'parameters': ['W1', 'W2'], 'laws': ['W1[0,0]^2 - W2[0,0]^2'], 'skipped': None}]
    """
    return {
        "degree": degree,
        "blocks": [{"parameters": list(b.tensors), "laws": [render(h, list(names)) for h in b.laws],
                    "skipped": b.skipped} for b in result.blocks],
        "independent": result.independent, "lie_laws": result.lie_laws,
        "complete": result.complete, "count_skipped": result.count_skipped,
    }


def block_laws_text(result, names, model: str, degree: int) -> str:
    """Text view of ``blocks.BlockLaws``.

    >>> from conslaw_algebra.api import parse
    >>> from conslaw_algebra.analyses.blocks import block_laws
    >>> model = parse("layers 1 -> 1 -> 1")
    >>> print(block_laws_text(block_laws(model, 2), model.names, "tiny", 2).splitlines()[2])
      h1 = W1[0,0]^2 - W2[0,0]^2
    """
    lines = [f"polynomial laws of {model} by block, degree <= {degree} (exact over QQ)"]
    k = 0
    for block in result.blocks:
        if block.skipped:
            lines.append(f"block {', '.join(block.tensors)}: skipped ({block.skipped})")
            continue
        lines.append(f"block {', '.join(block.tensors)}: {len(block.laws)} laws")
        for h in block.laws:
            k += 1
            lines.append(f"  h{k} = {render(h, list(names))}")
    lines.append(f"independent in the union: {result.independent}"
                 + (f" of N = {result.lie_laws}" if result.lie_laws is not None else ""))
    if result.complete:
        lines.append("complete: the blocks' laws reach N (certified), every law of the model is "
                     "locally a function of them")
    elif result.lie_laws is not None:
        lines.append(f"not complete: {result.lie_laws - result.independent} independent laws "
                     "involve more than one block, or have a higher degree")
    if result.count_skipped:
        lines.append(f"N of the whole model not counted ({result.count_skipped}); whether these "
                     "laws are complete is not known")
    return "\n".join(lines)
