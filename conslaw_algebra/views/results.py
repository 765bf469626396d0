"""How results read: text, JSON, HTML, LaTeX and Sage, registered for each result type.

The analyses return values (``analyses/results.py``, ``relations.py``, ``blocks.py``);
this module writes them for people and other programs, and registers each writer with
``results.renders`` (by class, or by class name for the results of modules that a
count does not load) so that the values' own methods (``to_text()``, ``to_json()``,
``to_latex()``, ``_repr_html_``, ``_repr_latex_``, ``to_sage()``, ``str()``) find it. The
package imports this module (``conslaw_algebra/__init__.py``), so the registry is full
before any result exists; nothing of the pipeline imports it. Wording and layout only:
every number printed here was computed before.
Where it stops: a new result type needs its writers here; until then its methods say
which view is missing.

>>> import conslaw_algebra as ca
>>> print(ca.parse("param a, b\\noutput a*b").laws(2).to_text().splitlines()[-1][:30])
complete: 1 independent laws =
"""
from __future__ import annotations

from html import escape

from ..analyses.lie import LieCount
from ..analyses.matrix_form import matrix_laws
from ..analyses import natural_basis
from ..analyses.results import CheckResult, CountResult, LawsResult, renders
from ..exact.render import render
from ..language.program import renamed_lines


def _bound(value: float) -> str:
    return "0" if value == 0 else "1" if value >= 1 else f"{value:.1e}"


def _bound_parts(lie: LieCount) -> str:
    """The error bound's two parts (``lie.py``): the random point and a bad prime.

    >>> _bound_parts(LieCount(3, 1, 1, 0, 7, 1.0, point_bound=1e-9, prime_bound=None,
    ...                       prime_forced=True))
    '(random point 1.0e-09 if the prime is good for the model; the prime is forced by CONSLAW_PRIME, so a bad prime is not excluded)'
    """
    if lie.prime_bound is None:
        return (f"(random point {_bound(lie.point_bound)} if the prime is good for the model; "
                "the prime is forced by CONSLAW_PRIME, so a bad prime is not excluded)")
    return (f"(random point {_bound(lie.point_bound)} + a prime bad for the model "
            f"{_bound(lie.prime_bound)})")


def _prime_text(lie: LieCount) -> str:
    """The working prime and where it came from.

    >>> _prime_text(LieCount(3, 1, 1, 0, 7, 0.0, skipped_primes=(11,)))
    '7 (drawn from the seed; skipped 11: it divides a denominator of the model)'
    """
    if lie.prime_forced:
        return f"{lie.prime} (forced by CONSLAW_PRIME)"
    text = f"{lie.prime} (drawn from the seed"
    if lie.skipped_primes:
        text += f"; skipped {', '.join(map(str, lie.skipped_primes))}: "
        text += "it divides" if len(lie.skipped_primes) == 1 else "they divide"
        text += " a denominator of the model"
    return text + ")"


@renders(CountResult, "json")
def _count_json(result) -> dict:
    lie = result.lie
    return {
        "model": result.model, "flow": result.flow, "D": result.dim, "state_dim": lie.dim,
        "features": result.features,
        "generator_rank": lie.generator_rank, "lie_rank": lie.trace_rank, "laws": lie.laws,
        "laws_at_most": lie.laws, "seed": lie.seed, "prime": lie.prime,
        "prime_forced": lie.prime_forced, "primes_skipped": list(lie.skipped_primes),
        "error_bound": None if lie.unbounded or lie.bound_unproved else lie.error_bound,
        "error_bound_point": None if lie.unbounded or lie.bound_unproved else lie.point_bound,
        "error_bound_prime": None if lie.unbounded or lie.bound_unproved else lie.prime_bound,
        "error_bound_assumes": lie.bound_assumes,
        "equality_not_bounded": lie.unbounded, "upper_bound_certified": not lie.bound_unproved,
        "adopted_brackets": {str(k): v for k, v in lie.adopted.items()},
    }


