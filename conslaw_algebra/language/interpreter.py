"""One interpreter of a compiled Program, parameterised by its arithmetic.

A Program (``program.py``) is a list of tensor operations in topological order, so
evaluating it is one forward loop and differentiating it is one reverse loop over the
same list (reverse mode: the adjoint of every node, from the adjoints of the nodes that
use it). Both loops are written once, here; what a value is and how two values add and
multiply is the arithmetic's business:

- ``modular.Jets``: int64 residues modulo the working prime on truncated jets, values
  of shape (2^k, batch, *shape): the exact evaluator behind every count and the
  compiler's fingerprints of arguments;
- ``floating.Floats``: float64, values of shape (batch, *shape), gates computed from
  their arguments: the model on real numbers, for simulation;
- ``expand.Exact``: object arrays of sparse polynomials over QQ, shape (1, *shape): the
  features listed exactly (forward only), and the exact check of ``blocks.py``.

An arithmetic gives the leading axes of its values (``lead``), ``add``, ``subtract``,
``multiply``, ``negate``, ``matmul``, ``times`` (an integer multiple), ``power``,
``total`` (sum of the trailing ``rank`` axes), ``broadcast`` (scalars to a common
leading shape, for ``stack``) and ``scatter`` (a tensor's adjoint from adjoints of some
of its entries). Leaves (parameters, data, constants) come from the caller, which knows
where its parameters and data live, and so does the start of the reverse pass (which
nodes carry which adjoint).
Where it stops winning: the loops are Python over nodes, one numpy call or a few per
node, so a program of very many tiny nodes (convolutions lowered to scalar entries)
pays Python's overhead per node, whatever the arithmetic.

>>> import numpy as np
>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> from conslaw_algebra.language.floating import Floats
>>> prog, _ = compile_program(parse("param a, b\\noutput a * b * b"))
>>> run = Interpreter(prog, Floats())
>>> values = run.forward(lambda i, node, values: np.array([[2.0, 3.0][node.attr]]))
>>> float(values[-1][0])                              # a b^2 at (2, 3)
18.0
>>> adjoints = run.backward(values, [(prog.outputs[0], np.array([1.0]))])
>>> [float(adjoints[i][0]) for i in (0, 1)]           # (b^2, 2 a b)
[9.0, 12.0]
"""
from __future__ import annotations

import numpy as np

from .program import Program

LEAVES = ("param", "data", "const")


class Arithmetic:
    """numpy's own operations, with one leading batch axis: right as they are for floats,
    and for object arrays, whose entries bring their own + and * (``expand.Exact``).
    An arithmetic overrides what differs (``modular.Jets`` overrides everything) and
    gives ``total``, ``broadcast`` and, when it has a reverse pass, ``scatter``."""

    lead = 1
    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    multiply = staticmethod(np.multiply)
    negate = staticmethod(np.negative)
    matmul = staticmethod(np.matmul)
    times = staticmethod(np.multiply)
    power = staticmethod(np.power)

    @staticmethod
    def settle(value):
        """A value after a plain numpy sum (the modular arithmetic reduces it)."""
        return value

    @staticmethod
    def broadcast(scalars):
        """Scalars (batch,) to one batch size."""
        batch = max(a.shape[0] for a in scalars)
        return [np.broadcast_to(a, (batch,)) for a in scalars]


def lift(value: np.ndarray, rank: int) -> np.ndarray:
    """Give a batch of scalars trailing unit axes so it broadcasts against a tensor.

    >>> lift(np.zeros((2, 3)), 2).shape
    (2, 3, 1, 1)
    """
    return value.reshape(value.shape + (1,) * rank) if rank else value


def align(value: np.ndarray, rank: int, target: int) -> np.ndarray:
    """An operand of ``+ - *`` of tensor rank ``rank`` made to broadcast against a result
    of rank ``target``: a scalar gets trailing unit axes, a vector (matched against the
    result's last axis) unit axes before its own.

    >>> align(np.zeros((2, 3)), 1, 2).shape, align(np.zeros((2,)), 0, 2).shape
    ((2, 1, 3), (2, 1, 1))
    """
    if rank == 0:
        return lift(value, target)
    if rank == target:
        return value
    return value.reshape(value.shape[:-rank] + (1,) * (target - rank) + value.shape[-rank:])


