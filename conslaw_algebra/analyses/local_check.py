"""Local exact verification of a law of a model with normalization layers.

Why: ``normalized.ExactModel`` expands every value of the model in (theta, the data,
the scales s) before it differentiates, which for a real block (a ResNet basic block,
D = 22; a transformer encoder layer, D = 60) is 10^8 to 10^11 terms, although a law
such as ||W1||^2 moves only the values between W1 and the normalization after it.
Here the derivative D_v of every value along v = grad h is computed forward, in
topological order, and only what moves is expanded:

- a value whose derivative is identically 0 (it does not depend on supp(v), or the
  motion stopped before it) is OPAQUE: one fresh free symbol per entry, never expanded,
  and D_v of it is 0; values that move are expanded exactly as sparse polynomials in
  the parameters, the data symbols (gates reduced g^2 = g), the scales s and the opaque
  symbols;
- a gate is piecewise constant (D_v = 0); a generic smooth value f(a) has
  D_v = f'(a) D_v a, and a is a carrier, so once every carrier's derivative is shown 0
  it is 0 too: it is taken as 0 (``ExactModel`` does the same);
- a scale s (s^2 q = 1): D_v s = 0 when q does not move. Otherwise D_v q is first
  compared with q itself: when D_v q = lambda q for a rational constant lambda (as
  polynomials; a scale invariance gives lambda = 2 deg, a shift invariance 0), then
  D_v s = -s^3 lambda q / 2 = -lambda s / 2 exactly on the variety, with no product by
  q; otherwise D_v s = -s^3 D_v q / 2, and the carriers' derivatives are reduced by
  s^2 q = 1 (multiplied through by powers of q, latest scale first), as
  ``ExactModel.reduce`` does.

A first pass keeps more values opaque: a node whose derivative is lambda times its
own value (a parameter moved along a scaling, then products, powers and sums of such
nodes, the scales of their q) is in RATIO form: D = lambda z with z its opaque symbols,
and its value is never expanded (the chain rule holds with z at its true value). lambda
may differ from entry to entry (one channel's filter scaled, the others fixed, lambda
0): the lambdas are carried per entry through every operation (a product adds them, a
power multiplies them, a sum or a matrix product needs its terms' lambdas to agree),
which is what verifies the per-channel laws of a multi-channel block (a ResNet block
with 2 channels: each law in 0.01 s, where expanding a BatchNorm's variance would be
millions of terms). Only when a moving value meets one not in ratio form is anything
expanded. A pass that is
inconclusive is followed by one that expands every moving value, then by one that
expands every value (it sees relations among the fixed values, such as the entries of
a LayerNorm's output summing to 0, where that fits the budget: small models).

h is VERIFIED when every carrier's derivative is identically 0 after that reduction.
Why this proves it: each computed derivative is a polynomial P(z) in free symbols z
(the opaque ones among them) with P(z*) = the true derivative at the model's actual
values z* (the chain rule, with the values of the unmoved nodes substituted); and the
reduction gives Q P = sum_S A_S s^S on the variety with Q a product of the q's, which
are nonzero there. If every A_S is the zero polynomial, it is zero at z*, so Q P = 0
and P = 0 at every point of the variety, for every data set: <grad h, grad y_c> = 0
for every carrier y_c, i.e. h is conserved. The converse fails: an identity that
needs relations among the opaque values, or a reduction the lambda test does not see,
leaves the check INCONCLUSIVE (never a refutation), and the caller falls back to
``ExactModel`` when it fits (``Verifier``).
Where it stops winning: a law whose motion reaches the outputs through many values
(a direction that no normalization or homogeneity stops early) expands everything
downstream of its parameters, as ExactModel would; beyond ``MAX_TERMS`` terms (each
product bounded before it is computed, ``canonical.term_bound``) the check gives up
rather than allocate.

>>> from conslaw_algebra.api import parse
>>> program = parse("param W[2,2], v[2]\\ninput x[2]\\noutput v @ rmsnorm(W @ x)").program
>>> t = theta_ring(6).gens()
>>> LocalCheck(program).verify(t[0]**2 + t[1]**2 + t[2]**2 + t[3]**2) is None
True
>>> LocalCheck(program).verify(t[0]**2)
'output 1: its derivative is not 0 on the variety'
"""
from __future__ import annotations

from bisect import bisect_right
from heapq import heappop, heappush

