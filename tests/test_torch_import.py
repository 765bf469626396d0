"""PyTorch import: an nn.Sequential gives the same N and the same laws as the
equivalent `.net` file (names W1, b1, ... by weight layer, as documented).

Expected values from ground truth / THEORY.md: relu_bias_3layer N = 8, linear_3layer
N = 21, conv_relu N = 3.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch.nn as nn

import conslaw_algebra as ca

ROOT = Path(__file__).resolve().parent.parent


def _same(torch_model, net_model, n):
    assert torch_model.names == net_model.names
    assert torch_model.count_laws(seed=2).laws == net_model.count_laws(seed=2).laws == n
    left, right = torch_model.laws(2), net_model.laws(2)
    assert set(left.strings()) == set(right.strings()) and left.count == right.count


def test_relu_mlp_with_biases_matches_the_layers_file():
    mlp = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.ReLU(),
                        nn.Linear(3, 2, bias=False))
    model = ca.from_torch(mlp)
    assert model.torch_names == {"0.weight": "W1", "0.bias": "b1", "2.weight": "W2",
                                 "2.bias": "b2", "4.weight": "W3"}
    _same(model, ca.load(ROOT / "examples/relu_bias_3layer.net"), 8)


def test_linear_mlp_matches_the_layers_file():
    mlp = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Linear(5, 3, bias=False),
                        nn.Identity(), nn.Linear(3, 2, bias=False))
    _same(ca.from_torch(mlp), ca.load(ROOT / "examples/linear_3layer.net"), 21)


def test_convolution_block_matches_the_example():
    net = nn.Sequential(nn.Conv1d(2, 3, 2, bias=False), nn.ReLU(), nn.Conv1d(3, 2, 2, bias=False))
    model = ca.from_torch(net, input_shape=(2, 5))
    _same(model, ca.load(ROOT / "examples/conv_relu.net"), 3)


def test_relu_maxpool_mlp_matches_the_example():
    net = nn.Sequential(nn.Linear(6, 4, bias=False), nn.ReLU(), nn.MaxPool1d(2),
                        nn.Linear(2, 3, bias=False))
    _same(ca.from_torch(net), ca.load(ROOT / "examples/maxpool.net"), 2)


def test_conv2d_block_matches_a_hand_written_model():
    # THEORY.md C (shallow conv ReLU block): one law per hidden channel, N = 2
    net = nn.Sequential(nn.Conv2d(1, 2, 2, bias=False), nn.ReLU(), nn.Conv2d(2, 1, 2, bias=False))
    by_hand = ca.parse("input x[1,3,3]\nparam W1[2,1,2,2], W2[1,2,2,2]\n"
                       "output conv2d(W2, relu(conv2d(W1, x)))")
    _same(ca.from_torch(net, input_shape=(1, 3, 3)), by_hand, 2)


@pytest.mark.parametrize("net, words", [
    (nn.Sequential(nn.Linear(3, 2), nn.LSTM(2, 2)), "layer 1 (LSTM) has no .net translation"),
    (nn.Sequential(nn.Linear(3, 2), nn.Softplus()), "layer 1 (Softplus)"),
    (nn.Sequential(nn.Linear(3, 2), nn.Linear(4, 1)), "expects 4 inputs"),
    (nn.Sequential(nn.Conv1d(1, 1, 2)), "give input_shape"),
    (nn.Sequential(nn.Conv1d(1, 1, 2, padding_mode="circular")), "padding_mode"),
])
def test_unsupported_layers_are_refused_clearly(net, words):
    shape = (1, 5) if isinstance(net[0], nn.Conv1d) and net[0].padding_mode != "zeros" else None
    with pytest.raises(ca.UnsupportedError, match=words.replace("(", r"\(").replace(")", r"\)")):
        ca.from_torch(net, shape)
