"""Model + flow -> the family of generator vector fields whose Lie algebra is counted.

Gradient flow theta' = -M(theta) grad E: the loss gradients span
W = span{M grad psi_k}, M = identity, or diag(theta) on mirror parameters. A random
element of W is M grad Phi, Phi a random combination of the carriers at random data
(``numeric.py``).
Momentum theta'' + tau theta' = -M grad E is lifted to the phase space
z = (s, theta, v), v = theta' (THEORY.md B.2): force fields (0, 0, M grad psi_k) and
one drift G. With tau = 0, s = t and G = (1, v, 0); with a constant tau > 0,
s = e^{tau t} and G = (tau s, v, -tau v); Nesterov (tau = 3/t) uses s = t and
G multiplied by t: (t, t v, -3 v). A random element of W is alpha G + a force sample.
Each system gives the same things to ``lie.py`` (``dim``, ``generators``, degrees)
and to ``laws.py`` (the generators as exact polynomial fields).

>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> prog, header = compile_program(parse("param a, b, c\\noutput a*b*c"))
>>> flow = flow_system(prog, header.flow)
>>> flow.dim, flow.field_degree
(3, 2)
"""
from __future__ import annotations

import math

import numpy as np
from flint import fmpq

from ..exact import jets
from ..language.compiler import FlowSpec
from ..errors import UnsupportedError
from .fields import Field
from ..exact.modp import prime, residue
from ..language.modular import Evaluator, Sample, value_bounds
from ..exact.sparse import sparse_terms
from ..language.program import Program


def _mirror_mask(program: Program, spec: FlowSpec) -> np.ndarray:
    mask = np.zeros(program.num_params, dtype=bool)
    for info in program.params:
        if info.name in spec.mirror:
            mask[info.offset:info.offset + info.size] = True
    return mask


class _Base:
    def __init__(self, program: Program, spec: FlowSpec):
        if not program.gates_enter_linearly():
            raise UnsupportedError("a ReLU gate may enter a product twice (e.g. relu(h)*relu(h)); "
                                   "counting needs every gate to enter linearly")
        self.program = program
        self.spec = spec
        self.evaluator = Evaluator(program)
        self.params = program.num_params
        self.mirror = _mirror_mask(program, spec)
        theta = program.theta_degrees()
        data = program.data_degrees()
        metric_degree = max([theta[n] for n in program.metrics.values()], default=0)
        self.gradient_degree = max(theta[c] for c, _ in program.carriers) - 1 + metric_degree
        self.sample_degree = max(data[c] for c, _ in program.carriers) + 2
        constants = [n.attr for n in program.nodes if n.op == "const"] + [spec.tau]
        # the working prime must not divide these (``modp.draw_prime``)
        self.denominators = tuple(sorted({c.denominator for c in constants if c.denominator > 1}))
        self.log_denominator = math.log2(math.lcm(1, *self.denominators))
        bits, constants_in = value_bounds(program)
        phi = float(np.logaddexp2.reduce([bits[c] + math.log2(program.nodes[c].size)
                                          for c, _ in program.carriers]))
        metric = max([bits[n] for n in program.metrics.values()], default=0.0)
        # sum_j |M_j d_j Phi|_1 <= max_j |M_j|_1 * deg(Phi) * |Phi|_1, Phi = sum_c <w_c, carrier_c>
        self.gradient_bits = (math.log2(max(1, max(theta[c] for c, _ in program.carriers)))
                              + phi + max(0.0, metric))
        self.gradient_constants = (max(constants_in[c] for c, _ in program.carriers)
                                   + max([constants_in[n] for n in program.metrics.values()],
                                         default=0))


def apply_metric(gradients, metric: dict):
    """Multiply component j of every field by the metric entry of variable j (terms).

    >>> from conslaw_algebra.language.expand import theta_ring
    >>> a, b = theta_ring(2).gens()
    >>> apply_metric([[(0, [((1,), 1)]), (1, [((0,), 1)])]], {0: a})   # diag(a, 1) grad(a*b)
    [[(0, [((0, 1), 1)]), (1, [((0,), 1)])]]
    """
    if not metric:
        return gradients
    metric_terms = {j: sparse_terms(poly) for j, poly in metric.items()}

    def times(j, terms):
        if j not in metric_terms:
            return terms
        return [(tuple(sorted(a + b)), c * m) for a, c in terms for b, m in metric_terms[j]]

    return [[(j, times(j, terms)) for j, terms in field] for field in gradients]


class GradientFlow(_Base):
    """theta' = -M(theta) grad E(theta).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b, c\\noutput a*b*c"))
    >>> GradientFlow(prog).dim
    3
    """

    def __init__(self, program: Program, spec: FlowSpec = FlowSpec()):
        super().__init__(program, spec)
        self.dim = self.params
        self.field_degree = max(1, self.gradient_degree + (1 if self.mirror.any() else 0))
        # a mirror factor theta_j has norm 1: the generators' bound is the gradient's
        self.generator_bits = max(0.0, self.gradient_bits
                                  + self.gradient_constants * self.log_denominator)

    def generators(self, rng: np.random.Generator, batch: int) -> Field:
        """A batch of random generators, each a genuine element of W."""
        return _GradientSamples(self, self.evaluator.sample(rng, batch))

    def symbolic_fields(self, gradients):
        """The generators as [(component, [(variable indices, coefficient)])] per feature."""
        if not self.mirror.any():
            return gradients
        return [[(j, [(tuple(sorted(index + (j,))), c) for index, c in terms] if self.mirror[j]
                  else terms) for j, terms in field] for field in gradients]


