"""Path-lifting view (THEORY.md D): path counts and path-norms from independent recipes."""
import json
import random
from fractions import Fraction
from math import prod

import pytest

import conslaw_algebra as ca
from conslaw_algebra.views.cli import main
from conslaw_algebra.analyses.paths import count_paths, path_norm

from models import layers_text


@pytest.mark.parametrize("widths,bias", [([2, 3, 2], False), ([3, 2, 4, 2], True), ([2, 2, 2, 2, 3], True)])
def test_relu_path_count(widths, bias):
    """THEORY.md A.5 (widths output side first): n0 n1 ... nq paths, plus with hidden
    biases, for each hidden layer l, n0 n1 ... n_l paths starting at its biases."""
    expected = prod(widths) + (sum(prod(widths[:l + 1]) for l in range(1, len(widths) - 1)) if bias else 0)
    model = ca.parse(layers_text(widths, relu=True, bias=bias))
    assert count_paths(model) == (expected, True)


def _forward_abs_ones(widths_input_first, values, bias, q):
    """THEORY.md D recipe: one forward pass with |w|^q and input all ones."""
    position = 0
    h = [Fraction(1)] * widths_input_first[0]
    layers = len(widths_input_first) - 1
    for k, (n_in, n_out) in enumerate(zip(widths_input_first, widths_input_first[1:]), start=1):
        w = [[abs(values[position + i * n_in + j]) ** q for j in range(n_in)] for i in range(n_out)]
        position += n_in * n_out
        h = [sum(w[i][j] * h[j] for j in range(n_in)) for i in range(n_out)]
        if bias and k < layers:
            h = [h[i] + abs(values[position + i]) ** q for i in range(n_out)]
            position += n_out
    return sum(h)


@pytest.mark.parametrize("widths,bias,q", [([3, 4, 2], True, 1), ([2, 3, 3, 2], True, 2),
                                           ([4, 2, 3], False, 3)])
def test_path_norm_equals_the_forward_pass_recipe(widths, bias, q):
    model = ca.parse(layers_text(list(reversed(widths)), relu=True, bias=bias))
    rng = random.Random(7)
    point = [Fraction(rng.randint(-9, 9), rng.randint(1, 4)) for _ in range(model.dim)]
    assert path_norm(model, point, q) == _forward_abs_ones(widths, point, bias, q)


def test_paths_command(tmp_path, capsys):
    path = tmp_path / "p.net"
    path.write_text("layers 2 -> 2 relu bias -> 1\n")
    assert main(["paths", str(path), "--json", "--norm-at", "1 2 3 4 5 6 7 8"]) == 0
    report = json.loads(capsys.readouterr().out)
    # paths: W2[0,j] (W1[j,i] or b1[j]); at these values 7*(1+2+5) + 8*(3+4+6) = 160
    assert report["paths"] == 6 and len(report["monomials"]) == 6
    assert report["path_norm_power_sum"] == "160"
    assert main(["paths", str(path), "--norm-at", "1 2"]) == 2
