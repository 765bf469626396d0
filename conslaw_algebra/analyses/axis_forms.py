"""Laws of a large block of a model with normalization layers, among axis forms.

Why: a model with normalization layers has no features to expand, so a block's law
system is sampled, one dense row per point of the variety s^2 q = 1, and at degree 2
a block of two 64 x 64 matrices has 33.6 million monomials. The laws that layered,
attention, convolutional and normalized networks have are sums, over the block's
tensors T, of forms that act on one axis of T:
  - quadratic: sum over the other indices of T[.., i, ..] T[.., j, ..] (the Gram laws
    W W^T - V^T V of attention and linear layers, the balance of a ReLU neuron or a
    channel, the squared norm of a filter or a whole matrix before a normalization);
  - linear: sum over the other indices of T[.., i, ..] (a column sum that a
    LayerNorm's mean removes).
The unknowns are those forms' coefficients, found in two stages:
  1. the squares (i = j) and the sums of every axis of every tensor, together (a law
     may add them over a whole axis: ||W||^2); about 2 (sum of the axis lengths)
     unknowns, one dense system;
  2. the products of two slices i < j, one pair (i, j) at a time, across every axis
     of the block that has both indices: a few unknowns each, from the first few rows.
Each row is one random generator of the frozen block (``blocks.freeze`` with
``cover``: only the normalizations inside the block need square variances) at its own
point of the variety, made of the outputs whose variances are squares there
(``_masked_draw``: the others get weight 0, so nothing is redrawn); its coefficient for the forms of axis k of T is read from
M = T_(k) V_(k)^T (T and the generator V along that axis, the other indices summed):
2 M[i, i] for the square of slice i, M[i, j] + M[j, i] for the pair. The kernel modulo
p is lifted to QQ; the caller verifies every law exactly against the whole model
(``blocks._SampledBlocks.check``), so a spurious kernel vector costs a rejection, never
a wrong law.
Where it stops winning: this is a search among these forms, not among all degree-2
polynomials of the block. A law that mixes index pairs and is not a sum of laws of
single pairs, multiplies two different tensors, or has a cubic term is not found, and
the block says that its laws may be incomplete. Rows come from samples whose outputs
have all their variances square (``_masked_draw``): a tensor whose every output
depends on more than 6 normalized groups (2^-6 of random points, ``DRAWS``) gets too
few, and its block is refused at once (``_fewest_groups``), as are the pairs of a
ResNet's layers far apart.
Measured (BENCHMARKS.md, "Issue 18 item 4, normalized networks"): a 2-layer
transformer of width 64 (D = 99,200), all 92 blocks in about 9 minutes, 3,394
independent laws (every one derived by hand), each verified exactly.

>>> from conslaw_algebra.api import parse
>>> model = parse("param W[3,2], V[2,3]\\ninput x[2]\\noutput V @ layernorm(W @ x)")
>>> from conslaw_algebra.analyses.blocks import freeze
>>> block, coordinates = freeze(model.program, {"W"}, cover=True)
>>> for h in axis_form_laws(block, coordinates, seed=0):  # ||W||^2 and W's column sums
...     print(sorted(h.items()))
[((0, 0), 1), ((1, 1), 1), ((2, 2), 1), ((3, 3), 1), ((4, 4), 1), ((5, 5), 1)]
[((0,), 1), ((1,), 1), ((2,), 1), ((3,), 1), ((4,), 1), ((5,), 1)]
[((0,), 1), ((2,), 1), ((4,), 1)]
"""
from __future__ import annotations

import numpy as np
from flint import fmpq

from ..exact.modp import draw_prime, kernel, matmul, prime, using
from ..exact.rational import primitive
from ..errors import UnsupportedError
from ..language.modular import Evaluator, Sample
from ..language.program import Program
from .laws import lifted_kernel

MARGIN = 8           # rows beyond the unknowns of a system
BATCH = 512          # samples evaluated at once (each holds the block's gradient)
DRAWS = 64           # points drawn per row needed before the block is given up
CHECK_ROWS = 32      # fresh rows every kernel must satisfy, or more rows are drawn
ATTEMPTS = 4         # doublings of the rows before the block is given up


