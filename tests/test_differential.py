"""The engine against an independent reference (``reference_checker.py``) on generated programs.

Hypothesis generates small `.net` programs (D <= 14) family by family, over the whole
language: polynomial arithmetic (``+ - * @ .T ^``, indexing, ``sum``, fractions such as
3/7, residual sums), ReLU with the same call written at several places and through a
let, products of a gate with itself, maxpool of sizes 1, 2, 3, conv1d, small attention,
generic/tanh/sigmoid of data-dependent arguments, tanh/sigmoid of a lone scalar
parameter (a change of coordinates), ReLU and maxpool of parameter-only arguments (sign
regions), momentum (tau 0 or 1, Nesterov), mirror flows and ``metric`` lines, and
parameter-only smooth arguments that must be refused (gelu/silu of a lone parameter
too: only tanh and sigmoid change coordinates). The grown language has five families,
judged on whatever the reference finds (counted, sign regions, refused): ``conv``
(conv1d/conv2d with stride, padding, dilation, groups, a batch axis, a bias [Co, 1]
broadcast over positions, padding that leaves border entries without data or empty),
``pool`` (maxpool/maxpool2d/avgpool/avgpool2d, sizes 1-3, strides that overlap),
``shapes`` (reshape, permute, cat, cat of a tensor with itself, broadcasting of rows,
columns and outer products), ``onehot`` (``input t[T, V] onehot``: embeddings, a one-hot
tensor in two products, under relu, max-pool, gelu/silu, a row sum that is 1) and
``gelu`` (gelu and silu of one argument are two values). The family ``norm`` (its own
test, ``CONSLAW_NORM_EXAMPLES`` programs, 16 in CI): layernorm/rmsnorm of W @ x
(groups of 3, or 2: refused without eps, a square variance), batchnorm of X @ W.T, the
readouts v @ ., sum(g * . + b), two normalizations side by side, eps 0, 1/7 or a small
rational, D <= 6; the reference's fields at K data samples (K grown until a sample adds
nothing) are exact in the multi-quadratic field of the scales. Each program is built as a
syntax tree: the reference evaluates the tree, the engine reads its `.net` text.

For every program: the engine's N (``count_laws(seed)``) equals the reference's; every
law of ``laws(2)`` passes the reference's exact check <grad h, X> == 0 for every
generator X (for a change of coordinates u = f(a) the law's slot of a holds u, and the
reference differentiates in a); the number of independent laws is <= N. Programs with
sign regions: ``model.sign_regions`` lists one (description, model) per region, each
matched to a reference region with the same N whose check all its laws pass, and
``count_laws`` on the whole model raises UnsupportedError. Refused programs raise a
ConslawError.

CI runs 480 programs (30 per family, derandomized, no database, no shrinking);
the long run is ``CONSLAW_DIFF_EXAMPLES=5000 python -m pytest -q tests/test_differential.py``
(the number is the total over the families; ``CONSLAW_DIFF_SHRINK=1`` also shrinks a
failing program).
"""
from __future__ import annotations

import os
from fractions import Fraction
from math import ceil, prod

import pytest
import sympy
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

import conslaw_algebra as ca
from reference_checker import Flow, Program, Refused, regions

FAMILIES = ("polynomial", "relu", "maxpool", "conv1d", "attention", "smooth", "lone",
            "momentum", "metric", "regions", "refused", "conv", "pool", "shapes", "onehot",
            "gelu")
# the families of the grown language: judged on whatever the reference finds (counted,
# sign regions when padding or a one-hot row sum leaves an argument without data, refused)
ANY_KIND = ("conv", "pool", "shapes", "onehot", "gelu")
TOTAL = int(os.environ.get("CONSLAW_DIFF_EXAMPLES", str(30 * len(FAMILIES))))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + (
    [Phase.shrink] if os.environ.get("CONSLAW_DIFF_SHRINK") else [])
DIFF = settings(max_examples=ceil(TOTAL / len(FAMILIES)), deadline=None, derandomize=True,
                database=None, phases=PHASES, suppress_health_check=list(HealthCheck))
RATIONALS = (Fraction(3, 7), Fraction(-2), Fraction(1, 2), Fraction(5), Fraction(-4, 3))


def P(name):
    return ("param", name)


def I(name):
    return ("input", name)


def num(q):
    return ("num", Fraction(q))


def _expr_text(e) -> str:
    op = e[0]
    sub = [_expr_text(a) if isinstance(a, tuple) and a and isinstance(a[0], str) else a
           for a in e[1:]]
    if op in ("param", "input", "let"):
        return e[1]
    if op == "num":
        return f"({e[1]})" if e[1] < 0 else str(e[1])
    if op in ("+", "-", "*", "@"):
        return f"({sub[0]} {op} {sub[1]})"
    if op in ("maxpool", "maxpool2d", "avgpool", "avgpool2d"):
        return f"{op}({sub[0]}, size={e[2]}" + (f", stride={e[3]})" if len(e) > 3 and e[3] else ")")
    if op in ("conv1d", "conv2d"):
        options = "".join(f", {k}={v}" for k, v in (e[3] if len(e) > 3 else ()))
        return f"{op}({sub[0]}, {sub[1]}{options})"
    if op in ("reshape", "permute"):
        return f"{op}({sub[0]}, {', '.join(map(str, e[2]))})"
    if op == "norm":
        options = (f", eps={e[3]}" if e[3] else "") + (
            f", axes={e[4]}" if e[4] != 1 else "")
        return f"{e[1]}({_expr_text(e[2])}{options})"
    if op == "cat":
        return f"cat({', '.join(sub[1:])}, axis={e[1]})"
    atom = sub[0] if e[1][0] in ("param", "input", "let", "fn") else f"({sub[0]})"
    return {"neg": lambda: f"(-{sub[0]})", "^": lambda: f"{atom}^{e[2]}", "T": lambda: f"{atom}.T",
            "[]": lambda: f"{atom}[{','.join(map(str, e[2]))}]", "sum": lambda: f"sum({sub[0]})",
            "fn": lambda: f"{e[1]}({sub[1]})",
            "attention": lambda: f"attention({', '.join(sub[:5])}, heads={e[6]})"}[op]()


