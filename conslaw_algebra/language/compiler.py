"""AST -> Program: names, shapes, data symbols, and the order of evaluation.

Let-bindings may appear in any order; their dependency graph is a networkx DiGraph,
evaluated in topological order, and a cycle is reported at one of its bindings. Every
expression is shape-checked here, once, so the evaluators never see a bad shape.
ReLU units become gate data symbols (``relu(e)_j = g_j * e_j``); a generic function
becomes fresh data symbols, and its argument becomes a feature carrier.

>>> from conslaw_algebra.language.parser import parse
>>> prog, info = compile_program(parse("param a, b\\noutput a * b"))
>>> [p.name for p in prog.params], prog.num_params
(['a', 'b'], 2)
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod
from pathlib import Path

from . import parser as dsl
from ..errors import BudgetError, ConslawError, ModelNameError, ShapeError, UnsupportedError
from .program import Node, Program, TensorInfo

GENERIC_FUNCTIONS = ("generic", "softmax", "sigmoid", "tanh")
FUNCTIONS = ("relu", "sum", "maxpool", "conv1d", "conv2d", "attention") + GENERIC_FUNCTIONS
MAX_LOWERED_NODES = 2_000_000   # convolutions and max-pooling are lowered to scalar entries
SIGNATURES = {"conv1d": (2, ()), "conv2d": (2, ()), "attention": (5, ("heads",)),
              "maxpool": (1, ("size",))}   # function: (positional arguments, options)


@dataclass(frozen=True)
class FlowSpec:
    """The training dynamics.

    ``kind`` 'gradient' (theta' = -M grad E) or 'momentum'
    (theta'' + tau theta' = -M grad E, with ``nesterov`` meaning tau = 3/t);
    ``mirror`` names the parameters with the mirror (entropy) geometry: M = diag(theta)
    there, identity elsewhere (with momentum: diag(tau theta + theta')).

    >>> FlowSpec("momentum", tau=Fraction(1), mirror=("U",)).describe()
    'heavy-ball momentum, tau = 1, mirror on U'
    """

    kind: str = "gradient"
    mirror: tuple[str, ...] = ()
    tau: Fraction = Fraction(0)
    nesterov: bool = False

    def describe(self) -> str:
        if self.kind == "gradient":
            text = "gradient flow"
        elif self.nesterov:
            text = "Nesterov momentum, tau = 3/t"
        elif self.tau:
            text = f"heavy-ball momentum, tau = {self.tau}"
        else:
            text = "momentum, tau = 0"
        if self.mirror:
            return text + ", mirror on " + ", ".join(self.mirror)
        return text + (" (Euclidean)" if self.kind == "gradient" else "")


@dataclass(frozen=True)
class ModelHeader:
    """What the file says about itself besides the computation."""

    name: str
    flow: FlowSpec


def _err(cls, message, pos, source):
    return cls(message, file=source, line=pos.line if pos else None,
               column=pos.column if pos else None)


def _expand_layers(stmt: dsl.LayersStmt, source: str | None) -> tuple[list[dsl.Decl], list[dsl.Decl], dsl.Expr]:
    """`layers n0 -> n1 [relu] [bias] -> ...` as declarations and one output."""
    pos = stmt.pos
    inputs = [dsl.Decl("x", (stmt.input_width,), pos)]
    params: list[dsl.Decl] = []
    value: dsl.Expr = dsl.Name("x", pos)
    previous = stmt.input_width
    for layer, step in enumerate(stmt.steps, start=1):
        unknown = [o for o in step.options if o not in ("relu", "bias")]
        if unknown:
            raise _err(ModelNameError, f"unknown layer option '{unknown[0]}' (use relu, bias)",
                       step.pos, source)
        params.append(dsl.Decl(f"W{layer}", (step.width, previous), step.pos))
        value = dsl.BinOp("@", dsl.Name(f"W{layer}", step.pos), value, step.pos)
        if "bias" in step.options:
            params.append(dsl.Decl(f"b{layer}", (step.width,), step.pos))
            value = dsl.BinOp("+", value, dsl.Name(f"b{layer}", step.pos), step.pos)
        if "relu" in step.options:
            value = dsl.Call("relu", (value,), (), step.pos)
        previous = step.width
    return inputs, params, value


class _Compiler:
    def __init__(self, program: dsl.Program):
        self.source = program.source_name
        self.prog = Program()
        self.symbols: dict[str, tuple[str, object, dsl.Pos]] = {}  # name -> (kind, payload, pos)
        self.let_nodes: dict[str, int] = {}
        self.gate_sites = 0
        self._entries: dict[tuple[int, tuple], int] = {}
        self.mirror_options: list[dsl.FlowOption] = []
        self.generic_sites = 0
        self.statements = program.statements

    def error(self, cls, message, pos):
        return _err(cls, message, pos, self.source)

    # ------------------------------------------------------------ declarations
    def declare(self, name: str, kind: str, payload, pos: dsl.Pos):
        if name in self.symbols:
            first = self.symbols[name][2]
            raise self.error(ModelNameError, f"'{name}' is already declared at line {first.line}", pos)
        if name in FUNCTIONS:
            raise self.error(ModelNameError, f"'{name}' is a function name and cannot be declared", pos)
        self.symbols[name] = (kind, payload, pos)

    def run(self) -> tuple[Program, ModelHeader]:
        name = Path(self.source).stem if self.source else "model"
        flow = FlowSpec()
        layers = [s for s in self.statements if isinstance(s, dsl.LayersStmt)]
        if len(layers) > 1:
            raise self.error(ModelNameError, "only one 'layers' line is allowed", layers[1].pos)
        outputs: list[dsl.OutputStmt] = []
        lets: list[dsl.LetStmt] = []
        metrics: list[dsl.MetricStmt] = []
        for stmt in self.statements:
            if isinstance(stmt, dsl.ModelStmt):
                name = stmt.name
            elif isinstance(stmt, dsl.FlowStmt):
                flow = self.flow(stmt)
            elif isinstance(stmt, (dsl.ParamStmt, dsl.InputStmt)):
                if layers:
                    raise self.error(ModelNameError, "a file with 'layers' may not also declare "
                                     f"'{'param' if isinstance(stmt, dsl.ParamStmt) else 'input'}'",
                                     stmt.pos)
                for decl in stmt.decls:
                    self.declare_tensor(decl, "param" if isinstance(stmt, dsl.ParamStmt) else "input")
            elif isinstance(stmt, dsl.OutputStmt):
                if layers:
                    raise self.error(ModelNameError, "a file with 'layers' may not also declare "
                                     "'output'", stmt.pos)
                outputs.append(stmt)
            elif isinstance(stmt, dsl.LetStmt):
                lets.append(stmt)
            elif isinstance(stmt, dsl.MetricStmt):
                metrics.append(stmt)
        if layers:
            inputs, params, value = _expand_layers(layers[0], self.source)
            for decl in inputs:
                self.declare_tensor(decl, "input")
            for decl in params:
                self.declare_tensor(decl, "param")
            outputs.append(dsl.OutputStmt(value, layers[0].pos))
        for let in lets:
            self.declare(let.name, "let", let, let.pos)
        self.check_mirror_names()
        if not outputs:
            raise _err(ModelNameError, "the model has no 'output' line", None, self.source)
        if not self.prog.params:
            raise _err(ModelNameError, "the model has no parameters ('param' line)", None, self.source)
        self.check_let_cycles(lets)
        for number, out in enumerate(outputs, start=1):
            node = self.expr(out.value)
            self.prog.outputs.append(node)
            self.prog.carriers.append((node, f"output {number}"))
        for metric in metrics:
            self.metric(metric, flow)
        return self.prog, ModelHeader(name, flow)

    def metric(self, stmt: dsl.MetricStmt, flow: FlowSpec):
        kind, payload, _ = self.symbols.get(stmt.name, (None, None, None))
        if kind != "param":
            raise self.error(ModelNameError, f"'metric {stmt.name}': not a parameter", stmt.pos)
        index = self.prog.nodes[payload].attr
        if index in self.prog.metrics:
            raise self.error(ModelNameError, f"'{stmt.name}' has two metric lines", stmt.pos)
        if stmt.name in flow.mirror:
            raise self.error(ModelNameError, f"'{stmt.name}' has both a mirror flow and a "
                             "metric line", stmt.pos)
        node = self.expr(stmt.value)
        shape = self.prog.nodes[node].shape
        if shape and shape != self.prog.params[index].shape:
            raise self.error(ShapeError, f"the metric of '{stmt.name}' must be a scalar or have "
                             f"its shape {_show(self.prog.params[index].shape)}, got {_show(shape)}",
                             stmt.pos)
        if self.prog.data_degrees()[node]:
            raise self.error(ModelNameError, "a metric may use parameters only, not data or gates",
                             stmt.pos)
        self.prog.metrics[index] = node

    def flow(self, stmt: dsl.FlowStmt) -> FlowSpec:
        if stmt.kind not in ("gradient", "momentum"):
            raise self.error(UnsupportedError, f"unknown flow '{stmt.kind}' (use gradient or "
                             "momentum)", stmt.pos)
        mirror: list[dsl.FlowOption] = []
        tau, nesterov, in_mirror = Fraction(0), False, False
        for option in stmt.options:
            key = option.key
            if key == "mirror" and option.value is None:
                in_mirror = True
            elif key == "tau" and stmt.kind == "momentum":
                if not isinstance(option.value, Fraction) or option.value < 0:
                    raise self.error(UnsupportedError, "tau must be a non-negative number, "
                                     "e.g. tau=1 or tau=1/2", option.pos)
                tau, in_mirror = option.value, False
            elif key == "nesterov" and stmt.kind == "momentum" and option.value is None:
                nesterov, in_mirror = True, False
            elif in_mirror and option.value is None:
                mirror.append(option)
            else:
                raise self.error(UnsupportedError, f"unknown option '{key}' of 'flow "
                                 f"{stmt.kind}' (options: mirror NAMES"
                                 + (", tau=T, nesterov" if stmt.kind == "momentum" else "") + ")",
                                 option.pos)
        if nesterov and tau:
            raise self.error(UnsupportedError, "give either tau=T or nesterov, not both", stmt.pos)
        self.mirror_options = mirror
        return FlowSpec(stmt.kind, tuple(o.key for o in mirror), tau, nesterov)

    def check_mirror_names(self):
        for option in self.mirror_options:
            if option.key not in self.symbols or self.symbols[option.key][0] != "param":
                raise self.error(ModelNameError, f"'mirror {option.key}': not a parameter",
                                 option.pos)

    def declare_tensor(self, decl: dsl.Decl, kind: str):
        if len(decl.shape) > 4:
            raise self.error(ShapeError, f"'{decl.name}' has {len(decl.shape)} dimensions; "
                             "at most 4 are supported", decl.pos)
        if kind == "param":
            info = TensorInfo(decl.name, decl.shape, "param", self.prog.num_params)
            self.prog.params.append(info)
            node = self.prog.add(Node("param", (), decl.shape, len(self.prog.params) - 1))
        else:
            node = self.data_node(decl.name, decl.shape, "input")
        self.declare(decl.name, kind, node, decl.pos)

    def data_node(self, name: str, shape: tuple[int, ...], kind: str) -> int:
        info = TensorInfo(name, shape, kind, self.prog.num_data)
        self.prog.data.append(info)
        return self.prog.add(Node("data", (), shape, len(self.prog.data) - 1))

    def check_let_cycles(self, lets: list[dsl.LetStmt]):
        if not lets:
            return
        import networkx as nx  # only files with let-bindings pay for loading it
        graph = nx.DiGraph()
        for let in lets:
            graph.add_node(let.name)
            for used in _names_in(let.value):
                if used.ident in self.symbols and self.symbols[used.ident][0] == "let":
                    graph.add_edge(let.name, used.ident)
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return
        names = [edge[0] for edge in cycle]
        let = self.symbols[names[0]][1]
        raise self.error(ModelNameError, "let-bindings form a cycle: "
                         + " -> ".join(names + [names[0]]), let.pos)

    # ------------------------------------------------------------- expressions
    def expr(self, e: dsl.Expr) -> int:
        method = getattr(self, "expr_" + type(e).__name__)
        return method(e)

    def shape(self, node: int) -> tuple[int, ...]:
        return self.prog.nodes[node].shape

    def expr_Name(self, e: dsl.Name) -> int:
        if e.ident not in self.symbols:
            hint = " (a function needs parentheses)" if e.ident in FUNCTIONS else ""
            raise self.error(ModelNameError, f"unknown name '{e.ident}'{hint}", e.pos)
        kind, payload, _ = self.symbols[e.ident]
        if kind != "let":
            return payload
        if e.ident not in self.let_nodes:
            self.let_nodes[e.ident] = self.expr(payload.value)
        return self.let_nodes[e.ident]

    def expr_Number(self, e: dsl.Number) -> int:
        return self.prog.add(Node("const", (), (), Fraction(e.value)))

    def expr_Neg(self, e: dsl.Neg) -> int:
        a = self.expr(e.operand)
        return self.prog.add(Node("neg", (a,), self.shape(a)))

    def expr_BinOp(self, e: dsl.BinOp) -> int:
        a, b = self.expr(e.left), self.expr(e.right)
        sa, sb = self.shape(a), self.shape(b)
        if e.op == "@":
            return self.prog.add(Node("matmul", (a, b), self.matmul_shape(sa, sb, e.pos)))
        op = {"+": "add", "-": "sub", "*": "mul"}[e.op]
        if sa == sb or not sa or not sb:
            return self.prog.add(Node(op, (a, b), sa or sb))
        raise self.error(ShapeError, f"'{e.op}' needs equal shapes or a scalar, got "
                         f"{_show(sa)} and {_show(sb)}", e.pos)

    def matmul_shape(self, sa, sb, pos):
        if not sa or not sb:
            raise self.error(ShapeError, "'@' needs vectors or matrices; use '*' with a scalar", pos)
        if len(sa) > 2 or len(sb) > 2:
            raise self.error(ShapeError, "'@' needs vectors or matrices, got "
                             f"{_show(sa)} @ {_show(sb)}", pos)
        inner_a = sa[-1]
        inner_b = sb[0]
        if inner_a != inner_b:
            raise self.error(ShapeError, f"'@' shapes do not match: {_show(sa)} @ {_show(sb)}", pos)
        return sa[:-1] + sb[1:]

    def expr_Pow(self, e: dsl.Pow) -> int:
        base = self.expr(e.base)
        if not isinstance(e.exponent, dsl.Number) or e.exponent.value.denominator != 1 \
                or e.exponent.value < 0:
            raise self.error(UnsupportedError, "'^' needs a non-negative integer exponent", e.pos)
        return self.prog.add(Node("pow", (base,), self.shape(base), int(e.exponent.value)))

    def expr_Transpose(self, e: dsl.Transpose) -> int:
        a = self.expr(e.operand)
        shape = self.shape(a)
        if len(shape) < 2:
            return a
        if len(shape) > 2:
            raise self.error(ShapeError, f"'.T' needs a matrix, got {_show(shape)}", e.pos)
        return self.prog.add(Node("transpose", (a,), shape[::-1]))

    def expr_Index(self, e: dsl.Index) -> int:
        a = self.expr(e.operand)
        shape = self.shape(a)
        if len(e.indices) != len(shape):
            raise self.error(ShapeError, f"indexing a {_show(shape)} tensor needs {len(shape)} "
                             f"indices, got {len(e.indices)}", e.pos)
        for i, n in zip(e.indices, shape):
            if not 0 <= i < n:
                raise self.error(ShapeError, f"index {i} is out of range for size {n} "
                                 "(indices are 0-based)", e.pos)
        return self.prog.add(Node("index", (a,), (), tuple(e.indices)))

    def expr_Call(self, e: dsl.Call) -> int:
        if e.function not in FUNCTIONS:
            raise self.error(ModelNameError, f"unknown function '{e.function}' (known: "
                             + ", ".join(FUNCTIONS) + ")", e.pos)
        arity, keywords = SIGNATURES.get(e.function, (1, ()))
        if len(e.arguments) != arity:
            raise self.error(ShapeError, f"{e.function}() takes {arity} argument"
                             f"{'s' if arity > 1 else ''}, got {len(e.arguments)}", e.pos)
        options = {}
        for name, value in e.keywords:
            if name not in keywords:
                raise self.error(ModelNameError, f"{e.function}() has no option '{name}'", e.pos)
            if not isinstance(value, dsl.Number) or value.value.denominator != 1 or value.value < 1:
                raise self.error(ShapeError, f"'{name}' must be a positive integer", e.pos)
            options[name] = int(value.value)
        if e.function in ("conv1d", "conv2d", "attention"):
            return getattr(self, "call_" + e.function)([self.expr(a) for a in e.arguments],
                                                       options, e.pos)
        arg = self.expr(e.argument)
        shape = self.shape(arg)
        if e.function == "sum":
            return self.prog.add(Node("sum", (arg,), ()))
        if e.function == "relu":
            self.gate_sites += 1
            gates = self.data_node(f"gate{self.gate_sites}", shape, "gate")
            self.prog.sources[len(self.prog.data) - 1] = ("relu", arg, None)
            return self.prog.add(Node("mul", (gates, arg), shape))
        if e.function == "maxpool":
            return self.call_maxpool(arg, options.get("size", 2), e.pos)
        return self.generic(arg, e.function, e.pos)

    def generic(self, arg: int, function: str, pos) -> int:
        self.generic_sites += 1
        self.prog.carriers.append((arg, f"argument of {function} (line {pos.line})"))
        node = self.data_node(f"{function}{self.generic_sites}", self.shape(arg), "generic")
        self.prog.sources[len(self.prog.data) - 1] = (function, arg, None)
        return node

    # -------------------------------------------- lowered to entries and stacks
    def entry(self, node: int, index: tuple[int, ...]) -> int:
        key = (node, index)
        if key not in self._entries:
            self._entries[key] = self.prog.add(Node("index", (node,), (), index))
        return self._entries[key]

    def total(self, terms: list[int]) -> int:
        out = terms[0]
        for t in terms[1:]:
            out = self.prog.add(Node("add", (out, t), ()))
        return out

    def check_lowering(self, scalars: int, function: str, pos):
        """Refuse, before building them, more scalar nodes than a Program should hold."""
        if len(self.prog.nodes) + scalars > MAX_LOWERED_NODES:
            raise self.error(BudgetError, f"{function} would be lowered to about {scalars:,} "
                             f"scalar operations (limit {MAX_LOWERED_NODES:,}); use smaller "
                             "tensors", pos)

    def product(self, a: int, b: int) -> int:
        return self.prog.add(Node("mul", (a, b), ()))

    def stack(self, scalars: list[int], shape: tuple[int, ...]) -> int:
        return self.prog.add(Node("stack", tuple(scalars), shape))

    def call_conv1d(self, args, options, pos) -> int:
        """conv1d(W[Co,Ci,K], x[Ci,L]) -> [Co, L-K+1]: stride 1, valid padding."""
        w, x = args
        sw, sx = self.shape(w), self.shape(x)
        if len(sw) != 3 or len(sx) != 2 or sw[1] != sx[0] or sx[1] < sw[2]:
            raise self.error(ShapeError, "conv1d(W, x) needs W [out, in, k] and x [in, length >= k],"
                             f" got {_show(sw)} and {_show(sx)}", pos)
        out, channels, k = sw
        length = sx[1] - k + 1
        self.check_lowering(3 * out * length * channels * k, "conv1d", pos)
        scalars = [self.total([self.product(self.entry(w, (o, c, j)), self.entry(x, (c, t + j)))
                               for c in range(channels) for j in range(k)])
                   for o in range(out) for t in range(length)]
        return self.stack(scalars, (out, length))

    def call_conv2d(self, args, options, pos) -> int:
        """conv2d(W[Co,Ci,kh,kw], X[Ci,H,W]) -> [Co, H-kh+1, W-kw+1]: stride 1, valid."""
        w, x = args
        sw, sx = self.shape(w), self.shape(x)
        if len(sw) != 4 or len(sx) != 3 or sw[1] != sx[0] or sx[1] < sw[2] or sx[2] < sw[3]:
            raise self.error(ShapeError, "conv2d(W, X) needs W [out, in, kh, kw] and X [in, h, w] "
                             f"with h >= kh, w >= kw, got {_show(sw)} and {_show(sx)}", pos)
        out, channels, kh, kw = sw
        rows, cols = sx[1] - kh + 1, sx[2] - kw + 1
        self.check_lowering(3 * out * rows * cols * channels * kh * kw, "conv2d", pos)
        scalars = [self.total([self.product(self.entry(w, (o, c, a, b)),
                                            self.entry(x, (c, r + a, q + b)))
                               for c in range(channels) for a in range(kh) for b in range(kw)])
                   for o in range(out) for r in range(rows) for q in range(cols)]
        return self.stack(scalars, (out, rows, cols))

    def call_maxpool(self, arg: int, size: int, pos) -> int:
        """maxpool(e, size=k): windows of k along the last axis; each output unit is
        sum_i s_i e_i with selection gates s_i (idempotent, like ReLU's)."""
        shape = self.shape(arg)
        if not shape or shape[-1] % size:
            raise self.error(ShapeError, f"maxpool(e, size={size}) needs a last dimension "
                             f"divisible by {size}, got {_show(shape)}", pos)
        units = shape[:-1] + (shape[-1] // size,)
        self.check_lowering(4 * prod(shape), "maxpool", pos)
        self.gate_sites += 1
        gates = self.data_node(f"pool{self.gate_sites}", units + (size,), "gate")
        self.prog.sources[len(self.prog.data) - 1] = ("maxpool", arg, size)
        scalars = []
        for flat in range(prod(units)):
            index = _unflatten(flat, units)
            lead, unit = index[:-1], index[-1]
            scalars.append(self.total([
                self.product(self.entry(gates, index + (i,)), self.entry(arg, lead + (unit * size + i,)))
                for i in range(size)]))
        return self.stack(scalars, units)

    def columns(self, node: int, start: int, stop: int) -> int:
        rows = self.shape(node)[0]
        return self.stack([self.entry(node, (r, c)) for r in range(rows) for c in range(start, stop)],
                          (rows, stop - start))

    def call_attention(self, args, options, pos) -> int:
        """attention(X, Q, K, V, O, heads=h): sum over heads i of
        softmax(X Q_i K_i^T X^T) X V_i O_i^T, Q_i the i-th block of columns of Q."""
        x, q, k, v, o = args
        shapes = [self.shape(a) for a in args]
        heads = options.get("heads", 1)
        sx, sq, sk, sv, so = shapes
        if (any(len(s) != 2 for s in shapes) or sq != sk or sq[0] != sx[1] or sv[0] != sx[1]
                or sv[1] != so[1] or sq[1] % heads or sv[1] % heads):
            raise self.error(ShapeError, "attention(X, Q, K, V, O) needs X [tokens, d], Q and K "
                             "[d, heads*k], V [d, heads*kv], O [out, heads*kv], got "
                             + ", ".join(_show(s) for s in shapes), pos)
        kq, kv = sq[1] // heads, sv[1] // heads
        if heads > 1:
            self.check_lowering(2 * (2 * prod(sq) + prod(sv) + prod(so)), "attention", pos)
        total = None
        for i in range(heads):
            qi, ki, vi, oi = ((q, k, v, o) if heads == 1 else
                              (self.columns(q, i * kq, (i + 1) * kq), self.columns(k, i * kq, (i + 1) * kq),
                               self.columns(v, i * kv, (i + 1) * kv), self.columns(o, i * kv, (i + 1) * kv)))
            scores = self.matmul(self.matmul(self.matmul(x, qi), self.transpose(ki)), self.transpose(x))
            weights = self.generic(scores, "softmax", pos)
            head = self.matmul(self.matmul(self.matmul(weights, x), vi), self.transpose(oi))
            total = head if total is None else self.prog.add(Node("add", (total, head), self.shape(head)))
        return total

    def matmul(self, a: int, b: int) -> int:
        return self.prog.add(Node("matmul", (a, b), self.shape(a)[:-1] + self.shape(b)[1:]))

    def transpose(self, a: int) -> int:
        return self.prog.add(Node("transpose", (a,), self.shape(a)[::-1]))


def _unflatten(flat: int, shape) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _names_in(e: dsl.Expr):
    if isinstance(e, dsl.Name):
        yield e
    for child in ("left", "right", "operand", "base"):
        sub = getattr(e, child, None)
        if sub is not None:
            yield from _names_in(sub)
    if isinstance(e, dsl.Call):
        for sub in e.arguments + tuple(value for _, value in e.keywords):
            yield from _names_in(sub)


def _show(shape) -> str:
    return "scalar" if not shape else "[" + ",".join(map(str, shape)) + "]"


def compile_program(program: dsl.Program) -> tuple[Program, ModelHeader]:
    """Check names and shapes and lower the AST to a :class:`Program`.

    >>> from conslaw_algebra.language.parser import parse
    >>> prog, header = compile_program(parse("layers 3 -> 2 relu -> 1", "net.net"))
    >>> header.name, prog.num_params, [d.kind for d in prog.data]
    ('net', 8, ['input', 'gate'])
    """
    return _Compiler(program).run()


def compile_expression(program: dsl.Program, text: str) -> tuple[Program, int]:
    """Compile a scalar expression in the model's parameters (for ``check``).

    Returns the model's Program extended by the expression, and the expression's node.
    Errors point into the expression, as file ``<expression>``.

    >>> from conslaw_algebra.language.parser import parse
    >>> prog, node = compile_expression(parse("param a, b\\noutput a*b"), "a^2 - b^2")
    >>> prog.nodes[node].op
    'sub'
    """
    prefix = "output "
    shift = len(prefix)

    def relocate(exc: ConslawError, pos: dsl.Pos | None = None) -> ConslawError:
        exc.file = "<expression>"
        if pos is not None:
            exc.line, exc.column = pos.line, pos.column
        if exc.line == 1 and exc.column is not None:
            exc.column = max(1, exc.column - shift)
        return exc

    try:
        statements = dsl.parse(prefix + text, "<expression>").statements
    except ConslawError as exc:
        raise relocate(exc) from None
    if len(statements) != 1 or not isinstance(statements[0], dsl.OutputStmt):
        raise relocate(ModelNameError("give one expression on one line"), dsl.Pos(1, shift + 1))
    value = statements[0].value
    compiler = _Compiler(program)
    prog, _ = compiler.run()
    compiler.source = "<expression>"
    try:
        node = compiler.expr(value)
    except ConslawError as exc:
        raise relocate(exc) from None
    if prog.nodes[node].shape:
        raise relocate(ShapeError("the expression must be a scalar; index entries like W[0,1] "
                                  "or use sum(...)"), value.pos)
    data_names = [n for n in _names_in(value)
                  if compiler.symbols.get(n.ident, ("",))[0] == "input"]
    if prog.data_degrees()[node]:
        where = data_names[0].pos if data_names else value.pos
        raise relocate(ModelNameError("the expression may use parameters only, not data or "
                                      "gates"), where)
    return prog, node
