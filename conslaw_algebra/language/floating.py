"""The model run on real numbers: a float forward pass and the gradient of a loss.

Simulation needs what training needs: the outputs of the model at concrete data, and
the gradient of a loss in theta. The program's interpreter (``interpreter.py``) runs
the compiled ``Program`` in the arithmetic ``Floats``: float64 with NumPy, every value
carrying a leading batch axis (one row per data point); its reverse pass
back-propagates the loss derivative (one backward pass per gradient). The symbols the exact evaluators
treat as data get their real values from ``Program.sources``: a ReLU gate is
1[argument > 0], a max-pool gate selects the largest entry of its window, and the
smooth functions are computed: ``tanh``, ``sigmoid``, ``softmax`` (over the last
axis) and ``generic`` (taken to be tanh); a normalization's scales are 1/sqrt(q). Gates are piecewise constant, so no
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

import math

import numpy as np

from .interpreter import Arithmetic, Interpreter, depends_on_parameters
from .program import Program


_erf = np.frompyfunc(math.erf, 1, 1)


def _normal_cdf(value: np.ndarray) -> np.ndarray:
    """Phi(v), the standard normal distribution function (GELU's gate).

    >>> float(_normal_cdf(np.array([0.0]))[0])
    0.5
    """
    return 0.5 * (1.0 + _erf(value / math.sqrt(2.0)).astype(float))


def _softmax(value: np.ndarray, scalar: bool) -> np.ndarray:
    if scalar:
        return np.ones_like(value)
    shifted = np.exp(value - value.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class Floats(Arithmetic):
    """The arithmetic of float64 values of shape (batch, *shape), for
    ``interpreter.Interpreter``: numpy's operations as they are.

    >>> Floats().total(np.array([[1.0, 2.0], [3.0, 4.0]]), 1).tolist()
    [3.0, 7.0]
    """

    @staticmethod
    def total(value, rank: int):
        return value.reshape(value.shape[0], -1).sum(-1) if rank else value

    @staticmethod
    def scatter(parts, shape) -> np.ndarray:
        """The adjoint of a tensor from the adjoints of some of its entries."""
        full = np.zeros((max(g.shape[0] for _, g in parts),) + shape)
        for index, g in parts:
            full[(slice(None),) + tuple(index)] += g
        return full


FLOATS = Floats()


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
        self.interpreter = Interpreter(program, FLOATS,
                                       depends_on_parameters(program, self._smooth_source))

    def _smooth_source(self, node, depends) -> bool:
        """A data node varies with theta when it is a smooth function of a value that does
        (gates are piecewise constant: they do not)."""
        source = self.program.sources.get(node.attr)
        return (source is not None and source[0] not in ("relu", "maxpool")
                and depends[source[1]])

    # ------------------------------------------------------------------ forward
    def forward(self, theta: np.ndarray) -> list[np.ndarray]:
        """Every node's value, shape (1 or B, *node.shape)."""
        params = self.program.params

        def leaf(i, node, values):
            if node.op == "param":
                info = params[node.attr]
                return theta[info.offset:info.offset + info.size].reshape((1,) + node.shape)
            if node.op == "data":
                return self._data(node, values)
            return np.array([float(node.attr)])
        return self.interpreter.forward(leaf)

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
        if function == "rsqrt":        # a normalization's scales: s = 1 / sqrt(q)
            return 1.0 / np.sqrt(value)
        if function == "sigmoid":
            return 1.0 / (1.0 + np.exp(-value))
        if function == "softmax":
            return _softmax(value, not self.program.nodes[arg].shape)
        if function == "gelu":
            return value * _normal_cdf(value)
        if function == "silu":
            return value / (1.0 + np.exp(-value))
        return np.tanh(value)          # tanh, and generic (a fixed smooth function)

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
        seeds, start = [], 0
        for o in self.program.outputs:
            size = nodes[o].size
            seeds.append((o, output_adjoint[:, start:start + size].reshape((-1,) + nodes[o].shape)))
            start += size
        adjoint = self.interpreter.backward(values, seeds, self._backward_source)
        out = np.zeros(self.dim)
        for i, node in enumerate(nodes):
            if node.op == "param" and adjoint[i] is not None:
                info = self.program.params[node.attr]
                g = np.broadcast_to(adjoint[i], adjoint[i].shape[:1] + node.shape)
                out[info.offset:info.offset + info.size] += g.sum(axis=0).ravel()
        return out

    def _backward_source(self, i, node, g, values, accumulate):
        """A smooth function's adjoint passed on to its argument (gates pass none)."""
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
        if function == "rsqrt":        # ds = -s^3 dq / 2
            accumulate(arg, g * (-0.5) * value ** -1.5)
        elif function == "sigmoid":
            y = 1.0 / (1.0 + np.exp(-value))
            accumulate(arg, g * y * (1 - y))
        elif function == "softmax":
            y = _softmax(value, not self.program.nodes[arg].shape)
            accumulate(arg, y * (g - (g * y).sum(axis=-1, keepdims=True)))
        elif function == "gelu":       # Phi(v) + v phi(v)
            accumulate(arg, g * (_normal_cdf(value) + value * np.exp(-value * value / 2)
                                 / math.sqrt(2 * math.pi)))
        elif function == "silu":       # s(v) (1 + v (1 - s(v)))
            y = 1.0 / (1.0 + np.exp(-value))
            accumulate(arg, g * y * (1 + value * (1 - y)))
        else:
            y = np.tanh(value)
            accumulate(arg, g * (1 - y * y))
