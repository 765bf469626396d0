"""One call, one value: which function arguments are the same polynomial, and which hold data.

DSL.md section 2: a gate or a smooth function's value is determined by the function
and its argument, the exact polynomial entry, however and wherever it is written;
and an argument entry with no data is a function of the parameters, never data.
The compiler asks this module two questions about every entry of a call's argument:
does it contain data (an input or a gate), and which earlier entry, if any, is the
same polynomial.

Why fingerprints first, then exact expansion: expanding every argument exactly costs
its number of terms, which for a deep ReLU net is its number of paths (exponential in
depth). Instead each node is evaluated modulo the prime at one random parameter
point and two random data points, with the evaluator's own arithmetic
(``interpreter.apply`` with ``modular.Jets``). Evaluation is a ring homomorphism, so
different values prove different polynomials, and different values at the two data
points prove that the entry contains data, with certainty. Equal values only make a
candidate, decided exactly: the same program node (the program shares equal subexpressions, so a
subexpression written twice is one node), or else both entries expanded exactly
within a term budget, beyond which the compiler refuses with one line. A random
coincidence therefore costs time, never correctness.
Gates are 0/1 (g^2 = g) and the gates of a max-pool window sum to 1; the values drawn
respect the window sums. An argument in which one gate could meet itself in a product
(a normalization's variance over ReLU outputs) is compared by its exact terms, reduced
by those relations, when they fit the term budget; beyond it, by fingerprints at
``BINARY_POINTS`` points where every gate is 0 or 1 and every window one-hot (with
random theta and data): evaluation there respects g^2 = g and the window sums, so it
is a ring homomorphism of the reduced ring and different values again prove different
polynomials. A key of this kind and one drawn at random gate values never compare, so
the compiler evaluates the other argument at the same 0/1 points too
(``binary_key``, ``compiler.cross_kind``): different values prove different
polynomials, equal ones are confirmed exactly (or the model is refused).
The budget is checked before a node is expanded: its terms are bounded from its
arguments' actual term counts (``term_bound``), so an expansion past the budget is never
allocated.
Where it stops winning: arguments that coincide as polynomials but are written
differently and are too large to expand (refused: write the value once, in a let).

>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> prog, _ = compile_program(parse("param a, b\\ninput x\\noutput a*x + b"))
>>> oracle = ArgumentOracle(prog)
>>> [f.data for f in oracle.facts(prog.outputs[0])]
[True]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flint import fmpz

from math import comb

from ..exact.modp import DEFAULT_PRIME, prime, residue, using
from .expand import evaluate_node, reduce_gates
from .interpreter import apply
from .modular import JETS, binary_draw, window_gates
from .program import Program

EXACT_TERMS = 200_000   # largest exact expansion used to decide that two entries agree
BINARY_POINTS = 12      # fingerprints of an entry with squared gates (gates at 0/1)


class Undecided(Exception):
    """Two entries agree at the random point but are too large to compare exactly."""


@dataclass(frozen=True)
class EntryFacts:
    """What the compiler needs to know about one argument entry.

    ``data``: the entry's polynomial contains an input or a gate. ``key``: equal for
    equal polynomials (unequal keys prove different polynomials). ``polynomial``: the
    exact polynomial in theta (sparse terms) when it holds no data, else None.
    """

    data: bool
    key: tuple
    polynomial: dict | None


class ArgumentOracle:
    """Fingerprints and exact comparisons of the entries of a growing Program.

    The program may grow between calls (the compiler asks as it goes); values are
    computed lazily for the nodes a question needs, and kept.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b\\noutput (a + b)^2 - a^2 - b^2\\noutput 2*a*b"))
    >>> oracle = ArgumentOracle(prog)
    >>> first, second = prog.outputs
    >>> oracle.facts(first)[0].key == oracle.facts(second)[0].key
    True
    >>> oracle.same((first, 0), (second, 0)), oracle.facts(first)[0].polynomial
    (True, {(0, 1): 2})
    """

    def __init__(self, program: Program, seed: int = 0, max_terms: int = EXACT_TERMS,
                 denominators=()):
        self.program = program
        self.prime = fingerprint_prime(denominators)
        self.rng = np.random.default_rng(seed)
        self.max_terms = max_terms
        self.values: dict[int, np.ndarray] = {}
        self.gate_exponents: dict[int, dict] = {}
        self.leaves: dict[tuple[str, int], np.ndarray] = {}
        self.exact_values: dict[int, np.ndarray] = {}
        self.exact_sizes: dict[int, tuple[int, int]] = {}   # node -> (largest entry, total)
        self.binary_values: dict[int, np.ndarray] = {}
        self.binary_leaves: dict[tuple[str, int], np.ndarray] = {}

    # ----------------------------------------------------------- fingerprints
    def facts(self, node: int) -> list[EntryFacts]:
        """The facts of every entry of ``node``, row-major."""
        # a gate that may meet itself in a product: random values would not stand for
        # 0/1 ones, so the entries are compared by their exact reduced terms instead,
        # or, beyond the term budget, by fingerprints with the gates at 0/1
        squared = self._squared_gates(node)
        values = None if squared else self._fingerprint(node)
        if squared and self._expand(node) is None:
            return self._binary_facts(node)
        size = self.program.nodes[node].size
        out = []
        for flat in range(size):
            if values is None:
                exact = self._canonical(node, flat)
                if exact is None:
                    raise Undecided
                data = any(m and m[-1] >= self.program.num_params for m in exact)
                key = self._terms_key(exact)
            else:
                first, second = int(values[0, flat]), int(values[1, flat])
                key = ("mod", first, second)
                data = first != second
                if not data and self._data_degree(node):
                    exact = self._canonical(node, flat)
                    if exact is None:
                        raise Undecided
                    data = any(m and m[-1] >= self.program.num_params for m in exact)
            polynomial = None
            if not data:
                polynomial = self._canonical(node, flat)
                if polynomial is None:
                    raise Undecided
            out.append(EntryFacts(data, key, polynomial))
        return out

    def _binary_facts(self, node: int) -> list[EntryFacts]:
        """Facts of entries too large to expand, from ``BINARY_POINTS`` evaluations with
        every gate at 0/1 (one theta, random data): different values prove data; an
        entry equal at all points may be free of data, which only its exact terms can
        tell (Undecided)."""
        rows = self._binary_rows(node)
        out = []
        for flat in range(rows.shape[1]):
            column = tuple(int(v) for v in rows[:, flat])
            if len(set(column)) == 1:
                raise Undecided
            out.append(EntryFacts(True, ("bin",) + column, None))
        return out

    def _binary_rows(self, node: int) -> np.ndarray:
        """The node's entries at the ``BINARY_POINTS`` points with every gate at 0/1: one
        row per point, one column per entry (evaluated once, with its arguments)."""
        with using(self.prime):
            for current in self._missing(node, self.binary_values):
                self.binary_values[current] = self._binary_value(current)
        value = self.binary_values[node]
        return np.broadcast_to(value, (1, BINARY_POINTS) + value.shape[2:]).reshape(
            BINARY_POINTS, -1)

    def binary_key(self, node: int, flat: int) -> tuple:
        """The entry's values at the ``BINARY_POINTS`` points with every gate at 0/1 (the
        key of ``_binary_facts``), for any entry: comparable across kinds."""
        rows = self._binary_rows(node)
        return ("bin",) + tuple(int(v) for v in rows[:, flat])

    def _binary_value(self, index: int) -> np.ndarray:
        node = self.program.nodes[index]
        if node.op == "param":
            return self._leaf("param", node.attr, 1, self.program.params[node.attr])
        if node.op == "data":
            key = ("data", node.attr)
            if key not in self.binary_leaves:
                info = self.program.data[node.attr]
                shape = (1, BINARY_POINTS) + info.shape
                self.binary_leaves[key] = (
                    binary_draw(self.rng, shape, info.window) if info.kind == "gate"
                    or info.window else self.rng.integers(0, prime(), shape, dtype=np.int64))
            return self.binary_leaves[key]
        if node.op == "const":
            return np.array(residue(node.attr), dtype=np.int64).reshape(1, 1)
        return apply(JETS, self.program, node, self.binary_values)

    def _terms_key(self, terms: dict) -> tuple:
        """The key of exact reduced terms: their values at the two random points, the
        same as the fingerprint of any program entry equal to them."""
        with using(self.prime):
            p = prime()
            theta = [self._leaf("param", i, 1, info).reshape(-1)
                     for i, info in enumerate(self.program.params)]
            theta = np.concatenate(theta) if theta else np.zeros(0, np.int64)
            data = [self._leaf("data", i, 2, info).reshape(2, -1)
                    for i, info in enumerate(self.program.data)]
            data = np.concatenate(data, axis=1) if data else np.zeros((2, 0), np.int64)
            dim, values = len(theta), [0, 0]
            for monomial, coeff in terms.items():
                c = residue(coeff)
                for draw in (0, 1):
                    term = c
                    for var in monomial:
                        term = term * int(theta[var] if var < dim else data[draw, var - dim]) % p
                    values[draw] = (values[draw] + term) % p
        return ("mod", values[0], values[1])

    def _fingerprint(self, node: int) -> np.ndarray:
        with using(self.prime):
            for current in self._missing(node, self.values):
                self.values[current] = self._value(current)
        value = self.values[node]
        return np.broadcast_to(value, (1, 2) + value.shape[2:]).reshape(2, -1)

    def _missing(self, node: int, known: dict) -> list[int]:
        """``node`` and the nodes it depends on that are not keys of ``known``, in program
        order (so each comes after its arguments): what a lazy evaluation must compute."""
        todo, stack = set(), [node]
        while stack:
            current = stack.pop()
            if current not in known and current not in todo:
                todo.add(current)
                stack.extend(a for a in self.program.nodes[current].args if a not in known)
        return sorted(todo)

    def _value(self, index: int) -> np.ndarray:
        node = self.program.nodes[index]
        if node.op == "param":
            return self._leaf("param", node.attr, 1, self.program.params[node.attr])
        if node.op == "data":
            return self._leaf("data", node.attr, 2, self.program.data[node.attr])
        if node.op == "const":
            return np.array(residue(node.attr), dtype=np.int64).reshape(1, 1)
        return apply(JETS, self.program, node, self.values)

    def _leaf(self, kind: str, index: int, batch: int, info) -> np.ndarray:
        if (kind, index) not in self.leaves:
            drawn = self.rng.integers(0, prime(), (1, batch) + info.shape, dtype=np.int64)
            self.leaves[kind, index] = window_gates(drawn, info.window) if kind == "data" else drawn
        return self.leaves[kind, index]

    def _squared_gates(self, node: int) -> bool:
        """Could one gate site appear with exponent 2 in an entry (conservative)?"""
        nodes = self.program.nodes
        for current in self._missing(node, self.gate_exponents):
            n = nodes[current]
            if n.op == "data":
                info = self.program.data[n.attr]
                exps = {n.attr: 1} if info.kind == "gate" or info.window else {}
            elif n.op in ("mul", "matmul"):
                exps = dict(self.gate_exponents[n.args[0]])
                for site, e in self.gate_exponents[n.args[1]].items():
                    exps[site] = exps.get(site, 0) + e
            elif n.op == "pow":
                exps = {s: e * n.attr for s, e in self.gate_exponents[n.args[0]].items()}
            else:
                exps = {}
                for a in n.args:
                    for site, e in self.gate_exponents[a].items():
                        exps[site] = max(exps.get(site, 0), e)
            self.gate_exponents[current] = exps
        return any(e > 1 for e in self.gate_exponents[node].values())

    def _data_degree(self, node: int) -> bool:
        """Can ``node`` hold data at all (an upper bound: any data leaf below it)?"""
        nodes, seen, stack = self.program.nodes, set(), [node]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if nodes[current].op == "data":
                return True
            stack.extend(nodes[current].args)
        return False

    # ------------------------------------------------------------ exact answers
    def same(self, first: tuple[int, int], second: tuple[int, int]) -> bool:
        """Are entries ``(node, flat)`` the same polynomial? Exact; raises Undecided."""
        if first == second:
            return True
        a, b = self._canonical(*first), self._canonical(*second)
        if a is None or b is None:
            raise Undecided
        return a == b

    def _canonical(self, node: int, flat: int) -> dict | None:
        """The entry as exact sparse terms under the gate relations (or None: too large)."""
        values = self._expand(node)
        if values is None:
            return None
        return canonical_terms(self.program, values.reshape(-1)[flat])

    def _expand(self, node: int) -> np.ndarray | None:
        """The node's exact value, or None when it would pass the term budget: each node
        is bounded from its arguments' actual term counts before it is computed."""
        for current in self._missing(node, self.exact_values):
            if current in self.exact_sizes:          # known to be over the budget
                return None
            n = self.program.nodes[current]
            args = [self.exact_sizes[a] for a in n.args]
            inner = self.program.nodes[n.args[0]].shape[-1] if n.op == "matmul" else 1
            if term_bound(n, args, inner) > self.max_terms:
                self.exact_sizes[current] = (self.max_terms + 1, self.max_terms + 1)
                return None
            value = evaluate_node(self.program, current, self.exact_values)
            lengths = [len(entry) for entry in value.reshape(-1)]
            self.exact_sizes[current] = (max(lengths, default=0), sum(lengths))
            if self.exact_sizes[current][1] > self.max_terms:
                return None
            self.exact_values[current] = value
        return self.exact_values[node]


