"""Polynomials in parameter names, as text, LaTeX, Sage or identifiers.

Formatting only: no mathematics here. Names come from the model's state variables
(``program.variable_names``), ``W1[0,1]`` in text, JSON and LaTeX, ``W1_0_1`` where a
format needs identifiers. Text from a model file that is not a checked identifier (its
name, from the file name) enters a format only through the escapes below:
``python_literal`` and ``comment_text`` for Python and Sage, ``latex_text`` for LaTeX
(JSON is escaped by the ``json`` module).

>>> from flint import fmpq_mpoly_ctx
>>> a, b = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
>>> render(a**2 - 3*a*b, ["W[0]", "W[1]"])
'W[0]^2 - 3*W[0]*W[1]'
>>> print(render(a**2 - 3*a*b, ["W[0]", "W_1"], "latex"))
W_{0}^{2} - 3 W_{0} W\\_1
"""
from __future__ import annotations

import re

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
                  "#": r"\#", "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%",
                  "~": r"\textasciitilde{}"}


def _printable(text: str) -> str:
    """Undecodable bytes of a file name (lone surrogates) as ``\\udcXX`` text."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def python_literal(text: str) -> str:
    """A Python (and Sage) string literal of ``text``, ASCII only, one line.

    >>> print(python_literal("x' + str(__import__('os').system('id')) + '"))
    "x' + str(__import__('os').system('id')) + '"
    >>> print(python_literal("a\\nb"))
    'a\\nb'
    """
    return ascii(_printable(text))


def comment_text(text: str) -> str:
    """``text`` for a ``#`` comment: no line break can end the comment early.

    >>> comment_text("name\\nprint(1)")
    'name\\\\nprint(1)'
    """
    return _printable(text).encode("unicode_escape").decode("ascii")


def latex_text(text: str) -> str:
    """``text`` for LaTeX text: special characters escaped, line breaks as spaces.

    >>> print(latex_text("my_model #1 50% \\\\ {x}"))
    my\\_model \\#1 50\\% \\textbackslash{} \\{x\\}
    """
    out = []
    for ch in _printable(text):
        out.append(_LATEX_SPECIAL.get(ch, " " if ch.isspace() or not ch.isprintable() else ch))
    return "".join(out)


def latex_name(name: str) -> str:
    """A variable's text name in LaTeX: ``W1[0,1]`` -> ``W1_{0,1}``, ``W1'[0,1]`` ->
    ``W1'_{0,1}``, ``e^(2*t)`` -> ``e^{2 t}``; an underscore of a name is escaped, so
    that a scalar named ``W1_0_1`` stays apart from ``W1[0,1]``.

    >>> print(latex_name("W1[0,1]"), latex_name("b"), latex_name("W1_0_1"), latex_name("e^t"))
    W1_{0,1} b W1\\_0\\_1 e^{t}
    """
    if name.startswith("e^"):                     # the time factor e^(tau t) of momentum
        return "e^{" + _underscores(name[2:].strip("()").replace("*", " ")) + "}"
    match = re.fullmatch(r"([A-Za-z0-9_]+'?)\[([0-9,]*)\]", name)
    if not match:
        return _underscores(name)
    return f"{_underscores(match.group(1))}_{{{match.group(2)}}}"


def _underscores(name: str) -> str:
    return name.replace("_", r"\_")


def _powers(poly):
    """(variable, exponent) pairs and the coefficient of each term: of an fmpq_mpoly in its
    order, of a ``sparse.SparseLaw`` (a dict of variable indices) by degree, then indices."""
    if isinstance(poly, dict):
        for index in sorted(poly, key=lambda index: (-len(index), index)):
            yield [(v, index.count(v)) for k, v in enumerate(index)
                   if not k or index[k - 1] != v], poly[index]
        return
    for exps, coeff in poly.terms():
        yield [(var, e) for var, e in enumerate(exps) if e], coeff


def render(poly, names: list[str], style: str = "text") -> str:
    """The polynomial (an fmpq_mpoly, or a dict {variable indices: fmpq}) with variable
    i printed as ``names[i]``.

    >>> from flint import fmpq_mpoly_ctx, fmpq
    >>> a, b = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> render(a**2 - 3*a*b, ["a", "b"]), render(a**2 - b**2, ["a", "b"], "latex")
    ('a^2 - 3*a*b', 'a^{2} - b^{2}')
    >>> render({(0, 0): fmpq(1), (0, 1): fmpq(-3)}, ["a", "b"])
    'a^2 - 3*a*b'
    """
    pieces = []
    for powers, coeff in _powers(poly):
        factors = []
        for var, e in powers:
            name = latex_name(names[var]) if style == "latex" else names[var]
            if e == 1:
                factors.append(name)
            else:
                factors.append(f"{name}^{{{e}}}" if style == "latex" else f"{name}^{e}")
        sign = "-" if coeff < 0 else "+"
        magnitude = -coeff if coeff < 0 else coeff
        if style == "latex" and magnitude.q != 1:
            number = rf"\frac{{{magnitude.p}}}{{{magnitude.q}}}"
        else:
            number = str(magnitude)
        joiner = " " if style == "latex" else "*"
        if not factors:
            body = number
        elif magnitude == 1:
            body = joiner.join(factors)
        else:
            body = joiner.join([number] + factors)
        pieces.append((sign, body))
    if not pieces:
        return "0"
    first_sign, first = pieces[0]
    text = ("-" if first_sign == "-" else "") + first
    for sign, body in pieces[1:]:
        text += f" {sign} {body}"
    return text
