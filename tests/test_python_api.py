"""The Python API for symbolic pipelines: models from SymPy, laws as SymPy, LaTeX, JSON,
Jupyter, progress.

Every law is re-checked here with SymPy's own differentiation: h is conserved by the
gradient flow of any loss iff <grad h, grad_theta phi(theta; x)> vanishes identically in
theta and the data (THEORY.md A.1), so the check uses the model output, not the package.
"""
from __future__ import annotations

import io
import json

import sympy

import conslaw_algebra as ca
from conslaw_algebra import progress
from conslaw_algebra.views.cli import main


def _conserved_by(h, phi, params) -> bool:
    return sympy.expand(sum(sympy.diff(h, p) * sympy.diff(phi, p) for p in params)) == 0


def test_sympy_pipeline_linear_net_laws_verified_by_sympy():
    # phi = W2 W1 x with W1 2x2, W2 1x2: THEORY.md E.1 gives N = 2*3/2 = 3,
    # the entries of W1 W1^T - W2^T W2
    W1 = sympy.Matrix(2, 2, sympy.symbols("w1_0:2_0:2"))
    W2 = sympy.Matrix(1, 2, sympy.symbols("v0:2"))
    x = sympy.Matrix(sympy.symbols("x0:2"))
    phi = (W2 * W1 * x)[0]
    params = list(W1) + list(W2)
    model = ca.from_sympy(phi, [W1, W2], name="pipeline")
    assert model.count_laws(seed=3).laws == 3
    result = model.laws(2)
    laws = result.as_sympy()
    assert len(laws) == 3 and result.certified
    assert all(h.free_symbols <= set(params) for h in laws)       # the user's own symbols
    assert all(_conserved_by(h, phi, params) for h in laws)
    # the hand-derived Gram difference lies in the span of the returned laws
    gram = W1 * W1.T - W2.T * W2
    basis = sympy.Matrix([[sympy.Poly(h, *params).coeff_monomial(m) for m in _quadratics(params)]
                          for h in laws])
    for entry in (gram[0, 0], gram[0, 1], gram[1, 1]):
        row = sympy.Matrix([[sympy.Poly(entry, *params).coeff_monomial(m)
                             for m in _quadratics(params)]])
        assert basis.col_join(row).rank() == basis.rank() == 3
    # check takes a SymPy expression in the same symbols
    assert model.check(gram[0, 1]).conserved
    assert not model.check(W1[0, 0] ** 2 - W2[0, 0] ** 2).conserved


def _quadratics(params):
    return [a * b for i, a in enumerate(params) for b in params[i:]]


def test_sympy_relu_via_max_and_data_symbols():
    # phi = v * relu(w x + b): THEORY.md A.5, one law per neuron: w^2 + b^2 - v^2
    w, b, v, x = sympy.symbols("w b v x")
    model = ca.from_sympy(v * sympy.Max(0, w * x + b), [w, b, v])
    laws = model.laws(2).as_sympy()
    assert len(laws) == 1
    assert sympy.expand(laws[0] - (w**2 + b**2 - v**2)) == 0 or \
        sympy.expand(laws[0] + (w**2 + b**2 - v**2)) == 0
    gate = sympy.Symbol("g")          # on each region relu(e) = g*e, g in {0, 1}
    assert _conserved_by(laws[0], v * gate * (w * x + b), [w, b, v])


def test_sympy_model_refuses_floats_and_unknown_symbols():
    a, b = sympy.symbols("a b")
    for outputs, message in ((0.5 * a * b, "not exact"), (a * sympy.Symbol("c") ** -1, "positive")):
        try:
            ca.from_sympy(outputs, [a, b])
        except ca.ConslawError as exc:
            assert message in str(exc)
        else:
            raise AssertionError("accepted")
    try:
        ca.from_sympy(a * b * sympy.Symbol("c"), [a, b], data=[])
    except ca.ConslawError as exc:
        assert "'c' is neither a parameter nor data" in str(exc)
    else:
        raise AssertionError("accepted an undeclared symbol")