class AxisForms:
    """The forms of a block's tensors, their rows and their laws as polynomials.

    ``slices[a]``: for axis a (tensor, axis), the block coordinates of each slice,
    shape (length, rest); ``whole`` maps a block coordinate to the model's.

    >>> from conslaw_algebra.language.program import TensorInfo
    >>> forms = AxisForms([TensorInfo("W", (2, 3), "param", 0)], list(range(6)))
    >>> forms.first                  # squares and sums: axis 1 drops its last of each
    [('square', 0, 0), ('square', 0, 1), ('square', 1, 0), ('square', 1, 1), ('sum', 0, 0), ('sum', 0, 1), ('sum', 1, 0), ('sum', 1, 1)]
    >>> forms.pairs[(0, 1)], forms.pairs[(1, 2)]      # the axes holding both indices
    ([0, 1], [1])
    """

    def __init__(self, params, whole):
        self.whole = np.asarray(whole, dtype=np.int64)
        self.slices: list[np.ndarray] = []
        self.tensors: list[np.ndarray] = []    # the block coordinates of each tensor
        self.names = [info.name for info in params]
        self.tensor_of: list[int] = []         # the tensor of each axis
        later_axis: list[bool] = []       # not the first axis of its tensor
        for info in params:
            shape = info.shape or (1,)
            grid = info.offset + np.arange(info.size, dtype=np.int64).reshape(shape)
            self.tensors.append(grid.reshape(-1))
            for axis in range(len(shape)):
                self.slices.append(np.moveaxis(grid, axis, 0).reshape(shape[axis], -1))
                self.tensor_of.append(len(self.tensors) - 1)
                later_axis.append(axis > 0)
        # the squares of any axis add up to the tensor's squared norm, and its sums to
        # the tensor's sum: every axis but the first drops its last square and sum
        self.first = [(kind, a, i) for kind in ("square", "sum")
                      for a, s in enumerate(self.slices) for i in range(len(s))
                      if not later_axis[a] or i < len(s) - 1]
        self.pairs: dict[tuple[int, int], list[int]] = {}
        for a, s in enumerate(self.slices):
            for j in range(1, len(s)):
                for i in range(j):
                    self.pairs.setdefault((i, j), []).append(a)

    def first_rows(self, theta: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Stage 1: <grad form, v> for the squares and sums, one row per sample."""
        p = prime()
        columns = {}
        for a, s in enumerate(self.slices):
            t, v = theta[:, s], value[:, s]                  # (B, length, rest)
            columns["square", a] = 2 * (((t * v) % p).sum(axis=2) % p) % p
            columns["sum", a] = v.sum(axis=2) % p
        return np.stack([columns[kind, a][:, i] for kind, a, i in self.first], axis=1)

    def products(self, theta: np.ndarray, value: np.ndarray, axis: int) -> np.ndarray:
        """Stage 2: M + M^T for one axis (shape (B, length, length)), M = T_(k) V_(k)^T."""
        s = self.slices[axis]
        m = matmul(theta[:, s], np.swapaxes(value[:, s], 1, 2))
        return (m + np.swapaxes(m, 1, 2)) % prime()

    def unknowns_of(self, tensor: int) -> int:
        """Stage-1 unknowns on one tensor's axes."""
        return sum(1 for _, a, _ in self.first if self.tensor_of[a] == tensor)

    def law(self, terms: dict) -> dict:
        """The polynomial of a combination {form: coefficient}, in the model's variables:
        form ("square", a, i), ("sum", a, i) or ("pair", a, i, j)."""
        out: dict[tuple, fmpq] = {}
        for form, c in terms.items():
            s = self.slices[form[1]]
            if form[0] == "square":
                monomials = [(int(k), int(k)) for k in self.whole[s[form[2]]]]
            elif form[0] == "sum":
                monomials = [(int(k),) for k in self.whole[s[form[2]]]]
            else:
                monomials = [tuple(sorted((int(k), int(m)))) for k, m in
                             zip(self.whole[s[form[2]]], self.whole[s[form[3]]])]
            for monomial in monomials:
                value = out.get(monomial, 0) + c
                if value:
                    out[monomial] = value
                else:
                    out.pop(monomial, None)
        return out


def axis_form_laws(program: Program, whole, seed: int = 0) -> list[dict]:
    """The laws among the axis forms of a frozen block (module header), each as
    {monomial in the model's variables: fmpq}, not yet verified; squares and sums
    first, then the pairs. Raises ``UnsupportedError`` when no rows can be drawn (the
    block's variances are not squares often enough) and ``ArithmeticError`` when a
    kernel vector does not lift to QQ, or the kernels still change with fresh rows
    after ``ATTEMPTS`` doublings of the rows.

    >>> from conslaw_algebra.api import parse
    >>> from conslaw_algebra.analyses.blocks import freeze
    >>> model = parse("param Q[2,2], K[2,2]\\ninput x[3,2], y[3]\\n"
    ...               "output y @ softmax((x @ Q) @ (x @ K).T)")
    >>> block, coordinates = freeze(model.program, {"Q", "K"}, cover=True)
    >>> laws = axis_form_laws(block, coordinates)
    >>> len(laws), sorted(laws[-1].items())             # Q^T Q - K^T K: 3 entries
    (3, [((0, 1), 1), ((2, 3), 1), ((4, 5), -1), ((6, 7), -1)])
    """
    forms = AxisForms(program.params, whole)
    p, _ = draw_prime(seed, sorted({n.attr.denominator for n in program.nodes
                                    if n.op == "const" and n.attr.denominator > 1}))
    widest = max((len(axes) for axes in forms.pairs.values()), default=0)
    count = max(len(forms.first), widest) + MARGIN
    with using(p):
        rng = np.random.default_rng([seed, 0x61786573])
        evaluator = Evaluator(program)
        paired = widest + MARGIN        # rows of the pair systems
        if evaluator.binary_gates:     # rows of one 0/1 gate pattern span less
            count, paired = 2 * count, 2 * paired
        reach = _reach(evaluator, rng)
        if reach is not None:
            for name, fewest in _fewest_groups(evaluator, forms, reach, rng):
                if 2 ** fewest > DRAWS:
                    raise UnsupportedError(
                        f"each output that {name} reaches depends on {fewest} or more "
                        "normalized groups, which must all have square variances (about "
                        f"2^-{fewest} of random points)")
        rows = _Rows(forms, evaluator, reach, rng)
        for _ in range(ATTEMPTS):
            rows.draw(count, paired)
            check = rows.fresh(CHECK_ROWS)      # rows the kernels must also satisfy
            first = _settled(rows.first(), check.first(), p)
            pairs, check_pairs = rows.products(paired), check.products(CHECK_ROWS)
            systems = [(np.stack([pairs[a][:, i, j] for a in axes], axis=1),
                        np.stack([check_pairs[a][:, i, j] for a in axes], axis=1),
                        [("pair", a, i, j) for a in axes]) for (i, j), axes in forms.pairs.items()]
            kernels = [_settled(fit, fresh, p) for fit, fresh, _ in systems]
            if first is not None and all(k is not None for k in kernels):
                break
            count, paired = 2 * count, 2 * paired     # rows that span too little: more
        else:
            raise ArithmeticError("the sampled system of the block did not settle")
        laws = _lifted(first, forms.first, p)
        for kernel_, (_, _, unknowns) in zip(kernels, systems):
            laws += _lifted(kernel_, unknowns, p)
    return [forms.law(terms) for terms in laws]


def _reach(evaluator: Evaluator, rng) -> list[np.ndarray] | None:
    """Which normalized groups each carrier entry depends on: per carrier, a bool array
    (G, *shape), G the groups (every entry of every scale tensor); None without any.
    One forward pass of G + 1 samples at one point, with s = r q (``fake_scales``)
    instead of the roots: sample 1 + g changes group g's factor alone, and the entries
    that change depend on it, directly or through a later q (a random change leaves a
    dependent entry equal with probability about deg/p)."""
    program = evaluator.program
    groups = [(k, e) for k in sorted(evaluator.norms) for e in range(program.data[k].size)]
    if not groups:
        return None
    batch = len(groups) + 1
    p = prime()
    point = rng.integers(0, p, (1, 1, evaluator.dim), dtype=np.int64)
    sample, factors = _trace_sample(evaluator, rng, batch)
    for g, (k, e) in enumerate(groups):
        entry = factors[k][0, 1 + g].reshape(-1)
        entry[e] = (entry[e] + rng.integers(1, p)) % p or 1
    values = evaluator.forward(point, sample, fake_scales=factors)
    out = []
    for carrier, _ in program.carriers:
        value = np.broadcast_to(values[carrier], (1, batch) + program.nodes[carrier].shape)
        out.append(value[0, 1:] != value[0, :1])
    return out


def _trace_sample(evaluator: Evaluator, rng, batch: int) -> tuple[Sample, dict]:
    """For tracing dependences: one sample repeated ``batch`` times with every gate and
    window entry 1 (a gate at 0 only removes dependences, so with all open each value
    depends on everything it can: drawn 0/1 gates once made a ResNet's outputs seem to
    need no normalization), and random factors r for the scales s = r q."""
    p = prime()
    one = evaluator.sample(rng, 1)
    data = tuple(np.ones_like(d) if info.kind == "gate" or info.window else d
                 for d, info in zip(one.data, evaluator.program.data))
    sample = Sample(tuple(np.repeat(d, batch, axis=1) for d in data),
                    tuple(np.repeat(w, batch, axis=1) for w in one.weights))
    factors = {k: np.repeat(rng.integers(1, p, (1, 1) + evaluator.program.data[k].shape,
                                         dtype=np.int64), batch, axis=1)
               for k in evaluator.norms}
    return sample, factors


def _fewest_groups(evaluator: Evaluator, forms: AxisForms, reach, rng) -> list:
    """(tensor name, the fewest normalized groups of an output it moves), per tensor:
    which outputs a tensor moves comes from one forward pass at a point and its copies
    with that tensor's entries changed (as ``_reach`` does for the groups)."""
    program = evaluator.program
    tensors = len(forms.tensors)
    p = prime()
    point = np.repeat(rng.integers(0, p, (1, 1, evaluator.dim), dtype=np.int64),
                      tensors + 1, axis=1)
    for t, coordinates in enumerate(forms.tensors):
        point[0, 1 + t, coordinates] = rng.integers(0, p, len(coordinates))
    sample, factors = _trace_sample(evaluator, rng, tensors + 1)
    values = evaluator.forward(point, sample, fake_scales=factors)
    out = []
    for t, info in enumerate(program.params):
        counts = []
        for (carrier, _), groups in zip(program.carriers, reach):
            value = np.broadcast_to(values[carrier],
                                    (1, tensors + 1) + program.nodes[carrier].shape)
            moved = (value[0, 1 + t] != value[0, 0]).reshape(-1)
            counts.extend(groups.reshape(len(groups), -1).sum(axis=0)[moved].tolist())
        out.append((info.name, min(counts, default=0)))
    return out


def _masked_draw(evaluator: Evaluator, reach, rng, batch: int):
    """A point and data per sample, drawn once, with the carrier weights set to 0 on the
    entries that depend on a group whose variance is not a square there: each row is
    then a generator of the outputs left, at a point of the variety (over GF(p^2) for
    the groups without a root in GF(p), which those outputs do not depend on). Returns
    the points, the sample, which samples kept an output, and the forward pass."""
    p = prime()
    points = rng.integers(0, p, (1, batch, evaluator.dim), dtype=np.int64)
    sample = evaluator.sample(rng, batch)
    misses: dict = {}
    values = evaluator.forward(points, sample, entry_misses=misses)
    if reach is None:
        return points, sample, np.ones(batch, dtype=bool), values
    program = evaluator.program
    failing = np.concatenate([
        np.broadcast_to(misses[k], (batch,) + program.data[k].shape).reshape(batch, -1)
        if k in misses else np.zeros((batch, program.data[k].size), dtype=bool)
        for k in sorted(evaluator.norms)], axis=1).astype(np.int64)
    weights, useful = [], np.zeros(batch, dtype=bool)
    for w, depends in zip(sample.weights, reach):
        blocked = (failing @ depends.reshape(len(depends), -1).astype(np.int64)) > 0
        w = np.where(blocked.reshape(w.shape), 0, w)
        useful |= (w.reshape(batch, -1) != 0).any(axis=1)
        weights.append(w)
    return points, Sample(sample.data, tuple(weights)), useful, values


class _Rows:
    """Rows of a block's systems drawn so far (masked samples, ``_masked_draw``): the
    stage-1 rows, and per tensor the samples whose generator moves it, for the pair
    systems of its axes (M = T_(k) V_(k)^T needs them whole). A tensor that the rows
    rarely move (its outputs depend on many normalized groups, so few samples keep
    them) would leave its forms unconstrained, a kernel of non-laws: drawing goes on
    until every tensor has rows enough, or the block is given up."""

    def __init__(self, forms: AxisForms, evaluator: Evaluator, reach, rng):
        self.forms, self.evaluator, self.reach, self.rng = forms, evaluator, reach, rng
        self.rows: list[np.ndarray] = []
        self.samples: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in forms.tensors]
        self.moved = [0] * len(forms.tensors)          # rows that move each tensor
        self.taken = self.drawn = 0

    def draw(self, count: int, paired: int) -> None:
        need = [max(paired, self.forms.unknowns_of(t) + MARGIN)
                for t in range(len(self.forms.tensors))]
        while (self.taken < count or any(m < n for m, n in zip(self.moved, need))
               or any(sum(len(x) for x, _ in kept) < paired for kept in self.samples)):
            if self.drawn > DRAWS * count:
                names = ", ".join(self.forms.names[t] for t, (m, n) in
                                  enumerate(zip(self.moved, need)) if m < n)
                raise UnsupportedError(
                    f"after {self.drawn:,} random points, rows that move {names or 'the block'} "
                    f"were too few ({min(self.moved)}): their outputs depend on "
                    "normalizations whose variances are rarely all squares")
            batch = min(BATCH, 2 * max(count - self.taken, 8) + 16)
            points, sample, useful, values = _masked_draw(self.evaluator, self.reach,
                                                          self.rng, batch)
            self.drawn += batch
            theta = points[0][useful]
            value = self.evaluator.gradient(points, sample, values=values)[0][useful]
            self.rows.append(self.forms.first_rows(theta, value))
            self.taken += len(theta)
            for t, coordinates in enumerate(self.forms.tensors):
                moving = (value[:, coordinates] != 0).any(axis=1)
                self.moved[t] += int(moving.sum())
                if sum(len(x) for x, _ in self.samples[t]) < paired and moving.any():
                    self.samples[t].append((theta[moving], value[moving]))

    def fresh(self, count: int) -> "_Rows":
        """New rows from new samples, at least ``count`` (and as many per tensor)."""
        out = _Rows(self.forms, self.evaluator, self.reach, self.rng)
        out.draw(count, count)
        return out

    def first(self) -> np.ndarray:
        return np.concatenate(self.rows)

    def products(self, count: int) -> list[np.ndarray]:
        """M + M^T per axis, from ``count`` samples that move the axis's tensor."""
        out = []
        for a, t in enumerate(self.forms.tensor_of):
            theta = np.concatenate([x for x, _ in self.samples[t]])[:count]
            value = np.concatenate([v for _, v in self.samples[t]])[:count]
            out.append(self.forms.products(theta, value, a))
        return out


