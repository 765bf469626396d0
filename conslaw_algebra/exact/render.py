"""Polynomials in parameter names, as text, LaTeX, Sage or identifiers.

Formatting only: no mathematics here. Names come from the model's parameter
entries, ``W1[0,1]`` in text and JSON, ``W1_0_1`` where a format needs identifiers.

>>> from flint import fmpq_mpoly_ctx
>>> a, b = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
>>> render(a**2 - 3*a*b, ["W[0]", "W[1]"])
'W[0]^2 - 3*W[0]*W[1]'
>>> render(a**2 - 3*a*b, ["W_0", "W_1"], "latex")
'W_{0}^{2} - 3 W_{0} W_{1}'
"""
from __future__ import annotations

import re


def latex_name(name: str) -> str:
    """``W1[0,1]`` or ``W1_0_1`` -> ``W1_{0,1}``.

    >>> latex_name("W1[0,1]"), latex_name("b")
    ('W1_{0,1}', 'b')
    """
    match = re.fullmatch(r"([A-Za-z0-9]+?'?)(?:\[(.*)\]|_([0-9_]+))", name)
    if not match:
        return name.replace("_", r"\_")
    index = match.group(2) if match.group(2) is not None else match.group(3).replace("_", ",")
    return f"{match.group(1)}_{{{index}}}"


def render(poly, names: list[str], style: str = "text") -> str:
    """The polynomial with variable i printed as ``names[i]``.

    >>> from flint import fmpq_mpoly_ctx
    >>> a, b = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> render(a**2 - 3*a*b, ["a", "b"]), render(a**2 - b**2, ["a", "b"], "latex")
    ('a^2 - 3*a*b', 'a^{2} - b^{2}')
    """
    pieces = []
    for exps, coeff in poly.terms():
        factors = []
        for var, e in enumerate(exps):
            if not e:
                continue
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
