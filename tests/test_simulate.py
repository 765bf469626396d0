"""Simulated flows: the exact laws stay flat along the flow, the lost ones drift, and
gradient descent moves a quadratic law by (eta^2/2) g^T H g per step (THEORY.md C).

Independent sources: the float gradient is checked against central finite differences;
the laws whose drift is measured are written out by hand from THEORY.md (A.5, B.3)
where a specific law matters; the per-step change of a quadratic law is the closed
form of THEORY.md C, evaluated here with the Hessian of the hand-written law.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conslaw_algebra as ca
from conslaw_algebra.views.cli import main
from conslaw_algebra.language.floating import FloatModel
from conslaw_algebra.tools.simulate import descend, integrate, make_problem, simulate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.net")), ids=lambda p: p.stem)
def test_float_gradient_matches_finite_differences(path):
    program = ca.load(path).program
    rng = np.random.default_rng(7)
    inputs = {k: rng.normal(size=(3,) + d.shape) for k, d in enumerate(program.data)
              if d.kind == "input"}
    model = FloatModel(program, inputs)
    theta = rng.normal(size=model.dim)
    adjoint = rng.normal(size=model.outputs(theta).shape)
    gradient = model.pullback(theta, adjoint)
    eps = 1e-6
    for j in range(model.dim):
        step = np.zeros(model.dim)
        step[j] = eps
        difference = ((model.outputs(theta + step) - model.outputs(theta - step)) * adjoint).sum()
        assert gradient[j] == pytest.approx(difference / (2 * eps), abs=1e-6)


def test_relu_gate_and_smooth_functions_take_their_real_values():
    text = ("input x[2]\nparam a[2]\n"
            "output sum(relu(a * x)) + sum(tanh(a * x)) + sum(sigmoid(a * x)) + sum(softmax(a * x))")
    program = ca.parse(text).program
    model = FloatModel(program, {0: np.array([[1.0, 1.0]])})
    a = np.array([0.5, -2.0])
    expected = 0.5 + np.tanh(a).sum() + (1 / (1 + np.exp(-a))).sum() + 1.0
    assert model.outputs(a)[0, 0] == pytest.approx(expected)


def test_maxpool_selects_the_largest_entry_of_each_window():
    program = ca.parse("input x[4]\nparam a[4]\noutput maxpool(a * x, size=2)").program
    model = FloatModel(program, {0: np.ones((1, 4))})
    assert model.outputs(np.array([1.0, 3.0, -1.0, -2.0])).tolist() == [[3.0, -1.0]]


def test_relu_network_laws_are_flat_and_the_loss_falls(tmp_path):
    model = ca.load(EXAMPLES / "relu_bias_3layer.net")
    run = simulate(model, seed=1, horizon=1.0, etas=(0.1, 0.05), rtol=1e-9)
    assert len(run.laws) == 8                  # one per hidden neuron (THEORY.md A.5)
    assert run.losses["flow"][-1] < 0.8 * run.losses["flow"][0]
    for law in run.laws:
        assert law.kind == "flow" and law.conserved
        assert law.flow_drift < 1e3 * 1e-9     # tied to the solver's tolerance
    # gradient descent drifts, O(eta) (a neuron whose gates are all off stays put)
    assert max(law.step_drifts[0.1] for law in run.laws) > 1e-4
    picture = run.plot(str(tmp_path / "relu.png"))
    assert Path(picture).read_bytes()[:8] == PNG_MAGIC


def test_drift_along_the_flow_follows_the_solver_tolerance():
    model = ca.load(EXAMPLES / "linear_3layer.net")
    loose = simulate(model, seed=2, horizon=0.5, etas=(0.1,), rtol=1e-5)
    tight = simulate(model, seed=2, horizon=0.5, etas=(0.1,), rtol=1e-10)
    for a, b in zip(loose.laws, tight.laws):
        assert a.flow_drift < 1e3 * 1e-5 and b.flow_drift < 1e3 * 1e-10


def test_momentum_keeps_its_own_laws_and_loses_the_gradient_flow_laws():
    model = ca.load(EXAMPLES / "linear_momentum.net")
    run = simulate(model, seed=0, horizon=1.5, etas=(0.1,))
    own = [law for law in run.laws if law.kind == "flow"]
    lost = [law for law in run.laws if law.kind == "gradient-flow"]
    # THEORY.md B.3: 3 antisymmetric momentum laws, and the 6 entries of
    # W1 W1^T - W2^T W2 (3x3 symmetric) that gradient flow conserves are lost
    assert len(own) == 3 and len(lost) == 6
    assert all(law.flow_drift < 1e-7 for law in own)
    assert all(not law.conserved for law in lost)
    assert max(law.flow_drift for law in lost) > 1e-2
    assert all(law.observed == "drifts" for law in lost)


def test_hand_written_momentum_law_is_conserved_along_the_heavy_ball_flow():
    # THEORY.md B.3, two layers W2 W1 x with tau = 1: for the antisymmetric C = E_01 - E_10,
    # e^t * [ (W2^T W2' - W2'^T W2) - (W1' W1^T - W1 W1'^T) ]_{01} is conserved.
    model = ca.load(EXAMPLES / "linear_momentum.net")
    problem = make_problem(model, seed=4)
    run = integrate(problem, 1.5, rtol=1e-10, atol=1e-12)
    w1 = run.theta[:, :6].reshape(-1, 3, 2)
    w2 = run.theta[:, 6:].reshape(-1, 2, 3)
    v1 = run.velocity[:, :6].reshape(-1, 3, 2)
    v2 = run.velocity[:, 6:].reshape(-1, 2, 3)
    t = lambda a: np.swapaxes(a, 1, 2)  # noqa: E731
    matrix = (t(w2) @ v2 - t(v2) @ w2) - (v1 @ t(w1) - w1 @ t(v1))
    law = np.exp(run.times) * matrix[:, 0, 1]
    assert np.abs(law - law[0]).max() < 1e-7
    lost = (w1 @ t(w1) - t(w2) @ w2)[:, 0, 1]       # a gradient-flow law
    assert np.abs(lost - lost[0]).max() > 1e-3


def test_gradient_descent_moves_a_quadratic_law_by_eta_squared_per_step():
    # THEORY.md C: for a quadratic law h with constant Hessian H and a loss gradient g,
    # h(theta - eta g) - h(theta) = (eta^2 / 2) g^T H g exactly, so halving eta divides
    # the change of one step by 4. Two-layer linear net U V^T x, h = (U^T U - V^T V)[0,0].
    model = ca.parse("input x[3]\nparam U[2,2], V[3,2]\noutput U @ (V.T @ x)", "uv")
    problem = make_problem(model, seed=5, samples=6)
    theta = problem.theta0
    g = problem.force(theta)

    def h(point):
        u, v = point[:4].reshape(2, 2), point[4:].reshape(3, 2)
        return u[:, 0] @ u[:, 0] - v[:, 0] @ v[:, 0]

    hessian = np.zeros(10)
    hessian[[0, 2]] = 2.0                        # U[0,0], U[1,0]
    hessian[[4, 6, 8]] = -2.0                    # V[0,0], V[1,0], V[2,0]
    changes = []
    for eta in (0.1, 0.05, 0.025):
        change = h(theta - eta * g) - h(theta)
        assert change == pytest.approx(eta ** 2 / 2 * (g * hessian) @ g, rel=1e-9)
        changes.append(change)
    assert changes[0] / changes[1] == pytest.approx(4.0, rel=1e-9)
    assert changes[1] / changes[2] == pytest.approx(4.0, rel=1e-9)
    # the same through the discrete run of the simulator (one step each)
    for eta, change in zip((0.1, 0.05), changes):
        one_step = descend(problem, eta, eta)
        assert h(one_step.theta[1]) - h(one_step.theta[0]) == pytest.approx(change, rel=1e-9)


def test_reported_first_step_orders_are_two_and_whole_run_orders_one():
    model = ca.load(EXAMPLES / "relu_2layer.net")
    run = simulate(model, seed=3, horizon=1.0, etas=(0.04, 0.02, 0.01))
    for law in run.laws:
        first = [law.first_step[e] for e in run.etas]
        assert first[0] / first[1] == pytest.approx(4.0, rel=1e-6)
        assert first[1] / first[2] == pytest.approx(4.0, rel=1e-6)
        whole = [law.step_drifts[e] for e in run.etas]
        assert 1.5 < whole[0] / whole[1] < 2.7     # O(eta) over a fixed time


def test_mirror_flow_keeps_the_nmf_laws():
    # THEORY.md B.3: sum_i U[i,k] - sum_j V[k,j] is conserved by theta' = -theta * grad E;
    # it is linear, so gradient descent in that geometry keeps it exactly as well.
    model = ca.load(EXAMPLES / "nmf_mirror.net")
    problem = make_problem(model, seed=6)
    run = integrate(problem, 1.0)
    u, v = run.theta[:, :6].reshape(-1, 3, 2), run.theta[:, 6:].reshape(-1, 2, 4)
    law = u[:, :, 0].sum(axis=1) - v[:, 0, :].sum(axis=1)
    assert np.abs(law - law[0]).max() < 1e-8
    assert run.loss[-1] < run.loss[0]
    step = descend(problem, 0.05, 1.0)
    u, v = step.theta[:, :6].reshape(-1, 3, 2), step.theta[:, 6:].reshape(-1, 2, 4)
    law = u[:, :, 1].sum(axis=1) - v[:, 1, :].sum(axis=1)
    assert np.abs(law - law[0]).max() < 1e-12


def test_metric_flow_conserves_the_law_of_its_geometry():
    # metric U = U is the mirror geometry (README), so the NMF law holds with it too
    text = "param U[2,2], V[2,2]\noutput U @ V\nmetric U = U\nmetric V = V"
    run = simulate(ca.parse(text, "metric"), seed=1, horizon=1.0, etas=(0.05,))
    linear = [law for law in run.laws if "^" not in law.text and "*" not in law.text]
    assert len(linear) == 2
    assert all(law.flow_drift < 1e-8 for law in linear)


def test_same_seed_same_simulation():
    model = ca.load(EXAMPLES / "relu_2layer.net")
    a = simulate(model, seed=9, horizon=0.5, etas=(0.1,)).to_json()
    b = simulate(model, seed=9, horizon=0.5, etas=(0.1,)).to_json()
    assert a == b


def test_cli_simulate_prints_a_table_and_writes_a_png(tmp_path, capsys):
    picture = tmp_path / "linear.png"
    status = main(["simulate", str(EXAMPLES / "linear_momentum.net"), "--horizon", "1",
                   "--etas", "0.1,0.05", "--plot", str(picture)])
    out = capsys.readouterr().out
    assert status == 0
    assert "flow drift" in out and "gradient-flow" in out and f"plot: {picture}" in out
    assert picture.read_bytes()[:8] == PNG_MAGIC


def test_cli_simulate_steps_shows_orders(tmp_path, capsys):
    status = main(["simulate", str(EXAMPLES / "relu_2layer.net"), "--horizon", "0.5", "--steps",
                   "--etas", "0.04,0.02", "--no-plot"])
    out = capsys.readouterr().out
    assert status == 0 and "orders 2.00" in out


def test_cli_simulate_unwritable_plot_is_a_user_error(capsys):
    status = main(["simulate", str(EXAMPLES / "product_x1x2x3.net"), "--horizon", "0.2",
                   "--etas", "0.1", "--plot", "/no/such/folder/p.png"])
    assert status == 2 and "cannot write the plot" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--etas", "fast"], "not a list of step sizes"),
    (["--etas", "-1"], "--etas must be positive"),
    (["--horizon", "0"], "--horizon must be a positive number"),
    (["--degree", "0"], "--degree must be at least 1"),
    (["--samples", "0"], "--samples must be at least 1"),
    (["--horizon", "0.05", "--etas", "0.1"], "longer than --horizon"),
    (["--loss", "hinge"], None),
    (["--scale", "0"], "<arguments>: --scale must lie in (0, 1000), got 0\n"),
    (["--rtol", "2"], "<arguments>: --rtol must lie in (0, 1), got 2\n"),
    # each option its own message: the first wrong one is named, alone
    (["--rtol", "0", "--scale", "0"], "conslaw: <arguments>: --rtol must lie in (0, 1), got 0\n"),
    (["--rtol", "1e-9", "--scale", "-1"], "--scale must lie in (0, 1000), got -1\n"),
])
def test_cli_simulate_rejects_bad_arguments(arguments, message, capsys):
    if message is None:                 # argparse refuses the choice itself
        with pytest.raises(SystemExit) as caught:
            main(["simulate", str(EXAMPLES / "relu_2layer.net"), "--no-plot", *arguments])
        assert caught.value.code == 2
        return
    status = main(["simulate", str(EXAMPLES / "relu_2layer.net"), "--no-plot", *arguments])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1


# ------------------------------------------------------ random architectures
@st.composite
def small_nets(draw):
    depth = draw(st.integers(2, 3))
    widths = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    relu = draw(st.booleans())
    bias = draw(st.booleans())
    steps = [f"{w}{' relu' if relu else ''}{' bias' if bias else ''}" for w in widths[1:-1]]
    return f"layers {widths[0]} -> " + " -> ".join(steps + [str(widths[-1])])


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=small_nets(), seed=st.integers(0, 1000))
def test_every_reported_law_is_numerically_conserved_along_the_flow(text, seed):
    rtol = 1e-9
    run = simulate(ca.parse(text, "net"), seed=seed, horizon=0.5, etas=(0.1,), rtol=rtol)
    for law in run.laws:
        assert law.flow_drift < 1e3 * rtol, (text, law.text)


@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(widths=st.lists(st.integers(1, 3), min_size=3, max_size=4), bias=st.booleans(),
       seeds=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)))
def test_relu_momentum_count_is_zero_at_every_seed(widths, bias, seeds):
    # THEORY.md B.3 / E.1: no law survives momentum for ReLU networks, any widths
    steps = [f"{w} relu{' bias' if bias else ''}" for w in widths[1:-1]] + [str(widths[-1])]
    model = ca.parse(f"layers {widths[0]} -> " + " -> ".join(steps) + "\nflow momentum tau=1", "m")
    counts = {model.count_laws(seed=s, list_features=False).laws for s in seeds}
    assert counts == {0}


def test_a_stalled_integration_stops_cleanly_and_says_where():
    # ICNN with seed 0 reaches a ReLU kink where the flow slides (found by running it):
    # the solver's steps collapse, and the stop comes from their lengths
    problem = make_problem(ca.load(EXAMPLES / "icnn_mirror.net"), seed=0)
    run = integrate(problem, 2.0)
    assert run.stopped is not None and "kink" in run.stop_reason
    assert len(run.times) < 101 and run.times[-1] == pytest.approx(run.stopped)
    assert np.isfinite(run.theta).all()
    # the coarser stop: a budget of field evaluations, said as such
    run = integrate(problem, 2.0, max_evaluations=500)
    assert run.stopped is not None and "500 field evaluations" in run.stop_reason
    assert run.times[-1] == pytest.approx(run.stopped) and run.stopped < 0.38


# ------------------------------------------------------------ plots and reports
def test_plot_format_follows_the_extension(tmp_path):
    run = simulate(ca.parse("param a, b\ninput x\noutput a*b*x", "ab"), horizon=0.5,
                   etas=(0.1,), samples=2)
    # the files' own signatures: PNG magic, PDF header, SVG root element
    assert (tmp_path / "p.png").exists() is False
    assert Path(run.plot(str(tmp_path / "p.png"))).read_bytes()[:8] == PNG_MAGIC
    assert Path(run.plot(str(tmp_path / "p.pdf"))).read_bytes()[:5] == b"%PDF-"
    svg = Path(run.plot(str(tmp_path / "p.SVG"))).read_text()
    assert "<svg" in svg and svg.lstrip().startswith("<?xml")


@pytest.mark.parametrize("plot, message", [
    ("p.jpg", "p.jpg: the plot's format comes from its extension: .png, .pdf or .svg, not '.jpg'"),
    ("p", "p: the plot's format comes from its extension: .png, .pdf or .svg, not none"),
    ("/no/such/folder/p.png", "/no/such/folder/p.png: cannot write the plot: no folder "
                              "'/no/such/folder'"),
])
def test_a_bad_plot_is_refused_before_any_work(plot, message, capsys, monkeypatch):
    from conslaw_algebra import api
    from conslaw_algebra.tools import simulate as module

    def no_work(*args, **kwargs):
        raise AssertionError("the model was loaded or simulated before the plot was checked")
    monkeypatch.setattr(api, "load", no_work)
    monkeypatch.setattr(module, "simulate", no_work)
    status = main(["simulate", str(EXAMPLES / "conv_relu.net"), "--plot", plot])
    assert status == 2 and capsys.readouterr().err == f"conslaw: {message}\n"


def test_a_stalled_flow_gives_no_verdict_past_the_stall(tmp_path, capsys):
    # maxpool's flow at seed 0 reaches a max-pool boundary and slides along it
    picture = tmp_path / "maxpool.png"
    status = main(["simulate", str(EXAMPLES / "maxpool.net"), "--plot", str(picture)])
    out = capsys.readouterr().out
    assert status == 0
    stall = re.search(r"the flow stopped at t = ([0-9.]+): it slides along a kink", out)
    assert stall, out
    t = float(stall.group(1))
    assert 0 < t < 2
    assert "conserved along the flow" not in out
    assert (f"the flow stalled at t = {t:g} of 2, so it gives no verdict past there; "
            f"up to t = {t:g}: flat") in out
    assert f"flat to t={t:g}" in out                # the table's column says so too
    assert picture.read_bytes()[:8] == PNG_MAGIC


def _synthetic_run(laws: int):
    """A Simulation with ``laws`` made-up laws (values only matter for the plot)."""
    from conslaw_algebra.tools.simulate import LawTrace, Simulation

    times = {"flow": np.linspace(0, 1, 101), "eta=0.1": np.linspace(0, 1, 11)}
    traces = []
    for k in range(laws):
        trace = LawTrace(f"h{k + 1}", "x", "flow" if k % 3 else "gradient-flow", True, 0.0,
                         {0.1: 0.0}, {0.1: 0.0})
        trace.values = {run: 1e-3 * (k + 1) * np.sin(t * (k + 1)) for run, t in times.items()}
        traces.append(trace)
    losses = {run: np.exp(-t) for run, t in times.items()}
    return Simulation("many", "gradient flow", 0, 1.0, 8, "logcosh", 1e-10, (0.1,), traces,
                      times, losses, "gradient descent")


def test_thirty_laws_have_thirty_styles_and_a_legend_beside_the_panels():
    figure = _synthetic_run(30).figure()
    figure.draw_without_rendering()                 # lays the figure out, as saving does
    lower = [ax for ax in figure.axes if ax.get_subplotspec().rowspan.start == 1]
    assert len(lower) == 2                          # the flow and eta = 0.1
    for ax in lower:
        styles = {(line.get_color(), line.get_marker(), line.get_linestyle())
                  for line in ax.get_lines()}
        assert len(ax.get_lines()) == 30 and len(styles) == 30
    legend, = figure.legends
    assert len(legend.get_texts()) == 30
    box = legend.get_window_extent()
    for ax in figure.axes:                          # the legend covers no panel ...
        assert not box.overlaps(ax.get_window_extent())
    whole = figure.bbox                             # ... and stays inside the figure
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 + 1
    assert whole.y0 <= box.y0 and box.y1 <= whole.y1 + 1