@renders(CountResult, "text")
def _count_text(result) -> str:
    lie = result.lie
    features = (str(result.features) if result.features is not None
                else f"none ({result.no_features})" if result.no_features
                else f"not listed (expansion would have about {result.features_estimate:,} terms)")
    adopted = ", ".join(f"level {k}: {v}" for k, v in lie.adopted.items()) or "none needed"
    lines = [
        f"model      {result.model}   ({result.flow})",
        f"D          {result.dim} parameters"
        + (f"; phase space (time, theta, theta') of dimension {lie.dim}" if lie.dim != result.dim
           else ""),
        f"features   {features}",
        f"lie rank   {lie.trace_rank}   (generators: {lie.generator_rank}; brackets adopted: {adopted})",
        f"laws N     {lie.laws}",
    ]
    if lie.certain:
        lines.append("           certain: the Lie algebra's trace is all of "
                     + ("R^D" if lie.dim == result.dim else f"R^{lie.dim} (the phase space)"))
    elif lie.bound_unproved:
        lines.append(f"           N <= {lie.laws}, not certified: {lie.bound_unproved}")
    elif lie.unbounded:
        lines.append(f"           N <= {lie.laws} with certainty (the variances proved "
                     "independent for each sampled gate pattern); no probability for "
                     f"N = {lie.laws} ({lie.unbounded})")
    else:
        lines.append(f"           N <= {lie.laws} with certainty; N = {lie.laws} with error "
                     f"probability <= {_bound(lie.error_bound)}")
        lines.append("           " + _bound_parts(lie))
        if lie.bound_assumes:
            lines.append(f"           (that error probability is {lie.bound_assumes})")
    lines.append(f"           seed {lie.seed}, exact arithmetic modulo {_prime_text(lie)}")
    return "\n".join(lines)


@renders(CountResult, "html")
def _count_html(result) -> str:
    data = result.to_json()
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(data[k]))}</td></tr>"
                   for k in ("model", "flow", "D", "features", "lie_rank", "laws", "seed",
                             "error_bound"))
    return f"<table>{rows}</table>"


@renders(LawsResult, "json")
def _laws_json(result) -> dict:
    from dataclasses import asdict
    from .exports import gram_text
    matrices, _ = matrix_laws(result)
    return {
        "model": result.model, "degree": result.degree, "laws": result.strings(),
        "basis": result.basis, "echelon_blocks": list(result.echelon_blocks),
        "matrices": [dict(equation=f"{gram_text(m)} = C{k}", **asdict(m))
                     for k, m in enumerate(matrices, start=1)],
        "count": result.count, "independent": result.independent, "lie_laws": result.lie.laws,
        "complete": result.complete, "certified": result.certified, "seed": result.lie.seed,
        "prime": result.lie.prime,
        "error_bound": 0.0 if result.certified else None
        if result.lie.unbounded or result.lie.bound_unproved else result.lie.error_bound,
        "variables": list(result.names), "identifiers": list(result.identifiers),
        "renamed": [{"variable": variable, "usual": usual, "used": used, "in": kind}
                    for variable, usual, used, kind in result.renamed],
    }


@renders(LawsResult, "verdict")
def _laws_verdict(result) -> str:
    lie = result.lie
    if result.certified:
        return (f"complete: {result.independent} independent laws = N (certified: exact laws give "
                f"N >= {result.independent}, the Lie trace gives N <= {lie.laws}, both with certainty)")
    if lie.bound_unproved:
        return (f"{'not complete at degree ' + str(result.degree) + ': ' if not result.complete else ''}"
                f"{result.independent} independent laws, N >= {result.independent} with "
                f"certainty; N <= {lie.laws}, not certified: {lie.bound_unproved}")
    if lie.unbounded:
        return (f"not complete at degree {result.degree}: {result.independent} independent; "
                f"{result.independent} <= N <= {lie.laws} with certainty (no probability for "
                f"N = {lie.laws}: {lie.unbounded})")
    return (f"not complete at degree {result.degree}: {result.independent} independent; "
            f"{result.independent} <= N <= {lie.laws} with certainty "
            + f"(N = {lie.laws} with error probability <= {_bound(lie.error_bound)}"
            + (f", {lie.bound_assumes})" if lie.bound_assumes else ")"))


@renders(LawsResult, "text")
def _laws_text(result, matrix_form: bool | None = None) -> str:
    from .exports import matrix_lines
    if matrix_form is None:
        matrix_form = result.basis == "natural"
    matrices, rest = matrix_lines(result, matrix_form)
    lines = [f"polynomial conservation laws of {result.model}, degree <= {result.degree} "
             f"(exact over QQ, each verified): {result.count}"]
    lines += [f"  {line}" for line in matrices]
    width = len(str(len(rest)))
    for k, h in enumerate(rest, start=1):
        lines.append(f"  h{k:<{width}} = {render(h, list(result.names))}")
    if matrices:
        names = ", ".join(f"C{k}" for k in range(1, len(matrices) + 1))
        what = "constant symmetric matrices" if len(matrices) > 1 else "a constant symmetric matrix"
        lines.append(f"  ({names}: {what}, a law per entry; --entries lists them one by one)")
    if result.echelon_blocks:
        sizes = ", ".join(map(str, result.echelon_blocks))
        lines.append(f"  (blocks of {sizes} laws are in reduced echelon form: a block of more "
                     f"than {natural_basis.BLOCK_LIMIT} laws is not made sparse)")
    origin = ("forced by CONSLAW_PRIME" if result.lie.prime_forced
              else f"drawn from seed {result.lie.seed}")
    lines.append(f"independent: {result.independent} of N = {result.lie.laws} (ranks modulo "
                 f"{result.lie.prime}, {origin})")
    lines.append(_laws_verdict(result))
    if result.note:
        lines.append(f"({result.note})")
    lines += [f"(renamed: {line})" for line in renamed_lines(result.renamed)]
    return "\n".join(lines)


