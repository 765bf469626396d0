"""AST -> Program: names, shapes, data symbols, and the order of evaluation.

Let-bindings may appear in any order; their dependency graph is ordered topologically
(Kahn's algorithm, linear in the size of the bindings), and a cycle is reported at one
of its bindings. Every expression is shape-checked here, once, so the evaluators never
see a bad shape. The AST is walked with an explicit stack (``_Compiler.expr``: each
node is entered, its children compiled, then it is left), in the order a recursive
walk would take, so a model of any depth (5,000 nested signs, a 300-layer chain, 3,000
chained lets) compiles without recursion and to the same Program; its cost is one
entry and one exit per AST node, linear in the size of the text (where it stops winning:
nowhere in size, but each node is a Python call, about a microsecond).
A power's exponent must be a non-negative integer literal, and no node may reach the
degree ``MAX_DEGREE`` (beyond it the evaluators' integers overflow); how large a
power may be below that is the guards' business (the terms and degrees of the
expansion, ``guards.py``).
ReLU units become gate data symbols (``relu(e)_j = g_j * e_j``); a generic function
becomes fresh data symbols, and its argument becomes a feature carrier.
Convolutions (with stride, padding, dilation, groups, a batch axis), pooling windows,
``reshape``/``permute``/``cat`` and NumPy broadcasting are lowered here to scalar
entries (``index`` and ``stack`` nodes), so that every evaluator keeps its few tensor
operations; the price is one node per entry moved or product formed, bounded by
``MAX_LOWERED_NODES`` (a dedicated tensor operation would win beyond that size).

>>> from conslaw_algebra.language.parser import parse
>>> prog, info = compile_program(parse("param a, b\\noutput a * b"))
>>> [p.name for p in prog.params], prog.num_params
(['a', 'b'], 2)
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from pathlib import Path

import numpy as np

from . import parser as dsl
from ..errors import BudgetError, ConslawError, ModelNameError, ShapeError, UnsupportedError
from ..exact.sparse import Terms, flatten as _flatten, terms_key as _terms_key, unflatten as _unflatten
from .canonical import ArgumentOracle, Undecided
from .flowspec import FlowSpec
from .program import Node, Program, TensorInfo

GENERIC_FUNCTIONS = ("generic", "softmax", "sigmoid", "tanh", "gelu", "silu")
# f'(a)^2 in terms of u = f(a), for the smooth functions that can change a coordinate
COORDINATE_METRICS = {"tanh": "(1 - u^2)^2", "sigmoid": "(u (1 - u))^2"}
NORMALIZATIONS = ("layernorm", "rmsnorm", "batchnorm")
FUNCTIONS = (("relu", "sum", "maxpool", "conv1d", "conv2d", "attention", "maxpool2d", "avgpool",
              "avgpool2d", "reshape", "permute", "cat") + GENERIC_FUNCTIONS + NORMALIZATIONS)
MAX_LOWERED_NODES = 2_000_000   # convolutions and max-pooling are lowered to scalar entries
MAX_DEGREE = 2**31 - 2          # total degree of a node: beyond, exponents overflow int64 evaluators
_CONV = ("stride", "padding", "dilation", "groups")
_POOL = ("size", "stride")
# function: (positional arguments, options); None: one tensor then integer literals
# (reshape, permute) or two or more tensors (cat). ``eps`` is a rational literal >= 0,
# every other option an integer literal
SIGNATURES = {"conv1d": (2, _CONV), "conv2d": (2, _CONV), "attention": (5, ("heads",)),
              "maxpool": (1, _POOL), "maxpool2d": (1, _POOL), "avgpool": (1, _POOL),
              "avgpool2d": (1, _POOL), "reshape": (None, ()), "permute": (None, ()),
              "cat": (None, ("axis",)), "layernorm": (1, ("eps", "axes")),
              "rmsnorm": (1, ("eps", "axes")), "batchnorm": (1, ("eps",))}
ZERO_ALLOWED = ("padding", "axis")   # options that may be 0 (the others are positive)
TENSOR_CALLS = ("conv1d", "conv2d", "attention", "cat")   # every positional argument a tensor


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


class NeedChoice(Exception):
    """A parameter-only ReLU or max-pool argument: which sign region? (see compile_variants)"""

    def __init__(self, key, options):
        super().__init__(key)
        self.key, self.options = key, options


class _Compiler:
    def __init__(self, program: dsl.Program, choices: dict | None = None,
                 coordinates: dict | None = None, discover: bool = False):
        self.source = program.source_name
        self.prog = Program()
        self.symbols: dict[str, tuple[str, object, dsl.Pos]] = {}  # name -> (kind, payload, pos)
        self.let_nodes: dict[str, int] = {}
        self.gate_sites = 0
        self._entries: dict[tuple[int, tuple], int] = {}
        self.mirror_options: list[dsl.FlowOption] = []
        self.generic_sites = 0
        self.norm_sites = 0
        self.statements = program.statements
        # one call, one value (DSL.md section 2)
        self.choices = choices or {}          # region site -> chosen option
        self.coordinates = coordinates or {}  # param index -> 'tanh' | 'sigmoid'
        self.discover = discover              # first pass: choose freely, collect candidates
        self.candidates: dict[int, list] = {}  # param index -> [(function, pos)]
        self.conditions: list[tuple] = []     # the sign conditions of the chosen region
        self.conditioned: set = set()         # the sites whose conditions are listed
        self.open_choices = False             # a choice was made freely (discovery only)
        self.calls: dict[tuple, list] = {}    # (function, keys) -> [(origins, symbol)]
        self.key_kinds: dict[str, set] = {}   # function -> kinds of keys seen (0/1 gates or not)
        self._oracle = None
        self.extra_expressions: tuple = ()   # a check expression compiled after the model
        self._degrees: list[int] = []         # total degree of each node (``degree``)

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
        first: dict[type, dsl.Statement] = {}
        for stmt in self.statements:
            if isinstance(stmt, (dsl.ModelStmt, dsl.FlowStmt)):
                word = "model" if isinstance(stmt, dsl.ModelStmt) else "flow"
                if type(stmt) in first:
                    raise self.error(ModelNameError, f"a second '{word}' line (the first is at "
                                     f"line {first[type(stmt)].pos.line}); a file has at most one: "
                                     "remove one of them", stmt.pos)
                first[type(stmt)] = stmt
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
        for index, function in self.coordinates.items():
            self.prog.metrics[index] = self.coordinate_metric(index, function)
        if self.prog.normalizations and (flow.kind != "gradient" or flow.mirror
                                         or self.prog.metrics):
            function, line, column = next(iter(self.prog.normalizations.values()))
            raise self.error(UnsupportedError, f"{function}(): normalization layers are "
                             "supported under Euclidean gradient flow only (no momentum, "
                             "mirror or metric)", dsl.Pos(line, column))
        return self.prog, ModelHeader(name, flow)

    def checked_coordinates(self, header: ModelHeader) -> dict:
        """The smooth functions of a lone parameter that are changes of coordinates:
        {param index: function}; any other use of such a parameter is refused."""
        found = {}
        nodes = self.prog.nodes
        for index, calls in self.candidates.items():
            function, pos = calls[0]
            info = self.prog.params[index]
            about = f"{function}({info.name})"
            if any(f != function for f, _ in calls):
                raise self.error(UnsupportedError, f"'{info.name}' is the argument of two "
                                 "different smooth functions; a parameter alone is supported "
                                 "under one function only (a change of coordinates)", pos)
            if header.flow.kind != "gradient" or info.name in header.flow.mirror \
                    or index in self.prog.metrics:
                raise self.error(UnsupportedError, f"{about} of a parameter alone is a change "
                                 "of coordinates, supported under Euclidean gradient flow only "
                                 "(not with momentum, a metric or a mirror on it)", pos)
            node = next(i for i, n in enumerate(nodes) if n.op == "param" and n.attr == index)
            used = (any(node in n.args for n in nodes) or any(c == node for c, _ in self.prog.carriers)
                    or node in self.prog.metrics.values())
            if used:
                raise self.error(UnsupportedError, f"{about}: '{info.name}' is also used outside "
                                 f"{function}(); a smooth function of parameters is supported "
                                 "only as a change of coordinates, of one parameter that enters "
                                 "the model through it alone", pos)
            found[index] = function
        return found

    def coordinate_metric(self, index: int, function: str) -> int:
        """f'(a)^2 as a polynomial in u = f(a): (1 - u^2)^2 for tanh, (u (1 - u))^2 for
        sigmoid; the gradient flow in a is the flow u' = -f'(a)^2 dE/du in u."""
        u = self.prog.add(Node("param", (), self.prog.params[index].shape, index))
        shape = self.shape(u)
        one = self.prog.add(Node("const", (), (), Fraction(1)))
        if function == "tanh":
            square = self.prog.add(Node("pow", (u,), shape, 2))
            base = self.prog.add(Node("sub", (one, square), shape))
        else:
            base = self.prog.add(Node("mul", (u, self.prog.add(Node("sub", (one, u), shape))), shape))
        return self.prog.add(Node("pow", (base,), shape, 2))

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
        self.check_metric_values(stmt, node, index)
        self.prog.metrics[index] = node

    def check_metric_values(self, stmt: dsl.MetricStmt, node: int, index: int):
        """A metric is a nonzero polynomial, positive at a random point with entries in
        1..9 (seed 0): exact, on the argument oracle's polynomials."""
        facts = self.facts(node, "metric", stmt.pos)
        info = self.prog.params[index]
        names = info.entry_names() if self.prog.nodes[node].shape else [info.name]
        point = _metric_point(self.prog.num_params)
        for flat, fact in enumerate(facts):
            what = f"the metric of '{stmt.name}'" + (f" at {names[flat]}" if len(facts) > 1 else "")
            if not fact.polynomial:
                raise self.error(ModelNameError, f"{what} is zero; a metric must be a nonzero "
                                 "polynomial, positive where the flow runs (e.g. 1, 2, or the "
                                 f"parameter itself: metric {stmt.name} = {stmt.name})", stmt.pos)
            value = sum(c * prod(point[v] for v in m) for m, c in fact.polynomial.items())
            if value <= 0:
                shown = ", ".join(f"{self.entry_name(v)} = {point[v]}" for v in
                                  sorted({v for m in fact.polynomial for v in m})[:6])
                where = f" at the random point {shown} (seed 0)" if shown else ""
                raise self.error(ModelNameError, f"{what} is {value}{where}; a metric must be "
                                 "positive (M(theta) is a positive diagonal): write a positive "
                                 "polynomial such as 1 + a^2", stmt.pos)

    def entry_name(self, variable: int) -> str:
        """The text name of parameter entry ``variable`` (theta's index)."""
        for info in self.prog.params:
            if info.offset <= variable < info.offset + info.size:
                return info.entry_names()[variable - info.offset]
        return f"t{variable}"

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
        if not mirror and any(o.key == "mirror" and o.value is None for o in stmt.options):
            raise self.error(UnsupportedError, "'mirror' needs the names of the parameters it "
                             f"applies to, e.g. 'flow {stmt.kind} mirror W1, W2'", stmt.pos)
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
            info = TensorInfo(decl.name, decl.shape, "param", self.prog.num_params,
                              coordinate=self.coordinates.get(len(self.prog.params)))
            self.prog.params.append(info)
            node = self.prog.add(Node("param", (), decl.shape, len(self.prog.params) - 1))
        else:
            node = self.data_node(decl.name, decl.shape, "input",
                                  window=decl.shape[-1] if decl.onehot else 0)
        self.declare(decl.name, kind, node, decl.pos)

    def data_node(self, name: str, shape: tuple[int, ...], kind: str, window: int = 0) -> int:
        info = TensorInfo(name, shape, kind, self.prog.num_data, window=window)
        self.prog.data.append(info)
        return self.prog.add(Node("data", (), shape, len(self.prog.data) - 1))

    def check_let_cycles(self, lets: list[dsl.LetStmt]):
        """Kahn's algorithm: a binding is settled once every binding it uses is; the
        unsettled ones use one another, and following their uses finds a cycle. Linear in
        the number of bindings and of their names."""
        uses: dict[str, list[str]] = {}
        for let in lets:
            uses[let.name] = [u.ident for u in _names_in(let.value)
                              if self.symbols.get(u.ident, ("",))[0] == "let"]
        users: dict[str, list[str]] = {let.name: [] for let in lets}
        waiting = {}
        for name, used in uses.items():
            waiting[name] = len(used)
            for u in used:
                users[u].append(name)
        ready = [name for name, count in waiting.items() if count == 0]
        while ready:
            for user in users[ready.pop()]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
        open_ = [let.name for let in lets if waiting[let.name]]
        if not open_:
            return
        path, seen, current = [], {}, open_[0]
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            current = next(u for u in uses[current] if waiting[u])
        names = path[seen[current]:]
        let = self.symbols[names[0]][1]
        raise self.error(ModelNameError, "let-bindings form a cycle: "
                         + " -> ".join(names + [names[0]]), let.pos)

    # ------------------------------------------------------------- expressions
    def expr(self, e: dsl.Expr) -> int:
        """Compile an expression to its node, without recursion: each AST node is
        entered (``enter_*``: a node index for a leaf, else the children to compile
        first, in order), then left with its children's nodes (``leave_*``). The
        order of work is that of a recursive walk, so the Program is the same."""
        results: list[int] = []
        stack: list[tuple[dsl.Expr, int | None]] = [(e, None)]
        while stack:
            item, arity = stack.pop()
            kind = type(item).__name__
            if arity is None:
                entered = getattr(self, "enter_" + kind)(item)
                if isinstance(entered, int):
                    results.append(entered)
                    continue
                stack.append((item, len(entered)))
                stack.extend((child, None) for child in reversed(entered))
                continue
            args = results[len(results) - arity:]
            del results[len(results) - arity:]
            results.append(getattr(self, "leave_" + kind)(item, args))
        return results[0]

    def shape(self, node: int) -> tuple[int, ...]:
        return self.prog.nodes[node].shape

    def degree(self, node: int) -> int:
        """Total degree of ``node`` in parameters and data (an upper bound), kept
        incrementally as the Program grows."""
        degrees, nodes = self._degrees, self.prog.nodes
        for n in nodes[len(degrees):]:
            if n.op in ("param", "data"):
                degrees.append(1)
            elif n.op == "const":
                degrees.append(0)
            elif n.op in ("mul", "matmul"):
                degrees.append(degrees[n.args[0]] + degrees[n.args[1]])
            elif n.op == "pow":
                degrees.append(degrees[n.args[0]] * n.attr)
            else:
                degrees.append(max((degrees[a] for a in n.args), default=0))
        return degrees[node]

    def enter_Name(self, e: dsl.Name):
        if e.ident not in self.symbols:
            hint = " (a function needs parentheses)" if e.ident in FUNCTIONS else ""
            raise self.error(ModelNameError, f"unknown name '{e.ident}'{hint}", e.pos)
        kind, payload, _ = self.symbols[e.ident]
        if kind != "let":
            return payload
        if e.ident in self.let_nodes:
            return self.let_nodes[e.ident]
        return (payload.value,)

    def leave_Name(self, e: dsl.Name, args) -> int:
        self.let_nodes[e.ident] = args[0]
        return args[0]

    def enter_Number(self, e: dsl.Number) -> int:
        return self.prog.add(Node("const", (), (), Fraction(e.value)))

    def enter_Neg(self, e: dsl.Neg):
        return (e.operand,)

    def leave_Neg(self, e: dsl.Neg, args) -> int:
        a, = args
        return self.prog.add(Node("neg", (a,), self.shape(a)))

    def enter_BinOp(self, e: dsl.BinOp):
        return (e.left, e.right)

    def leave_BinOp(self, e: dsl.BinOp, args) -> int:
        a, b = args
        sa, sb = self.shape(a), self.shape(b)
        if e.op == "@":
            return self.prog.add(Node("matmul", (a, b), self.matmul_shape(sa, sb, e.pos)))
        op = {"+": "add", "-": "sub", "*": "mul"}[e.op]
        if sa == sb or not sa or not sb:
            return self.prog.add(Node(op, (a, b), sa or sb))
        shape = _broadcast_shape(sa, sb)
        if shape is None:
            raise self.error(ShapeError, f"'{e.op}' needs equal shapes, a scalar, or shapes "
                             "that broadcast (NumPy's rule: aligned at the last axis, each "
                             f"axis equal or 1), got {_show(sa)} and {_show(sb)}", e.pos)
        self.check_lowering(2 * prod(shape), f"'{e.op}' with broadcasting", e.pos)
        return self.prog.add(Node(op, (self.broadcast(a, shape), self.broadcast(b, shape)), shape))

    def broadcast(self, node: int, shape: tuple) -> int:
        """``node`` repeated to ``shape`` (NumPy's rule), lowered to a stack of its
        entries: one index node per entry of ``node``, one stack of ``prod(shape)``."""
        own = self.shape(node)
        if own == shape:
            return node
        lead = len(shape) - len(own)
        scalars = []
        for flat in range(prod(shape)):
            index = _unflatten(flat, shape)[lead:]
            scalars.append(self.entry(node, tuple(i if n > 1 else 0 for i, n in zip(index, own))))
        return self.stack(scalars, shape)

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

    def enter_Pow(self, e: dsl.Pow):
        return (e.base,)

    def leave_Pow(self, e: dsl.Pow, args) -> int:
        base, = args
        exponent = e.exponent
        if isinstance(exponent, dsl.Pow):
            raise self.error(UnsupportedError, "the exponent of '^' must be an integer literal: "
                             "a^b^c means a^(b^c); for a power of a power write (a^b)^c, or one "
                             "literal (a^81 for (a^9)^9)", e.pos)
        if not isinstance(exponent, dsl.Number):
            raise self.error(UnsupportedError, "the exponent of '^' must be a non-negative integer "
                             "literal, as in a^2 (write a product for a variable power)", e.pos)
        value = exponent.value
        if value.denominator != 1 or value < 0:
            raise self.error(UnsupportedError, f"the exponent of '^' must be a non-negative integer "
                             f"literal, as in a^2, got {value} (a "
                             f"{'negative' if value < 0 else 'fractional'} power is not a "
                             "polynomial)", e.pos)
        if self.degree(base) * int(value) > MAX_DEGREE:
            raise self.error(BudgetError, f"this power has degree {self.degree(base) * int(value):,}"
                             f", above the largest degree {MAX_DEGREE:,}; use a smaller exponent",
                             e.pos)
        return self.prog.add(Node("pow", (base,), self.shape(base), int(value)))

    def enter_Transpose(self, e: dsl.Transpose):
        return (e.operand,)

    def leave_Transpose(self, e: dsl.Transpose, args) -> int:
        a, = args
        shape = self.shape(a)
        if len(shape) < 2:
            return a
        if len(shape) > 2:
            raise self.error(ShapeError, f"'.T' needs a matrix, got {_show(shape)}", e.pos)
        return self.prog.add(Node("transpose", (a,), shape[::-1]))

    def enter_Index(self, e: dsl.Index):
        return (e.operand,)

    def leave_Index(self, e: dsl.Index, args) -> int:
        a, = args
        shape = self.shape(a)
        if len(e.indices) != len(shape):
            raise self.error(ShapeError, f"indexing a {_show(shape)} tensor needs {len(shape)} "
                             f"indices, got {len(e.indices)}", e.pos)
        for i, n in zip(e.indices, shape):
            if not 0 <= i < n:
                raise self.error(ShapeError, f"index {i} is out of range for size {n} "
                                 "(indices are 0-based)", e.pos)
        return self.prog.add(Node("index", (a,), (), tuple(e.indices)))

    def enter_Call(self, e: dsl.Call):
        if e.function not in FUNCTIONS:
            raise self.error(ModelNameError, f"unknown function '{e.function}' (known: "
                             + ", ".join(FUNCTIONS) + ")", e.pos)
        arity, keywords = SIGNATURES.get(e.function, (1, ()))
        if arity is None:
            self.check_variadic(e)
        elif len(e.arguments) != arity:
            raise self.error(ShapeError, f"{e.function}() takes {arity} argument"
                             f"{'s' if arity > 1 else ''}, got {len(e.arguments)}", e.pos)
        for name, value in e.keywords:
            if name not in keywords:
                raise self.error(ModelNameError, f"{e.function}() has no option '{name}'", e.pos)
            if name == "eps":
                if not isinstance(value, dsl.Number):
                    raise self.error(UnsupportedError, f"{e.function}(): eps must be a rational "
                                     "literal >= 0, as in eps=0 or eps=1/100000", e.pos)
                continue
            least = 0 if name in ZERO_ALLOWED else 1
            if not isinstance(value, dsl.Number) or value.value.denominator != 1 or value.value < least:
                raise self.error(ShapeError, f"'{name}' must be a "
                                 f"{'non-negative' if least == 0 else 'positive'} integer", e.pos)
        if e.function in TENSOR_CALLS:
            return tuple(e.arguments)
        return (e.argument,)

    def check_variadic(self, e: dsl.Call):
        """reshape(e, n1, ..., nk) and permute(e, i1, ..., ik): one tensor, then integer
        literals; cat(e1, ..., ek, axis=a): at least two tensors."""
        if e.function == "cat":
            if len(e.arguments) < 2:
                raise self.error(ShapeError, "cat() takes at least 2 tensors", e.pos)
            return
        if len(e.arguments) < 2 or any(not isinstance(a, dsl.Number) or a.value.denominator != 1
                                       for a in e.arguments[1:]):
            raise self.error(ShapeError, f"{e.function}(e, ...) takes a tensor, then integer "
                             "literals (the new "
                             f"{'shape' if e.function == 'reshape' else 'order of the axes'})",
                             e.pos)

    def leave_Call(self, e: dsl.Call, args) -> int:
        if e.function in NORMALIZATIONS:
            options = {name: value.value for name, value in e.keywords}
            return self.call_norm(e.function, args[0], options, e.pos)
        options = {name: int(value.value) for name, value in e.keywords}
        if e.function in ("conv1d", "conv2d"):
            return self.call_conv(list(args), options, e.pos, 1 if e.function == "conv1d" else 2)
        if e.function == "attention":
            return self.call_attention(list(args), options, e.pos)
        if e.function == "cat":
            return self.call_cat(list(args), options.get("axis", 0), e.pos)
        arg, = args
        if e.function == "sum":
            return self.prog.add(Node("sum", (arg,), ()))
        if e.function == "relu":
            return self.call_relu(arg, e.pos)
        if e.function in ("reshape", "permute"):
            numbers = tuple(int(a.value) for a in e.arguments[1:])
            return getattr(self, "call_" + e.function)(arg, numbers, e.pos)
        if e.function in ("maxpool", "maxpool2d", "avgpool", "avgpool2d"):
            units, windows = self.pool_windows(e.function, arg, options, e.pos)
            if e.function.startswith("avg"):
                return self.call_avgpool(arg, units, windows, e.function, e.pos)
            return self.call_maxpool(arg, units, windows, e.pos)
        return self.generic(arg, e.function, e.pos)

    # ------------------------------------------- one call, one value (canonical.py)
    @property
    def oracle(self) -> ArgumentOracle:
        if self._oracle is None:
            literals = _numbers_in((tuple(self.statements), self.extra_expressions))
            self._oracle = ArgumentOracle(self.prog, denominators={n.denominator for n in literals})
        return self._oracle

    def facts(self, arg: int, function: str, pos) -> list:
        try:
            return self.oracle.facts(arg)
        except Undecided:
            raise self.error(UnsupportedError, f"the argument of {function} is too large to "
                             "expand exactly, and exact expansion is needed here to decide its "
                             "meaning (DSL.md section 2); write the value once in a let-binding",
                             pos) from None

    def same(self, first: tuple, second: tuple, function: str, pos) -> bool:
        try:
            return all(self.oracle.same(a, b) for a, b in zip(first, second))
        except Undecided:
            raise self.error(UnsupportedError, f"cannot decide exactly whether two {function} "
                             "arguments are the same polynomial (too large to expand); write "
                             "the shared value once in a let-binding", pos) from None

    def cross_kind(self, function, origins, keys, items, new, pos):
        """An earlier unit equal to this one whose keys are of the other kind (drawn with
        gates at 0/1 for arguments with squared gates, at random values otherwise), so
        never equal to these: both are evaluated with the gates at 0/1 (a ring
        homomorphism for both), and equal values are confirmed exactly."""
        mine = self.binary_keys(origins)
        candidates = [(earlier, known) for (f, other), units in self.calls.items()
                      if f == function and _binary_kind(other) != _binary_kind(keys)
                      for earlier, known in units]
        candidates += [(items[unit][0], ("new", j)) for j, unit in enumerate(new)
                       if _binary_kind(items[unit][1]) != _binary_kind(keys)]
        for earlier, known in candidates:
            if self.binary_keys(earlier) == mine and self.same(origins, earlier, function, pos):
                return known
        return None

    def binary_keys(self, origins) -> tuple:
        try:
            return tuple(self.oracle.binary_key(node, flat) for node, flat in origins)
        except Undecided:
            return ()

    def lookup(self, function: str, items: list, pos) -> tuple[list, list]:
        """One symbol per distinct polynomial: ``items`` are (origins, keys) per unit
        (origins: the (node, flat) argument entries the unit's value depends on).
        Returns per unit an earlier call's symbol or ('new', j), and the units that
        are new, in order (j indexes this list)."""
        plan, new, local = [], [], {}
        kinds = self.key_kinds.setdefault(function, set())
        kinds.update(_binary_kind(keys) for _, keys in items)
        for origins, keys in items:
            symbol = None
            for earlier, known in self.calls.get((function, keys), ()):
                if self.same(origins, earlier, function, pos):
                    symbol = known
                    break
            for j in local.get(keys, ()) if symbol is None else ():
                if self.same(origins, items[new[j]][0], function, pos):
                    symbol = ("new", j)
                    break
            if symbol is None and len(kinds) == 2:
                symbol = self.cross_kind(function, origins, keys, items, new, pos)
            if symbol is None:
                symbol = ("new", len(new))
                local.setdefault(keys, []).append(len(new))
                new.append(len(plan))
            plan.append(symbol)
        return plan, new

    def register(self, function: str, items: list, new: list, symbol_of) -> None:
        for j, unit in enumerate(new):
            origins, keys = items[unit]
            self.calls.setdefault((function, keys), []).append((origins, symbol_of(j)))

    def choose(self, key: tuple, options: list, pos) -> int:
        """The option of a parameter-only site in this region (options: condition lists)."""
        if key not in self.choices:
            if not self.discover:
                raise NeedChoice(key, options)
            self.open_choices = True
            return 0
        choice = self.choices[key]
        if key not in self.conditioned:   # a site met again adds no condition twice
            self.conditioned.add(key)
            self.conditions.extend(options[choice])
        return choice

    def place(self, pos) -> str:
        return f"line {pos.line}, col {pos.column}" if pos else "the model"

    def call_relu(self, arg: int, pos) -> int:
        """relu(e) = g * e entrywise: one 0/1 gate per distinct data-dependent entry;
        an entry p(theta) without data is p or 0 by the sign region (DSL.md section 2)."""
        shape = self.shape(arg)
        facts = self.facts(arg, "relu", pos)
        gated = [flat for flat, fact in enumerate(facts) if fact.data]
        items = [(((arg, flat),), (facts[flat].key,)) for flat in gated]
        plan, new = self.lookup("relu", items, pos)
        if len(new) == len(facts):                     # every entry its own new gate
            gates = self.new_gates(shape, ("relu", arg, None))
            self.register("relu", items, new, lambda j: (gates, _unflatten(j, shape)))
            return self.prog.add(Node("mul", (gates, arg), shape))
        gates = self.new_gates((len(new),), ("relu", arg, tuple(gated[u] for u in new))) \
            if new else None
        self.register("relu", items, new, lambda j: (gates, (j,)))
        symbols = dict(zip(gated, plan))
        scalars = []
        for flat, fact in enumerate(facts):
            entry = self.entry(arg, _unflatten(flat, shape)) if shape else arg
            if not fact.data:
                scalars.append(entry if self.relu_sign(fact.polynomial, pos) else self.zero())
                continue
            node, index = symbols[flat] if symbols[flat][0] != "new" else (gates, (symbols[flat][1],))
            scalars.append(self.product(self.entry(node, index), entry))
        return self.stack(scalars, shape) if shape else scalars[0]

    def zero(self) -> int:
        return self.prog.add(Node("const", (), (), Fraction(0)))

    def new_gates(self, shape, source, window: int = 0) -> int:
        self.gate_sites += 1
        name = ("pool" if window else "gate") + str(self.gate_sites)
        info = TensorInfo(name, shape, "gate", self.prog.num_data, window=window)
        self.prog.data.append(info)
        self.prog.sources[len(self.prog.data) - 1] = source
        return self.prog.add(Node("data", (), shape, len(self.prog.data) - 1))

    def generic(self, arg: int, function: str, pos) -> int:
        """A smooth function: one data symbol per distinct data-dependent argument entry
        (softmax: per distinct whole argument), whose entries become feature carriers;
        of a lone parameter, a change of coordinates (DSL.md section 2)."""
        node = self.prog.nodes[arg]
        if node.op == "param" and function in COORDINATE_METRICS and not node.shape:
            if node.attr in self.coordinates:
                return arg                      # u = f(a) holds a's slot
            self.candidates.setdefault(node.attr, []).append((function, pos))
            if self.discover:
                return self.new_values(function, self.shape(arg), (function, arg, None), arg, pos)
        facts = self.facts(arg, function, pos)
        if not any(f.data for f in facts) or (function != "softmax"
                                               and not all(f.data for f in facts)):
            raise self.error(UnsupportedError, f"{function}() of an argument with no data is a "
                             "function of the parameters, not data; it is supported only as "
                             "tanh(a) or sigmoid(a) of one scalar parameter a used nowhere else "
                             "(a change of coordinates, DSL.md section 2)", pos)
        shape = self.shape(arg)
        if function == "softmax":   # one value of the whole argument
            items = [(tuple((arg, f) for f in range(len(facts))), tuple(f.key for f in facts))]
        else:
            items = [(((arg, flat),), (fact.key,)) for flat, fact in enumerate(facts)]
        plan, new = self.lookup(function, items, pos)
        if function == "softmax":
            if not new:
                return plan[0]
            values = self.new_values(function, shape, (function, arg, None), arg, pos)
            self.register(function, items, new, lambda j: values)
            return values
        if len(new) == len(facts):
            values = self.new_values(function, shape, (function, arg, None), arg, pos)
            self.register(function, items, new, lambda j: (values, _unflatten(j, shape)))
            return values
        values = None
        if new:
            carrier = self.stack([self.entry(arg, _unflatten(u, shape)) if shape else arg
                                  for u in new], (len(new),))
            values = self.new_values(function, (len(new),), (function, arg, tuple(new)), carrier, pos)
        self.register(function, items, new, lambda j: (values, (j,)))
        scalars = [self.entry(*(symbol if symbol[0] != "new" else (values, (symbol[1],))))
                   for symbol in plan]
        return self.stack(scalars, shape) if shape else scalars[0]

    def call_norm(self, function: str, arg: int, options: dict, pos) -> int:
        """layernorm(e), rmsnorm(e), batchnorm(e) (README, *Normalization layers*): each
        group of entries normalized together gets one scale s with s^2 * q = 1, q its
        variance (rmsnorm: mean square) plus eps; the value is (e - mean) * s (rmsnorm:
        e * s). One scale per distinct polynomial q (one call, one value): the same
        variance wherever it is written is the same s. Lowered to scalar entries."""
        shape = self.shape(arg)
        eps = Fraction(options.get("eps", 0))
        if eps < 0:
            raise self.error(UnsupportedError, f"{function}(): eps must be a rational literal "
                             f">= 0, got {eps}", pos)
        if function == "batchnorm":
            if len(shape) < 2:
                raise self.error(ShapeError, "batchnorm(e) needs e of shape [B, C, ...] (the "
                                 f"batch first, then the channels), got {_show(shape)}", pos)
            reduced = [0] + list(range(2, len(shape)))
        else:
            axes = int(options.get("axes", 1))
            if not shape or axes > len(shape):
                raise self.error(ShapeError, f"{function}(e, axes={axes}) needs e with at least "
                                 f"{axes} ax{'is' if axes == 1 else 'es'}, got {_show(shape)}", pos)
            reduced = list(range(len(shape) - axes, len(shape)))
        kept = [i for i in range(len(shape)) if i not in reduced]
        groups_shape = tuple(shape[i] for i in kept)
        size = prod(shape[i] for i in reduced)
        if size == 1 and eps == 0 and function != "rmsnorm":
            raise self.error(UnsupportedError, f"{function}() normalizes groups of one entry: "
                             "their variance is identically 0 and the value is undefined", pos)
        self.check_lowering(8 * prod(shape), function, pos)
        inverse = self.prog.add(Node("const", (), (), Fraction(1, size)))
        epsilon = self.prog.add(Node("const", (), (), eps)) if eps else None
        centered: dict[tuple, int] = {}
        variances, members_of = [], []
        for group in itertools.product(*(range(n) for n in groups_shape)):
            members = []
            for inner in itertools.product(*(range(shape[i]) for i in reduced)):
                index = [0] * len(shape)
                for axis, value in zip(kept, group):
                    index[axis] = value
                for axis, value in zip(reduced, inner):
                    index[axis] = value
                members.append(tuple(index))
            values = [self.entry(arg, index) for index in members]
            if function != "rmsnorm":
                mean = self.product(self.total(values), inverse)
                values = [self.prog.add(Node("sub", (v, mean), ())) for v in values]
            for index, value in zip(members, values):
                centered[index] = value
            square = self.total([self.prog.add(Node("pow", (v,), (), 2)) for v in values])
            q = self.product(square, inverse)
            if epsilon is not None:
                q = self.prog.add(Node("add", (q, epsilon), ()))
            variances.append(q)
            members_of.append(members)
        qs = self.stack(variances, (len(variances),))
        facts = self.facts(qs, function, pos)
        constants = {}       # a constant q (a rational square): s is the constant 1/sqrt(q)
        for flat, fact in enumerate(facts):
            value = self.check_variance(qs, flat, fact, function, pos)
            if value is not None:
                constants[flat] = value
        variable = [flat for flat in range(len(facts)) if flat not in constants]
        items = [(((qs, flat),), (facts[flat].key,)) for flat in variable]
        plan, new = self.lookup("rsqrt", items, pos)
        scales = None
        if new:
            source = qs if len(new) == len(facts) else self.stack(
                [variances[variable[u]] for u in new], (len(new),))
            self.norm_sites += 1
            scales = self.data_node(f"{function}{self.norm_sites}", (len(new),), "norm")
            index = len(self.prog.data) - 1
            self.prog.sources[index] = ("rsqrt", source, None)
            self.prog.normalizations[index] = (function, pos.line, pos.column)
        self.register("rsqrt", items, new, lambda j: (scales, (j,)))
        out: dict[tuple, int] = {}
        symbols = dict(zip(variable, plan))
        for flat, members in enumerate(members_of):
            if flat in constants:
                value = constants[flat]
                scale = self.prog.add(Node("const", (), (), Fraction(
                    math.isqrt(value.denominator), math.isqrt(value.numerator))))
            else:
                symbol = symbols[flat]
                scale = self.entry(*(symbol if symbol[0] != "new" else (scales, (symbol[1],))))
            for index in members:
                out[index] = self.product(centered[index], scale)
        return self.stack([out[index] for index in sorted(out)], shape)

    def check_variance(self, qs: int, flat: int, fact, function: str, pos) -> Fraction | None:
        """Refuse a group whose q is identically 0 (the value is undefined), or a nonzero
        constant that is not the square of a rational (s would be an irrational number);
        return the constant q of a group whose q is the square of a rational, else None."""
        polynomial = fact.polynomial
        if polynomial is None and not any(fact.key[1:]):    # zero at every fingerprint point
            try:
                polynomial = self.oracle._canonical(qs, flat)
            except Undecided:
                polynomial = None
        if polynomial is not None and not polynomial:
            raise self.error(UnsupportedError, f"{function}(): the variance of a normalized "
                             "group is identically 0, so the value is undefined (give eps > 0, "
                             "or normalize a value that varies)", pos)
        if polynomial and all(not m for m in polynomial):
            constant = polynomial[()]
            value = (Fraction(int(constant.p), int(constant.q)) if hasattr(constant, "q")
                     else Fraction(constant))
            if value < 0 or any(math.isqrt(n) ** 2 != n for n in (value.numerator,
                                                                  value.denominator)):
                raise self.error(UnsupportedError, f"{function}(): a normalized group is "
                                 f"constant with variance {value}, whose square root is not "
                                 "rational; the exact analysis needs a rational scale there",
                                 pos)
            return value
        return None

    def new_values(self, function: str, shape, source, carrier: int, pos) -> int:
        """A tensor of fresh data symbols for a smooth function's values; the entries
        of ``carrier`` (its argument) become features."""
        self.generic_sites += 1
        if not self.discover or self.prog.nodes[carrier].op != "param":
            self.prog.carriers.append((carrier, f"argument of {function} (line {pos.line})"))
        node = self.data_node(f"{function}{self.generic_sites}", shape, "generic")
        self.prog.sources[len(self.prog.data) - 1] = source
        return node

    def relu_sign(self, polynomial: dict, pos) -> bool:
        """Is relu(p) = p (True) or 0 (False) for a parameter-only entry p?"""
        if not polynomial:
            return False
        if all(not m for m in polynomial):          # a constant: decided
            return polynomial[()] > 0
        key = ("relu", _terms_key(polynomial))
        negated = {m: -c for m, c in polynomial.items()}
        where = f"relu at {self.place(pos)}"
        options = [[(polynomial, where)], [(negated, where)]]
        return self.choose(key, options, pos) == 0

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
                             f"scalar operations, {len(self.prog.nodes) + scalars:,} in the "
                             f"program (limit {MAX_LOWERED_NODES:,}); use smaller tensors", pos)

    def product(self, a: int, b: int) -> int:
        return self.prog.add(Node("mul", (a, b), ()))

    def stack(self, scalars: list[int], shape: tuple[int, ...]) -> int:
        return self.prog.add(Node("stack", tuple(scalars), shape))

    def call_conv(self, args, options, pos, dims: int) -> int:
        """conv1d(W, X) and conv2d(W, X) with PyTorch's semantics (cross-correlation).

        W is [Co, Ci/groups, k...] and X is [Ci, n...], or [B, Ci, n...] for a batch
        (the output keeps the batch axis). Options: ``stride``, ``padding`` (zeros on
        both sides), ``dilation``, ``groups`` (Ci and Co divisible by it; output channel
        o reads the input channels of its group). Each output size is
        (n + 2 padding - dilation (k - 1) - 1) // stride + 1. A bias is written ``+ b``
        with b [Co, 1] (or [Co, 1, 1]), which broadcasts over the positions. Lowered to
        one sum of products per output entry; padded positions contribute no term.
        """
        w, x = args
        sw, sx = self.shape(w), self.shape(x)
        name = f"conv{dims}d"
        stride, padding = options.get("stride", 1), options.get("padding", 0)
        dilation, groups = options.get("dilation", 1), options.get("groups", 1)
        batched = len(sx) == dims + 2
        spatial = sx[-dims:] if len(sx) >= dims else ()
        channels = sx[-dims - 1] if len(sx) > dims else 0
        sizes = [(n + 2 * padding - dilation * (k - 1) - 1) // stride + 1
                 for n, k in zip(spatial, sw[2:])]
        if (len(sw) != dims + 2 or len(sx) not in (dims + 1, dims + 2) or sw[0] % groups
                or channels % groups or sw[1] * groups != channels or any(n < 1 for n in sizes)):
            axes = "length" if dims == 1 else "h, w"
            raise self.error(ShapeError, f"{name}(W, x) needs W [out, in/groups, "
                             f"{'k' if dims == 1 else 'kh, kw'}] and x [in, {axes}] or "
                             f"[batch, in, {axes}] with out and in divisible by groups and room "
                             f"for one window, got {_show(sw)} and {_show(sx)}"
                             + (f" (groups={groups})" if groups > 1 else ""), pos)
        out, per_group, kernel = sw[0], sw[1], sw[2:]
        batch = sx[0] if batched else 1
        units = batch * out * prod(sizes)
        self.check_lowering(3 * units * per_group * prod(kernel), name, pos)
        offsets = [_unflatten(f, tuple(kernel)) for f in range(prod(kernel))]
        scalars = []
        for flat in range(units):
            index = _unflatten(flat, (batch, out) + tuple(sizes))
            sample, o, place = index[0], index[1], index[2:]
            first = (o // (out // groups)) * per_group
            terms = []
            for c in range(per_group):
                for offset in offsets:
                    at = tuple(p * stride + j * dilation - padding for p, j in zip(place, offset))
                    if all(0 <= i < n for i, n in zip(at, spatial)):
                        lead = (sample, first + c) if batched else (first + c,)
                        terms.append(self.product(self.entry(w, (o, c) + offset),
                                                  self.entry(x, lead + at)))
            scalars.append(self.total(terms) if terms else self.zero())
        return self.stack(scalars, ((batch,) if batched else ()) + (out,) + tuple(sizes))

    def pool_windows(self, function: str, arg: int, options: dict, pos) -> tuple:
        """The windows of a pooling call: (output shape, flat argument entries of each
        output unit, row-major). ``maxpool``/``avgpool`` slide along the last axis,
        ``maxpool2d``/``avgpool2d`` over the last two; ``size`` k (default 2) and
        ``stride`` s (default k). Without a stride the windows must tile the axes
        exactly; with one, the output has (n - k) // s + 1 units per axis (PyTorch's)."""
        shape = self.shape(arg)
        size, dims = options.get("size", 2), 2 if function.endswith("2d") else 1
        stride = options.get("stride", size)
        axes = shape[-dims:] if len(shape) >= dims else ()
        if not axes or ("stride" not in options and any(n % size for n in axes)):
            raise self.error(ShapeError, f"{function}(e, size={size}) needs "
                             f"{'a last dimension' if dims == 1 else 'two last dimensions'} "
                             f"divisible by {size}, got {_show(shape)}", pos)
        if any(n < size for n in axes):
            raise self.error(ShapeError, f"{function}(e, size={size}) needs the pooled axes "
                             f"to hold one window, got {_show(shape)}", pos)
        counts = tuple((n - size) // stride + 1 for n in axes)
        units = shape[:-dims] + counts
        offsets = [_unflatten(f, (size,) * dims) for f in range(size ** dims)]
        windows = []
        for flat in range(prod(units)):
            index = _unflatten(flat, units)
            lead, place = index[:-dims], index[-dims:]
            windows.append([_flatten(lead + tuple(p * stride + j for p, j in zip(place, offset)),
                                     shape) for offset in offsets])
        return units, windows

    def call_avgpool(self, arg: int, units: tuple, windows: list, function: str, pos) -> int:
        """avgpool(e, size=k[, stride=s]) and avgpool2d: each unit is (1/m) times the sum
        of its window's m entries, a linear map with rational coefficients, lowered to
        m - 1 additions and one product per unit (smaller than the written-out sums)."""
        shape = self.shape(arg)
        self.check_lowering(2 * len(windows) * (len(windows[0]) + 1), function, pos)
        weight = self.prog.add(Node("const", (), (), Fraction(1, len(windows[0]))))
        scalars = [self.product(weight, self.total([self.entry(arg, _unflatten(f, shape))
                                                    for f in flats]))
                   for flats in windows]
        return self.stack(scalars, units)

    def call_maxpool(self, arg: int, units: tuple, windows: list, pos) -> int:
        """maxpool(e, size=k) and maxpool2d: each output unit is sum_i s_i e_i over its
        window with 0/1 selection gates that sum to 1 in the window (one set per
        distinct window of data-dependent entries); a window of size 1 is the identity;
        a window with no data selects by the sign region of the differences."""
        shape = self.shape(arg)
        size = len(windows[0])
        if size == 1 and units == shape:
            return arg
        self.check_lowering(4 * len(windows) * size, "maxpool", pos)
        facts = self.facts(arg, "maxpool", pos)
        selecting = [w for w, flats in enumerate(windows) if any(facts[f].data for f in flats)]
        items = [(tuple((arg, f) for f in windows[w]), tuple(facts[f].key for f in windows[w]))
                 for w in selecting]
        plan, new = self.lookup("maxpool", items, pos)
        gates = None
        if new:
            gates = self.new_gates((len(new), size),
                                   ("maxpool", arg, tuple(tuple(windows[selecting[u]]) for u in new)),
                                   window=size)
        self.register("maxpool", items, new, lambda j: (gates, j))
        rows = dict(zip(selecting, plan))
        scalars = []
        for w, flats in enumerate(windows):
            entries = [self.entry(arg, _unflatten(f, shape)) for f in flats]
            if w not in rows:
                chosen = self.window_choice([facts[f].polynomial for f in flats], pos)
                scalars.append(entries[chosen])
                continue
            node, row = rows[w] if rows[w][0] != "new" else (gates, rows[w][1])
            scalars.append(self.total([self.product(self.entry(node, (row, i)), entries[i])
                                       for i in range(size)]))
        return self.stack(scalars, units)

    def call_reshape(self, arg: int, shape: tuple, pos) -> int:
        """reshape(e, n1, ..., nk): the entries of e, row-major, in the new shape (one
        stack of index nodes, or e itself when the shape is unchanged)."""
        own = self.shape(arg)
        if any(n < 1 for n in shape) or prod(shape) != prod(own) or len(shape) > 4:
            raise self.error(ShapeError, f"reshape(e, {', '.join(map(str, shape))}) needs "
                             f"positive sizes (at most 4) with {prod(own)} entries in all, "
                             f"the size of e {_show(own)}", pos)
        if shape == own:
            return arg
        self.check_lowering(2 * prod(own), "reshape", pos)
        entries = [self.entry(arg, _unflatten(f, own)) if own else arg for f in range(prod(own))]
        return self.stack(entries, shape)

    def call_permute(self, arg: int, order: tuple, pos) -> int:
        """permute(e, i1, ..., ik): axis j of the result is axis i_j of e (PyTorch's
        ``permute``); ``e.T`` is permute(e, 1, 0) for a matrix."""
        own = self.shape(arg)
        if sorted(order) != list(range(len(own))):
            raise self.error(ShapeError, f"permute(e, {', '.join(map(str, order))}) needs an "
                             f"order of the {len(own)} axes of e {_show(own)}", pos)
        if list(order) == sorted(order):
            return arg
        shape = tuple(own[i] for i in order)
        self.check_lowering(2 * prod(own), "permute", pos)
        scalars = []
        for flat in range(prod(shape)):
            index = _unflatten(flat, shape)
            source = [0] * len(own)
            for j, i in enumerate(order):
                source[i] = index[j]
            scalars.append(self.entry(arg, tuple(source)))
        return self.stack(scalars, shape)

    def call_cat(self, args: list, axis: int, pos) -> int:
        """cat(e1, ..., ek, axis=a): the tensors side by side along axis a (default 0),
        their other axes equal (PyTorch's ``torch.cat``)."""
        shapes = [self.shape(a) for a in args]
        first = shapes[0]
        if (not first or axis >= len(first) or any(len(s) != len(first) or
                                                   s[:axis] + s[axis + 1:] != first[:axis] + first[axis + 1:]
                                                   for s in shapes)):
            raise self.error(ShapeError, f"cat(..., axis={axis}) needs tensors with an axis "
                             f"{axis} and equal other axes, got "
                             + ", ".join(_show(s) for s in shapes), pos)
        shape = first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]
        self.check_lowering(2 * prod(shape), "cat", pos)
        starts = [sum(s[axis] for s in shapes[:i]) for i in range(len(shapes))]
        scalars = []
        for flat in range(prod(shape)):
            index = _unflatten(flat, shape)
            part = max(i for i, start in enumerate(starts) if start <= index[axis])
            local = index[:axis] + (index[axis] - starts[part],) + index[axis + 1:]
            scalars.append(self.entry(args[part], local))
        return self.stack(scalars, shape)

    def window_choice(self, polynomials: list, pos) -> int:
        """Which entry a window without data selects: decided when the entries are
        constants or all one polynomial, else by the sign region of the differences of
        its distinct entries (equal entries tie: the first stands for them, so no
        condition 0 > 0, which no point satisfies, arises)."""
        if all(all(not m for m in p) for p in polynomials):
            values = [p.get((), 0) for p in polynomials]
            return values.index(max(values))
        keys = [_terms_key(p) for p in polynomials]
        distinct = [i for i, k in enumerate(keys) if k not in keys[:i]]
        if len(distinct) == 1:
            return 0
        key = ("maxpool", tuple(keys))
        where = f"maxpool at {self.place(pos)}"
        options = [[(Terms(polynomials[i]) - polynomials[j], where) for j in distinct if j != i]
                   for i in distinct]
        return distinct[self.choose(key, options, pos)]

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


def _bare_names(e: dsl.Expr, functions: dict):
    """Names in ``functions`` (name -> f) that are not the whole argument of f(name),
    in source order (an explicit stack: no recursion on the depth of ``e``)."""
    stack: list[tuple[dsl.Expr, str | None]] = [(e, None)]
    while stack:
        e, inside = stack.pop()
        if isinstance(e, dsl.Name):
            if e.ident in functions and inside != functions[e.ident]:
                yield e
        elif isinstance(e, dsl.Call):
            within = e.function if len(e.arguments) == 1 else None
            stack.extend((sub, within) for sub in reversed(e.arguments))
        else:
            stack.extend((sub, None) for sub in reversed(_children(e)))


def _numbers_in(tree) -> list:
    """Every numeric literal's value in an AST (statements, expressions), iteratively.

    >>> from conslaw_algebra.language.parser import parse
    >>> sorted(_numbers_in(parse("param a\\noutput 1/3 * a^2").statements))
    [Fraction(1, 3), Fraction(2, 1)]
    """
    found, stack = [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dsl.Number):
            found.append(Fraction(item.value))
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, dsl.Record) and not isinstance(item, dsl.Pos):
            stack.extend(getattr(item, f) for f in item._fields)
    return found


