"""Count the laws of many models at once, on local processes or a Dask cluster.

Each model is an independent task (parse, compile, count), so the sweep is
embarrassingly parallel: a process pool uses the local cores, and with a scheduler
address the same tasks go to ``distributed.Client.map``. A failing model becomes a
row with its error message; the sweep goes on. Rows come back in input order.
That machinery is ``guards.run_tasks``, for any independent tasks (``laws --by-block``
runs its blocks with it).

>>> rows = run_sweep([("tiny", "layers 2 -> 2 -> 2")], jobs=1)
>>> rows[0]["laws"], rows[0]["D"], rows[0]["state_dim"]
(3, 8, 8)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..analyses.guards import run_tasks
from ..errors import ConslawError, ModelFileError
from .families import layered_text, random_layered


def count_task(item: tuple[str, str], seed: int = 0) -> dict:
    """Count one model given as (name, text); never raises for a bad model.

    >>> row = count_task(("ab", "param a, b\\noutput a*b"))
    >>> row["D"], row["laws"]
    (2, 1)
    >>> row = count_task(("ab", "param a, b\\noutput a*b\\nflow momentum"))
    >>> row["D"], row["state_dim"]        # D parameters; the phase space (t, theta, theta')
    (2, 5)
    >>> "error" in count_task(("bad", "output 1 +"))
    True
    """
    from ..api import parse

    name, text = item
    start = time.perf_counter()
    try:
        model = parse(text, name)
        lie = model.lie_count(seed)
    except ConslawError as exc:
        return {"model": name, "error": str(exc), "seconds": time.perf_counter() - start}
    return {"model": name, "D": model.dim, "state_dim": lie.dim, "lie_rank": lie.trace_rank,
            "laws": lie.laws,
            "seed": seed, "prime": lie.prime,
            "error_bound": None if lie.unbounded or lie.bound_unproved else lie.error_bound,
            "error_bound_assumes": lie.unbounded or lie.bound_assumes,
            "upper_bound_only": bool(lie.unbounded),
            "upper_bound_certified": not lie.bound_unproved,
            "seconds": round(time.perf_counter() - start, 4)}


def folder_models(path: str | Path) -> list[tuple[str, str]]:
    """All ``*.net`` files of a folder (or one file), sorted by name.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as name:
    ...     folder = Path(name)
    ...     _ = (folder / "b.net").write_text("param a, b\\noutput a*b")
    ...     _ = (folder / "a.net").write_text("layers 1 -> 1 -> 1")
    ...     [Path(model).name for model, _ in folder_models(folder)]
    ['a.net', 'b.net']
    """
    path = Path(path)
    files = sorted(path.glob("*.net")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise ModelFileError("no .net model files here", file=str(path))
    return [(str(f), f.read_text()) for f in files]


def family_models(kind: str, count: int, seed: int, widths=(2, 9), depth=(2, 4),
                  bias: str = "random") -> list[tuple[str, str]]:
    """A generated family: ``kind`` 'relu' or 'linear', random widths and depths.

    >>> family_models("relu", 1, seed=0)[0][0]
    'relu-0[8, 2, 6, 9]+bias'
    """
    if kind not in ("relu", "linear"):
        raise ConslawError(f"unknown family '{kind}' (use relu or linear)", file="<arguments>")
    models = []
    for k, (w, coin) in enumerate(random_layered(count, seed, widths, depth)):
        with_bias = {"yes": True, "no": False}.get(bias, coin)
        name = f"{kind}-{k}{w}" + ("+bias" if with_bias else "")
        models.append((name, layered_text(w, relu=kind == "relu", bias=with_bias)))
    return models


def run_sweep(models: list[tuple[str, str]], jobs: int | None = None, seed: int = 0,
              scheduler: str | None = None, progress=None) -> list[dict]:
    """Count every model; ``progress(done, total, row)`` is called as rows arrive.

    >>> rows = run_sweep([("ab", "param a, b\\noutput a*b"), ("abc", "param a, b, c\\noutput a*b*c")],
    ...                  jobs=1)
    >>> [(r["model"], r["laws"]) for r in rows]
    [('ab', 1), ('abc', 2)]
    """
    total = len(models)
    done = [0]

    def record(index, row):
        done[0] += 1
        if progress:
            progress(done[0], total, row)

    return run_tasks(count_task, models, jobs=jobs, scheduler=scheduler, on_result=record,
                     seed=seed)


def progress_printer(stream=None):
    """A progress callback writing one line per finished model to ``stream``.

    >>> progress_printer(sys.stdout)(1, 2, {"model": "ab", "laws": 1, "seconds": 0.5})
    [1/2] ab: N = 1 (0.50 s)
    """
    stream = stream or sys.stderr

    def show(done, total, row):
        status = f"N = {row['laws']}" if "laws" in row else "error"
        stream.write(f"[{done}/{total}] {row['model']}: {status} ({row['seconds']:.2f} s)\n")
        stream.flush()
    return show


def format_table(rows: list[dict]) -> str:
    """The sweep as a plain-text table: D the parameters; a column ``state`` (the
    dimension of the phase space, 2D + 1) when a momentum model is among the rows.

    >>> print(format_table([{"model": "ab", "D": 2, "state_dim": 2, "lie_rank": 1, "laws": 1,
    ...                      "seconds": 0.5}]))
    model        D     rank       N   seconds
    ab           2        1       1      0.50
    1 models, 0.50 s of computation
    >>> print(format_table([{"model": "ab", "D": 2, "state_dim": 5, "lie_rank": 4, "laws": 1,
    ...                      "seconds": 0.5}]))
    model        D    state     rank       N   seconds
    ab           2        5        4       1      0.50
    1 models, 0.50 s of computation
    """
    width = max([5] + [len(r["model"]) for r in rows])
    phase = any(r.get("state_dim", r.get("D")) != r.get("D") for r in rows if "error" not in r)
    state = f"  {'state':>7}" if phase else ""
    lines = [f"{'model':<{width}}  {'D':>7}{state}  {'rank':>7}  {'N':>6}  {'seconds':>8}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:<{width}}  error: {r['error']}")
        else:
            state = f"  {r.get('state_dim', r['D']):>7}" if phase else ""
            laws = (f"<={r['laws']}?" if not r.get("upper_bound_certified", True) else
                    f"<={r['laws']}" if r.get("upper_bound_only") else r["laws"])
            lines.append(f"{r['model']:<{width}}  {r['D']:>7}{state}  {r['lie_rank']:>7}  "
                         f"{laws:>6}  {r['seconds']:>8.2f}")
    total = sum(r["seconds"] for r in rows)
    lines.append(f"{len(rows)} models, {total:.2f} s of computation")
    if any(r.get("upper_bound_only") and r.get("upper_bound_certified") for r in rows):
        lines.append("<=N: a certain upper bound from 0/1 gate patterns, each proved to keep "
                     "the variances independent; no probability for equality (gates inside a "
                     "normalization's variance)")
    if any(r.get("upper_bound_only") and not r.get("upper_bound_certified") for r in rows):
        lines.append("<=N?: an upper bound, not certified (the variances not proved "
                     "independent for a gate pattern or for the data at a fixed point)")
    return "\n".join(lines)