def text(program: Program) -> str:
    """The program as `.net` text (every operation in parentheses).

    >>> print(text(Program(params=[("W", (2, 3))], inputs=[("x", (3,))],
    ...       outputs=[("fn", "relu", ("@", ("param", "W"), ("input", "x")))])))
    param W[2,3]
    input x[3]
    output relu((W @ x))
    """
    decl = ", ".join(n + (f"[{','.join(map(str, s))}]" if s else "") for n, s in program.params)
    lines = ["param " + decl]
    if program.inputs:
        lines.append("input " + ", ".join(n + (f"[{','.join(map(str, s))}]" if s else "")
                                          + (" onehot" if n in program.onehot else "")
                                          for n, s in program.inputs))
    lines += [f"{name} = {_expr_text(e)}" for name, e in program.lets]
    lines += [f"output {_expr_text(e)}" for e in program.outputs]
    lines += [f"metric {name} = {_expr_text(e)}" for name, e in program.metrics]
    f = program.flow
    if f.kind == "momentum" or f.mirror:
        options = ("nesterov" if f.nesterov else f"tau={f.tau}") if f.kind == "momentum" else ""
        mirror = (" mirror " + ", ".join(f.mirror)) if f.mirror else ""
        lines.append(f"flow {f.kind} {options}{mirror}".replace("  ", " "))
    return "\n".join(lines)


class Gen:
    """Random choices for one program, drawn from hypothesis (so runs are reproducible)."""

    def __init__(self, data, budget=14):
        self.data, self.budget = data, budget
        self.params, self.inputs, self.lets, self.reserved = {}, {}, [], set()
        self.onehots = []

    def draw(self, strategy):
        return self.data.draw(strategy)

    def coin(self, percent=50):
        return self.draw(st.integers(0, 99)) < percent

    def choice(self, items):
        return self.draw(st.sampled_from(list(items)))

    def size(self, lo=1, hi=3):
        return self.choice(range(lo, hi + 1))

    @property
    def D(self):
        return sum(prod(s) for s in self.params.values())

    def param(self, shape, reuse=20, fresh=False):
        """A parameter of this shape (new while D allows, else an old one, else data)."""
        same = [n for n, s in self.params.items() if s == shape and n not in self.reserved]
        room = self.D + prod(shape) <= self.budget
        if same and not fresh and (not room or self.coin(reuse)):
            return P(self.choice(same))
        if not room:
            return self.input(shape)
        name = f"{'abWW'[min(len(shape), 3)]}{len(self.params)}"
        self.params[name] = shape
        if fresh:
            self.reserved.add(name)
        return P(name)

    def input(self, shape):
        same = [n for n, s in self.inputs.items() if s == shape and n not in self.onehots]
        if same and self.coin(60):
            return I(self.choice(same))
        name = f"{'xxX'[min(len(shape), 2)]}{len(self.inputs)}"
        self.inputs[name] = shape
        return I(name)

    def onehot(self, shape):
        """A new input declared one-hot (rows along the last axis)."""
        name = f"t{len(self.inputs)}"
        self.inputs[name] = shape
        self.onehots.append(name)
        return I(name)

    def leaf(self, shape):
        if shape == () and self.coin(15):
            return num(self.choice(RATIONALS))
        return self.param(shape) if self.coin(80) else self.input(shape)

    def linear_data(self, shape):
        """A data-dependent term: W @ x, a * x, W @ X."""
        if shape == ():
            return ("*", self.param(()), self.input(()))
        k = self.size(1, 2)
        x = self.input((k,) + shape[1:])
        return ("@", self.param((shape[0], k)), x)

    def data_arg(self, shape, depth):
        term = self.linear_data(shape)
        return ("+", term, self.expr(shape, depth)) if depth > 0 and self.coin(30) else term

    def expr(self, shape, depth, extra=()):
        if depth <= 0 or (depth == 1 and self.coin(30)):
            return self.leaf(shape)
        ops = ["+", "-", "*", "*", "scale", "neg", "pow"] + list(extra) * 2
        ops += {0: ["index", "sum", "dot", "dot"], 1: ["matvec"] * 3, 2: ["matmat", "T"]}[len(shape)]
        if not shape:
            ops = [o for o in ops if o != "maxpool"]
        op = self.choice(ops)

        def e(s):
            return self.expr(s, depth - 1, extra)
        if op in ("+", "-", "*"):
            return (op, e(shape), e(shape))
        if op == "scale":
            return ("*", num(self.choice(RATIONALS)) if self.coin() else e(()), e(shape))
        if op == "neg":
            return ("neg", e(shape))
        if op == "pow":
            return ("^", self.leaf(shape), self.size(0, 3))
        if op == "matvec":
            k = self.size(1, 2)
            return ("@", e((shape[0], k)), e((k,)))
        if op == "matmat":
            k = self.size(1, 2)
            return ("@", e((shape[0], k)), e((k, shape[1])))
        if op == "T":
            return ("T", e(shape[::-1]))
        if op in ("index", "sum"):
            s = self.choice([(self.size(1, 2),), (self.size(1, 2), self.size(1, 2))])
            if op == "sum":
                return ("sum", e(s))
            return ("[]", e(s), tuple(self.size(0, n - 1) for n in s))
        if op == "dot":
            k = self.size(1, 2)
            return ("@", e((k,)), e((k,)))
        if op == "relu":
            return ("fn", "relu", self.data_arg(shape, depth - 1))
        if op == "smooth":
            return ("fn", self.choice(["generic", "tanh", "sigmoid"]), self.data_arg(shape, depth - 1))
        k = self.choice([1, 2, 3])   # maxpool
        return ("maxpool", self.data_arg(shape[:-1] + (shape[-1] * k,), depth - 1), k)

    def program(self, outputs, flow=Flow(), metrics=()):
        if not self.params:   # a model needs parameters
            outputs = outputs + [("*", self.param(()), self.input(()))]
        names = list(self.params)
        lets = [(n, e) for n, e in self.lets]
        return Program(params=[(n, self.params[n]) for n in names],
                       inputs=list(self.inputs.items()), lets=lets, outputs=outputs,
                       metrics=list(metrics), flow=flow, onehot=tuple(self.onehots))


def _sum(terms):
    out = terms[0]
    for t in terms[1:]:
        out = ("+", out, t)
    return out