def term_bound(node, args: list[tuple[int, int]], inner: int = 1) -> int:
    """A bound on the total number of terms of ``node``'s exact value, from its
    arguments' (largest entry, total) term counts, before anything is multiplied
    (``inner``: a matmul's contracted length).

    >>> from conslaw_algebra.language.program import Node
    >>> term_bound(Node("mul", (0, 1), (2,)), [(3, 6), (4, 8)])          # 2 * 3 * 4
    24
    >>> term_bound(Node("pow", (0,), (), 3), [(2, 2)])                   # C(2 + 2, 3)
    4
    >>> term_bound(Node("sum", (0,), ()), [(3, 30)])
    30
    >>> term_bound(Node("matmul", (0, 1), (2,)), [(1, 6), (2, 6)], inner=3)   # 2 * 3 * 1 * 2
    12
    """
    op, entries = node.op, node.size
    if op in ("param", "data", "const"):
        return entries
    big = [a[0] for a in args]
    if op in ("add", "sub"):
        return entries * (big[0] + big[1])
    if op == "mul":
        return entries * big[0] * big[1]
    if op == "matmul":
        return entries * big[0] * big[1] * inner
    if op == "pow":
        k = node.attr
        return entries * (1 if k == 0 else min(big[0] ** k, comb(big[0] + k - 1, k)))
    if op in ("sum", "stack"):
        return sum(a[1] for a in args)
    return entries * max(big, default=1)          # neg, transpose, index


def fingerprint_prime(denominators=()) -> int:
    """The largest prime <= 2^31 - 1 that divides none of ``denominators`` (the model's
    rational constants), so that every constant has a residue and evaluation is a ring
    homomorphism: different values then prove different polynomials.

    >>> fingerprint_prime(), fingerprint_prime([2**31 - 1])
    (2147483647, 2147483629)
    """
    denominators = [abs(int(d)) for d in denominators if abs(int(d)) > 1]
    p = DEFAULT_PRIME
    while any(d % p == 0 for d in denominators):
        p -= 2
        while not fmpz(p).is_prime():
            p -= 2
    return p


def canonical_terms(program: Program, entry: dict) -> dict:
    """Sparse terms with gates reduced: g^2 = g, and the window relations of max-pool.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a\\ninput x\\noutput a*x"))
    >>> canonical_terms(prog, {(0, 1): 3, (0, 0): 0})
    {(0, 1): 3}
    """
    return reduce_gates(program, entry)
