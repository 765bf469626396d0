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

from ..errors import UnsupportedError
from ..language.sympy_text import net_expression

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
    from ..api import parse

    text, params = net_text(outputs, parameters, data, name)
    model = parse(text, f"<sympy:{name}>")
    model.sympy_symbols = tuple(params)
    model.source_text = text
    return model
