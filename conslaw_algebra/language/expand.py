"""The model expanded exactly: features psi_k(theta), sparse.

Each carrier (an output entry, or an argument entry of a generic function) is
evaluated as an exact polynomial in the parameters and the data symbols: the program's
interpreter (``interpreter.py``) runs in the arithmetic ``Exact``, whose values are
numpy object arrays of sparse polynomials (``exact/sparse.Terms``) with one leading axis
of length 1. Its terms are then grouped by their data monomial, gate exponents reduced
to 1 (gates are idempotent), and each group's coefficient, a polynomial in theta
alone, is a feature. Features are what the polynomial-law solver and ``check`` need,
and what ``info`` counts.
Why sparse terms and not FLINT for this step: see ``exact/sparse.py`` (a product costs
the degree of the term, not the number of variables). Features become fmpq_mpoly only
when asked (``Feature.poly``). Why object arrays through the shared interpreter: they
cost the same as the loop over Python lists this replaced (measured, CPU time, ReLU
nets with biases [20, 12, 12, 4] and [16, 16, 16, 5]: the forward pass 13 and 19 ms
either way, all of ``expand_features`` 76 and 149 ms against 74 and 164 ms; a matrix
product accumulates its terms in place, which numpy's own object ``matmul`` does not:
that one is 2.3x slower), and the exact check of ``blocks.py`` reuses ``apply_to``.
Where the expansion stops winning: it lists every path of a ReLU net, so its size is
the number of paths; the count never goes through here (see ``modular.py``).

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
from math import comb, lgamma, log, log10

import numpy as np
from flint import fmpq, fmpq_mpoly, fmpq_mpoly_ctx

from ..errors import BudgetError
from ..exact.sparse import Terms, add_into, ring_polynomial, sparse_terms, unflatten
from .interpreter import Arithmetic, Interpreter, apply, apply_to
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
        """The feature as a polynomial of ``ring`` (all of them at once are guarded by
        ``Model.features``: each term holds an exponent vector over every parameter)."""
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


ASTRONOMICAL = 10**30   # term counts beyond this are reported as this (all are refused)


def power_terms(terms: int, exponent: int) -> int:
    """Terms of p^k for p with ``terms`` terms, at most: the monomials of degree k in
    that many monomials, min(t^k, C(t + k - 1, k)); ASTRONOMICAL when beyond it.

    >>> power_terms(2, 200), power_terms(3, 2), power_terms(1, 10**9), power_terms(5, 0)
    (201, 6, 1, 1)
    """
    if exponent == 0:
        return 1
    if terms <= 1:
        return terms
    if exponent * log10(terms) <= 30:
        return min(terms ** exponent, comb(terms + exponent - 1, exponent))
    small = min(exponent, terms - 1)
    log_comb = (lgamma(terms + exponent) - lgamma(exponent + 1) - lgamma(terms)) / log(10)
    if log_comb > 30:
        return ASTRONOMICAL
    return comb(terms + exponent - 1, small)


@dataclass(frozen=True)
class SizeEstimate:
    """Upper bounds on what the exact expansion holds, before building anything.

    ``carrier_terms``: terms of all carriers (the features' terms); ``stored_terms``:
    terms of every node value the expansion computes and keeps (index, stack and
    transpose nodes share their arguments' terms); ``*_occurrences``: the same terms
    weighted by their degree (a term is the tuple of its variables, so its size grows
    with its degree); ``degree``: the largest total degree of a carrier (of any node
    when no carrier is among the nodes estimated); ``features``: how many features
    (distinct data monomials of the carriers' entries) there can be.
    """

    carrier_terms: int
    carrier_occurrences: int
    stored_terms: int
    stored_occurrences: int
    degree: int
    features: int = 0


def estimate_size(program: Program, nodes: set[int] | None = None) -> SizeEstimate:
    """One pass over the nodes (or over ``nodes`` only, an ancestor-closed set): term
    counts per entry, as in :func:`estimate_terms`, and total degrees; and the same
    count for the data monomials alone (parameters count as 1), bounded by the number
    of monomials of the node's data degree in the data symbols it can reach, which
    bounds the features.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> estimate_size(compile_program(parse("param a, b\\noutput (a + b)^3"))[0])
    SizeEstimate(carrier_terms=4, carrier_occurrences=12, stored_terms=8, stored_occurrences=16, degree=3, features=1)
    >>> estimate_size(compile_program(parse("layers 3 -> 4 -> 4 -> 2"))[0]).features
    8

    (two outputs, each at most the monomials 1, x0, x1, x2 of degree <= 1: 8 bounds
    the 6 features.) A max-pool window's last gate is 1 minus the others, which can turn
    one monomial into as many as the window has gates, so the bound is multiplied by
    the largest window.
    """
    counts: dict[int, int] = {}
    degrees: dict[int, int] = {}
    monomials: dict[int, int] = {}        # data monomials per entry
    data_degrees: dict[int, int] = {}
    reach: dict[int, frozenset] = {}      # the data tensors a node can hold
    stored = occurrences = 0
    for index, node in enumerate(program.nodes):
        if nodes is not None and index not in nodes:
            continue
        args = [counts[a] for a in node.args]
        degs = [degrees[a] for a in node.args]
        mons = [monomials[a] for a in node.args]
        ddegs = [data_degrees[a] for a in node.args]
        if node.op in ("param", "data", "const"):
            count, degree = 1, 0 if node.op == "const" else 1
            mon, ddeg = 1, 1 if node.op == "data" else 0
        elif node.op in ("add", "sub"):
            count, degree = args[0] + args[1], max(degs)
            mon, ddeg = mons[0] + mons[1], max(ddegs)
        elif node.op == "mul":
            count, degree = args[0] * args[1], degs[0] + degs[1]
            mon, ddeg = mons[0] * mons[1], ddegs[0] + ddegs[1]
        elif node.op == "matmul":
            inner = program.nodes[node.args[0]].shape[-1]
            count, degree = inner * args[0] * args[1], degs[0] + degs[1]
            mon, ddeg = inner * mons[0] * mons[1], ddegs[0] + ddegs[1]
        elif node.op == "pow":
            count, degree = power_terms(args[0], node.attr), degs[0] * node.attr
            mon, ddeg = power_terms(mons[0], node.attr), ddegs[0] * node.attr
        elif node.op == "sum":
            count, degree = args[0] * program.nodes[node.args[0]].size, degs[0]
            mon, ddeg = mons[0] * program.nodes[node.args[0]].size, ddegs[0]
        elif node.op == "stack":
            count, degree = max(args), max(degs)
            mon, ddeg = max(mons), max(ddegs)
        else:
            count, degree = args[0], degs[0]
            mon, ddeg = mons[0], ddegs[0]
        reach[index] = (frozenset((node.attr,)) if node.op == "data" else
                        frozenset().union(*(reach[a] for a in node.args)))
        if not ddeg:            # no data: the one data monomial 1
            mon = 1
        elif mon > 1:           # at most the monomials of degree <= ddeg in the reachable data
            symbols = sum(program.data[d].size for d in reach[index])
            mon = min(mon, power_terms(symbols + 1, ddeg))
        counts[index], degrees[index] = min(count, ASTRONOMICAL), degree
        monomials[index], data_degrees[index] = min(mon, count, ASTRONOMICAL), ddeg
        if node.op not in ("index", "stack", "transpose"):   # these share their arguments' terms
            stored += counts[index] * node.size
            occurrences += counts[index] * node.size * degree
    carriers = [(c, counts[c] * program.nodes[c].size) for c, _ in program.carriers if c in counts]
    top = max([degrees[c] for c, _ in carriers] or list(degrees.values()) or [0])
    window = max([d.window for d in program.data], default=0) or 1
    features = window * sum(monomials[c] * program.nodes[c].size for c, _ in carriers)
    return SizeEstimate(sum(t for _, t in carriers), sum(t * degrees[c] for c, t in carriers),
                        stored, occurrences, top, features)


def estimate_terms(program: Program) -> int:
    """An upper bound on the number of terms of all carriers together.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> estimate_terms(compile_program(parse("layers 2 -> 3 -> 1"))[0])
    6
    """
    return estimate_size(program).carrier_terms


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

    ring = theta_ring(dim)
    metric = {}
    for index, node in program.metrics.items():
        info = program.params[index]
        diagonal = entries(values[node]) * (info.size if not program.nodes[node].shape else 1)
        for k, entry in enumerate(diagonal):
            metric[info.offset + k] = ring_polynomial(ring, _theta_part(entry, dim))
    features: list[Feature] = []
    for carrier, label in program.carriers:
        shape = program.nodes[carrier].shape
        for flat, entry in enumerate(entries(values[carrier])):
            grouped: dict[tuple, dict] = {}
            for monomial, coeff in entry.items():
                split = _first_data_position(monomial, dim)
                data_part = monomial[split:]
                if gates and len(set(data_part)) < len(data_part):
                    data_part = _idempotent(data_part, gates)
                theta_part = monomial[:split]
                for reduced, sign in (_window_reduced(data_part, windows) if windows
                                      else ((data_part, 1),)):
                    add_into(grouped.setdefault(reduced, {}), theta_part, sign * coeff)
            entry_label = label + (index_label(flat, shape) if shape else "")
            for data_part in sorted(grouped, key=_order_key):
                terms = tuple(sorted((m, c) for m, c in grouped[data_part].items() if c != 0))
                if terms:
                    features.append(Feature(terms, entry_label, _monomial_label(data_part, dim,
                                                                                data_names), ring))
    return Expansion(ring, tuple(features), metric)


def _gate_tables(program: Program, window_relations: bool = True) -> tuple[set, dict]:
    """The gate variables, and for max-pool gates and one-hot inputs (``window``):
    variable -> (window, position, k). Kept on the program while its data are the same
    (``reduce_gates`` runs once per entry: a transformer's check calls it 40,000 times)."""
    return _gate_context(program, window_relations)[1:]


def _gate_context(program: Program, window_relations: bool = True) -> tuple[int, set, dict]:
    """(D, gates, windows), kept on the program while it has the same tensors (a
    program only grows, by appending them)."""
    key = (window_relations, len(program.params), len(program.data))
    cached = program.__dict__.get("_gate_tables")
    if cached is not None and cached[0] == key:
        return cached[1]
    context = (program.num_params,) + _compute_gate_tables(program, window_relations)
    program.__dict__["_gate_tables"] = (key, context)
    return context


def _compute_gate_tables(program: Program, window_relations: bool) -> tuple[set, dict]:
    dim = program.num_params
    gates: set[int] = set()
    windows: dict[int, tuple] = {}
    for info in program.data:
        if info.kind != "gate" and not info.window:
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
    dim, gates, windows = _gate_context(program)
    out: dict = {}
    for monomial, coeff in entry.items():
        split = _first_data_position(monomial, dim)
        data_part = monomial[split:]
        if gates and len(set(data_part)) < len(data_part):
            data_part = _idempotent(data_part, gates)
        for reduced, sign in (_window_reduced(data_part, windows) if windows
                              else ((data_part, 1),)):
            add_into(out, monomial[:split] + reduced, sign * coeff)
    return out


def evaluate_node(program: Program, index: int, values) -> np.ndarray:
    """The exact value of node ``index`` (``Exact``), from its arguments' values in
    ``values`` (a list or a dict by node index).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\noutput a * b"))
    >>> values = {i: leaf_value(prog, prog.nodes[i]) for i in (0, 1)}
    >>> entries(evaluate_node(prog, 2, values))
    [{(0, 1): 1}]
    """
    node = program.nodes[index]
    if node.op in ("param", "data", "const"):
        return leaf_value(program, node)
    return apply(EXACT, program, node, values)


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


_LAST = float("inf")


def _order_key(monomial: tuple) -> tuple:
    """Features are listed by their data monomial's exponent vector, largest first
    (lexicographic). On sorted variable tuples that is the ascending order of the
    tuple with an infinite last entry: at the first difference the monomial with the
    smaller variable has more of it, and a monomial extended past another's end has
    more of its next variable. The key costs the degree, not the number of data symbols.

    >>> sorted([(5,), (4, 6), (4,), (4, 4), ()], key=_order_key)   # exponents of 4, 5, 6
    [(4, 4), (4, 6), (4,), (5,), ()]
    """
    return monomial + (_LAST,)


def _theta_part(entry: dict, dim: int) -> dict:
    return {m: c for m, c in entry.items() if not m or m[-1] < dim}


def entries(value: np.ndarray) -> list:
    """The entries of an exact value (object array with a leading axis), row-major.

    >>> entries(Exact.symbols(0, (2,)))
    [{(0,): 1}, {(1,): 1}]
    """
    return list(value.reshape(-1))


class Exact(Arithmetic):
    """The arithmetic of exact values for ``interpreter.Interpreter``: numpy object arrays
    of shape (1, *shape) whose entries are ``Terms`` (variables: the parameters 0..D-1,
    then the data symbols D..). Forward passes only: nothing here is differentiated in
    reverse.

    >>> x = Exact.symbols(0, (2,))
    >>> entries(Exact.total(Exact.multiply(x, x), 1))             # t0^2 + t1^2
    [{(0, 0): 1, (1, 1): 1}]
    """

    @staticmethod
    def symbols(first: int, shape) -> np.ndarray:
        """Variables first, first + 1, ... as the entries of a tensor of ``shape``."""
        size = int(np.prod(shape, dtype=np.int64))
        out = np.empty((1, size), dtype=object)
        for k in range(size):
            out[0, k] = Terms({(first + k,): fmpq(1)})
        return out.reshape((1,) + tuple(shape))

    @staticmethod
    def constant(value) -> np.ndarray:
        out = np.empty((1,), dtype=object)
        out[0] = Terms({(): value} if value else {})
        return out

    @staticmethod
    def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Matrix product of the last two axes (leading axes of length 1), each entry's
        terms accumulated in place."""
        a, b = a.reshape(a.shape[-2:]), b.reshape(b.shape[-2:])
        rows, inner = a.shape
        cols = b.shape[1]
        out = np.empty((1, rows, cols), dtype=object)
        for i in range(rows):
            for j in range(cols):
                total = Terms()
                for k in range(inner):
                    total.accumulate(a[i, k], b[k, j])
                out[0, i, j] = total
        return out

    @staticmethod
    def _map(function, value: np.ndarray) -> np.ndarray:
        out = np.empty(value.shape, dtype=object)
        flat, source = out.reshape(-1), value.reshape(-1)
        for k, entry in enumerate(source):
            flat[k] = function(entry)
        return out

    @classmethod
    def times(cls, value, k: int):
        return cls._map(lambda entry: entry.scaled(k), value)

    @classmethod
    def power(cls, value, exponent: int):
        return cls._map(lambda entry: entry.power(exponent, fmpq(1)), value)

    @staticmethod
    def total(value, rank: int):
        if not rank:
            return value
        out = np.empty((1,), dtype=object)
        out[0] = Terms()
        for entry in value.reshape(-1):
            for m, c in entry.items():
                add_into(out[0], m, c)
        return out


EXACT = Exact()


def zero_terms(shape) -> np.ndarray:
    """An exact value of ``shape`` whose entries are all 0 (empty Terms).

    >>> zero_terms((2,)).tolist()
    [[{}, {}]]
    """
    out = np.empty((1,) + tuple(shape), dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = Terms()
    return out


def parameter_tangent(program: Program, node: Node, speed: dict) -> np.ndarray | None:
    """A parameter tensor's derivative along a direction given as {parameter index:
    Terms}; None when the direction does not touch the tensor.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a[2]\\noutput sum(a)"))
    >>> parameter_tangent(prog, prog.nodes[0], {1: Terms({(): fmpq(3)})}).tolist()
    [[{}, {(): 3}]]
    """
    info = program.params[node.attr]
    out = np.empty(info.size, dtype=object)
    for k in range(info.size):
        out[k] = speed.get(info.offset + k, Terms())
    return out.reshape((1,) + node.shape) if any(out) else None


def tangent_step(program: Program, node: Node, parts: list, value, product=None):
    """The derivative of a non-leaf ``node`` from its arguments' derivatives ``parts``
    (None where an argument does not move) and their values ``value(a)``: the product
    rule for mul and matmul (each product by ``product(node, args)``, by default the
    exact evaluation), k base^(k-1) D(base) for pow, the node itself on the derivatives
    for the linear operations. None for pow^0.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\noutput a * b"))
    >>> values = {i: leaf_value(prog, prog.nodes[i]) for i in (0, 1)}
    >>> db = parameter_tangent(prog, prog.nodes[1], {1: Terms({(): fmpq(1)})})   # d/db
    >>> tangent_step(prog, prog.nodes[2], [None, db], values.get).tolist()         # d(ab)/db = a
    [{(0,): 1}]
    """
    product = product or (lambda n, args: apply_to(EXACT, program, n, args))
    if node.op in ("mul", "matmul"):
        out = None
        for position, part in enumerate(parts):
            if part is not None:    # the moving factor's own value is not needed
                args = [part if k == position else value(a) for k, a in enumerate(node.args)]
                term = product(node, args)
                out = term if out is None else EXACT.add(out, term)
        return out
    if node.op == "pow":
        k = node.attr
        if not k:
            return None
        return EXACT.multiply(EXACT.times(EXACT.power(value(node.args[0]), k - 1), k), parts[0])
    return apply_to(EXACT, program, node, [
        part if part is not None else zero_terms(program.nodes[a].shape)
        for a, part in zip(node.args, parts)])


def _leaf(program: Program):
    dim = program.num_params

    def leaf(i, node, values):
        if node.op == "param":
            return Exact.symbols(program.params[node.attr].offset, node.shape)
        if node.op == "data":
            return Exact.symbols(dim + program.data[node.attr].offset, node.shape)
        return Exact.constant(fmpq(node.attr.numerator, node.attr.denominator))
    return leaf


def _evaluate_all(program: Program) -> list[np.ndarray]:
    return Interpreter(program, EXACT).forward(_leaf(program))


def leaf_value(program: Program, node) -> np.ndarray:
    """The exact value of a leaf node (a parameter, data tensor or constant).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a\\ninput x[2]\\noutput a*x"))
    >>> entries(leaf_value(prog, prog.nodes[1]))
    [{(1,): 1}, {(2,): 1}]
    """
    return _leaf(program)(None, node, None)


def parameter_polynomial(program: Program, node: int) -> fmpq_mpoly:
    """The exact value of a scalar node that depends on the parameters only.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\noutput a * b"))
    >>> str(parameter_polynomial(prog, prog.outputs[0]))
    't0*t1'
    """
    dim = program.num_params
    needed = ancestors(program, node)
    values: dict = {}
    for index in sorted(needed):
        values[index] = evaluate_node(program, index, values)
    value = entries(values[node])[0]
    return ring_polynomial(theta_ring(dim), _theta_part(value, dim))


def ancestors(program: Program, node: int) -> set[int]:
    """``node`` and every node it is computed from (an explicit stack, no recursion).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b, c\\noutput a * b\\noutput c"))
    >>> sorted(ancestors(prog, prog.outputs[0]))
    [0, 1, 3]
    """
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(program.nodes[current].args)
    return seen


def index_label(flat: int, shape) -> str:
    """``[i,j]``: the index of entry ``flat`` of a tensor of ``shape``.

    >>> index_label(5, (2, 3))
    '[1,2]'
    """
    return "[" + ",".join(map(str, unflatten(flat, shape))) + "]"


def _monomial_label(monomial: tuple, dim: int, names) -> str:
    counts: dict[int, int] = {}
    for var in monomial:
        counts[var] = counts.get(var, 0) + 1
    parts = [names[var - dim] if e == 1 else f"{names[var - dim]}^{e}"
             for var, e in sorted(counts.items())]
    return "*".join(parts) or "1"


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
            entries.append(out.add(Node("index", (tensor,), (), unflatten(flat, info.shape)))
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