def collapse(arithmetic, part: np.ndarray, rank: int, target: int) -> np.ndarray:
    """The adjoint of an operand of rank ``rank`` broadcast to rank ``target`` (``align``):
    the result's adjoint summed over the axes the operand was repeated along.

    >>> from conslaw_algebra.language.floating import Floats
    >>> collapse(Floats(), np.ones((1, 2, 3)), 1, 2).tolist()
    [[2.0, 2.0, 2.0]]
    """
    if rank == 0:
        return arithmetic.total(part, target)
    if rank == target:
        return part
    inner = part.shape[len(part.shape) - rank:]
    return arithmetic.settle(part.reshape(part.shape[:len(part.shape) - target] + (-1,) + inner)
                             .sum(axis=-(rank + 1)))


def promote(value: np.ndarray, rank: int, side: str) -> np.ndarray:
    """A vector operand of ``@`` as a matrix: a row on the left, a column on the right.

    >>> promote(np.zeros((1, 1, 3)), 1, "right").shape
    (1, 1, 3, 1)
    """
    if rank == 2:
        return value
    return value[..., None, :] if side == "left" else value[..., :, None]


def depends_on_parameters(program: Program, data_depends=None) -> list[bool]:
    """Which nodes vary with the parameters: the ones that need an adjoint.

    ``data_depends(node, depends)`` says whether a data node varies (a smooth function of
    the parameters computed from its argument, for the float arithmetic); by default
    data never does.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a\\ninput x\\noutput a*x + x"))
    >>> [n.op for n in prog.nodes], depends_on_parameters(prog)
    (['param', 'data', 'mul', 'add'], [True, False, True, True])
    """
    depends: list[bool] = []
    for node in program.nodes:
        if node.op == "param":
            depends.append(True)
        elif node.op == "data":
            depends.append(bool(data_depends and data_depends(node, depends)))
        elif node.op == "const":
            depends.append(False)
        else:
            depends.append(any(depends[a] for a in node.args))
    return depends


def _apply(arithmetic, node, args: list, ranks: tuple) -> np.ndarray:
    op, shape = node.op, node.shape
    if op in ("add", "sub", "mul"):
        rank = len(shape)
        a, b = (align(v, r, rank) for v, r in zip(args, ranks))
        if op == "add":
            return arithmetic.add(a, b)
        if op == "sub":
            return arithmetic.subtract(a, b)
        return arithmetic.multiply(a, b)
    if op == "index":
        return args[0][(Ellipsis,) + node.attr]
    if op == "neg":
        return arithmetic.negate(args[0])
    if op == "matmul":
        product = arithmetic.matmul(promote(args[0], ranks[0], "left"),
                                    promote(args[1], ranks[1], "right"))
        if ranks[0] == 1:
            product = product[..., 0, :]
        if ranks[1] == 1:
            product = product[..., 0]
        return product
    if op == "transpose":
        return np.swapaxes(args[0], -1, -2)
    if op == "pow":
        return arithmetic.power(args[0], node.attr)
    if op == "sum":
        return arithmetic.total(args[0], ranks[0])
    if op == "stack":
        parts = arithmetic.broadcast(args)
        return np.stack(parts, axis=-1).reshape(parts[0].shape + shape)
    raise AssertionError(op)


def apply(arithmetic, program: Program, node, values) -> np.ndarray:
    """The value of one non-leaf ``node`` from its arguments' values.

    ``values`` maps node indices to values (a list, or a dict for a program that is
    still growing, as the compiler's fingerprints need).

    >>> from conslaw_algebra.language.program import Node
    >>> from conslaw_algebra.language.floating import Floats
    >>> prog = Program(); a = prog.add(Node("param", (), (2,), 0))
    >>> total = prog.add(Node("sum", (a,), ()))
    >>> apply(Floats(), prog, prog.nodes[total], {a: np.array([[3.0, 4.0]])}).tolist()
    [7.0]
    """
    return apply_to(arithmetic, program, node, [values[a] for a in node.args])


def apply_to(arithmetic, program: Program, node, args: list) -> np.ndarray:
    """``apply`` with the arguments' values given in order (a node may use one argument
    twice, as in ``a * a``, and a caller may substitute one occurrence only).

    >>> from conslaw_algebra.language.program import Node
    >>> from conslaw_algebra.language.floating import Floats
    >>> prog = Program(); a = prog.add(Node("param", (), (), 0))
    >>> square = prog.add(Node("mul", (a, a), ()))
    >>> apply_to(Floats(), prog, prog.nodes[square], [np.array([3.0]), np.array([1.0])])
    array([3.])
    """
    return _apply(arithmetic, node, args, tuple(len(program.nodes[a].shape) for a in node.args))


