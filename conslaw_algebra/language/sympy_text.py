"""SymPy expressions as `.net` expression text, for ``Model.check`` and the SymPy bridge.

A SymPy expression becomes the same polynomial written in the `.net` expression language,
which the ordinary compiler then reads, so an expression from SymPy means exactly what the
same text means. Why text and not a second compiler: the language has one meaning,
defined by one compiler; translating to it is a single recursive walk over the SymPy
tree, linear in its size. Where it stops winning: the walk recurses once per nesting
level, so Python's recursion limit caps the depth (950 nested one-argument functions
translate, 1,000 do not; nested sums and products take two or three frames a level), and
a very large expression is printed and parsed again as text, which costs about what
parsing a file of that size costs.
"""
from __future__ import annotations

from ..errors import UnsupportedError


def net_expression(expr, names: dict) -> str:
    """``expr`` in the `.net` expression language, symbols renamed by ``names``.

    >>> import sympy
    >>> a, b = sympy.symbols("a b")
    >>> net_expression(sympy.Max(0, 2*a - b/3)**2, {a: "a", b: "b"})
    'relu(2 * a + (-1/3) * b)^2'
    """
    import sympy

    def go(e) -> str:
        if e in names:
            return names[e]
        if isinstance(e, sympy.Symbol):
            raise UnsupportedError(f"symbol '{e}' is neither a parameter nor data")
        if e.is_Integer:
            return str(e) if e >= 0 else f"({e})"
        if e.is_Rational:
            return f"{e.p}/{e.q}" if e > 0 else f"(-{-e.p}/{e.q})"
        if e.is_Number:
            raise UnsupportedError(f"the number {e} is not exact: use integers or sympy.Rational")
        if e.is_Add:
            return " + ".join(go(a) for a in e.as_ordered_terms())
        if e.is_Mul:
            return " * ".join(wrap(a) for a in e.args)
        if e.is_Pow:
            k = e.exp
            if not (k.is_Integer and k > 0):
                raise UnsupportedError(f"power {k} of {e.base}: only positive integer powers")
            return f"{wrap(e.base)}^{k}"
        if isinstance(e, sympy.Max) and len(e.args) == 2 and sympy.S.Zero in e.args:
            inner = [a for a in e.args if a != 0][0]
            return f"relu({go(inner)})"
        if isinstance(e, sympy.Function) or isinstance(e, sympy.core.function.AppliedUndef):
            if len(e.args) != 1:
                raise UnsupportedError(f"{e.func} takes {len(e.args)} arguments; the language has "
                                      "one-argument functions only")
            name = str(e.func)
            if name.lower() == "relu":
                return f"relu({go(e.args[0])})"
            if name in ("tanh", "sigmoid"):
                return f"{name}({go(e.args[0])})"
            return f"generic({go(e.args[0])})"
        raise UnsupportedError(f"no translation for {e} ({type(e).__name__})")

    def wrap(e) -> str:
        text = go(e)
        return f"({text})" if e.is_Add else text

    return go(sympy.sympify(expr))


def expression_text(expr, model) -> str:
    """A SymPy expression in a model's symbols as a `.net` polynomial for ``check``.

    >>> import sympy
    >>> from conslaw_algebra.api import parse
    >>> expression_text(sympy.Symbol("W1_0_0")**2 + 1, parse("layers 1 -> 1 -> 1"))
    'W1[0,0]^2 + 1'
    >>> model = parse("param W1[1,2], W1_0_1, QQ\\noutput W1[0,1]*W1_0_1*QQ")
    >>> model.identifiers
    ('W1_0_0', 'W1_0_1_', 'W1_0_1', 'QQ_')
    >>> [expression_text(sympy.Symbol(n), model) for n in ("W1_0_1_", "W1_0_1", "QQ_", "QQ")]
    ['W1[0,1]', 'W1_0_1', 'QQ', 'QQ']
    """
    import sympy

    symbols = getattr(model, "sympy_symbols", None)
    if symbols is not None:
        names = dict(zip(symbols, model.names))
    else:   # symbols named like the identifiers, W1_0_1 (or a renamed scalar's own name)
        names = {sympy.Symbol(n): n for n in model.names if "[" not in n}
        names.update({sympy.Symbol(i): n for i, n in zip(model.identifiers, model.names)})
    return net_expression(expr, names)
