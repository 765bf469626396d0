"""The benchmark harness: ``python -m benchmarks [--quick] [--only GROUP ...]``.

Groups (each case in a fresh process; seconds are compute time unless stated):
  sweeps-count   the reference notebook's Part C and Part D first loops (100 counts)
  sweeps-laws    its Part C and Part D second loops (20 degree-2 law computations)
  cli-cases      whole `conslaw count` processes on the 19 cases timed for the
                 reference on this machine class (../shared/perf_baseline.md)
  ladder-relu    ReLU MLPs with biases, D from about 100 to 10,650 (count)
  ladder-linear  deep linear nets, D from 100 to 4,500 (count)
  ladder-laws    degree-2 laws of ReLU MLPs, D from about 100 to 520 (2 and 3 layers)
  deep-linear    deep narrow linear nets 2 -> 2 -> ... -> 2 -> 1, L = 4 to 64 hidden
                 layers (count; N = 3L), with the growth of time against L, and their
                 degree-2 laws by block with the count (certified when they reach N)
  startup        whole `conslaw count` / `conslaw laws` processes on a small model (median
                 of 11, bytecode cached as in an installed package), the imports of numpy,
                 FLINT (and Lark) alone in the same run, and the 20 degree-2 cases of the
                 second loops as whole `conslaw laws` processes
  degrees        laws of degree 4 and 5 of examples/relu_2layer.net, and degree 4 with
                 the whole system built (the path before grading) in the same run
  blocks         laws by block of a transformer-style block, D = 2,048 (full run only)
  real-blocks    laws by block of real networks of D ~ 10^5 (an MLP, a ResNet-8 with
                 BatchNorm, a 2-layer transformer), --jobs 1 and 2 (full run only)
  simulate       the default `conslaw simulate` of every shipped example (target < 20 s)
  budget         the memory guards' estimates against measured peaks (count, laws of
                 degree 2 to 5, features, simulate), and what --memory-budget 1G lets run
Every answer is checked against its known value (ground truth or formula); a row
that disagrees is marked WRONG. Prints one table per group and the log-log slope of
time against D for the ladders.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conslaw_algebra.tools.families import layered_text

ROOT = Path(__file__).resolve().parent.parent
GROUND_TRUTH = json.loads((ROOT / "tests" / "data" / "ground_truth.json").read_text())

# Reference figures (../shared/perf_baseline.md), for ratios: not measured in this run.
REFERENCE_CLI_MEDIAN_DISCOVER = 17.8   # s, median over the 19 cases, no answer given
REFERENCE_SOLVE2_MEDIAN = 23.6         # s, same 19 cases, degree-2 laws
REFERENCE_PART_C_PER_CASE = 41.3       # s per case, 64 threads, answer given
REFERENCE_PART_D_PER_CASE = 135.8      # s per case, 64 threads, answer given

# (widths output side first as in perf_baseline.md, kind, bias, N)
BASELINE_CASES = [
    ([2, 2, 2], "linear", False, 3), ([3, 3, 3], "linear", False, 6),
    ([2, 3, 3], "linear", False, 6), ([5, 3, 2], "linear", False, 6),
    ([4, 4, 4], "linear", False, 10), ([3, 4, 2, 4], "linear", False, 13),
    ([2, 4, 2, 2], "linear", False, 13), ([2, 5, 4, 3], "linear", False, 25),
    ([3, 4, 5, 3], "linear", False, 25), ([4, 4, 4, 4], "linear", False, 20),
    ([5, 5, 5], "linear", False, 15), ([2, 2, 2], "relu", False, 2),
    ([3, 3, 3], "relu", False, 3), ([2, 2, 5, 3], "relu", False, 7),
    ([4, 4, 4], "relu", False, 4), ([3, 4, 5, 3], "relu", False, 9),
    ([3, 3, 3], "relu", True, 3), ([2, 2, 5, 3], "relu", True, 7),
    ([4, 4, 4], "relu", True, 4),
]

LADDER_RELU = [[10, 8, 8, 2], [20, 12, 12, 4], [40, 20, 20, 20, 5], [60, 30, 30, 30, 10],
               [80, 40, 40, 40, 10], [100, 50, 50, 50, 10]]
LADDER_LINEAR = [[5] * 5, [8] * 5, [10] * 5, [15] * 5, [20] * 6, [30] * 6]
LADDER_LAWS = [[10, 8, 2], [12, 12, 4], [16, 16, 5], [20, 20, 5], [10, 16, 16, 4]]


def _row_text(row) -> str:
    widths = list(reversed(row["widths_output_first"]))
    return layered_text(widths, relu=row["kind"] == "relu", bias=row.get("bias", False),
                        output_bias=row.get("output_bias", False))


def _sweep(prefixes):
    rows = [r for r in GROUND_TRUTH if str(r["id"]).startswith(prefixes)]
    return [[str(r["id"]), _row_text(r), r["N"]] for r in rows]


BASELINE: Path | None = None   # ``--baseline DIR``: an earlier tree of this repository


def _run(case: dict, baseline: bool = False) -> dict:
    """Run one case in a fresh worker: of this tree, or of the ``--baseline`` tree (its
    own worker and package, so the ratio of the two is measured in the same run)."""
    root = BASELINE if baseline else ROOT
    out = subprocess.run([sys.executable, "-m", "benchmarks.worker"], input=json.dumps(case),
                         capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)})
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout)


def _hidden(widths) -> int:
    return sum(widths[1:-1])


def _linear_laws(widths) -> int:
    return sum(n * (n + 1) // 2 for n in widths[1:-1])


def _dims(widths, bias) -> int:
    return sum(a * b for a, b in zip(widths, widths[1:])) + (sum(widths[1:-1]) if bias else 0)


def _slope(points):
    xs = [math.log(d) for d, _ in points]
    ys = [math.log(max(t, 1e-4)) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


def _table(title, header, rows):
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    sys.stdout.flush()


def _check(case):
    return "ok" if case["laws"] == case["expected"] else f"WRONG (expected {case['expected']})"


def group_sweeps_count(quick):
    rows = []
    for label, prefixes, reference in (("Part C first loop (linear)", ("C1",), REFERENCE_PART_C_PER_CASE),
                                       ("Part D first loop (ReLU)", ("D1",), REFERENCE_PART_D_PER_CASE)):
        result = _run({"kind": "count", "items": _sweep(prefixes)})
        cases = result["cases"]
        wrong = [c["name"] for c in cases if c["laws"] != c["expected"]]
        slowest = max(cases, key=lambda c: c["seconds"])
        rows.append([label, len(cases), f"{result['seconds']:.1f}",
                     f"{slowest['seconds']:.2f} ({slowest['name']}, D={slowest['D']})",
                     f"{result['peak_mb']:.0f}", "all ok" if not wrong else "WRONG: " + ", ".join(wrong),
                     f"{reference * len(cases) / result['seconds']:.0f}x"])
    _table("Reference sweeps, counts (no known answer given)",
           ["sweep", "cases", "total s", "slowest s", "peak MB", "N", "vs reference (64 threads, answer given)"],
           rows)


def group_sweeps_laws(quick):
    result = _run({"kind": "laws", "items": _sweep(("C2", "D2"))})
    rows = [[c["name"], c["D"], c["laws"], f"{c['seconds']:.3f}", _check(c)] for c in result["cases"]]
    _table(f"Reference second loops, degree-2 laws (peak {result['peak_mb']:.0f} MB)",
           ["case", "D", "independent laws", "seconds", "check"], rows)


def group_cli_cases(quick):
    rows, times = [], []
    with tempfile.TemporaryDirectory() as folder:
        for widths, kind, bias, expected in BASELINE_CASES:
            path = Path(folder) / "model.net"
            path.write_text(layered_text(list(reversed(widths)), relu=kind == "relu", bias=bias))
            result = _run({"kind": "process", "path": str(path)})
            times.append(result["seconds"])
            name = f"{kind}{'+bias' if bias else ''} {widths}"
            rows.append([name, f"{result['seconds']:.2f}",
                         _check({"laws": result["laws"], "expected": expected})])
    median = sorted(times)[len(times) // 2]
    rows.append(["**median**", f"**{median:.2f}**",
                 f"reference discovery median {REFERENCE_CLI_MEDIAN_DISCOVER} s: "
                 f"**{REFERENCE_CLI_MEDIAN_DISCOVER / median:.0f}x** faster"])
    _table("Whole `conslaw count` processes (interpreter start and imports included)",
           ["case (output side first)", "seconds", "check"], rows)


def _ladder(title, ladder, kind, expected_of, bias, quick, limit):
    rows, points = [], []
    for widths in ladder:
        dim = _dims(widths, bias)
        if quick and dim > limit:
            continue
        text = layered_text(widths, relu=kind == "relu", bias=bias)
        result = _run({"kind": "laws" if "laws" in title else "count",
                       "items": [[str(widths), text, expected_of(widths)]]})
        case = result["cases"][0]
        points.append((dim, case["seconds"]))
        rows.append([str(widths), dim, case["laws"], f"{case['seconds']:.2f}",
                     f"{result['peak_mb']:.0f}", _check(case)])
    _table(f"{title} — log-log slope of time against D: {_slope(points):.2f}",
           ["widths (input first)", "D", "N", "seconds", "peak MB", "check"], rows)


DEEP_LAYERS = [4, 8, 12, 16, 24, 32, 48, 64]
DEEP_BASELINE_MAX = 12        # the baseline's time doubles per layer or two beyond
DEEP_LAW_LAYERS = [8, 16, 32, 64]
DEEP_LAW_BASELINE_MAX = 16    # laws by block expanding the layers between two tensors: 2^gap


def group_deep_linear(quick):
    rows, points = [], []
    for hidden in DEEP_LAYERS:
        if quick and hidden > 32:
            continue
        widths = [2] * (hidden + 1) + [1]
        item = {"kind": "count", "items": [[f"L={hidden}", layered_text(widths),
                                            _linear_laws(widths)]]}
        result = _run(item)
        case = result["cases"][0]
        points.append((hidden, case["seconds"]))
        before = ""
        if BASELINE is not None and hidden <= DEEP_BASELINE_MAX:
            old = _run(item, baseline=True)["cases"][0]
            before = f"{old['seconds']:.2f} ({old['seconds'] / case['seconds']:.0f}x)"
        rows.append([hidden, case["D"], case["laws"], f"{case['seconds']:.2f}",
                     f"{result['peak_mb']:.0f}", _check(case)]
                    + ([before] if BASELINE is not None else []))
    _table(f"Deep narrow linear nets 2 -> 2 -> ... -> 1, count — log-log slope of time "
           f"against L: {_slope(points):.2f}",
           ["hidden layers L", "D", "N (= 3L)", "seconds", "peak MB", "check"]
           + (["baseline seconds (ratio)"] if BASELINE is not None else []), rows)
    rows = []
    for hidden in DEEP_LAW_LAYERS:
        if quick and hidden > 32:
            continue
        widths = [2] * (hidden + 1) + [1]
        item = {"kind": "blocks", "items": [[f"L={hidden}", layered_text(widths),
                                             _linear_laws(widths)]]}
        result = _run(item)
        case = result["cases"][0]
        before = ""
        if BASELINE is not None and hidden <= DEEP_LAW_BASELINE_MAX:
            old = _run(item, baseline=True)["cases"][0]
            before = f"{old['cpu']:.2f} ({old['cpu'] / case['cpu']:.0f}x)" if "cpu" in old \
                else f"{old['seconds']:.2f} s wall ({old['seconds'] / case['seconds']:.0f}x)"
        rows.append([hidden, case["D"], case["laws"], f"{case['seconds']:.2f}",
                     f"{case['cpu']:.2f}", f"{result['peak_mb']:.0f}",
                     _check(case) + (" (certified)" if case["laws"] == case["expected"] else "")]
                    + ([before] if BASELINE is not None else []))
    _table("Deep narrow linear nets, degree-2 laws by block and the count (certified when the "
           "independent laws reach N)",
           ["hidden layers L", "D", "independent laws", "seconds", "CPU seconds", "peak MB",
            "check"] + (["baseline CPU seconds (ratio)"] if BASELINE is not None else []), rows)


def _median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def group_startup(quick):
    cli = [sys.executable, "-m", "conslaw_algebra.views.cli"]
    example = str(ROOT / "examples" / "relu_2layer.net")
    repeat = 5 if quick else 11
    rows = []
    # as an installed package runs: compiled bytecode kept (in a folder of this run) and
    # reused, whatever PYTHONDONTWRITEBYTECODE says here; the first repetition fills it
    cache = tempfile.mkdtemp(prefix="conslaw-pyc-")
    installed = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": cache}
    for label, argv in (("python -c 'import numpy, flint'",
                         [sys.executable, "-c", "import numpy, flint"]),
                        ("python -c 'import numpy, flint, lark'",
                         [sys.executable, "-c", "import numpy, flint, lark"]),
                        ("conslaw count examples/relu_2layer.net", cli + ["count", example]),
                        ("conslaw laws examples/relu_2layer.net", cli + ["laws", example])):
        case = {"kind": "command", "argv": argv, "repeat": repeat + 1, "env": installed}
        times = _run(case)["times"][1:]
        row = [label, f"{_median(times):.3f}", f"{min(times):.3f}"]
        if BASELINE is not None:
            old = _run({**case, "cwd": str(BASELINE)})["times"][1:]
            row.append(f"{_median(old):.3f}")
        rows.append(row)
    _table(f"Whole processes, seconds (median and best of {repeat})",
           ["command", "median", "best"] + (["baseline median"] if BASELINE is not None else []),
           rows)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, text, expected in _sweep(("C2", "D2")):
            path = Path(folder) / "model.net"
            path.write_text(text + "\n")
            result = _run({"kind": "command", "env": installed, "repeat": 4,
                           "argv": cli + ["laws", str(path), "--format", "json"]})
            got = json.loads(result["stdout"])["independent"]
            rows.append([name, f"{_median(result['times'][1:]):.3f}",
                         _check({"laws": got, "expected": expected})])
    worst = max(float(r[1]) for r in rows)
    _table(f"Degree-2 laws of the second loops as whole `conslaw laws` processes (median of 3; "
           f"slowest {worst:.3f} s)", ["case", "seconds", "check"], rows)


def group_degrees(quick):
    text = (ROOT / "examples" / "relu_2layer.net").read_text()
    rows = []
    # every law of degree <= k is a polynomial in the 5 neuron laws (THEORY.md A.5): the
    # count of independent laws stays 5 = N at every degree
    cases = [(4, False, False), (5, False, False), (4, True, False)]
    if BASELINE is not None:
        cases.append((4, False, True))
    for degree, whole, baseline in cases:
        result = _run({"kind": "laws", "degree": degree, "whole_system": whole,
                       "items": [["relu_2layer", text, 5]]}, baseline=baseline)
        case = result["cases"][0]
        system = ("baseline tree" if baseline else
                  "whole system (the path before grading)" if whole else "graded blocks")
        rows.append([degree, system, f"{case['seconds']:.2f}", f"{result['peak_mb']:.0f}",
                     _check(case)])
    _table("Laws of higher degree, examples/relu_2layer.net (D = 35)",
           ["degree", "system", "seconds", "peak MB", "check (5 independent)"], rows)


TRANSFORMER = """input X[2,16]
param Q[16,16], K[16,16], V[16,16], O[16,16], W1[32,16], W2[16,32]
Y = X + attention(X, Q, K, V, O, heads=2)
output Y + relu(Y @ W1.T) @ W2.T"""


def group_blocks(quick):
    if quick:
        return
    # expected: per head 36 + 36 (THEORY.md C, c2(16, 8, 16) twice), one law per hidden MLP unit
    expected = 2 * (36 + 36) + 32
    result = _run({"kind": "blocks", "items": [["transformer block", TRANSFORMER, expected]]})
    case = result["cases"][0]
    _table("Laws by block (`conslaw laws --by-block`) of attention (2 heads) + ReLU MLP with residuals",
           ["model", "D", "independent laws of the union", "seconds", "peak MB", "check"],
           [["transformer block", case["D"], case["laws"], f"{case['seconds']:.1f}",
             f"{result['peak_mb']:.0f}", _check(case)]])


REAL_NETWORKS = ("mlp64", "mlp", "resnet8", "transformer2")   # real_blocks.py "networks"
# --jobs 2 runs the expanded blocks in two processes; a normalized network's blocks are
# all sampled in the calling process, so it runs once
REAL_JOBS = {"mlp64": (1, 2), "mlp": (1, 2)}
REAL_BUDGET = "4G"         # a quarter of a 16 GB machine: the guards' budget, stated


def group_real_blocks(quick):
    """Issue 18 item 4: whole `conslaw laws --by-block --format json` processes on the
    real networks of ``examples/real_blocks.py networks`` (D of 10^5), with --jobs 1 and
    2, under --memory-budget 4G; the check: every law reported passed the whole-model
    check, none is dropped, and the union is at most N (known: one law per hidden neuron
    for the MLP, 512)."""
    if quick:
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, str(ROOT / "examples" / "real_blocks.py"), "networks",
                        folder], check=True, capture_output=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        outputs = {}
        for name in REAL_NETWORKS:
            for jobs in REAL_JOBS.get(name, (1,)):
                argv = [sys.executable, "-m", "conslaw_algebra.views.cli", "laws",
                        str(Path(folder) / f"{name}.net"), "--by-block", "--format", "json",
                        "--quiet", "--memory-budget", REAL_BUDGET, "--jobs", str(jobs)]
                result = _run({"kind": "command", "argv": argv, "may_fail": True})
                if result["returncode"]:       # refused before any block: the reason
                    rows.append([name, "—", jobs, "—", "—", "—", "—", "—", "—", "—", "no",
                                 f"{result['times'][0]:.1f}",
                                 f"{result['children_peak_mb']:.0f}",
                                 f"refused (exit {result['returncode']}): {result['stderr']}"])
                    outputs.setdefault(name, set()).add(result["stderr"])
                    continue
                found = json.loads(result["stdout"])
                outputs.setdefault(name, set()).add(result["stdout"])
                blocks = found["blocks"]
                solved = [b for b in blocks if not b["skipped"]]
                laws = sum(len(b["laws"]) for b in blocks)
                dropped = sum(1 for b in blocks for r in b["rejected"]   # failed, not unverified
                              if not r["reason"].startswith("not verified"))
                known = {"mlp": 512, "mlp64": 128}.get(name)   # one per hidden neuron
                fine = (dropped == 0 and (found["lie_laws"] is None
                                          or found["independent"] <= found["lie_laws"])
                        and (known is None or found["independent"] <= known))
                searched = sum(1 for b in blocks if b.get("searched"))
                rows.append([name, f"{found['D']:,}", jobs, len(blocks), len(solved), searched,
                             len(blocks) - len(solved), laws, found["independent"],
                             found["lie_laws"] if found["lie_laws"] is not None else "not counted",
                             "yes" if found["certified"] else "no",
                             f"{result['times'][0]:.1f}", f"{result['children_peak_mb']:.0f}",
                             "ok" if fine else "WRONG"])
        same = all(len(texts) == 1 for texts in outputs.values())
    _table("Issue 18 item 4: real networks by block (`conslaw laws --by-block`, "
           f"--memory-budget {REAL_BUDGET}; --jobs 2 output "
           + ("identical to --jobs 1" if same else "DIFFERENT from --jobs 1") + ")",
           ["network", "D", "jobs", "blocks", "solved", "of them among axis forms", "skipped",
            "laws", "independent", "N",
            "certified complete", "seconds", "peak MB", "check"], rows)


def group_simulate(quick):
    """Whole `conslaw simulate EXAMPLE` processes with their default settings."""
    import time
    rows = []
    examples = sorted((ROOT / "examples").glob("*.net"))
    with tempfile.TemporaryDirectory() as folder:
        for path in examples[:3] if quick else examples:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "simulate",
                                   str(path), "--plot", str(Path(folder) / "plot.png")],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - start
            verdict = "ok" if done.returncode == 0 and seconds < 20 else (
                "SLOW" if done.returncode == 0 else f"exit {done.returncode}")
            rows.append([path.stem, f"{seconds:.1f}", verdict])
    _table("Default simulation of the shipped examples (whole process, target < 20 s)",
           ["example", "seconds", "check"], rows)


EXAMPLES = ROOT / "examples"
# (label, model text, command, argument: the degree of laws, or the samples of simulate)
BUDGET_CASES = (
    [(f"ReLU {w}", layered_text(w, relu=True, bias=True), "count", 0) for w in LADDER_RELU]
    + [(f"linear {w}", layered_text(w), "count", 0) for w in LADDER_LINEAR]
    + [(f"ReLU {w}", layered_text(w, relu=True, bias=True), "laws", 2) for w in LADDER_LAWS]
    + [(f"{name}.net", (EXAMPLES / f"{name}.net").read_text(), "laws", k)
       for name, degrees in (("relu_2layer", (3, 4, 5)), ("linear_3layer", (3, 4)),
                             ("relu_bias_3layer", (3, 4))) for k in degrees]
    + [(f"ReLU {w}", layered_text(w, relu=True), "features", 0)
       for w in ([10, 20, 20, 20, 2], [10, 30, 30, 30, 2])]
    + [(f"linear {w}", layered_text(w), "polynomials", 0)
       for w in ([20, 20, 20, 20], [25, 25, 25, 25], [30, 30, 30, 30])]
    + [("relu_bias_3layer.net", (EXAMPLES / "relu_bias_3layer.net").read_text(), "simulate", n)
       for n in (10_000, 100_000)]
)
BUDGET_QUICK_MB = 600      # --quick skips the cases estimated above this


def group_budget(quick):
    import conslaw_algebra as ca
    from conslaw_algebra.analyses import guards

    rows, ratios = [], []
    for label, text, command, arg in BUDGET_CASES:
        model = ca.parse(text, "case")
        estimate = guards.command_bytes(model.program, command, arg,
                                        model.flow.kind == "momentum") / 2**20
        if quick and estimate > BUDGET_QUICK_MB:
            continue
        result = _run({"kind": "budget", "name": "case", "text": text, "command": command,
                       "arg": arg})
        estimate = result["estimate"] / 2**20     # as the measured process computed it
        measured, base = result["measured"] / 2**20, result["base"] / 2**20
        ratio = estimate / measured
        if measured >= 64:           # below this, allocator granularity and imports dominate
            ratios.append(ratio)
        peak = base + measured
        verdict = ("refused" if estimate > 1024 else
                   f"runs, peak {peak:.0f} MB" + ("" if peak <= 1536 else " OVER 1.5 GB"))
        what = {"laws": f"laws --degree {arg}", "simulate": f"simulate --samples {arg:,}"}
        print(f"budget: {label} {command} {arg}: estimate {estimate:.0f} MB, measured "
              f"{measured:.0f} MB", file=sys.stderr, flush=True)
        rows.append([label, what.get(command, command), result["D"], f"{estimate:.0f}",
                     f"{measured:.0f}", f"{ratio:.2f}", f"{peak:.0f}", f"{result['seconds']:.1f}",
                     verdict])
    _table("Memory guards: estimate against measured peak "
           f"(ratio over the steps above 64 MB: {min(ratios, default=0):.2f} to "
           f"{max(ratios, default=0):.2f})",
           ["model", "command", "D", "estimate MB", "measured MB", "ratio", "process peak MB",
            "seconds", "with --memory-budget 1G"], rows)


GROUPS = {
    "sweeps-count": group_sweeps_count,
    "sweeps-laws": group_sweeps_laws,
    "cli-cases": group_cli_cases,
    "ladder-relu": lambda q: _ladder("ReLU MLPs with biases, count", LADDER_RELU, "relu",
                                     _hidden, True, q, 1500),
    "ladder-linear": lambda q: _ladder("Deep linear nets, count", LADDER_LINEAR, "linear",
                                       _linear_laws, False, q, 1000),
    "ladder-laws": lambda q: _ladder("ReLU MLPs with biases, degree-2 laws", LADDER_LAWS, "relu",
                                     _hidden, True, q, 300),
    "blocks": group_blocks,
    "real-blocks": group_real_blocks,
    "simulate": group_simulate,
    "budget": group_budget,
    "deep-linear": group_deep_linear,
    "startup": group_startup,
    "degrees": group_degrees,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small ladders only (a few minutes)")
    parser.add_argument("--only", nargs="+", choices=sorted(GROUPS), help="run these groups")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also run deep-linear, startup and degrees on the tree in DIR (an "
                             "earlier commit: git archive COMMIT | tar -x -C DIR), same run")
    args = parser.parse_args(argv)
    global BASELINE
    BASELINE = args.baseline.resolve() if args.baseline else None
    for name in args.only or GROUPS:
        GROUPS[name](args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
