"""laws --by-block with its blocks as independent jobs: local processes and a Dask cluster
give the same output as one process; networks whose normalized groups cannot all be
squares at once answer at once, each block skipped with the reason.

Expected laws, by hand (THEORY.md A.5): a layered ReLU net has one balance law per
hidden neuron j, ||incoming weights of j||^2 - ||outgoing weights of j||^2, and no other
(N = number of hidden neurons), so the blocks of consecutive layers hold all of them;
the block of the first and last layers holds their sum over both hidden layers,
||W1||^2 - ||W3||^2 (the W2 terms cancel), and nothing else.
"""
from __future__ import annotations

import math

import sympy

import distributed

import conslaw_algebra as ca
from conslaw_algebra.language.modular import MAX_REDRAWS
from conslaw_algebra.views.cli import main
from test_normalized_blocks import _same_span

# blocks of 40 and 28 parameters: C(n + 2, 2) - 1 = 860 and 434 unknowns, over the 300
# that are sampled, so every block is expanded: a job of its own
NET = "layers 4 -> 5 relu -> 4 relu -> 2\n"


def _balances(model, widths):
    laws = []
    for layer in range(1, len(widths) - 1):
        for j in range(widths[layer]):
            incoming = " + ".join(f"W{layer}[{j},{k}]^2" for k in range(widths[layer - 1]))
            outgoing = " + ".join(f"W{layer + 1}[{i},{j}]^2" for i in range(widths[layer + 1]))
            laws.append(model.parse_polynomial(f"{incoming} - ({outgoing})"))
    return laws


def _run(capsys, *arguments) -> str:
    assert main(list(arguments)) == 0
    return capsys.readouterr().out


def test_two_local_processes_print_the_same_laws_as_one(tmp_path, capsys):
    path = tmp_path / "relu.net"
    path.write_text(NET)
    one = _run(capsys, "laws", str(path), "--by-block", "--quiet", "--jobs", "1")
    two = _run(capsys, "laws", str(path), "--by-block", "--quiet", "--jobs", "2")
    assert one == two
    model = ca.load(path)
    result = model.block_laws(2, jobs=2)
    assert [len(b.laws) for b in result.blocks] == [5, 1, 4]   # (W1,W2), (W1,W3), (W2,W3)
    assert all(b.skipped is None for b in result.blocks)
    assert _same_span(model, [h for b in result.blocks for h in b.laws],
                      _balances(model, [4, 5, 4, 2]))
    assert result.complete and result.lie_laws == 9


NORMALIZED_12 = "param W[3,3], V[3,3]\ninput X[12,3]\noutput layernorm(X @ W) @ V"


def test_a_dask_cluster_gives_the_same_blocks():
    # an expanded block, and a normalized one searched among axis forms (12 groups: see
    # the test below), each the same on a cluster as in this process
    models = [ca.parse(NET, "relu"), ca.parse(NORMALIZED_12, "ln")]
    alone = [model.block_laws(2).to_text() for model in models]
    assert "among axis forms" in alone[1]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert [model.block_laws(2, scheduler=cluster.scheduler_address).to_text()
                for model in models] == alone


