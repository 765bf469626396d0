"""Exact linear algebra over QQ (exact/rational.py): every method of ``rref`` against
SymPy's dense ``Matrix.rref`` (an independent implementation), kernels checked by
substitution, and ``Span`` membership against ranks."""
from fractions import Fraction

import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from conslaw_algebra.exact.rational import METHODS, Span, nullspace, primitive, rref

entries = st.fractions(min_value=-5, max_value=5, max_denominator=4)


@st.composite
def sparse_matrices(draw):
    rows, cols = draw(st.integers(0, 7)), draw(st.integers(1, 7))
    matrix = []
    for _ in range(rows):
        row = {}
        for c in range(cols):
            if draw(st.booleans()):
                row[c] = draw(entries)
        matrix.append(row)
    return matrix, cols


def _dense(matrix, cols):
    return sympy.Matrix(len(matrix), cols, lambda r, c: sympy.Rational(matrix[r].get(c, 0)))


@settings(max_examples=150, deadline=None)
@given(sparse_matrices())
def test_every_method_gives_sympys_reduced_echelon_form(case):
    matrix, cols = case
    expected, pivots = _dense(matrix, cols).rref() if matrix else (sympy.zeros(0, cols), ())
    for method in METHODS:
        reduced, found = rref(matrix, cols, method)
        assert found == tuple(pivots), method
        for r, row in enumerate(reduced):
            assert [Fraction(int(row.get(c, 0).p), int(row.get(c, 0).q)) if c in row else 0
                    for c in range(cols)] == [Fraction(int(sympy.fraction(v)[0]),
                                                       int(sympy.fraction(v)[1]))
                                              for v in expected.row(r)], method


@settings(max_examples=100, deadline=None)
@given(sparse_matrices())
def test_nullspace_vectors_solve_the_system(case):
    matrix, cols = case
    kernel = nullspace(matrix, cols)
    rank = _dense(matrix, cols).rank() if matrix else 0
    assert len(kernel) == cols - rank
    for vector in kernel:
        for row in matrix:
            assert sum(Fraction(v) * Fraction(int(vector[c].p), int(vector[c].q))
                       for c, v in row.items() if c in vector) == 0


@settings(max_examples=100, deadline=None)
@given(sparse_matrices())
def test_span_grows_by_the_rank(case):
    matrix, cols = case
    span = Span()
    added = sum(span.add(row) for row in matrix)
    assert added == (_dense(matrix, cols).rank() if matrix else 0)
    assert all(span.contains(row) for row in matrix)


def test_primitive_by_hand():
    # (1/2, -1/3) * 6 = (3, -2), gcd 1; the sign makes the leading entry positive
    assert primitive({0: Fraction(1, 2), 1: Fraction(-1, 3)}, leading=1) == {0: -3, 1: 2}
