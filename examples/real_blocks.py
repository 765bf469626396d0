"""Laws of real blocks, built from PyTorch modules with ``from_torch``.

Three blocks people train, each imported by tracing (weights are never read) and
written to ``examples/*.net``:

* ``gated_mlp``: ``down(silu(gate x) * up x)`` (the SwiGLU-style MLP, no biases). Laws,
  by hand: hidden unit j computes silu(gate[j] . x) * (up[j] . x) and sends it out
  through column j of ``down``; scaling up[j,:] by c and down[:,j] by 1/c changes
  nothing, so ||up[j,:]||^2 - ||down[:,j]||^2 is conserved (one balance law per
  hidden unit). silu is a generic smooth function (DSL.md section 2): its argument
  cannot be rescaled, so no law involves ``gate``.
* ``resnet_basic_block``: conv-BN-ReLU-conv-BN plus the identity skip on a small image,
  imported with ``eps="zero"``. Why: BatchNorm computes (e - mean) / sqrt(var + eps);
  with eps > 0, scaling a convolution's filters by c changes the output (var + eps is
  not c^2 (var + eps)), so the scale law is exactly gone; with eps = 0 each output
  channel's filter before a BatchNorm is scale-invariant, and its squared norm
  ||W[o,:,:,:]||^2 is conserved (BatchNorm normalizes each channel over the batch and
  the positions). The BatchNorm's own weight g and bias b follow; the second ReLU and
  the skip add nothing that rescales.
* ``transformer_encoder_layer``: self-attention, LayerNorm, feed-forward, LayerNorm
  (post-norm, as ``nn.TransformerEncoderLayer(norm_first=False)``). torch.fx cannot trace
  ``nn.TransformerEncoderLayer`` itself (its fast-path checks call ``_none_or_dtype``
  on a proxy), so the same layer is written here as a module of ``MultiheadAttention``,
  ``LayerNorm`` and ``Linear``. Laws, by hand: Q and K enter only through
  x Wq^T Wk x^T, so (Wq, Wk) -> (A Wq, A^-T Wk) changes nothing and every entry of
  Wq Wq^T - Wk Wk^T is conserved (per head); the LayerNorm removes the mean over
  features of x + attention(x), so Wo -> Wo + 1 a^T changes nothing and Wo's column
  sums are conserved (likewise the second Linear's before the second LayerNorm); with
  eps = 0 nothing before a LayerNorm is scale-invariant alone, since the residual
  x + ... is not homogeneous in the weights.

Whole small networks (size ``networks``, D of 10^5: BENCHMARKS.md, "Issue 18 item 4"),
for ``conslaw laws --by-block``:

* ``mlp``: 64 -> 256 -> 256 -> 10 with ReLU and biases (D = 85,002): one balance law per
  hidden neuron (N = 512), in the blocks of consecutive layers; ``mlp64``, the same at
  width 64 (D = 8,970, N = 128), small enough for the count.
* ``resnet8``: a ResNet-8 on 8x8 images (a stem convolution and three basic blocks of
  16, 32, 64 channels, the last two with stride 2 and a 1x1 projection, BatchNorm after
  every convolution, global average pooling, a linear head; D = 78,042, a batch of 2).
* ``transformer2``: two encoder layers of width 64 (4 heads, feed-forward 256, written
  as ``EncoderLayer`` above) on 4 tokens, and a linear head (D = 99,200). Laws, by
  hand (as for the encoder layer above, per layer): the Q/K and V/O Gram entries per
  head (2 x 4 x 272), the column sums of Wo and of the second feed-forward matrix
  (2 x 320), the balance of each ReLU unit (2 x 256), ||g||^2 of each gain before a
  feed-forward (2), and g_j^2 - ||head[:, j]||^2 for the last gain (64): 3,394, which
  ``laws --by-block`` finds and verifies (BENCHMARKS.md); the count does not fit.

Run: ``python examples/real_blocks.py [small|large|networks] [OUTDIR]`` writes the .net
files into OUTDIR, by default the current directory (``small``, the default size, is the
one the tests and the commented copies in examples/ use).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn as nn

from conslaw_algebra.bridges.torch_import import net_text


class GatedMLP(nn.Module):
    """down(silu(gate x) * up x), no biases."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.gate = nn.Linear(width, hidden, bias=False)
        self.up = nn.Linear(width, hidden, bias=False)
        self.down = nn.Linear(hidden, width, bias=False)

    def forward(self, x):
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))


