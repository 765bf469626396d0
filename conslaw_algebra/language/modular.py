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
from fractions import Fraction

import numpy as np

from ..errors import UnsupportedError
from ..exact import jets
from ..exact.modp import is_square, power, prime, residue, square_root
from .interpreter import Arithmetic, Interpreter, depends_on_parameters, lift
from .program import Program

MAX_REDRAWS = 16_384  # rounds of redrawing a point or data until every variance is a square
                      # (each round re-evaluates only the samples still failing)


class OffVariety(Exception):
    """A normalization's q is 0 or not a square modulo p at the point: no s there."""


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


def gate_pattern(program, sample: Sample, row: int) -> dict:
    """The 0/1 values of the gates (and one-hot windows) of one sample: data index ->
    values, as ``normalized.certify_patterns`` reads a gate pattern.

    >>> from conslaw_algebra.api import parse
    >>> program = parse("param w[3]\\ninput x[3]\\noutput sum(rmsnorm(relu(w * x)))").program
    >>> evaluator = Evaluator(program)
    >>> pattern = gate_pattern(program, evaluator.sample(np.random.default_rng(0), 2), 1)
    >>> [sorted(set(v.tolist()) | {0, 1}) for v in pattern.values()]
    [[0, 1]]
    """
    return {k: sample.data[k][0, row] for k, d in enumerate(program.data)
            if d.kind == "gate" or d.window}


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
    def settle(value):
        return value % prime()

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


def _binomial_half(k: int) -> int:
    """binom(-1/2, k) modulo p: the coefficients of (1 + u)^(-1/2)."""
    value = 1
    for i in range(k):
        value = value * residue(Fraction(-1 - 2 * i, 2 * (i + 1))) % prime()
    return value


