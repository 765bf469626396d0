"""Laws for other tools: LaTeX with matrix equations, a standalone Sage script, SymPy, Sage.

Formatting and conversion only; the laws themselves come from ``laws.py`` already
verified. Two jobs need a little exact algebra:

- **Matrix form in LaTeX.** When the degree-2 laws contain every entry of a
  Gram difference such as W1 W1^T - W2^T W2 (optionally + b b^T for a bias), the
  LaTeX shows one matrix equation instead of its entries. Candidates are built from
  the parameter tensors' shapes alone (every pair of matrices, every pair of sides of
  equal size, with or without a vector of that size), and a candidate is accepted when
  each of its entries lies in the exact QQ span of the laws (``rational.Span``). Nothing depends on an architecture's name. Laws not in the span of the
  accepted matrices are listed as aligned equations.
  Where it stops winning: with t matrices the candidates grow like t^2; above
  ``MATRIX_FORM_LIMIT`` laws the plain aligned list is printed.
- **Sage script.** The script defines the ring over QQ, the generator fields (for a
  Euclidean gradient flow, the features, differentiated by Sage itself), the laws, and
  asserts <grad h, F> = 0 for every law h and field F, and the number of independent
  laws (rank of their gradients at a random rational point). Its code holds only checked
  identifiers (``program.variable_names``: never reserved, never starting with ``_``; its
  own loop variables start with ``_``), numbers, and the model's name as an escaped
  literal or comment (``render.python_literal``, ``render.comment_text``).

>>> import conslaw_algebra as ca
>>> result = ca.parse("layers 2 -> 2 -> 2").laws(2)
>>> print(latex_laws(result))
\\begin{aligned}
W_{1} W_{1}^{\\top} - W_{2}^{\\top} W_{2} &= C_{1} && \\text{(constant symmetric } 2 \\times 2\\text{: 3 laws)}
\\end{aligned}
"""
from __future__ import annotations

import re

from ..errors import ConslawError
from ..exact.rational import Span
from ..exact.render import comment_text, latex_text, python_literal, render
from ..exact.sparse import add_into
from ..language.program import renamed_lines

MATRIX_FORM_LIMIT = 500    # laws; above this LaTeX lists them without looking for matrices

_ENTRY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([0-9,]*)\])?$")


# ----------------------------------------------------------------- tensors by name
def tensors_of(names) -> dict[str, dict[tuple, int]]:
    """Group variable names by tensor: ``{'W1': {(0, 1): variable index, ...}}``.

    >>> tensors_of(["W[0,0]", "W[0,1]", "b"])
    {'W': {(0, 0): 0, (0, 1): 1}, 'b': {(): 2}}
    """
    groups: dict[str, dict[tuple, int]] = {}
    for var, name in enumerate(names):
        match = _ENTRY.match(name)
        if not match:          # velocities, time factors: not entries of a tensor
            continue
        index = tuple(int(i) for i in match.group(2).split(",")) if match.group(2) else ()
        groups.setdefault(match.group(1), {})[index] = var
    return groups


def _matrices(names) -> tuple[dict, dict]:
    """Full 2-D tensors as (rows, cols, index map) and 1-D tensors as (size, index map)."""
    matrices, vectors = {}, {}
    for name, entries in tensors_of(names).items():
        dims = {len(i) for i in entries}
        if dims == {2}:
            rows = 1 + max(i for i, _ in entries)
            cols = 1 + max(j for _, j in entries)
            if len(entries) == rows * cols:
                matrices[name] = (rows, cols, entries)
        elif dims == {1}:
            size = 1 + max(i for (i,) in entries)
            if len(entries) == size:
                vectors[name] = (size, entries)
    return matrices, vectors


# ----------------------------------------------------------------- exact spans
def _as_vector(poly) -> dict:
    return {tuple(exps): c for exps, c in poly.terms()}


def _quadratic(pairs, dim) -> dict:
    """sum of c * x_i * x_j over (i, j, c) as a vector over monomials (exponent tuples)."""
    vector: dict = {}
    for i, j, c in pairs:
        exps = [0] * dim
        exps[i] += 1
        exps[j] += 1
        add_into(vector, tuple(exps), c)
    return vector


def _gram(entries, rows: int, cols: int, side: str, a: int, b: int):
    """Products of entry pairs of (M M^T)[a,b] (side 'rows') or (M^T M)[a,b] (side 'cols')."""
    if side == "rows":
        return [(entries[(a, k)], entries[(b, k)]) for k in range(cols)]
    return [(entries[(k, a)], entries[(k, b)]) for k in range(rows)]


