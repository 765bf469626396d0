"""Model + flow -> the family of generator vector fields whose Lie algebra is counted.

Gradient flow theta' = -M grad E: the loss gradients span
W = span{M grad psi_k}, M = identity, or diag(theta) on mirror parameters. A random
element of W is M grad Phi, Phi a random combination of the carriers at random data
(``language/modular.py``).
Momentum theta'' + tau theta' = -M grad E is lifted to the phase space
z = (s, theta, v), v = theta' (THEORY.md B.2): force fields (0, 0, M grad psi_k) and
one drift G = (a s + b, (c s + e) v, f v), whose five numbers the flow specification
gives for each case (``language/flowspec.py``: heavy ball, tau = 0, Nesterov); nothing
here asks which case it is. A random element of W is alpha G + a force sample.
Each system gives the same things to ``lie.py`` (``dim``, ``generators``, degrees)
and ``exact_fields`` builds, in one place, the generators as exact polynomial fields
for ``laws.py``, ``blocks.py`` and ``check``.

>>> from conslaw_algebra.language.parser import parse
>>> from conslaw_algebra.language.compiler import compile_program
>>> prog, header = compile_program(parse("param a, b, c\\noutput a*b*c"))
>>> flow = flow_system(prog, header.flow)
>>> flow.dim, flow.field_degree
(3, 2)
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from flint import fmpq, fmpq_mpoly

from ..errors import UnsupportedError
from ..exact import jets
from ..exact.modp import prime, residue
from ..exact.sparse import Terms, derivatives, sparse_terms
from ..language.expand import Expansion
from ..language.flowspec import FlowSpec
from ..language.modular import Evaluator, Sample, gate_pattern, value_bounds
from ..language.program import Program
from .fields import Field


def _mirror_mask(program: Program, spec: FlowSpec) -> np.ndarray:
    mask = np.zeros(program.num_params, dtype=bool)
    for info in program.params:
        if info.name in spec.mirror:
            mask[info.offset:info.offset + info.size] = True
    return mask


class _Base:
    def __init__(self, program: Program, spec: FlowSpec):
        if not program.gates_enter_linearly() and not program.normalizations:
            raise UnsupportedError("a ReLU gate or a one-hot input may enter a product twice "
                                   "(e.g. relu(h)*relu(h)); counting needs every gate to enter "
                                   "linearly")
        self.program = program
        self.spec = spec
        self.evaluator = Evaluator(program)
        # normalization layers (``analyses/normalized.py``): the scales s, s^2 q = 1
        self.normalized = bool(program.normalizations)
        self.scales = sum(program.data[k].size for k in program.normalizations)
        # gates drawn at 0/1 (``Evaluator.binary_gates``): N <= D - rank stays certain,
        # but no error probability is proved for equality
        self.binary_gates = self.evaluator.binary_gates
        self.patterns: dict[bytes, dict] = {}     # the gate patterns sampled (binary_gates)
        self.point = None
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
    metric_terms = {j: Terms(sparse_terms(poly)) for j, poly in metric.items()}

    def times(j, terms):
        return list((Terms(terms) * metric_terms[j]).items()) if j in metric_terms else terms

    return [[(j, times(j, terms)) for j, terms in field] for field in gradients]


def gradient_fields(features) -> list[list[tuple[int, list]]]:
    """For each feature psi, its gradient as [(variable j, terms of d psi / d t_j)].

    A feature is an fmpq_mpoly or its sparse terms [(variable indices, coefficient)].

    >>> gradient_fields([[((0, 0, 1), 3)]])
    [[(0, [((0, 1), 6)]), (1, [((0, 0), 3)])]]
    """
    return [sorted(derivatives(sparse_terms(psi) if isinstance(psi, fmpq_mpoly) else psi).items())
            for psi in features]


def exact_fields(program: Program, spec: FlowSpec, expansion: Expansion,
                 distinct: bool = False) -> list:
    """The generators of the flow as exact polynomial fields in the state variables: each a
    list of (component, [(variable indices, coefficient)]). One field per feature, in the
    expansion's order (``distinct``: one per distinct feature), then, with momentum, the
    drift G.

    >>> from conslaw_algebra.language.parser import parse
    >>> from conslaw_algebra.language.compiler import compile_program
    >>> from conslaw_algebra.language.expand import expand_features
    >>> prog, header = compile_program(parse("param a, b\\noutput a*b\\nflow momentum"))
    >>> exact_fields(prog, header.flow, expand_features(prog))   # (0,0,0, b, a) and G
    [[(3, [((2,), 1)]), (4, [((1,), 1)])], [(0, [((), 1)]), (1, [((3,), 1)]), (2, [((4,), 1)])]]
    """
    features = [f.terms for f in expansion.features]
    if distinct:
        features = list(dict.fromkeys(features))
    gradients = apply_metric(gradient_fields(features), expansion.metric)
    mirror = _mirror_mask(program, spec)
    if not spec.momentum:
        if not mirror.any():
            return gradients
        return [[(j, [(tuple(sorted(index + (j,))), c) for index, c in terms] if mirror[j]
                  else terms) for j, terms in field] for field in gradients]
    d = program.num_params
    tau = fmpq(spec.tau.numerator, spec.tau.denominator)
    fields = []
    for field in gradients:
        components = []
        for j, terms in field:
            moved = [(tuple(1 + i for i in index), c) for index, c in terms]
            if mirror[j]:       # M_j = tau theta_j + v_j
                moved = ([(tuple(sorted(index + (1 + j,))), c * tau) for index, c in moved
                          if tau] + [(tuple(sorted(index + (1 + d + j,))), c)
                                     for index, c in moved])
            components.append((1 + d + j, moved))
        fields.append(components)
    fields.append(_drift_field(spec, d))
    return fields


def _drift_field(spec: FlowSpec, d: int) -> list:
    """G = (a s + b, (c s + e) v, f v) as an exact field; components with no term left out."""
    a, b, c, e, f = (fmpq(x.numerator, x.denominator) for x in
                     map(Fraction, spec.drift().coefficients))
    time = [((0,), a)] * bool(a) + [((), b)] * bool(b)
    field = [(0, time)] if time else []
    for j in range(d):
        velocity = [((0, 1 + d + j), c)] * bool(c) + [((1 + d + j,), e)] * bool(e)
        if velocity:
            field.append((1 + j, velocity))
    if f:
        field += [(1 + d + j, [((1 + d + j,), f)]) for j in range(d)]
    return field


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
        """A batch of random generators, each a genuine element of W (with normalization
        layers: at data for which every scale exists at the point, ``settle_point``)."""
        if self.normalized:
            sample = self.evaluator.admissible_sample(rng, batch, self.point)
            if self.binary_gates:
                self._keep_patterns(sample)
            return _GradientSamples(self, sample)
        return _GradientSamples(self, self.evaluator.sample(rng, batch))

    def _keep_patterns(self, sample: Sample) -> None:
        """Remember the distinct 0/1 gate patterns of the samples drawn, one dict per
        pattern (gate data index -> values), for ``normalized.certify_patterns``."""
        for b in range(sample.batch):
            pattern = gate_pattern(self.program, sample, b)
            key = b"".join(v.astype(np.int8).tobytes() for v in pattern.values())
            self.patterns.setdefault(key, pattern)

    def settle_point(self, rng: np.random.Generator, theta: np.ndarray) -> np.ndarray:
        """The point of a count: ``theta``, or with normalization layers a point drawn
        from ``rng`` at which data can give every group its scale; kept for the data
        the generators draw."""
        theta = self.evaluator.admissible_point(rng)
        self.point = theta.reshape(1, 1, -1)
        return theta


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
        self.dim = spec.state_dim(self.params)
        drift = spec.drift()
        mirror_extra = 1 if self.mirror.any() else 0
        self.field_degree = max(drift.degree, self.gradient_degree + mirror_extra)
        # a random generator alpha G + force: bound both, denominators cleared together
        tau = abs(spec.tau)
        force = self.gradient_bits + (math.log2(1 + tau) if mirror_extra else 0.0)
        force_constants = self.gradient_constants + (drift.constants if mirror_extra else 0)
        self.generator_bits = max(0.0, float(np.logaddexp2(force, spec.drift_bits(self.params)))
                                  + max(force_constants, drift.constants) * self.log_denominator)

    @property
    def tau(self) -> int:
        """tau as a residue modulo the working prime."""
        return residue(self.spec.tau)

    def generators(self, rng: np.random.Generator, batch: int) -> Field:
        sample = self.evaluator.sample(rng, batch)
        drift = rng.integers(0, prime(), (1, batch, 1), dtype=np.int64)
        return _PhaseSamples(self, sample, drift)

    def drift(self, point: np.ndarray) -> np.ndarray:
        """G = (a s + b, (c s + e) v, f v) at a jet point of the phase space."""
        d, p = self.params, prime()
        a, b, c, e, f = (residue(Fraction(x)) for x in self.spec.drift().coefficients)
        s, v = point[..., :1], point[..., 1 + d:]
        out = np.zeros_like(point)
        out[..., :1] = s * a % p
        if b:                                  # a constant: no derivative part
            out[:1, ..., 0] = (out[:1, ..., 0] + b) % p
        velocity = v * e % p
        if c:
            velocity = (velocity + jets.multiply(np.broadcast_to(s, v.shape), v) * c) % p
        out[..., 1:1 + d] = velocity
        out[..., 1 + d:] = v * f % p
        return out


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
    return MomentumFlow(program, spec) if spec.momentum else GradientFlow(program, spec)

