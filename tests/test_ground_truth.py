"""Every Euclidean gradient-flow row of the shared ground truth, through the CLI.

Expected values (N, D, and for the reference sweeps the number of generator fields d)
come from ground_truth.md / ground_truth.json, not from this package.
"""
import json

import pytest

import conslaw_algebra as ca
from conslaw_algebra.views.cli import main

from models import gradient_rows, model_text, sweep_field_counts

ROWS = gradient_rows()
FIELD_COUNTS = sweep_field_counts()


def _count_json(tmp_path, capsys, text, *extra):
    path = tmp_path / "model.net"
    path.write_text(text)
    assert main(["count", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("row", ROWS, ids=[str(r["id"]) for r in ROWS])
def test_count_matches_ground_truth(row, tmp_path, capsys):
    result = _count_json(tmp_path, capsys, model_text(row))
    assert result["D"] == row["D"]
    assert result["laws"] == row["N"]
    assert result["lie_rank"] == row["D"] - row["N"]
    assert result["seed"] == 0
    if str(row["id"]) in FIELD_COUNTS and result["features"] is not None:
        assert result["features"] == FIELD_COUNTS[str(row["id"])]


LAW_ROWS = [r for r in ROWS if str(r["id"]).startswith(("C2", "D2")) or isinstance(r["id"], int)]


@pytest.mark.parametrize("row", LAW_ROWS, ids=[str(r["id"]) for r in LAW_ROWS])
def test_degree_two_laws_are_complete(row):
    """Linear, ReLU, product and attention laws are all quadratic (THEORY.md E.1)."""
    result = ca.parse(model_text(row)).laws(2)
    assert result.independent == row["N"]
    assert result.complete and result.certified
    assert result.to_json()["lie_laws"] == row["N"]


def test_reported_laws_of_a_small_relu_net_are_the_per_neuron_balances():
    """THEORY.md A.5: one law ||in||^2 + b^2 - ||out||^2 per hidden neuron."""
    model = ca.parse("layers 2 -> 2 relu bias -> 1")
    expected = {
        "W1[0,0]^2 + W1[0,1]^2 + b1[0]^2 - W2[0,0]^2",
        "W1[1,0]^2 + W1[1,1]^2 + b1[1]^2 - W2[0,1]^2",
    }
    assert set(model.laws(2).strings()) == expected


def test_same_seed_same_answer_and_seed_is_reported():
    model = ca.parse("layers 3 -> 4 -> 2")
    first, second = model.count_laws(seed=7), model.count_laws(seed=7)
    assert first.to_json() == second.to_json()
    assert first.to_json()["seed"] == 7
    assert 0 < first.lie.error_bound < 1e-3
