"""PyTorch import: an nn.Sequential gives the same N and the same laws as the
equivalent `.net` file (names W1, b1, ... by weight layer, as documented).

Expected values from ground truth / THEORY.md: relu_bias_3layer N = 8, linear_3layer
N = 21, conv_relu N = 3.
"""
from __future__ import annotations

from fractions import Fraction
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


# ------------------------------------------------------------------ traced modules
# Each torch module is compared with a `.net` model written here by hand from the
# layer's PyTorch definition (same parameter names, as documented in torch_import.py):
# same N and the same exact basis of laws of degree <= 2.

import operator  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from conslaw_algebra.bridges.torch_import import net_text  # noqa: E402
from conslaw_algebra.language.floating import FloatModel  # noqa: E402


def _compare(module, example, by_hand: str, n: int | None = None):
    model = ca.from_torch(module, example)
    written = ca.parse(by_hand)
    left = model.count_laws(seed=2).laws
    assert left == written.count_laws(seed=2).laws
    if n is not None:
        assert left == n
    a, b = model.laws(2), written.laws(2)
    assert model.names == written.names
    assert set(a.strings()) == set(b.strings()) and a.count == b.count
    return model


class Residual(nn.Module):
    """x + W2 relu(W1 x + b1): not an nn.Sequential."""

    def __init__(self):
        super().__init__()
        self.inner, self.outer = nn.Linear(3, 4), nn.Linear(4, 3, bias=False)

    def forward(self, x):
        return x + self.outer(F.relu(self.inner(x)))


def test_a_residual_block_is_traced():
    # THEORY.md (residual): one rescaling law per hidden neuron, N = 4 (as test_architectures)
    by_hand = ("input x[3]\nparam W1[4,3], b1[4], W2[3,4]\n"
               "output x + W2 @ relu(W1 @ x + b1)")
    _compare(Residual(), torch.zeros(2, 3), by_hand, 4)


