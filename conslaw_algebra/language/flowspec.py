"""The training flow a `.net` file declares, and every case analysis on it.

Gradient flow theta' = -M grad E, or momentum theta'' + tau theta' = -M grad E with a
constant tau >= 0 (heavy ball) or Nesterov's tau = 3/t; M is the identity, or diag(theta)
on mirror parameters (with momentum diag(tau theta + theta')), or the ``metric`` lines.
Momentum is lifted to the phase space z = (s, theta, v), v = theta' (THEORY.md B.2),
where the flow is the force fields (0, 0, M grad psi_k) and one drift G:

    tau = 0:       s = t,            G = (1, v, 0)
    tau > 0:       s = e^(tau t),    G = (tau s, v, -tau v)
    Nesterov:      s = t,            G = t (1, v, -3 v / t) = (s, s v, -3 v)   (time rescaled)

All three are G = (a s + b, (c s + e) v, f v) for five rational numbers (``Drift``), so
every later stage (the fields modulo p and over QQ in ``flows/system.py``, the error
bounds, the simulation) works from those numbers and never asks which case it is in.
This object is the one place that knows the cases: the compiler builds it from the
``flow`` statement (``compiler.py``), the rest reads it. Names of the phase space's
first coordinate (t, or e^t) and the note printed with the laws are here too.
Where it stops: a damping that depends on time other than through s = t (say 5/t) or
on the state is not a case of this form; it would need a new drift, written here.

>>> spec = FlowSpec("momentum", tau=Fraction(1, 2))
>>> spec.describe(), spec.state_dim(4), spec.drift()
('heavy-ball momentum, tau = 1/2', 9, Drift(a=Fraction(1, 2), b=0, c=0, e=1, f=Fraction(-1, 2)))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Drift:
    """G(s, theta, v) = (a s + b, (c s + e) v, f v) on the phase space (s, theta, v).

    >>> Drift(a=1, c=1, f=-3).l1(2)        # |1| + 2 (|1| + |-3|): the norm of G's terms
    9
    """

    a: Fraction | int = 0
    b: Fraction | int = 0
    c: Fraction | int = 0
    e: Fraction | int = 0
    f: Fraction | int = 0

    @property
    def coefficients(self) -> tuple:
        return (self.a, self.b, self.c, self.e, self.f)

    def l1(self, params: int):
        """The sum of the absolute values of G's coefficients, over its 2 D + 1 components."""
        return abs(self.a) + abs(self.b) + params * (abs(self.c) + abs(self.e) + abs(self.f))

    @property
    def degree(self) -> int:
        """G's degree in the state variables: 2 when s multiplies v, else 1."""
        return 2 if self.c else 1

    @property
    def constants(self) -> int:
        """1 when a coefficient is not an integer (a denominator to clear), else 0."""
        return int(any(Fraction(x).denominator > 1 for x in self.coefficients))


