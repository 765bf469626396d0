"""The model expanded exactly: features psi_k(theta), sparse.

Each carrier (an output entry, or an argument entry of a generic function) is
evaluated as an exact polynomial in the parameters and the data symbols. Its terms
are then grouped by their data monomial, gate exponents reduced to 1 (gates are
idempotent), and each group's coefficient, a polynomial in theta alone, is a
feature. Features are what the polynomial-law solver and ``check`` need, and what
``info`` counts.
Why sparse dictionaries and not FLINT for this step: a term is kept as the sorted
tuple of its variables, so a product costs the degree of the term (2 to 6 here),
while FLINT packs the exponents of all D + data variables into every term, so each
term it creates or lists costs O(D) (a 16,000-term block of a D = 2,048 model: 3 s
to list with FLINT, 0.1 s here). Features become fmpq_mpoly only when asked
(``Feature.poly``). Where it stops winning: dense high-degree polynomials in few
variables, which neural-network features are not.
Where the expansion stops winning: it lists every path of a ReLU net, so its size is
the number of paths; the count never goes through here (see ``numeric.py``).

>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> prog, _ = compile_program(parse("param U[1,2], V[1,2]\\noutput U @ V.T"))
>>> [str(f.poly) for f in expand_features(prog).features]
['t0*t2 + t1*t3']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

from flint import fmpq, fmpq_mpoly, fmpq_mpoly_ctx

from ..errors import BudgetError
from ..exact.sparse import sparse_terms
from .program import Node, Program


@dataclass(frozen=True)
class Feature:
    """One feature: the coefficient of a data monomial in a carrier.

    >>> Feature((((0, 1), 2),), "output 1", "x[0]", theta_ring(2)).poly
    2*t0*t1
    """

    terms: tuple   # ((sorted parameter indices with repetition, coefficient), ...)
    carrier: str
    monomial: str  # the data monomial, e.g. "x[0]*gate1[2]"; "1" for none
    ring: fmpq_mpoly_ctx = field(repr=False, compare=False)

    @cached_property
    def poly(self) -> fmpq_mpoly:
        """The feature as a polynomial of ``ring``."""
        return ring_polynomial(self.ring, self.terms)


@dataclass(frozen=True)
class Expansion:
    """The features of a model, as polynomials of ``ring``.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> expand_features(compile_program(parse("param a, b\\noutput a*b"))[0]).ring.gens()
    (t0, t1)
    """

    ring: fmpq_mpoly_ctx   # theta only: variables t0..t{D-1}
    features: tuple[Feature, ...]
    metric: dict = None    # theta variable -> its diagonal metric entry (only where declared)


def theta_ring(dim: int) -> fmpq_mpoly_ctx:
    """The ring QQ[t0..t{D-1}] of polynomials in the parameters.

    >>> theta_ring(2).gens()
    (t0, t1)
    """
    return fmpq_mpoly_ctx.get(("t", dim), "degrevlex")


def estimate_terms(program: Program) -> int:
    """An upper bound on the number of terms of all carriers together.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> estimate_terms(compile_program(parse("layers 2 -> 3 -> 1"))[0])
    6
    """
    counts: list[int] = []
    for node in program.nodes:
        args = [counts[a] for a in node.args]
        if node.op in ("param", "data", "const"):
            counts.append(1)
        elif node.op in ("add", "sub"):
            counts.append(args[0] + args[1])
        elif node.op == "mul":
            counts.append(args[0] * args[1])
        elif node.op == "matmul":
            inner = program.nodes[node.args[0]].shape[-1]
            counts.append(inner * args[0] * args[1])
        elif node.op == "pow":
            counts.append(args[0] ** node.attr if node.attr else 1)
        elif node.op == "sum":
            counts.append(args[0] * program.nodes[node.args[0]].size)
        elif node.op == "stack":
            counts.append(max(args))
        else:
            counts.append(args[0])
    return sum(counts[c] * program.nodes[c].size for c, _ in program.carriers)


def expand_features(program: Program, max_terms: int = 2_000_000,
                    window_relations: bool = True) -> Expansion:
    """Expand every carrier and collect the features, in a deterministic order.

    Gates are idempotent; the k selection gates of a max-pool window are 0/1 and sum
    to 1, so two of them never multiply and the last is 1 minus the others
    (``window_relations``; without it every gate is a free symbol, which lists the
    path monomials of the path-lifting instead of the features).
    Raises :class:`BudgetError` when the expansion would exceed ``max_terms`` terms.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b, c\\ninput x\\noutput a*b*x + c"))
    >>> [(f.monomial, str(f.poly)) for f in expand_features(prog).features]
    [('x', 't0*t1'), ('1', 't2')]
    """
    estimate = estimate_terms(program)
    if estimate > max_terms:
        raise BudgetError(f"listing the features would expand about {estimate:,} terms "
                          f"(limit {max_terms:,}); counting laws does not need it")
    dim = program.num_params
    values = _evaluate_all(program)
    data_names: list[str] = []
    for info in program.data:
        data_names.extend(info.entry_names())
    gates, windows = _gate_tables(program, window_relations)

    ndata = program.num_data
    ring = theta_ring(dim)
    metric = {}
    for index, node in program.metrics.items():
        info = program.params[index]
        entries = values[node] * (info.size if not program.nodes[node].shape else 1)
        for k, entry in enumerate(entries):
            metric[info.offset + k] = ring_polynomial(ring, _theta_part(entry, dim))
    features: list[Feature] = []
    for carrier, label in program.carriers:
        shape = program.nodes[carrier].shape
        for flat, entry in enumerate(values[carrier]):
            grouped: dict[tuple, dict] = {}
            for monomial, coeff in entry.items():
                split = _first_data_position(monomial, dim)
                data_part = monomial[split:]
                if gates and len(set(data_part)) < len(data_part):
                    data_part = _idempotent(data_part, gates)
                theta_part = monomial[:split]
                for reduced, sign in (_window_reduced(data_part, windows) if windows
                                      else ((data_part, 1),)):
                    bucket = grouped.setdefault(reduced, {})
                    bucket[theta_part] = bucket.get(theta_part, 0) + sign * coeff
            entry_label = label + (_index_label(flat, shape) if shape else "")
            for data_part in sorted(grouped, key=lambda m: _dense_key(m, dim, ndata), reverse=True):
                terms = tuple(sorted((m, c) for m, c in grouped[data_part].items() if c != 0))
                if terms:
                    features.append(Feature(terms, entry_label, _monomial_label(data_part, dim,
                                                                                data_names), ring))
    return Expansion(ring, tuple(features), metric)


def _gate_tables(program: Program, window_relations: bool = True) -> tuple[set, dict]:
    """The gate variables, and for max-pool gates: variable -> (window, position, k)."""
    dim = program.num_params
    gates: set[int] = set()
    windows: dict[int, tuple] = {}
    for info in program.data:
        if info.kind != "gate":
            continue
        for k in range(info.size):
            gates.add(dim + info.offset + k)
            if info.window and window_relations:
                windows[dim + info.offset + k] = ((info.offset, k // info.window),
                                                  k % info.window, info.window)
    return gates, windows


def reduce_gates(program: Program, entry: dict) -> dict:
    """Sparse terms (parameters and data symbols) under the gate relations: g^2 = g,
    two gates of one max-pool window multiply to 0, the last is 1 minus the others.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a\\ninput x\\noutput relu(a*x)"))
    >>> reduce_gates(prog, {(0, 1, 2, 2): fmpq(3)})       # a * x * gate^2
    {(0, 1, 2): 3}
    """
    dim = program.num_params
    gates, windows = _gate_tables(program)
    out: dict = {}
    for monomial, coeff in entry.items():
        split = _first_data_position(monomial, dim)
        data_part = monomial[split:]
        if gates and len(set(data_part)) < len(data_part):
            data_part = _idempotent(data_part, gates)
        for reduced, sign in (_window_reduced(data_part, windows) if windows
                              else ((data_part, 1),)):
            key = monomial[:split] + reduced
            value = out.get(key, 0) + sign * coeff
            if value:
                out[key] = value
            else:
                out.pop(key, None)
    return out


def evaluate_node(program: Program, index: int, values) -> list[dict]:
    """The exact entries of node ``index`` (sparse terms), from its arguments' entries
    in ``values`` (a list or a dict by node index).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\noutput a * b"))
    >>> evaluate_node(prog, 2, {0: [{(0,): 1}], 1: [{(1,): 1}]})
    [{(0, 1): 1}]
    """
    return _evaluate(program.nodes[index], values, program)


def _first_data_position(monomial: tuple, dim: int) -> int:
    """Monomials are sorted variable indices: the parameters come first."""
    for position, var in enumerate(monomial):
        if var >= dim:
            return position
    return len(monomial)


def _idempotent(data_part: tuple, gates: set[int]) -> tuple:
    out, previous = [], None
    for var in data_part:
        if not (var == previous and var in gates):
            out.append(var)
        previous = var
    return tuple(out)


def _window_reduced(data_part: tuple, windows: dict) -> list[tuple[tuple, int]]:
    """A data monomial under the window relations, as signed monomials.

    Two different gates of one window multiply to 0; the last gate of a window is 1
    minus the others. ``windows`` maps a gate variable to (window, position, k).

    >>> windows = {10: (0, 0, 2), 11: (0, 1, 2)}
    >>> _window_reduced((5, 11), windows), _window_reduced((10, 11), windows)
    ([((5,), 1), ((5, 10), -1)], [])
    """
    seen: dict[int, int] = {}
    last = None
    for var in data_part:
        if var in windows:
            window, position, k = windows[var]
            if seen.setdefault(window, var) != var:
                return []
            if position == k - 1:
                last = var
    if last is None:
        return [(data_part, 1)]
    _, _, k = windows[last]
    rest = tuple(v for v in data_part if v != last)
    first = last - (k - 1)
    out = []
    for substituted, sign in [(rest, 1)] + [(tuple(sorted(rest + (first + i,))), -1)
                                            for i in range(k - 1)]:
        out += [(m, sign * s) for m, s in _window_reduced(substituted, windows)]
    return out


def _dense_key(monomial: tuple, dim: int, ndata: int) -> tuple:
    """The data monomial's exponent vector: features are listed in its reverse order."""
    exps = [0] * ndata
    for var in monomial:
        exps[var - dim] += 1
    return tuple(exps)


