"""Families of standard architectures as `.net` text: for sweeps and benchmarks.

Widths are listed input side first, as in a ``layers`` line.

>>> layered_text([4, 5, 2], relu=True, bias=True)
'layers 4 -> 5 relu bias -> 2'
>>> [w for w, _ in random_layered(3, seed=1, widths=(2, 3), depth=(2, 2))]
[[2, 3, 2], [3, 3, 2], [3, 3, 2]]
"""
from __future__ import annotations

import random


def layered_text(widths, relu: bool = False, bias: bool = False, output_bias: bool = False) -> str:
    """A ``layers`` line; ``relu`` and ``bias`` apply to every hidden layer.

    >>> layered_text([3, 4, 2], relu=True)
    'layers 3 -> 4 relu -> 2'
    """
    text = f"layers {widths[0]}"
    for k, width in enumerate(widths[1:], start=1):
        hidden = k < len(widths) - 1
        flags = (" relu" if relu and hidden else "") + \
                (" bias" if (bias and hidden) or (output_bias and not hidden) else "")
        text += f" -> {width}{flags}"
    return text


def random_layered(count: int, seed: int, widths=(2, 9), depth=(2, 4)):
    """``count`` random width lists (``depth`` = number of weight layers), seeded.

    >>> nets = random_layered(5, seed=0)
    >>> nets == random_layered(5, seed=0), all(2 <= w <= 9 for widths, _ in nets for w in widths)
    (True, True)
    >>> all(3 <= len(widths) <= 5 for widths, _ in nets)   # 2 to 4 weight layers
    True
    """
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        layers = rng.randint(*depth)
        out.append(([rng.randint(*widths) for _ in range(layers + 1)], rng.random() < 0.5))
    return out
