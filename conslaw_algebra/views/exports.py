"""Laws for other tools, as text: LaTeX with matrix equations, Sage code.

Formatting only; the laws come from the analyses already verified, and which
Gram-difference matrices are laws is decided by ``analyses/matrix_form.py``.

- **LaTeX.** One ``aligned`` block: each Gram difference whose entries are all laws as
  one matrix equation, the other laws as equations of their own.
- **Sage.** ``sage_laws_lines``: the ring over QQ, its generators and the laws
  (``LawsResult.to_sage``); ``sage_script``: a standalone script that also defines the
  generator fields (for a Euclidean gradient flow, the features, differentiated by Sage
  itself), asserts <grad h, F> = 0 for every law h and field F, and the number of
  independent laws (rank of their gradients at a random rational point). Its code holds
  only checked identifiers (``program.variable_names``: never reserved, never starting
  with ``_``; its own loop variables start with ``_``), numbers, and the model's name as
  an escaped literal or comment (``render.python_literal``, ``render.comment_text``).

>>> import conslaw_algebra as ca
>>> result = ca.parse("layers 2 -> 2 -> 2").laws(2)
>>> print(latex_laws(result))
\\begin{aligned}
W_{1} W_{1}^{\\top} - W_{2}^{\\top} W_{2} &= C_{1} && \\text{(constant symmetric } 2 \\times 2\\text{: 3 laws)}
\\end{aligned}
"""
from __future__ import annotations

import re

from ..analyses.matrix_form import matrix_laws
from ..exact.render import comment_text, latex_text, python_literal, render
from ..language.program import renamed_lines


def _matrix_name(name: str) -> str:
    """``W1`` -> ``W_{1}``, ``U`` -> ``U``, ``W_1`` -> ``W\\_1`` (apart from ``W1``)."""
    match = re.fullmatch(r"([A-Za-z]+)([0-9]+)", name)
    return f"{match.group(1)}_{{{match.group(2)}}}" if match else name.replace("_", r"\_")


def _gram_latex(matrix) -> str:
    def gram(name, side):
        m = _matrix_name(name)
        return f"{m} {m}^{{\\top}}" if side == "rows" else f"{m}^{{\\top}} {m}"
    text = gram(matrix.first, matrix.first_side)
    bias = _matrix_name(matrix.bias) if matrix.bias else None
    if bias and matrix.sign > 0:
        text += f" + {bias} {bias}^{{\\top}}"
    text += " - " + gram(matrix.second, matrix.second_side)
    if bias and matrix.sign < 0:
        text += f" - {bias} {bias}^{{\\top}}"
    return text


def gram_text(matrix) -> str:
    """A Gram difference as plain text, the way the LaTeX form writes it.

    >>> from conslaw_algebra.analyses.matrix_form import GramDifference
    >>> gram_text(GramDifference("W1", "rows", "W2", "cols", "b1", 1, 3, 6))
    'W1 W1^T + b1 b1^T - W2^T W2'
    """
    def gram(name, side):
        return f"{name} {name}^T" if side == "rows" else f"{name}^T {name}"
    text = gram(matrix.first, matrix.first_side)
    if matrix.bias and matrix.sign > 0:
        text += f" + {matrix.bias} {matrix.bias}^T"
    text += " - " + gram(matrix.second, matrix.second_side)
    if matrix.bias and matrix.sign < 0:
        text += f" - {matrix.bias} {matrix.bias}^T"
    return text


def matrix_lines(result, matrix_form: bool = True) -> tuple[list[str], list]:
    """The text lines of the Gram-difference matrix equations among the laws (``W1 W1^T -
    W2^T W2 = C1   (symmetric 5x5: 15 laws)``) and the laws outside them.

    >>> import conslaw_algebra as ca
    >>> lines, rest = matrix_lines(ca.parse("layers 2 -> 2 -> 2").laws(2))
    >>> lines, rest
    (['W1 W1^T - W2^T W2 = C1   (symmetric 2x2: 3 laws)'], [])
    """
    matrices, rest = matrix_laws(result) if matrix_form else ([], list(result.laws))
    return [f"{gram_text(m)} = C{k}   (symmetric {m.size}x{m.size}: {m.laws} laws)"
            for k, m in enumerate(matrices, start=1)], rest


