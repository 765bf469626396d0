"""What the command line imports: only what the default paths use (issue 14, item 3).

`conslaw count` and `conslaw laws` of a small model must not import SymPy (exact
systems are FLINT's), networkx (only files with `let` need the binding graph), lark
(valid files are read by the hand-written parser) or multiprocessing (only jobs on
several processes need it); each costs the start-up milliseconds to tens of
milliseconds (BENCHMARKS.md, start-up).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sympy", "networkx", "lark", "multiprocessing")


@pytest.mark.parametrize("command", ["count", "laws"])
def test_a_small_model_imports_none_of_the_heavy_modules(command):
    code = ("import sys, io, contextlib\n"
            "from conslaw_algebra.views.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        main([{command!r}, sys.argv[1]])\n"
            "    except SystemExit:\n"
            "        pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "relu_2layer.net")],
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "[]"
