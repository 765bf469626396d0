"""Residual blocks and ReLU DAGs written with let-bindings (THEORY.md C and D).

Expected counts: a residual block has the laws of the block alone (C); a ReLU DAG
has one law per rescalable hidden neuron (D), counted here from the graph itself.
"""
import numpy as np
import pytest

import conslaw_algebra as ca


@pytest.mark.parametrize("n,hidden,bias", [(2, 3, False), (3, 4, True), (3, 2, True)])
def test_residual_block_has_the_count_of_the_block_alone(n, hidden, bias):
    params = f"param W1[{hidden},{n}], W2[{n},{hidden}]" + (f", b1[{hidden}]" if bias else "")
    block = "W2 @ relu(W1 @ x" + (" + b1" if bias else "") + ")"
    alone = ca.parse(f"input x[{n}]\n{params}\noutput {block}").count_laws().laws
    residual = ca.parse(f"input x[{n}]\n{params}\noutput x + {block}").count_laws().laws
    assert residual == alone == hidden


def _dag(widths, skips):
    """Layers h_k = relu(W_k h_{k-1}); the output adds S_k @ h_k for the skip sources k."""
    lines = [f"input x[{widths[0]}]"]
    params = []
    previous = "x"
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:-1]), start=1):
        params.append(f"W{k}[{n_out},{n_in}]")
        lines.append(f"h{k} = relu(W{k} @ {previous})")
        previous = f"h{k}"
    last = len(widths) - 1
    params.append(f"W{last}[{widths[-1]},{widths[-2]}]")
    output = f"W{last} @ {previous}"
    for k in skips:
        params.append(f"S{k}[{widths[-1]},{widths[k]}]")
        output += f" + S{k} @ h{k}"
    return "\n".join([lines[0], "param " + ", ".join(params)] + lines[1:] + [f"output {output}"])


@pytest.mark.parametrize("widths,skips", [([3, 4, 3, 2], [1]), ([2, 3, 3, 3, 2], [1, 2]),
                                          ([3, 2, 4, 2], [1])])
def test_relu_dag_with_skip_connections_has_one_law_per_hidden_neuron(widths, skips):
    model = ca.parse(_dag(widths, skips))
    rescalable = sum(widths[1:-1])   # every hidden neuron has edges in and out
    assert model.count_laws().laws == rescalable
    laws = model.laws(2)
    assert laws.independent == rescalable and laws.complete


# ground_truth.md rows 51, 52, 54: linear 1-D convolution (C hidden channels, k1, k2,
# cin, cout), and THEORY.md C's exception C = 2, k1 = k2 = 2, cin = cout = 1: N = 4.
CONV_ROWS = [((1, 2, 2, 1, 1), 4, 1), ((2, 3, 2, 1, 1), 10, 3), ((3, 2, 2, 2, 2), 24, 6),
             ((2, 2, 2, 1, 1), 8, 4)]


def _conv_text(channels, k1, k2, cin, cout, relu=False, length=None):
    length = length or k1 + k2 - 1   # one output position sees the whole composed kernel
    inner = "relu(conv1d(W1, x))" if relu else "conv1d(W1, x)"
    return (f"input x[{cin},{length}]\nparam W1[{channels},{cin},{k1}], W2[{cout},{channels},{k2}]\n"
            f"output conv1d(W2, {inner})")


@pytest.mark.parametrize("sizes,dim,laws", CONV_ROWS, ids=[str(r[0]) for r in CONV_ROWS])
def test_linear_convolution_rows(sizes, dim, laws):
    model = ca.parse(_conv_text(*sizes))
    assert (model.dim, model.count_laws().laws) == (dim, laws)


@pytest.mark.parametrize("sizes", [(3, 2, 2, 2, 2), (2, 3, 2, 1, 2)])
def test_relu_convolution_has_one_law_per_hidden_channel(sizes):
    """THEORY.md C: weight sharing leaves only channel rescalings."""
    model = ca.parse(_conv_text(*sizes, relu=True, length=6))
    assert model.count_laws().laws == sizes[0]
    assert model.laws(2).independent == sizes[0]