class TwoBranches(nn.Module):
    """torch.cat of two ReLU branches, then a linear read-out."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(3, 2, bias=False), nn.Linear(3, 2, bias=False), \
            nn.Linear(4, 1, bias=False)

    def forward(self, x):
        return self.out(torch.cat([torch.relu(self.a(x)), self.b(x).relu()], dim=1))


def test_concatenation_is_traced():
    # each of the 4 hidden ReLU neurons rescales on its own: N = 4
    by_hand = ("input x[3]\nparam W1[2,3], W2[2,3], W3[1,4]\n"
               "output W3 @ cat(relu(W1 @ x), relu(W2 @ x))")
    _compare(TwoBranches(), torch.zeros(1, 3), by_hand, 4)


def test_leaky_relu_gates_at_the_slope():
    # LeakyReLU(1/4): gate in {1/4, 1}, still positively homogeneous: one law per neuron
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.LeakyReLU(0.25), nn.Linear(3, 1, bias=False))
    by_hand = ("input x[2]\nparam W1[3,2], W2[1,3]\nh = W1 @ x\n"
               "output W2 @ (1/4 * h + 3/4 * relu(h))")
    _compare(net, torch.zeros(1, 2), by_hand, 3)
    assert "1/4 * h1 + 3/4 * relu(h1)" in net_text(net, (2,))[0]


@pytest.mark.parametrize("layer, function", [
    (nn.Tanh(), "tanh"), (nn.Sigmoid(), "sigmoid"), (nn.GELU(), "gelu"), (nn.SiLU(), "silu")])
def test_smooth_activations(layer, function):
    net = nn.Sequential(nn.Linear(2, 2, bias=False), layer, nn.Linear(2, 1, bias=False))
    _compare(net, (2,), f"input x[2]\nparam W1[2,2], W2[1,2]\noutput W2 @ {function}(W1 @ x)")


def test_gelu_and_silu_of_one_argument_are_two_values():
    # output a*G + b*S with G = gelu(w x), S = silu(w x): the fields at data x are
    # (G, S, x (a G' + b S')) with G, S, G', S' free values, spanning R^3: N = 0.
    # Were GELU and SiLU one symbol, the fields (G, G, x (a + b) G') would conserve a - b.
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(1, 1, bias=False)
            self.out = nn.Linear(2, 1, bias=False)

        def forward(self, x):
            h = self.w(x)
            return self.out(torch.cat([F.gelu(h), F.silu(h)], dim=-1))

    text = net_text(Two(), torch.zeros(1, 1))[0]
    assert "gelu(" in text and "silu(" in text
    assert ca.from_torch(Two(), torch.zeros(1, 1)).count_laws().laws == 0
    assert ca.parse("param a, b, w\ninput x\noutput a * gelu(w * x) + b * gelu(w * x)"
                    ).count_laws().laws == 1


def test_gelu_with_the_tanh_approximation_is_refused_by_name():
    net = nn.Sequential(nn.Linear(2, 2), nn.GELU(approximate="tanh"))
    with pytest.raises(ca.UnsupportedError, match="GELU"):
        ca.from_torch(net, torch.zeros(1, 2))


def test_a_gated_mlp_with_functional_calls():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate, self.up = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
            self.down = nn.Linear(2, 1, bias=False)

        def forward(self, x):
            return self.down(operator.mul(F.silu(self.gate(x)), self.up(x)) * 0.5)

    by_hand = ("input x[2]\nparam W1[2,2], W2[2,2], W3[1,2]\n"
               "output W3 @ (silu(W1 @ x) * (W2 @ x) * 1/2)")
    _compare(Gated(), (2,), by_hand)


def test_convolution_options_match_the_written_convolution():
    net = nn.Sequential(nn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2), nn.ReLU(),
                        nn.Conv1d(4, 1, 2, dilation=2, bias=False))
    by_hand = ("input x[2,7]\nparam W1[4,1,3], b1[4,1], W2[1,4,2]\n"
               "output conv1d(W2, relu(conv1d(W1, x, stride=2, padding=1, groups=2) + b1), "
               "dilation=2)")
    _compare(net, torch.zeros(1, 2, 7), by_hand)


def _float_outputs(model, inputs: list, module) -> np.ndarray:
    """The compiled program in floats, with torch's weights (read here only)."""
    state = dict(module.named_parameters())
    theta = np.concatenate([state[key].detach().numpy().ravel() for key in model.torch_names])
    return FloatModel(model.program, {i: v for i, v in enumerate(inputs)}).outputs(theta)


@pytest.mark.parametrize("conv", [
    nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
    nn.Conv2d(2, 4, (3, 3), stride=2, padding=1, dilation=1, groups=2),
    nn.Conv2d(2, 2, 2, padding="same", dilation=2, bias=False),
])
def test_convolution_agrees_with_torch_numerically(conv):
    torch.manual_seed(0)
    sample = torch.randn((3, conv.in_channels) + (7,) * len(conv.kernel_size))
    model = ca.from_torch(conv, sample[:1])
    got = _float_outputs(model, [sample.numpy().astype(float)], conv)
    expected = conv(sample).detach().numpy().reshape(3, -1)
    assert np.allclose(got, expected, atol=1e-5)


def test_batched_convolution_agrees_with_torch_numerically():
    torch.manual_seed(1)
    conv = nn.Conv1d(2, 3, 2, stride=2)
    written = ca.parse("input x[2,2,6]\nparam W1[3,2,2], b1[3,1]\noutput conv1d(W1, x, stride=2) + b1")
    written.torch_names = {"weight": "W1", "bias": "b1"}
    sample = torch.randn(2, 2, 6)
    got = _float_outputs(written, [sample.numpy()[None].astype(float)], conv)
    assert np.allclose(got.reshape(2, 3, 3), conv(sample).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("pool, text", [
    (nn.MaxPool1d(3, stride=1), "maxpool(h1, size=3, stride=1)"),
    (nn.AvgPool1d(2), "avgpool(h1, size=2)"),
])
def test_one_dimensional_pooling(pool, text):
    net = nn.Sequential(nn.Linear(2, 4, bias=False), nn.ReLU(), pool, nn.Flatten(),
                        nn.Linear(2 if isinstance(pool, nn.MaxPool1d) else 2, 1, bias=False))
    by_hand = f"input x[2]\nparam W1[4,2], W2[1,2]\nh1 = relu(W1 @ x)\noutput W2 @ {text}"
    _compare(net, (2,), by_hand)


def test_two_dimensional_pooling_and_flatten():
    net = nn.Sequential(nn.Conv2d(1, 2, 2, bias=False), nn.ReLU(), nn.MaxPool2d(2, stride=1),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2, 1, bias=False))
    by_hand = ("input x[1,5,5]\nparam W1[2,1,2,2], W2[1,2]\n"
               "output W2 @ reshape(avgpool2d(maxpool2d(relu(conv2d(W1, x)), size=2, stride=1), "
               "size=2, stride=2), 2)")
    _compare(net, (1, 5, 5), by_hand)


