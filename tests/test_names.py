"""No two variables share a name in any output, and nothing from a model file runs in an
export: the laws are read back from each format and re-checked against fields built here.

Expected values are hand derivations:
- ``COLLIDE``: the output is a sum of products of disjoint groups of scalar parameters,
  each times its own data monomial, so the features are exactly those products. For a
  product of k variables the degree-2 laws are the k - 1 differences of squares
  (THEORY.md, product example x1 x2 x3); the groups share no variable, so their
  gradient fields commute and N = D - (number of features) = 22 - 7 = 15.
- ``MOMENTUM``: (t*a + s*a_dot)*x is f = <u, w> x, u = (t, s), w = (a, a_dot), the
  two-layer linear net with one input, one output and r = 2 hidden units. THEORY.md B.3's
  Noether argument: for a linear map L of theta = (u, w) with <L theta, grad E> = 0 for
  every E (L in the Lie algebra of the form <u, w>: L^T J + J L = 0, J = [[0, I], [I, 0]])
  and L antisymmetric, S * <L theta, theta'> is conserved, S = 1 for tau = 0 and
  S = e^(tau t) for heavy-ball momentum. Antisymmetric L = [[A, B], [C, D]] with
  J L = L J forces D = A and C = B, both antisymmetric 2 x 2: two laws,
  h1 = S (t s' - t' s + a a_dot' - a' a_dot) (A; THEORY's r(r-1)/2 = 1 law) and
  h2 = S (a_dot t' - a s' + s a' - t a_dot') (B: u and w are interchangeable here, the
  over-parameterised case where momentum keeps more than r(r-1)/2 laws). The
  phase-space fields are G = (1, v, 0) (tau = 0) or (s, v, -v) (tau = 1) and
  F = (0, 0, grad psi) (THEORY.md B.2).
- The identifiers follow the rule of ``program.variable_names`` (README, JSON
  ``renamed``), applied by hand below.
"""
from __future__ import annotations

import builtins
import io
import json
import keyword
import re
import subprocess
import sys
import tokenize

import sympy
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

import conslaw_algebra as ca
from conslaw_algebra.views.cli import main
from conslaw_algebra.views.exports import latex_laws, sage_script
from conslaw_algebra.language.program import RESERVED_IDENTIFIERS, TensorInfo, variable_names

from test_sage_bridge import _run_sage

COLLIDE = ("param W1[1,2], W1_0_1, W_1[1], W[2,1], QQ, R, lambda, _x, print, I, E, pi, S, N\n"
           "param gens, sage, var, exp, ZZ, matrix\n"
           "input x[2]\n"
           "output W1[0,0]*W1[0,1]*W1_0_1*x[0] + W_1[0]*W[0,0]*W[1,0]*x[1]"
           " + QQ*R*lambda*x[0]*x[1] + _x*print*I*x[0]^2 + E*pi*S*N*x[1]^2"
           " + gens*sage*var*x[0]^3 + exp*ZZ*matrix*x[1]^3\n")
GROUPS = [["W1[0,0]", "W1[0,1]", "W1_0_1"], ["W_1[0]", "W[0,0]", "W[1,0]"],
          ["QQ", "R", "lambda"], ["_x", "print", "I"], ["E", "pi", "S", "N"],
          ["gens", "sage", "var"], ["exp", "ZZ", "matrix"]]
# the rule by hand: scalars keep their names unless reserved or starting with _, entries
# in declaration order take the first free name of usual, usual_, usual__, ...
COLLIDE_IDENTIFIERS = {
    "W1[0,0]": "W1_0_0", "W1[0,1]": "W1_0_1_", "W1_0_1": "W1_0_1", "W_1[0]": "W_1_0",
    "W[0,0]": "W_0_0", "W[1,0]": "W_1_0_", "QQ": "QQ_", "R": "R_", "lambda": "lambda_",
    "_x": "v_x", "print": "print_", "I": "I_", "E": "E_", "pi": "pi_", "S": "S_", "N": "N_",
    "gens": "gens_", "sage": "sage_", "var": "var_", "exp": "exp_", "ZZ": "ZZ_",
    "matrix": "matrix_"}