def _gated(g, extra, budget):
    """A small model mixing random arithmetic with gates of the given kinds."""
    g.budget = budget
    shape = g.choice([(), (1,), (2,)])
    out = g.expr(shape, 3, extra)
    if shape and g.coin(30):
        out = ("+", g.input(shape), out)   # a residual connection
    return [out] + ([g.expr((), 2, extra)] if g.coin(20) else [])


def fam_polynomial(g):
    return g.program(_gated(g, (), 14))


def fam_relu(g):
    n, h, m = g.size(1, 2), g.size(1, 3), g.size(1, 2)
    x = g.input((n,))
    arg = ("@", g.param((h, n)), x)
    if g.coin(40):
        arg = ("+", arg, g.param((h,)))
    if g.coin(25):
        arg = ("+", arg, g.expr((h,), 1))
    g.lets.append(("hid", ("fn", "relu", arg)))
    terms = []
    for _ in range(g.size(1, 3)):
        gate = ("let", "hid") if g.coin() else ("fn", "relu", arg)   # one call, one value
        kind = g.choice(["plain", "square", "product", "deeper", "power"])
        if kind == "square":
            gate = ("*", gate, ("fn", "relu", arg))
        elif kind == "product":
            gate = ("*", gate, g.expr((h,), 1))
        elif kind == "power":
            gate = ("^", gate, 2)
        elif kind == "deeper":
            k = g.size(1, 2)
            gate = ("fn", "relu", ("@", g.param((k, h)), gate))
        width = k if kind == "deeper" else h
        terms.append(("@", g.param((m, width)), gate))
    out = _sum(terms)
    if m == n and g.coin(30):
        out = ("+", x, out)
    return g.program([out])


def _pooled_readouts(g, pooled, readout):
    """A pooled value (perhaps under relu), bound to a let, then read out once or twice,
    by name or written again (one call, one value), perhaps squared."""
    if g.coin(30):
        pooled = ("fn", "relu", pooled)
    g.lets.append(("pool", pooled))
    terms = []
    for _ in range(g.size(1, 2)):
        use = ("let", "pool") if g.coin() else pooled
        if g.coin(25):
            use = ("*", use, use)
        terms.append(readout(use))
    return terms


def fam_maxpool(g):
    k, units, n, m = g.choice([1, 2, 3]), g.size(1, 2), g.size(1, 2), g.size(1, 2)
    g.budget = 14
    if g.coin(25):   # along the last axis of a matrix
        X = g.input((n, k * units))
        pooled = ("maxpool", ("@", g.param((g.size(1, 2), n)), X), k)
        return g.program([("sum", pooled) if g.coin() else pooled])
    arg = ("@", g.param((k * units, n)), g.input((n,)))
    if g.coin(30):
        arg = ("fn", "relu", arg)
    pooled = ("maxpool", arg, k)
    terms = _pooled_readouts(g, pooled, lambda use: ("@", g.param((m, units)), use))
    return g.program([_sum(terms)])


def fam_conv1d(g):
    ci, co, k = g.size(1, 2), g.size(1, 2), g.size(1, 2)
    length = k + g.size(0, 2)
    out = ("conv1d", g.param((co, ci, k)), g.input((ci, length)))
    width = length - k + 1
    if g.coin(40):
        out = ("fn", "relu", out)
    if width % 2 == 0 and g.coin(30):
        out, width = ("maxpool", out, 2), width // 2
    if g.coin(40):
        k2 = g.size(1, width)
        out, width = ("conv1d", g.param((g.size(1, 2), co, k2)), out), width - k2 + 1
    elif g.coin(50):
        out = ("@", g.param((g.size(1, 2), co)), out)
    return g.program([("sum", out) if g.coin(30) else out])


def fam_attention(g):
    d, heads, out = g.size(1, 2), g.choice([1, 2]), g.size(1, 2)
    kq = g.size(1, 2) if heads == 1 else 1
    kv = 1
    while 2 * d * heads * kq + d * heads * kv + out * heads * kv > 14:
        kq, out = 1, 1
        if 2 * d * heads * kq + d * heads * kv + out * heads * kv > 14:
            d = 1
    X = g.input((2, d))
    Q, K = g.param((d, heads * kq), fresh=True), g.param((d, heads * kq), fresh=True)
    V, O = g.param((d, heads * kv), fresh=True), g.param((out, heads * kv), fresh=True)
    att = ("attention", X, Q, K, V, O, heads)
    if out == d and g.coin(40):
        att = ("+", X, att)
    return g.program([att])


def fam_smooth(g):
    n, h, m = g.size(1, 2), g.size(1, 2), g.size(1, 2)
    smooth = ["generic", "tanh", "sigmoid", "gelu", "silu"]
    f1, f2 = g.choice(smooth), g.choice(smooth)
    x = g.input((n,))
    arg = ("@", g.param((h, n)), x)
    if g.coin(40):
        arg = ("+", arg, g.param((h,)))
    g.lets.append(("act", ("fn", f1, arg)))
    terms = []
    for _ in range(g.size(1, 3)):
        kind = g.choice(["let", "again", "other", "nested", "square", "random"])
        value = {"let": ("let", "act"), "again": ("fn", f1, arg), "other": ("fn", f2, arg),
                 "square": ("*", ("let", "act"), ("fn", f1, arg))}.get(kind)
        if kind == "nested":
            value = ("fn", f2, ("@", g.param((h, h)), ("let", "act")))
        if kind == "random":
            value = g.expr((h,), 2, ("smooth",))
        terms.append(("@", g.param((m, h)), value))
    return g.program([_sum(terms)])


def _lone(g, function):
    """tanh(a) or sigmoid(a) of a fresh scalar parameter used nowhere else."""
    return ("fn", function, g.param((), fresh=True))


def fam_lone(g):
    first = g.coin()
    lone = _lone(g, g.choice(["tanh", "sigmoid"])) if first else None
    n = g.size(1, 2)
    x = g.input((n,))
    kind = g.choice(["linear", "relu", "random", "scalar"])
    if kind == "linear":
        body = ("@", g.param((n, n)), x)
    elif kind == "relu":
        h = g.size(1, 2)
        body = ("@", g.param((n, h)), ("fn", "relu", ("@", g.param((h, n)), x)))
    elif kind == "random":
        body = g.expr((n,), 2, ("relu",))
    else:
        body = ("*", g.param(()), x)
    lone = lone or _lone(g, g.choice(["tanh", "sigmoid"]))
    out = ("*", lone, body)
    if g.coin(40):
        out = ("+", x, out)
    if g.coin(25):
        out = ("+", out, ("@", g.param((n, n)), x))
    return g.program([out])