def test_conv2d_relu_has_one_law_per_hidden_channel():
    model = ca.parse("input X[2,3,3]\nparam W1[3,2,2,2], W2[1,3,2,2]\n"
                     "output conv2d(W2, relu(conv2d(W1, X)))")
    assert model.dim == 24 + 12
    assert model.count_laws().laws == 3


def _c2(n, r, m):
    """THEORY.md E.1: laws of a 2-layer linear U V^T with U n x r, V m x r."""
    return r * (r + 1) // 2 if r <= n + m else (n + m) * r - (n + m) * (n + m - 1) // 2


@pytest.mark.parametrize("d,k,kv,out,heads", [(2, 2, 2, 2, 1), (3, 1, 3, 2, 1), (3, 2, 2, 2, 2),
                                              (3, 1, 2, 3, 3)])
def test_multi_head_attention_sugar(d, k, kv, out, heads):
    """THEORY.md C: per head, c2(d, k, d) + c2(d, kv, out) laws."""
    text = (f"input X[2,{d}]\nparam Q[{d},{heads * k}], K[{d},{heads * k}], V[{d},{heads * kv}], "
            f"O[{out},{heads * kv}]\noutput attention(X, Q, K, V, O, heads={heads})")
    assert ca.parse(text).count_laws().laws == heads * (_c2(d, k, d) + _c2(d, kv, out))


def test_attention_sugar_equals_the_written_out_head():
    sugar = ca.parse("input X[2,2]\nparam Q[2,2], K[2,2], V[2,2], O[2,2]\n"
                     "output attention(X, Q, K, V, O)")
    written = ca.parse("input X[2,2]\nparam Q[2,2], K[2,2], V[2,2], O[2,2]\n"
                       "output softmax(X @ Q @ K.T @ X.T) @ X @ V @ O.T")
    assert sorted(map(str, sugar.features)) == sorted(map(str, written.features))


def test_maxpool_rescales_whole_windows():
    """THEORY.md D: a unit behind a frozen pooling edge has no law of its own."""
    model = ca.parse("input x[6]\nparam W1[6,6], W2[2,3]\noutput W2 @ maxpool(relu(W1 @ x), size=2)")
    assert model.count_laws().laws == 3


@pytest.mark.parametrize("text,words", [
    ("input x[2,3]\nparam W[2,2,2]\noutput conv1d(W, x, x)", "takes 2 arguments"),
    ("input x[3,3]\nparam W[2,2,2]\noutput conv1d(W, x)", "conv1d(W, x) needs"),
    ("input x[5]\nparam W[5,5]\noutput maxpool(W @ x, size=2)", "divisible by 2"),
    ("input x[4]\nparam W[4,4]\noutput maxpool(W @ x, width=2)", "no option 'width'"),
    ("input X[2,2]\nparam Q[2,3], K[2,3], V[2,2], O[2,2]\noutput attention(X, Q, K, V, O, heads=2)",
     "attention(X, Q, K, V, O) needs"),
])
def test_bad_calls_are_reported(text, words):
    with pytest.raises(ca.ConslawError) as error:
        ca.parse(text, "m.net")
    assert words in str(error.value) and str(error.value).startswith("m.net:3:")


# ------------------------------------------------------------------ by block
@pytest.mark.parametrize("text,expected", [
    ("layers 3 -> 4 relu bias -> 3 relu bias -> 2", 7),        # one law per hidden neuron
    ("input X[2,3]\nparam Q[3,4], K[3,4], V[3,4], O[2,4]\noutput attention(X, Q, K, V, O, heads=2)",
     2 * (_c2(3, 2, 3) + _c2(3, 2, 2))),
    ("input x[3]\nparam W1[4,3], b1[4], W2[3,4]\noutput x + W2 @ relu(W1 @ x + b1)", 4),
])
def test_laws_by_block_reach_the_known_count(text, expected):
    model = ca.parse(text)
    result = model.block_laws(2)
    assert result.independent == expected == result.lie_laws and result.complete
    polynomial_fields = model.polynomial_fields
    from conslaw_algebra.analyses.laws import first_violation
    assert all(first_violation(h, polynomial_fields) is None for b in result.blocks for h in b.laws)


