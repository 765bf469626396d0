"""Smoke test of the benchmark harness: one group runs end to end and checks itself."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.__main__ import main  # noqa: E402


def test_harness_runs_the_second_loops_and_every_answer_is_right(capsys):
    assert main(["--only", "sweeps-laws"]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith(("| C2.", "| D2."))]
    assert len(rows) == 20
    assert all(line.rstrip().endswith("| ok |") for line in rows)