import numpy as np
from flint import fmpq, fmpq_mpoly

from ..exact.sparse import Terms, derivatives, sparse_terms
from ..language.canonical import term_bound
from ..language.expand import (EXACT, Exact, entries, evaluate_node, parameter_tangent,
                               reduce_gates, tangent_step, theta_ring)
from ..language.interpreter import apply_to
from ..language.program import Program

MAX_TERMS = 3_000_000       # terms held by one check (values and derivatives)

__all__ = ["LocalCheck", "Verifier", "theta_ring"]


def reduce_scale(program: Program, out: Terms, var: int, q: Terms) -> Terms:
    """``out`` reduced by s^2 q = 1 for the scale variable ``var``: multiplied by q^top
    (top = half the highest power of s), each s^(2 half + odd) becomes s^odd q^(top - half);
    gates reduced again. Zero exactly when ``out`` is zero on the variety (for this s).

    >>> from conslaw_algebra.api import parse
    >>> program = parse("param w[1]\\ninput x[1]\\noutput rmsnorm(w * x)").program
    >>> reduce_scale(program, Terms({(2, 2): fmpq(1)}), 2, Terms({(0, 0, 1, 1): fmpq(1)}))
    {(): 1}
    """
    top = max((m.count(var) for m in out), default=0) // 2
    if not top:
        return out
    powers = [Terms({(): fmpq(1)})]
    for _ in range(top):
        powers.append(powers[-1] * q)
    reduced = Terms()
    for monomial, coeff in out.items():
        half, odd = divmod(monomial.count(var), 2)
        rest = tuple(sorted([v for v in monomial if v != var] + [var] * odd))
        reduced.accumulate({rest: coeff}, powers[top - half])
    return Terms(reduce_gates(program, reduced))



class _TooLarge(Exception):
    pass


def _sizes(value) -> tuple[int, int]:
    lengths = [len(entry) for entry in value.reshape(-1)]
    return (max(lengths, default=0), sum(lengths))


def _ratio(dq: Terms, q: Terms):
    """lambda with dq = lambda q exactly (as polynomials), or None.

    >>> _ratio(Terms({(0, 0): fmpq(4)}), Terms({(0, 0): fmpq(1)}))
    4
    >>> _ratio(Terms({(0, 0): fmpq(4), (1,): fmpq(1)}), Terms({(0, 0): fmpq(1), (1,): fmpq(1)})) is None
    True
    """
    if not dq:
        return fmpq(0)
    if len(dq) != len(q):
        return None
    monomial = next(iter(dq))
    if monomial not in q:
        return None
    factor = dq[monomial] / q[monomial]
    if all(q.get(m) is not None and c == factor * q[m] for m, c in dq.items()):
        return factor
    return None