class MomentumFlow(_Base):
    """theta'' + tau theta' = -M grad E, on the phase space (s, theta, v).

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b, c\\noutput a*b*c"))
    >>> MomentumFlow(prog, FlowSpec("momentum")).dim     # (s, theta, theta'): 1 + 3 + 3
    7
    """

    def __init__(self, program: Program, spec: FlowSpec):
        super().__init__(program, spec)
        self.dim = 2 * self.params + 1
        mirror_extra = 1 if self.mirror.any() else 0
        self.field_degree = max(2 if spec.nesterov else 1, self.gradient_degree + mirror_extra)
        # a random generator alpha G + force: bound both, denominators cleared together
        tau, d = abs(spec.tau), self.params
        tau_constants = 0 if spec.tau.denominator == 1 else 1
        force = self.gradient_bits + (math.log2(1 + tau) if mirror_extra else 0.0)
        force_constants = self.gradient_constants + (tau_constants if mirror_extra else 0)
        drift = math.log2(1 + 4 * d if spec.nesterov else tau + d + tau * d if tau else 1 + d)
        self.generator_bits = max(0.0, float(np.logaddexp2(force, drift)) + max(
            force_constants, tau_constants) * self.log_denominator)

    @property
    def tau(self) -> int:
        """tau as a residue modulo the working prime."""
        return residue(self.spec.tau)

    def generators(self, rng: np.random.Generator, batch: int) -> Field:
        sample = self.evaluator.sample(rng, batch)
        drift = rng.integers(0, prime(), (1, batch, 1), dtype=np.int64)
        return _PhaseSamples(self, sample, drift)

    def drift(self, point: np.ndarray) -> np.ndarray:
        """G at a jet point of the phase space."""
        d, p = self.params, prime()
        s, v = point[..., :1], point[..., 1 + d:]
        out = np.zeros_like(point)
        if self.spec.nesterov:
            out[..., :1] = s
            out[..., 1:1 + d] = jets.multiply(np.broadcast_to(s, v.shape), v)
            out[..., 1 + d:] = (-3 * v) % p
        elif self.spec.tau:
            tau = self.tau
            out[..., :1] = s * tau % p
            out[..., 1:1 + d] = v
            out[..., 1 + d:] = (-tau * v) % p
        else:
            out[:1, ..., 0] = 1
            out[..., 1:1 + d] = v
        return out

    def symbolic_fields(self, gradients):
        d = self.params
        fields = []
        tau = fmpq(self.spec.tau.numerator, self.spec.tau.denominator)
        for field in gradients:
            components = []
            for j, terms in field:
                moved = [(tuple(1 + i for i in index), c) for index, c in terms]
                if self.mirror[j]:
                    moved = ([(tuple(sorted(index + (1 + j,))), c * tau) for index, c in moved
                              if tau] + [(tuple(sorted(index + (1 + d + j,))), c)
                                         for index, c in moved])
                components.append((1 + d + j, moved))
            fields.append(components)
        fields.append(self._symbolic_drift())
        return fields

    def _symbolic_drift(self):
        d = self.params
        one = fmpq(1)
        tau = fmpq(self.spec.tau.numerator, self.spec.tau.denominator)
        if self.spec.nesterov:
            return ([(0, [((0,), one)])] + [(1 + j, [((0, 1 + d + j), one)]) for j in range(d)]
                    + [(1 + d + j, [((1 + d + j,), fmpq(-3))]) for j in range(d)])
        if tau:
            return ([(0, [((0,), tau)])] + [(1 + j, [((1 + d + j,), one)]) for j in range(d)]
                    + [(1 + d + j, [((1 + d + j,), -tau)]) for j in range(d)])
        return [(0, [((), one)])] + [(1 + j, [((1 + d + j,), one)]) for j in range(d)]


class _GradientSamples(Field):
    def __init__(self, flow: GradientFlow, sample: Sample):
        self.flow, self.sample, self.batch = flow, sample, sample.batch
        self.degree, self.bits = flow.field_degree, flow.generator_bits

    def eval(self, point):
        grad = self.flow.evaluator.gradient(point, self.sample, metric=True)
        mask = self.flow.mirror
        if mask.any():
            theta = np.broadcast_to(point, grad.shape)[..., mask]
            grad[..., mask] = jets.multiply(grad[..., mask], theta)
        return grad

    def select(self, indices):
        return _GradientSamples(self.flow, self.sample.select(indices))


class _PhaseSamples(Field):
    def __init__(self, flow: MomentumFlow, sample: Sample, drift: np.ndarray):
        self.flow, self.sample, self.drift_weight = flow, sample, drift
        self.batch = sample.batch
        self.degree, self.bits = flow.field_degree, flow.generator_bits

    def eval(self, point):
        flow, d = self.flow, self.flow.params
        theta = point[..., 1:1 + d]
        force = flow.evaluator.gradient(theta, self.sample, metric=True)
        width, batch = force.shape[:2]
        point = np.broadcast_to(point, (width, batch, point.shape[-1]))
        mask = flow.mirror
        p = prime()
        if mask.any():
            factor = (flow.tau * point[..., 1:1 + d][..., mask] + point[..., 1 + d:][..., mask]) % p
            force[..., mask] = jets.multiply(force[..., mask], factor)
        out = flow.drift(point) * self.drift_weight % p
        out[..., 1 + d:] = (out[..., 1 + d:] + force) % p
        return out

    def select(self, indices):
        indices = np.asarray(indices)
        return _PhaseSamples(self.flow, self.sample.select(indices), self.drift_weight[:, indices])


def flow_system(program: Program, spec: FlowSpec):
    """The generator family of the declared flow.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> prog, _ = compile_program(parse("param a, b, c\\noutput a*b*c"))
    >>> type(flow_system(prog, FlowSpec("momentum"))).__name__
    'MomentumFlow'
    """
    if spec.kind == "momentum":
        return MomentumFlow(program, spec)
    return GradientFlow(program, spec)

