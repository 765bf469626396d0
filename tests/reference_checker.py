"""A second, independent computation of N for small `.net` programs (DSL.md sections 1-2).

Why this algorithm: it is meant to be read against the specification line by line, not
to be fast. Programs are small syntax trees built by the tests (which render them as `.net`
text for the engine: nothing is parsed here), evaluated into dictionaries of monomials with the
gate rules of DSL.md section 2 applied at every product; the features are the nonzero
theta-coefficients of the outputs and of the data-dependent smooth-function arguments.

What it covers, each construct from its definition: + - * (broadcast by NumPy itself,
on object arrays), @, .T, ^, indexing, sum; relu (a gate g per distinct data-dependent
entry, g^2 = g; a parameter-only entry is a sign choice); max-pool windows (selections
s_i with s_i s_j = 0, s^2 = s, the last 1 - the others; a window without data is a
choice among its distinct entries); one-hot inputs (each row the same relations as a
max-pool window); avgpool as the mean of its window; conv1d/conv2d as the explicit sum
over a zero-padded input with torch's index formula (stride, padding, dilation, groups,
a batch axis); reshape/permute/cat by index arithmetic; generic, tanh, sigmoid, softmax,
gelu, silu as fresh symbols keyed by (function, argument entry); tanh/sigmoid of a lone
scalar parameter as a change of coordinates; attention; momentum, mirror and metric
flows; layernorm/rmsnorm/batchnorm as ('norm', kind, e, eps, axes): one scale symbol
per distinct q (s^2 q = 1), the Lie rank at a rational theta0 and K data samples
computed exactly in the multi-quadratic field QQ(s_1, ..., s_m) (``NormRegion``: K
grown until one more sample adds nothing; a program whose variances within one sample
are dependent modulo squares at every point drawn is refused). Where it stops: no parsing (the tests render the same tree as text), no bounds on
sizes, and "one call, one value" is decided by exact equality of expanded entries.
The fields are exact SymPy polynomials over QQ, and the Lie algebra is closed at a
random rational point by exact brackets [X, Y] = DX Y - DY X until a whole level adds
nothing (the frame is then involutive at the point: Frobenius), at two points, keeping
the larger rank. Nothing here is shared with the package.

Where it stops winning: everything is pure Python over QQ. Features are listed (ReLU
paths enumerated) and every frame member's Jacobian is evaluated, so the cost grows
like D^3 times the size of the polynomials: fine for D <= 14 (a fraction of a second),
minutes around D = 40, hopeless for real networks, which is what the engine is for.

>>> prog = Program(params=[("a", ()), ("b", ()), ("c", ())], outputs=[   # a*b*c
...     ("*", ("*", ("param", "a"), ("param", "b")), ("param", "c"))])
>>> [region.N for region in regions(prog)]
[2]
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod

import numpy as np
import sympy
from sympy.polys.domains import QQ
from sympy.polys.rings import ring

IDEMPOTENT = ("g", "s")   # relu gates g, maxpool selections s: g^2 = g
LONE_DERIVATIVE = {"tanh": lambda u: 1 - u**2, "sigmoid": lambda u: u - u**2}   # f' in terms of f


class Refused(Exception):
    """DSL.md section 2: a data-free argument of a smooth function that is not a lone parameter."""


class _Choose(Exception):
    def __init__(self, site, options):
        super().__init__(site)
        self.site, self.options = site, tuple(options)


def _mono_mul(m1, m2):
    """Product of two monomials (sorted ((kind, ...), exponent) tuples); None when it is 0."""
    exps = dict(m1)
    for v, e in m2:
        exps[v] = exps.get(v, 0) + e
    windows = set()
    for v in exps:
        if v[0] in IDEMPOTENT:
            exps[v] = 1
        if v[0] == "s":              # two selections of one maxpool window: s_i s_j = 0
            if v[1] in windows:
                return None
            windows.add(v[1])
    return tuple(sorted(exps.items()))


class Poly:
    """A polynomial in theta ('t', j) and data: inputs 'x', gates 'g', selections 's',
    smooth values 'f'; exact Fraction coefficients, gate rules applied in products.

    >>> g = Poly.var(("g", 0)); a = Poly.var(("t", 0))
    >>> (g * a) * (g + 1) == 2 * g * a
    True
    """

    __slots__ = ("terms",)

    def __init__(self, terms=None):
        self.terms = terms or {}

    @staticmethod
    def var(v):
        return Poly({((v, 1),): Fraction(1)})

    @staticmethod
    def of(c):
        return c if isinstance(c, Poly) else Poly({(): Fraction(c)} if c else {})

    def __add__(self, other):
        out = dict(self.terms)
        for m, c in Poly.of(other).terms.items():
            out[m] = out.get(m, 0) + c
            if not out[m]:
                del out[m]
        return Poly(out)

    __radd__ = __add__

    def __neg__(self):
        return Poly({m: -c for m, c in self.terms.items()})

    def __sub__(self, other):
        return self + (-Poly.of(other))

    def __rsub__(self, other):
        return Poly.of(other) - self

    def __mul__(self, other):
        out = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in Poly.of(other).terms.items():
                m = _mono_mul(m1, m2)
                if m is not None:
                    out[m] = out.get(m, 0) + c1 * c2
                    if not out[m]:
                        del out[m]
        return Poly(out)

    __rmul__ = __mul__

    def __pow__(self, k):
        out = Poly.of(1)
        for _ in range(k):
            out = out * self
        return out

    def __eq__(self, other):
        return self.terms == Poly.of(other).terms

    def key(self):
        return frozenset(self.terms.items())

    def data_free(self):
        return all(v[0] == "t" for m in self.terms for v, _ in m)


@dataclass
class Flow:
    kind: str = "gradient"          # or "momentum"
    tau: Fraction = Fraction(0)
    nesterov: bool = False
    mirror: tuple = ()


@dataclass
class Program:
    """Declarations (name, shape), let-bindings and outputs as syntax trees (tuples:
    ('param'|'input'|'let', name), ('num', q), (op, a, b) for + - * @, ('neg', a),
    ('^', a, k), ('T', a), ('[]', a, index), ('sum', a), ('fn', name, a),
    ('maxpool' | 'maxpool2d' | 'avgpool' | 'avgpool2d', a, size[, stride]),
    ('conv1d' | 'conv2d', W, x[, options]) with options a tuple of (name, value) pairs
    (stride, padding, dilation, groups), ('reshape', a, shape), ('permute', a, order),
    ('cat', axis, a1, a2, ...), ('attention', X, Q, K, V, O, heads)), metric lines
    (name, tree), the flow, and the names of the inputs declared one-hot."""
    params: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    lets: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    metrics: list = field(default_factory=list)
    flow: Flow = field(default_factory=Flow)
    onehot: tuple = ()


def _wrap(x):
    if isinstance(x, np.ndarray):
        return x
    out = np.empty((), dtype=object)
    out[()] = Poly.of(x)
    return out


def _map(f, a):
    out = np.empty(a.shape, dtype=object)
    for index in np.ndindex(a.shape):
        out[index] = f(a[index])
    return out


def _offsets(declarations):
    """Row-major position of each tensor's first entry, in declaration order; the total."""
    offsets, total = {}, 0
    for name, shape in declarations:
        offsets[name], total = total, total + prod(shape)
    return offsets, total


