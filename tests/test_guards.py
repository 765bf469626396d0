"""Resource guards: oversized requests are refused at once with their estimate, and
--timeout stops a long command cleanly.

Expected numbers are counted here by hand: the number of unknown coefficients of a
degree-k law system is C(n + k, k) - 1 (monomials of degree 1..k in n variables).
"""
from __future__ import annotations

import time
from math import comb
from pathlib import Path

import pytest

import conslaw_algebra as ca
from conslaw_algebra.analyses import guards
from conslaw_algebra.views.cli import main
from conslaw_algebra.errors import BudgetError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("text, size", [("2G", 2 * 2**30), ("500M", 500 * 2**20),
                                        ("1.5GiB", int(1.5 * 2**30)), ("1000", 1000),
                                        ("64kb", 64 * 1024)])
def test_sizes(text, size):
    assert guards.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "2X", "inf"])
def test_bad_sizes_are_user_errors(text):
    with pytest.raises(ca.ConslawError):
        guards.parse_size(text)


def test_budget_comes_from_argument_then_environment(monkeypatch):
    monkeypatch.setenv(guards.ENVIRONMENT, "3M")
    assert guards.memory_budget() == 3 * 2**20
    assert guards.memory_budget("1G") == 2**30
    monkeypatch.delenv(guards.ENVIRONMENT)
    assert guards.memory_budget() == guards.machine_memory() // 2


def test_degree_three_law_system_is_refused_with_its_size():
    model = ca.parse("layers 30 -> 30 relu -> 30 relu -> 30", "wide", memory_budget="100M")
    n = model.dim                                     # 2,700 parameters
    started = time.perf_counter()
    with pytest.raises(BudgetError) as caught:
        model.laws(3)
    assert time.perf_counter() - started < 1.0
    message = str(caught.value)
    assert f"{comb(n + 3, 3) - 1:,} unknown coefficients" in message
    assert "would need about" in message and "budget 100.0 MiB" in message
    assert "lower --degree" in message and "--by-block" in message


def test_lie_count_and_feature_listing_are_refused_for_a_huge_network():
    model = ca.parse("layers 300 -> 300 relu -> 300 relu -> 300", "huge")
    started = time.perf_counter()
    with pytest.raises(BudgetError, match=r"270,000 x 270,000 frames"):
        model.count_laws()
    with pytest.raises(BudgetError, match=r"8,100,000,000 terms"):   # 300^4 paths
        model.features
    assert time.perf_counter() - started < 1.0


def test_huge_declared_tensor_is_refused_before_naming_its_entries():
    started = time.perf_counter()
    with pytest.raises(BudgetError, match="naming 100,000,000,000 parameters"):
        ca.parse("param W[100000,1000000]\noutput sum(W)")
    assert time.perf_counter() - started < 1.0


def test_convolution_lowering_is_refused_before_building_nodes():
    text = "input X[3,2000,2000]\nparam W[4,3,3,3]\noutput sum(conv2d(W, X))"
    started = time.perf_counter()
    with pytest.raises(BudgetError, match="conv2d would be lowered"):
        ca.parse(text)
    assert time.perf_counter() - started < 1.0


def test_cli_memory_budget_refusal_is_fast_and_shows_the_estimate(capsys):
    started = time.perf_counter()
    status = main(["laws", str(EXAMPLES / "linear_3layer.net"), "--degree", "4",
                   "--memory-budget", "40M"])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert status == 2 and elapsed < 1.0
    assert err.count("\n") == 1
    assert f"{comb(41 + 4, 4) - 1:,} unknown coefficients" in err     # D = 20 + 15 + 6 = 41
    assert "would need about" in err and "budget 40.0 MiB" in err


def test_cli_timeout_stops_cleanly(capsys):
    started = time.perf_counter()
    status = main(["laws", str(EXAMPLES / "relu_bias_3layer.net"), "--degree", "4",
                   "--timeout", "0.5"])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    assert status == 124
    assert err == "conslaw: stopped after the time limit of 0.5 s (--timeout)\n"
    assert elapsed < 3.0


def test_timeout_does_not_touch_a_command_that_finishes(capsys):
    assert main(["count", str(EXAMPLES / "product_x1x2x3.net"), "--timeout", "60"]) == 0
    assert "laws N     2" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "-3", "nan"])
def test_cli_rejects_a_bad_timeout(value, capsys):
    assert main(["count", str(EXAMPLES / "product_x1x2x3.net"), "--timeout", value]) == 2
    assert "--timeout must be a positive number" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_time_limit_survives_an_alarm_dropped_in_a_finalizer():
    """Python drops an exception raised inside __del__; the limit must still stop the
    computation that follows (the first alarm lands in the finalizer by construction)."""
    from conslaw_algebra.analyses.guards import TimeLimitError, time_limit

    class SlowToDelete:
        def __del__(self):
            end = time.perf_counter() + 0.3
            while time.perf_counter() < end:
                pass

    started = time.perf_counter()
    with pytest.raises(TimeLimitError):
        with time_limit(0.1):
            obj = SlowToDelete()
            del obj                                  # the alarm at 0.1 s is dropped here
            while time.perf_counter() - started < 5:
                pass
    assert time.perf_counter() - started < 1.0
