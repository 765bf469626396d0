"""Build a model from SymPy expressions, so a SymPy pipeline can call in without a file.

The expressions are translated into `.net` text (one scalar ``param`` per SymPy
symbol, one scalar ``input`` per other free symbol, one ``output`` per expression)
and compiled by the ordinary parser, so a SymPy model means exactly what the same
`.net` file means. The model remembers the user's symbols: ``laws().as_sympy()``
answers in them, and ``check`` accepts a SymPy expression in them.

Translated: sums, products, powers with positive integer exponents, integers and
rationals, ``Max(0, e)`` or an undefined function ``relu(e)`` as ReLU, ``tanh(e)``,
and any other one-argument function f(e) as ``generic(e)`` (the model then depends on
theta only through e). Floats are refused: the analysis is exact.

>>> import sympy
>>> a, b, x = sympy.symbols("a b x")
>>> model = from_sympy(a * b * x, [a, b])
>>> model.laws(2).as_sympy()
[a**2 - b**2]
"""
from __future__ import annotations

import keyword
import re

from .errors import UnsupportedError

_RESERVED = {"model", "param", "input", "output", "layers", "flow", "metric", "relu", "generic",
             "softmax", "sigmoid", "tanh", "sum", "conv1d", "conv2d", "maxpool", "attention"}


def _flatten(items) -> list:
    """Symbols from a symbol, a Matrix of symbols, or nested lists of them."""
    import sympy

    if isinstance(items, (sympy.MatrixBase,)):
        return list(items)
    if isinstance(items, sympy.Basic):
        return [items]
    out = []
    for item in items:
        out += _flatten(item)
    return out


def _identifiers(symbols, taken: set[str]) -> dict:
    """A `.net` name for each symbol: its own name when that is one.

    >>> import sympy
    >>> sorted(_identifiers(sympy.symbols("θ φ w_1 2x"), set()).values())
    ['p', 'p_2', 's_2x', 'w_1']
    """
    names = {}
    for s in symbols:
        base = re.sub(r"[^A-Za-z0-9_]", "_", s.name)    # `.net` names are ASCII
        if not re.search(r"[A-Za-z0-9]", base):
            base = "p"
        if base[0].isdigit():
            base = "s_" + base
        if base in _RESERVED or keyword.iskeyword(base):
            base += "_"
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        names[s] = name
    return names


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


def net_text(outputs, parameters, data=None, name: str = "sympy_model") -> tuple[str, list]:
    """The `.net` text of a SymPy model and its parameter symbols in order.

    >>> import sympy
    >>> u, v, x = sympy.symbols("u v x")
    >>> print(net_text([u * v * x], [u, v])[0])
    model sympy_model
    param u, v
    input x
    output u * v * x
    """
    import sympy

    params = _flatten(parameters)
    if not params:
        raise UnsupportedError("give at least one parameter symbol")
    for s in params:
        if not isinstance(s, sympy.Symbol):
            raise UnsupportedError(f"parameter '{s}' is not a SymPy Symbol")
    if len(set(params)) != len(params):
        raise UnsupportedError("a parameter symbol is listed twice")
    outs = _flatten(outputs)
    if not outs:
        raise UnsupportedError("give at least one output expression")
    free = set().union(*(sympy.sympify(o).free_symbols for o in outs))
    inputs = _flatten(data) if data is not None else sorted(free - set(params), key=str)
    stray = free - set(params) - set(inputs)
    if stray:
        raise UnsupportedError(f"symbol '{sorted(map(str, stray))[0]}' is neither a parameter "
                              "nor data")
    taken: set[str] = set()
    names = _identifiers(params, taken)
    names.update(_identifiers(inputs, taken))
    model_name = re.sub(r"[^A-Za-z0-9_]", "_", name) or "sympy_model"
    if model_name[0].isdigit():
        model_name = "m_" + model_name
    lines = [f"model {model_name}", "param " + ", ".join(names[s] for s in params)]
    if inputs:
        lines.append("input " + ", ".join(names[s] for s in inputs))
    lines += [f"output {net_expression(o, names)}" for o in outs]
    return "\n".join(lines), params


def from_sympy(outputs, parameters, data=None, name: str = "sympy_model"):
    """A ``Model`` from SymPy: ``outputs`` expressions (or a Matrix, or a list),
    ``parameters`` Symbols (or Matrices of them), ``data`` the other symbols (default:
    every free symbol that is not a parameter).

    >>> import sympy
    >>> w = sympy.Matrix(sympy.symbols("w0:2"))
    >>> x = sympy.symbols("x")
    >>> model = from_sympy(w[0] * w[1] * x, w)
    >>> model.check(w[0]**2 - w[1]**2).conserved
    True
    """
    from .api import parse

    text, params = net_text(outputs, parameters, data, name)
    model = parse(text, f"<sympy:{name}>")
    model.sympy_symbols = tuple(params)
    model.source_text = text
    return model


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
