"""The model evaluated modulo a prime on jets, with reverse-mode gradients.

A generator of the gradient flow is ``grad_theta Phi`` where
``Phi(theta) = sum_c <w_c, carrier_c(theta; data)>`` for data and weights drawn
uniformly from GF(p): a random linear combination of the features with the data
monomials as coefficients, hence a genuine element of their span W. One forward and
one backward pass of the program's interpreter (``interpreter.py``) in the arithmetic
``Jets`` give it at a batch of samples, and running the passes on jets (``jets.py``)
gives its derivatives too. Nothing is expanded, so the cost is that of
training-style evaluation, independent of the number of paths or features.
Where it stops winning: tiny models, where listing the features is as cheap.

>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> prog, _ = compile_program(parse("param a, b\\noutput a * b"))
>>> ev = Evaluator(prog)
>>> sample = ev.sample(np.random.default_rng(0), 1)
>>> g = ev.gradient(np.array([[[2, 3]]]), sample)      # w * (b, a) at (a, b) = (2, 3)
>>> int(g[0, 0, 0]) * 2 % prime() == int(g[0, 0, 1]) * 3 % prime()
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exact import jets
from ..exact.modp import prime, residue
from .interpreter import Arithmetic, Interpreter, lift
from .program import Program


@dataclass(frozen=True)
class Sample:
    """Random data values and carrier weights for a batch of generator samples."""

    data: tuple[np.ndarray, ...]     # per data tensor, shape (1, B, *shape)
    weights: tuple[np.ndarray, ...]  # per carrier, shape (1, B, *shape)

    @property
    def batch(self) -> int:
        return self.weights[0].shape[1]

    def select(self, indices) -> "Sample":
        indices = np.asarray(indices)
        return Sample(tuple(d[:, indices] for d in self.data),
                      tuple(w[:, indices] for w in self.weights))


class Jets(Arithmetic):
    """The arithmetic of jets modulo the working prime, for ``interpreter.Interpreter``:
    values of shape (2^k, batch, *shape), int64 residues.

    >>> x = np.array([[[3]], [[1]]])                   # 3 + e, one sample
    >>> Jets().power(x, 3)[:, 0, 0].tolist()           # (3 + e)^3 = 27 + 27 e
    [27, 27]
    """

    lead = 2
    add, subtract, multiply, matmul = map(staticmethod, (jets.add, jets.subtract, jets.multiply,
                                                         jets.matmul))

    @staticmethod
    def negate(value):
        return (-value) % prime()

    @staticmethod
    def times(value, k: int):
        return value * k % prime()

    @staticmethod
    def power(base, exponent: int):
        result = np.ones((1,) + base.shape[1:], dtype=np.int64)
        square = base
        while exponent:
            if exponent & 1:
                result = jets.multiply(result, square)
            exponent >>= 1
            if exponent:
                square = jets.multiply(square, square)
        return result

    @staticmethod
    def total(value, rank: int):
        if not rank:
            return value
        return value.reshape(value.shape[:2] + (-1,)).sum(-1) % prime()

    @staticmethod
    def broadcast(scalars):
        """Scalars (width, batch) to one width and batch; a constant gets zero derivatives."""
        width = max(a.shape[0] for a in scalars)
        batch = max(a.shape[1] for a in scalars)
        return [np.broadcast_to(jets.widen(a, width), (width, batch)) for a in scalars]

    @staticmethod
    def scatter(parts, shape) -> np.ndarray:
        """The jet adjoint of a tensor from the adjoints of some of its entries."""
        width = max(g.shape[0] for _, g in parts)
        batch = max(g.shape[1] for _, g in parts)
        full = np.zeros((width, batch) + shape, dtype=np.int64)
        for index, g in parts:
            # entries are below p < 2^31: fewer than 2^32 of them cannot overflow int64
            full[(slice(0, g.shape[0]), slice(None)) + tuple(index)] += g
        return full % prime()


JETS = Jets()


def window_gates(values: np.ndarray, window: int) -> np.ndarray:
    """Make each window (last axis) of max-pool gate values sum to 1 modulo the working prime.

    >>> int(window_gates(np.array([[5, 7, 0]]), 3).sum() % prime())
    1
    """
    if window:
        values = values.copy()
        values[..., -1] = (1 - values[..., :-1].sum(axis=-1)) % prime()
    return values


class Evaluator:
    """Forward and reverse passes of a Program over jets modulo the working prime.

    >>> from conslaw_algebra.api import parse
    >>> evaluator = Evaluator(parse("param a, b\\ninput x\\noutput a*b*x").program)
    >>> values = evaluator.forward(np.array([[[2, 3]]]), Sample((np.array([[5]]),), ()))
    >>> int(values[-1][0, 0])                      # a*b*x at a = 2, b = 3, x = 5
    30
    """

    def __init__(self, program: Program):
        self.program = program
        self.dim = program.num_params
        self.interpreter = Interpreter(program, JETS)
        self._consts_by_prime: dict[int, dict] = {}

    def _consts(self) -> dict:
        """The constants as residues modulo the working prime (made once per prime)."""
        p = prime()
        if p not in self._consts_by_prime:
            self._consts_by_prime[p] = {
                i: np.array(residue(n.attr), dtype=np.int64).reshape(1, 1)
                for i, n in enumerate(self.program.nodes) if n.op == "const"}
        return self._consts_by_prime[p]

    def sample(self, rng: np.random.Generator, batch: int) -> Sample:
        """Draw data values and carrier weights uniformly from GF(p).

        The selection gates of a max-pool window sum to 1: all but the last are
        drawn, the last is 1 minus their sum (faithful because the gates of one
        window enter every carrier at most linearly, see ``flows/system.py``).
        """
        p = prime()
        data = tuple(window_gates(rng.integers(0, p, (1, batch) + d.shape, dtype=np.int64),
                                  d.window) for d in self.program.data)
        weights = tuple(rng.integers(0, p, (1, batch) + self.program.nodes[c].shape,
                                     dtype=np.int64) for c, _ in self.program.carriers)
        return Sample(data, weights)

    def forward(self, point: np.ndarray, sample: Sample) -> list[np.ndarray]:
        """Every node's value at the point(s) (shape (2^k, 1 or B, D)) and the sample."""
        consts, params = self._consts(), self.program.params
        width, points = point.shape[0], point.shape[1]

        def leaf(i, node, values):
            if node.op == "param":
                info = params[node.attr]
                block = point[..., info.offset:info.offset + info.size]
                return block.reshape((width, points) + node.shape)
            if node.op == "data":
                return sample.data[node.attr]
            return consts[i]
        return self.interpreter.forward(leaf)

    def gradient(self, point: np.ndarray, sample: Sample, metric: bool = False) -> np.ndarray:
        """grad_theta Phi at the point(s), one row per sample: shape (2^k, B, D).

        ``point`` has shape (2^k, 1 or B, D): one point for all samples, or one each.
        With ``metric``, the entries of parameters that have a ``metric`` line are
        multiplied by its value: M(theta) grad Phi.
        """
        values = self.forward(point, sample)
        nodes = self.program.nodes
        adjoint = self.interpreter.backward(
            values, zip((c for c, _ in self.program.carriers), sample.weights))
        width = point.shape[0]
        batch = max(point.shape[1], sample.batch)
        out = np.zeros((width, batch, self.dim), dtype=np.int64)
        for i, node in enumerate(nodes):
            if node.op == "param" and adjoint[i] is not None:
                info = self.program.params[node.attr]
                g = np.broadcast_to(jets.widen(adjoint[i], width), (width, batch) + node.shape)
                out[..., info.offset:info.offset + info.size] = g.reshape(width, batch, -1)
        if metric:
            for index, node in self.program.metrics.items():
                info = self.program.params[index]
                value = values[node]
                value = lift(value, len(info.shape)) if not nodes[node].shape else value
                value = np.broadcast_to(value, value.shape[:2] + info.shape).reshape(
                    value.shape[0], value.shape[1], -1)
                block = out[..., info.offset:info.offset + info.size]
                out[..., info.offset:info.offset + info.size] = jets.multiply(block, value)
        return out