def _is_tree(a):
    return isinstance(a, tuple) and bool(a) and isinstance(a[0], str)


def _walk(e):
    yield e
    for a in e[1:]:
        if _is_tree(a):
            yield from _walk(a)


class _Model:
    """One evaluation of a program for fixed region choices: features, metric, lone slots."""

    def __init__(self, program: Program, choices: dict):
        self.program, self.choices = program, choices
        self.offsets, self.D = _offsets(program.params)
        self.input_offsets, _ = _offsets(program.inputs)
        self.shapes = dict(program.params + program.inputs)
        self.lets, self.let_values = dict(program.lets), {}
        trees = program.outputs + [e for _, e in program.lets + program.metrics]
        self.uses = {}
        for e in (node for tree in trees for node in _walk(tree)):
            if e[0] == "param":
                self.uses[e[1]] = self.uses.get(e[1], 0) + 1
        self.symbols, self.features, self.lone = {}, [], {}
        self.scales, self.values = {}, []   # normalization scales ('n', k): their q
        for out in program.outputs:
            self.values.append(self.ev(out))
            for p in self.values[-1].flat:
                self.carry(p)
        self.metric = {}
        for name, e in program.metrics:
            value = np.broadcast_to(self.ev(e), self.shapes[name])
            for k, p in enumerate(value.flat):
                self.metric[self.offsets[name] + k] = p

    def tensor(self, kind, offset, shape):
        out = np.empty(shape, dtype=object)
        for k in range(prod(shape)):
            out.flat[k] = Poly.var((kind, offset + k))
        return out

    def symbol(self, key, kind):
        if key not in self.symbols:
            self.symbols[key] = (kind, len(self.symbols))
        return self.symbols[key]

    def choose(self, site, options):
        if site not in self.choices:
            raise _Choose(site, options)
        return self.choices[site]

    def carry(self, p):
        """Add the nonzero theta-coefficients of p (by data monomial) to the features."""
        split = {}
        for m, c in p.terms.items():
            data = tuple(ve for ve in m if ve[0][0] != "t")
            theta = tuple(ve for ve in m if ve[0][0] == "t")
            split[data] = split.get(data, Poly()) + Poly({theta: c})
        self.features += [q for q in split.values() if any(q.terms.keys() - {()})]

    def ev(self, e):
        op, a = e[0], e[1]
        if op == "param":
            return self.tensor("t", self.offsets[a], self.shapes[a])
        if op == "input":
            if a in self.program.onehot:
                return self.onehot(a, self.shapes[a])
            return self.tensor("x", self.input_offsets[a], self.shapes[a])
        if op == "let":
            if a not in self.let_values:
                self.let_values[a] = self.ev(self.lets[a])
            return self.let_values[a]
        if op == "num":
            return _wrap(Poly.of(Fraction(a)))
        if op == "fn":
            return self.call(a, e[2])
        if op == "norm":
            return self.normalize(a, self.ev(e[2]), Fraction(e[3]), e[4])
        if op in ("conv1d", "conv2d"):
            return convolution(self.ev(a), self.ev(e[2]), dict(e[3]) if len(e) > 3 else {},
                               1 if op == "conv1d" else 2)
        if op == "attention":
            return self.attention(*[self.ev(t) for t in e[1:6]], e[6])
        if op == "cat":
            return concatenate([self.ev(t) for t in e[2:]], a)
        x = self.ev(a)
        if op in ("+", "-", "*", "@"):
            y = self.ev(e[2])
            return _wrap({"+": np.add, "-": np.subtract, "*": np.multiply, "@": np.dot}[op](x, y))
        if op == "neg":
            return _map(lambda p: -p, x)
        if op == "^":
            return _map(lambda p: p ** e[2], x)
        if op == "T":
            return x.T if x.ndim == 2 else x
        if op == "[]":
            return _wrap(x[tuple(e[2])])
        if op == "sum":
            return _wrap(sum(x.flat, Poly()))
        if op in ("maxpool", "maxpool2d", "avgpool", "avgpool2d"):
            dims = 2 if op.endswith("2d") else 1
            units = pool_windows(x.shape, e[2], e[3] if len(e) > 3 else None, dims)
            if op.startswith("avg"):
                return _map(lambda window: Fraction(1, len(window)) * sum(
                    (x[i] for i in window), Poly()), units)
            return self.maxpool(x, units)
        if op == "reshape":
            return reshape(x, e[2])
        if op == "permute":
            return permute(x, e[2])
        raise ValueError(op)

    def call(self, function, arg):
        if function == "relu":
            return _map(self.relu, self.ev(arg))
        if (function in LONE_DERIVATIVE and arg[0] == "param" and self.shapes[arg[1]] == ()
                and self.uses[arg[1]] == 1 and self.program.flow.kind == "gradient"
                and arg[1] not in self.program.flow.mirror
                and arg[1] not in dict(self.program.metrics)):
            j = self.offsets[arg[1]]   # a change of coordinates: slot j holds u = f(a)
            self.lone[j] = function
            return _wrap(Poly.var(("t", j)))
        x = self.ev(arg)
        if any(p.data_free() for p in x.flat):
            raise Refused(f"{function} of a data-free argument")
        if function == "softmax":   # one value per whole argument tensor
            n = self.symbol(("softmax", tuple(p.key() for p in x.flat)), "f")[1]
            out = self.tensor("f" + str(n), 0, x.shape)
        else:
            out = _map(lambda p: Poly.var(self.symbol((function, p.key()), "f")), x)
        for p in x.flat:
            self.carry(p)
        return out

    def normalize(self, kind, x, eps, axes):
        """layernorm/rmsnorm over the last ``axes`` axes, batchnorm per channel (axis 1)
        over every other axis: each group the value (e - mean) s (rmsnorm: e s) with one
        scale s per distinct q (the biased variance or mean square, plus eps), s^2 q = 1."""
        if kind == "batchnorm":
            groups = [[i[:1] + (c,) + i[1:] for i in np.ndindex(x.shape[:1] + x.shape[2:])]
                      for c in range(x.shape[1])]
        else:
            lead, tail = x.shape[:x.ndim - axes], x.shape[x.ndim - axes:]
            groups = [[i + j for j in np.ndindex(tail)] for i in np.ndindex(lead)]
        out = np.empty(x.shape, dtype=object)
        for group in groups:
            n = len(group)
            mean = Fraction(1, n) * sum((x[i] for i in group), Poly()) if kind != "rmsnorm" else Poly()
            q = Fraction(1, n) * sum(((x[i] - mean) ** 2 for i in group), Poly()) + eps
            if not q.terms:
                raise Refused(f"{kind}: a variance identically 0")
            if not any(q.terms.keys() - {()}):
                c = q.terms[()]
                root = [Fraction(sympy.sqrt(c.numerator)), Fraction(sympy.sqrt(c.denominator))]
                if root[0] ** 2 != c.numerator or root[1] ** 2 != c.denominator:
                    raise Refused(f"{kind}: a constant variance with an irrational root")
                scale = Poly.of(root[1] / root[0])
            else:
                v = self.symbol(("norm", q.key()), "n")
                self.scales[v] = q
                scale = Poly.var(v)
            for i in group:
                out[i] = (x[i] - mean) * scale
        return out

    def relu(self, p):
        if not p.data_free():
            return Poly.var(self.symbol(("relu", p.key()), "g")) * p
        if not any(p.terms.keys() - {()}):
            return Poly.of(max(p.terms.get((), 0), 0))
        return p if self.choose(("relu", p.key()), (True, False)) else Poly()

    def onehot(self, name, shape):
        """Each row along the last axis: selections s_0..s_{V-2} of one window (0/1,
        s_i s_j = 0) and, last, 1 minus their sum: the relations of a max-pool window."""
        out = np.empty(shape, dtype=object)
        for row in np.ndindex(shape[:-1]):
            s = [Poly.var(("s", ("onehot", name, row), i)) for i in range(shape[-1] - 1)]
            for i, si in enumerate(s):
                out[row + (i,)] = si
            out[row + (shape[-1] - 1,)] = 1 - sum(s, Poly())
        return out

    def maxpool(self, x, units):
        """Each unit sum_i s_i e_i over its window (s_i 0/1, summing to 1); windows of
        the same entries share their selections; a window without data is decided
        (constants: the largest; one polynomial repeated: it) or a region choice."""
        out = np.empty(units.shape, dtype=object)
        for index in np.ndindex(units.shape):
            window = [x[i] for i in units[index]]
            site = ("maxpool", tuple(p.key() for p in window))
            k = len(window)
            if k == 1:
                out[index] = window[0]
            elif all(not any(p.terms.keys() - {()}) for p in window):
                values = [p.terms.get((), 0) for p in window]
                out[index] = window[values.index(max(values))]
            elif all(p.data_free() for p in window):   # equal entries are one candidate
                distinct = list({p.key(): p for p in window}.values())
                out[index] = (distinct[self.choose(site, range(len(distinct)))]
                              if len(distinct) > 1 else distinct[0])
            else:   # selections s_0..s_{k-2}, and s_{k-1} = 1 - their sum
                w = self.symbol(site, "s")[1]
                s = [Poly.var(("s", ("maxpool", w), i)) for i in range(k - 1)]
                out[index] = (sum((si * p for si, p in zip(s, window)), Poly())
                              + (1 - sum(s, Poly())) * window[-1])
        return out

    def attention(self, X, Q, K, V, O, heads):
        kq, kv = Q.shape[1] // heads, V.shape[1] // heads
        total = 0
        for i in range(heads):
            qi, ki = Q[:, i * kq:(i + 1) * kq], K[:, i * kq:(i + 1) * kq]
            vi, oi = V[:, i * kv:(i + 1) * kv], O[:, i * kv:(i + 1) * kv]
            scores = np.dot(np.dot(np.dot(X, qi), ki.T), X.T)
            n = self.symbol(("softmax", tuple(p.key() for p in scores.flat)), "f")[1]
            for p in scores.flat:
                self.carry(p)
            total = total + np.dot(np.dot(np.dot(self.tensor("f" + str(n), 0, scores.shape), X),
                                          vi), oi.T)
        return total