def _names_in(e: dsl.Expr):
    """Every Name in ``e``, keyword values of calls included, in source order."""
    stack = [e]
    while stack:
        e = stack.pop()
        if isinstance(e, dsl.Name):
            yield e
        elif isinstance(e, dsl.Call):
            stack.extend(reversed(e.arguments + tuple(value for _, value in e.keywords)))
        else:
            stack.extend(reversed(_children(e)))


def _children(e: dsl.Expr) -> tuple:
    """The sub-expressions of an operator node (none for names and numbers)."""
    return tuple(sub for child in ("left", "right", "operand", "base")
                 if (sub := getattr(e, child, None)) is not None)


def _metric_point(dim: int) -> list[int]:
    """The point at which metrics must be positive: entries in 1..9, seed 0."""
    return [int(v) for v in np.random.default_rng(0).integers(1, 10, dim)]


def _broadcast_shape(sa: tuple, sb: tuple) -> tuple | None:
    """The common shape of two shapes under NumPy's rule, or None.

    >>> _broadcast_shape((3, 4), (4,)), _broadcast_shape((3, 1), (3, 4)), _broadcast_shape((3,), (4,))
    ((3, 4), (3, 4), None)
    """
    out = []
    for a, b in zip(((1,) * len(sb) + sa)[-max(len(sa), len(sb)):],
                    ((1,) * len(sa) + sb)[-max(len(sa), len(sb)):]):
        if a != b and 1 not in (a, b):
            return None
        out.append(max(a, b))
    return tuple(out)