@renders(LawsResult, "html")
def _laws_html(result) -> str:
    rows = "".join(f"<tr><td>h{k}</td><td><code>{escape(text)}</code></td></tr>"
                   for k, text in enumerate(result.strings(), start=1))
    return (f"<table><caption>polynomial laws of {escape(result.model)}, degree &le; "
            f"{result.degree}</caption>{rows}</table><p>{escape(_laws_verdict(result))}</p>")


@renders(CheckResult, "json")
def _check_json(result) -> dict:
    return {"expression": result.expression, "conserved": result.conserved,
            "breaking_feature": result.feature, "feature_polynomial": result.feature_poly,
            "derivative": result.derivative, "proof": result.proof}


@renders(CheckResult, "text")
def _check_text(result) -> str:
    if result.conserved:
        return (f"conserved: {result.expression}\n"
                f"  {result.proof or '<grad h, grad psi> = 0 exactly for every feature psi'}")
    if result.proof:
        return f"not conserved: {result.expression}\n  {result.proof}"
    return (f"not conserved: {result.expression}\n"
            f"  broken by the generator grad psi, psi = {result.feature_poly}\n"
            f"  ({result.feature})\n"
            f"  <grad h, grad psi> = {result.derivative}") if result.feature_poly is not None else (
        f"not conserved: {result.expression}\n"
        f"  broken along the output entry y = {result.feature}\n"
        f"  <grad h, grad y> = {result.derivative}")


@renders(CheckResult, "html")
def _check_html(result) -> str:
    return "<pre>" + escape(result.to_text()) + "</pre>"


@renders("RelationsResult", "json")
def _relations_json(result) -> dict:
    return {"model": result.model, "degree": result.degree, "relations": result.strings(),
            "laws": dict(zip(result.names, result.laws_text)), "count": len(result.relations),
            "independent_laws_algebraically": not result.relations,
            "verified": result.verified, "backend": result.backend}


@renders("RelationsResult", "text")
def _relations_text(result) -> str:
    degree = f", degree <= {result.degree}" if result.degree is not None else ""
    method = ("Jacobian criterion" if result.backend == "jacobian"
              else "Groebner basis of the elimination ideal")
    lines = [f"polynomial relations among the {len(result.laws)} laws of {result.model}{degree}"
             f" (exact, {method}): {len(result.relations)}"]
    lines += [f"  {text} = 0" for text in result.strings()]
    if not result.relations:
        lines.append("  none: the laws are algebraically independent"
                     + (" (Jacobian criterion: their gradients have full rank)"
                        if result.backend == "jacobian" else ""))
    elif result.verified:
        lines.append("  (each verified by substituting the laws)")
    lines.append("where")
    lines += [f"  {name} = {text}" for name, text in zip(result.names, result.laws_text)]
    return "\n".join(lines)


@renders("MembershipResult", "json")
def _membership_json(result) -> dict:
    return {"expression": result.expression, "degree": result.degree,
            "conserved": result.conserved, "in_algebra": result.in_algebra,
            "polynomial": result.polynomial_text(),
            "laws": dict(zip(result.names, result.laws_text))}


@renders("MembershipResult", "text")
def _membership_text(result) -> str:
    laws = f"the {len(result.laws_text)} laws of degree <= {result.degree}"
    if result.in_algebra:
        lines = [f"in the algebra of laws: {result.expression}",
                 f"  = {result.polynomial_text()}   (exact; verified by substitution)"]
    elif result.conserved:
        lines = [f"conserved, but not a polynomial in {laws}: {result.expression}",
                 "  (try a larger --degree)"]
    else:
        lines = [f"not conserved, so not in the algebra of laws: {result.expression}"]
    if result.laws_text:
        lines.append("where")
        lines += [f"  {n} = {t}" for n, t in zip(result.names, result.laws_text)]
    else:
        lines.append(f"(no laws of degree <= {result.degree})")
    return "\n".join(lines)


