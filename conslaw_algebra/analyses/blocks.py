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
Where it stops winning: a law that needs three tensors at once (none for layered,
residual, convolutional or attention blocks) is not found; the verdict then says
the union is not complete.

>>> import conslaw_algebra as ca
>>> model = ca.parse("layers 3 -> 4 relu -> 3 relu -> 2")
>>> [b.tensors for b in block_laws(model, 2).blocks]
[('W1', 'W2'), ('W1', 'W3'), ('W2', 'W3')]
"""
from __future__ import annotations

from dataclasses import dataclass


from . import guards
from ..errors import BudgetError, UnsupportedError
from ..flows.system import apply_metric
from .laws import gradient_fields, independent_count, polynomial_laws
from ..language.program import Node, Program, TensorInfo
from ..progress import report
from ..language.expand import expand_features, theta_ring


def interactions(program: Program) -> list[tuple[str, ...]]:
    """Blocks: pairs of groups of parameter tensors that multiply each other.

    A group is a tensor added, alone and linearly, to a product, with the weights that
    product applies last (``W2 h + b2``: a bias goes with its layer's weights). Tensors that multiply nothing form a block alone.

    >>> import conslaw_algebra as ca
    >>> interactions(ca.parse("param a, b, c, d\\noutput a*b + c*d").program)
    [('a', 'b'), ('c', 'd')]
    """
    names = [p.name for p in program.params]
    parent = list(range(len(names)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

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
                members = sorted(frozenset().union(*(outer[a] for a in node.args))) if pure else []
                for m in members[1:]:
                    parent[find(m)] = find(members[0])
        depends.append(frozenset().union(*args) if args else frozenset())
    groups: dict[int, list[int]] = {}
    for i in range(len(names)):
        groups.setdefault(find(i), []).append(i)
    pairs = {tuple(sorted((find(a), find(b)))) for left, right in products
             for a in left for b in right if find(a) != find(b)}
    used = {g for pair in pairs for g in pair}
    blocks = [tuple(names[i] for i in sorted(groups[g] + groups[h])) for g, h in sorted(pairs)]
    blocks += [tuple(names[i] for i in groups[g]) for g in sorted(groups) if g not in used]
    return blocks


def freeze(program: Program, keep: set[str]) -> tuple[Program, list[int]]:
    """The program as a model of the tensors in ``keep`` alone.

    Every other parameter becomes data, and so does every intermediate value that
    depends on no kept tensor: it enters the block's computation as an opaque data
    tensor. Where a value of the block is multiplied by frozen weights and no other
    kept tensor enters afterwards, that value becomes a carrier of its own and the product opaque data (chain rule: a law
    orthogonal to the value's generators is orthogonal to everything computed from
    it). Both steps can only add generators, never remove one, so every law found is
    a law of the model, and the block's expansion stays the size of the block.
    Returns the program and, for each kept coordinate, its index in the whole model.

    >>> import conslaw_algebra as ca
    >>> model = ca.parse("layers 1 -> 2 relu -> 1")    # W1[0,0], W1[1,0], W2[0,0], W2[0,1]
    >>> block, coordinates = freeze(model.program, {"W2"})
    >>> [p.name for p in block.params], coordinates
    (['W2'], [2, 3])
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
    kept_of: list[frozenset] = []  # the kept tensors a node depends on
    for node in program.nodes:
        if node.op == "param":
            kept_of.append(frozenset([node.attr]) if node.attr in new_param else frozenset())
        else:
            kept_of.append(frozenset().union(*(kept_of[a] for a in node.args)) if node.args
                           else frozenset())
    later = list(kept_of)          # ... or that any value computed from it depends on
    for i in range(len(program.nodes) - 1, -1, -1):
        for a in program.nodes[i].args:
            later[a] = later[a] | later[i]
    involved: list[bool] = []      # depends on a kept tensor
    frozen: list[bool] = []        # depends on a frozen tensor
    mapped: list[int | None] = []
    cuts: list[tuple[int, str]] = []

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
            out.data.append(TensorInfo(name, node.shape, kind, out.num_data, window=window))
            opaque_nodes[old] = out.add(Node("data", (), node.shape, len(out.data) - 1))
        return opaque_nodes[old]

    for old, node in enumerate(program.nodes):
        args_in = [involved[a] for a in node.args]
        args_frozen = [frozen[a] for a in node.args]
        if node.op == "param":
            kept = node.attr in new_param
            involved.append(kept)
            frozen.append(not kept)
            mapped.append(out.add(Node("param", (), node.shape, new_param[node.attr])) if kept
                          else None)
        elif node.op == "data":
            involved.append(False)
            frozen.append(False)
            mapped.append(None)
        elif (node.op in ("mul", "matmul") and sum(args_in) == 1 and later[old] == kept_of[old]
              and any(f and not i for f, i in zip(args_frozen, args_in))):
            # a product of the block's value with frozen weights: by the chain rule, the
            # block's value itself carries the generators; downstream is data for the block
            inside = node.args[args_in.index(True)]
            cuts.append((mapped[inside], f"value entering frozen weights (node {old})"))
            involved.append(False)
            frozen.append(True)
            mapped.append(None)
        elif any(args_in):
            involved.append(True)
            frozen.append(any(args_frozen))
            mapped.append(out.add(Node(node.op, tuple(use(a) for a in node.args), node.shape,
                                       node.attr)))
        elif node.op == "const":
            involved.append(False)
            frozen.append(False)
            mapped.append(out.add(Node("const", (), node.shape, node.attr)))
        else:   # a value computed from data and frozen tensors only
            involved.append(False)
            frozen.append(any(args_frozen))
            mapped.append(None)
    out.carriers = [(mapped[c], label) for c, label in program.carriers if involved[c]] + cuts
    out.outputs = [mapped[o] for o in program.outputs if involved[o]]
    out.metrics = {new_param[i]: mapped[n] for i, n in program.metrics.items() if i in new_param}
    return out, kept_coordinates


@dataclass(frozen=True)
class Block:
    """The laws of one block of tensors (empty and ``skipped`` set when not solved).

    >>> Block(("a", "b"), ()).skipped is None
    True
    """

    tensors: tuple[str, ...]
    laws: tuple           # fmpq_mpoly in the whole model's variables t0..t{D-1}
    skipped: str | None = None   # why the block was not solved (its expansion is too large)


@dataclass(frozen=True)
class BlockLaws:
    """The laws of every block, their independent count and N of the whole model.

    >>> import conslaw_algebra as ca
    >>> block_laws(ca.parse("layers 1 -> 1 -> 1"), 2).complete
    True
    """

    blocks: tuple[Block, ...]
    independent: int      # of the union, gradient rank at a random point
    lie_laws: int | None  # N of the whole model (None when not counted)
    count_skipped: str | None = None   # why N was not counted (over the memory budget)

    @property
    def complete(self) -> bool:
        return self.lie_laws is not None and self.independent == self.lie_laws


def block_laws(model, degree: int = 2, count: bool = True, seed: int = 0,
               block_terms: int = 200_000) -> BlockLaws:
    """Polynomial laws of degree <= ``degree`` of every block, in the model's variables.

    A block whose expansion would exceed ``block_terms`` terms, or whose law system
    would exceed the memory budget, is skipped and says so; the completeness verdict
    compares the union with N of the whole model, when the count fits the budget
    (otherwise the blocks' laws are given without N, and ``count_skipped`` says why).

    >>> import conslaw_algebra as ca
    >>> result = block_laws(ca.parse("param a, b, c, d\\noutput a*b + c*d"), 2)
    >>> [[str(h) for h in b.laws] for b in result.blocks], result.independent, result.lie_laws
    ([['t0^2 - t1^2'], ['t2^2 - t3^2']], 2, 3)
    >>> result.complete          # the third law, a*d - b*c, joins the two blocks
    False
    """
    if model.flow.kind != "gradient":
        raise UnsupportedError("laws by block are computed for gradient flows")
    if model.flow.mirror:
        raise UnsupportedError("laws by block: write the mirror geometry as 'metric' lines")
    ring = theta_ring(model.dim)
    blocks = []
    pairs = interactions(model.program)
    for done, tensors in enumerate(pairs):
        report("laws by block", done, len(pairs))
        frozen, coordinates = freeze(model.program, set(tensors))
        try:
            guards.require(guards.laws_bytes(frozen, degree),
                           f"the degree-{degree} law system of this block", "it is skipped",
                           model.memory_budget)
            expansion = expand_features(frozen, max_terms=block_terms)
        except BudgetError as exc:
            blocks.append(Block(tuple(tensors), (), exc.message))
            continue
        distinct = list({f.terms: f.terms for f in expansion.features}.values())
        fields = apply_metric(gradient_fields(distinct), expansion.metric)
        local = polynomial_laws(fields, expansion.ring, degree)
        laws = tuple(ring.from_dict({_lift(exps, coordinates, model.dim): c
                                     for exps, c in h.terms()}) for h in local)
        blocks.append(Block(tuple(tensors), laws))
    union = [h for b in blocks for h in b.laws]
    independent = independent_count(union, model.dim, seed)
    lie, skipped = None, None
    if count:
        try:
            lie = model.lie_count(seed).laws
        except BudgetError as exc:
            skipped = exc.message
    return BlockLaws(tuple(blocks), independent, lie, skipped)


def _lift(exps, coordinates, dim) -> tuple:
    full = [0] * dim
    for e, j in zip(exps, coordinates):
        full[j] = e
    return tuple(full)



