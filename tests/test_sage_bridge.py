"""The Sage bridge: the generated `.sage` script runs in a real Sage (the ``sage``
command of passagemath, installed by the ``sage`` extra, part of ``test``), and laws
convert to Sage polynomials.

Expected values: relu_bias_3layer (4 -> 5 relu bias -> 3 relu bias -> 2) has N = 8,
one law per hidden neuron (ground truth row 30, THEORY.md A.5).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import conslaw_algebra as ca
from conslaw_algebra.views.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _run_sage(path: Path) -> subprocess.CompletedProcess:
    """``sage FILE.sage`` with the ``sage`` command installed beside this interpreter."""
    here = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=here + os.pathsep + os.environ.get("PATH", ""))
    sage = shutil.which("sage", path=env["PATH"])
    assert sage, "the 'sage' command is missing: pip install -e '.[sage]'"
    return subprocess.run([sage, str(path)], capture_output=True, text=True, timeout=600,
                          cwd=path.parent, env=env)


def test_sage_script_of_relu_bias_3layer_passes_in_sage(tmp_path, capsys):
    assert main(["laws", str(ROOT / "examples/relu_bias_3layer.net"), "--format", "sage"]) == 0
    script = capsys.readouterr().out
    path = tmp_path / "relu_bias_3layer.sage"
    path.write_text(script)
    done = _run_sage(path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"8 laws of relu_bias_3layer conserved by all \d+ fields; 8 independent",
                     done.stdout)

    # the assertions are real: a law with one sign changed makes Sage fail
    head, laws = script.split("laws = [", 1)
    broken = head + "laws = [" + laws.replace(" + ", " - ", 1)   # one sign in the first law
    assert broken != script
    path.write_text(broken)
    done = _run_sage(path)
    assert done.returncode != 0 and "AssertionError" in done.stderr


def test_laws_as_sage_polynomials_checked_by_sage_derivatives():
    from sage.all__sagemath_singular import QQ

    model = ca.load(ROOT / "examples/product_x1x2x3.net")
    laws = model.laws(2).as_sage()
    ring = laws[0].parent()
    assert ring.base_ring() == QQ and [str(v) for v in ring.gens()] == ["x1", "x2", "x3"]
    x1, x2, x3 = ring.gens()
    phi = x1 * x2 * x3                     # the only feature (THEORY.md, product example)
    assert laws == [x1**2 - x3**2, x2**2 - x3**2]
    for h in laws:
        assert sum(h.derivative(v) * phi.derivative(v) for v in ring.gens()) == 0


def test_momentum_sage_script_lists_the_fields(tmp_path):
    from conslaw_algebra.views.exports import sage_script

    model = ca.parse("param a, b\noutput a*b\nflow momentum", "m")
    result = model.laws(2)
    script = sage_script(model, result)
    assert "fields.append(" in script and "features" not in script.split("laws = [")[0]
    path = tmp_path / "m.sage"
    path.write_text(script)
    done = _run_sage(path)
    assert done.returncode == 0, done.stderr[-2000:]
