"""The real blocks of ``examples/real_blocks.py``, imported from torch, at a small size.

Every expected law is derived by hand in the test (the module docstring of
``examples/real_blocks.py`` explains them); the laws found are compared with it by exact
linear algebra (SymPy, ``test_normalized_blocks._same_span``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn as nn

import conslaw_algebra as ca
from conslaw_algebra.bridges.torch_import import from_torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_blocks  # noqa: E402
from test_normalized_blocks import _same_span  # noqa: E402


def _squares(entries) -> str:
    return " + ".join(f"{e}^2" for e in entries)


def test_gated_mlp_has_one_balance_law_per_hidden_unit():
    # hidden unit j: silu(gate[j] . x) * (up[j] . x), sent out by down[:, j]; up[j,:] -> c,
    # down[:,j] -> 1/c changes nothing: ||up[j,:]||^2 - ||down[:,j]||^2. silu is generic:
    # nothing rescales gate, so no law involves it.
    module, example = real_blocks.SIZES["small"]["gated_mlp"]()
    model = from_torch(module, example)
    up, down = model.torch_names["up.weight"], model.torch_names["down.weight"]
    gate = model.torch_names["gate.weight"]
    hidden, width = module.up.weight.shape
    balances = [model.parse_polynomial(
        _squares(f"{up}[{j},{k}]" for k in range(width)) + " - ("
        + _squares(f"{down}[{i},{j}]" for i in range(width)) + ")") for j in range(hidden)]
    result = model.block_laws(2)
    laws = [h for b in result.blocks for h in b.laws]
    assert _same_span(model, laws, balances)
    assert all(not b.laws for b in result.blocks if b.tensors == (gate,))
    assert result.complete and result.lie_laws == hidden
    assert model.count_laws().laws == hidden


def test_shipped_gated_mlp_is_the_imported_one():
    text, _ = real_blocks.build("gated_mlp")
    shipped = (Path(real_blocks.__file__).parent / "gated_mlp.net").read_text()
    assert shipped.rstrip("\n").endswith(text.split("\n", 1)[1])


class _AttentionSublayer(nn.Module):
    """The first half of the encoder layer: norm1(x + attention(x))."""

    def __init__(self, width, heads):
        super().__init__()
        layer = real_blocks.EncoderLayer(width, heads, 1)
        self.attention, self.norm1 = layer.attention, layer.norm1

    def forward(self, x):
        return self.norm1(x + self.attention(x, x, x, need_weights=False)[0])


def test_attention_sublayer_of_the_encoder_layer():
    # scores x Wq^T Wk x^T: (Wq, Wk) -> (A Wq, A^-T Wk) changes nothing, so every entry
    # of Wq Wq^T - Wk Wk^T is conserved (one head: A any invertible 3x3), and these are
    # the laws of the block (Wq, Wk). The LayerNorm removes the mean over features of
    # x + attention(x), so Wo -> Wo + 1 a^T changes nothing: Wo's column sums are
    # conserved. Every law found is checked again by exact reduction.
    module = _AttentionSublayer(3, 1)
    model = from_torch(module, torch.zeros(1, 2, 3), eps="zero")
    names = model.torch_names["attention.in_proj_weight"]
    wq, wk = names[0], names[1]
    wo = model.torch_names["attention.out_proj.weight"]
    P = model.parse_polynomial
    gram = [P(" + ".join(f"{wq}[{i},{k}]*{wq}[{j},{k}]" for k in range(3)) + " - ("
              + " + ".join(f"{wk}[{i},{k}]*{wk}[{j},{k}]" for k in range(3)) + ")")
            for i in range(3) for j in range(i, 3)]
    columns = [P(" + ".join(f"{wo}[{i},{j}]" for i in range(3))) for j in range(3)]
    result = model.block_laws(2)
    blocks = {b.tensors: b for b in result.blocks}
    assert _same_span(model, blocks[wq, wk].laws, gram)
    laws = [h for b in result.blocks for h in b.laws]
    assert _same_span(model, laws, laws + columns)      # the column sums are among them
    assert all(not b.rejected for b in result.blocks)
    assert all(model.exact_normalized.violation(h) is None for h in laws)


def test_resnet_block_with_one_convolution_has_its_scale_law():
    # relu(g * bn(conv(W, x)) + b + x), 1 channel: BatchNorm normalizes the channel over
    # the batch and the positions, so W -> c W changes nothing (eps = 0) and ||W||^2 is
    # conserved; g and b set the channel's scale and shift freely: no other law.
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 1, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(1)

        def forward(self, x):
            return torch.relu(self.bn1(self.conv1(x)) + x)
    model = from_torch(Block(), torch.zeros(2, 1, 2, 2), eps="zero")
    w = model.torch_names["conv1.weight"]
    norm = model.parse_polynomial(_squares(f"{w}[0,0,{i},{j}]" for i in range(3) for j in range(3)))
    result = model.block_laws(2)
    laws = [h for b in result.blocks for h in b.laws]
    assert _same_span(model, laws, [norm])
    assert result.complete


def _shipped_is_imported(name: str) -> ca.Model:
    shipped = ca.load(ROOT / "examples" / f"{name}.net")
    imported = ca.parse(real_blocks.build(name)[0])
    assert shipped.names == imported.names
    return shipped


ROOT = Path(__file__).resolve().parents[1]


def test_resnet_basic_block_counts_its_hand_derived_laws():
    # by hand (examples/resnet_basic_block.net): ||W1||^2, ||W3||^2 (each filter before a
    # BatchNorm is scale-invariant) and g2^2 + b2^2 - ||W3||^2 (ReLU homogeneity): 3
    # independent laws (each holds a tensor the others lack: W1; g2, b2; W3 with b2)
    model = _shipped_is_imported("resnet_basic_block")
    count = model.count_laws()
    # gates inside a variance: drawn at 0/1, each sampled pattern's variances proved
    # independent, so N <= 3 is certain (no probability for equality)
    assert count.laws == 3 and count.lie.unbounded and count.lie.bound_unproved is None
    assert "N <= 3 with certainty" in count.to_text()


def test_transformer_encoder_layer_counts_its_hand_derived_laws():
    # by hand (examples/transformer_encoder_layer.net): 6 + 6 Gram-difference entries
    # (Q/K and V/O factorizations), 3 + 3 column sums (the LayerNorms remove the feature
    # mean after Wo1 and after W4), 3 ReLU balance laws, ||g2||^2: 22
    model = _shipped_is_imported("transformer_encoder_layer")
    assert model.count_laws().laws == 22


def test_laws_of_the_large_blocks_are_listed():
    # by hand (the files' comments): ResNet basic block ||W1||^2, ||W3||^2,
    # g2^2 + b2^2 - ||W3||^2 (3); encoder layer 22 independent laws (above)
    import subprocess
    for name, count in (("resnet_basic_block", 3), ("transformer_encoder_layer", 22)):
        done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "laws",
                               str(ROOT / "examples" / f"{name}.net")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert f"independent: {count} of N = {count}" in done.stdout


def test_a_sweep_marks_an_upper_bound_and_whether_it_is_certified():
    from conslaw_algebra.tools.sweep import count_task, format_table
    text = (ROOT / "examples" / "resnet_basic_block.net").read_text()
    row = count_task(("resnet", text))
    assert row["upper_bound_only"] and row["error_bound"] is None
    assert row["upper_bound_certified"]
    table = format_table([row])
    assert f"<={row['laws']} " in table and "a certain upper bound" in table
    # the two-entry rmsnorm after a ReLU at a prime where 2 is a square: a sampled
    # pattern's variance is e^2/2 (test_normalization), the bound is not certified
    row = count_task(("half", "param W[2,2], v[2]\ninput x[2]\noutput v @ rmsnorm(relu(W @ x))"),
                     seed=0)
    assert row["prime"] % 8 == 7 and not row["upper_bound_certified"]
    table = format_table([row])
    assert f"<={row['laws']}?" in table and "not certified" in table


def test_laws_by_block_reach_the_certified_count_of_a_resnet_block():
    # the ResNet block's count is an upper bound from 0/1 gate patterns, each proved to
    # keep the variances independent: the 3 exact laws (N >= 3) reaching it certify N = 3
    result = ca.load(ROOT / "examples" / "resnet_basic_block.net").block_laws(2)
    assert result.count_unbounded is None and result.to_json()["certified"] is True
    assert result.independent == 3 and "not certified" not in result.to_text()
