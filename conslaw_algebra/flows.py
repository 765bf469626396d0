"""Model + flow -> the family of generator vector fields whose Lie algebra is counted.

For Euclidean gradient flow the loss gradients span W = span{grad psi_k}, and a
random element of W is grad Phi for Phi a random combination of the carriers at
random data (``numeric.py``). Other flows (metrics, momentum) plug in here by
providing the same three things: ``dim``, ``generators(rng, batch)`` and the degrees
used for the error bound.

>>> from conslaw_algebra.dsl import parse
>>> from conslaw_algebra.compile import compile_program
>>> flow = GradientFlow(compile_program(parse("param a, b, c\\noutput a*b*c"))[0])
>>> flow.dim, flow.field_degree
(3, 2)
"""
from __future__ import annotations

import numpy as np

from .errors import UnsupportedError
from .fields import Generators
from .numeric import Evaluator
from .program import Program


class GradientFlow:
    """theta' = -grad E(theta): generators grad Phi over random data and weights."""

    kind = "gradient"

    def __init__(self, program: Program):
        if not program.gates_enter_linearly():
            raise UnsupportedError("a ReLU gate may enter a product twice (e.g. relu(h)*relu(h)); "
                                   "counting needs every gate to enter linearly")
        self.program = program
        self.evaluator = Evaluator(program)
        self.dim = program.num_params
        theta = program.theta_degrees()
        data = program.data_degrees()
        self.field_degree = max(theta[c] for c, _ in program.carriers) - 1
        self.sample_degree = max(data[c] for c, _ in program.carriers) + 1

    def generators(self, rng: np.random.Generator, batch: int) -> Generators:
        """A batch of random generators, each a genuine element of W."""
        return Generators(self.evaluator, self.evaluator.sample(rng, batch))