KEPT = ("W1[0,0]", "W1_0_1", "W_1[0]", "W[0,0]")     # usual identifier free and allowed
MOMENTUM = "param t, s, a, a_dot\ninput x\noutput (t*a + s*a_dot)*x\nflow momentum{}\n"
PAYLOAD = "__import__('os').system('touch MARK')"


# ----------------------------------------------------------------- reading laws back
def parse_identifier_text(text: str, identifiers) -> sympy.Expr:
    """A law written in identifiers, read by SymPy with the identifiers as its symbols."""
    local = {name: sympy.Symbol(name) for name in identifiers}
    return parse_expr(text, local_dict=local,
                      transformations=standard_transformations + (convert_xor,))


def parse_text_names(text: str, names) -> sympy.Expr:
    """A law written in text names (``W1[0,1]``, ``a'``, ``e^t``), each replaced by a
    placeholder symbol ``z<k>`` before SymPy reads it."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    token = re.compile(rf"(?<![A-Za-z0-9_'\]])({alternatives})(?![A-Za-z0-9_'\[])")
    index = {n: k for k, n in enumerate(names)}
    body = token.sub(lambda m: f"z{index[m.group(1)]}", text)
    return parse_identifier_text(body, [f"z{k}" for k in range(len(names))])


def to_text_symbols(expr, identifiers, names) -> sympy.Expr:
    """Rename identifier symbols to symbols named by the text names (what the hand
    derivations use)."""
    return expr.subs({sympy.Symbol(i): sympy.Symbol(n) for i, n in zip(identifiers, names)},
                     simultaneous=True)


def same_span(laws, expected, variables) -> bool:
    """The two lists of polynomials span the same QQ vector space."""
    monomials = sorted({m for h in laws + expected for m in sympy.Poly(h, *variables).monoms()})

    def matrix(polys):
        rows = []
        for h in polys:
            coeffs = dict(zip(sympy.Poly(h, *variables).monoms(),
                              sympy.Poly(h, *variables).coeffs()))
            rows.append([coeffs.get(m, 0) for m in monomials])
        return sympy.Matrix(rows)

    a, b = matrix(laws), matrix(expected)
    return a.rank() == b.rank() == a.col_join(b).rank()


def gradient_conserved(h, features, variables) -> bool:
    """<grad h, grad psi> = 0 for every feature psi, by SymPy differentiation."""
    return all(sympy.expand(sum(sympy.diff(h, v) * sympy.diff(psi, v) for v in variables)) == 0
               for psi in features)


def collide_expected():
    sym = {n: sympy.Symbol(n) for group in GROUPS for n in group}
    features = [sympy.Mul(*(sym[n] for n in group)) for group in GROUPS]
    laws = [sym[group[k]] ** 2 - sym[group[-1]] ** 2
            for group in GROUPS for k in range(len(group) - 1)]
    return list(sym.values()), features, laws


def check_collide_laws(laws_text_symbols):
    variables, features, expected = collide_expected()
    assert len(laws_text_symbols) == 15
    assert all(gradient_conserved(h, features, variables) for h in laws_text_symbols)
    assert same_span(laws_text_symbols, expected, variables)


# ----------------------------------------------------------------- the naming rule
def test_identifiers_are_distinct_valid_and_follow_the_rule():
    model = ca.parse(COLLIDE, "collide")
    assert dict(zip(model.names, model.identifiers)) == COLLIDE_IDENTIFIERS
    assert len(set(model.names)) == len(set(model.identifiers)) == model.dim == 22
    python_names = set(dir(builtins)) | set(keyword.kwlist)
    for ident in model.identifiers:
        assert ident.isidentifier() and not ident.startswith("_")
        assert ident not in python_names and ident not in RESERVED_IDENTIFIERS
    renamed = {(v, used) for v, usual, used, kind in model.variables.renamed}
    assert renamed == {(n, i) for n, i in COLLIDE_IDENTIFIERS.items() if n not in KEPT}


def test_declared_scalars_keep_their_names_whatever_the_order():
    # the scalar W_1_0 is declared after the matrix W whose entry W[1,0] would be W_1_0
    names = variable_names([TensorInfo("W", (2, 1), "param", 0),
                            TensorInfo("W_1_0", (), "param", 2)])
    assert names.identifiers == ("W_0_0", "W_1_0_", "W_1_0")


def test_momentum_time_and_velocities_yield_to_parameters():
    for flow, time_text, time_ident in (("", "t_", "t_"), (" nesterov", "t_", "t_"),
                                        (" tau=1", "e^t_", "s_"),
                                        (" tau=1/2", "e^(1/2*t_)", "s_")):
        model = ca.parse(MOMENTUM.format(flow), "m")
        assert model.state_names == (time_text, "t", "s", "a", "a_dot",
                                     "t'", "s'", "a'", "a_dot'"), flow
        assert model.state_identifiers == (time_ident, "t", "s", "a", "a_dot", "t_dot",
                                           "s_dot", "a_dot_", "a_dot_dot"), flow
        assert model.names == ("t", "s", "a", "a_dot")


def test_reserved_names_cannot_meet_entries_or_velocities():
    # the premise of the shortcut in program._usual_names_suffice
    assert not [n for n in RESERVED_IDENTIFIERS if re.search(r"_[0-9]+$|_dot$", n)]
    assert {"QQ", "R", "matrix", "print", "lambda", "ZZ", "var", "exp", "I", "E", "pi", "S",
            "N", "gens", "sage", "laws", "fields", "features"} <= RESERVED_IDENTIFIERS


def test_random_names_never_collide():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pool = ["a", "a_dot", "t", "s", "W", "W_1", "W_1_0", "W_0", "_", "_W", "v_W", "QQ", "QQ_",
            "lambda", "lambda_", "t_", "R", "x_dot_dot", "x", "x_dot", "b", "V", "V1", "V_1_1"]
    shapes = st.sampled_from([(), (), (2,), (2, 1), (1, 2)])

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(st.lists(st.tuples(st.sampled_from(pool), shapes), min_size=1, max_size=8,
                    unique_by=lambda p: p[0]),
           st.sampled_from([None, ("{}", "t"), ("e^{}", "s")]))
    def check(params, time):
        infos, offset = [], 0
        for name, shape in params:
            infos.append(TensorInfo(name, shape, "param", offset))
            offset += infos[-1].size
        names = variable_names(infos, time)
        assert len(set(names.text)) == len(names.text) == len(names.identifiers)
        assert len(set(names.identifiers)) == len(names.identifiers)
        for ident in names.identifiers:
            assert ident.isidentifier() and not keyword.iskeyword(ident)
            assert not ident.startswith("_") and ident not in RESERVED_IDENTIFIERS
        for info in infos:                 # a declared scalar keeps a name that is free to use
            if not info.shape and not info.name.startswith("_") \
                    and info.name not in RESERVED_IDENTIFIERS:
                assert info.name in names.identifiers

    check()


# ----------------------------------------------------------------- SymPy
def test_sympy_laws_in_identifiers_are_conserved_for_colliding_names():
    model = ca.parse(COLLIDE, "collide")
    result = model.laws(2)
    parsed = [parse_identifier_text(text, result.identifiers) for text in result.strings("ident")]
    assert parsed == result.as_sympy()
    check_collide_laws([to_text_symbols(h, result.identifiers, result.names) for h in parsed])
    # a SymPy expression in the identifiers (or a renamed scalar's own name) is checked
    w1_01, w1_0_1 = sympy.symbols("W1_0_1_ W1_0_1")
    assert model.check(w1_01 ** 2 - w1_0_1 ** 2).conserved
    assert not model.check(w1_01 ** 2 - sympy.Symbol("QQ_") ** 2).conserved
    assert model.check(sympy.Symbol("QQ") ** 2 - sympy.Symbol("R") ** 2).conserved


def momentum_expected(tau: int):
    """State symbols by text name, the fields (G, F) and the law of THEORY.md B.3."""
    time = sympy.Symbol("t_" if tau == 0 else "e^t_")
    theta = sympy.symbols("t s a a_dot")
    v = sympy.symbols("t' s' a' a_dot'")
    t, s, a, a_dot = theta
    psi = t * a + s * a_dot
    drift = [1 if tau == 0 else tau * time] + list(v) + [-tau * w for w in v]
    force = [0] * 5 + [sympy.diff(psi, q) for q in theta]
    factor = 1 if tau == 0 else time
    laws = [factor * (t * v[1] - v[0] * s + a * v[3] - v[2] * a_dot),
            factor * (a_dot * v[0] - a * v[1] + s * v[2] - t * v[3])]
    return [time, *theta, *v], [drift, force], laws


def test_momentum_laws_reparsed_from_identifiers_are_conserved():
    for tau, degree in ((0, 2), (1, 3)):
        model = ca.parse(MOMENTUM.format(f" tau={tau}"), "m")
        result = model.laws(degree)
        state, fields, expected = momentum_expected(tau)
        assert [str(x) for x in state] == list(result.names)
        assert result.lie.laws == 2 and result.count == 2, tau
        laws = [to_text_symbols(parse_identifier_text(text, result.identifiers),
                                result.identifiers, result.names)
                for text in result.strings("ident")]
        for h in laws:
            for field in fields:
                assert sympy.expand(sum(sympy.diff(h, x) * f for x, f in zip(state, field))) == 0
        assert same_span(laws, expected, state), tau


# ----------------------------------------------------------------- JSON
def test_json_is_valid_and_its_laws_reparse(tmp_path, capsys):
    path = tmp_path / ("x' + str(" + PAYLOAD + ") + '\\\"\t.net")
    path.write_text(COLLIDE + "# ' + str(" + PAYLOAD + ") + '\n")
    assert main(["laws", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == path.name[:-len(".net")]
    assert dict(zip(data["variables"], data["identifiers"])) == COLLIDE_IDENTIFIERS
    assert {r["variable"]: r["used"] for r in data["renamed"]} == {
        n: i for n, i in COLLIDE_IDENTIFIERS.items() if n not in KEPT}
    laws = [to_text_symbols(parse_text_names(text, data["variables"]),
                            [f"z{k}" for k in range(len(data["variables"]))], data["variables"])
            for text in data["laws"]]
    check_collide_laws(laws)
    assert not (tmp_path / "MARK").exists()


def test_json_momentum_laws_reparse_from_text_names(capsys, tmp_path):
    path = tmp_path / "m.net"
    path.write_text(MOMENTUM.format(" tau=1"))
    assert main(["laws", str(path), "--degree", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    state, fields, expected = momentum_expected(1)
    assert data["variables"] == [str(x) for x in state]
    assert len(set(data["identifiers"])) == 9
    laws = [to_text_symbols(parse_text_names(text, data["variables"]),
                            [f"z{k}" for k in range(9)], data["variables"])
            for text in data["laws"]]
    assert same_span(laws, expected, state)
    assert {"variable": "e^t_", "usual": "t", "used": "t_", "in": "text"} in data["renamed"]


# ----------------------------------------------------------------- Sage
SCRIPT_WORDS = {"R", "QQ", "ZZ", "PolynomialRing", "order", "features", "fields", "laws",
                "derivative", "gens", "ngens", "get", "range", "append", "for", "in", "if",
                "else", "enumerate", "assert", "sum", "zip", "set_random_seed", "random_element",
                "matrix", "rank", "print", "len", "_psi", "_v", "_F", "_j", "_k", "_h",
                "_grad", "_a", "_b", "_point", "_J"}


def script_tokens(script: str, identifiers) -> list:
    """Every name in the script's code is an identifier or the script's own word; every
    string literal is an identifier, 'degrevlex', the print format or the model name."""
    strings = []
    for tok in tokenize.generate_tokens(io.StringIO(script).readline):
        if tok.type == tokenize.NAME:
            assert tok.string in identifiers or tok.string in SCRIPT_WORDS, tok
        elif tok.type == tokenize.STRING:
            strings.append(eval(tok.string, {"__builtins__": {}}))   # a literal, checked above
    return strings


def test_sage_script_with_colliding_names_and_a_crafted_file_name_runs_only_its_checks(tmp_path):
    # control: the payload does create the marker when it is run
    subprocess.run([sys.executable, "-c", PAYLOAD], cwd=tmp_path, check=True)
    assert (tmp_path / "MARK").exists()
    (tmp_path / "MARK").unlink()

    stem = "x' + str(" + PAYLOAD + ") + '"
    path = tmp_path / (stem + ".net")
    path.write_text(COLLIDE + "# ') ; " + PAYLOAD + " #\n")
    model = ca.load(path)
    script = sage_script(model, model.laws(2))
    strings = script_tokens(script, set(model.identifiers))
    assert stem in strings and set(strings) <= set(model.identifiers) | {
        "degrevlex", stem, "conslaw: %d laws of %s conserved by all %d fields; %d independent"}
    assert "# renamed: W1[0,1] is W1_0_1_ in identifiers (W1_0_1 is taken)" in script
    target = tmp_path / "collide.sage"
    target.write_text(script)
    done = _run_sage(target)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"15 laws of {stem} conserved by all 7 fields; 15 independent" in done.stdout
    assert not (tmp_path / "MARK").exists()


def test_sage_script_of_momentum_with_a_line_break_in_the_name(tmp_path):
    name = "y\nimport os; os.system('touch MARK')\n#"
    model = ca.parse(MOMENTUM.format(" tau=1"), name + ".net")
    assert model.name == name
    script = sage_script(model, model.laws(3))
    assert script.count("\n") == len(script.splitlines())    # no line of the name's own
    script_tokens(script, set(model.state_identifiers))
    target = tmp_path / "m.sage"
    target.write_text(script)
    done = _run_sage(target)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 laws of y\\nimport os; os.system('touch MARK')\\n# conserved by all 2 fields; " \
        "2 independent" in done.stdout
    assert not (tmp_path / "MARK").exists()
    snippet = model.laws(3).to_sage()
    script_tokens(snippet, set(model.state_identifiers))


# ----------------------------------------------------------------- LaTeX
def test_latex_escapes_the_model_name_and_keeps_variables_apart(tmp_path, capsys):
    stem = "my_model #1 50% \\ & $x$ {y} ~^"
    path = tmp_path / (stem + ".net")
    path.write_text(COLLIDE)
    assert main(["laws", str(path), "--format", "latex"]) == 0
    out = capsys.readouterr().out
    first, block = out.split("\n", 1)
    assert first == ("% conservation laws of my\\_model \\#1 50\\% \\textbackslash{} \\& "
                     "\\$x\\$ \\{y\\} \\textasciitilde{}\\textasciicircum{}, degree <= 2 (conslaw)")
    # the entry W1[0,1] and the scalar W1_0_1 stay apart; _x is escaped
    assert "h_{2} &= W1_{0,1}^{2} - W1\\_0\\_1^{2}" in block
    assert "h_{7} &= \\_x^{2} - I^{2}" in block
    assert not re.search(r"(?<!\\)_(?!\{)", block)      # every _ is escaped or a subscript
    assert not re.search(r"(?<!\\)[#%$~]", block)           # (& aligns the equations)


def test_latex_of_momentum_names_the_renamed_time():
    result = ca.parse(MOMENTUM.format(""), "m").laws(2)
    text = latex_laws(result, title=True)
    assert "% renamed: time is t\\_ (t is a parameter)" in text.splitlines()
    block = text.split("\\begin{aligned}")[1]
    assert "a\\_dot'" in block and "a' " in block     # velocities a_dot' and a'
    assert not re.search(r"(?<!\\)_(?!\{)", block)


def test_a_changed_coordinate_does_not_take_a_declared_name():
    # tanh(a) is named tanh_a where identifiers are needed; a declared scalar tanh_a keeps
    # its own name, so the coordinate's identifier must yield (distinct identifiers)
    model = ca.parse("param a, tanh_a\ninput x\noutput tanh_a * tanh(a) * x")
    assert model.names == ("tanh(a)", "tanh_a")
    assert model.identifiers[1] == "tanh_a"
    assert len(set(model.identifiers)) == 2
