"""Watching the laws: a random training problem, its flow, and its discrete steps.

An exact law is trusted when it can be seen: along a trajectory of the declared flow
it stays flat while the loss falls. This module draws random data, targets and a
random smooth loss (all from ``seed``), integrates the flow of the ``.net`` file with
an adaptive Runge-Kutta solver (SciPy's DOP853, tight tolerances), and also runs the
discrete schemes with step eta: gradient descent theta <- theta - eta M grad E, or for
momentum the heavy ball v <- v - eta (tau v + M grad E), theta <- theta + eta v.
Each exact law (``Model.laws``) is evaluated in floats along every trajectory, and so
are the gradient-flow laws of the same model when the flow has momentum, which the
exact analysis says are lost there.

The drift of a law h along a trajectory x_0..x_n is
max_k |h(x_k) - h(x_0)| / max_k S(x_k), with S(x) = sum over the terms of h of
|c_a x^a|: the change measured against the size of the terms that cancel, so a
law that is exactly 0 at the start still has a meaningful relative drift.
Where it stops winning: a float trajectory shows a law, it does not prove one; the
proofs are the exact computations. Integration cost grows with the model's
forward/backward pass (``language/floating.py``), fine for hand-written models.

>>> from conslaw_algebra.api import parse
>>> run = simulate(parse("param a, b\\ninput x\\noutput a*b*x", "ab"), horizon=1.0,
...                etas=(0.1,), samples=4)
>>> run.laws[0].text, run.laws[0].flow_drift < 1e-8, bool(run.losses["flow"][-1] < run.losses["flow"][0])
('a^2 - b^2', True, True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..analyses import guards
from ..language import parser as dsl
from ..errors import ConslawError
from ..language.floating import FloatModel
from ..language.flowspec import FlowSpec
from ..analyses.laws import first_violation
from ..exact.render import render

FLAT = 1e-6   # a drift below this along the flow is reported as "flat"


# ------------------------------------------------------------- float polynomials
class FloatPolynomial:
    """An exact polynomial (fmpq_mpoly) evaluated in float64 at many points at once.

    >>> from flint import fmpq_mpoly_ctx
    >>> x, y = fmpq_mpoly_ctx.get(("t", 2), "degrevlex").gens()
    >>> p = FloatPolynomial(x**2 - 3*x*y)
    >>> p(np.array([[1.0, 2.0], [2.0, 0.0]])), p.magnitude(np.array([[1.0, 2.0]]))
    (array([-5.,  4.]), array([7.]))
    """

    def __init__(self, poly):
        terms = list(poly.terms())
        nvars = poly.context().nvars()
        self.exponents = np.array([e for e, _ in terms], dtype=np.int64).reshape(len(terms), nvars)
        self.coefficients = np.array([int(c.p) / int(c.q) for _, c in terms], dtype=float)

    def _monomials(self, points: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(points)
        out = np.ones((points.shape[0], len(self.coefficients)))
        for j in np.nonzero(self.exponents.any(axis=0))[0]:
            out *= points[:, j:j + 1] ** self.exponents[None, :, j]
        return out

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return self._monomials(points) @ self.coefficients

    def magnitude(self, points: np.ndarray) -> np.ndarray:
        """sum |c_a x^a| at each point: the size of the terms that cancel."""
        return np.abs(self._monomials(points)) @ np.abs(self.coefficients)


# ---------------------------------------------------------------- the problem
@dataclass
class Problem:
    """Random data, targets and loss for one model, and the flow to train it with."""

    model: FloatModel
    targets: np.ndarray        # (B, outputs)
    weights: np.ndarray        # (outputs,) positive weights of the loss terms
    loss_kind: str             # 'logcosh' or 'quadratic'
    curvature: np.ndarray      # (outputs, outputs) SPD matrix of the quadratic loss
    flow: FlowSpec             # the declared flow (``language/flowspec.py``)
    mirror: np.ndarray         # bool mask of mirror parameters
    theta0: np.ndarray
    velocity0: np.ndarray

    def loss_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray, list]:
        values = self.model.forward(theta)
        residual = self.model.outputs(theta, values) - self.targets
        batch = residual.shape[0]
        if self.loss_kind == "quadratic":
            weighted = residual @ self.curvature
            loss = 0.5 * float((weighted * residual).sum()) / batch
            derivative = weighted / batch
        else:
            size = np.abs(residual)
            loss = float((self.weights * (size + np.log1p(np.exp(-2 * size)) - math.log(2))).sum()) / batch
            derivative = self.weights * np.tanh(residual) / batch
        return loss, self.model.pullback(theta, derivative, values), values

    def loss(self, theta: np.ndarray) -> float:
        return self.loss_and_gradient(theta)[0]

    def force(self, theta: np.ndarray, velocity: np.ndarray | None = None) -> np.ndarray:
        """M grad E: the metric lines, and the mirror geometry (theta, or tau theta + v)."""
        _, gradient, values = self.loss_and_gradient(theta)
        gradient = gradient * self.model.metric(theta, values)
        if self.mirror.any():
            factor = theta if velocity is None else float(self.flow.tau) * theta + velocity
            gradient[self.mirror] *= factor[self.mirror]
        return gradient


def make_problem(model, seed: int = 0, samples: int = 8, loss: str = "logcosh",
                 scale: float = 0.7) -> Problem:
    """Draw data, targets, loss weights, initial parameters and velocities from ``seed``.

    >>> from conslaw_algebra.api import parse
    >>> p = make_problem(parse("param a, b\\ninput x\\noutput a*b*x"), seed=3)
    >>> p.theta0.shape, p.targets.shape, p.loss(p.theta0) > 0
    ((2,), (8, 1), True)
    """
    if loss not in ("logcosh", "quadratic"):
        raise ConslawError(f"unknown loss '{loss}' (use logcosh or quadratic)", file="<arguments>")
    if samples < 1:
        raise ConslawError("--samples must be at least 1", file="<arguments>")
    program, spec = model.program, model.flow
    rng = np.random.default_rng(seed)
    inputs = {k: rng.normal(size=(samples,) + d.shape) for k, d in enumerate(program.data)
              if d.kind == "input"}
    floats = FloatModel(program, inputs)
    outputs = sum(program.nodes[o].size for o in program.outputs)
    targets = rng.normal(size=(floats.batch, outputs))
    weights = rng.uniform(0.5, 1.5, outputs)
    root = rng.normal(size=(outputs, outputs))
    curvature = root @ root.T / outputs + 0.5 * np.eye(outputs)
    mirror = np.zeros(floats.dim, dtype=bool)
    positive = np.zeros(floats.dim, dtype=bool)
    for index, info in enumerate(program.params):
        block = slice(info.offset, info.offset + info.size)
        if info.name in spec.mirror:
            mirror[block] = True
        if info.name in spec.mirror or index in program.metrics:
            positive[block] = True
    theta0 = scale * rng.normal(size=floats.dim)
    # mirror geometries and metrics such as 'metric U = U' are meant for theta > 0
    theta0[positive] = np.abs(theta0[positive]) + 0.1
    velocity0 = 0.5 * scale * rng.normal(size=floats.dim)
    return Problem(floats, targets, weights, loss, curvature, spec, mirror, theta0, velocity0)


# --------------------------------------------------------------- trajectories
@dataclass
class Trajectory:
    """Times, parameters (and velocities), and the loss along one run."""

    label: str
    times: np.ndarray
    theta: np.ndarray            # (P, D)
    velocity: np.ndarray | None  # (P, D) for momentum
    loss: np.ndarray
    stopped: float | None = None  # the time where a stalled integration stopped
    stop_reason: str | None = None

    def state(self, problem: Problem) -> np.ndarray:
        """Points in the variables of the flow's laws: theta, or (s, theta, theta')."""
        if self.velocity is None:
            return self.theta
        return np.hstack([problem.flow.time_coordinate(self.times)[:, None], self.theta,
                          self.velocity])


class _Stalled(Exception):
    """The adaptive solver spent its whole evaluation budget."""


STALL_WINDOW = 50      # steps: a stall is this many steps in a row ...
STALL_ADVANCE = 1e-5   # ... that advance time by less than this fraction of the horizon each


def integrate(problem: Problem, horizon: float, rtol: float = 1e-10, atol: float = 1e-12,
              points: int = 101, max_evaluations: int = 200_000) -> Trajectory:
    """The flow itself, by SciPy's adaptive DOP853 (order 8) at the given tolerances.

    A ReLU network's flow can reach a kink where the field points into the boundary
    from both sides and slides along it; an error-controlled solver then shrinks its
    step without end. The solver is stepped here one step at a time, and
    ``STALL_WINDOW`` steps in a row whose mean length is below ``STALL_ADVANCE`` times
    the horizon are a stall: on a smooth field an order-8 method at rtol 1e-10 takes
    steps near rtol^(1/8), about 0.05 of the time scale, and crossing a kink once
    costs a few short steps that then grow up to tenfold each, so their mean over 50
    steps stays far above 1e-5; only a field that stays discontinuous under the
    solver keeps it that small (measured on the shipped conv and max-pool examples
    at seed 0: steps of about 1e-8 once sliding; the smallest 50-step mean on the way
    there, 2.5e-5, and on the smooth examples 0.02). The integration stops
    at the last output time reached, and ``Trajectory.stopped`` says so (the laws are
    evaluated up to there). The decision depends on the steps only, not on the
    machine's speed, so a seed gives the same report everywhere. ``max_evaluations``
    field evaluations in all is a second, coarser stop.

    >>> from conslaw_algebra.api import parse
    >>> problem = make_problem(parse("param a, b\\ninput x\\noutput a*b*x"), seed=0)
    >>> run = integrate(problem, 0.5, points=3)
    >>> h = run.theta[:, 0]**2 - run.theta[:, 1]**2          # the law a^2 - b^2
    >>> run.times.tolist(), bool(abs(h - h[0]).max() < 1e-8), run.stopped
    ([0.0, 0.25, 0.5], True, None)
    """
    try:
        from scipy.integrate import DOP853
    except ImportError:
        raise ConslawError("simulation needs SciPy: pip install 'conslaw_algebra[simulate]'",
                           file="<simulation>") from None

    d = problem.model.dim
    start = problem.flow.start_time
    times = np.linspace(start, start + horizon, points)
    evaluations = [0]

    def count():
        evaluations[0] += 1
        if evaluations[0] > max_evaluations:
            raise _Stalled

    if problem.flow.momentum:
        def rhs(t, z):
            count()
            theta, v = z[:d], z[d:]
            return np.concatenate([v, -problem.flow.damping(t) * v - problem.force(theta, v)])
        state = np.concatenate([problem.theta0, problem.velocity0])
    else:
        def rhs(t, z):
            count()
            return -problem.force(z)
        state = problem.theta0.copy()
    states, stopped, reason = [state], None, None
    recent: list[float] = []     # the last STALL_WINDOW step lengths
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            solver = DOP853(rhs, times[0], state, times[-1], rtol=rtol, atol=atol)
            while solver.status == "running" and len(states) < points:
                message = solver.step()
                if solver.status == "failed" or not np.isfinite(solver.y).all():
                    reason = f"the solver could not go on ({message or 'the state is not finite'})"
                    break
                if len(states) < points and times[len(states)] <= solver.t:
                    dense = solver.dense_output()
                    while len(states) < points and times[len(states)] <= solver.t:
                        states.append(dense(times[len(states)]))
                recent = recent[1 - STALL_WINDOW:] + [solver.step_size]
                if len(recent) == STALL_WINDOW and sum(recent) < STALL_ADVANCE * horizon * STALL_WINDOW:
                    reason = ("it slides along a kink (a ReLU or max-pool boundary): the "
                              f"solver's last {STALL_WINDOW} steps advanced time by "
                              f"{sum(recent):.1e} in all")
                    break
        except _Stalled:
            reason = f"the solver used {max_evaluations:,} field evaluations"
    if reason is not None:
        stopped = float(times[len(states) - 1])
    states = np.array(states)
    theta = states[:, :d]
    velocity = states[:, d:] if problem.flow.momentum else None
    loss = np.array([problem.loss(th) for th in theta])
    return Trajectory("flow", times[:len(states)], theta, velocity, loss, stopped, reason)


def descend(problem: Problem, eta: float, horizon: float) -> Trajectory:
    """Gradient descent (or heavy ball) with step eta, for round(horizon / eta) steps.

    >>> from conslaw_algebra.api import parse
    >>> problem = make_problem(parse("param a, b\\ninput x\\noutput a*b*x"), seed=0)
    >>> run = descend(problem, 0.1, 1.0)
    >>> h = run.theta[:, 0]**2 - run.theta[:, 1]**2   # each step multiplies it by 1 - (eta*g)^2
    >>> len(run.times), bool(abs(h[-1]) < abs(h[0]))
    (11, True)
    """
    steps = max(1, int(round(horizon / eta)))
    theta = problem.theta0.copy()
    velocity = problem.velocity0.copy() if problem.flow.momentum else None
    t = problem.flow.start_time
    thetas, velocities, times = [theta.copy()], [], [t]
    if velocity is not None:
        velocities.append(velocity.copy())
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            if velocity is None:
                theta = theta - eta * problem.force(theta)
            else:
                velocity = velocity - eta * (problem.flow.damping(t) * velocity
                                             + problem.force(theta, velocity))
                theta = theta + eta * velocity
                velocities.append(velocity.copy())
            t += eta
            thetas.append(theta.copy())
            times.append(t)
    theta_path = np.array(thetas)
    if not np.isfinite(theta_path).all():
        raise ConslawError(f"the discrete run with step {eta:g} diverged; use smaller --etas",
                           file="<simulation>")
    loss = np.array([problem.loss(th) for th in theta_path])
    return Trajectory(f"eta={eta:g}", np.array(times), theta_path,
                      np.array(velocities) if velocity is not None else None, loss)


# ---------------------------------------------------------------- the plot
PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def plot_target(path) -> tuple[str, str]:
    """The plot's file and format (from its extension), refused before any work when
    the format is unknown or the folder cannot take the file.

    >>> plot_target("drift.svg")
    ('drift.svg', 'svg')
    >>> plot_target("drift.jpg")
    Traceback (most recent call last):
    ...
    conslaw_algebra.errors.ConslawError: drift.jpg: the plot's format comes from its extension: .png, .pdf or .svg, not '.jpg'
    """
    import os
    from pathlib import Path

    target = Path(str(path)).expanduser()
    kind = PLOT_FORMATS.get(target.suffix.lower())
    if kind is None:
        shown = f"'{target.suffix}'" if target.suffix else "none"
        raise ConslawError("the plot's format comes from its extension: .png, .pdf or .svg, "
                           f"not {shown}", file=str(path))
    folder = target.parent
    if target.is_dir():
        raise ConslawError("cannot write the plot: this is a folder", file=str(path))
    if not folder.is_dir():
        raise ConslawError(f"cannot write the plot: no folder '{folder}'", file=str(path))
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists()
                                                     and not os.access(target, os.W_OK)):
        raise ConslawError("cannot write the plot: permission denied", file=str(path))
    return str(path), kind


MARKERS = (None, "o", "s", "^", "D", "v", "P", "X")


def law_style(k: int) -> tuple[int, str | None]:
    """Law k's colour (an index into the ten colours of matplotlib's ``tab10``, chosen
    for telling lines apart, colour-blind readers included) and marker: the first ten
    laws are plain lines, each further ten repeat the colours with a marker of their
    own, so 80 laws have 80 different styles; beyond, the styles repeat.

    >>> [law_style(k) for k in (0, 9, 10, 29)]
    [(0, None), (9, None), (0, 'o'), (9, 's')]
    """
    return k % 10, MARKERS[(k // 10) % len(MARKERS)]


# ---------------------------------------------------------------- the report
@dataclass
class LawTrace:
    """One law along every run."""

    name: str
    text: str
    kind: str                     # 'flow' (a law of the declared flow) or 'gradient-flow'
    conserved: bool               # the exact verdict for the declared flow
    flow_drift: float
    step_drifts: dict[float, float] = field(default_factory=dict)
    first_step: dict[float, float] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)   # run label -> (h - h0)/scale

    @property
    def observed(self) -> str:
        return "flat" if self.flow_drift <= FLAT else "drifts"


@dataclass
class Simulation:
    """Everything ``conslaw simulate`` reports and plots."""

    model: str
    flow: str
    seed: int
    horizon: float
    samples: int
    loss_kind: str
    rtol: float
    etas: tuple[float, ...]
    laws: list[LawTrace]
    times: dict[str, np.ndarray]
    losses: dict[str, np.ndarray]
    scheme: str
    stopped: float | None = None   # where the flow's integration stalled (see ``integrate``)
    stop_reason: str | None = None

    def to_json(self) -> dict:
        return {
            "model": self.model, "flow": self.flow, "seed": self.seed, "horizon": self.horizon,
            "samples": self.samples, "loss": self.loss_kind, "solver": "DOP853",
            "rtol": self.rtol, "flat_below": FLAT, "scheme": self.scheme, "etas": list(self.etas),
            "flow_stopped_at": self.stopped, "flow_stop_reason": self.stop_reason,
            "loss_start": float(self.losses["flow"][0]),
            "loss_end": {label: float(v[-1]) for label, v in self.losses.items()},
            "laws": [{"name": law.name, "law": law.text, "kind": law.kind,
                      "conserved": law.conserved, "flow_drift": law.flow_drift,
                      "observed": law.observed,
                      "step_drift": {f"{e:g}": law.step_drifts[e] for e in self.etas},
                      "first_step_change": {f"{e:g}": law.first_step[e] for e in self.etas}}
                     for law in self.laws],
        }

    def to_text(self, scaling: bool = False) -> str:
        lines = [f"simulation of {self.model} ({self.flow}), seed {self.seed}: "
                 f"{self.samples} data points, {self.loss_kind} loss, time {self.horizon:g}",
                 f"flow: DOP853, rtol {self.rtol:g}; loss {self.losses['flow'][0]:.4g} -> "
                 f"{self.losses['flow'][-1]:.4g}"]
        if self.stopped is not None:
            lines.append(f"  the flow stopped at t = {self.stopped:g}: {self.stop_reason}; "
                         "its drifts are measured up to there")
        for eta in self.etas:
            loss = self.losses[f"eta={eta:g}"]
            lines.append(f"{self.scheme} eta={eta:g}: {len(loss) - 1} steps; loss "
                         f"{loss[0]:.4g} -> {loss[-1]:.4g}")
        if not self.laws:
            lines.append("no polynomial laws to track")
            return "\n".join(lines)
        header = (f"{'law':<6}{'kind':<15}{'exact verdict':<15}{'flow drift':>11}"
                  + "".join(f"{'eta=' + format(e, 'g'):>11}" for e in self.etas) + "  observed")
        lines += ["", "relative drift max|h(t) - h(0)| / max sum|terms of h|:", header]
        until = "" if self.stopped is None else f" to t={self.stopped:g}"
        for law in self.laws:
            verdict = "conserved" if law.conserved else "not conserved"
            agree = "" if (law.observed == "flat") == law.conserved else "  (disagrees!)"
            lines.append(f"{law.name:<6}{law.kind:<15}{verdict:<15}{law.flow_drift:>11.2e}"
                         + "".join(f"{law.step_drifts[e]:>11.2e}" for e in self.etas)
                         + f"  {law.observed}{until}{agree}")
        lines.append("")
        for law in self.laws:
            lines.append(f"  {law.name} = {law.text}")
        flat = ", ".join(w.name for w in self.laws if w.observed == "flat") or "none"
        drifting = ", ".join(w.name for w in self.laws if w.observed != "flat") or "none"
        if self.stopped is None:
            lines.append(f"conserved along the flow (drift <= {FLAT:g}): {flat}; "
                         f"drifting: {drifting}")
        else:   # a stalled flow says nothing about the laws past the stall
            lines.append(f"the flow stalled at t = {self.stopped:g} of {self.horizon:g}, so it "
                         f"gives no verdict past there; up to t = {self.stopped:g}: flat (drift "
                         f"<= {FLAT:g}): {flat}; drifting: {drifting}")
        if scaling:
            lines += [""] + self.scaling_lines()
        return "\n".join(lines)

    def scaling_lines(self) -> list[str]:
        """How drift scales with eta: observed orders between successive step sizes."""
        lines = [f"drift against the step size ({self.scheme}); order = log2 of the ratio "
                 "between eta and eta/2",
                 "  (THEORY.md C, gradient descent and a quadratic law: one step changes h by "
                 "(eta^2/2) g^T H g, order 2; over a fixed time, order 1)"]
        etas = self.etas
        for law in self.laws:
            first = [law.first_step[e] for e in etas]
            total = [law.step_drifts[e] for e in etas]
            lines.append(f"  {law.name}: first step " + ", ".join(f"{v:.2e}" for v in first)
                         + "  orders " + ", ".join(_order(a, b, x, y) for a, b, x, y
                                                   in zip(etas, etas[1:], first, first[1:])))
            lines.append(f"  {'':<{len(law.name)}}  whole run  " + ", ".join(f"{v:.2e}" for v in total)
                         + "  orders " + ", ".join(_order(a, b, x, y) for a, b, x, y
                                                   in zip(etas, etas[1:], total, total[1:])))
        return lines

    def figure(self):
        """Loss and every law's relative change against time, one column per run,
        with the legend beside the panels (never over them), in as many columns as
        it needs to stay within the figure's height."""
        try:
            import matplotlib
            from matplotlib.figure import Figure
        except ImportError:
            raise ConslawError("plots need matplotlib: pip install 'conslaw_algebra[simulate]' "
                               "(or pass --no-plot)", file="<simulation>") from None

        # a Figure of its own, not pyplot's: no backend is switched and nothing global
        # is left open, so a notebook's own plots are untouched (and it shows this one)
        runs = ["flow"] + [f"eta={e:g}" for e in self.etas]
        rows = 24                                  # legend entries per legend column
        columns = -(-len(self.laws) // rows)
        figure = Figure(figsize=(4 * len(runs) + 1.6 * columns, 7), layout="constrained")
        axes = figure.subplots(2, len(runs), squeeze=False, sharey="row")
        colours = matplotlib.colormaps["tab10"]
        largest = max([float(np.abs(v).max()) for law in self.laws for v in law.values.values()]
                      + [0.0])
        for column, run in enumerate(runs):
            top, bottom = axes[0, column], axes[1, column]
            top.plot(self.times[run], self.losses[run], color="black")
            title = run if run != "flow" else "flow (ODE)"
            if run == "flow" and self.stopped is not None:
                title += f", stalled at t = {self.stopped:g}"
            top.set_title(f"{self.model}: {title}")
            top.set_xlabel("time")
            for k, law in enumerate(self.laws):
                colour, marker = law_style(k)
                points = len(self.times[run])
                bottom.plot(self.times[run], law.values[run],
                            "-" if law.kind == "flow" else "--", color=colours(colour),
                            marker=marker, markersize=4,
                            markevery=(k % 7 * max(1, points // 70), max(1, points // 10)),
                            label=f"{law.name} ({'GF law' if law.kind != 'flow' else 'law'})")
            bottom.set_xlabel("time")
            limit = max(0.05, 1.1 * largest)
            bottom.set_ylim(-limit, limit)
        axes[0, 0].set_ylabel("loss")
        axes[1, 0].set_ylabel("(h(t) - h(0)) / max sum|terms|")
        if self.laws:
            figure.legend(*axes[1, 0].get_legend_handles_labels(), loc="outside right upper",
                          fontsize="small", ncol=columns, title="laws")
        return figure

    def plot(self, path: str) -> str:
        """Write ``figure()`` to ``path``, in the format of its extension (PNG, PDF, SVG)."""
        path, kind = plot_target(path)
        try:
            self.figure().savefig(path, dpi=80, format=kind)
        except (OSError, ValueError) as exc:
            raise ConslawError(f"cannot write the plot ({exc})", file=str(path)) from None
        return path


def _order(eta_a, eta_b, drift_a, drift_b) -> str:
    if drift_a <= 0 or drift_b <= 0:
        return "-"
    return f"{math.log(drift_a / drift_b) / math.log(eta_a / eta_b):.2f}"


def gradient_flow_model(model):
    """The same model trained by gradient flow (mirror options kept, momentum removed).

    >>> from conslaw_algebra.api import parse
    >>> gradient_flow_model(parse("layers 1 -> 1 -> 1\\nflow momentum tau=1")).flow.kind
    'gradient'
    """
    from ..api import Model

    statements = []
    for stmt in model.ast.statements:
        if isinstance(stmt, dsl.FlowStmt):
            options = tuple(o for o in stmt.options if o.key not in ("tau", "nesterov"))
            stmt = dsl.FlowStmt("gradient", options, stmt.pos)
        statements.append(stmt)
    return Model(dsl.Program(tuple(statements), model.ast.source_name), model.memory_budget)


def simulate(model, seed: int = 0, horizon: float = 2.0, etas=(0.1, 0.05, 0.025),
             degree: int | None = None, samples: int = 8, loss: str = "logcosh",
             rtol: float = 1e-10, scale: float = 0.7) -> Simulation:
    """Integrate the flow and the discrete schemes; evaluate every law along each run.

    >>> from conslaw_algebra.api import parse
    >>> run = simulate(parse("param a, b\\ninput x\\noutput a*b*x"), horizon=0.5, etas=(0.1,),
    ...                samples=2)
    >>> law = run.laws[0]
    >>> law.text, law.flow_drift < 1e-8, law.step_drifts[0.1] > 1e-6   # kept by the flow only
    ('a^2 - b^2', True, True)
    """
    if horizon <= 0 or not math.isfinite(horizon):
        raise ConslawError("--horizon must be a positive number", file="<arguments>")
    etas = tuple(sorted({float(e) for e in etas}, reverse=True))
    if not etas or any(not math.isfinite(e) or e <= 0 for e in etas):
        raise ConslawError("--etas must be positive numbers", file="<arguments>")
    if etas[0] > horizon:
        raise ConslawError(f"the step size {etas[0]:g} is longer than --horizon {horizon:g}",
                           file="<arguments>")
    if any(horizon / e > 100_000 for e in etas):
        raise ConslawError("a step size is so small that the run would take more than "
                           "100,000 steps; raise --etas or lower --horizon", file="<arguments>")
    if not 0 < rtol < 1:
        raise ConslawError(f"--rtol must lie in (0, 1), got {rtol:g}", file="<arguments>")
    if not 0 < scale < 1e3:
        raise ConslawError(f"--scale must lie in (0, 1000), got {scale:g}", file="<arguments>")
    if samples < 1:
        raise ConslawError("--samples must be at least 1", file="<arguments>")
    guards.require(guards.simulate_bytes(model.program, samples),
                   f"simulating {samples:,} data points (float values and gradients of every "
                   "node)", "use fewer --samples", model.memory_budget)
    degree = model.flow.law_degree() if degree is None else degree
    # the exact laws first: a refused law system stops before any integration
    traced: list[tuple[str, object, str, bool, bool]] = []   # name, poly, kind, conserved, phase
    result = model.laws(degree, seed=seed)
    for k, law in enumerate(result.laws, start=1):
        traced.append((f"h{k}", law, "flow", True, model.flow.momentum))
    if model.flow.momentum:
        plain = gradient_flow_model(model)
        for k, law in enumerate(plain.laws(2, seed=seed).laws, start=1):
            conserved = first_violation(model.to_state(law), model.polynomial_fields) is None
            traced.append((f"g{k}", law, "gradient-flow", conserved, False))

    problem = make_problem(model, seed, samples, loss, scale)
    flow_run = integrate(problem, horizon, rtol=rtol, atol=rtol * 1e-2)
    runs = {"flow": flow_run}
    run_eta = {f"eta={eta:g}": eta for eta in etas}
    if len(run_eta) < len(etas):
        raise ConslawError("give step sizes that differ in their first 6 digits", file="<arguments>")
    for label, eta in run_eta.items():
        runs[label] = descend(problem, eta, horizon)

    laws = []
    for name, poly, kind, conserved, phase in traced:
        evaluator = FloatPolynomial(poly)
        names = list(model.state_names if phase else model.names)
        trace = LawTrace(name, render(poly, names), kind, conserved, 0.0)
        for label, run in runs.items():
            points = run.state(problem) if phase else run.theta
            values = evaluator(points)
            scale_ = float(evaluator.magnitude(points).max()) or 1.0
            trace.values[label] = (values - values[0]) / scale_
            drift = float(np.abs(values - values[0]).max() / scale_)
            if label == "flow":
                trace.flow_drift = drift
            else:
                eta = run_eta[label]
                trace.step_drifts[eta] = drift
                start = float(evaluator.magnitude(points[:1])[0]) or 1.0
                trace.first_step[eta] = float(abs(values[1] - values[0]) / start)
        laws.append(trace)
    scheme = "heavy ball" if model.flow.momentum else "gradient descent"
    return Simulation(model.name, model.flow.describe(), seed, horizon, problem.model.batch,
                      loss, rtol, etas, laws, {k: r.times for k, r in runs.items()},
                      {k: r.loss for k, r in runs.items()}, scheme, flow_run.stopped,
                      flow_run.stop_reason)