def test_latex_matrix_form_for_gram_differences():
    # THEORY.md E.1: linear nets conserve W_l W_l^T - W_{l+1}^T W_{l+1}; matrix
    # factorisation U V^T conserves U^T U - V^T V
    latex = ca.load("examples/linear_3layer.net").laws(2).to_latex()
    assert "W_{1} W_{1}^{\\top} - W_{2}^{\\top} W_{2} &= C_{1}" in latex
    assert "W_{2} W_{2}^{\\top} - W_{3}^{\\top} W_{3} &= C_{2}" in latex
    assert "5 \\times 5" in latex and "3 \\times 3" in latex and "h_{" not in latex
    latex = ca.load("examples/matrix_factorization.net").laws(2).to_latex()
    assert "U^{\\top} U - V^{\\top} V &= C_{1}" in latex and "h_{" not in latex
    # a linear layer with a bias: W1 W1^T + b1 b1^T - W2^T W2 (same GL symmetry acting on b1)
    latex = ca.parse("layers 3 -> 2 bias -> 2").laws(2).to_latex()
    assert "W_{1} W_{1}^{\\top} + b_{1} b_{1}^{\\top} - W_{2}^{\\top} W_{2}" in latex
    # ReLU: only the diagonal is conserved, so no matrix equation, one aligned line a neuron
    latex = ca.load("examples/relu_2layer.net").laws(2).to_latex()
    assert "C_{" not in latex and latex.count("h_{") == 5
    assert "\\begin{aligned}" in latex and "\\\\" in latex


LAWS_SCHEMA = {   # README "JSON": key -> type
    "model": str, "degree": int, "laws": list, "count": int, "independent": int,
    "lie_laws": int, "complete": bool, "certified": bool, "seed": int, "prime": int,
    "error_bound": float, "variables": list, "identifiers": list, "renamed": list,
    "basis": str, "echelon_blocks": list, "matrices": list,
}


def test_json_export_follows_the_documented_schema(capsys):
    assert main(["laws", "examples/product_x1x2x3.net", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == set(LAWS_SCHEMA)
    assert all(isinstance(data[k], t) for k, t in LAWS_SCHEMA.items())
    # THEORY.md: phi = x1 x2 x3 conserves x1^2 - x3^2 and x2^2 - x3^2, N = 2
    assert data["laws"] == ["x1^2 - x3^2", "x2^2 - x3^2"] and data["lie_laws"] == 2
    assert data["variables"] == ["x1", "x2", "x3"]
    assert data["identifiers"] == ["x1", "x2", "x3"] and data["renamed"] == []


def test_jupyter_representations():
    model = ca.load("examples/product_x1x2x3.net")
    laws = model.laws(2)
    assert laws._repr_latex_().startswith("$\\begin{aligned}")
    html = laws._repr_html_()
    assert html.count("<tr>") == 2 and "x1^2 - x3^2" in html
    html = model.count_laws()._repr_html_()
    assert "<table>" in html and "<th>laws</th><td>2</td>" in html
    assert "conserved" in model.check("x1^2 - x3^2")._repr_html_()
    html = ca.load("examples/relu_2layer.net")._repr_html_()
    assert "<td>W1</td><td>5x4</td><td>20</td>" in html and "D = 35" in html


def test_progress_line_only_when_asked_and_cleared():
    stream = io.StringIO()
    model = ca.load("examples/relu_bias_3layer.net")
    with progress.enabled(stream, interval=0, delay=0):
        assert model.count_laws(seed=1).laws == 8          # ground truth row 30
    text = stream.getvalue()
    assert "rank [" in text and "/49" in text
    assert text.endswith("\r")                              # erased at the end
    assert not progress.wanted(False, io.StringIO())        # not a terminal: silent
    assert not progress.wanted(True)                        # --quiet: silent


def test_cli_prints_no_progress_when_not_a_terminal(capsys):
    assert main(["count", "examples/relu_2layer.net"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "laws N     5" in captured.out