def value_bounds(program: Program) -> tuple[list[float], list[int]]:
    """Per node, (log2 of a bound on the l1 norm of each entry, its constant degree).

    An entry is a polynomial in the parameters and data; its l1 norm is the sum of
    the absolute values of its coefficients (subadditive and submultiplicative, so it
    is bounded node by node). The constant degree m bounds how many non-integer
    constants multiply in one term: the entry times L^m has integer coefficients, L
    the common multiple of the constants' denominators. Used for the error bound of
    a count (``lie.py``).

    >>> from conslaw_algebra.api import parse
    >>> program = parse("param a, b\\noutput 3*a*b + 1/2*a").program
    >>> bits, degree = value_bounds(program)
    >>> round(2 ** bits[program.outputs[0]], 3), degree[program.outputs[0]]    # |3| + |1/2|
    (3.5, 1)
    """
    bits: list[float] = []
    degree: list[int] = []
    nodes = program.nodes
    for node in nodes:
        op = node.op
        a = [bits[i] for i in node.args]
        m = [degree[i] for i in node.args]
        if op in ("param", "data"):
            bits.append(0.0)
            degree.append(0)
        elif op == "const":
            value = node.attr
            bits.append(math.log2(abs(value)) if value else -math.inf)
            degree.append(0 if value.denominator == 1 else 1)
        elif op in ("add", "sub"):
            bits.append(float(np.logaddexp2(a[0], a[1])))
            degree.append(max(m))
        elif op == "mul":
            bits.append(a[0] + a[1])
            degree.append(m[0] + m[1])
        elif op == "matmul":
            bits.append(a[0] + a[1] + math.log2(nodes[node.args[0]].shape[-1]))
            degree.append(m[0] + m[1])
        elif op == "pow":
            bits.append(node.attr * a[0] if node.attr else 0.0)
            degree.append(node.attr * m[0])
        elif op == "sum":
            bits.append(a[0] + math.log2(max(1, nodes[node.args[0]].size)))
            degree.append(m[0])
        else:   # neg, transpose, index, stack: entries are entries of the arguments
            bits.append(max(a))
            degree.append(max(m))
    return bits, degree