def convolution(w, x, options, dims):
    """PyTorch's conv1d/conv2d (a cross-correlation) as its explicit sum: with x padded
    by zeros on both sides of each spatial axis, out[b, o, p] = sum over the input
    channels c of o's group and the kernel offsets j of W[o, c, j] x[b, g Cg + c,
    p stride + j dilation] (g = o // (Co / groups), Cg = Ci / groups); x is [Ci, n...]
    or [B, Ci, n...] (the output keeps the batch axis).

    >>> w = _map(Poly.of, np.array([[[1, 2]]], dtype=object))
    >>> x = _map(Poly.of, np.array([[10, 20, 30]], dtype=object))
    >>> [p.terms[()] for p in convolution(w, x, {"padding": 1, "stride": 2}, 1).flat]
    [Fraction(20, 1), Fraction(80, 1)]
    """
    stride, padding = options.get("stride", 1), options.get("padding", 0)
    dilation, groups = options.get("dilation", 1), options.get("groups", 1)
    batched = x.ndim == dims + 2
    if not batched:
        x = x[None]
    padded = np.empty(x.shape[:2] + tuple(n + 2 * padding for n in x.shape[2:]), dtype=object)
    for index in np.ndindex(padded.shape):
        inner = tuple(i - padding for i in index[2:])
        inside = all(0 <= i < n for i, n in zip(inner, x.shape[2:]))
        padded[index] = x[index[:2] + inner] if inside else Poly()
    out_channels, per_group, kernel = w.shape[0], w.shape[1], w.shape[2:]
    sizes = tuple((n + 2 * padding - dilation * (k - 1) - 1) // stride + 1
                  for n, k in zip(x.shape[2:], kernel))
    out = np.empty((x.shape[0], out_channels) + sizes, dtype=object)
    for b, o, *place in np.ndindex(out.shape):
        group = o // (out_channels // groups)
        total = Poly()
        for c in range(per_group):
            for j in np.ndindex(kernel):
                at = tuple(p * stride + jj * dilation for p, jj in zip(place, j))
                total = total + w[(o, c) + j] * padded[(b, group * per_group + c) + at]
        out[(b, o, *place)] = total
    return out if batched else out[0]