def rsqrt_jet(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s with s^2 * q = 1 on a jet q (shape (width, ...)), and which entries have one.

    The constant part is s0 = 1/sqrt(q0) (the root in [0, p/2] of ``modp.square_root``);
    writing q = q0 + N, N nilpotent (N^(K+1) = 0, K the sum of the jet's orders),
    s = s0 (1 + N/q0)^(-1/2) = s0 sum_{k<=K} binom(-1/2, k) (N/q0)^k exactly: the
    derivatives of s by its relation (ds = -s^3 dq / 2 and its higher forms).
    Entries whose q0 is 0 or not a square get s = 0 and ``ok`` False.

    >>> q = np.array([[4], [1]])                          # 4 + e
    >>> s, ok = rsqrt_jet(q)
    >>> int(s[0, 0] * 2 % prime()), int(s[1, 0] * 16 % prime()) == prime() - 1   # 1/2 - e/16
    (1, True)
    >>> ok.tolist()
    [True]
    """
    p = prime()
    q0 = q[0] % p
    ok = is_square(q0)
    safe = np.where(ok, q0, 1)
    s0 = power(square_root(safe), p - 2)
    s0 = np.where(ok, s0, 0)
    width = q.shape[0]
    if width == 1:
        return s0[None], ok
    nilpotent = q.copy() % p
    nilpotent[0] = 0
    u = jets.multiply(nilpotent, power(safe, p - 2)[None])
    order = sum(jets.structure(width))
    term = np.zeros_like(u)
    term[0] = 1
    total = term.copy()
    for k in range(1, order + 1):
        term = jets.multiply(term, u)
        total = (total + term * _binomial_half(k)) % p
    return jets.multiply(total, s0[None]), ok


def binary_draw(rng: np.random.Generator, shape: tuple, window: int) -> np.ndarray:
    """Gate values drawn in {0, 1} (each entry a fair coin), or for a window of k
    selection gates (the last axis) a uniformly random one-hot vector: values that
    respect g^2 = g and the window sums, so that evaluation is a homomorphism of the
    ring reduced by those relations.

    >>> g = binary_draw(np.random.default_rng(0), (2, 3), 3)
    >>> sorted(set(g.ravel().tolist())), g.sum(axis=-1).tolist()
    ([0, 1], [1, 1])
    """
    if not window:
        return rng.integers(0, 2, shape, dtype=np.int64)
    hot = rng.integers(0, window, shape[:-1])
    return (np.arange(window) == hot[..., None]).astype(np.int64)


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
        self.norms = {k for k, d in enumerate(program.data) if d.kind == "norm"}
        self.interpreter = Interpreter(program, JETS, depends_on_parameters(
            program, lambda node, depends: node.attr in self.norms
            and depends[program.sources[node.attr][1]]))
        self._consts_by_prime: dict[int, dict] = {}
        # gates that do not enter linearly (a normalization's q holds them): every
        # gate is drawn in {0, 1}, each sample then a genuine generator (normalized.py)
        self.binary_gates = bool(program.normalizations) and not program.gates_enter_linearly()

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
        window enter every carrier at most linearly, see ``flows/system.py``). With
        ``binary_gates`` every gate is drawn in {0, 1} and every window one-hot.
        """
        p = prime()
        data = tuple(binary_draw(rng, (1, batch) + d.shape, d.window)
                     if self.binary_gates and (d.kind == "gate" or d.window) else
                     window_gates(rng.integers(0, p, (1, batch) + d.shape, dtype=np.int64),
                                  d.window) for d in self.program.data)
        weights = tuple(rng.integers(0, p, (1, batch) + self.program.nodes[c].shape,
                                     dtype=np.int64) for c, _ in self.program.carriers)
        return Sample(data, weights)

    def forward(self, point: np.ndarray, sample: Sample, misses: dict | None = None,
                entry_misses: dict | None = None, fake_scales: dict | None = None
                ) -> list[np.ndarray]:
        """Every node's value at the point(s) (shape (2^k, 1 or B, D)) and the sample.

        A normalization's scales are computed from their q (``rsqrt_jet``); where some
        q0 is 0 or not a square, ``misses`` (when given) gets data index -> the samples
        (bool per sample) without a root, and ``entry_misses`` data index -> the entries
        without one (shape (B, *shape); their s is 0), else OffVariety is raised.
        ``fake_scales`` (data index -> factors r): s = r q instead, not a root, for
        tracing which values a scale reaches (``axis_forms``).
        """
        consts, params = self._consts(), self.program.params
        width, points = point.shape[0], point.shape[1]

        def leaf(i, node, values):
            if node.op == "param":
                info = params[node.attr]
                block = point[..., info.offset:info.offset + info.size]
                return block.reshape((width, points) + node.shape)
            if node.op == "data":
                if node.attr in self.norms:
                    q = values[self.program.sources[node.attr][1]]
                    if fake_scales is not None:
                        return jets.multiply(q, fake_scales[node.attr])
                    scales, ok = rsqrt_jet(q)
                    bad = ~ok.reshape(ok.shape[0], -1).all(axis=1)
                    if bad.any():
                        if misses is None and entry_misses is None:
                            raise OffVariety(node.attr)
                        if misses is not None:
                            misses[node.attr] = bad
                        if entry_misses is not None:
                            entry_misses[node.attr] = ~ok
                    return scales
                return sample.data[node.attr]
            return consts[i]
        return self.interpreter.forward(leaf)

    def admissible(self, rng: np.random.Generator, batch: int,
                   point: np.ndarray | None = None) -> tuple[np.ndarray, Sample]:
        """Points and a sample at which every normalization's q is a nonzero square
        modulo p, so that (theta, data, s) is a point of the variety s^2 q = 1
        (``analyses/normalized.py``): with ``point`` (shape (1, 1 or B, D)) only the data
        of a failing sample is drawn again; without, each sample has its own point
        (shape (1, B, D)), drawn again with its data.

        >>> from conslaw_algebra.api import parse
        >>> evaluator = Evaluator(parse("param w[3]\\ninput x\\noutput sum(rmsnorm(w * x))").program)
        >>> points, sample = evaluator.admissible(np.random.default_rng(0), 4)
        >>> points.shape, len(evaluator.forward(points, sample)) > 0
        ((1, 4, 3), True)
        """
        p = prime()
        own = point is None
        if own:
            hopeless = self.draw_refusal(batch)
            if hopeless:
                raise UnsupportedError(hopeless)
        points = rng.integers(0, p, (1, batch, self.dim), dtype=np.int64) if own else point
        sample = self.sample(rng, batch)
        data = [d.copy() for d in sample.data]     # redrawn in place below
        pending = np.arange(batch)       # samples not yet seen admissible (each on its own)
        for _ in range(MAX_REDRAWS):
            misses: dict = {}
            at = points[:1, pending] if points.shape[1] == batch else points[:1]
            self.forward(at, sample.select(pending), misses)
            failing = np.zeros(len(pending), dtype=bool)
            for mask in misses.values():
                failing |= np.broadcast_to(mask, (len(pending),))
            pending = pending[failing]
            if not len(pending):
                return points, sample
            fresh = self.sample(rng, len(pending))
            for k, values in enumerate(fresh.data):
                data[k][:, pending] = values
            sample = Sample(tuple(data), sample.weights)
            if own:                      # our own array: redrawn in place
                points[0, pending] = rng.integers(0, p, (len(pending), self.dim), dtype=np.int64)
        raise UnsupportedError(self._no_root_message("point and data" if own else "data"))

    def draw_refusal(self, batch: int) -> str | None:
        """Why ``batch`` points of the variety (with their data) cannot be drawn within
        ``MAX_REDRAWS`` rounds, or None. The G groups' variances are independent modulo
        squares (``normalized.independence``), so a random draw makes them all
        squares about once in 2^G; a batch needs about 2^G ln(100 B) rounds for every
        sample to succeed (each round redraws the failed samples), so past
        ``MAX_REDRAWS`` the draw is refused at once instead of running its rounds and
        failing. Where it stops: networks with more than about 10 normalized groups
        (tokens times layer norms, channels times batch norms) have no such points.

        >>> from conslaw_algebra.api import parse
        >>> Evaluator(parse("param w[3]\\ninput x\\noutput sum(rmsnorm(w * x))").program).draw_refusal(8) is None
        True
        >>> text = "param W[3,3]\\ninput X[12,3]\\noutput layernorm(X @ W)"
        >>> Evaluator(parse(text).program).draw_refusal(8)[:60]
        'layernorm() at line 3, col 8: 12 normalized groups must all '
        """
        groups = sum(self.program.data[k].size for k in self.norms)
        if not groups or 2.0 ** groups * math.log(100 * max(batch, 1)) <= MAX_REDRAWS:
            return None
        function, line, column = next(iter(self.program.normalizations.values()))
        return (f"{function}() at line {line}, col {column}: {groups:,} normalized groups must "
                f"all have square variances modulo p at once, about 2^-{groups:,} of random "
                f"draws: {batch:,} points of the variety s^2 q = 1 cannot be drawn within "
                f"{MAX_REDRAWS:,} rounds")

    def admissible_sample(self, rng: np.random.Generator, batch: int, point: np.ndarray
                          ) -> Sample:
        """``sample`` at a fixed point (``admissible``)."""
        return self.admissible(rng, batch, point)[1]

    def admissible_point(self, rng: np.random.Generator) -> np.ndarray:
        """A random point (D,) at which some data gives every normalization a scale
        (the point of a count; the scales of groups without data exist there)."""
        return self.admissible(rng, 1)[0].reshape(-1)

    def _no_root_message(self, what: str) -> str:
        function, line, column = next(iter(self.program.normalizations.values()))
        return (f"{function}() at line {line}, col {column}: no {what} found in "
                f"{MAX_REDRAWS} draws at which every normalized group's variance is a nonzero "
                f"square modulo {prime()}; too many groups depend on the same values, or a "
                "variance is a constant that is not a square")

    def gradient(self, point: np.ndarray, sample: Sample, metric: bool = False,
                 values: list | None = None) -> np.ndarray:
        """grad_theta Phi at the point(s), one row per sample: shape (2^k, B, D).

        ``point`` has shape (2^k, 1 or B, D): one point for all samples, or one each.
        With ``metric``, the entries of parameters that have a ``metric`` line are
        multiplied by its value: M(theta) grad Phi. ``values``: the forward pass, when
        the caller has made it.
        """
        values = self.forward(point, sample) if values is None else values
        nodes = self.program.nodes
        adjoint = self.interpreter.backward(
            values, zip((c for c, _ in self.program.carriers), sample.weights),
            self._scale_backward if self.norms else None)
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


    def _scale_backward(self, i, node, g, values, accumulate):
        """A normalization's adjoint passed on to its q: ds = -s^3 dq / 2."""
        if node.attr not in self.norms:
            return
        s = values[i]
        cube = jets.multiply(jets.multiply(s, s), s)
        accumulate(self.program.sources[node.attr][1],
                   jets.multiply(g, cube) * residue(Fraction(-1, 2)) % prime())


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
