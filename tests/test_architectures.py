"""Residual blocks and ReLU DAGs written with let-bindings (THEORY.md C and D).

Expected counts: a residual block has the laws of the block alone (C); a ReLU DAG
has one law per rescalable hidden neuron (D), counted here from the graph itself.
"""
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
