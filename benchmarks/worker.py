"""Run one benchmark case in this process and print its result as JSON.

Run by the harness in a fresh process per case, so that the peak memory
(``ru_maxrss``) belongs to that case alone. Input: a JSON case on stdin.
"""
import json
import os
import resource
import subprocess
import sys
import time


def run(case: dict) -> dict:
    import conslaw_algebra as ca

    kind = case["kind"]
    if kind == "process":   # a whole `conslaw count` command, interpreter start included
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "count",
                              case["path"], "--json"], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "laws": json.loads(out.stdout)["laws"]}
    if kind == "budget":    # the guard's estimate of one command, then its measured peak
        return _budget(case)
    if kind == "command":   # any command, timed whole: [seconds of each repetition]
        times = []
        for _ in range(case.get("repeat", 1)):
            start = time.perf_counter()
            where = case.get("cwd")   # a baseline tree: its package, not this one
            env = {**os.environ, **case.get("env", {}), **({"PYTHONPATH": where} if where else {})}
            out = subprocess.run(case["argv"], capture_output=True, text=True, cwd=where, env=env)
            times.append(time.perf_counter() - start)
            if out.returncode and not case.get("may_fail"):
                raise RuntimeError(out.stderr.strip().splitlines()[-1])
        return {"times": times, "stdout": out.stdout, "returncode": out.returncode,
                "stderr": out.stderr.strip().splitlines()[-1] if out.returncode else "",
                # the largest process it started
                "children_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    if case.get("whole_system"):   # the law system built whole (the path before grading)
        from conslaw_algebra.analyses import laws
        laws._graded_laws = lambda *args: None
    results = []
    start = time.perf_counter()
    for name, text, expected in case["items"]:
        t0, c0 = time.perf_counter(), time.process_time()
        model = ca.parse(text, name)
        if kind == "count":
            got = model.lie_count(seed=0).laws
        elif kind == "blocks":
            got = model.block_laws(case.get("degree", 2)).independent
        else:
            got = model.laws(case.get("degree", 2)).independent
        results.append({"name": name, "D": model.dim, "laws": got, "expected": expected,
                        "seconds": time.perf_counter() - t0,
                        "cpu": time.process_time() - c0})   # all threads of this process
    return {"seconds": time.perf_counter() - start, "cases": results}


def _resident(key: str) -> int:
    """VmRSS or VmHWM of this process, in bytes (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _budget(case: dict) -> dict:
    import conslaw_algebra as ca
    from conslaw_algebra.analyses import guards

    model = ca.parse(case["text"], case["name"])
    command, arg = case["command"], case["arg"]
    estimate = guards.command_bytes(model.program, command, arg, model.flow.kind == "momentum")
    if command == "simulate":    # the solver's imports are part of what the step pays
        from conslaw_algebra.tools.simulate import simulate
    model.names                  # every output names the parameters first
    base = _resident("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:   # the peak starts again from here
        handle.write("5")
    start = time.perf_counter()
    if command == "count":
        model.count_laws(seed=0)
    elif command == "laws":
        model.laws(arg, seed=0)
    elif command == "features":
        model.expansion
    elif command == "polynomials":
        model.features
    elif command == "simulate":
        # a short run: memory is per data point, not per step
        simulate(model, seed=0, horizon=0.01, etas=(0.01,), samples=arg, rtol=1e-3)
    seconds = time.perf_counter() - start
    if command == "laws" and arg >= 3:
        # the graded system is checked again once its largest block is known (laws.py)
        from math import comb
        from conslaw_algebra.analyses import laws
        n = model.system.dim
        estimate = max(estimate, guards.graded_laws_bytes(
            comb(n + arg, arg) - 1, arg, guards.field_terms(model.program, model.flow.momentum),
            laws.LARGEST_BLOCK))
    return {"seconds": seconds, "estimate": estimate, "base": base,
            "measured": _resident("VmHWM") - base, "D": model.dim}


if __name__ == "__main__":
    result = run(json.loads(sys.stdin.read()))
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