def _theta_part(entry: dict, dim: int) -> dict:
    return {m: c for m, c in entry.items() if not m or m[-1] < dim}


def ring_polynomial(ring: fmpq_mpoly_ctx, terms) -> fmpq_mpoly:
    """A polynomial of ``ring`` from sparse terms: (variable indices with repetition, c)
    pairs or a dict of them; repeated monomials add up.

    >>> ring_polynomial(theta_ring(3), [((0, 0, 2), 3), ((1,), -1), ((1,), 2)])
    3*t0^2*t2 + t1
    """
    items = terms.items() if isinstance(terms, dict) else terms
    dim = ring.nvars()
    dense: dict[tuple, object] = {}
    for monomial, coeff in items:
        exps = [0] * dim
        for var in monomial:
            exps[var] += 1
        key = tuple(exps)
        dense[key] = dense.get(key, 0) + coeff
    return ring.from_dict({k: v for k, v in dense.items() if v})


def _evaluate_all(program: Program) -> list[list[dict]]:
    values: list[list[dict]] = []
    for node in program.nodes:
        values.append(_evaluate(node, values, program))
    return values


def parameter_polynomial(program: Program, node: int) -> fmpq_mpoly:
    """The exact value of a scalar node that depends on the parameters only.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\noutput a * b"))
    >>> str(parameter_polynomial(prog, prog.outputs[0]))
    't0*t1'
    """
    dim = program.num_params
    value = _evaluate_all(program)[node][0]
    return ring_polynomial(theta_ring(dim), _theta_part(value, dim))


