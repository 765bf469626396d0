"""The model expanded exactly: features psi_k(theta) as fmpq_mpoly.

Each carrier (an output entry, or an argument entry of a generic function) is
evaluated as an exact polynomial in the parameters and the data symbols, with FLINT
doing the arithmetic. Its terms are then grouped by their data monomial, gate
exponents reduced to 1 (gates are idempotent), and each group's coefficient, a
polynomial in theta alone, is a feature. Features are what the polynomial-law solver
and ``check`` need, and what ``info`` counts.
Where it stops winning: the expansion lists every path of a ReLU net, so its size is
the number of paths; the count never goes through here (see ``numeric.py``).

>>> from conslaw_algebra.dsl import parse
>>> from conslaw_algebra.compile import compile_program
>>> prog, _ = compile_program(parse("param U[1,2], V[1,2]\\noutput U @ V.T"))
>>> [str(f.poly) for f in expand_features(prog).features]
['t0*t2 + t1*t3']
"""
from __future__ import annotations

from dataclasses import dataclass

from flint import fmpq, fmpq_mpoly, fmpq_mpoly_ctx

from .errors import BudgetError
from .program import Program


@dataclass(frozen=True)
class Feature:
    """One feature: the coefficient of a data monomial in a carrier."""

    poly: fmpq_mpoly
    carrier: str
    monomial: str  # the data monomial, e.g. "x[0]*gate1[2]"; "1" for none


@dataclass(frozen=True)
class Expansion:
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

    >>> from conslaw_algebra.dsl import parse
    >>> from conslaw_algebra.compile import compile_program
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


def expand_features(program: Program, max_terms: int = 2_000_000) -> Expansion:
    """Expand every carrier and collect the features, in a deterministic order.

    Raises :class:`BudgetError` when the expansion would exceed ``max_terms`` terms.
    """
    estimate = estimate_terms(program)
    if estimate > max_terms:
        raise BudgetError(f"listing the features would expand about {estimate:,} terms "
                          f"(limit {max_terms:,}); counting laws does not need it")
    dim = program.num_params
    values = _evaluate_all(program)
    data_names: list[str] = []
    gate_positions: list[int] = []
    for info in program.data:
        for k, name in enumerate(info.entry_names()):
            data_names.append(name)
            if info.kind == "gate":
                gate_positions.append(info.offset + k)

    ring = theta_ring(dim)

    def to_theta(poly):
        return ring.from_dict({exps[:dim]: c for exps, c in poly.terms()})

    metric = {}
    for index, node in program.metrics.items():
        info = program.params[index]
        entries = values[node] * (info.size if not program.nodes[node].shape else 1)
        for k, entry in enumerate(entries):
            metric[info.offset + k] = to_theta(entry)
    features: list[Feature] = []
    for carrier, label in program.carriers:
        shape = program.nodes[carrier].shape
        for flat, entry in enumerate(values[carrier]):
            grouped: dict[tuple, dict] = {}
            for exps, coeff in entry.terms():
                data_part = list(exps[dim:])
                for g in gate_positions:
                    if data_part[g] > 1:
                        data_part[g] = 1
                bucket = grouped.setdefault(tuple(data_part), {})
                key = exps[:dim]
                bucket[key] = bucket.get(key, fmpq(0)) + coeff
            entry_label = label + (_index_label(flat, shape) if shape else "")
            for data_part in sorted(grouped, reverse=True):
                terms = {k: v for k, v in grouped[data_part].items() if v != 0}
                if terms:
                    features.append(Feature(ring.from_dict(terms), entry_label,
                                            _monomial_label(data_part, data_names)))
    return Expansion(ring, tuple(features), metric)


def _evaluate_all(program: Program) -> list[list]:
    dim = program.num_params
    full = fmpq_mpoly_ctx.get(("z", dim + program.num_data), "degrevlex")
    gens = full.gens()
    values: list[list] = []
    for node in program.nodes:
        values.append(_evaluate(node, values, program, gens, full, dim))
    return values


def parameter_polynomial(program: Program, node: int) -> fmpq_mpoly:
    """The exact value of a scalar node that depends on the parameters only.

    >>> from conslaw_algebra.dsl import parse
    >>> from conslaw_algebra.compile import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\noutput a * b"))
    >>> str(parameter_polynomial(prog, prog.outputs[0]))
    't0*t1'
    """
    dim = program.num_params
    value = _evaluate_all(program)[node][0]
    return theta_ring(dim).from_dict({exps[:dim]: c for exps, c in value.terms()})


def _index_label(flat: int, shape) -> str:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return "[" + ",".join(map(str, reversed(index))) + "]"


def _monomial_label(exps, names) -> str:
    parts = [name if e == 1 else f"{name}^{e}" for name, e in zip(names, exps) if e]
    return "*".join(parts) or "1"


def _evaluate(node, values, program, gens, ring, dim):
    op = node.op
    if op == "param":
        info = program.params[node.attr]
        return [gens[info.offset + k] for k in range(info.size)]
    if op == "data":
        info = program.data[node.attr]
        return [gens[dim + info.offset + k] for k in range(info.size)]
    if op == "const":
        return [ring.constant(fmpq(node.attr.numerator, node.attr.denominator))]
    args = [values[a] for a in node.args]
    shapes = [program.nodes[a].shape for a in node.args]
    if op in ("add", "sub", "mul"):
        a, b = args
        size = max(len(a), len(b))
        a = a * size if len(a) == 1 else a
        b = b * size if len(b) == 1 else b
        if op == "add":
            return [x + y for x, y in zip(a, b)]
        if op == "sub":
            return [x - y for x, y in zip(a, b)]
        return [x * y for x, y in zip(a, b)]
    if op == "neg":
        return [-x for x in args[0]]
    if op == "matmul":
        (a, b), (sa, sb) = args, shapes
        rows = sa[0] if len(sa) == 2 else 1
        inner = sa[-1]
        cols = sb[1] if len(sb) == 2 else 1
        out = []
        for i in range(rows):
            for j in range(cols):
                total = ring.constant(0)
                for k in range(inner):
                    total += a[i * inner + k] * b[k * cols + j]
                out.append(total)
        return out
    if op == "transpose":
        rows, cols = shapes[0]
        a = args[0]
        return [a[i * cols + j] for j in range(cols) for i in range(rows)]
    if op == "pow":
        return [x ** node.attr for x in args[0]]
    if op == "index":
        shape = shapes[0]
        flat = 0
        for i, n in zip(node.attr, shape):
            flat = flat * n + i
        return [args[0][flat]]
    if op == "sum":
        total = ring.constant(0)
        for x in args[0]:
            total += x
        return [total]
    if op == "stack":
        return [a[0] for a in args]
    raise AssertionError(op)