def test_adaptive_average_pooling_is_an_average():
    net = nn.Sequential(nn.Conv1d(1, 2, 2, bias=False), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                        nn.Flatten(), nn.Linear(2, 1, bias=False))
    by_hand = ("input x[1,4]\nparam W1[2,1,2], W2[1,2]\n"
               "output W2 @ reshape(avgpool(relu(conv1d(W1, x)), size=3), 2)")
    _compare(net, (1, 4), by_hand, 2)


def test_views_permutes_and_transposes():
    class Shuffle(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2, bias=False), nn.Linear(10, 1, bias=False)

        def forward(self, x):                                   # x [B, 2, 3]
            y = torch.relu(self.a(x)).transpose(1, 2)           # [B, 2, 2]
            y = y.permute(0, 2, 1).permute(0, 2, 1).reshape(x.size(0), -1)
            return self.b(torch.cat([y, x.view(x.shape[0], 6)], dim=1))

    by_hand = ("input x[2,3]\nparam W1[2,3], W2[1,10]\n"
               "output W2 @ cat(reshape(relu(x @ W1.T).T, 4), reshape(x, 6))")
    _compare(Shuffle(), torch.zeros(2, 2, 3), by_hand)


class SelfAttention(nn.Module):
    def __init__(self, bias=False):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, bias=bias, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


def test_multihead_attention_is_the_languages_attention():
    # q = x Wq^T: the language's Q is Wq^T; heads are blocks of columns in both
    by_hand = ("input x[2,4]\nparam Wq1[4,4], Wk1[4,4], Wv1[4,4], Wo1[4,4]\n"
               "output attention(x, Wq1.T, Wk1.T, Wv1.T, Wo1, heads=2)")
    model = _compare(SelfAttention(), torch.zeros(1, 2, 4), by_hand)
    assert model.torch_names == {"attn.in_proj_weight": ("Wq1", "Wk1", "Wv1"),
                                 "attn.out_proj.weight": "Wo1"}


def test_attention_with_projection_biases_is_refused():
    with pytest.raises(ca.UnsupportedError, match=r"layer attn \(MultiheadAttention\): query/key"):
        ca.from_torch(SelfAttention(bias=True), torch.zeros(1, 2, 4))


def test_embedding_is_a_matrix_applied_to_one_hot_data():
    net = nn.Sequential(nn.Embedding(4, 2), nn.Dropout(0.5), nn.Linear(2, 2, bias=False), nn.ReLU(),
                        nn.Identity(), nn.Linear(2, 1, bias=False))
    tokens = torch.zeros(1, 3, dtype=torch.long)
    text = net_text(net, tokens)[0]
    assert "input x[3,4] onehot" in text
    by_hand = ("input x[3,4] onehot\nparam E1[4,2], W2[2,2], W3[1,2]\n"
               "output relu(x @ E1 @ W2.T) @ W3.T")
    _compare(net, tokens, by_hand)


def test_one_hot_rows_sum_to_one():
    # x @ A + b with one one-hot row x = (x0, x1): x1 = 1 - x0, so the output is
    # x0 (A[0,0] - A[1,0]) + (A[1,0] + b): two features in D = 3 parameters, N = 1;
    # with free data x the features are A[0,0], A[1,0], b and N = 0.
    model = ca.parse("input x[1,2] onehot\nparam A[2,1], b\noutput x @ A + b")
    assert model.count_laws().laws == 1
    plain = ca.parse("input x[1,2]\nparam A[2,1], b\noutput x @ A + b")
    assert plain.count_laws().laws == 0


