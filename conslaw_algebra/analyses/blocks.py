"""Laws block by block: the laws that depend on a few parameter tensors only.

A law h(theta_B) that involves only the tensors of a block B is a law of the model in
which every other parameter is frozen into data: grad_B h must be orthogonal to
grad_B psi for all features psi, for all values of the other parameters, and those
gradients span exactly the generators of the frozen model (THEORY.md C: laws of a
block reduce to the block in isolation). So each block is solved as a model of its
own, far smaller than the whole one.
Blocks are the pairs of parameter groups that multiply each other somewhere in the
computation (a static pass over the program; a group is tensors added together while
linear, such as a layer's weights and bias), and groups that multiply no other. The
union of the blocks' laws is complete when its number of independent laws reaches N
of the whole model, which is then certified.
Every law is then checked again, exactly over QQ, against every generator of the
whole model before it is kept (``WholeModelCheck``): the derivative of each carrier of
the whole model along M grad h is computed symbolically and must vanish. This check
does not use the freezing above, only that a polynomial identity in free symbols
stays one when values are substituted for them: every value of the model that does
not depend on the block is one opaque symbol per entry, so nothing outside the block
is expanded, and once the derivative of a value vanishes identically everything
computed from it has a zero derivative without being expanded either. A law that
fails (none should) is dropped and reported. The check can also reject a true law
when the identity needs relations among the opaque values (none in layered,
attention or convolutional models); it never keeps a false one.
Small blocks (at most ``SAMPLED_UNKNOWNS`` unknown coefficients) are not expanded at
all: their law systems are sampled from the whole model's generators modulo p and
lifted (``_SampledBlocks``), and their laws checked as above (a law that is an exact
combination of laws already checked needs no check of its own). For the deep narrow
linear net 2 -> 2 -> ... -> 1 (measured with the count, on a busy machine; BENCHMARKS.md,
``--only deep-linear``): L = 16, 0.36 s against 14 s CPU when every block was expanded;
L = 32 (D = 130, 528 blocks, 96 laws = N) 1.2 s; L = 64 4.9 s. A block of two layers far
apart had every layer between them as data: 2^gap terms.
Models with normalization layers (``normalized.py``) have no features to freeze or
expand, so every block is sampled: rows at points of the variety s^2 q = 1 modulo p
(one point and data each), the kernel lifted to QQ, and every lifted law verified
exactly (the derivative of every output along grad h is 0 on the variety): by the
local check first (``local_check.py``, which expands only the values that move), else
by the reduction of ``normalized.ExactModel.violation``; a law that fails is dropped
and reported. Blocks of up to ``NORMALIZED_SAMPLED_UNKNOWNS`` unknowns (about 75
parameters at degree 2) are solved whole; larger ones are frozen (``freeze`` with
``cover``: only the normalizations the block reaches before its values meet frozen
weights remain) and searched among axis forms (``axis_forms.py``: the Gram, balance,
scale and column-sum laws of real layers), checked as above, and say that other laws
of theirs are not excluded. When the local check is inconclusive, the exact one
expands the whole model in (theta, x, s) once, and is refused at once when that
cannot fit. Measured on a 2-layer post-norm transformer of width 64 (D = 99,200):
see BENCHMARKS.md, "Issue 18 item 4".
Blocks as jobs: the blocks that are expanded share nothing (each is frozen, expanded,
solved and checked on its own, ``_solve_block``), so they run on local processes or a
Dask cluster (``guards.run_tasks``, the machinery of ``conslaw sweep``), assembled in
block order: the output does not depend on where they ran; so do the large blocks of a
normalized model (``_axis_job``: frozen and solved among axis forms, their laws then
checked here with the others). The small sampled blocks stay in the calling process
(they share one pool of samples and one basis of checked laws). With D from ``sparse.SPARSE_VARIABLES`` on, laws are ``SparseLaw`` dicts: FLINT
stores every exponent of the ring in each term. Measured on an MLP 64 -> 256 -> 256 ->
10 (D = 85,002; BENCHMARKS.md, "Issue 18 item 4"): the block of its last two layers
(68,362 parameters, 658,000 feature terms) solved in about 45 s and 1.5 GB, its 256
balance laws each verified against the whole model.
Where it stops winning: a law that needs three tensors at once (none for layered,
residual, convolutional or attention blocks) is not found; the verdict then says
the union is not complete. A block is one exact system in all its parameters: a block
of consecutive wide layers (82,000 parameters, 8.5 million field terms) exceeds a few
GB. With normalization layers, blocks of more than about 75 parameters are searched
among axis forms only, and a block whose every output depends on more than about 6
normalized groups has too few samples with all of them square (``axis_forms.DRAWS``).

>>> import conslaw_algebra as ca
>>> model = ca.parse("layers 3 -> 4 relu -> 3 relu -> 2")
>>> [b.tensors for b in block_laws(model, 2).blocks]
[('W1', 'W2'), ('W1', 'W3'), ('W2', 'W3')]
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import comb

import numpy as np
from flint import fmpq, fmpq_mpoly

from . import guards
from ..errors import BudgetError, UnsupportedError
from ..exact.modp import draw_prime, using
from ..exact.sparse import (SPARSE_VARIABLES, SparseLaw, Terms, add_into, derivatives,
                            ring_polynomial, sparse_terms)
from ..flows.system import exact_fields
from .laws import (_block_laws_modular, _law_key, _monomial_array, _order_key, independent_count,
                   polynomial_laws)
from .results import Shown
from ..language.modular import Evaluator
from ..language.program import Node, Program, TensorInfo
from ..progress import report
from ..language.expand import (Exact, entries, evaluate_node, expand_features, index_label,
                               parameter_tangent, tangent_step, theta_ring)


def interactions(program: Program) -> list[tuple[str, ...]]:
    """Blocks: pairs of groups of parameter tensors that multiply each other.

    A group is a tensor added, alone and linearly, to a product, with the weights that
    product applies last (``W2 h + b2``: a bias goes with its layer's weights). Tensors that multiply nothing form a block alone.

    >>> import conslaw_algebra as ca
    >>> interactions(ca.parse("param a, b, c, d\\noutput a*b + c*d").program)
    [('a', 'b'), ('c', 'd')]
    """
    from networkx.utils import UnionFind
    names = [p.name for p in program.params]
    groups = UnionFind(range(len(names)))

    theta, data = program.theta_degrees(), program.data_degrees()
    depends: list[frozenset] = []
    outer: list[frozenset] = []      # the weights applied last: W in W @ h, with h + b
    products: list[tuple[frozenset, frozenset]] = []
    for node in program.nodes:
        if node.op == "param":
            depends.append(frozenset([node.attr]))
            outer.append(frozenset([node.attr]))
            continue
        args = [depends[a] for a in node.args]
        if node.op in ("mul", "matmul"):
            products.append((args[0], args[1]))
            weights = [a for a in node.args if theta[a] and not data[a]]
            carried = [a for a in node.args if not theta[a]]
            top = weights if weights else ([a for a in node.args if a not in carried] if carried else [])
            outer.append(frozenset().union(*(outer[a] for a in top)) if top else frozenset())
        else:
            outer.append(frozenset().union(*(outer[a] for a in node.args)) if node.args else frozenset())
            if node.op in ("add", "sub"):
                pure = [a for a in node.args if theta[a] == 1 and not data[a]]
                if pure:
                    groups.union(*frozenset().union(*(outer[a] for a in node.args)))
        depends.append(frozenset().union(*args) if args else frozenset())
    first = {}                       # a group is named by its first tensor
    members: dict[int, list[int]] = {}
    for i in range(len(names)):
        first.setdefault(groups[i], i)
        members.setdefault(first[groups[i]], []).append(i)
    group = [first[groups[i]] for i in range(len(names))]
    pairs = {tuple(sorted((group[a], group[b]))) for left, right in products
             for a in left for b in right if group[a] != group[b]}
    used = {g for pair in pairs for g in pair}
    blocks = [tuple(names[i] for i in sorted(members[g] + members[h])) for g, h in sorted(pairs)]
    blocks += [tuple(names[i] for i in members[g]) for g in sorted(members) if g not in used]
    return blocks


def freeze(program: Program, keep: set[str], cover: bool = False) -> tuple[Program, list[int]]:
    """The program as a model of the tensors in ``keep`` alone.

    Every other parameter becomes data, and so does every intermediate value that
    depends on no kept tensor: it enters the block's computation as an opaque data
    tensor. Where a value of the block is multiplied by frozen weights and no other
    kept tensor enters afterwards, that value becomes a carrier of its own and the product opaque data (chain rule: a law
    orthogonal to the value's generators is orthogonal to everything computed from
    it). Both steps can only add generators, never remove one, so every law found is
    a law of the model, and the block's expansion stays the size of the block.
    A normalization's scales s (s^2 q = 1) move with their q: they stay scales of the
    block when q depends on a kept tensor. With ``cover``, a value computed from such
    carriers and opaque data alone (it depends on the kept tensors only through
    carriers) is opaque data too: its generators are combinations of the carriers',
    so it adds none, and the normalizations after it drop out of the block (a
    transformer's block of two adjacent tensors keeps the LayerNorm right after them
    instead of all of them). A product with frozen weights is not cut while another
    kept tensor enters later: the frozen factor can commute with the block's symmetry
    (attention weights mix tokens, the (V, O) laws act on features), and the laws
    coupling the two sides would be lost.
    Returns the program and, for each kept coordinate, its index in the whole model.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("layers 1 -> 2 relu -> 1")    # W1[0,0], W1[1,0], W2[0,0], W2[0,1]
    >>> block, coordinates = freeze(model.program, {"W2"})
    >>> [p.name for p in block.params], coordinates
    (['W2'], [2, 3])
    >>> model = ca.parse("param W[2,2], V[2,2]\\ninput x[2]\\n"
    ...                  "h = layernorm(W @ x)\\noutput layernorm(h + V @ h)")
    >>> [len(freeze(model.program, {"W"}, cover)[0].normalizations) for cover in (False, True)]
    [2, 1]
    >>> block, _ = freeze(model.program, {"W"}, cover=True)   # h carries everything after it
    >>> [label for _, label in block.carriers]
    ['value entering frozen weights (node 21)']
    """
    out = Program()
    new_param: dict[int, int] = {}
    kept_coordinates: list[int] = []
    for index, info in enumerate(program.params):
        if info.name in keep:
            new_param[index] = len(out.params)
            out.params.append(TensorInfo(info.name, info.shape, "param", out.num_params,
                                         coordinate=info.coordinate))
            kept_coordinates.extend(range(info.offset, info.offset + info.size))
    scale_of = {i: program.sources[node.attr][1] for i, node in enumerate(program.nodes)
                if node.op == "data" and program.data[node.attr].kind == "norm"}

    def inputs(i: int) -> tuple:
        """What node i is computed from: its arguments, or a scale's q."""
        return (scale_of[i],) if i in scale_of else program.nodes[i].args

    kept_of: list[frozenset] = []  # the kept tensors a node depends on
    for i, node in enumerate(program.nodes):
        if node.op == "param":
            kept_of.append(frozenset([node.attr]) if node.attr in new_param else frozenset())
        else:
            kept_of.append(frozenset().union(*(kept_of[a] for a in inputs(i))) if inputs(i)
                           else frozenset())
    later = list(kept_of)          # ... or that any value computed from it depends on
    for i in range(len(program.nodes) - 1, -1, -1):
        for a in inputs(i):
            later[a] = later[a] | later[i]
    involved: list[bool] = []      # depends on a kept tensor
    frozen: list[bool] = []        # depends on a frozen tensor
    cut_at: dict[int, int] = {}    # a product with frozen weights -> the block's value in it
    for old, node in enumerate(program.nodes):
        args_in = [involved[a] for a in inputs(old)]
        args_frozen = [frozen[a] for a in inputs(old)]
        if node.op == "param":
            involved.append(node.attr in new_param)
            frozen.append(node.attr not in new_param)
        elif (node.op in ("mul", "matmul") and sum(args_in) == 1 and later[old] == kept_of[old]
              and any(f and not i for f, i in zip(args_frozen, args_in))):
            # a product of the block's value with frozen weights: by the chain rule, the
            # block's value itself carries the generators; downstream is data for the block
            cut_at[old] = node.args[args_in.index(True)]
            involved.append(False)
            frozen.append(True)
        else:
            involved.append(any(args_in))
            frozen.append(any(args_frozen))
    anchors = set(cut_at.values())
    covered = [False] * len(program.nodes)
    if cover:
        for old, node in enumerate(program.nodes):
            if involved[old] and node.op != "param":
                covered[old] = all(not involved[a] or covered[a] or a in anchors
                                   for a in inputs(old))
    live = [i and not c for i, c in zip(involved, covered)]
    mapped: list[int | None] = []
    opaque_nodes: dict[int, int] = {}

    def use(old: int) -> int:
        """The new node for an old one; data made only when a kept value uses it."""
        if mapped[old] is not None:
            return mapped[old]
        if old not in opaque_nodes:
            node = program.nodes[old]
            name, kind, window = f"frozen{old}", "input", 0
            if node.op == "data":   # data keeps its name and kind (gates stay gates, windows whole)
                info = program.data[node.attr]
                name, kind, window = info.name, info.kind, info.window
                kind = "input" if kind == "norm" else kind   # a scale fixed outside the block
            out.data.append(TensorInfo(name, node.shape, kind, out.num_data, window=window))
            opaque_nodes[old] = out.add(Node("data", (), node.shape, len(out.data) - 1))
        return opaque_nodes[old]

    for old, node in enumerate(program.nodes):
        if node.op == "const":
            mapped.append(out.add(Node("const", (), node.shape, node.attr)))
        elif not live[old]:
            mapped.append(None)
        elif node.op == "param":
            mapped.append(out.add(Node("param", (), node.shape, new_param[node.attr])))
        elif old in scale_of:     # a scale of the block: its q is the block's
            info = program.data[node.attr]
            out.data.append(TensorInfo(info.name, info.shape, "norm", out.num_data))
            out.sources[len(out.data) - 1] = ("rsqrt", mapped[scale_of[old]], None)
            out.normalizations[len(out.data) - 1] = program.normalizations[node.attr]
            mapped.append(out.add(Node("data", (), node.shape, len(out.data) - 1)))
        else:
            mapped.append(out.add(Node(node.op, tuple(use(a) for a in node.args), node.shape,
                                       node.attr)))
    cuts = [(mapped[inside], f"value entering frozen weights (node {old})")
            for old, inside in cut_at.items() if live[inside]]
    out.carriers = [(mapped[c], label) for c, label in program.carriers if live[c]] + cuts
    out.outputs = [mapped[o] for o in program.outputs if live[o]]
    out.metrics = {new_param[i]: mapped[n] for i, n in program.metrics.items() if i in new_param}
    return out, kept_coordinates


class _TooLarge(Exception):
    pass


class WholeModelCheck:
    """Exact check of laws in the parameters of some tensors against the whole model.

    ``violation(h)`` is None when <grad h, M grad psi> = 0 for every feature psi of the
    whole model (M the metric), else the carrier entry where it fails. The
    derivative along v = M grad h of every carrier entry F is computed forward
    through the program, as a polynomial in the kept parameters, the data and one
    opaque symbol per entry of each value that does not depend on the kept tensors;
    F's features are its coefficients of data monomials, so v(F) = 0 identically
    says exactly that every one of them conserves h. Values are expanded only where
    a derivative needs them, and a check that would expand more than ``max_terms``
    terms fails with that reason.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("param a, b, c\\ninput x\\noutput a*b*x + c*x")
    >>> check = WholeModelCheck(model.program, ("a", "b"))
    >>> a, b, c = theta_ring(3).gens()
    >>> check.violation(a**2 - b**2) is None, check.violation(a**2)
    (True, 'output 1: its derivative along grad h is 2*t0*t1*x (not zero)')
    """

    def __init__(self, program: Program, tensors, max_terms: int = 2_000_000):
        self.program = program
        self.max_terms = max_terms
        self.terms = 0            # of the values kept
        self.moving = 0           # of the derivatives of the law being checked
        kept = {i for i, p in enumerate(program.params) if p.name in tensors}
        self.coordinates = {j for i in kept for j in range(program.params[i].offset,
                                                            program.params[i].offset
                                                            + program.params[i].size)}
        self.depends: list[bool] = []
        for node in program.nodes:
            self.depends.append(node.attr in kept if node.op == "param"
                                else any(self.depends[a] for a in node.args))
        dim = program.num_params
        self.gates = {dim + info.offset + k for info in program.data if info.kind == "gate"
                      for k in range(info.size)}
        self.next_symbol = dim + program.num_data
        self.values: dict[int, np.ndarray] = {}

    def violation(self, h) -> str | None:
        """None when every generator of the whole model conserves h, else where it fails.

        ``h``: an fmpq_mpoly in t0..t{D-1}, or its sparse terms (``sparse.sparse_terms``).
        """
        program = self.program
        terms = sparse_terms(h) if isinstance(h, fmpq_mpoly) else h
        derivative = {j: Terms(d) for j, d in derivatives(terms).items()}
        outside = sorted(j for j in derivative if j not in self.coordinates)
        if outside:
            return f"involves parameters outside its block (variables {outside})"
        self.moving = 0
        try:
            speed = self._speed(derivative)
            found: dict[int, np.ndarray | None] = {}
            for i, node in enumerate(program.nodes):
                if self.depends[i]:
                    found[i] = self._derivative(i, node, speed, found)
            for carrier, label in program.carriers:
                value = found.get(carrier)
                for flat, entry in enumerate(entries(value) if value is not None else ()):
                    entry = self._reduce_gates(entry)
                    if entry:
                        shape = program.nodes[carrier].shape
                        where = label + (index_label(flat, shape) if shape else "")
                        return (f"{where}: its derivative along grad h is "
                                f"{self._text(entry)} (not zero)")
        except _TooLarge:
            return f"not verified: the check would expand more than {self.max_terms:,} terms"
        return None

    # ------------------------------------------------------------------ values
    def _count(self, value: np.ndarray, kept: bool = True) -> np.ndarray:
        """Count the terms of a value (kept for every law) or of a derivative (one law's,
        dropped after it): the limit is on the values plus one law's derivatives."""
        size = sum(len(p) for p in value.reshape(-1))
        if kept:
            self.terms += size
        else:
            self.moving += size
        if self.terms + self.moving > self.max_terms:
            raise _TooLarge
        return value

    def _value(self, i: int) -> np.ndarray:
        """The value of node i: expanded where it depends on the kept tensors."""
        if i in self.values:
            return self.values[i]
        node = self.program.nodes[i]
        if self.depends[i] or node.op in ("param", "data", "const"):
            value = evaluate_node(self.program, i, {a: self._value(a) for a in node.args})
        else:                     # a value of the rest of the model: one symbol per entry
            value = Exact.symbols(self.next_symbol, node.shape)
            self.next_symbol += node.size
        self.values[i] = self._count(value)
        return value

    def _speed(self, derivative: dict) -> dict[int, Terms]:
        """v_j = M_j * dh/dt_j, for the coordinates j that h involves."""
        program = self.program
        speed = {}
        for j, dh in derivative.items():
            index = next(k for k, p in enumerate(program.params)
                         if p.offset <= j < p.offset + p.size)
            if index in program.metrics:
                value = entries(self._value(program.metrics[index]))
                dh = (value[0] if len(value) == 1 else value[j - program.params[index].offset]) * dh
            speed[j] = dh
        return speed

    # ------------------------------------------------------------- derivatives
    def _derivative(self, i, node, speed, found) -> np.ndarray | None:
        """v(value of node i), entry by entry; None when identically zero."""
        program = self.program
        op = node.op
        if op == "param":
            return parameter_tangent(program, node, speed)
        parts = [found.get(a) if self.depends[a] else None for a in node.args]
        if all(part is None for part in parts):
            return None
        out = tangent_step(program, node, parts, self._value)
        if out is None:
            return None
        out = self._count(out, kept=False)
        return out if any(out.reshape(-1)) else None

    def _reduce_gates(self, entry: dict) -> dict:
        """A ReLU gate is 0 or 1, so gate^2 = gate: merge such monomials."""
        if not self.gates:
            return entry
        out: dict = {}
        for monomial, c in entry.items():
            reduced = tuple(v for k, v in enumerate(monomial)
                            if not (k and v == monomial[k - 1] and v in self.gates))
            add_into(out, reduced, c)
        return out

    def _text(self, entry: dict) -> str:
        names = {}
        dim = self.program.num_params
        for info in self.program.data:
            for k, name in enumerate(info.entry_names()):
                names[dim + info.offset + k] = name
        terms = []
        for monomial, c in sorted(entry.items())[:4]:
            factors = [f"t{v}" if v < dim else names.get(v, f"y{v - dim}") for v in monomial]
            terms.append("*".join(([str(c)] if c != 1 or not factors else []) + factors))
        more = f" + ... ({len(entry)} terms)" if len(entry) > 4 else ""
        return " + ".join(terms) + more


@dataclass(frozen=True)
class Block:
    """The laws of one block of tensors (empty and ``skipped`` set when not solved).

    ``rejected``: laws the block's system gave that failed the whole-model check, with
    the reason (none is expected).

    >>> Block(("a", "b"), ()).skipped is None
    True
    """

    tensors: tuple[str, ...]
    laws: tuple           # fmpq_mpoly in the model's variables t0..t{D-1} (SparseLaw from
    #                       SPARSE_VARIABLES variables on)
    skipped: str | None = None   # why the block was not solved (its expansion is too large)
    rejected: tuple = ()  # (law, reason) pairs
    searched: str | None = None  # set when only some forms were searched (``axis_forms``)


@dataclass(frozen=True)
class BlockLaws(Shown):
    """The laws of every block, their independent count and N of the whole model.

    >>> import conslaw_algebra as ca
    >>> result = block_laws(ca.parse("layers 1 -> 1 -> 1"), 2)
    >>> result.complete, result.to_text().splitlines()[2]
    (True, '  h1 = W1[0,0]^2 - W2[0,0]^2')
    """

    blocks: tuple[Block, ...]
    independent: int      # of the union, gradient rank at a random point
    lie_laws: int | None  # N of the whole model (None when not counted)
    prime: int | None = None   # of the gradient rank and of the count
    seed: int = 0
    model: str = ""       # the model's name
    degree: int = 2
    names: tuple[str, ...] = ()   # text names of the parameters
    count_skipped: str | None = None   # why N was not counted (over the memory budget)
    normalized: bool = False   # laws verified on the variety s^2 q = 1, by exact reduction
    count_unbounded: str | None = None   # why the count's N is not certified (``LieCount``)

    @property
    def complete(self) -> bool:
        return self.lie_laws is not None and self.independent == self.lie_laws


# Blocks are expanded up to this many terms. A larger one costs more than it usually
# adds: in the attention + MLP block of the benchmarks (D = 2,048) the (V, W2) block has
# 4.2 million terms and took 55 s and 2.7 GB for no law beyond the others' (176 = N
# without it); the largest block the MLP of D = 85,002 needs has 658,000
BLOCK_TERMS = 1_000_000


def block_laws(model, degree: int = 2, count: bool = True, seed: int = 0,
               block_terms: int = BLOCK_TERMS, jobs: int | None = 1, scheduler=None) -> BlockLaws:
    """Polynomial laws of degree <= ``degree`` of every block, in the model's variables.

    A block whose expansion would exceed ``block_terms`` terms, or whose law system
    would exceed the memory budget, is skipped and says so; the completeness verdict
    compares the union with N of the whole model, when the count fits the budget
    (otherwise the blocks' laws are given without N, and ``count_skipped`` says why).
    The blocks that are expanded are independent jobs (``_solve_block``): ``jobs`` local
    processes (None: all cores) run them side by side while their memory estimates
    together fit the budget (less the count's, which runs meanwhile here), or ``scheduler`` (a Dask address or client, as for
    ``conslaw sweep``) sends them to a cluster; the result is the same either way
    (blocks are assembled in their order, and nothing in a block depends on the others).

    >>> import conslaw_algebra as ca
    >>> result = block_laws(ca.parse("param a, b, c, d\\noutput a*b + c*d"), 2)
    >>> [[str(h) for h in b.laws] for b in result.blocks], result.independent, result.lie_laws
    ([['t0^2 - t1^2'], ['t2^2 - t3^2']], 2, 3)
    >>> result.complete          # the third law, a*d - b*c, joins the two blocks
    False
    """
    normalized = getattr(model, "normalized", False)
    if model.flow.momentum:
        raise UnsupportedError("laws by block are computed for gradient flows")
    guards.deep_stack()       # the laws are polynomials in all D variables of the model
    if normalized and (model.flow.mirror or model.program.metrics):
        from .normalized import call_place
        function, line, column = call_place(model.program)
        raise UnsupportedError(f"{function}(): laws by block of a model with normalization "
                               "layers are computed for the plain gradient flow (no metric, "
                               "no mirror)", file=model.ast.source_name, line=line, column=column)
    program = _mirror_as_metric(model.program, model.flow.mirror)
    flow = replace(model.flow, mirror=())       # the program now carries the mirror itself
    ring = theta_ring(model.dim)
    pairs = [tuple(tensors) for tensors in interactions(program)]
    blocks: list[Block | None] = [None] * len(pairs)

    def law(terms):     # many variables: kept sparse (FLINT stores every exponent per term)
        if model.dim >= SPARSE_VARIABLES:
            return SparseLaw({tuple(sorted(index)): fmpq(c) for index, c in dict(terms).items()})
        return ring_polynomial(ring, terms)

    sampled = _SampledBlocks(model, program, pairs, degree, seed, normalized)
    candidates = {}
    for done, tensors in enumerate(pairs):
        report("laws of small blocks, from samples", done, len(pairs))
        found = sampled.laws(tensors)
        if found is not None:
            candidates[tensors] = found
    searched: dict[tuple, str] = {}     # normalized blocks too large to sample whole
    large = [t for t in pairs if normalized and t not in candidates
             and t not in sampled.failed_lift]
    if large:           # independent jobs, as the expanded blocks below
        finished_axis = [0]

        def axis_arrived(index, outcome):
            finished_axis[0] += 1
            report("laws of large blocks, among axis forms", finished_axis[0], len(large))

        outcomes = guards.run_tasks(
            _axis_job, [(program, tensors, seed, model.memory_budget) for tensors in large],
            jobs=jobs, scheduler=scheduler, on_result=axis_arrived,
            weights=[_axis_bytes(program, tensors) for tensors in large],
            capacity=guards.memory_budget(model.memory_budget))
        for tensors, (why, found) in zip(large, outcomes):
            searched[tensors] = why
            if found is not None:
                candidates[tensors] = found
    passed = sampled.check(candidates)
    expanded, weights = [], []     # (position, job) of the blocks to expand, their estimates
    for k, tensors in enumerate(pairs):
        if tensors in passed:
            rejected = sampled.rejected.get(tensors, [])
            blocks[k] = Block(tensors, tuple(law(h) for h in candidates[tensors]
                                             if all(h is not r for r, _ in rejected)),
                              rejected=tuple((law(r), why) for r, why in rejected),
                              searched=searched.get(tensors))
        elif normalized:     # no features to expand: the sampled laws are all there is
            blocks[k] = Block(tensors, (), searched.get(tensors) or sampled.why_not(tensors))
        else:
            frozen, coordinates = freeze(program, set(tensors))
            estimate = guards.laws_bytes(frozen, degree)
            try:
                guards.require(estimate, f"the degree-{degree} law system of this block",
                               "it is skipped", model.memory_budget)
            except BudgetError as exc:
                blocks[k] = Block(tensors, (), exc.message)
                continue
            expanded.append((k, (program, frozen, coordinates, tensors, flow, degree, block_terms)))
            weights.append(estimate)
    finished = [0]
    counted: dict = {"lie": None, "skipped": None}

    def arrived(index, outcome):
        finished[0] += 1
        report("laws of blocks, expanded", finished[0], len(expanded))

    def count_meanwhile():     # N of the whole model, in this process while blocks run
        try:
            counted["lie"] = model.lie_count(seed)
        except BudgetError as exc:
            counted["skipped"] = exc.message
        except guards.TimeLimitError as exc:   # estimated past --timeout: the blocks stand
            if guards.past_deadline():
                raise
            counted["skipped"] = str(exc)
        except UnsupportedError as exc:   # normalized: no points of the variety to count at
            if not normalized:
                raise
            counted["skipped"] = exc.message

    capacity = guards.memory_budget(model.memory_budget)
    if count:                  # the count runs beside the blocks: its share of the budget
        capacity -= guards.count_bytes(program, False)
    outcomes = guards.run_tasks(_solve_block, [job for _, job in expanded], jobs=jobs,
                                scheduler=scheduler, on_result=arrived, weights=weights,
                                capacity=max(capacity, 0),
                                meanwhile=count_meanwhile if count else None)
    for (k, _), (skipped, laws, rejected) in zip(expanded, outcomes):
        blocks[k] = Block(pairs[k], tuple(law(h) for h in laws), skipped,
                          tuple((law(h), why) for h, why in rejected))
    union = [h for b in blocks for h in b.laws]
    lie, skipped = counted["lie"], counted["skipped"]
    prime = lie.prime if lie is not None else None
    independent = independent_count(union, model.dim, seed, prime)
    return BlockLaws(tuple(blocks), independent, lie.laws if lie is not None else None, prime, seed,
                     model.name, degree, tuple(model.names), skipped, normalized,
                     lie.bound_unproved if lie is not None else None)


AXIS_SEARCH = "among axis forms"
AXIS_FORMS = ("axis forms: sums, over the other indices of a tensor, of one slice, of its "
              "square or of the product of two slices (one axis at a time); other laws of "
              "the blocks searched among them are not excluded")


def _axis_job(job) -> tuple[str, list | None]:
    """A block of a normalized model too large to sample whole, a job of its own (local
    process or Dask worker): (``AXIS_SEARCH``, its laws among axis forms, not yet
    verified: the caller checks them with the others), or (why it was not solved, None).

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("param W[3,2], V[2,3]\\ninput x[2]\\noutput V @ layernorm(W @ x)")
    >>> why, laws = _axis_job((model.program, ("W",), 0, None))
    >>> why, len(laws)            # ||W||^2 and W's two column sums
    ('among axis forms', 3)
    """
    from .axis_forms import axis_form_laws
    program, tensors, seed, budget = job
    try:
        guards.require(_axis_bytes(program, tensors), "the axis-form system of this block",
                       "it is skipped", budget)
        frozen, coordinates = freeze(program, set(tensors), cover=True)
        return AXIS_SEARCH, axis_form_laws(frozen, coordinates, seed)
    except BudgetError as exc:
        return exc.message, None
    except UnsupportedError as exc:   # its normalizations' variances are rarely all squares
        return f"no sample to solve it from: {exc.message}", None
    except ArithmeticError:
        return "its sampled laws did not lift to QQ", None


def _axis_bytes(program: Program, tensors) -> int:
    """About what ``_axis_job`` holds, its weight as a job and its check against the
    budget: its square system (two unknowns per index of every axis, twice as many
    rows, working copies) and a batch of gradients."""
    sizes = [p for p in program.params if p.name in tensors]
    unknowns = 2 * sum(sum(p.shape or (1,)) for p in sizes)
    return 8 * (8 * unknowns * unknowns + 4 * 512 * sum(p.size for p in sizes))


def _solve_block(job) -> tuple[str | None, list[dict], list[tuple[dict, str]]]:
    """One expanded block, a job of its own (run in another process or on a Dask worker):
    (why it was skipped or None, its laws, its laws that failed the whole-model check
    with the reason), each law {variable indices of the whole model: fmpq}.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("param a, b, c\\ninput x\\noutput a*b*x + c*x")
    >>> frozen, coordinates = freeze(model.program, {"a", "b"})
    >>> _solve_block((model.program, frozen, coordinates, ("a", "b"), model.flow, 2, 1000))
    (None, [{(0, 0): 1, (1, 1): -1}], [])
    """
    return guards.on_deep_stack(_solve_here, job)


def _solve_here(job):
    program, frozen, coordinates, tensors, flow, degree, block_terms = job
    try:
        expansion = expand_features(frozen, max_terms=block_terms)
    except BudgetError as exc:
        return exc.message, [], []
    fields = exact_fields(frozen, flow, expansion, distinct=True)
    check = WholeModelCheck(program, set(tensors))
    laws, rejected = [], []
    for h in polynomial_laws(fields, expansion.ring, degree, as_terms=True):
        terms = {tuple(sorted(coordinates[v] for v in index)): c for index, c in h.items()}
        why = check.violation(list(terms.items()))
        (laws.append(terms) if why is None else rejected.append((terms, why)))
    return None, laws, rejected


def _mirror_as_metric(program: Program, mirror) -> Program:
    """The mirror geometry of gradient flow on tensors U, ... as the metric lines
    ``metric U = U`` (M = diag(theta) on their entries, the same flow, DSL.md): the
    blocks then carry it as they carry any metric.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("param U[2,1], V[1,2]\\noutput U @ V\\nflow gradient mirror U, V")
    >>> program = _mirror_as_metric(model.program, model.flow.mirror)
    >>> {i: program.nodes[n].op for i, n in program.metrics.items()}
    {0: 'param', 1: 'param'}
    """
    if not mirror:
        return program
    nodes = {node.attr: i for i, node in enumerate(program.nodes) if node.op == "param"}
    metrics = dict(program.metrics)
    for index, info in enumerate(program.params):
        if info.name in mirror and index in nodes:   # a tensor used nowhere needs none
            metrics[index] = nodes[index]
    return replace(program, metrics=metrics)


class _SampledBlocks:
    """Small blocks solved from samples of the whole model's generators, not expanded.

    The unknowns of a block are its monomials of degree 1..k (at most
    ``SAMPLED_UNKNOWNS``); each row is <grad h(theta), v(theta)> = 0 modulo p for a
    random point and a random generator v of the whole model (``modular``: no feature
    is listed). The kernel modulo p holds every law of the block (its saturated lattice
    keeps its rank modulo p); its reduced echelon basis is lifted to QQ and every lifted
    law must pass ``WholeModelCheck``: then they are all the block's laws, the same
    basis as the expansion gives. A block whose lift fails is expanded as before.
    Why: a block of two layers far apart in a deep chain has every layer between them
    as data, and its features are products of those data matrices: 2^gap terms. The
    samples cost one evaluation of the whole model each, whatever the gap.
    """

    def __init__(self, model, program: Program, pairs, degree: int, seed: int,
                 normalized: bool = False):
        self.model, self.degree, self.seed = model, degree, seed
        self.program = program            # the model's, with a mirror written as metrics
        self.normalized = normalized      # points on the variety s^2 q = 1, exact reduction
        self.limit = NORMALIZED_SAMPLED_UNKNOWNS if normalized else SAMPLED_UNKNOWNS
        self.pool = None
        self.basis: dict[tuple, dict] = {}   # checked laws, reduced: pivot monomial -> law
        self.failed_lift: set = set()
        self.rejected: dict[tuple, list] = {}  # normalized: (law, reason) failing the check
        self.unavailable: str | None = None   # why no pool of samples could be drawn
        sizes = [comb(self._size(t) + degree, degree) - 1 for t in pairs]
        self.samples = min(self.limit, max(sizes, default=0)) + _MARGIN

    def _reduce(self, h: dict) -> dict:
        """h minus its combination of the checked laws (``basis``: one per pivot monomial,
        exact over QQ); empty when h is in their span."""
        h = dict(h)
        for pivot, law in self.basis.items():
            factor = h.get(pivot)
            if factor:
                for m, c in law.items():
                    value = h.get(m, 0) - factor * c
                    if value:
                        h[m] = value
                    else:
                        h.pop(m, None)
        return h

    def _size(self, tensors) -> int:
        return sum(p.size for p in self.program.params if p.name in tensors)

    def _draw(self):
        if self.normalized:
            return self._draw_on_variety()
        system = self.model.system
        self.prime, _ = draw_prime(self.seed, system.denominators)
        with using(self.prime):
            rng = np.random.default_rng([self.seed, 0x626C6F63])
            dim = system.dim
            theta = np.ones((self.samples, dim + 1), dtype=np.int64)
            theta[:, :dim] = rng.integers(1, self.prime, (self.samples, dim))
            value = np.zeros((self.samples, dim + 1), dtype=np.int64)
            value[:, :dim] = system.generators(rng, self.samples).eval(
                theta[None, :, :dim])[0]
        self.pool = theta, value

    def laws(self, tensors):
        """The block's laws, lifted but not yet checked ({monomial: fmpq}, in the order of
        ``polynomial_laws``), or None (the block is not small, or a lift failed)."""
        coordinates = [j for p in self.program.params if p.name in tensors
                       for j in range(p.offset, p.offset + p.size)]
        if comb(len(coordinates) + self.degree, self.degree) - 1 > self.limit:
            return None
        if self.pool is None:
            if self.unavailable:
                return None
            try:
                self._draw()
            except UnsupportedError as exc:   # no points of the variety: nothing to sample
                self.unavailable = exc.message
                return None
        dim = self.program.num_params
        local = _monomial_array(len(coordinates), self.degree)
        monomials = np.append(np.array(coordinates, dtype=np.int64), dim)[local]
        unknowns = {i: tuple(int(v) for v in m if v < dim) for i, m in enumerate(monomials)}
        theta, value = self.pool
        with using(self.prime):
            found = _block_laws_modular(np.arange(len(monomials)), monomials, unknowns, theta,
                                        value, _MARGIN, lambda h: True)
        if found is None:
            self.failed_lift.add(tuple(tensors))
            return None
        found.sort(key=lambda law: _law_key(law, unknowns))
        return [{unknowns[c]: fmpq(v) for c, v in law.items()} for law in found]

    def _draw_on_variety(self):
        """The pool for a model with normalization layers: each row at its own point of
        the variety s^2 q = 1 modulo p (theta and data drawn until every q is a nonzero
        square, ``modular.Evaluator.admissible``), the generator there grad Phi."""
        program = self.program
        self.prime, _ = draw_prime(self.seed, sorted({
            n.attr.denominator for n in program.nodes
            if n.op == "const" and n.attr.denominator > 1}))
        with using(self.prime):
            rng = np.random.default_rng([self.seed, 0x626C6F63, 1])
            evaluator = Evaluator(program)
            dim = program.num_params
            points, sample = evaluator.admissible(rng, self.samples)
            theta = np.ones((self.samples, dim + 1), dtype=np.int64)
            theta[:, :dim] = points[0]
            value = np.zeros((self.samples, dim + 1), dtype=np.int64)
            value[:, :dim] = evaluator.gradient(points, sample)[0]
        self.pool = theta, value

    def why_not(self, tensors) -> str:
        """Why a block of a normalized model has no laws listed (it was not sampled)."""
        if tensors in self.failed_lift:
            return "its sampled laws did not lift to QQ"
        unknowns = comb(self._size(tensors) + self.degree, self.degree) - 1
        if unknowns <= self.limit and self.unavailable:
            return f"no sample to solve it from: {self.unavailable}"
        return (f"{unknowns:,} unknown coefficients, over the {self.limit:,} sampled for a "
                "model with normalization layers, which has no features to expand")

    def check(self, candidates: dict) -> set:
        """The blocks (keys of ``candidates``: tensors -> laws as {monomial: fmpq}) whose
        laws all pass ``WholeModelCheck``. A law in the span of laws already checked is a
        law without a check of its own (exact reduction over QQ); the laws with fewest
        terms are checked first, so that wide combinations (norms of layers far apart,
        whose check expands everything between them) are reached as combinations."""
        failed = set()
        checks: dict = {}
        queue = sorted(((len(h), k, i) for k, laws in enumerate(candidates.values())
                        for i, h in enumerate(laws)))
        blocks = list(candidates)
        for done, (_, k, i) in enumerate(queue):
            report("verifying the blocks' laws exactly", done, len(queue))
            tensors = blocks[k]
            if tensors in failed:
                continue
            h = candidates[tensors][i]
            rest = self._reduce(h)
            if not rest:
                continue
            if self.normalized:        # exact: reduced by s^2 q = 1 (normalized.py)
                dim = self.program.num_params
                try:
                    why = self.model.law_verifier.violation(
                        list(h.items()) if dim >= SPARSE_VARIABLES
                        else ring_polynomial(theta_ring(dim), h))
                except BudgetError as exc:   # local check inconclusive, no room to expand
                    self.rejected.setdefault(tensors, []).append(
                        (h, "not verified: the local check was inconclusive and "
                            f"{exc.message}"))
                    continue
                if why is not None:
                    self.rejected.setdefault(tensors, []).append(
                        (h, f"its derivative along {why[0]} is not 0 on the variety"))
                    continue
            else:
                if tensors not in checks:
                    checks[tensors] = WholeModelCheck(self.program, set(tensors))
                if checks[tensors].violation(list(h.items())) is not None:
                    failed.add(tensors)
                    continue
            pivot = max(rest, key=_order_key)
            self.basis[pivot] = {m: c / rest[pivot] for m, c in rest.items()}
        return set(blocks) - failed


SAMPLED_UNKNOWNS = 300     # blocks with at most this many unknown coefficients are sampled
# with normalization layers nothing else can solve a block (no features to expand): the
# sampled system is one dense matrix modulo p, rows x unknowns, each row one evaluation
# of the whole model's gradient at its own point of the variety
NORMALIZED_SAMPLED_UNKNOWNS = 3_000
_MARGIN = 8
