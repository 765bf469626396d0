"""The model run on real numbers: a float forward pass and the gradient of a loss.

Simulation needs what training needs: the outputs of the model at concrete data, and
the gradient of a loss in theta. This interpreter runs the compiled ``Program`` in
float64 with NumPy, every value carrying a leading batch axis (one row per data
point), and back-propagates the loss derivative through the same operation list
(reverse mode, one backward pass per gradient). The symbols the exact evaluators
treat as data get their real values from ``Program.sources``: a ReLU gate is
1[argument > 0], a max-pool gate selects the largest entry of its window, and the
smooth functions are computed: ``tanh``, ``sigmoid``, ``softmax`` (over the last
axis) and ``generic`` (taken to be tanh). Gates are piecewise constant, so no
gradient flows through them; the smooth functions pass theirs on.
Where it stops winning: it is a plain interpreter over small arrays, fine for the
models a researcher writes by hand; a real training framework would be faster on
large networks, at the price of a second model description.

>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> prog, _ = compile_program(parse("param a, b\\ninput x\\noutput a * b * x"))
>>> model = FloatModel(prog, {0: np.array([2.0])})
>>> model.outputs(np.array([3.0, 5.0]))          # a*b*x at a=3, b=5, x=2
array([[30.]])
>>> model.pullback(np.array([3.0, 5.0]), np.array([[1.0]]))   # d/d(a, b) = (b x, a x)
array([10.,  6.])
"""
from __future__ import annotations

import numpy as np

from .modular import lift, promote
from .program import Program