def fam_momentum(g):
    outputs = _gated(g, g.choice([(), ("relu",), ("maxpool",)]), 6)
    nesterov = g.coin(15)
    tau = Fraction(0) if nesterov else g.choice([Fraction(0), Fraction(1)])
    mirror = (g.choice(list(g.params)),) if g.params and not nesterov and g.coin(30) else ()
    metrics = []
    free = [n for n in g.params if n not in mirror]
    if free and g.coin(15):
        name = g.choice(free)
        metrics.append((name, ("^", P(name), 2)))
    return g.program(outputs, Flow("momentum", tau, nesterov, mirror), metrics)


def fam_metric(g):
    outputs = _gated(g, g.choice([(), ("relu",)]), 10)
    names = list(g.params)
    mirror = tuple(n for n in names if g.coin(30))
    metrics = []
    for name in names:
        if name in mirror or not g.coin(40):
            continue
        scalars = [n for n in names if g.params[n] == ()]
        options = [P(name), ("^", P(name), 2), ("+", ("*", P(name), P(name)), num(1)), num(2)]
        if scalars:
            s = g.choice(scalars)
            options.append(("+", ("*", num(Fraction(3, 7)), ("^", P(s), 2)), num(1)))
        metrics.append((name, g.choice(options)))
    return g.program(outputs, Flow(mirror=mirror), metrics)


def fam_regions(g):
    """Data-free relu arguments and maxpool windows; sites use disjoint parameters, so
    that every combination of signs (every selected entry) is a nonempty region."""
    n = g.size(1, 2)
    x = g.input((n,))
    body = ("@", g.param((n, n)), x)
    sites = []
    for _ in range(g.size(1, 2)):
        kind = g.choice(["scalar", "linear", "vector", "window", "shared"])
        if kind in ("scalar", "shared"):
            site = ("fn", "relu", g.param((), fresh=True))
        elif kind == "linear":
            site = ("fn", "relu", ("+", ("*", num(g.choice(RATIONALS)), g.param((), fresh=True)),
                                   ("*", num(g.choice(RATIONALS)), g.param((), fresh=True))))
        elif kind == "vector":
            site = ("fn", "relu", g.param((n,), fresh=True))
        else:
            k = g.choice([2, 3])
            site = ("sum", ("maxpool", g.param((k,), fresh=True), k))
        if kind == "shared":   # the same call written twice
            g.lets.append((f"r{len(g.lets)}", site))
            site = ("*", ("let", g.lets[-1][0]), ("+", site, num(1)))
        sites.append(site)
    out = body
    for site in sites:
        out = ("*", site, out) if g.coin() else ("+", out, ("*", site, ("+", g.param(()), x)))
    if g.coin(30):   # (a + relu(b)) * c * x
        out = ("+", out, ("*", ("+", g.param(()), sites[0]), ("*", g.param(()), x)))
    return g.program([out])


def fam_refused(g):
    n = g.size(1, 2)
    x = g.input((n,))
    a, b = g.param((), fresh=True), g.param((), fresh=True)
    kind = g.choice(["generic", "sum", "product", "softmax", "vector", "elsewhere",
                     "momentum", "mirror", "metric", "inside", "gelu"])
    flow, metrics = Flow(), []
    if kind == "generic":
        value = ("fn", "generic", a)
    elif kind == "gelu":   # not a change of coordinates (only tanh and sigmoid are)
        value = ("fn", g.choice(["gelu", "silu"]), a if g.coin() else ("+", a, b))
    elif kind == "sum":
        value = ("fn", g.choice(["tanh", "sigmoid"]), ("+", a, b))
    elif kind == "product":
        value = ("fn", g.choice(["tanh", "sigmoid", "generic"]), ("*", a, b))
    elif kind == "softmax":
        value = ("sum", ("fn", "softmax", g.param((2,), fresh=True)))
    elif kind == "vector":
        value = ("sum", ("fn", "tanh", g.param((2,), fresh=True)))
    elif kind == "elsewhere":
        value = ("+", ("fn", "tanh", a), a)
    elif kind == "inside":
        value = ("sum", ("fn", "tanh", ("@", g.param((n, n)), g.param((n,)))))
    else:
        value = ("fn", g.choice(["tanh", "sigmoid"]), a)
        if kind == "momentum":
            flow = Flow("momentum", g.choice([Fraction(0), Fraction(1)]))
        elif kind == "mirror":
            flow = Flow(mirror=(a[1],))
        else:
            metrics = [(a[1], ("+", ("^", P(b[1]), 2), num(1)))]
    return g.program([("*", ("*", value, b), x)], flow, metrics)


def _some_flow(g):
    """Now and then, when D is small, heavy-ball momentum (tau 0 or 1) or a mirror flow
    on one parameter: the new constructs under the other flows."""
    if g.D <= 6 and g.coin(12):
        return Flow("momentum", g.choice([Fraction(0), Fraction(1)]))
    if g.coin(8):
        return Flow(mirror=(g.choice(list(g.params)),))
    return Flow()


def _readout(g, out, shape):
    """The end of a model: the tensor itself, its sum, or a parameter matrix applied to it
    (flattened by reshape when it has more than one axis)."""
    pick = g.choice(["itself", "sum", "matrix"])
    if pick == "sum":
        return ("sum", out)
    if pick == "matrix" and prod(shape) <= 6 and g.D + prod(shape) <= g.budget:
        if len(shape) != 1:
            out = ("reshape", out, (prod(shape),))
        return ("@", g.param((1, prod(shape))), out)
    return out


