"""The compiled computation: a typed, shape-checked list of tensor operations.

One intermediate form serves two evaluators: ``symbolic.py`` runs it on exact
polynomials to list the features, ``numeric.py`` runs it on numbers modulo a prime
(with derivatives) to sample vector fields without listing anything. Nodes are in
topological order, so every evaluator is one forward loop.

>>> node = Node(op="param", args=(), shape=(2, 3), attr=0)
>>> node.size
6
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

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

    ``kind`` is 'param', or for data 'input', 'gate' (ReLU or max-pool) or 'generic'
    (the result of a smooth non-polynomial function). ``offset`` is the position of
    its first entry among the parameters (theta) or among the data symbols.
    ``window`` (max-pool gates only) is the window size k: the last axis holds the k
    selection gates of one window, which are 0/1 and sum to 1. ``coordinate`` (a
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
            index = []
            for dim in reversed(self.shape):
                index.append(flat % dim)
                flat //= dim
            index.reverse()
            if style == "text":
                names.append(f"{self.name}[{','.join(map(str, index))}]")
            else:
                names.append("_".join([self.name, *map(str, index)]))
        return names


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
        """True when no ReLU gate can appear squared in any carrier.

        Gates are idempotent (g^2 = g), so sampling them at values other than 0 and 1
        is only faithful when every gate enters each product at most once. This
        check is conservative: it tracks, per ReLU site, the largest exponent any
        one of its gates can reach.
        """
        exponents: list[dict[int, int]] = []
        for node in self.nodes:
            if node.op == "data":
                info = self.data[node.attr]
                exponents.append({node.attr: 1} if info.kind == "gate" else {})
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
        return all(e <= 1 for node_id, _ in self.carriers for e in exponents[node_id].values())