@renders("GeneratorsResult", "json")
def _generators_json(result) -> dict:
    return {"model": result.model, "degree": result.degree, "generators": list(result.generators),
            "count": len(result.generators), "basis_count": result.basis_count}


@renders("GeneratorsResult", "text")
def _generators_text(result) -> str:
    lines = [f"minimal generators of the algebra of polynomial laws of {result.model}, "
             f"degree <= {result.degree} (exact): {len(result.generators)} of the "
             f"{result.basis_count} basis laws"]
    lines += [f"  g{k} = {text}" for k, text in enumerate(result.generators, start=1)]
    lines.append("every law of degree <= %d is a polynomial in these; none of them is a "
                 "polynomial in the ones before it" % result.degree)
    return "\n".join(lines)


@renders("BlockLaws", "json")
def _blocks_json(result) -> dict:
    names = list(result.names)
    return {
        "model": result.model, "D": len(names), "degree": result.degree,
        "blocks": [{"parameters": list(b.tensors), "laws": [render(h, names) for h in b.laws],
                    "skipped": b.skipped, "searched": b.searched,
                    "rejected": [{"law": render(h, names), "reason": why}
                                 for h, why in b.rejected]} for b in result.blocks],
        "independent": result.independent, "lie_laws": result.lie_laws,
        "complete": result.complete, "certified": result.complete and not result.count_unbounded,
        "seed": result.seed, "prime": result.prime,
        "count_skipped": result.count_skipped, "count_unbounded": result.count_unbounded,
    }


@renders("BlockLaws", "text")
def _blocks_text(result) -> str:
    names = list(result.names)
    lines = [f"polynomial laws of {result.model} by block, degree <= {result.degree} (exact "
             "over QQ, each "
             "verified against every generator of the whole model"
             + (", on the variety s^2 q = 1 of the normalizations by exact reduction"
                if getattr(result, "normalized", False) else "") + ")"]
    k = 0
    for block in result.blocks:
        if block.skipped:
            lines.append(f"block {', '.join(block.tensors)}: skipped ({block.skipped})")
            continue
        lines.append(f"block {', '.join(block.tensors)}: {len(block.laws)} laws"
                     + (f" ({block.searched})" if block.searched else ""))
        for h in block.laws:
            k += 1
            lines.append(f"  h{k} = {render(h, names)}")
        for h, why in block.rejected:
            verdict = ("not verified" if why.startswith("not verified")
                       else "failed the whole-model check")
            lines.append(f"  dropped, {verdict}: {render(h, names)} ({why})")
    if any(b.searched for b in result.blocks):
        from ..analyses.blocks import AXIS_FORMS
        lines.append(AXIS_FORMS)
    lines.append(f"independent in the union: {result.independent}"
                 + (f" of N = {result.lie_laws}" if result.lie_laws is not None else "")
                 + (f" (ranks modulo {result.prime}, seed {result.seed})" if result.prime else ""))
    if result.complete and result.count_unbounded:
        lines.append(f"the blocks' laws reach the count's N <= {result.lie_laws}, which is not "
                     f"certified: {result.count_unbounded}")
    elif result.complete:
        lines.append("complete: the blocks' laws reach N (certified), every law of the model is "
                     "locally a function of them")
    elif result.lie_laws is not None:
        unverified = any(why.startswith("not verified") for b in result.blocks
                         for _, why in b.rejected)
        skipped = sum(1 for b in result.blocks if b.skipped or b.searched)
        lines.append(f"not complete: {result.lie_laws - result.independent} independent laws "
                     + (f"not reached: {skipped} skipped or partly searched blocks may hold "
                        "them, or laws involve "
                        "more than one block or have a higher degree" if skipped else
                        "not reached: some candidates above could not be verified exactly, or "
                        "laws involve more than one block or have a higher degree" if unverified
                        else "involve more than one block, or have a higher degree"))
    if result.count_skipped:
        lines.append(f"N of the whole model not counted ({result.count_skipped}); whether these "
                     "laws are complete is not known")
    return "\n".join(lines)


@renders(LawsResult, "latex")
def _laws_latex(result, matrix_form: bool = True) -> str:
    from .exports import latex_laws   # the matrix form is looked for only when asked
    return latex_laws(result, matrix_form)


@renders(LawsResult, "sage")
def _laws_sage(result) -> str:
    """The script of ``conslaw laws --format sage`` when the result knows its model;
    else the lines defining the ring, its generators and ``laws``."""
    from .exports import sage_laws_lines, sage_script
    if result.source is not None:
        return sage_script(result.source, result).rstrip("\n")
    return sage_laws_lines(result)