def _settled(rows: np.ndarray, check: np.ndarray, p: int) -> np.ndarray | None:
    """The kernel of ``rows`` modulo p (a basis, one vector per row), or None when some
    vector of it fails the fresh ``check`` rows: the rows spanned too little (rows of
    0/1 gate patterns, or of few outputs, can), and the caller draws more.

    >>> p = prime()
    >>> _settled(np.array([[1, 0, 0]]), np.array([[0, 1, 0]]), p) is None
    True
    >>> _settled(np.array([[1, 0, 0], [0, 1, 0]]), np.array([[1, 1, 0]]), p).tolist()
    [[0, 0, 1]]
    """
    basis = kernel(rows)
    if basis.shape[0] and (matmul(check, basis.T) % p).any():
        return None
    return basis


def _lifted(basis: np.ndarray, unknowns: list, p: int) -> list[dict]:
    """A kernel basis modulo p lifted to QQ (``laws.lifted_kernel``), each vector as
    {unknown: fmpq} with coprime integers (raises ArithmeticError when one does not lift)."""
    out = []
    for vector in lifted_kernel(basis, p):
        if vector is None:
            raise ArithmeticError("a sampled law of the block did not lift to QQ")
        integers = primitive(vector, leading=min(vector))
        out.append({unknowns[k]: fmpq(c) for k, c in integers.items()})
    return out


__all__ = ["AxisForms", "axis_form_laws"]