class LocalCheck:
    """Forward derivatives along v = grad h, expanded only where they move (module
    header); ``verify(h)`` is None when h is a law, exactly, else why not verified.

    >>> from conslaw_algebra.api import parse
    >>> program = parse("param a[2], b[2]\\ninput x[2]\\noutput sum(b * layernorm(a * x))").program
    >>> t = theta_ring(4).gens()
    >>> LocalCheck(program).verify(t[0]**2 + t[1]**2) is None       # scale invariance
    True
    """

    def __init__(self, program: Program, max_terms: int = MAX_TERMS):
        self.program = program
        self.max_terms = max_terms
        self.dim = program.num_params
        self.gated = any(info.kind == "gate" for info in program.data)
        self.scale_of = {i: node.attr for i, node in enumerate(program.nodes)
                         if node.op == "data" and node.attr in program.normalizations}
        # who uses each node (a scale uses its q): a pass visits only what moves
        self.users: list[list[int]] = [[] for _ in program.nodes]
        for i, node in enumerate(program.nodes):
            for a in node.args:
                self.users[a].append(i)
        for i, k in self.scale_of.items():
            self.users[program.sources[k][1]].append(i)
        self.param_node = {node.attr: i for i, node in enumerate(program.nodes)
                           if node.op == "param"}
        self.offsets = [info.offset for info in program.params]

    # ------------------------------------------------------------------ bookkeeping
    def _admit(self, bound: int) -> None:
        """Give up before computing a value bounded by ``bound`` terms that would take
        the terms held over ``max_terms``."""
        if self.terms + bound > self.max_terms:
            raise _TooLarge

    def _hold(self, value: np.ndarray) -> np.ndarray:
        self.terms += _sizes(value)[1]
        if self.terms > self.max_terms:
            raise _TooLarge
        return value

    def _gates(self, value: np.ndarray) -> np.ndarray:
        if self.gated:
            flat = value.reshape(-1)
            for k in range(flat.size):
                flat[k] = Terms(reduce_gates(self.program, flat[k]))
        return value

    def _value(self, i: int) -> np.ndarray:
        """Node i's value: expanded where its derivative is explicit, else one opaque
        symbol per entry (a leaf is its own value)."""
        if i in self.values:
            return self.values[i]
        node = self.program.nodes[i]
        if (node.op in ("param", "data", "const") or self.moves.get(i) is not None
                or self.expand_all):
            args = {a: self._value(a) for a in node.args}
            inner = 1
            if node.op == "matmul" and self.program.nodes[node.args[0]].shape:
                inner = self.program.nodes[node.args[0]].shape[-1]
            self._admit(term_bound(node, [_sizes(args[a]) for a in node.args], inner)
                        if node.args else node.size)
            value = self._hold(self._gates(evaluate_node(self.program, i, args)))
        else:
            value = Exact.symbols(self.next_symbol, node.shape)
            self.next_symbol += node.size
        self.values[i] = value
        return value

    def _explicit(self, i: int) -> np.ndarray | None:
        """D of node i as an array of Terms (lambda times its value for a node in ratio
        form), or None when it is 0."""
        if self.moves.get(i) is not None:
            return self.moves[i]
        if i in self.entry_ratio:
            value = self._value(i)
            out = np.empty(value.shape, dtype=object)
            for index in np.ndindex(value.shape):
                out[index] = Terms(value[index]).scaled(self.entry_ratio[i][index[1:]])
            self.moves[i] = self._hold(out)
            return self.moves[i]
        if i not in self.ratio:
            return None
        value = self._value(i)
        out = np.empty(value.shape, dtype=object)
        for index in np.ndindex(value.shape):
            out[index] = Terms(value[index]).scaled(self.ratio[i])
        return self._hold(out)

    # ------------------------------------------------------------------ derivatives
    def _product(self, node, args) -> np.ndarray:
        inner = 1
        if node.op == "matmul" and self.program.nodes[node.args[0]].shape:
            inner = self.program.nodes[node.args[0]].shape[-1]
        self._admit(term_bound(node, [_sizes(a) for a in args], inner))
        return apply_to(EXACT, self.program, node, args)

    def _entry_ratios(self, i: int, moved: np.ndarray) -> np.ndarray | None:
        """Per entry of node i, lambda with D = lambda times the entry (0 for an entry
        that does not move), when every entry has one: a scaling of some entries only,
        such as one channel's filter. None otherwise."""
        value = self._value(i)
        out = np.empty(value.shape[1:], dtype=object)
        for index in np.ndindex(value.shape[1:]):
            d, v = moved[(0,) + index], value[(0,) + index]
            factor = _ratio(Terms(d), Terms(v)) if v else (fmpq(0) if not d else None)
            if factor is None:
                return None
            out[index] = factor
        return out

    def _scale(self, i: int, node) -> np.ndarray | None:
        """D s = -lambda s / 2 when D q = lambda q, else -s^3 D q / 2 (module header)."""
        q = self.program.sources[node.attr][1]
        if q in self.ratio or q in self.entry_ratio:
            return self._adopt(i, self._factors(q) * fmpq(-1, 2))
        dq = self.moves.get(q)
        if dq is None:
            return None
        if self.use_ratios:
            factors = self._entry_ratios(q, dq)
            if factors is not None:
                return self._adopt(i, factors * fmpq(-1, 2))
        s = self._value(i)
        qs, dqs, ss = entries(self._value(q)), entries(dq), entries(s)
        out = np.empty(len(ss), dtype=object)
        for k in range(len(ss)):
            factor = _ratio(Terms(dqs[k]), Terms(qs[k])) if qs[k] else None
            if factor is not None:
                out[k] = Terms(ss[k]).scaled(-factor / 2) if factor else Terms()
            else:
                self._admit(len(dqs[k]))
                cube = Terms(ss[k]) * Terms(ss[k]) * Terms(ss[k])
                out[k] = (cube * Terms(dqs[k])).scaled(fmpq(-1, 2))
        out = out.reshape((1,) + node.shape)
        return out if any(out.reshape(-1)) else None

    def _factors(self, i: int) -> np.ndarray:
        """lambda per entry of node i (shape of the node): its ratio, its entries'
        ratios, or 0 for a node that does not move (D z = 0 = 0 z)."""
        if i in self.entry_ratio:
            return self.entry_ratio[i]
        return np.full(self.program.nodes[i].shape, self.ratio.get(i, fmpq(0)), dtype=object)

    def _adopt(self, i: int, factors: np.ndarray) -> None:
        """Node i is in ratio form with these lambdas: one number when they agree (0:
        it does not move), else per entry."""
        factors = np.asarray(factors, dtype=object)
        flat = factors.reshape(-1)
        if flat.size and all(f == flat[0] for f in flat):
            if flat[0]:
                self.ratio[i] = flat[0]
        else:
            self.entry_ratio[i] = factors
        return None

    def _propagated(self, node, forms: list[np.ndarray]) -> np.ndarray | None:
        """lambda per entry of a node whose arguments are all in ratio form or fixed
        (``forms``: their lambdas, 0 where fixed), or None when the node's derivative is
        not lambda times its value in every entry (a sum of terms scaled differently)."""
        op = node.op

        def agreeing(values: np.ndarray, axis: int) -> np.ndarray | None:
            first = np.take(values, [0], axis=axis)
            if not np.all(values == first):
                return None
            return np.squeeze(first, axis=axis)

        if op in ("add", "sub"):
            left, right = np.broadcast_arrays(*forms)
            return left.copy() if np.all(left == right) else None
        if op == "mul":
            left, right = np.broadcast_arrays(*forms)
            return left + right
        if op == "neg":
            return forms[0]
        if op == "pow":
            return forms[0] * node.attr
        if op == "transpose":
            return np.swapaxes(forms[0], -1, -2) if forms[0].ndim >= 2 else forms[0]
        if op == "index":
            return np.asarray(forms[0][node.attr], dtype=object)
        if op == "sum":
            flat = forms[0].reshape(-1)
            return agreeing(flat, 0) if flat.size else np.full((), fmpq(0), dtype=object)
        if op == "stack":
            return np.array([f.reshape(()) [()] for f in forms], dtype=object).reshape(node.shape)
        if op == "matmul":
            left = forms[0] if forms[0].ndim == 2 else forms[0][None, :]
            right = forms[1] if forms[1].ndim == 2 else forms[1][:, None]
            total = agreeing(left[:, :, None] + right[None, :, :], 1)
            return None if total is None else total.reshape(node.shape)
        return None

    def _derivative(self, i: int, node, speed: dict) -> np.ndarray | None:
        program = self.program
        op = node.op
        if op == "param":
            out = parameter_tangent(program, node, speed)
            if out is None:
                return None
            if self.use_ratios:
                factors = self._entry_ratios(i, out)
                if factors is not None:
                    return self._adopt(i, factors)
            return out
        if op == "const":
            return None
        if op == "data":                 # gates and smooth values: 0 (module header)
            return self._scale(i, node) if i in self.scale_of else None
        if all(self.moves.get(a) is None and a not in self.ratio and a not in self.entry_ratio
               for a in node.args):
            return None
        if self.use_ratios and all(self.moves.get(a) is None for a in node.args):
            factors = self._propagated(node, [self._factors(a) for a in node.args])
            if factors is not None:
                return self._adopt(i, factors)
        parts = [self._explicit(a) for a in node.args]
        if op == "pow" and node.attr:
            base = self._value(node.args[0])
            self._admit(term_bound(node, [_sizes(base)]) * max(1, _sizes(parts[0])[0]))
        out = tangent_step(program, node, parts, self._value, self._product)
        if out is None:
            return None
        out = self._hold(self._gates(out))
        return out if any(out.reshape(-1)) else None

    # ------------------------------------------------------------------ reduction
    def _reduce(self, entry: dict) -> Terms:
        """``entry`` reduced by s^2 q = 1, latest scale first (``ExactModel.reduce``)."""
        program = self.program
        out = Terms(reduce_gates(program, entry))
        for var, (i, k) in sorted(self.scale_vars.items(), reverse=True):
            top = max((m.count(var) for m in out), default=0) // 2
            if not top:
                continue
            q = Terms(entries(self._value(program.sources[program.nodes[i].attr][1]))[k])
            self._admit(len(out) * max(1, len(q)) ** top)
            out = reduce_scale(program, out, var, q)
        return out

    def verify(self, h) -> str | None:
        """None when h is a law, proved exactly (module header); else why it was not
        verified (inconclusive: the caller falls back to ``ExactModel``).

        >>> from conslaw_algebra.api import parse
        >>> program = parse("param w[2]\\ninput x[2]\\noutput sum(rmsnorm(w * x))").program
        >>> t = theta_ring(2).gens()
        >>> LocalCheck(program).verify(t[0]**2 + t[1]**2) is None, LocalCheck(program).verify(t[0])
        (True, 'output 1: its derivative is not 0 on the variety')
        """
        if self.program.metrics:
            return "a metric (mirror flow) is not handled by the local check"
        terms = sparse_terms(h) if isinstance(h, fmpq_mpoly) else h
        speed = {j: Terms(d) for j, d in derivatives(terms).items()}
        why = None
        for mode in ("ratio", "moving", "all"):
            why = self._pass(speed, mode)
            if why is None:
                return None
        return why

    def _pass(self, speed: dict, mode: str) -> str | None:
        """One pass. "ratio": a node whose derivative is lambda times its value keeps
        its value opaque (D = lambda z, z its symbols: the chain rule holds with z at its
        true value); "moving": every moving value is expanded; "all": every value is
        (no opaque symbol: relations among the fixed values, such as a LayerNorm's
        outputs summing to 0, are then seen)."""
        program = self.program
        self.use_ratios = mode == "ratio"
        self.expand_all = mode == "all"
        self.terms = 0
        self.values: dict[int, np.ndarray] = {}
        self.moves: dict[int, np.ndarray | None] = {}
        self.ratio: dict[int, fmpq] = {}
        self.entry_ratio: dict[int, np.ndarray] = {}     # parameter node -> lambda per entry
        self.next_symbol = self.dim + program.num_data
        self.scale_vars = {}
        for i, k in self.scale_of.items():
            info = program.data[k]
            for e in range(info.size):
                self.scale_vars[self.dim + info.offset + e] = (i, e)
        try:    # in topological order, only the nodes reached by a moving value
            tensors = {bisect_right(self.offsets, j) - 1 for j in speed}
            pending = sorted(self.param_node[t] for t in tensors if t in self.param_node)
            seen = set(pending)
            while pending:
                i = heappop(pending)
                self.moves[i] = self._derivative(i, program.nodes[i], speed)
                if self.moves[i] is not None or i in self.ratio or i in self.entry_ratio:
                    for user in self.users[i]:
                        if user not in seen:
                            seen.add(user)
                            heappush(pending, user)
            for carrier, label in program.carriers:
                value = self._explicit(carrier)
                if value is None:
                    continue
                for entry in entries(value):
                    if self._reduce(entry):
                        return f"{label}: its derivative is not 0 on the variety"
        except _TooLarge:
            return f"the local check would hold more than {self.max_terms:,} terms"
        return None


