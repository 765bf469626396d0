"""Sweeps: many models in parallel, locally and on a Dask cluster.

Expected counts: a layered ReLU net has one law per hidden neuron (THEORY.md A.5).
"""
import io
import json

import distributed

from conslaw_algebra.views.cli import main
from conslaw_algebra.tools.sweep import family_models, progress_printer, run_sweep


def _hidden_neurons(text: str) -> int:
    widths = [int(step.split()[0]) for step in text.split("->")[1:]]
    return sum(widths[:-1])


def test_local_process_pool_sweep_gives_known_counts():
    models = family_models("relu", 6, seed=3, widths=(2, 5), depth=(2, 3))
    rows = run_sweep(models, jobs=2)
    assert [r["model"] for r in rows] == [name for name, _ in models]
    assert [r["laws"] for r in rows] == [_hidden_neurons(text) for _, text in models]


def test_dask_local_cluster_sweep_gives_known_counts():
    models = family_models("relu", 4, seed=5, widths=(2, 4), depth=(2, 3))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        rows = run_sweep(models, scheduler=cluster.scheduler_address)
    assert [r["laws"] for r in rows] == [_hidden_neurons(text) for _, text in models]


def test_sweep_of_a_folder_reports_bad_files_and_goes_on(tmp_path, capsys):
    (tmp_path / "a.net").write_text("layers 3 -> 4 relu -> 2\n")
    (tmp_path / "b.net").write_text("output W @\n")
    status = main(["sweep", str(tmp_path), "--json", "--jobs", "1"])
    rows = json.loads(capsys.readouterr().out)
    assert status == 1
    assert rows[0]["laws"] == 4
    assert "b.net:1:" in rows[1]["error"]


def test_sweep_progress_lines():
    stream = io.StringIO()
    run_sweep([("m", "layers 2 -> 3 relu -> 1")], jobs=1, progress=progress_printer(stream))
    assert stream.getvalue().startswith("[1/1] m: N = 3 (")