def _softmax(value: np.ndarray, scalar: bool) -> np.ndarray:
    if scalar:
        return np.ones_like(value)
    shifted = np.exp(value - value.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class FloatModel:
    """The Program evaluated at concrete inputs, batched over data points.

    ``inputs`` maps the index of each input tensor (in ``program.data``) to an array
    of shape (B, *shape); every input tensor needs one.
    """

    def __init__(self, program: Program, inputs: dict[int, np.ndarray]):
        self.program = program
        self.dim = program.num_params
        self.inputs = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
        missing = [d.name for k, d in enumerate(program.data)
                   if d.kind == "input" and k not in self.inputs]
        if missing:
            raise ValueError(f"no values for the inputs {missing}")
        self.batch = max([v.shape[0] for v in self.inputs.values()], default=1)
        self.depends = self._theta_dependence()
        # per node: its operands' ranks, and whether it is an elementwise operation on
        # scalars (a lowered convolution is mostly those): both interpretation loops
        # skip the general case's shape handling for them
        self.ranks = [tuple(len(program.nodes[a].shape) for a in node.args)
                      for node in program.nodes]
        self.scalar = [node.op in ("add", "sub", "mul") and not node.shape
                       for node in program.nodes]

    def _theta_dependence(self) -> list[bool]:
        """Which nodes vary with theta in real arithmetic (gates do not)."""
        depends: list[bool] = []
        for node in self.program.nodes:
            if node.op == "param":
                depends.append(True)
            elif node.op == "data":
                source = self.program.sources.get(node.attr)
                smooth = source is not None and source[0] not in ("relu", "maxpool")
                depends.append(smooth and depends[source[1]])
            elif node.op == "const":
                depends.append(False)
            else:
                depends.append(any(depends[a] for a in node.args))
        return depends

    # ------------------------------------------------------------------ forward
    def forward(self, theta: np.ndarray) -> list[np.ndarray]:
        """Every node's value, shape (1 or B, *node.shape)."""
        values: list[np.ndarray] = []
        scalar = self.scalar
        for i, node in enumerate(self.program.nodes):
            if scalar[i]:
                a, b = node.args
                op = node.op
                values.append(values[a] + values[b] if op == "add" else
                              values[a] * values[b] if op == "mul" else values[a] - values[b])
            elif node.op == "param":
                info = self.program.params[node.attr]
                values.append(theta[info.offset:info.offset + info.size].reshape((1,) + node.shape))
            elif node.op == "data":
                values.append(self._data(node, values))
            elif node.op == "const":
                values.append(np.array([float(node.attr)]))
            else:
                values.append(self._apply(node, values))
        return values

    def _data(self, node, values) -> np.ndarray:
        source = self.program.sources.get(node.attr)
        if source is None:
            return self.inputs[node.attr]
        function, arg, entries = source
        value = values[arg]
        if function == "maxpool":      # entries: the argument entries of each window
            windows = value.reshape(value.shape[0], -1)[:, np.array(entries)]
            chosen = windows.argmax(axis=-1)
            return (np.arange(len(entries[0])) == chosen[..., None]).astype(float)
        if entries is not None:        # only some entries have a symbol of their own
            value = value.reshape(value.shape[0], -1)[:, np.array(entries)]
        if function == "relu":
            return (value > 0).astype(float)
        if function == "sigmoid":
            return 1.0 / (1.0 + np.exp(-value))
        if function == "softmax":
            return _softmax(value, not self.program.nodes[arg].shape)
        return np.tanh(value)          # tanh, and generic (a fixed smooth function)

    def _apply(self, node, values) -> np.ndarray:
        op, shape = node.op, node.shape
        args = [values[a] for a in node.args]
        ranks = [len(self.program.nodes[a].shape) for a in node.args]
        if op == "index":
            return args[0][(Ellipsis,) + node.attr]
        if op in ("add", "sub", "mul"):
            a, b = (lift(v, len(shape) if r == 0 else 0) for v, r in zip(args, ranks))
            return a + b if op == "add" else a - b if op == "sub" else a * b
        if op == "neg":
            return -args[0]
        if op == "matmul":
            product = np.matmul(promote(args[0], ranks[0], "left"), promote(args[1], ranks[1], "right"))
            if ranks[0] == 1:
                product = product[..., 0, :]
            if ranks[1] == 1:
                product = product[..., 0]
            return product
        if op == "transpose":
            return np.swapaxes(args[0], -1, -2)
        if op == "pow":
            return args[0] ** node.attr
        if op == "index":
            return args[0][(Ellipsis,) + node.attr]
        if op == "sum":
            return args[0].reshape(args[0].shape[0], -1).sum(-1)
        if op == "stack":
            batch = max(a.shape[0] for a in args)
            parts = [np.broadcast_to(a, (batch,)) for a in args]
            return np.stack(parts, axis=-1).reshape((batch,) + shape)
        raise AssertionError(op)

    def outputs(self, theta: np.ndarray, values: list | None = None) -> np.ndarray:
        """All outputs, flattened and side by side: shape (B, number of output entries)."""
        values = self.forward(theta) if values is None else values
        parts = [np.broadcast_to(values[o], (self.batch,) + self.program.nodes[o].shape)
                 .reshape(self.batch, -1) for o in self.program.outputs]
        return np.concatenate(parts, axis=1)

    def metric(self, theta: np.ndarray, values: list | None = None) -> np.ndarray:
        """The diagonal of M(theta) from the ``metric`` lines (1 where there is none)."""
        out = np.ones(self.dim)
        if not self.program.metrics:
            return out
        values = self.forward(theta) if values is None else values
        for index, node in self.program.metrics.items():
            info = self.program.params[index]
            out[info.offset:info.offset + info.size] = np.broadcast_to(
                values[node][0], info.shape).ravel()
        return out

    # ----------------------------------------------------------------- backward
    def pullback(self, theta: np.ndarray, output_adjoint: np.ndarray,
                 values: list | None = None) -> np.ndarray:
        """sum_i J_i(theta)^T a_i: the gradient in theta of sum_i <a_i, outputs_i>.

        With ``a_i`` the derivative of the loss in the outputs of data point i, this is
        the gradient of the loss.
        """
        values = self.forward(theta) if values is None else values
        nodes = self.program.nodes
        adjoint: list[np.ndarray | None] = [None] * len(nodes)

        def accumulate(i, g):
            if self.depends[i]:
                adjoint[i] = g if adjoint[i] is None else adjoint[i] + g

        start = 0
        for o in self.program.outputs:
            size = nodes[o].size
            part = output_adjoint[:, start:start + size].reshape((-1,) + nodes[o].shape)
            accumulate(o, part)
            start += size
        depends, scalar = self.depends, self.scalar
        for i in range(len(nodes) - 1, -1, -1):
            g = adjoint[i]
            if g is None or nodes[i].op in ("param", "const"):
                continue
            if scalar[i]:          # the general case below, for scalar operands
                a, b = nodes[i].args
                if nodes[i].op == "mul":
                    if depends[a]:
                        accumulate(a, g * values[b])
                    if depends[b]:
                        accumulate(b, g * values[a])
                else:
                    accumulate(a, g)
                    accumulate(b, g if nodes[i].op == "add" else -g)
            elif nodes[i].op == "data":
                self._backward_source(nodes[i], g, values, accumulate)
            else:
                self._backward(nodes[i], g, values, accumulate)
        out = np.zeros(self.dim)
        for i, node in enumerate(nodes):
            if node.op == "param" and adjoint[i] is not None:
                info = self.program.params[node.attr]
                g = np.broadcast_to(adjoint[i], adjoint[i].shape[:1] + node.shape)
                out[info.offset:info.offset + info.size] += g.sum(axis=0).ravel()
        return out

    def _backward_source(self, node, g, values, accumulate):
        function, arg, entries = self.program.sources[node.attr]
        value = values[arg]
        if entries is not None:        # the symbols of some entries: scatter back
            flat = value.reshape(value.shape[0], -1)
            shape = (max(flat.shape[0], g.shape[0]),) + flat.shape[1:]
            value = flat[:, np.array(entries)]
            inner = accumulate
            index = np.array(entries)

            def accumulate(i, part):
                full = np.zeros(shape)
                np.add.at(full, (slice(None), index), np.broadcast_to(part, shape[:1] + index.shape))
                inner(i, full.reshape((shape[0],) + self.program.nodes[arg].shape))
        if function == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-value))
            accumulate(arg, g * y * (1 - y))
        elif function == "softmax":
            y = _softmax(value, not self.program.nodes[arg].shape)
            accumulate(arg, y * (g - (g * y).sum(axis=-1, keepdims=True)))
        else:
            y = np.tanh(value)
            accumulate(arg, g * (1 - y * y))

    def _backward(self, node, g, values, accumulate):
        op, shape = node.op, node.shape
        rank = len(shape)
        arg_ranks = [len(self.program.nodes[a].shape) for a in node.args]

        def reduce(part, r):   # a scalar operand of a tensor op receives the sum
            return part.reshape(part.shape[0], -1).sum(-1) if r == 0 and rank else part

        if op in ("add", "sub"):
            for position, (a, r) in enumerate(zip(node.args, arg_ranks)):
                part = g if (op == "add" or position == 0) else -g
                accumulate(a, reduce(part, r))
        elif op == "neg":
            accumulate(node.args[0], -g)
        elif op == "mul":
            a, b = node.args
            va = lift(values[a], rank if arg_ranks[0] == 0 else 0)
            vb = lift(values[b], rank if arg_ranks[1] == 0 else 0)
            for target, other, r in ((a, vb, arg_ranks[0]), (b, va, arg_ranks[1])):
                if self.depends[target]:
                    accumulate(target, reduce(g * other, r))
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
            if self.depends[a]:
                ga = np.matmul(grad, np.swapaxes(right, -1, -2))
                accumulate(a, ga[..., 0, :] if ra == 1 else ga)
            if self.depends[b]:
                gb = np.matmul(np.swapaxes(left, -1, -2), grad)
                accumulate(b, gb[..., 0] if rb == 1 else gb)
        elif op == "transpose":
            accumulate(node.args[0], np.swapaxes(g, -1, -2))
        elif op == "pow":
            k = node.attr
            if k:
                accumulate(node.args[0], g * k * values[node.args[0]] ** (k - 1))
        elif op == "index":
            source_shape = self.program.nodes[node.args[0]].shape
            full = np.zeros(g.shape[:1] + source_shape)
            full[(Ellipsis,) + node.attr] = g
            accumulate(node.args[0], full)
        elif op == "stack":
            flat = g.reshape(g.shape[0], -1)
            for position, arg in enumerate(node.args):
                if self.depends[arg]:
                    accumulate(arg, flat[:, position])
        elif op == "sum":
            source_shape = self.program.nodes[node.args[0]].shape
            accumulate(node.args[0], np.broadcast_to(lift(g, len(source_shape)),
                                                     g.shape[:1] + source_shape).copy())
        else:
            raise AssertionError(op)