class Interpreter:
    """Forward and reverse passes of one Program in one arithmetic.

    ``depends``: which nodes need an adjoint (``depends_on_parameters`` by default).
    """

    def __init__(self, program: Program, arithmetic, depends: list[bool] | None = None):
        self.program = program
        self.arithmetic = arithmetic
        nodes = program.nodes
        self.ranks = [tuple(len(nodes[a].shape) for a in node.args) for node in nodes]
        self.depends = depends_on_parameters(program) if depends is None else depends

    def forward(self, leaf) -> list[np.ndarray]:
        """Every node's value; ``leaf(index, node, values)`` gives those of the leaves."""
        values: list[np.ndarray] = []
        arithmetic, ranks = self.arithmetic, self.ranks
        for i, node in enumerate(self.program.nodes):
            if node.op in LEAVES:
                values.append(leaf(i, node, values))
            else:
                values.append(_apply(arithmetic, node, [values[a] for a in node.args], ranks[i]))
        return values

    def backward(self, values: list, seeds, data_backward=None) -> list:
        """The adjoint of every node (None where it is zero or not needed).

        ``seeds``: (node, adjoint) pairs to start from; ``data_backward(index, node,
        adjoint, values, accumulate)`` passes a data node's adjoint on to its argument
        (only arithmetics in which data can depend on the parameters need it).
        """
        nodes = self.program.nodes
        arithmetic, depends, lead = self.arithmetic, self.depends, self.arithmetic.lead
        adjoint: list = [None] * len(nodes)
        # adjoints of single entries (``index`` nodes), added into their source in one
        # pass when it is reached: one full-size sum per source, not per entry
        entries: dict[int, list] = {}

        def accumulate(i, g):
            if depends[i]:
                adjoint[i] = g if adjoint[i] is None else arithmetic.add(adjoint[i], g)

        for node, g in seeds:
            accumulate(node, g)
        for i in range(len(nodes) - 1, -1, -1):
            if i in entries:
                accumulate(i, arithmetic.scatter(entries.pop(i), nodes[i].shape))
            g = adjoint[i]
            if g is None:
                continue
            node = nodes[i]
            op = node.op
            if op in LEAVES:
                if op == "data" and data_backward is not None:
                    data_backward(i, node, g, values, accumulate)
                continue
            if op == "index":
                if depends[node.args[0]]:
                    entries.setdefault(node.args[0], []).append((node.attr, g))
                continue
            self._backward(node, self.ranks[i], g, values, accumulate, lead)
        return adjoint

    def _backward(self, node, arg_ranks, g, values, accumulate, lead):
        arithmetic, depends = self.arithmetic, self.depends
        op, rank = node.op, len(node.shape)
        if op in ("add", "sub"):
            for position, (a, r) in enumerate(zip(node.args, arg_ranks)):
                part = g if (op == "add" or position == 0) else arithmetic.negate(g)
                accumulate(a, collapse(arithmetic, part, r, rank))
        elif op == "neg":
            accumulate(node.args[0], arithmetic.negate(g))
        elif op == "mul":
            a, b = node.args
            va = align(values[a], arg_ranks[0], rank)
            vb = align(values[b], arg_ranks[1], rank)
            for target, other, r in ((a, vb, arg_ranks[0]), (b, va, arg_ranks[1])):
                if depends[target]:
                    part = arithmetic.multiply(g, other)
                    accumulate(target, collapse(arithmetic, part, r, rank))
        elif op == "matmul":
            a, b = node.args
            ra, rb = arg_ranks
            left = promote(values[a], ra, "left")
            right = promote(values[b], rb, "right")
            grad = g
            if ra == 1:
                grad = grad[..., None, :] if rb == 2 else grad[..., None, None]
            elif rb == 1:
                grad = grad[..., :, None]
            if depends[a]:
                ga = arithmetic.matmul(grad, np.swapaxes(right, -1, -2))
                accumulate(a, ga[..., 0, :] if ra == 1 else ga)
            if depends[b]:
                gb = arithmetic.matmul(np.swapaxes(left, -1, -2), grad)
                accumulate(b, gb[..., 0] if rb == 1 else gb)
        elif op == "transpose":
            accumulate(node.args[0], np.swapaxes(g, -1, -2))
        elif op == "pow":
            k = node.attr
            if k:
                base = values[node.args[0]]
                factor = arithmetic.times(arithmetic.power(base, k - 1), k)
                accumulate(node.args[0], arithmetic.multiply(g, factor))
        elif op == "stack":
            flat = g.reshape(g.shape[:lead] + (-1,))
            for position, arg in enumerate(node.args):
                if depends[arg]:
                    accumulate(arg, flat[..., position])
        elif op == "sum":
            source_shape = self.program.nodes[node.args[0]].shape
            accumulate(node.args[0], np.broadcast_to(lift(g, len(source_shape)),
                                                     g.shape[:lead] + source_shape).copy())
        else:
            raise AssertionError(op)