def _binary_kind(keys) -> bool:
    """Are these fingerprint keys drawn with the gates at 0/1 (``canonical``)?"""
    return any(key[0] == "bin" for key in keys)


def _show(shape) -> str:
    return "scalar" if not shape else "[" + ",".join(map(str, shape)) + "]"


MAX_REGIONS = 64   # sign regions of parameter-only ReLU / max-pool arguments


@dataclass(frozen=True)
class Variant:
    """The model compiled on one sign region (all of theta when ``conditions`` is empty).

    ``conditions``: (sparse polynomial p in theta, where) pairs meaning p > 0;
    ``choices`` and ``coordinates`` recompile the same variant (e.g. for ``check``).
    """

    program: Program
    header: ModelHeader
    conditions: tuple = ()
    choices: dict = field(default_factory=dict)
    coordinates: dict = field(default_factory=dict)


def compile_variants(program: dsl.Program, max_regions: int = MAX_REGIONS) -> list[Variant]:
    """The model as one Program per sign region, with changes of coordinates applied.

    A first pass compiles with every parameter-only choice made freely and notes
    smooth functions of a lone parameter; if there are neither, it is the answer.
    Otherwise the changes of coordinates are checked (the parameter is used nowhere
    else, gradient flow, no metric or mirror on it) and the regions enumerated by
    recompiling, one choice more each time (the set of sites can depend on earlier
    choices: relu(relu(a) - b)).

    >>> from conslaw_algebra.language.parser import parse
    >>> [len(v.conditions) for v in compile_variants(parse("param a, b\\ninput x\\noutput relu(a)*b*x"))]
    [1, 1]
    """
    probe = _Compiler(program, discover=True)
    prog, header = probe.run()
    coordinates = probe.checked_coordinates(header)
    if not coordinates and not probe.open_choices:
        return [Variant(prog, header)]
    leaves: list[Variant] = []
    pending: list[dict] = [{}]
    while pending:
        choices = pending.pop()
        compiler = _Compiler(program, choices, coordinates)
        try:
            prog, header = compiler.run()
        except NeedChoice as need:
            if len(leaves) + len(pending) + len(need.options) > max_regions:
                raise _err(UnsupportedError, f"the model has more than {max_regions} sign "
                           "regions (ReLU or max-pool of arguments with no data); answers are "
                           "given per region, so use fewer such calls", None,
                           program.source_name) from None
            pending += [{**choices, need.key: option}
                        for option in reversed(range(len(need.options)))]
            continue
        leaves.append(Variant(prog, header, tuple(compiler.conditions), choices, coordinates))
    return leaves