@dataclass(frozen=True)
class FlowSpec:
    """The training dynamics.

    ``kind`` 'gradient' (theta' = -M grad E) or 'momentum'
    (theta'' + tau theta' = -M grad E, with ``nesterov`` meaning tau = 3/t);
    ``mirror`` names the parameters with the mirror (entropy) geometry: M = diag(theta)
    there, identity elsewhere (with momentum: diag(tau theta + theta')).

    >>> FlowSpec("momentum", tau=Fraction(1), mirror=("U",)).describe()
    'heavy-ball momentum, tau = 1, mirror on U'
    """

    kind: str = "gradient"
    mirror: tuple[str, ...] = ()
    tau: Fraction = Fraction(0)
    nesterov: bool = False

    def describe(self) -> str:
        if self.kind == "gradient":
            text = "gradient flow"
        elif self.nesterov:
            text = "Nesterov momentum, tau = 3/t"
        elif self.tau:
            text = f"heavy-ball momentum, tau = {self.tau}"
        else:
            text = "momentum, tau = 0"
        if self.mirror:
            return text + ", mirror on " + ", ".join(self.mirror)
        return text + (" (Euclidean)" if self.kind == "gradient" else "")

    @property
    def momentum(self) -> bool:
        """True for a second-order flow, counted on the phase space (s, theta, theta')."""
        return self.kind == "momentum"

    def state_dim(self, params: int) -> int:
        """The dimension of the space the flow moves in: D, or 2 D + 1 with momentum.

        >>> FlowSpec().state_dim(5), FlowSpec("momentum").state_dim(5)
        (5, 11)
        """
        return 2 * params + 1 if self.momentum else params

    def drift(self) -> Drift | None:
        """The drift G of a momentum flow on its phase space (header), None for gradient.

        >>> FlowSpec("momentum").drift(), FlowSpec("momentum", nesterov=True).drift()
        (Drift(a=0, b=1, c=0, e=1, f=0), Drift(a=1, b=0, c=1, e=0, f=-3))
        """
        if not self.momentum:
            return None
        if self.nesterov:
            return Drift(a=1, c=1, f=-3)
        if self.tau:
            return Drift(a=self.tau, e=1, f=-self.tau)
        return Drift(b=1, e=1)

    def damping(self, t: float) -> float:
        """The friction coefficient at time t: tau, or 3/t for Nesterov.

        >>> FlowSpec("momentum", nesterov=True).damping(2.0)
        1.5
        """
        return 3.0 / t if self.nesterov else float(self.tau)

    @property
    def start_time(self) -> float:
        """Where a trajectory starts: t = 1 for Nesterov (its tau = 3/t), else t = 0."""
        return 1.0 if self.nesterov else 0.0

    def time_coordinate(self, t):
        """s at time t (numbers or a numpy array): t, or e^(tau t) for heavy ball.

        >>> float(FlowSpec("momentum", tau=Fraction(2)).time_coordinate(0.0))
        1.0
        """
        if self.nesterov or not self.tau:
            return t
        return np.exp(float(self.tau) * t)

    def time_variable(self) -> tuple[str, str] | None:
        """The phase space's first coordinate: its text with ``{}`` for the time symbol (t,
        or s = e^(tau t)) and its usual identifier; None without momentum.

        >>> FlowSpec("momentum", tau=Fraction(2)).time_variable()
        ('e^(2*{})', 's')
        """
        if not self.momentum:
            return None
        if self.nesterov or not self.tau:
            return "{}", "t"
        return ("e^{}" if self.tau == 1 else f"e^({self.tau}*{{}})"), "s"

    def time_note(self, names) -> str | None:
        """How to read the phase-space variables, given their names (``VariableNames``: the
        first text name and the symbol of time); None without momentum.

        >>> from conslaw_algebra.language.program import VariableNames
        >>> FlowSpec("momentum", nesterov=True).time_note(VariableNames(("t",), ("t",), (), "t"))
        "W' is the velocity (time derivative) of W; t is time (Nesterov: tau = 3/t)"
        """
        if not self.momentum:
            return None
        first, time = names.text[0], names.time
        velocity = "W' is the velocity (time derivative) of W"
        if first.startswith("e^"):
            return (f"{velocity}; {first} is the factor e^(tau {time}) of heavy-ball momentum"
                    + ("" if time == "t" else f", {time} is time"))
        return velocity + (f"; {time} is time (Nesterov: tau = 3/{time})" if self.nesterov
                           else f"; {time} is time")

    def law_degree(self) -> int:
        """The degree at which laws are looked for by default: time factors raise it,
        e^(tau t) by one, Nesterov's t^3 by three.

        >>> FlowSpec().law_degree(), FlowSpec("momentum", nesterov=True).law_degree()
        (2, 5)
        """
        if not self.momentum:
            return 2
        return 5 if self.nesterov else 3 if self.tau else 2

    def drift_bits(self, params: int) -> float:
        """log2 of the l1 norm of the drift's terms (0 without momentum), for error bounds.

        >>> FlowSpec("momentum", nesterov=True).drift_bits(2) == math.log2(9)
        True
        """
        drift = self.drift()
        return math.log2(drift.l1(params)) if drift else 0.0