class BasicBlock(nn.Module):
    """The ResNet basic block: relu(bn2(conv2(relu(bn1(conv1 x)))) + x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + x)


class EncoderLayer(nn.Module):
    """nn.TransformerEncoderLayer(width, heads, ff, dropout=0, bias=False,
    batch_first=True), post-norm, ReLU feed-forward, written out."""

    def __init__(self, width: int, heads: int, feedforward: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(width, heads, bias=False, batch_first=True)
        self.norm1 = nn.LayerNorm(width, bias=False)
        self.linear1 = nn.Linear(width, feedforward, bias=False)
        self.linear2 = nn.Linear(feedforward, width, bias=False)
        self.norm2 = nn.LayerNorm(width, bias=False)

    def forward(self, x):
        x = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))


class ProjectedBlock(nn.Module):
    """A basic block whose skip is a 1x1 convolution and a BatchNorm when the stride or the
    width changes (as in ResNet for CIFAR)."""

    def __init__(self, inputs: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.skip = None
        if stride != 1 or inputs != channels:
            self.skip = nn.Sequential(nn.Conv2d(inputs, channels, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(channels))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.skip(x) if self.skip is not None else x))


class ResNet8(nn.Module):
    """Stem convolution, three basic blocks (width, 2 width, 4 width), pooling, head."""

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.blocks = nn.Sequential(ProjectedBlock(width, width, 1),
                                    ProjectedBlock(width, 2 * width, 2),
                                    ProjectedBlock(2 * width, 4 * width, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x):
        x = self.blocks(torch.relu(self.bn(self.conv(x))))
        return self.head(torch.flatten(self.pool(x), 1))


class Transformer(nn.Module):
    """``layers`` encoder layers and a linear head, no embedding (the input is the tokens'
    vectors)."""

    def __init__(self, width: int, heads: int, feedforward: int, layers: int,
                 classes: int = 10):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(width, heads, feedforward)
                                    for _ in range(layers))
        self.head = nn.Linear(width, classes, bias=False)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def _mlp(widths):
    layers = []
    for inputs, outputs in zip(widths, widths[1:]):
        layers += [nn.Linear(inputs, outputs), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


SIZES = {   # module, example input
    "small": {
        "gated_mlp": lambda: (GatedMLP(3, 4), torch.zeros(1, 3)),
        "resnet_basic_block": lambda: (BasicBlock(1), torch.zeros(2, 1, 3, 3)),
        "transformer_encoder_layer": lambda: (EncoderLayer(3, 1, 3), torch.zeros(1, 2, 3)),
    },
    "large": {
        "gated_mlp": lambda: (GatedMLP(8, 16), torch.zeros(1, 8)),
        "resnet_basic_block": lambda: (BasicBlock(2), torch.zeros(2, 2, 4, 4)),
        "transformer_encoder_layer": lambda: (EncoderLayer(4, 2, 8), torch.zeros(1, 3, 4)),
    },
    "networks": {
        "mlp": lambda: (_mlp([64, 256, 256, 10]), torch.zeros(1, 64)),
        "mlp64": lambda: (_mlp([64, 64, 64, 10]), torch.zeros(1, 64)),
        "resnet8": lambda: (ResNet8(16), torch.zeros(2, 3, 8, 8)),
        "transformer2": lambda: (Transformer(64, 4, 256, 2), torch.zeros(1, 4, 64)),
    },
}


def build(name: str, size: str = "small") -> tuple[str, dict]:
    """The `.net` text of one block and its state-dict names.

    >>> text, names = build("gated_mlp")
    >>> names
    {'gate.weight': 'W1', 'up.weight': 'W2', 'down.weight': 'W3'}
    """
    module, example = SIZES[size][name]()
    return net_text(module, example, name=name, eps="zero")


def main(argv: list[str]) -> None:
    """Write the blocks' `.net` files into OUTDIR (default: the current directory; the
    commented copies shipped in examples/ are not overwritten unless asked)."""
    size = argv[0] if argv else "small"
    out = Path(argv[1]) if len(argv) > 1 else Path.cwd()
    for name in SIZES[size]:
        text, _ = build(name, size)
        path = out / f"{name}.net"
        path.write_text(f"# written by examples/real_blocks.py ({size}); the laws: see its docstring\n"
                        + text + "\n")
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