def compile_program(program: dsl.Program) -> tuple[Program, ModelHeader]:
    """Check names and shapes and lower the AST to a :class:`Program`.

    A model that is piecewise in theta (ReLU of an argument with no data) has one
    Program per sign region: see :func:`compile_variants`.

    >>> from conslaw_algebra.language.parser import parse
    >>> prog, header = compile_program(parse("layers 3 -> 2 relu -> 1", "net.net"))
    >>> header.name, prog.num_params, [d.kind for d in prog.data]
    ('net', 8, ['input', 'gate'])
    """
    variants = compile_variants(program)
    if len(variants) > 1 or variants[0].conditions:
        raise _err(UnsupportedError, "the model is piecewise in the parameters (ReLU or "
                   "max-pool of an argument with no data): it has one answer per sign region",
                   None, program.source_name)
    return variants[0].program, variants[0].header


def compile_expression(program: dsl.Program, text: str, variant: Variant | None = None
                       ) -> tuple[Program, int]:
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
    compiler = (_Compiler(program, variant.choices, variant.coordinates) if variant
                else _Compiler(program))
    compiler.extra_expressions = (value,)
    prog, _ = compiler.run()
    compiler.source = "<expression>"
    try:
        node = compiler.expr(value)
    except ConslawError as exc:
        raise relocate(exc) from None
    except NeedChoice:
        raise relocate(UnsupportedError("relu or maxpool of parameters alone is not allowed "
                                        "in an expression to check"), value.pos) from None
    for name in _bare_names(value, {compiler.prog.params[i].name: f
                                    for i, f in compiler.coordinates.items()}):
        function = compiler.coordinates[next(i for i, p in enumerate(compiler.prog.params)
                                             if p.name == name.ident)]
        raise relocate(ModelNameError(f"'{name.ident}' enters the model only through "
                                      f"{function}({name.ident}), the coordinate the laws use: "
                                      f"write the expression in {function}({name.ident})"),
                       name.pos)
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