def matrix_laws(result):
    """Gram-difference matrices whose entries are all laws, and the laws they leave.

    Returns ``(matrices, rest)``: ``matrices`` a list of (latex of the left side, size,
    number of laws), ``rest`` the laws (fmpq_mpoly) not in the span of those entries.

    >>> import conslaw_algebra as ca
    >>> matrices, rest = matrix_laws(ca.parse("layers 3 -> 2 relu -> 1").laws(2))
    >>> matrices, len(rest)
    ([], 2)
    """
    laws = list(result.laws)
    matrices, vectors = _matrices(result.names)
    if len(laws) > MATRIX_FORM_LIMIT or result.note or len(matrices) < 2:
        return [], laws
    dim = len(result.names)
    span = Span()
    for h in laws:
        if h.total_degree() == 2 and all(sum(e) == 2 for e in h.monoms()):
            span.add(_as_vector(h))
    order = list(matrices)
    covered = Span()
    found = []
    for x, first in enumerate(order):
        for second in order[x + 1:]:
            r1, c1, e1 = matrices[first]
            r2, c2, e2 = matrices[second]
            for side1, n1 in (("rows", r1), ("cols", c1)):
                for side2, n2 in (("rows", r2), ("cols", c2)):
                    if n1 != n2 or n1 < 2:
                        continue
                    choices = [(None, 0)] + [(v, s) for v in vectors if vectors[v][0] == n1
                                             for s in (1, -1)]
                    for bias, sign in choices:
                        entries = []
                        for a in range(n1):
                            for b in range(a, n1):
                                pairs = [(i, j, 1) for i, j in _gram(e1, r1, c1, side1, a, b)]
                                pairs += [(i, j, -1) for i, j in _gram(e2, r2, c2, side2, a, b)]
                                if bias:
                                    bv = vectors[bias][1]
                                    pairs.append((bv[(a,)], bv[(b,)], sign))
                                entries.append(_quadratic(pairs, dim))
                        if not all(span.contains(v) for v in entries):
                            continue
                        new = sum(covered.add(v) for v in entries)
                        if new:
                            found.append((_gram_latex(first, side1, second, side2, bias, sign),
                                          n1, new))
                        break
    rest = [h for h in laws if covered.add(_as_vector(h))]
    return found, rest


def _matrix_name(name: str) -> str:
    """``W1`` -> ``W_{1}``, ``U`` -> ``U``, ``W_1`` -> ``W\\_1`` (apart from ``W1``)."""
    match = re.fullmatch(r"([A-Za-z]+)([0-9]+)", name)
    return f"{match.group(1)}_{{{match.group(2)}}}" if match else name.replace("_", r"\_")


def _gram_latex(first, side1, second, side2, bias, sign) -> str:
    def gram(name, side):
        m = _matrix_name(name)
        return f"{m} {m}^{{\\top}}" if side == "rows" else f"{m}^{{\\top}} {m}"
    text = gram(first, side1)
    if bias and sign > 0:
        b = _matrix_name(bias)
        text += f" + {b} {b}^{{\\top}}"
    text += " - " + gram(second, side2)
    if bias and sign < 0:
        b = _matrix_name(bias)
        text += f" - {b} {b}^{{\\top}}"
    return text


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
    for k, (left, size, count) in enumerate(matrices, start=1):
        lines.append(f"{left} &= C_{{{k}}} && \\text{{(constant symmetric }} {size} \\times {size}"
                     f"\\text{{: {count} laws)}}")
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


# ----------------------------------------------------------------- SymPy and Sage values
def sympy_laws(result, symbols=None) -> list:
    """The laws as SymPy expressions in named symbols (``W1_0_1``, or the given ones).

    >>> import conslaw_algebra as ca
    >>> sympy_laws(ca.parse("param a, b\\noutput a*b").laws(2))
    [a**2 - b**2]
    """
    import sympy

    if symbols is None:
        symbols = [sympy.Symbol(name) for name in result.identifiers]
    symbols = tuple(symbols)
    if len(symbols) != len(result.identifiers):
        raise ConslawError(f"need {len(result.identifiers)} symbols, got {len(symbols)}")
    out = []
    for h in result.laws:
        terms = []
        for exps, c in h.terms():
            term = sympy.Rational(int(c.p), int(c.q))
            for var, e in enumerate(exps):
                if e:
                    term *= symbols[var] ** e
            terms.append(term)
        out.append(sympy.Add(*terms))
    return out


def sage_module():
    """Sage's namespace: ``sage.all`` or passagemath's ``sage.all__sagemath_singular``.

    >>> sage_module().QQ(3) / 6
    1/2
    """
    for name in ("sage.all", "sage.all__sagemath_singular"):
        try:
            return __import__(name, fromlist=["PolynomialRing"])
        except ImportError:
            continue
    raise ConslawError("Sage is not importable here: install SageMath, or passagemath "
                       "(pip install -e '.[sage]')")


def sage_laws(result) -> list:
    """The laws as Sage polynomials over QQ in the identifiers (``W1_0_1``).

    >>> import conslaw_algebra as ca
    >>> result = ca.parse("param a, b\\noutput a*b").laws(2)
    >>> sage_laws(result)
    [a^2 - b^2]
    """
    sage = sage_module()
    ring = sage.PolynomialRing(sage.QQ, list(result.identifiers), order="degrevlex")
    return [ring({tuple(exps): sage.QQ((int(c.p), int(c.q))) for exps, c in h.terms()})
            for h in result.laws]


# ----------------------------------------------------------------- the Sage script
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
             "# Run: sage FILE.sage   (checks every law against every generator field)",
             f"R = PolynomialRing(QQ, {idents!r}, order='degrevlex')",
             f"{', '.join(idents)}{',' if len(idents) == 1 else ''} = R.gens()"]
    lines[2:2] = [f"# renamed: {line}" for line in renamed_lines(result.renamed)]
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
    lines.append("laws = [")
    lines += [f"    {render(h, idents)}," for h in result.laws]
    lines.append("]")
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