def pool_windows(shape, size, stride, dims):
    """For each pooling unit, the indices of its window's entries: windows of size^dims
    over the last dims axes starting every ``stride`` entries (default: size), (n - size)
    // stride + 1 units per axis (PyTorch's).

    >>> pool_windows((5,), 2, 3, 1).tolist()
    [[(0,), (1,)], [(3,), (4,)]]
    """
    stride = stride or size
    lead, axes = shape[:-dims], shape[-dims:]
    counts = tuple((n - size) // stride + 1 for n in axes)
    units = np.empty(lead + counts, dtype=object)
    for index in np.ndindex(units.shape):
        front, place = index[:len(lead)], index[len(lead):]
        units[index] = [front + tuple(p * stride + j for p, j in zip(place, offset))
                        for offset in np.ndindex((size,) * dims)]
    return units


def _row_major(index, shape):
    """The position of ``index`` among the entries of ``shape`` read row by row."""
    flat = 0
    for i, n in zip(index, shape):
        flat = flat * n + i
    return flat


def reshape(x, shape):
    """The entries of x, read row by row, laid out row by row in ``shape``.

    >>> reshape(np.array([[1, 2, 3], [4, 5, 6]], dtype=object), (3, 2)).tolist()
    [[1, 2], [3, 4], [5, 6]]
    """
    entries = [x[index] for index in np.ndindex(x.shape)]
    out = np.empty(tuple(shape), dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = entries[_row_major(index, out.shape)]
    return out


def permute(x, order):
    """Axis j of the result is axis order[j] of x: out[i] = x[s] with s[order[j]] = i[j].

    >>> permute(np.array([[1, 2, 3], [4, 5, 6]], dtype=object), (1, 0)).tolist()
    [[1, 4], [2, 5], [3, 6]]
    """
    out = np.empty(tuple(x.shape[i] for i in order), dtype=object)
    for index in np.ndindex(out.shape):
        source = [0] * x.ndim
        for j, i in enumerate(order):
            source[i] = index[j]
        out[index] = x[tuple(source)]
    return out


def concatenate(parts, axis):
    """The tensors side by side along ``axis``: entry i of the result along that axis is
    entry i - (sizes of the parts before) of the part it falls in.

    >>> concatenate([np.array([[1], [2]], dtype=object)] * 2, 1).tolist()
    [[1, 1], [2, 2]]
    """
    shape = list(parts[0].shape)
    shape[axis] = sum(p.shape[axis] for p in parts)
    out = np.empty(tuple(shape), dtype=object)
    for index in np.ndindex(out.shape):
        i, part = index[axis], 0
        while i >= parts[part].shape[axis]:
            i, part = i - parts[part].shape[axis], part + 1
        out[index] = parts[part][index[:axis] + (i,) + index[axis + 1:]]
    return out


def _names(program: Program) -> list[str]:
    out = []
    for name, shape in program.params:
        out += [name + (f"[{','.join(map(str, i))}]" if shape else "") for i in np.ndindex(shape)]
    return out


class Region:
    """The model on one region (every data-free relu/maxpool site decided), with its
    generator fields as SymPy polynomials over QQ and N = state dim - Lie rank."""

    def __init__(self, program: Program, choices: dict, model: _Model, seed: int):
        self.choices, self.names, flow, D = choices, _names(program), program.flow, model.D
        self.description = "; ".join(f"{site[0]} site {n}: {'entry ' if site[0] == 'maxpool' else ''}"
                                     f"{c if site[0] == 'maxpool' else ('> 0' if c else '< 0')}"
                                     for n, (site, c) in enumerate(choices.items()))
        momentum = flow.kind == "momentum"
        self.dim = 2 * D + 1 if momentum else D
        self.ring, *z = ring(",".join(f"z{i}" for i in range(self.dim)), QQ)
        theta = z[1:D + 1] if momentum else z
        self.lone = model.lone
        fp = [LONE_DERIVATIVE[model.lone[k]](z[k]) if k in model.lone else 1
              for k in range(self.dim)]
        self.derivations = [(lambda p, k=k: p.diff(z[k]) * fp[k]) if k in model.lone
                            else (lambda p, k=k: p.diff(z[k])) for k in range(self.dim)]

        def poly(p):   # Poly in theta -> ring element
            out = self.ring(0)
            for m, c in p.terms.items():
                out += QQ(c.numerator, c.denominator) * prod((theta[v[1]] ** e for v, e in m),
                                                             start=self.ring(1))
            return out

        metric = [poly(model.metric[j]) if j in model.metric else self.ring(1) for j in range(D)]
        for j, entry in enumerate(self.names):
            if entry.split("[")[0] in flow.mirror:   # diag(theta), or diag(tau theta + theta')
                metric[j] = (theta[j] * QQ(flow.tau.numerator, flow.tau.denominator) + z[1 + D + j]
                             if momentum else theta[j])
        zero = self.ring(0)
        self.fields = []
        for psi in map(poly, model.features):
            grad = [metric[j] * self.derivations[k](psi)
                    for j, k in enumerate(range(1, D + 1) if momentum else range(D))]
            self.fields.append([zero] * (D + 1) + grad if momentum else grad)
        if momentum:
            s, v, tau = z[0], z[D + 1:], QQ(flow.tau.numerator, flow.tau.denominator)
            self.fields.append([s] + [s * vj for vj in v] + [-3 * vj for vj in v] if flow.nesterov
                               else [tau * s if tau else self.ring(1)] + v + [-tau * vj for vj in v])
        rng = random.Random(seed)
        self.rank = max(lie_rank(self.fields, self.derivations, self._point(rng)) for _ in range(2))
        self.N = self.dim - self.rank

    def _point(self, rng):
        out = []
        for k in range(self.dim):
            if self.lone.get(k) == "tanh":
                out.append(QQ(rng.choice((-1, 1)) * rng.randint(1, 9998), 9999))
            elif self.lone.get(k) == "sigmoid":
                out.append(QQ(rng.randint(1, 9998), 9999))
            else:
                out.append(QQ(rng.choice((-1, 1)) * rng.randint(1, 9999), rng.randint(1, 99)))
        return out

    def law(self, terms: dict):
        """{exponent tuple: Fraction} in the state variables -> a ring element."""
        return self.ring.from_dict({e: QQ(c.numerator, c.denominator) for e, c in terms.items()})

    def conserved(self, h) -> bool:
        """<grad h, X> == 0 identically for every generator field X.

        >>> r = regions(Program(params=[("a", ()), ("b", ())], outputs=[
        ...     ("*", ("param", "a"), ("param", "b"))]))[0]
        >>> r.conserved(r.law({(2, 0): 1, (0, 2): -1})), r.conserved(r.law({(2, 0): 1}))
        (True, False)
        """
        grad = [d(h) for d in self.derivations]
        return all(sum((g * x for g, x in zip(grad, X)), self.ring(0)) == 0 for X in self.fields)

    def independent(self, laws, seed: int = 1) -> int:
        """Rank of the laws' gradients at a random point.

        >>> r = regions(Program(params=[("a", ()), ("b", ())], outputs=[("param", "a")]))[0]
        >>> r.independent([r.law({(0, 1): 1}), r.law({(0, 2): 1})])
        1
        """
        point = self._point(random.Random(seed))
        rows = [[QQ.to_sympy(_at(d(h), point)) for d in self.derivations] for h in laws]
        return sympy.Matrix(rows).rank() if rows else 0


def _at(p, point):
    """The value of a ring element at a point (a list of QQ values)."""
    return sum((c * prod((point[i] ** e for i, e in enumerate(m) if e), start=QQ(1))
                for m, c in p.items()), QQ(0))


def _bracket(X, Y, derivations):
    """[X, Y] = DX Y - DY X, exactly (component r: sum_k d_k X_r Y_k - d_k Y_r X_k)."""
    out = []
    for r in range(len(X)):
        total = X[r].ring(0)
        for k, d in enumerate(derivations):
            if X[r] and Y[k]:
                total += d(X[r]) * Y[k]
            if Y[r] and X[k]:
                total -= d(Y[r]) * X[k]
        out.append(total)
    return out


def lie_rank(fields, derivations, point) -> int:
    """dim of the trace at ``point`` of the Lie algebra generated by ``fields``.

    Frame = fields independent at the point, closed level by level under exact brackets
    [X, Y] = DX Y - DY X until a level adds nothing.

    >>> R, x, y = ring("x,y", QQ)
    >>> d = [lambda p: p.diff(x), lambda p: p.diff(y)]
    >>> lie_rank([[R(1), R(0)], [R(0), x]], d, [QQ(1), QQ(2)])   # d/dx, x d/dy
    2
    >>> lie_rank([[y, -x]], d, [QQ(1), QQ(2)])                    # a rotation
    1
    """
    def value(X):
        return [_at(p, point) for p in X]

    basis, frame, values, jacobians = [], [], [], {}

    def adopt(X, v):
        for pivot, row in basis:
            if v[pivot]:
                v = [a - v[pivot] * b for a, b in zip(v, row)]
        pivot = next((k for k, a in enumerate(v) if a), None)
        if pivot is not None:
            basis.append((pivot, [a / v[pivot] for a in v]))
            frame.append(X)
            values.append(value(X))
        return pivot is not None

    def jacobian(i):
        if i not in jacobians:
            jacobians[i] = [[_at(d(p), point) for d in derivations] if p
                            else [QQ(0)] * len(derivations) for p in frame[i]]
        return jacobians[i]

    for X in fields:
        adopt(X, value(X))
    done = 0
    while done < len(frame):
        size = len(frame)
        for j in range(done, size):
            for i in range(j):
                X, Y, JX, JY = values[i], values[j], jacobian(i), jacobian(j)
                v = [sum(a * b for a, b in zip(JX[r], Y)) - sum(a * b for a, b in zip(JY[r], X))
                     for r in range(len(X))]
                if any(v):
                    adopt(_bracket(frame[i], frame[j], derivations), v)
        done = size
    rows = [[QQ.to_sympy(a) for a in v] for v in values]
    assert not rows or sympy.Matrix(rows).rank() == len(frame)
    return len(frame)


# ------------------------------------------------------------ normalization layers
# The scales s_g = 1/sqrt(q_g) are algebraic: at a rational point (theta0, data samples)
# the fields live in the multi-quadratic field F = QQ(s_1, ..., s_m) (s_g^2 = 1/q_g,
# rational), of degree 2^m when the q_g are independent modulo rational squares (checked
# by prime-exponent parities; else the point is drawn again). An element of F is a dict
# {bitmask S: rational} for the sum of c_S prod_{g in S} s_g; inverses by conjugation,
# generator by generator. Exact, and exponential in m: meant for m <= 10.
def _f_mul(a, b, r):
    out = {}
    for S1, c1 in a.items():
        for S2, c2 in b.items():
            c, common = c1 * c2, S1 & S2
            g = 0
            while common:
                if common & 1:
                    c *= r[g]
                common, g = common >> 1, g + 1
            S = S1 ^ S2
            out[S] = out.get(S, 0) + c
            if not out[S]:
                del out[S]
    return out


def _f_add(a, b, k=1):
    """a + k b."""
    out = dict(a)
    for S, c in b.items():
        out[S] = out.get(S, 0) + k * c
        if not out[S]:
            del out[S]
    return out


def _f_inv(a, r):
    """1/a: multiply by the conjugate in s_g (s_g -> -s_g) for each g in turn; the
    product is then free of s_g, and at the end rational.

    >>> r = [QQ(1, 2)]                       # s^2 = 1/2
    >>> x = {0: QQ(1), 1: QQ(1)}             # 1 + s
    >>> _f_mul(x, _f_inv(x, r), r) == {0: QQ(1)}
    True
    """
    numerator = {0: QQ(1)}
    for g in range(len(r)):
        if any(S >> g & 1 for S in a):
            conjugate = {S: (-c if S >> g & 1 else c) for S, c in a.items()}
            numerator, a = _f_mul(numerator, conjugate, r), _f_mul(a, conjugate, r)
    assert set(a) == {0}, a
    return {S: c / a[0] for S, c in numerator.items()}


def _parities(q):
    """Parities of the prime exponents of a positive rational (a vector over GF(2))."""
    out = {}
    for n, sign in ((q.numerator, 1), (q.denominator, 1)):
        for prime, e in sympy.factorint(int(n)).items():
            out[prime] = (out.get(prime, 0) + e) % 2
    return {p for p, e in out.items() if e}


def _independent_mod_squares(values) -> bool:
    rows = []   # GF(2) elimination over sets of primes (symmetric difference)
    for v in values:
        if v <= 0:
            return False
        row = _parities(v)
        for pivot, other in rows:
            if pivot in row:
                row = row ^ other
        if not row:
            return False
        rows.append((min(row), row))
    return True


class _NormPoint:
    """Theta0 and K data samples: the outputs as polynomials in theta and the scales
    (a SymPy ring), the derivations with the chain rule ds = -s^3 dq / 2, values in F."""

    def __init__(self, model, K, rng):
        D = model.D
        for _ in range(30):
            theta0 = [QQ(rng.choice((-1, 1)) * rng.randint(1, 99), rng.randint(1, 9)) for _ in range(D)]
            outputs, qs, index, samples = [], [], {}, []
            for _ in range(K):
                data = {}

                def sub(p):
                    out = Poly()
                    for m, c in p.terms.items():
                        term = Poly({(): c})
                        for v, e in m:
                            assert v[0] in ("t", "x", "n"), v
                            if v[0] == "x":
                                if v not in data:
                                    data[v] = Fraction(rng.choice((-1, 1)) * rng.randint(1, 9),
                                                       rng.randint(1, 4))
                                term = term * (data[v] ** e)
                            else:
                                term = term * Poly({((v, e),): Fraction(1)})
                        out = out + term
                    return out
                local = {}
                for v, q in model.scales.items():
                    q = sub(q)
                    if q.key() not in index:
                        index[q.key()] = len(qs)
                        qs.append(q)
                    local[v] = index[q.key()]
                samples.append(sorted(set(local.values())))
                for value in model.values:
                    outputs += [(sub(p), local) for p in value.flat]
            m = len(qs)
            self.ring, *gens = ring(",".join([f"t{i}" for i in range(D)] + [f"s{g}" for g in range(m)]), QQ)
            self.T, self.S, self.D, self.m = gens[:D], gens[D:], D, m

            def poly(p, local):
                out = self.ring(0)
                for mono, c in p.terms.items():
                    out += QQ(c.numerator, c.denominator) * prod(
                        ((self.T[v[1]] if v[0] == "t" else self.S[local[v]]) ** e for v, e in mono),
                        start=self.ring(1))
                return out
            self.q = [poly(q, {}) for q in qs]
            self.theta0 = theta0
            values = [self._rational(q) for q in self.q]
            if any(q.is_ground for q in self.q):   # data that cancels the parameters
                continue
            if all(_independent_mod_squares([values[g] for g in sample]) for sample in samples):
                break
        else:   # within one sample: a square variance, or q_1 = c^2 q_2 (README: refused)
            raise Refused("the variances are not independent modulo squares")
        # across samples a q may be a rational square times others (x^2 var(w)): then
        # s_g = (1/c) prod s_h over a basis of the q modulo squares, which spans F
        self.r, self.s, rows = [], [], []
        for v in values:
            row, combo = _parities(v), 0
            for bit, (pivot, other, other_combo) in enumerate(rows):
                if pivot in row:
                    row, combo = row ^ other, combo ^ other_combo
            if row:
                rows.append((min(row), row, combo | 1 << len(self.r)))
                self.s.append({1 << len(self.r): QQ(1)})
                self.r.append(1 / v)
            else:
                square = v * prod((self.r[b] for b in range(len(self.r)) if combo >> b & 1), start=QQ(1))
                c = QQ(int(sympy.sqrt(square.numerator)), int(sympy.sqrt(square.denominator)))
                assert c * c == square
                self.s.append({combo: 1 / c})
        self.cube = [_f_mul(self.s[g], {0: -1 / (2 * v)}, self.r) for g, v in enumerate(values)]
        self.powers = {}
        self.dq = [[q.diff(t) for t in self.T] for q in self.q]
        self.outputs = [poly(p, local) for p, local in outputs]
        self.fields = [f for f in ([self.derivative(y, j) for j in range(D)] for y in self.outputs)
                       if any(f)]

    def _rational(self, p):
        return sum((c * prod((self.theta0[i] ** e for i, e in enumerate(mono[:self.D]) if e),
                             start=QQ(1)) for mono, c in p.items()), QQ(0))

    def derivative(self, p, j):
        out = p.diff(self.T[j])
        for g, s in enumerate(self.S):
            if self.dq[g][j]:
                ds = p.diff(s)
                if ds:
                    out += ds * (-s ** 3 / 2) * self.dq[g][j]
        return out

    def gradient(self, p):
        """The derivatives of p in each theta_j at the point, in F, from values only:
        d_j p = dp/dt_j + sum_g dp/ds_g (-s_g^3 / 2) dq_g/dt_j, and s_g^3 = r_g s_g."""
        out = [self.value(p.diff(t)) for t in self.T]
        for g, s in enumerate(self.S):
            ds = p.diff(s)
            if ds:
                v = _f_mul(self.value(ds), self.cube[g], self.r)
                for j in range(self.D):
                    if self.dq[g][j]:
                        out[j] = _f_add(out[j], v, self._rational(self.dq[g][j]))
        return out

    def value(self, p):
        """p at the point: an element of F."""
        out = {}
        for mono, c in p.items():
            term = {0: c * prod((self.theta0[i] ** e for i, e in enumerate(mono[:self.D]) if e),
                                start=QQ(1))}
            for g, e in enumerate(mono[self.D:]):
                if e:
                    term = _f_mul(term, self._power(g, e), self.r)
            out = _f_add(out, term)
        return out

    def _power(self, g, e):
        key = (g, e)
        if key not in self.powers:
            self.powers[key] = (self.s[g] if e == 1 else
                                _f_mul(self._power(g, e - 1), self.s[g], self.r))
        return self.powers[key]

    def rank(self) -> int:
        """Lie rank at the point, as ``lie_rank``: a frame of fields independent at the
        point (Gaussian elimination over F), closed under brackets level by level."""
        D, r = self.D, self.r
        basis, frame, values, jacobians = [], [], [], {}

        def reduce(v):
            for pivot, row in basis:
                if v[pivot]:
                    k = {S: -c for S, c in v[pivot].items()}
                    v = [_f_add(a, _f_mul(k, b, r)) for a, b in zip(v, row)]
            return v

        def adopt(X, v):
            pivot = next((k for k, a in enumerate(v) if a), None)
            if pivot is not None:
                inv = _f_inv(v[pivot], r)
                basis.append((pivot, [_f_mul(a, inv, r) for a in v]))
                frame.append(X)
                values.append([self.value(p) for p in X])

        def jacobian(i):
            if i not in jacobians:
                jacobians[i] = [self.gradient(p) if p else [{}] * D for p in frame[i]]
            return jacobians[i]

        for X in self.fields:
            if len(frame) < D:
                adopt(X, reduce([self.value(p) for p in X]))
        done = 0
        while done < len(frame) < D:
            size = len(frame)
            for j in range(done, size):
                for i in range(j):
                    if len(frame) == D:
                        break
                    X, Y, JX, JY = values[i], values[j], jacobian(i), jacobian(j)
                    v = []
                    for row in range(D):
                        total = {}
                        for k in range(D):
                            if JX[row][k] and Y[k]:
                                total = _f_add(total, _f_mul(JX[row][k], Y[k], r))
                            if JY[row][k] and X[k]:
                                total = _f_add(total, _f_mul(JY[row][k], X[k], r), -1)
                        v.append(total)
                    v = reduce(v)
                    if any(v):
                        Xp, Yp = frame[i], frame[j]
                        adopt([sum((self.derivative(Xp[row], k) * Yp[k] - self.derivative(Yp[row], k) * Xp[k]
                                    for k in range(D) if Yp[k] or Xp[k]), self.ring(0))
                               for row in range(D)], v)
            done = size
        return len(frame)


class NormRegion:
    """A program with normalization layers (README, *Normalization layers*): the fields
    grad_theta of every output entry at K data samples (s of each group an algebraic
    function of theta), the Lie rank at a rational theta0 exactly in F, with K = 2, 3,
    ... until one more sample adds nothing; N = D - rank (gradient flow only)."""

    def __init__(self, program: Program, model: _Model, seed: int):
        flow = program.flow
        if flow.kind != "gradient" or flow.mirror or program.metrics:
            raise Refused("normalization layers under gradient flow only")
        self.choices, self.description, self.lone = {}, "", {}
        self.names, self.D = _names(program), model.D
        self.dim = self.D
        self.ring, *self.z = ring(",".join(f"z{i}" for i in range(self.D)), QQ)
        self.derivations = [lambda p, k=k: p.diff(self.z[k]) for k in range(self.D)]
        rng = random.Random(seed)
        self.points, rank, K = [], -1, 2
        while True:
            point = _NormPoint(model, K, rng)
            self.points.append(point)
            grown = point.rank()
            if grown <= rank or grown == self.D or point.m + point.m // K > 10:
                rank = max(rank, grown)
                break
            rank, K = grown, K + 1
        self.rank, self.N = rank, self.D - rank

    _point = Region._point
    law = Region.law
    independent = Region.independent

    def conserved(self, h) -> bool:
        """<grad h, X> = 0 exactly in F for every generator X at every point drawn (the
        generators' samples, two or more points): a test at points, not an identity."""
        grad = [d(h) for d in self.derivations]
        for point in self.points:
            g = [_at(p, point.theta0) for p in grad]
            for X in point.fields:
                total = {}
                for a, p in zip(g, X):
                    if a and p:
                        total = _f_add(total, point.value(p), a)
                if total:
                    return False
        return True


def regions(program: Program, seed: int = 0) -> list[Region]:
    """The program on each region of its data-free relu arguments and maxpool windows
    (one region when there are none), each with N; raises Refused (DSL.md section 2).

    >>> prog = Program(params=[("a", ()), ("b", ()), ("c", ())], inputs=[("x", ())],
    ...     outputs=[("*", ("*", ("+", ("param", "a"), ("fn", "relu", ("param", "b"))),
    ...                         ("param", "c")), ("input", "x"))])
    >>> [(r.description, r.N) for r in regions(prog)]
    [('relu site 0: < 0', 2), ('relu site 0: > 0', 2)]
    """
    pending, done = [{}], []
    while pending:
        choices = pending.pop()
        try:
            model = _Model(program, choices)
            done.append(NormRegion(program, model, seed) if model.scales
                        else Region(program, choices, model, seed))
        except _Choose as need:
            pending += [{**choices, need.site: option} for option in need.options]
    return done