class Verifier:
    """The exact law check of a model with normalization layers: the local check first,
    then ``ExactModel`` (made by ``exact()``, which refuses with ``BudgetError`` when its
    expansion cannot fit) when the local check is inconclusive. ``violation(h)`` has
    ``ExactModel.violation``'s answer: None (a law, proved) or (where, reduced terms);
    ``last`` says which check decided ("local" or "exact").

    >>> from conslaw_algebra.api import parse
    >>> from conslaw_algebra.analyses.normalized import ExactModel
    >>> program = parse("param W[2,2], v[2]\\ninput x[2]\\noutput v @ rmsnorm(W @ x)").program
    >>> verifier = Verifier(program, lambda: ExactModel(program))
    >>> t = theta_ring(6).gens()
    >>> verifier.violation(t[0]**2 + t[1]**2 + t[2]**2 + t[3]**2), verifier.last
    (None, 'local')
    >>> verifier.violation(t[0]**2)[0], verifier.last
    ('output 1', 'exact')
    """

    def __init__(self, program: Program, exact):
        self.program = program
        self.exact = exact
        self.local = LocalCheck(program)
        self.last = None

    def violation(self, h):
        """None when h is a law (proved), else ``ExactModel.violation``'s answer."""
        if self.local.verify(h) is None:
            self.last = "local"
            return None
        self.last = "exact"
        return self.exact().violation(h)
