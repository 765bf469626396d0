"""User errors through the command line (DSL.md section 3): exit status 2 and exactly
one line ``conslaw: file:line:col: message`` on stderr, never a traceback.

The expected lines and columns are read off the model texts written here (1-based).
Where the spec does not say which character of an offending construct the column
must name, any column inside that construct is accepted (``span``).
"""
from __future__ import annotations

import json
import re

import pytest

from conslaw_algebra.views.cli import main

LOCATION = re.compile(r":(\d+):(\d+): ")


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_error(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, (status, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    assert out == ""
    return lines[0]


def located(line: str, file: str) -> tuple[int, int, str]:
    """Split ``conslaw: FILE:L:C: message`` into (L, C, message)."""
    prefix = f"conslaw: {file}"
    assert line.startswith(prefix), line
    match = LOCATION.match(line, len(prefix))
    assert match, f"no line:column after the file name in {line!r}"
    return int(match.group(1)), int(match.group(2)), line[match.end():]


def span(text: str, line: int, fragment: str) -> range:
    """1-based columns covered by ``fragment`` on line ``line`` of ``text``."""
    source = text.split("\n")[line - 1]
    start = source.index(fragment) + 1
    return range(start, start + len(fragment))


def column_of(text: str, line: int, fragment: str) -> int:
    return text.split("\n")[line - 1].index(fragment) + 1


# ------------------------------------------------------------------ model files
def test_syntax_error(tmp_path, capsys):
    text = "param W1[2,2]\noutput W1 @\n"
    path = write(tmp_path, "syntax.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert line == 2
    # the right operand of '@' (column 11) is missing: the error is at the '@' or where
    # the operand should start, the end of line 2 (column 12)
    assert col in {column_of(text, 2, "@"), len("output W1 @") + 1}
    assert "unexpected" in message


def test_unknown_name(tmp_path, capsys):
    text = "param a, b\noutput a * c\n"
    path = write(tmp_path, "unknown.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert (line, col) == (2, 12)  # 'c' in "output a * c"
    assert col == column_of(text, 2, "c")
    assert "unknown name" in message and "'c'" in message


def test_unknown_function(tmp_path, capsys):
    text = "param a\noutput 2 * foo(a)\n"
    path = write(tmp_path, "function.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert (line, col) == (2, column_of(text, 2, "foo"))
    assert "unknown function" in message and "foo" in message


# one construct per case: (file, text, line, fragment holding the column, words of the message)
LOCATED_CASES = [
    ("matmul.net", "param A[2,3], v[2]\noutput A @ v\n", 2, "A @ v", ("'@'", "match")),
    ("add.net", "param u[2], v[3]\noutput u + v\n", 2, "u + v", ("'+'", "shape")),
    ("index.net", "param v[3]\noutput 2 * v[3]\n", 2, "v[3]", ("out of range",)),
    ("exponent.net", "param a, b\noutput b * a^(1/2)\n", 2, "a^(1/2)", ("exponent",)),
    ("layer_option.net", "layers 2 -> 3 foo -> 1\n", 1, "3 foo", ("foo",)),
]


@pytest.mark.parametrize("name,text,line,fragment,words", LOCATED_CASES,
                         ids=[c[0] for c in LOCATED_CASES])
def test_error_points_into_the_construct(name, text, line, fragment, words, tmp_path, capsys):
    path = write(tmp_path, name, text)
    got_line, col, message = located(run_error(capsys, ["count", path]), path)
    assert got_line == line
    assert col in span(text, line, fragment)
    assert all(word in message for word in words)


def test_let_binding_cycle(tmp_path, capsys):
    text = "param a\np = q + a\nq = p * a\noutput p\n"
    path = write(tmp_path, "cycle.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert (line, col) in {(2, 1), (3, 1)}  # one of the two bindings of the cycle
    assert "cycle" in message


def test_layers_with_param(tmp_path, capsys):
    text = "layers 2 -> 3 -> 1\nparam c\n"
    path = write(tmp_path, "layers_param.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert (line, col) in {(1, 1), (2, 1)}  # the 'layers' line or the 'param' line
    assert "layers" in message and "param" in message


def test_unknown_flow(tmp_path, capsys):
    text = "param a, b\nflow adam\noutput a * b\n"
    path = write(tmp_path, "flow.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert line == 2
    assert col in {1, column_of(text, 2, "adam")}
    assert "adam" in message and "unknown flow" in message


def test_unknown_flow_option_and_mirror_of_a_non_parameter(tmp_path, capsys):
    text = "input x\nparam a, b\nflow momentum tau=1 fast\noutput a * b * x\n"
    path = write(tmp_path, "option.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert (line, col) == (3, column_of(text, 3, "fast"))
    assert "fast" in message
    text = "input x\nparam a, b\nflow gradient mirror a, x\noutput a * b * x\n"
    path = write(tmp_path, "mirror.net", text)
    line, col, message = located(run_error(capsys, ["count", path]), path)
    assert (line, col) == (3, column_of(text, 3, "x"))
    assert "not a parameter" in message


def test_missing_file(tmp_path, capsys):
    path = str(tmp_path / "does_not_exist.net")
    line = run_error(capsys, ["count", path])
    assert line.startswith(f"conslaw: {path}")
    assert "cannot read" in line or "No such file" in line


def test_no_output(tmp_path, capsys):
    path = write(tmp_path, "no_output.net", "param a, b\n")
    line = run_error(capsys, ["count", path])
    assert line.startswith(f"conslaw: {path}")
    assert "output" in line[len(f"conslaw: {path}"):]


def test_no_parameters(tmp_path, capsys):
    path = write(tmp_path, "no_params.net", "input x[2]\noutput sum(x)\n")
    line = run_error(capsys, ["count", path])
    assert line.startswith(f"conslaw: {path}")
    assert "param" in line[len(f"conslaw: {path}"):]


def test_invalid_utf8(tmp_path, capsys):
    path = tmp_path / "binary.net"
    path.write_bytes(b"\xff\xfe")
    line = run_error(capsys, ["count", str(path)])
    assert line.startswith(f"conslaw: {path}")
    assert "UTF-8" in line


# --------------------------------------------------------------- check expressions
CHECK_MODEL = "param a, b\ninput x\noutput a * b * x\n"


def test_check_expression_syntax_error(tmp_path, capsys):
    path = write(tmp_path, "check_syntax.net", CHECK_MODEL)
    expression = "a^2 - b^2 +"
    line, col, message = located(run_error(capsys, ["check", path, expression]), "<expression>")
    assert line == 1
    assert col == len(expression) + 1  # the expression ends after '+'
    assert "unexpected" in message


def test_check_expression_with_data(tmp_path, capsys):
    path = write(tmp_path, "check_data.net", CHECK_MODEL)
    line = run_error(capsys, ["check", path, "a^2 - x"])
    assert line.startswith("conslaw: <expression>")
    assert "parameters" in line


def test_check_expression_with_data_names_line_and_column(tmp_path, capsys):
    # DSL.md section 3: bad input gets one message naming the file, line and column;
    # the offending name is 'x', at column 7 of the expression.
    path = write(tmp_path, "check_data_pos.net", CHECK_MODEL)
    expression = "a^2 - x"
    line, col, message = located(run_error(capsys, ["check", path, expression]), "<expression>")
    assert (line, col) == (1, expression.index("x") + 1)
    assert "parameters" in message


def test_check_expression_column_counts_leading_spaces(tmp_path, capsys):
    path = write(tmp_path, "check_spaces.net", CHECK_MODEL)
    expression = "   a^2 - zz"
    line, col, message = located(run_error(capsys, ["check", path, expression]), "<expression>")
    assert (line, col) == (1, expression.index("zz") + 1)  # column 10 of what the user typed
    assert "unknown name" in message and "zz" in message


# ------------------------------------------------------------------- valid file
def test_count_json(tmp_path, capsys):
    # phi = a*b*x: one feature a*b, D = 2, N = D - 1 = 1 (THEORY.md E.1, product model)
    path = write(tmp_path, "valid.net", CHECK_MODEL)
    status = main(["count", path, "--json", "--seed", "5"])
    out, err = capsys.readouterr()
    assert status == 0
    assert "Traceback" not in err
    data = json.loads(out)
    assert {"model", "D", "features", "lie_rank", "laws", "seed"} <= set(data)
    assert data["model"] == "valid"  # the file's stem (DSL.md section 1)
    assert data["D"] == 2
    assert data["features"] == 1
    assert data["lie_rank"] == 1
    assert data["laws"] == 1
    assert data["seed"] == 5