def test_normalization_layers_are_written_with_exact_eps():
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.LayerNorm(4, eps=0.25), nn.ReLU(),
                        nn.Linear(4, 2, bias=False), nn.RMSNorm(2, eps=0.5))
    text, names = net_text(net, (3,))
    assert text.splitlines()[2:] == [
        "param W1[4,3], g2[4], b2[4], W3[2,4], g4[2]",
        "output g4 * rmsnorm(W3 @ relu(g2 * layernorm(W1 @ x, eps=1/4) + b2), eps=1/2)"]
    assert names == {"0.weight": "W1", "1.weight": "g2", "1.bias": "b2", "3.weight": "W3",
                     "4.weight": "g4"}


def test_batch_norm_keeps_the_batch_axis():
    net = nn.Sequential(nn.Conv1d(1, 2, 2, bias=False), nn.BatchNorm1d(2), nn.ReLU(),
                        nn.Flatten(), nn.Linear(6, 1))
    text, names = net_text(net, torch.zeros(5, 1, 4))
    assert text.splitlines()[1:] == [
        "input x[5,1,4]",
        "param W1[2,1,2], g2[2,1], b2[2,1], W3[1,6], b3[1]",
        "output reshape(relu(g2 * batchnorm(conv1d(W1, x), eps=%s) + b2), 5, 6) @ W3.T + b3"
        % Fraction(1e-5)]
    assert set(names) == {k for k, _ in net.named_parameters()}
    assert "running_mean" not in " ".join(names)


def test_eps_zero_writes_no_eps_and_says_so():
    from conslaw_algebra.bridges.torch_import import net_text_and_notes
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.LayerNorm(2, elementwise_affine=False))
    text, _, notes = net_text_and_notes(net, (2,), eps="zero")
    assert text.splitlines()[-1] == "output layernorm(W1 @ x)" and "zero" in notes[0]


def test_batch_norm_in_eval_mode_is_refused():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).eval()
    with pytest.raises(ca.UnsupportedError, match=r"layer 1 \(BatchNorm1d\): in eval mode"):
        net_text(net, torch.zeros(3, 2))


def test_torch_names_cover_every_parameter():
    class Everything(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.attn = nn.MultiheadAttention(4, 1, bias=False, batch_first=True)
            self.scale = nn.Parameter(torch.ones(4))
            self.unused = nn.Linear(2, 2)
            self.head = nn.Linear(4, 1)

        def forward(self, t):
            x = self.embed(t)
            x = x + self.attn(x, x, x, need_weights=False)[0]
            return self.head(self.scale * x)

    model = ca.from_torch(Everything(), torch.zeros(1, 3, dtype=torch.long))
    parameters = {k for k, _ in Everything().named_parameters()}
    assert set(model.torch_names) == parameters
    assert (model.torch_names["scale"], model.torch_names["unused.bias"]) == ("p_scale",
                                                                              "p_unused_bias")
    declared = {p.name for p in model.program.params}
    named = set()
    for value in model.torch_names.values():
        named |= set(value) if isinstance(value, tuple) else {value}
    assert named == declared


def test_parameter_names_that_are_not_identifiers_become_unique_net_names():
    # y = W (p * q * x) + b, p and q entrywise: per entry j the rescalings p_j <-> q_j and
    # (p_j, W_j) keep y, so p_j^2 - q_j^2 and p_j^2 - W_j^2 are laws: N = 2 * 2 = 4
    class Oddly(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_parameter("import os", nn.Parameter(torch.zeros(2)))
            self.register_parameter("import_os", nn.Parameter(torch.zeros(2)))
            self.lin = nn.Linear(2, 1)

        def forward(self, x):
            return self.lin(x * getattr(self, "import os") * getattr(self, "import_os"))

    model = ca.from_torch(Oddly(), torch.zeros(1, 2))
    names = model.torch_names
    assert names["import os"] != names["import_os"]
    assert all(n.isidentifier() for n in names.values())
    assert model.count_laws().laws == 4