def test_block_laws_cli(tmp_path, capsys):
    import json
    from conslaw_algebra.views.cli import main
    path = tmp_path / "m.net"
    path.write_text("layers 2 -> 3 relu -> 2\n")
    assert main(["laws", str(path), "--by-block", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["blocks"][0]["parameters"] == ["W1", "W2"] and len(report["blocks"][0]["laws"]) == 3
    assert report["complete"] is True


# ---------------------------------------------------- moving entries, pooling, one-hot
def _float_output(text: str, x: np.ndarray) -> np.ndarray:
    from conslaw_algebra.language.floating import FloatModel
    model = ca.parse(text)
    theta = np.ones(model.program.num_params)
    out = FloatModel(model.program, {0: x[None]}).outputs(theta)[0]
    return out.reshape(model.program.nodes[model.program.outputs[0]].shape)


def test_reshape_permute_and_cat_move_entries_as_numpy_does():
    x = np.arange(6.0).reshape(2, 3)
    got = _float_output("input x[2,3]\nparam a\noutput a * cat(permute(x, 1, 0), reshape(x, 3, 2), "
                        "axis=1)", x)
    assert np.array_equal(got, np.concatenate([x.T, x.reshape(3, 2)], axis=1))


def test_pooling_windows_with_strides_as_numpy_computes_them():
    x = np.array([[3.0, 1, 4, 1, 5], [9, 2, 6, 5, 3], [5, 8, 9, 7, 9]])
    got = _float_output("input x[3,5]\nparam a\noutput a * avgpool(x, size=3, stride=2)", x)
    assert np.allclose(got, [[x[r, s:s + 3].mean() for s in (0, 2)] for r in range(3)])
    got = _float_output("input x[3,5]\nparam a\noutput a * maxpool2d(x, size=2, stride=1)", x)
    assert np.array_equal(got, [[x[r:r + 2, c:c + 2].max() for c in range(4)] for r in range(2)])


def test_broadcasting_follows_numpy():
    x = np.arange(6.0).reshape(2, 3)
    got = _float_output("input x[2,3]\nparam b[2,1], c[3]\noutput x + b + c", x)
    assert np.array_equal(got, x + 2)


@pytest.mark.parametrize("text,words", [
    ("input x[2,3]\nparam b[2]\noutput x + b", "broadcast"),
    ("input x[4,5]\nparam W[2,3,2]\noutput conv1d(W, x, groups=3)", "divisible by groups"),
    ("input x[2,3]\nparam a\noutput a * reshape(x, 4)", "6 entries in all"),
    ("input x[2,3]\nparam a\noutput a * permute(x, 0, 0)", "an order of the 2 axes"),
    ("input x[2,3]\nparam a\noutput a * cat(x, x, axis=2)", "cat(..., axis=2)"),
    ("input x[2,3]\nparam a\noutput a * reshape(x, a)", "integer literals"),
])
def test_bad_shapes_of_the_new_calls_are_reported(text, words):
    with pytest.raises(ca.ConslawError) as error:
        ca.parse(text, "m.net")
    assert words in str(error.value) and str(error.value).startswith("m.net:3:")


@pytest.mark.parametrize("text,words", [
    ("input t[3] hot\nparam a\noutput a * sum(t)", "unknown input option 'hot'"),
    ("input t onehot\nparam a\noutput a * t", "needs a shape"),
])
def test_bad_onehot_declarations_are_reported(text, words):
    with pytest.raises(ca.ConslawError, match=words):
        ca.parse(text, "m.net")


def test_a_onehot_row_gives_the_simplex_relations():
    # t one-hot of length 3: t0 t1 = 0 and t2 = 1 - t0 - t1, so a*t0*t1 has no
    # feature at all and b*t2 has the features b (constant term) and -b (twice);
    # features are printed in theta's variables: a = t0, b = t1
    model = ca.parse("input t[3] onehot\nparam a, b\noutput a * t[0] * t[1] + b * t[2]")
    assert sorted(str(f) for f in model.features) == ["-t1", "-t1", "t1"]