def latex_laws(result, matrix_form: bool = True, title: bool = False) -> str:
    """The laws as one ``aligned`` block, Gram-difference matrices as matrix equations;
    ``title``: first a LaTeX comment naming the model (escaped) and any renamed variable.

    >>> import conslaw_algebra as ca
    >>> result = ca.parse("param a, b\\noutput a*b", "my_model#1").laws(2)
    >>> latex_laws(result).splitlines()[1]
    'h_{1} &= a^{2} - b^{2}'
    >>> print(latex_laws(result, title=True).splitlines()[0])
    % conservation laws of my\\_model\\#1, degree <= 2 (conslaw)
    """
    matrices, rest = matrix_laws(result) if matrix_form else ([], list(result.laws))
    lines = []
    for k, matrix in enumerate(matrices, start=1):
        size = matrix.size
        lines.append(f"{_gram_latex(matrix)} &= C_{{{k}}} && \\text{{(constant symmetric }} "
                     f"{size} \\times {size}\\text{{: {matrix.laws} laws)}}")
    for k, h in enumerate(rest, start=1):
        lines.append(f"h_{{{k}}} &= {render(h, list(result.names), 'latex')}")
    block = "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
    if not title:
        return block
    head = [f"% conservation laws of {latex_text(result.model)}, degree <= {result.degree} "
            "(conslaw)"]
    text_renamed = [r for r in result.renamed if r[3] == "text"]   # LaTeX has no identifiers
    head += [f"% renamed: {latex_text(line)}" for line in renamed_lines(text_renamed)]
    return "\n".join(head) + "\n" + block


def _sage_ring(result) -> list[str]:
    idents = list(result.identifiers)
    return [f"R = PolynomialRing(QQ, {idents!r}, order='degrevlex')",
            f"{', '.join(idents)}{',' if len(idents) == 1 else ''} = R.gens()"]


def _sage_laws(result) -> list[str]:
    return ["laws = ["] + [f"    {text}," for text in result.strings("sage")] + ["]"]


def sage_laws_lines(result) -> str:
    """Sage lines defining the ring ``R`` over QQ, its generators and ``laws``.

    >>> import conslaw_algebra as ca
    >>> print(sage_laws_lines(ca.parse("param a, b\\noutput a*b", "m").laws(2)))
    # conservation laws of m, degree <= 2
    R = PolynomialRing(QQ, ['a', 'b'], order='degrevlex')
    a, b = R.gens()
    laws = [
        a^2 - b^2,
    ]
    """
    lines = [f"# conservation laws of {comment_text(result.model)}, degree <= {result.degree}"]
    lines += [f"# renamed: {line}" for line in renamed_lines(result.renamed)]
    return "\n".join(lines + _sage_ring(result) + _sage_laws(result))


def _plain_gradient(model) -> bool:
    return not model.flow.momentum and not model.flow.mirror and not model.expansion.metric


def sage_script(model, result) -> str:
    """A standalone ``.sage`` file that re-checks the laws in Sage.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("param a, b\\noutput a*b")
    >>> script = sage_script(model, model.laws(2)).splitlines()
    >>> script[2], "    a^2 - b^2," in script
    ("R = PolynomialRing(QQ, ['a', 'b'], order='degrevlex')", True)
    """
    idents = list(result.identifiers)
    lines = [f"# Conservation laws of {comment_text(result.model)}, degree <= {result.degree}, "
             "from conslaw.",
             "# Run: sage FILE.sage   (checks every law against every generator field)"]
    lines += [f"# renamed: {line}" for line in renamed_lines(result.renamed)]
    lines += _sage_ring(result)
    if _plain_gradient(model):
        lines.append("# features psi_k: the generator fields are their gradients (Euclidean "
                     "gradient flow)")
        lines.append("features = [")
        lines += [f"    {render(p, idents)}," for p in model.features]
        lines.append("]")
        lines.append("fields = [[_psi.derivative(_v) for _v in R.gens()] for _psi in features]")
    else:
        lines.append(f"# generator fields of the flow ({comment_text(model.flow.describe())}), "
                     "component by component")
        lines.append("fields = []")
        for field in model.polynomial_fields:
            body = ", ".join(f"{j}: {render(p, idents)}" for j, p in sorted(field.items()))
            lines.append(f"fields.append({{{body}}})")
        lines.append("fields = [[_F.get(_j, R(0)) for _j in range(R.ngens())] for _F in fields]")
    lines += _sage_laws(result)
    lines += [
        "for _k, _h in enumerate(laws):",
        "    _grad = [_h.derivative(_v) for _v in R.gens()]",
        "    for _j, _F in enumerate(fields):",
        "        assert sum(_a * _b for _a, _b in zip(_grad, _F)) == 0, (_k, _j)",
        "set_random_seed(0)",
        "_point = [QQ(ZZ.random_element(-10**6, 10**6)) for _v in R.gens()]",
        "_J = matrix(QQ, [[_h.derivative(_v)(*_point) for _v in R.gens()] for _h in laws]) "
        "if laws else matrix(QQ, 0, R.ngens())",
        f"assert _J.rank() == {result.independent}, _J.rank()",
        "print('conslaw: %d laws of %s conserved by all %d fields; %d independent' "
        f"% (len(laws), {python_literal(comment_text(result.model))}, len(fields), _J.rank()))",
    ]
    return "\n".join(lines) + "\n"