def test_jobs_without_by_block_is_refused(tmp_path, capsys):
    path = tmp_path / "relu.net"
    path.write_text(NET)
    assert main(["laws", str(path), "--jobs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "conslaw: <arguments>: --jobs and --scheduler run the blocks of --by-block; "
        "add --by-block"]


def test_too_many_normalized_groups_answer_at_once_with_the_reason():
    # 12 rows, each its own layernorm group: a random draw makes all 12 variances squares
    # about once in 2^12 = 4096, and a batch of B rows needs about 2^12 ln(100 B) rounds,
    # more than the redraw rounds: the count says so at once. The block is still solved
    # among axis forms, from samples that keep the rows whose own group is a square. By
    # hand: layernorm(X W) is invariant under W -> c W and W -> W + a 1^T (each row of
    # X W shifted by x . a, removed with its mean): ||W||^2 and W's 3 row sums; its rows
    # sum to 0, so V -> V + 1 b^T changes nothing: V's 3 column sums. 7 laws.
    assert 2 ** 12 * math.log(100) > MAX_REDRAWS
    model = ca.parse(NORMALIZED_12, "ln")
    result = model.block_laws(2)
    assert result.count_skipped and "12 normalized groups" in result.count_skipped
    assert not result.complete
    assert "whether these laws are complete is not known" in result.to_text()
    block, = result.blocks
    assert block.searched and not block.skipped and not block.rejected
    w = [[f"t{3 * i + j}" for j in range(3)] for i in range(3)]
    v = [[f"t{9 + 3 * i + j}" for j in range(3)] for i in range(3)]
    expected = [" + ".join(f"{x}^2" for row in w for x in row)]
    expected += [" + ".join(row) for row in w] + [" + ".join(col) for col in zip(*v)]
    found = sympy.Matrix([[sympy.sympify(str(h).replace("^", "**")).coeff(m) for m in
                           sympy.symbols("t0:18")] + [sympy.sympify(str(h).replace("^", "**"))
                                                      .coeff(sympy.Symbol(f"t{k}"), 2)
                                                      for k in range(18)] for h in block.laws])
    wanted = sympy.Matrix([[sympy.sympify(e.replace("^", "**")).coeff(m) for m in
                            sympy.symbols("t0:18")] + [sympy.sympify(e.replace("^", "**"))
                                                       .coeff(sympy.Symbol(f"t{k}"), 2)
                                                       for k in range(18)] for e in expected])
    assert found.rank() == wanted.rank() == found.col_join(wanted).rank() == 7


def test_degree_two_columns_only_for_touched_monomials_keep_every_law():
    # by hand: a*b has the generator (b, a, 0) (times any weight); c never moves, so c and
    # c^2 are conserved, and a^2 - b^2 is (2a b - 2b a = 0); a c is not (its derivative is
    # c b), nor b c, nor a, b: no other law of degree <= 2
    model = ca.parse("param a, b, c\noutput a*b", "abc")
    assert [str(h) for h in model.laws(2).laws] == ["t2", "t0^2 - t1^2", "t2^2"]


def test_the_estimate_of_a_degree_two_block_grows_with_its_terms_not_with_d_squared():
    # layers 600 -> 1 -> 1: D = 601 and C(D + 2, 2) - 1 = 181,302 monomials, but its
    # fields have 2 terms per path: the system is about 1,200 entries, a few MB
    from conslaw_algebra.analyses import guards
    model = ca.parse("layers 600 -> 1 relu -> 1", "wide")
    assert guards.laws_bytes(model.program, 2) < 16 * 2**20   # 181,302 x 300 B: 52 MB
    assert model.laws(2).independent == 1          # one hidden neuron, one balance law


def test_laws_in_many_variables_are_kept_sparse_and_read_the_same(monkeypatch):
    # FLINT stores every exponent of its ring in each term; from SPARSE_VARIABLES on the
    # blocks' laws are SparseLaw dicts: the same laws (the hand balances), the same text
    from conslaw_algebra.analyses import blocks
    from conslaw_algebra.exact.sparse import SparseLaw
    model = ca.parse(NET, "relu")
    flint_text = model.block_laws(2).to_text()
    monkeypatch.setattr(blocks, "SPARSE_VARIABLES", 1)
    result = ca.parse(NET, "relu").block_laws(2)
    assert all(isinstance(h, SparseLaw) for b in result.blocks for h in b.laws)
    assert result.to_text() == flint_text
    assert result.independent == 9 and result.complete
    lines = [line.split(" = ", 1)[1] for line in flint_text.splitlines() if line.startswith("  h")]
    assert lines[0] == ("W1[0,0]^2 + W1[0,1]^2 + W1[0,2]^2 + W1[0,3]^2 - W2[0,0]^2 - W2[1,0]^2"
                        " - W2[2,0]^2 - W2[3,0]^2")     # neuron 0 of the first hidden layer


def test_an_unreachable_scheduler_is_one_line_about_the_scheduler(tmp_path, capsys):
    import dask
    path = tmp_path / "relu.net"
    path.write_text(NET)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        status = main(["laws", str(path), "--by-block", "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("conslaw: <arguments>: cannot reach the Dask scheduler "
                             "'tcp://127.0.0.1:1' (")