def fam_conv(g):
    """conv1d/conv2d with stride, padding, dilation, groups, a batch axis, a bias
    broadcast over the positions; then relu, pooling and a readout."""
    dims = 1 if g.coin(65) else 2
    groups = g.choice([1, 1, 2])
    ci, co = groups * g.size(1, 2 if groups == 1 else 1), groups * g.size(1, 2 if groups == 1 else 1)
    k = g.size(1, 3 if dims == 1 else 2)
    while co * (ci // groups) * k ** dims > 10:
        k -= 1
    stride, padding, dilation = g.choice([1, 1, 2]), g.choice([0, 0, 1, 2]), g.choice([1, 1, 2])
    least = max(1, dilation * (k - 1) + 1 - 2 * padding)
    spatial = tuple(least + g.size(0, 2 if dims == 1 else 1) for _ in range(dims))
    batch = (2,) if g.coin(25) else ()
    options = tuple((name, value) for name, value, default in (
        ("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1),
        ("groups", groups, 1)) if value != default or g.coin(10))
    W = g.param((co, ci // groups) + (k,) * dims, fresh=True)
    out = ("conv1d" if dims == 1 else "conv2d", W, g.input(batch + (ci,) + spatial), options)
    sizes = tuple((n + 2 * padding - dilation * (k - 1) - 1) // stride + 1 for n in spatial)
    shape = batch + (co,) + sizes
    if g.coin(40) and g.D + co <= g.budget:   # a bias over the positions
        out = ("+", out, g.param((co,) + (1,) * dims))
    if g.coin(40):
        out = ("fn", "relu", out)
    if g.coin(30) and min(sizes) >= 2:
        pool = g.choice(["maxpool", "avgpool"]) + ("2d" if dims == 2 else "")
        out = (pool, out, 2, None if all(n % 2 == 0 for n in sizes) and g.coin() else 1)
        shape = shape[:-dims] + tuple(n // 2 if out[3] is None else n - 1 for n in sizes)
    return g.program([_readout(g, out, shape)], _some_flow(g))


def fam_pool(g):
    """maxpool/maxpool2d/avgpool/avgpool2d of sizes 1-3 with and without a stride
    (overlapping windows), of data-dependent arguments, shared through a let."""
    op = g.choice(["maxpool", "maxpool2d", "avgpool", "avgpool2d"])
    dims = 2 if op.endswith("2d") else 1
    size = g.choice([1, 2, 3] if dims == 1 else [1, 2])
    stride = g.choice([None, None, 1, 2, 3])
    units = g.size(1, 2)
    n = size * units if stride is None else size + stride * (units - 1) + g.size(0, stride - 1)
    m = g.size(1, 2)
    g.budget = 14
    if dims == 1:
        lead = g.choice([(), (), (2,)])
        arg = (("@", g.param((n, m)), g.input((m,))) if not lead
               else ("@", g.param((2, m)), g.input((m, n))))
        shape = lead + (n,)
    else:
        rows = 1 if n * n > 9 else n
        arg = ("reshape", ("@", g.param((rows * n, 1)), g.input((1,))), (rows, n))
        if rows < size:   # a 2-d window needs as many rows
            arg, rows = ("cat", 0, *(arg,) * size), size
        shape = (rows, n)
    if g.coin(30):
        arg = ("fn", "relu", arg)
    pooled = (op, arg, size, stride)
    counts = tuple((a - size) // (stride or size) + 1 for a in shape[-dims:])
    shape = shape[:-dims] + counts
    terms = _pooled_readouts(g, pooled, lambda use: _readout(g, use, shape))  # shapes broadcast
    return g.program([_sum(terms)], _some_flow(g))


def fam_shapes(g):
    """reshape, permute, cat (a tensor with itself too) and NumPy broadcasting: a bias
    [n, 1] over positions, a row [m] over rows, an outer product [n, 1] * [1, m]."""
    n, m, t = g.size(1, 2), g.size(1, 2), g.size(1, 3)
    h = ("@", g.param((n, m)), g.input((m, t)))    # [n, t]
    shape = (n, t)
    for _ in range(g.size(1, 3)):
        kind = g.choice(["bias", "row", "outer", "reshape", "permute", "cat", "self", "relu"])
        if kind == "bias":
            h = ("+", h, g.param((shape[0], 1)) if g.coin(70) else g.input((shape[0], 1)))
        elif kind == "row":
            h = (g.choice(["*", "+", "-"]), g.param((shape[1],)) if g.coin() else
                 g.input((shape[1],)), h)
        elif kind == "outer":
            h = ("*", h, ("*", g.param((shape[0], 1)), g.input((1, shape[1]))))
        elif kind == "reshape":
            shape = g.choice([(prod(shape),), (shape[1], shape[0]), (1, prod(shape))])
            h = ("reshape", h, shape)
            if len(shape) == 1:
                h, shape = ("reshape", h, (shape[0], 1)), (shape[0], 1)
        elif kind == "permute" and g.coin():
            h, shape = ("permute", h, (1, 0)), shape[::-1]
        elif kind == "permute":   # through three axes, and back to two
            order = g.choice([(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
            cube = (1,) + shape
            h = ("permute", ("reshape", h, cube), order)
            shape = tuple(cube[i] for i in order if cube[i] > 1) or (1,)
            shape = shape if len(shape) == 2 else (prod(shape), 1)
            h = ("reshape", h, shape)
        elif kind == "self":
            axis = g.choice([0, 1])
            h = ("cat", axis, h, h)
            shape = (shape[0] * 2, shape[1]) if axis == 0 else (shape[0], shape[1] * 2)
        elif kind == "cat" and g.coin():   # rows W x^T below h
            h = ("cat", 0, h, ("@", g.param((1, 1)), g.input((1, shape[1]))))
            shape = (shape[0] + 1, shape[1])
        elif kind == "cat":                # a column a * x beside h
            h = ("cat", 1, h, ("*", g.param(()), g.input((shape[0], 1))))
            shape = (shape[0], shape[1] + 1)
        else:
            h = ("fn", "relu", h)
        if prod(shape) > 12:
            break
    return g.program([_readout(g, h, shape)], _some_flow(g))


def fam_onehot(g):
    """One-hot inputs t[T, V]: an embedding t @ E, used in two products ((t @ E1) *
    (t @ E2), t @ E (t @ F)^T), next to free data, under relu, pooling and smooth functions."""
    T, V, d = g.size(1, 2), g.choice([2, 2, 3, 3, 1]), g.size(1, 2)
    t = g.onehot((T, V))
    emb = ("@", t, g.param((V, d)))                 # [T, d]
    terms = []
    for _ in range(g.size(1, 2)):
        kind = g.choice(["linear", "two", "gram", "relu", "smooth", "pool", "mixed", "sum",
                         "rowsum"])
        if kind == "linear":
            value = ("@", emb, g.param((d, 1)))
        elif kind == "two":
            value = ("@", ("*", emb, ("@", t, g.param((V, d)))), g.param((d, 1)))
        elif kind == "gram":
            value = ("@", ("@", emb, ("T", ("@", t, g.param((V, d))))), g.param((T, 1)))
        elif kind == "relu":
            value = ("@", ("fn", "relu", emb), g.param((d, 1)))
        elif kind == "smooth":
            value = ("@", ("fn", g.choice(["gelu", "silu", "tanh"]), emb), g.param((d, 1)))
        elif kind == "pool":
            value = ("reshape", ("maxpool", ("@", t, g.param((V, 2))), 2), (T, 1))
        elif kind == "mixed":
            value = ("*", ("@", emb, g.param((d, 1))), g.input((T, 1)))
        elif kind == "sum":   # t @ (a x): a x_j picked by each row
            value = ("*", ("reshape", ("@", t, ("*", g.param(()), g.input((V,)))), (T, 1)),
                     ("@", emb, g.param((d, 1))))
        else:   # t @ (a, ..., a) = a: a row of t sums to 1, so relu's argument holds no data
            column = g.param((1, 1), fresh=True)
            column = ("cat", 0, *(column,) * V) if V > 1 else column
            value = ("*", ("fn", "relu", ("@", t, column)), ("*", g.param(()), g.input((T, 1))))
        terms.append(value)
    return g.program([_sum(terms)], _some_flow(g))


def fam_gelu(g):
    """gelu and silu of data-dependent arguments: gelu(e) and silu(e) of one argument
    are two values, gelu(e) twice (or through a let) one; next to tanh and generic."""
    n, h, m = g.size(1, 2), g.size(1, 2), g.size(1, 2)
    f1 = g.choice(["gelu", "silu"])
    f2 = g.choice(["gelu", "silu", "tanh", "generic"])
    arg = ("@", g.param((h, n)), g.input((n,)))
    if g.coin(40):
        arg = ("+", arg, g.param((h,)))
    g.lets.append(("act", ("fn", f1, arg)))
    terms = []
    for _ in range(g.size(1, 3)):
        kind = g.choice(["let", "again", "other", "both", "nested", "product"])
        value = {"let": ("let", "act"), "again": ("fn", f1, arg), "other": ("fn", f2, arg),
                 "both": ("+", ("fn", "gelu", arg), ("fn", "silu", arg)),
                 "product": ("*", ("fn", "gelu", arg), ("fn", "silu", arg))}.get(kind)
        if kind == "nested":
            value = ("fn", f2, ("@", g.param((h, h)), ("let", "act")))
        terms.append(("@", g.param((m, h)), value))
    return g.program([_sum(terms)], _some_flow(g))


def _norm_of(g, e, kind, eps=None):
    return ("norm", kind, e, g.choice([Fraction(0), Fraction(1, 7), Fraction(g.size(1, 9), g.size(2, 30))])
            if eps is None else eps, 1)


def fam_norm(g):
    """layernorm/rmsnorm of W @ x (groups of 3, now and then 2: refused, a square
    variance), batchnorm of X @ W.T (X [B, k], B = 3); readouts v @ ., sum(g * . + b);
    two normalizations side by side; eps 0, 1/7 or a small rational. Kept at D <= 6:
    the reference's exact Lie rank in QQ(s_1, ..., s_m) grows fast with D and depth."""
    kind = g.choice(["layernorm", "rmsnorm", "batchnorm"])
    g.budget = 6
    if kind == "batchnorm":
        c, k = g.size(1, 2), g.size(1, 2 if g.coin(70) else 3)
        X = g.input((g.choice([3, 3, 2]), k))
        out = _norm_of(g, ("@", X, ("T", g.param((c, k)))), kind)
        pick = g.choice(["itself", "sum", "matrix"])
        if pick == "sum":
            return g.program([("sum", ("*", g.input((1, c)), out))])
        return g.program([out if pick == "itself" else ("@", out, g.param((c,)))])
    n = g.choice([3, 3, 3, 2]) if kind == "layernorm" else g.choice([2, 3])
    k = g.choice([1, 2])
    x = g.input((k,))
    value = _norm_of(g, ("@", g.param((n, k)), x), kind)
    pick = g.choice(["v", "affine", "two", "plain"])
    if pick == "v":
        out = ("@", g.param((n,)), value)
    elif pick == "affine":
        out = ("sum", ("+", ("*", g.input((n,)), value), g.param((n,))))
    elif pick == "two":
        other = _norm_of(g, ("@", g.param((n, k)), x), g.choice(["layernorm", "rmsnorm"]))
        out = ("@", g.input((n,)), ("+", value, other))
    else:
        out = ("@", g.input((n,)), value)
    return g.program([out])


BUILDERS = {name: globals()["fam_" + name] for name in FAMILIES}
# the normalization family has its own count: the reference's exact rank over
# QQ(s_1, ..., s_m) costs about a second a program
NORM = settings(DIFF, max_examples=int(os.environ.get("CONSLAW_NORM_EXAMPLES", "16")))


def _terms(h):
    return {tuple(e): Fraction(int(c.p), int(c.q)) for e, c in h.to_dict().items()}


def _compare(model, reference, seed, source):
    """N, every law, and the independent count of one (region) model against the reference."""
    count = model.count_laws(seed=seed)
    assert count.laws == reference.N, (f"N: engine {count.laws}, reference {reference.N}"
                                       f"\n{source}")
    result = model.laws(2, seed=seed)
    D = len(reference.names)
    assert len(result.names) == reference.dim, source
    names = result.names[1:D + 1] if reference.dim != D else result.names
    for j, (name, expected) in enumerate(zip(names, reference.names)):
        assert j in reference.lone or name == expected, f"{names} != {reference.names}\n{source}"
    laws = [reference.law(_terms(h)) for h in result.laws]
    for h, shown in zip(laws, result.strings()):
        assert reference.conserved(h), f"not conserved: {shown}\n{source}"
    assert result.independent <= reference.N, source
    assert reference.independent(laws) <= reference.N, source


def _match(candidates: dict) -> bool:
    """Is there a matching of every engine region to a distinct reference region?"""
    owner = {}

    def augment(i, seen):
        for j in candidates[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False
    return all(augment(i, set()) for i in candidates)


class Unintended(Exception):
    """The reference classifies a program otherwise than its family meant (a generated
    argument lost its data, as in x - x): such programs are skipped, not judged."""


def check_program(program: Program, seed: int, expect: str):
    """Judge the engine on one program; ``expect`` is 'counted', 'regions' or 'refused'
    (None: whichever the reference finds)."""
    source = text(program)
    try:
        expected = regions(program, seed=seed)
        kind = "regions" if len(expected) > 1 or expected[0].choices else "counted"
    except Refused:
        kind = "refused"
    if expect is not None and kind != expect:
        raise Unintended(f"{kind}, not {expect}:\n{source}")
    if kind == "refused":
        with pytest.raises(ca.ConslawError):
            ca.parse(source).count_laws(seed=seed)
        return
    model = ca.parse(source)
    if kind == "counted":
        _compare(model, expected[0], seed, source)
        assert model.sign_regions == (), source
        return
    found = model.sign_regions
    assert len(found) == len(expected), f"{len(found)} regions, reference {len(expected)}\n{source}"
    with pytest.raises(ca.UnsupportedError):
        model.count_laws(seed=seed)
    descriptions = [r.description for r in found]
    assert all(isinstance(d, str) and d for d in descriptions) and len(set(descriptions)) == len(found)
    candidates = {}
    for i, region in enumerate(found):
        n = region.model.count_laws(seed=seed).laws
        laws = region.model.laws(2, seed=seed)
        assert laws.independent <= n
        candidates[i] = [j for j, ref in enumerate(expected) if ref.N == n and all(
            ref.conserved(ref.law(_terms(h))) for h in laws.laws)]
    assert _match(candidates), (f"regions do not match: engine {candidates}, reference "
                                f"{[(r.description, r.N) for r in expected]}\n{source}")


@pytest.mark.parametrize("family", FAMILIES)
@DIFF
@given(data=st.data())
def test_engine_agrees_with_reference(family, data):
    program = BUILDERS[family](Gen(data))
    seed = data.draw(st.integers(0, 2**16), label="seed")
    note(text(program))
    try:
        check_program(program, seed, None if family in ANY_KIND else {
            "regions": "regions", "refused": "refused"}.get(family, "counted"))
    except Unintended:
        assume(False)


@NORM
@given(data=st.data())
def test_normalization_agrees_with_reference(data):
    """The family ``norm`` (layernorm, rmsnorm, batchnorm), judged on whatever the
    reference finds: counted, or refused (a group of two entries without eps)."""
    program = fam_norm(Gen(data))
    seed = data.draw(st.integers(0, 2**16), label="seed")
    note(text(program))
    check_program(program, seed, None)


# ---------------------------------------------------------------- hand-written cases
def _program(source_params, inputs, output, flow=Flow()):
    return Program(params=source_params, inputs=inputs, outputs=[output], flow=flow)


def _count(src, seed=0):
    return ca.parse(src).count_laws(seed=seed).laws


def test_tanh_of_a_lone_parameter_b_tanh_a_x():
    """psi = b tanh(a) (one feature, nonzero gradient): rank 1, N = 2 - 1 = 1. The law
    b^2 - sinh(a)^2: d/da = -2 sinh a cosh a, d/db = 2b; <grad h, grad psi> =
    -2 sinh a cosh a * b sech^2 a + 2b tanh a = 0."""
    program = _program([("a", ()), ("b", ())], [("x", ())],
                       ("*", ("*", P("b"), ("fn", "tanh", P("a"))), I("x")))
    [reference] = regions(program)
    assert reference.N == 1
    a, b = sympy.symbols("a b")
    psi, h = b * sympy.tanh(a), b**2 - sympy.sinh(a)**2
    assert sympy.simplify(sympy.diff(h, a) * sympy.diff(psi, a) + sympy.diff(h, b) * sympy.diff(psi, b)) == 0
    model = ca.parse(text(program))
    assert model.count_laws(seed=0).laws == 1
    for law in model.laws(2).laws:   # in u = tanh(a), checked in a by the reference
        assert reference.conserved(reference.law(_terms(law)))


def test_residual_relu_block_scaled_by_tanh():
    """x + tanh(alpha) (W2 relu(W1 x)), W1, W2 2x2: D = 9. Features u W2[i,k] W1[k,j]
    (u = tanh alpha): per hidden unit k the 2x2 rank-one block u W2[:,k] W1[k,:] (3
    dimensions), so the generators span 6 and N <= 9 - 6 = 3; three independent laws
    exist: |W1[k,:]|^2 - |W2[:,k]|^2 (k = 0, 1) and sinh(alpha)^2 - |W2|^2. So N = 3."""
    program = Program(params=[("alpha", ()), ("W1", (2, 2)), ("W2", (2, 2))], inputs=[("x", (2,))],
                      outputs=[("+", I("x"), ("*", ("fn", "tanh", P("alpha")), ("@", P("W2"), (
                          "fn", "relu", ("@", P("W1"), I("x"))))))])
    assert text(program).endswith("output (x + (tanh(alpha) * (W2 @ relu((W1 @ x)))))")
    [reference] = regions(program)
    assert reference.N == 3
    check_program(program, 0, expect="counted")


def test_sigmoid_of_a_lone_gain():
    """sigmoid(g) (W x), W 2x2: features u W[i,j] (u = sigmoid g) span 4 of D = 5; the
    law 2 g + 2 e^g - |W|^2 (its gradient field (1 + e^g, -W) = (sigma/sigma', -W) fixes
    u W) gives N >= 1, so N = 1; it is not polynomial in u."""
    program = Program(params=[("g", ()), ("W", (2, 2))], inputs=[("x", (2,))],
                      outputs=[("*", ("fn", "sigmoid", P("g")), ("@", P("W"), I("x")))])
    [reference] = regions(program)
    assert reference.N == 1
    check_program(program, 0, expect="counted")


def test_relu_of_a_parameter_gives_two_regions():
    """(a + relu(b)) c x. b > 0: psi = (a + b) c, N = 3 - 1 = 2 (laws a - b and
    (a + b)^2 - 2 c^2). b < 0: psi = a c, N = 2 (laws b and a^2 - c^2)."""
    program = Program(params=[("a", ()), ("b", ()), ("c", ())], inputs=[("x", ())],
                      outputs=[("*", ("*", ("+", P("a"), ("fn", "relu", P("b"))), P("c")), I("x"))])
    expected = regions(program)
    assert sorted(r.N for r in expected) == [2, 2]
    on = next(r for r in expected if r.description.endswith("> 0"))
    assert on.conserved(on.law({(1, 0, 0): 1, (0, 1, 0): -1}))        # a - b
    assert on.conserved(on.law({(2, 0, 0): 1, (1, 1, 0): 2, (0, 2, 0): 1, (0, 0, 2): -2}))
    check_program(program, 0, expect="regions")


def test_one_relu_call_written_twice_is_one_gate_vector():
    """W2 relu(W1 x) + W3 relu(W1 x) = (W2 + W3) relu(W1 x) (same gates), x[2], W1 2x2,
    W2, W3 1x2: D = 8, features (W2 + W3)[0,k] W1[k,j]: two rank-one 1x2 blocks (4
    dimensions); laws W2[0,k] - W3[0,k] and |W1[k,:]|^2 - W2[0,k]^2 - W3[0,k]^2
    (k = 0, 1): N = 4. With two independent gate vectors it would be 8 - 6 = 2."""
    params = [("W1", (2, 2)), ("W2", (1, 2)), ("W3", (1, 2))]
    gate = ("fn", "relu", ("@", P("W1"), I("x")))
    twice = Program(params=params, inputs=[("x", (2,))],
                    outputs=[("+", ("@", P("W2"), gate), ("@", P("W3"), gate))])
    summed = Program(params=params, inputs=[("x", (2,))],
                     outputs=[("@", ("+", P("W2"), P("W3")), gate)])
    assert regions(twice)[0].N == regions(summed)[0].N == 4
    check_program(twice, 0, expect="counted")
    check_program(summed, 0, expect="counted")


def test_maxpool_of_size_one_is_the_identity():
    """W2 maxpool(W1 x, size=1) = W2 W1 x, x[2], W1 3x2, W2 2x3: the deep linear net
    [2, 3, 2] (r = 3 <= n + m = 4): N = r (r + 1) / 2 = 6 (THEORY.md E.1)."""
    program = Program(params=[("W1", (3, 2)), ("W2", (2, 3))], inputs=[("x", (2,))],
                      outputs=[("@", P("W2"), ("maxpool", ("@", P("W1"), I("x")), 1))])
    assert regions(program)[0].N == 6
    assert _count("layers 2 -> 3 -> 2") == 6
    check_program(program, 0, expect="counted")


@pytest.mark.parametrize("seed", range(4))
def test_a_coefficient_equal_to_one_modulo_the_prime(seed):
    """(a + b) x + (a + 2147483648 b) y: features a + b and a + 2^31 b have gradients
    (1, 1) and (1, 2^31), independent over QQ: N = 0 for every seed (2^31 = 1 modulo
    2^31 - 1, so a count modulo that prime alone would say 1)."""
    program = Program(params=[("a", ()), ("b", ())], inputs=[("x", ()), ("y", ())], outputs=[
        ("+", ("*", ("+", P("a"), P("b")), I("x")),
         ("*", ("+", P("a"), ("*", num(2147483648), P("b"))), I("y")))])
    assert regions(program, seed=seed)[0].N == 0
    check_program(program, seed, expect="counted")


def test_a_coefficient_that_is_the_inverse_of_the_prime():
    """1/2147483647 a b x: one feature a b / p with gradient (b, a) / p: N = 2 - 1 = 1."""
    program = Program(params=[("a", ()), ("b", ())], inputs=[("x", ())], outputs=[
        ("*", ("*", ("*", num(Fraction(1, 2147483647)), P("a")), P("b")), I("x"))])
    assert regions(program)[0].N == 1
    check_program(program, 0, expect="counted")


def test_a_window_of_one_repeated_parameter_entry_is_no_region():
    """sum(maxpool(cat(a, a), size=2)) b x, a [1]: the window (a0, a0) has the maximum
    a0 whatever the signs, so the model is a0 b x everywhere: no sign regions, one
    feature a0 b, N = 2 - 1 = 1 (the law a0^2 - b^2). Choosing 'which of two equal
    entries is larger' would give regions with the condition 0 > 0, empty."""
    program = Program(params=[("a", (1,)), ("b", ())], inputs=[("x", ())], outputs=[
        ("*", ("*", ("sum", ("maxpool", ("cat", 0, P("a"), P("a")), 2)), P("b")), I("x"))])
    [reference] = regions(program)
    assert reference.N == 1 and not reference.choices
    assert reference.conserved(reference.law({(2, 0): 1, (0, 2): -1}))
    check_program(program, 0, expect="counted")


def test_padded_border_entries_share_one_sign_site():
    """relu(conv1d(W, x, padding=1) + b) with W [1,1,1], x [1,2]: the entries are
    relu(b), relu(W x0 + b), relu(W x1 + b), relu(b); the two borders hold no data and
    are one site, b > 0 or b < 0: two regions, each described by one condition. Then
    maxpool2d over the zero-padded border windows (b, b, b, b) is b (no further region)."""
    conv = ("+", ("conv1d", P("W"), I("x"), (("padding", 1),)), P("b"))
    program = Program(params=[("W", (1, 1, 1)), ("b", (1, 1)), ("c", ())], inputs=[("x", (1, 2))],
                      outputs=[("*", P("c"), ("sum", ("fn", "relu", conv)))])
    assert len(regions(program)) == 2
    check_program(program, 0, expect="regions")
    for region in ca.parse(text(program)).sign_regions:
        assert region.description.count(">") == 1, region.description
    pooled = Program(params=[("W", (1, 2, 1, 1)), ("b", (1, 1, 1))], inputs=[("X", (2, 2, 1))],
                     outputs=[("maxpool2d", ("fn", "relu", ("+", ("conv2d", P("W"), I("X"), (
                         ("padding", 2),)), P("b"))), 2, 1)])
    assert len(regions(pooled)) == 2
    check_program(pooled, 0, expect="regions")
