"""The local exact check of laws of normalized models (``analyses/local_check.py``).

Small models: compared with ``normalized.ExactModel``, which expands the whole model and
reduces by s^2 q = 1 (an independent route to the same decision). Real blocks: the laws
reported are compared, by exact linear algebra (SymPy), with the laws derived by hand in
the comments of the example files, and every reported law is re-checked in floats with
torch autograd on a forward pass written here from the `.net` text.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch
from hypothesis import given, settings, strategies as st

import conslaw_algebra as ca
from conslaw_algebra.analyses.local_check import LocalCheck
from conslaw_algebra.analyses.normalized import ExactModel, normalized_laws
from conslaw_algebra.language.expand import theta_ring

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_normalized_blocks import _conserved_in_floats, _same_span  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

TEMPLATES = [
    "param W[3,2], v[3]\ninput x[2]\noutput v @ layernorm(W @ x)",
    "param W[2,2], v[2]\ninput x[2]\noutput v @ rmsnorm(W @ x)",
    "param W[2,3]\ninput X[4,3]\noutput batchnorm(X @ W.T)",
    "param W[3,3], g[3]\ninput x[3]\noutput sum(g * layernorm(relu(W @ x)))",
    "param W[3,2], g[3], b[3]\ninput X[4,2]\noutput sum(g * batchnorm(X @ W.T) + b)",
    "param W1[3,2], W2[2,3]\ninput x[2]\noutput W2 @ relu(rmsnorm(W1 @ x))",
    "param W1[2,2], W2[3,2], c[3]\ninput x[2]\noutput c @ layernorm(W2 @ (W1 @ x))",
    # laws that scale some entries only (one row, one channel): per-entry ratios
    "param W[2,3], g[2], b[2]\ninput X[4,3]\noutput sum(relu(g * batchnorm(X @ W.T) + b))",
    "param W1[2,3], g[2], W2[2,2]\ninput X[4,3]\noutput sum(relu(g * batchnorm(X @ W1.T)) @ W2.T)",
]


def _exact_laws(text):
    model = ca.parse(text)
    exact = ExactModel(model.program)
    laws, failed = normalized_laws(model.program, 2, 0, exact)
    return model, exact, laws


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(range(len(TEMPLATES))), st.lists(st.integers(0, 10_000), min_size=1,
                                                        max_size=3), st.integers(-2, 2))
def test_local_check_agrees_with_the_exact_model(which, picks, coefficient):
    model, exact, laws = _exact_laws(TEMPLATES[which])
    # every law ExactModel verified, the local check verifies too
    for h in laws:
        assert LocalCheck(model.program).verify(h) is None, str(h)
    # and it never verifies a non-law: a single square, or a random combination
    t = theta_ring(model.dim).gens()
    square = t[picks[0] % model.dim] ** 2
    mixed = sum(((k % 3) - 1) * t[k % model.dim] * t[(k // 7) % model.dim] for k in picks)
    mixed += coefficient * (laws[0] if laws else t[0])
    for h in (square, mixed):
        if h == 0:
            continue
        if LocalCheck(model.program).verify(h) is None:
            assert exact.violation(h) is None, str(h)


def test_single_squares_are_decided_as_the_exact_model_does():
    # a single square is a law only where its parameter does not move the output (in
    # sum(g * batchnorm(X @ W.T) + b) the batch sum of a BatchNorm output is 0: W is free)
    for text in TEMPLATES:
        model, exact, _ = _exact_laws(text)
        t = theta_ring(model.dim).gens()
        for j in range(model.dim):
            law = exact.violation(t[j] ** 2) is None
            assert (LocalCheck(model.program).verify(t[j] ** 2) is None) == law, (text, j)


def test_per_channel_laws_of_a_two_channel_resnet_block_are_verified_locally():
    # By hand (tests/test_normalization.py, RESNET_BLOCK): BatchNorm per channel makes
    # each output channel's filter scale-invariant, so ||W1[c]||^2 and ||W3[c]||^2 are
    # laws (c = 0, 1); the ReLU's homogeneity gives g2[i]^2 + b2[i]^2 - ||W3[:, i]||^2.
    # Each moves one channel only: the local check carries a lambda per entry.
    from test_normalization import RESNET_BLOCK
    model = ca.parse(RESNET_BLOCK)
    t = theta_ring(model.dim).gens()
    index = {name: k for k, name in enumerate(model.names)}

    def norm(names):
        return sum(t[index[n]] ** 2 for n in names)

    def filt(tensor, c):
        return [f"{tensor}[{c},{i},{a},{b}]" for i in range(2) for a in range(3) for b in range(3)]

    def column(i):
        return [f"W3[{o},{i},{a},{b}]" for o in range(2) for a in range(3) for b in range(3)]

    laws = [norm(filt("W1", c)) for c in range(2)] + [norm(filt("W3", c)) for c in range(2)]
    laws += [norm([f"g2[{i},0,0]", f"b2[{i},0,0]"]) - norm(column(i)) for i in range(2)]
    check = LocalCheck(model.program)
    for h in laws:
        assert check.verify(h) is None, str(h)
    # and not one filter's norm plus an entry of the other, nor one affine pair alone
    small = LocalCheck(model.program, max_terms=200_000)
    for h in (laws[0] + t[index["W1[1,0,0,0]"]] ** 2, norm(["g2[0,0,0]", "b2[0,0,0]"])):
        assert small.verify(h) is not None, str(h)


def _squares(entries) -> str:
    return " + ".join(f"{e}^2" for e in entries)


def test_resnet_basic_block_laws_are_the_hand_derived_ones():
    # by hand (the file's comment): each BatchNorm makes the filter before it
    # scale-invariant: ||W1||^2, ||W3||^2; the ReLU is positively homogeneous:
    # (g2, b2) -> c (g2, b2), W3 -> W3 / c: g2^2 + b2^2 - ||W3||^2
    model = ca.load(ROOT / "examples" / "resnet_basic_block.net")
    cells = [f"[0,0,{i},{j}]" for i in range(3) for j in range(3)]
    expected = [model.parse_polynomial(_squares("W1" + c for c in cells)),
                model.parse_polynomial(_squares("W3" + c for c in cells)),
                model.parse_polynomial("g2[0,0,0]^2 + b2[0,0,0]^2 - ("
                                       + _squares("W3" + c for c in cells) + ")")]
    start = time.perf_counter()
    result = model.laws(2)
    assert time.perf_counter() - start < 30
    assert len(result.laws) == 3 and _same_span(model, list(result.laws), expected)


def _transformer_forward(params, data):
    """examples/transformer_encoder_layer.net, by hand from its text and README's
    definitions (attention: softmax(X Q K^T X^T) X V O^T; layernorm: (e - mean) s,
    s = 1/sqrt(mean((e - mean)^2)), eps = 0)."""
    def layernorm(e):
        centred = e - e.mean(-1, keepdim=True)
        return centred / torch.sqrt((centred ** 2).mean(-1, keepdim=True))
    x = data["x"]
    q, k, v = (params[n].T for n in ("Wq1", "Wk1", "Wv1"))
    o = params["Wo1"]
    attention = torch.softmax(x @ q @ k.T @ x.T, dim=-1) @ x @ v @ o.T
    h1 = params["g2"] * layernorm(x + attention)
    return params["g5"] * layernorm(h1 + torch.relu(h1 @ params["W3"].T) @ params["W4"].T)


def test_transformer_encoder_layer_laws_contain_the_hand_derived_ones():
    # by hand (the file's comment): entries of Wq1 Wq1^T - Wk1 Wk1^T (6) and of
    # Wv1 Wv1^T - Wo1^T Wo1 (6); the column sums of Wo1 and of W4 (3 + 3: each LayerNorm
    # removes the feature mean); ||W3[j,:]||^2 - ||W4[:,j]||^2 (3); ||g2||^2 (1): 22
    model = ca.load(ROOT / "examples" / "transformer_encoder_layer.net")
    poly = model.parse_polynomial
    expected = []
    for a in range(3):
        for b in range(a, 3):
            expected.append(poly(" + ".join(f"Wq1[{a},{k}]*Wq1[{b},{k}] - Wk1[{a},{k}]*Wk1[{b},{k}]"
                                            for k in range(3))))
            expected.append(poly(" + ".join(f"Wv1[{a},{k}]*Wv1[{b},{k}] - Wo1[{k},{a}]*Wo1[{k},{b}]"
                                            for k in range(3))))
    for j in range(3):
        expected.append(poly(" + ".join(f"Wo1[{i},{j}]" for i in range(3))))
        expected.append(poly(" + ".join(f"W4[{i},{j}]" for i in range(3))))
        expected.append(poly(_squares(f"W3[{j},{k}]" for k in range(3)) + " - ("
                             + _squares(f"W4[{k},{j}]" for k in range(3)) + ")"))
    expected.append(poly(_squares(f"g2[{k}]" for k in range(3))))
    result = model.laws(2)
    found = list(result.laws)
    assert _same_span(model, found + expected, found)          # the span holds them all
    assert result.independent == 22
    # whatever is reported is conserved: re-checked in floats with torch autograd
    for h in found:
        assert _conserved_in_floats(model, h, _transformer_forward, {"x": (2, 3)}), str(h)


def test_laws_of_the_large_blocks_by_block_are_listed():
    for name, count in (("resnet_basic_block", 3), ("transformer_encoder_layer", 22)):
        done = subprocess.run([sys.executable, "-m", "conslaw_algebra.views.cli", "laws",
                               "--by-block", str(ROOT / "examples" / f"{name}.net")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        # N from the hand derivations of the files' comments
        assert f"independent in the union: {count} of N = {count}" in done.stdout