def _index_label(flat: int, shape) -> str:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return "[" + ",".join(map(str, reversed(index))) + "]"


def _monomial_label(monomial: tuple, dim: int, names) -> str:
    counts: dict[int, int] = {}
    for var in monomial:
        counts[var] = counts.get(var, 0) + 1
    parts = [names[var - dim] if e == 1 else f"{names[var - dim]}^{e}"
             for var, e in sorted(counts.items())]
    return "*".join(parts) or "1"


# Sparse polynomials: {sorted tuple of variable indices (with repetition): coefficient}.
# Parameters are variables 0..D-1, data symbols D.. after them.

def _add(a: dict, b: dict, sign: int = 1) -> dict:
    out = dict(a)
    for m, c in b.items():
        value = out.get(m, 0) + sign * c
        if value:
            out[m] = value
        else:
            out.pop(m, None)
    return out


def _multiply(a: dict, b: dict) -> dict:
    out: dict = {}
    _accumulate(out, a, b)
    return out


def _accumulate(total: dict, a: dict, b: dict) -> None:
    """total += a * b, in place."""
    for m1, c1 in a.items():
        for m2, c2 in b.items():
            m = tuple(sorted(m1 + m2)) if m1 and m2 else (m1 or m2)
            value = total.get(m, 0) + c1 * c2
            if value:
                total[m] = value
            else:
                del total[m]


