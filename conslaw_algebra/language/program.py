"""The compiled computation: a typed, shape-checked list of tensor operations.

One intermediate form serves every evaluator: the one interpreter (``interpreter.py``)
runs it on exact polynomials to list the features (``expand.py``), on jets modulo a
prime to sample vector fields without listing anything (``modular.py``), and on floats
to simulate training (``floating.py``). Nodes are in topological order, so a forward
pass is one loop and a reverse pass one loop back.

>>> node = Node(op="param", args=(), shape=(2, 3), attr=0)
>>> node.size
6

It also names the state variables (``variable_names``), once for every output format:
a text name (``W1[0,1]``, velocity ``W1'[0,1]``, time ``t`` or ``e^t``) and an identifier
(``W1_0_1``, ``W1_0_1_dot``, ``t`` or ``s``). The usual identifiers of two variables can
coincide (a scalar named ``W1_0_1`` beside a matrix ``W1``; a scalar ``a_dot`` beside the
velocity of ``a``; a scalar ``t`` beside the time), or be a word a reader of the identifiers
takes for its own (``lambda``, ``print``, ``QQ``, ``R``, ``I``, names starting with ``_``).
Such a name is changed by one deterministic rule: a leading ``_`` gets a ``v`` in front,
then ``_`` is appended until the name is neither reserved nor taken. Scalar parameters
keep their own names first, so a derived name (an entry, a velocity, the time) yields to
a declared one. Every change is listed (``VariableNames.renamed``) and printed by the
outputs. One pass with a set of the names taken: linear in the number of variables.
Where it stops: the reserved list holds Python's keywords and builtins, the Sage
script's globals and Sage's and SymPy's constants and common functions, not SymPy's
whole namespace (about a thousand names, ``beta`` to ``content``): read identifiers with
SymPy by giving them as its symbols (``parse_expr(text, local_dict=...)``), never bare.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from math import prod

from ..exact.sparse import unflatten

# op          args          attr
# param       ()            index into Program.params
# data        ()            index into Program.data
# const       ()            Fraction
# add sub mul (a, b)        None      (one side may be a scalar)
# neg         (a,)          None
# matmul      (a, b)        None
# transpose   (a,)          None
# pow         (a,)          int exponent
# index       (a,)          tuple of ints
# sum         (a,)          None
# stack       (scalars...)  None      (a tensor of ``shape`` from scalar nodes, row-major)
OPS = ("param", "data", "const", "add", "sub", "mul", "neg", "matmul", "transpose", "pow",
       "index", "sum", "stack")


@dataclass(frozen=True)
class Node:
    """One tensor operation; ``shape`` is () for a scalar, (n,) or (m, n)."""

    op: str
    args: tuple[int, ...]
    shape: tuple[int, ...]
    attr: object = None

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class TensorInfo:
    """A named tensor of the model: a parameter or a data tensor.

    ``kind`` is 'param', or for data 'input', 'gate' (ReLU or max-pool), 'generic'
    (the result of a smooth non-polynomial function) or 'norm' (the scales s of a
    normalization layer, s^2 * q = 1 for the argument q its source names: algebraic
    functions of theta and the data, never free data). ``offset`` is the position of
    its first entry among the parameters (theta) or among the data symbols.
    ``window`` (max-pool gates, and inputs declared ``onehot``) is the window size k:
    the last axis holds the k selection gates of one window, which are 0/1 and sum to 1. ``coordinate`` (a
    parameter only) names the function f when the parameter's slot holds u = f(a)
    for a parameter ``a`` that enters the model only through f (a change of
    coordinates, DSL.md section 2); ``name`` is then ``a``.
    """

    name: str
    shape: tuple[int, ...]
    kind: str
    offset: int
    window: int = 0
    coordinate: str | None = None

    @property
    def size(self) -> int:
        return prod(self.shape)

    def entry_names(self, style: str = "text") -> list[str]:
        """Entry names, row-major: ``W[0,1]`` (text) or ``W_0_1`` (identifier).

        >>> TensorInfo("W", (2, 1), "param", 0).entry_names()
        ['W[0,0]', 'W[1,0]']
        >>> TensorInfo("s", (), "param", 0).entry_names("ident")
        ['s']
        >>> TensorInfo("a", (), "param", 0, coordinate="tanh").entry_names()
        ['tanh(a)']
        """
        if self.coordinate:
            return [f"{self.coordinate}({n})" if style == "text" else f"{self.coordinate}_{n}"
                    for n in TensorInfo(self.name, self.shape, self.kind, 0).entry_names(style)]
        if not self.shape:
            return [self.name]
        names = []
        for flat in range(self.size):
            index = unflatten(flat, self.shape)
            if style == "text":
                names.append(f"{self.name}[{','.join(map(str, index))}]")
            else:
                names.append("_".join([self.name, *map(str, index)]))
        return names


# Identifiers never given to a variable (``variable_names``).
PYTHON_BUILTINS = frozenset("""
    Ellipsis False None NotImplemented True abs aiter all anext any ascii bin bool breakpoint
    bytearray bytes callable chr classmethod compile complex copyright credits delattr dict dir
    divmod enumerate eval exec exit filter float format frozenset getattr globals hasattr hash
    help hex id input int isinstance issubclass iter len license list locals map max memoryview
    min next object oct open ord pow print property quit range repr reversed round set setattr
    slice sorted staticmethod str sum super tuple type vars zip""".split())
SAGE_SCRIPT_GLOBALS = frozenset(    # what the generated Sage script defines or calls
    "R QQ ZZ PolynomialRing matrix set_random_seed features fields laws".split())
SAGE_SYMPY_NAMES = frozenset("""
    I E N S O Q e i pi oo zoo nan NaN infinity Infinity golden_ratio euler_gamma catalan
    EulerGamma GoldenRatio Catalan RR CC SR GF FF RDF CDF AA QQbar
    exp log ln sqrt sin cos tan cot sec csc asin acos atan atan2 sinh cosh coth asinh acosh
    atanh gamma beta zeta erf re im arg sign Abs floor ceiling factorial binomial ff rf li Li
    Ei Si Ci diff integrate expand factor simplify solve limit series Max Min Sum Product
    Symbol symbols var Function Lambda Rational Integer Float Matrix Poly lex grlex grevlex
    gens sage sympy""".split())
RESERVED_IDENTIFIERS = (frozenset(keyword.kwlist) | PYTHON_BUILTINS | SAGE_SCRIPT_GLOBALS
                        | SAGE_SYMPY_NAMES)


@dataclass(frozen=True)
class VariableNames:
    """The state variables' names, in state order.

    ``text``: for text, JSON and LaTeX; ``identifiers``: for SymPy, Sage and scripts;
    both free of repeats. ``renamed``: (variable's text name, usual name, name used,
    'text' or 'identifier') for every name the usual scheme could not give.
    ``time``: the symbol of time in the text names (momentum flows), else None.
    """

    text: tuple[str, ...]
    identifiers: tuple[str, ...]
    renamed: tuple[tuple[str, str, str, str], ...] = ()
    time: str | None = None


def safe_identifier(usual: str, taken=frozenset()) -> str:
    """``usual`` made a fresh identifier: ``v`` before a leading ``_``, then ``_``
    appended while the name is reserved (``RESERVED_IDENTIFIERS``) or in ``taken``.

    >>> safe_identifier("W1_0_1"), safe_identifier("lambda"), safe_identifier("_x")
    ('W1_0_1', 'lambda_', 'v_x')
    >>> safe_identifier("W1_0_1", {"W1_0_1", "W1_0_1_"})
    'W1_0_1__'
    """
    name = "v" + usual if usual.startswith("_") else usual
    while name in RESERVED_IDENTIFIERS or name in taken:
        name += "_"
    return name


def variable_names(params, time: tuple[str, str] | None = None) -> VariableNames:
    """Text names and identifiers of the state variables: the parameters' entries
    (row-major, in declaration order), or for a momentum flow (``time`` given as
    (text with ``{}`` for the time symbol, usual identifier)) time, entries, velocities.

    >>> names = variable_names([TensorInfo("W1", (1, 2), "param", 0),
    ...                         TensorInfo("W1_0_1", (), "param", 2)])
    >>> names.text, names.identifiers
    (('W1[0,0]', 'W1[0,1]', 'W1_0_1'), ('W1_0_0', 'W1_0_1_', 'W1_0_1'))
    >>> names.renamed
    (('W1[0,1]', 'W1_0_1', 'W1_0_1_', 'identifier'),)
    >>> names = variable_names([TensorInfo("t", (), "param", 0),
    ...                         TensorInfo("t_dot", (), "param", 1)], ("{}", "t"))
    >>> names.text, names.identifiers, names.time
    (('t_', 't', 't_dot', "t'", "t_dot'"), ('t_', 't', 't_dot', 't_dot_', 't_dot_dot'), 't_')
    """
    scalars = {p.name for p in params if not p.shape}
    # declared scalar names are kept first, so that derived names yield to them
    keep = {n for n in scalars if safe_identifier(n) == n}
    taken = set(keep)
    renamed: list[tuple[str, str, str, str]] = []

    def name(text_name: str, usual: str, declared: bool = False) -> str:
        if declared and usual in keep:
            return usual
        ident = safe_identifier(usual, taken)
        taken.add(ident)
        if ident != usual:
            renamed.append((text_name, usual, ident, "identifier"))
        return ident

    text, usual = [], []
    for p in params:
        text += p.entry_names("text")
        usual += p.entry_names("ident")
    plain = _usual_names_suffice(params, time is not None)
    identifiers = usual if plain else [name(t, u, t == u) for t, u in zip(text, usual)]
    if time is None:
        return VariableNames(tuple(text), tuple(identifiers), tuple(renamed))
    template, time_usual = time
    symbol = "t"
    while symbol in scalars:       # a parameter named like the time: the time's symbol yields
        symbol += "_"
    time_text = template.format(symbol)
    if symbol != "t":
        renamed.append((time_text, "t", symbol, "text"))
    time_ident = time_usual if plain else name(time_text, time_usual)
    velocities = []
    for t_name in text:
        tensor, bracket, index = t_name.partition("[")
        velocities.append(f"{tensor}'{bracket}{index}")
    velocity_idents = ([u + "_dot" for u in usual] if plain else
                       [name(v, u + "_dot") for v, u in zip(velocities, usual)])
    return VariableNames((time_text, *text, *velocities),
                         (time_ident, *identifiers, *velocity_idents), tuple(renamed), symbol)


_INDEX_GROUP = re.compile(r"_[0-9]+$")


def _usual_names_suffice(params, momentum: bool) -> bool:
    """True when the usual identifiers are surely distinct and allowed, from the tensors'
    names alone (no pass over the entries). Entries ``N_i_j`` end in digits, velocities in
    ``_dot`` (no reserved name does either), so only these can meet: a tensor or scalar
    whose name is another tensor's name plus ``_<digits>`` groups (``W_1`` or ``W_1_0``
    beside ``W``), a scalar ending in ``_dot`` or named like the time (momentum), and a
    name that is reserved or starts with ``_``.

    >>> _usual_names_suffice([TensorInfo("W", (2, 2), "param", 0)], True)
    True
    >>> _usual_names_suffice([TensorInfo("W", (2, 2), "param", 0),
    ...                       TensorInfo("W_1", (2,), "param", 4)], False)
    False
    """
    names = {p.name for p in params}
    for p in params:
        if p.coordinate:      # u = f(a) is named f_a: it can meet a declared name f_a
            return False
        if p.name.startswith("_") or p.name in RESERVED_IDENTIFIERS:
            return False
        if momentum and not p.shape and (p.name.endswith("_dot") or p.name in ("t", "s")):
            return False
        rest = p.name
        while (match := _INDEX_GROUP.search(rest)):     # W_1_0: is W_1 or W a tensor too?
            rest = rest[:match.start()]
            if rest in names:
                return False
    return True


def renamed_lines(renamed) -> list[str]:
    """One line per name changed from the usual scheme (``VariableNames.renamed``).

    >>> renamed_lines([("W1[0,1]", "W1_0_1", "W1_0_1_", "identifier"),
    ...                ("t_", "t", "t_", "text")])
    ['W1[0,1] is W1_0_1_ in identifiers (W1_0_1 is taken)', 'time is t_ (t is a parameter)']
    """
    lines = []
    for variable, usual, used, kind in renamed:
        if kind == "text":
            lines.append(f"time is {used}, in {variable} ({usual} is a parameter)"
                         if variable != used else f"time is {used} ({usual} is a parameter)")
        else:
            why = ("starts with _" if usual.startswith("_") else
                   "is reserved" if usual in RESERVED_IDENTIFIERS else "is taken")
            lines.append(f"{variable} is {used} in identifiers ({usual} {why})")
    return lines


@dataclass
class Program:
    """Nodes in topological order, and which of them carry features.

    ``carriers`` are the nodes whose entries are expanded into features: every
    output, and the argument of every generic (non-polynomial) function.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\ninput x\\noutput a*b*x"))
    >>> [n.op for n in prog.nodes], prog.carriers
    (['param', 'param', 'data', 'mul', 'mul'], [(4, 'output 1')])
    """

    nodes: list[Node] = field(default_factory=list)
    params: list[TensorInfo] = field(default_factory=list)
    data: list[TensorInfo] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    carriers: list[tuple[int, str]] = field(default_factory=list)
    metrics: dict[int, int] = field(default_factory=dict)  # param index -> node of its diag(M)
    # data index of a gate or generic tensor -> (function, argument node, size option):
    # what the symbol stands for, for evaluators that run the model on real numbers
    sources: dict[int, tuple[str, int, int | None]] = field(default_factory=dict)
    # data index of a normalization's scales s (kind 'norm', source ('rsqrt', q node,
    # None): s^2 * q = 1 entrywise) -> (function, line, column) of its first call
    normalizations: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    _index: dict = field(default_factory=dict, repr=False, compare=False)

    def add(self, node: Node) -> int:
        """Append ``node``, or return the index of an identical node already there.

        Nodes are pure values (a data node names its own tensor), so sharing equal
        nodes changes no value; it makes a subexpression written twice one node, which
        is what lets the compiler see that two calls have the same argument.

        >>> prog = Program()
        >>> prog.add(Node("const", (), (), 2)), prog.add(Node("const", (), (), 2))
        (0, 0)
        """
        found = self._index.get(node)
        if found is not None:
            return found
        self.nodes.append(node)
        self._index[node] = len(self.nodes) - 1
        return len(self.nodes) - 1

    @property
    def num_params(self) -> int:
        return sum(p.size for p in self.params)

    @property
    def num_data(self) -> int:
        return sum(d.size for d in self.data)

    def theta_degrees(self) -> list[int]:
        """Total degree of each node in the parameters (an upper bound).

        >>> prog = Program(); prog.params.append(TensorInfo("a", (), "param", 0))
        >>> a = prog.add(Node("param", (), (), 0))
        >>> b = prog.add(Node("mul", (a, a), ()))
        >>> prog.theta_degrees()
        [1, 2]
        """
        return self._degrees(lambda node: 1 if node.op == "param" else 0)

    def data_degrees(self) -> list[int]:
        """Total degree of each node in the data symbols (an upper bound)."""
        return self._degrees(lambda node: 1 if node.op == "data" else 0)

    def _degrees(self, leaf_degree) -> list[int]:
        degrees: list[int] = []
        for node in self.nodes:
            if node.op in ("param", "data", "const"):
                degrees.append(leaf_degree(node))
            elif node.op in ("mul", "matmul"):
                degrees.append(degrees[node.args[0]] + degrees[node.args[1]])
            elif node.op == "pow":
                degrees.append(degrees[node.args[0]] * node.attr)
            else:
                degrees.append(max(degrees[a] for a in node.args))
        return degrees

    def gates_enter_linearly(self) -> bool:
        """True when no ReLU gate (nor a one-hot input) can appear squared in any carrier.

        Gates are idempotent (g^2 = g), so sampling them at values other than 0 and 1
        is only faithful when every gate enters each product at most once. This
        check is conservative: it tracks, per ReLU site, the largest exponent any
        one of its gates can reach. A normalization's scales s = q^(-1/2) are not
        polynomial in the gates their q holds (their random values would not stand
        for 0/1 ones even where q is linear in them), so a scale counts as holding
        each such gate squared, and the q nodes are checked with the carriers.

        >>> from conslaw_algebra.api import parse
        >>> parse("param W[2,2], v[2]\\ninput x[2]\\noutput v @ relu(W @ x)").program.gates_enter_linearly()
        True
        >>> parse("param W[3,2], v[3]\\ninput x[2]\\noutput v @ layernorm(relu(W @ x))"
        ...       ).program.gates_enter_linearly()
        False
        """
        exponents: list[dict[int, int]] = []
        for node in self.nodes:
            if node.op == "data":
                info = self.data[node.attr]
                if info.kind == "norm":
                    exponents.append({site: 2 for site in exponents[self.sources[node.attr][1]]})
                    continue
                exponents.append({node.attr: 1} if info.kind == "gate" or info.window else {})
            elif node.op in ("param", "const"):
                exponents.append({})
            elif node.op in ("mul", "matmul"):
                left, right = (exponents[a] for a in node.args)
                merged = dict(left)
                for site, e in right.items():
                    merged[site] = merged.get(site, 0) + e
                exponents.append(merged)
            elif node.op == "pow":
                exponents.append({s: e * node.attr for s, e in exponents[node.args[0]].items()})
            else:
                merged = {}
                for a in node.args:
                    for site, e in exponents[a].items():
                        merged[site] = max(merged.get(site, 0), e)
                exponents.append(merged)
        checked = [c for c, _ in self.carriers] + [self.sources[k][1] for k in self.normalizations]
        return all(e <= 1 for node_id in checked for e in exponents[node_id].values())
