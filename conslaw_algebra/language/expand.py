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
from functools import cached_property
from math import comb, lgamma, log, log10

from flint import fmpq, fmpq_mpoly, fmpq_mpoly_ctx

from ..errors import BudgetError
from .program import Program


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
            for data_part in sorted(grouped, key=_order_key):
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
    needed = ancestors(program, node)
    values: dict[int, list[dict]] = {}
    for index in sorted(needed):
        values[index] = _evaluate(program.nodes[index], values, program)
    return ring_polynomial(theta_ring(dim), _theta_part(values[node][0], dim))


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
    """a^k by repeated squaring: about log2(k) products, the last ones the largest.

    >>> _power({(0,): fmpq(1), (1,): fmpq(1)}, 3) == {(0, 0, 0): 1, (0, 0, 1): 3, (0, 1, 1): 3, (1, 1, 1): 1}
    True
    """
    if len(a) == 1:                      # one term: its variables repeated, no products
        (monomial, coeff), = a.items()
        return {tuple(sorted(monomial * exponent)): coeff ** exponent}
    out = {(): fmpq(1)}
    square = a
    while exponent:
        if exponent & 1:
            out = _multiply(out, square)
        exponent >>= 1
        if exponent:
            square = _multiply(square, square)
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
