"""The notebook in examples/ runs from top to bottom in a real Jupyter kernel.

Each of its cells asserts what it shows (N = 5 and one balance law per hidden neuron of
relu_2layer, THEORY.md A.5; a hand-written law conserved and a non-law not; flat laws
along the flow; the SymPy and Sage round trips), so an execution without error means
the walkthrough is still true. nbclient drives the kernel as Jupyter does.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "walkthrough.ipynb"


def test_walkthrough_notebook_runs_and_its_checks_hold(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells)   # kept without outputs
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLCONFIGDIR=str(tmp_path))
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "examples")}})
    client.execute(env=env)                 # a failing assert raises CellExecutionError
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "laws N     5" in text
    assert "5 laws checked by Sage against 60 features" in text
    kinds = {kind for o in outputs for kind in o.get("data", {})}
    assert {"text/latex", "image/png"} <= kinds       # the LaTeX block and the plot