def _power(a: dict, exponent: int) -> dict:
    out = {(): fmpq(1)}
    for _ in range(exponent):
        out = _multiply(out, a)
    return out


def _evaluate(node, values, program) -> list[dict]:
    op = node.op
    dim = program.num_params
    if op == "param":
        info = program.params[node.attr]
        return [{(info.offset + k,): fmpq(1)} for k in range(info.size)]
    if op == "data":
        info = program.data[node.attr]
        return [{(dim + info.offset + k,): fmpq(1)} for k in range(info.size)]
    if op == "const":
        value = fmpq(node.attr.numerator, node.attr.denominator)
        return [{(): value}] if value else [{}]
    args = [values[a] for a in node.args]
    shapes = [program.nodes[a].shape for a in node.args]
    if op in ("add", "sub", "mul"):
        a, b = args
        size = max(len(a), len(b))
        a = a * size if len(a) == 1 else a
        b = b * size if len(b) == 1 else b
        if op == "add":
            return [_add(x, y) for x, y in zip(a, b)]
        if op == "sub":
            return [_add(x, y, -1) for x, y in zip(a, b)]
        return [_multiply(x, y) for x, y in zip(a, b)]
    if op == "neg":
        return [{m: -c for m, c in x.items()} for x in args[0]]
    if op == "matmul":
        (a, b), (sa, sb) = args, shapes
        rows = sa[0] if len(sa) == 2 else 1
        inner = sa[-1]
        cols = sb[1] if len(sb) == 2 else 1
        out = []
        for i in range(rows):
            for j in range(cols):
                total: dict = {}
                for k in range(inner):
                    _accumulate(total, a[i * inner + k], b[k * cols + j])
                out.append(total)
        return out
    if op == "transpose":
        rows, cols = shapes[0]
        a = args[0]
        return [a[i * cols + j] for j in range(cols) for i in range(rows)]
    if op == "pow":
        return [_power(x, node.attr) for x in args[0]]
    if op == "index":
        shape = shapes[0]
        flat = 0
        for i, n in zip(node.attr, shape):
            flat = flat * n + i
        return [args[0][flat]]
    if op == "sum":
        total = {}
        for x in args[0]:
            total = _add(total, x)
        return [total]
    if op == "stack":
        return [a[0] for a in args]
    raise AssertionError(op)


def feature_program(program: Program, expansion: Expansion) -> Program:
    """The model as its features alone: the same parameters and metrics, one scalar
    carrier per feature (the sum of its terms), no data.

    Exact wherever the expansion is (gates reduced by their relations), so it stands in
    for the program where gates sampled at random values would not stand for 0/1 ones
    (a gate that meets itself in a product, ``relu(h)*relu(h)``). Its size is that of
    the expansion: for small models.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\ninput x\\noutput relu(a*x) * relu(a*x) * b"))
    >>> small = feature_program(prog, expand_features(prog))
    >>> [str(f.poly) for f in expand_features(small).features]
    ['t0^2*t1']
    """
    out = Program()
    out.params = list(program.params)
    entries: list[int] = []
    for index, info in enumerate(program.params):
        tensor = out.add(Node("param", (), info.shape, index))
        for flat in range(info.size):
            entries.append(out.add(Node("index", (tensor,), (), _index_of(flat, info.shape)))
                           if info.shape else tensor)

    def polynomial(terms) -> int:
        total = out.add(Node("const", (), (), Fraction(0)))
        for monomial, coeff in terms:
            term = out.add(Node("const", (), (), Fraction(int(coeff.numerator),
                                                          int(coeff.denominator))))
            for var in monomial:
                term = out.add(Node("mul", (term, entries[var]), ()))
            total = out.add(Node("add", (total, term), ()))
        return total

    for feature in expansion.features:
        node = polynomial(feature.terms)
        out.outputs.append(node)
        out.carriers.append((node, f"{feature.carrier}, coefficient of {feature.monomial}"))
    for index in program.metrics:
        info = program.params[index]
        scalars = [polynomial(sparse_terms(expansion.metric[info.offset + k]))
                   if info.offset + k in expansion.metric else
                   out.add(Node("const", (), (), Fraction(1))) for k in range(info.size)]
        out.metrics[index] = (out.add(Node("stack", tuple(scalars), info.shape)) if info.shape
                              else scalars[0])
    return out


def _index_of(flat: int, shape) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))
