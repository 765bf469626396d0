"""Import any traceable PyTorch module as a `.net` model (optional extra ``[torch]``).

Conservation laws depend on the architecture only, so the import reads layer types,
options and shapes, never weight values. Why tracing: ``torch.fx.symbolic_trace``
records the module's forward pass as a graph of calls (modules, functions, tensor
methods) whatever its Python structure (residual blocks, concatenations, several
outputs), which ``nn.Sequential``'s list of children cannot express; the shapes come
from running that graph once on the example input's shape, on a copy of the module
whose parameters live on PyTorch's ``meta`` device (no values exist there: nothing is
computed, the module itself is untouched). Each graph node becomes one `.net`
expression; the text (``input``, ``param``, let-bindings, ``output``) is then compiled
by the ordinary parser. Where it stops: data-dependent control flow cannot be traced
(refused with torch.fx's reason), and a layer outside the list below is refused.

**Names.** Modules with parameters are numbered 1, 2, ... in order of their first
call; the k-th one's tensors become ``Wk``/``bk`` (``Linear``, ``Conv1d``, ``Conv2d``:
weight, bias), ``Ek`` (``Embedding``), ``gk``/``bk`` (``LayerNorm``, ``RMSNorm``,
``BatchNorm``: weight, bias), ``Wqk, Wkk, Wvk, Wok, bok`` (``MultiheadAttention``:
the three row blocks of ``in_proj_weight``, ``out_proj.weight``, ``out_proj.bias``).
So in ``nn.Sequential(Linear, ReLU, Linear)``, ``0.weight -> W1``, ``0.bias -> b1``,
``2.weight -> W2``. A parameter read directly (``self.scale * x``) is ``p_`` and its
name with dots as underscores (``p_scale``: no clash with the names above, the lets
``h1, h2, ...`` or the language's words); a parameter the forward pass never uses is
declared the same way (it is trivially conserved). ``model.torch_names`` maps every parameter of
the state dict to its `.net` name (``in_proj_weight`` to the tuple of three names);
buffers (``running_mean``) are not parameters. A convolution's or batch norm's
per-channel vector is declared ``[C, 1]`` (``[C, 1, 1]`` in 2-D) so that it broadcasts
over positions; its entries are in the same order as PyTorch's.

**The batch axis.** The model is the network on one sample (the example input's
first axis, the batch, is dropped), unless a ``BatchNorm`` needs the batch: then the
input keeps it, ``[B, ...]``, and the model is the network on a batch of B samples.
An operation across the batch axis of a one-sample model is refused.

**Translated** (DSL.md section 2 for the semantics): ``Linear``; ``Conv1d``/``Conv2d``
with stride, padding (zeros, the same on every axis and side), dilation, groups and
bias; ``ReLU``; ``LeakyReLU`` as ``s*e + (1-s)*relu(e)`` (gate in {s, 1}, s the exact
rational of the float slope); ``Tanh`` and ``Sigmoid`` as ``tanh``/``sigmoid``;
``GELU`` and ``SiLU`` as ``gelu``/``silu``: each is a smooth function of its argument e
alone, which is all the laws depend on (its value a free data symbol per distinct
argument, DSL.md section 2), and the two names keep GELU and SiLU of one argument
two different values (``GELU(approximate="tanh")`` is refused);
``MaxPool1d/2d`` (``maxpool``, ``maxpool2d``), ``AvgPool1d/2d`` and adaptive average
pooling whose output size divides the input's (``avgpool``, ``avgpool2d``: linear,
coefficients 1/m); ``Flatten``, ``reshape``/``view``/``flatten``, ``permute``,
``transpose``; residual additions and other arithmetic (``+ - *``, ``@``, division by a
number); ``torch.cat``; ``MultiheadAttention`` (``attention``, self-attention,
``batch_first=True``, ``bias=False``); ``Embedding`` (a parameter matrix applied to a
one-hot input, ``input t[..., V] onehot``); ``LayerNorm``, ``RMSNorm``, ``BatchNorm1d/2d``
(``layernorm``, ``rmsnorm``, ``batchnorm`` with ``eps`` the exact rational of the float
eps, or none with ``eps="zero"``, noted in ``model.torch_notes``); ``Dropout`` and
``Identity`` (the identity: laws hold for any data, so a random mask changes nothing).
Anything else is refused with the node's name and the reason.

>>> import torch.nn as nn
>>> model = from_torch(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1, bias=False)))
>>> model.torch_names
{'0.weight': 'W1', '0.bias': 'b1', '2.weight': 'W2'}
>>> model.count_laws().laws
2
"""
from __future__ import annotations

import copy
import importlib.util
import operator
import re
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod

from ..errors import UnsupportedError


def _shape(shape) -> str:
    return "[" + ",".join(str(int(n)) for n in shape) + "]" if shape else ""


def _number(value) -> str:
    """The exact rational of a Python number, as a `.net` literal (parenthesized when
    negative).

    >>> _number(0.25), _number(-2), _number(0.1)
    ('1/4', '(-2)', '3602879701896397/36028797018963968')
    """
    text = str(Fraction(value))
    return f"({text})" if text.startswith("-") else text


@dataclass
class _Value:
    """A tensor of the `.net` text: its expression, shape (without the batch axis in
    a one-sample model) and whether it can stand as an operand without parentheses."""

    text: str
    shape: tuple
    atomic: bool = False
    onehot: bool = False

    def operand(self) -> str:
        return self.text if self.atomic else f"({self.text})"


@dataclass
class _Text:
    """The pieces of the `.net` text, filled as the graph is walked."""

    inputs: list = field(default_factory=list)
    params: list = field(default_factory=list)
    statements: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    names: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


_IDENTITY_MODULES = ("Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout")


class _Importer:
    """One walk over the traced graph; ``run`` returns the filled ``_Text``."""

    def __init__(self, module, example, name: str, eps: str):
        import torch
        from torch import nn

        self.torch, self.nn = torch, nn
        self.module, self.name, self.eps = module, name, eps
        # a translated layer on its own is traced as the one layer of a container
        self.alone = type(module).__name__ in _MODULES or type(module).__name__ in _IDENTITY_MODULES
        try:
            self.graph_module = torch.fx.symbolic_trace(nn.Sequential(module) if self.alone
                                                        else module)
        except Exception as exc:   # torch.fx's own reason (control flow on values, ...)
            raise UnsupportedError(f"torch.fx cannot trace {type(module).__name__}: "
                                   f"{_first_line(exc)}") from None
        self.modules = dict(self.graph_module.named_modules())
        self.nodes = list(self.graph_module.graph.nodes)
        self.out = _Text()
        self.values: dict = {}          # fx node -> _Value or a Python value
        self.numbers: dict = {}         # module name -> k
        self.lets = 0
        self.check_supported()
        self.batched = any(isinstance(self.modules.get(n.target), nn.modules.batchnorm._BatchNorm)
                           for n in self.nodes if n.op == "call_module")
        self.examples = self.example_inputs(example)
        self.shapes = self.propagate()

    # ------------------------------------------------------------------ checks
    def where(self, node) -> str:
        if node.op == "call_module":
            kind = type(self.modules[node.target]).__name__
            return f"layer {kind}" if self.alone else f"layer {node.target} ({kind})"
        target = getattr(node.target, "__name__", str(node.target))
        return f"node {node.name} ({target})"

    def refuse(self, node, reason: str):
        raise UnsupportedError(f"{self.where(node)}: {reason}")

    def check_supported(self):
        """Refuse an unknown layer or function by name before anything runs."""
        for node in self.nodes:
            if node.op == "call_module":
                kind = type(self.modules[node.target]).__name__
                if kind not in _MODULES and kind not in _IDENTITY_MODULES:
                    raise UnsupportedError(f"{self.where(node)} has no .net translation")
            elif node.op == "call_function" and _function_key(node.target) not in _FUNCTIONS:
                self.refuse(node, "this function has no .net translation")
            elif node.op == "call_method" and node.target not in _METHODS:
                self.refuse(node, f"the tensor method '{node.target}' has no .net translation")

    def example_inputs(self, example) -> list:
        """Meta-device tensors with the example input's shapes (and dtypes)."""
        torch = self.torch
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        if example is None:
            first = next(iter(placeholders[0].users), None) if placeholders else None
            layer = self.modules.get(first.target) if first is not None and first.op == "call_module" else None
            if not isinstance(layer, self.nn.Linear):
                kind = type(layer).__name__ if layer is not None else "the first operation"
                raise UnsupportedError(f"give input_shape (one sample) or example_input: the "
                                       f"first layer ({kind}) does not fix the input's shape")
            example = (layer.in_features,)
        if isinstance(example, (tuple, list, torch.Size)) and all(isinstance(n, int) for n in example):
            example = torch.empty((2,) + tuple(example))   # a batch of two samples
        examples = list(example) if isinstance(example, (tuple, list)) else [example]
        if len(examples) != len(placeholders):
            raise UnsupportedError(f"the module takes {len(placeholders)} inputs, "
                                   f"{len(examples)} example inputs were given")
        return [torch.empty(t.shape, dtype=t.dtype, device="meta") for t in examples]

    def propagate(self) -> dict:
        """Every node's result on the example inputs' shapes (meta tensors: no values)."""
        torch, nn = self.torch, self.nn
        memo = {}
        for p in self.graph_module.parameters():
            memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
        for b in self.graph_module.buffers():
            memo[id(b)] = torch.empty_like(b, device="meta")
        shadow = copy.deepcopy(self.graph_module, memo)
        results: dict = {}
        importer = self

        class Shapes(torch.fx.Interpreter):
            def run_node(self, node):
                if node.op == "call_module" and isinstance(importer.modules[node.target], nn.Linear):
                    layer, given = importer.modules[node.target], results[node.args[0].name]
                    if given.shape[-1] != layer.in_features:
                        trailing = list(given.shape[1:]) if not importer.batched else list(given.shape)
                        importer.refuse(node, f"expects {layer.in_features} inputs, gets shape "
                                              f"{trailing}")
                try:
                    if node.op == "call_module" and isinstance(importer.modules[node.target],
                                                               nn.MultiheadAttention):
                        # the output has the query's shape; running the layer would first
                        # import a few seconds of PyTorch's compiler for its fast path
                        query = node.args[0] if node.args else node.kwargs["query"]
                        result = (torch.empty_like(results[query.name]), None)
                        results[node.name] = result
                        return result
                    result = super().run_node(node)
                except UnsupportedError:
                    raise
                except Exception as exc:
                    importer.refuse(node, f"fails on the example input: {_first_line(exc)}")
                results[node.name] = result
                return result
        Shapes(shadow).run(*self.examples)
        return results

    # ------------------------------------------------------------------- shapes
    def net_shape(self, node) -> tuple:
        """The `.net` shape of a node's tensor (its batch axis dropped in a one-sample model)."""
        shape = tuple(self.shapes[node.name].shape)
        if self.batched:
            return shape
        if not shape or shape[0] != self.batch:
            self.refuse(node, "its result has no batch axis first; a one-sample model needs "
                              "the batch axis to stay the first axis")
        return shape[1:]

    @property
    def batch(self) -> int:
        return int(self.examples[0].shape[0]) if self.examples[0].dim() else 1

    def axis(self, node, dim: int, rank: int) -> int:
        """A PyTorch axis (of a tensor of torch rank ``rank``) as a `.net` axis."""
        dim = dim + rank if dim < 0 else dim
        if self.batched:
            return dim
        if dim == 0:
            self.refuse(node, "it acts on the batch axis, which a one-sample model does not have")
        return dim - 1

    # ---------------------------------------------------------------- the text
    def bind(self, value: _Value) -> _Value:
        """A let-binding for a value that is used twice or is a layer's result."""
        if value.atomic and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value.text):
            return value
        self.lets += 1
        self.out.statements.append(f"h{self.lets} = {value.text}")
        return _Value(f"h{self.lets}", value.shape, True, value.onehot)

    def number(self, module_name: str) -> tuple[int, bool]:
        """The layer number k of a module with parameters; True when it is new."""
        if module_name in self.numbers:
            return self.numbers[module_name], False
        self.numbers[module_name] = len(self.numbers) + 1
        return self.numbers[module_name], True

    def direct_name(self, key: str) -> str:
        """The `.net` name of a parameter read directly or unused: ``p_`` and its
        state-dict key with every character other than a letter, digit or ``_`` as ``_``
        (``p_scale``, ``p_block_0_gain``), made unique with ``_2``, ``_3``, ...

        >>> import torch, torch.nn as nn
        >>> class Scaled(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.register_parameter("import os", nn.Parameter(torch.zeros(2)))
        ...     def forward(self, x):
        ...         return x * getattr(self, "import os")
        >>> from_torch(Scaled(), torch.zeros(1, 2)).torch_names
        {'import os': 'p_import_os'}
        """
        base = "p_" + re.sub(r"[^A-Za-z0-9_]", "_", key)
        taken = {p.split("[")[0] for p in self.out.params}
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        return name

    def param(self, net_name: str, shape, torch_name: str | None):
        self.out.params.append(f"{net_name}{_shape(shape)}")
        if torch_name is not None:
            self.out.names[torch_name] = net_name

    def run(self) -> _Text:
        for node in self.nodes:
            value = getattr(self, "do_" + node.op)(node)
            if isinstance(value, _Value) and len(node.users) > 1:
                value = self.bind(value)
            self.values[node] = value
        used = set(self.out.names)
        prefix = "0." if self.alone else ""
        for key, tensor in self.module.named_parameters():
            key = prefix + key
            if key not in used:
                self.param(self.direct_name(key), tuple(tensor.shape), key)
        if not self.out.params:
            raise UnsupportedError(f"{type(self.module).__name__} has no parameters")
        if self.alone:
            self.out.names = {key[2:]: value for key, value in self.out.names.items()}
        return self.out

    def arg(self, node, item) -> _Value:
        value = self.values[item] if isinstance(item, self.torch.fx.Node) else item
        if not isinstance(value, _Value):
            self.refuse(node, "a tensor argument was expected")
        return value

    def do_placeholder(self, node) -> _Value:
        index = sum(1 for n in self.nodes[:self.nodes.index(node)] if n.op == "placeholder")
        name = "x" if index == 0 else f"x{index + 1}"
        shape = self.net_shape(node)
        example = self.examples[index]
        onehot = not example.dtype.is_floating_point
        if onehot:
            users = [self.modules.get(u.target) if u.op == "call_module" else None
                     for u in node.users]
            sizes = {u.num_embeddings for u in users if isinstance(u, self.nn.Embedding)}
            if len(sizes) != 1 or not all(isinstance(u, self.nn.Embedding) for u in users):
                self.refuse(node, "an integer input is supported only as the indices of "
                                  "Embedding layers of one vocabulary size")
            shape = shape + (sizes.pop(),)
        self.out.inputs.append(f"{name}{_shape(shape)}" + (" onehot" if onehot else ""))
        return _Value(name, shape, True, onehot)

    def do_get_attr(self, node):
        try:
            tensor = self.graph_module.get_parameter(node.target)
        except AttributeError:
            self.refuse(node, "a buffer or constant tensor has values the import does not read; "
                              "only parameters can be used directly")
        net_name = self.out.names.get(node.target) or self.direct_name(node.target)
        if node.target not in self.out.names:
            self.param(net_name, tuple(tensor.shape), node.target)
        return _Value(net_name, tuple(tensor.shape), True)

    def do_output(self, node):
        results = node.args[0]
        for item in results if isinstance(results, (tuple, list)) else (results,):
            self.out.outputs.append(self.arg(node, item).text)

    def do_call_module(self, node) -> _Value:
        layer = self.modules[node.target]
        kind = type(layer).__name__
        if kind in _IDENTITY_MODULES:
            return self.arg(node, node.args[0])
        return getattr(self, "module_" + _MODULES[kind])(node, layer)

    def do_call_function(self, node):
        return getattr(self, "function_" + _FUNCTIONS[_function_key(node.target)])(node)

    def do_call_method(self, node):
        return getattr(self, "function_" + _METHODS[node.target])(node)

    # ----------------------------------------------------------------- modules
    def module_linear(self, node, layer) -> _Value:
        x = self.arg(node, node.args[0])
        k, new = self.number(node.target)
        if new:
            self.param(f"W{k}", tuple(layer.weight.shape), f"{node.target}.weight")
            if layer.bias is not None:
                self.param(f"b{k}", tuple(layer.bias.shape), f"{node.target}.bias")
        bias = f" + b{k}" if layer.bias is not None else ""
        return self.affine(node, x, f"W{k}", bias)

    def affine(self, node, x: _Value, weight: str, bias: str) -> _Value:
        """x W^T + b along the last axis, for an x of any rank."""
        shape = self.net_shape(node)
        if len(x.shape) == 1:
            return _Value(f"{weight} @ {x.operand()}{bias}", shape)
        if len(x.shape) == 2:
            return _Value(f"{x.operand()} @ {weight}.T{bias}", shape)
        flat = f"reshape({x.text}, {prod(x.shape[:-1])}, {x.shape[-1]}) @ {weight}.T{bias}"
        return _Value(f"reshape({flat}, {', '.join(map(str, shape))})", shape, True)

    def module_conv(self, node, layer) -> _Value:
        x = self.arg(node, node.args[0])
        dims = len(layer.kernel_size)
        if layer.padding_mode != "zeros":
            self.refuse(node, f"padding_mode '{layer.padding_mode}' has no .net translation "
                              "(zeros only)")
        padding = layer.padding
        if padding == "valid":
            padding = (0,) * dims
        elif padding == "same":
            totals = [d * (k - 1) for d, k in zip(layer.dilation, layer.kernel_size)]
            if any(t % 2 for t in totals):
                self.refuse(node, "padding='same' pads unequally here; the language pads "
                                  "both sides equally")
            padding = tuple(t // 2 for t in totals)
        options = {}
        for key, values, default in (("stride", layer.stride, 1), ("padding", padding, 0),
                                     ("dilation", layer.dilation, 1)):
            if len(set(values)) != 1:
                self.refuse(node, f"{key} {tuple(values)} differs between axes; the language "
                                  f"has one {key} for every axis")
            if values[0] != default:
                options[key] = values[0]
        if layer.groups != 1:
            options["groups"] = layer.groups
        k, new = self.number(node.target)
        channels = (layer.out_channels,) + (1,) * dims
        if new:
            self.param(f"W{k}", tuple(layer.weight.shape), f"{node.target}.weight")
            if layer.bias is not None:
                self.param(f"b{k}", channels, f"{node.target}.bias")
        text = f"conv{dims}d(W{k}, {x.text}" + "".join(f", {a}={b}" for a, b in options.items()) + ")"
        if layer.bias is not None:
            return _Value(f"{text} + b{k}", self.net_shape(node))
        return _Value(text, self.net_shape(node), True)

    def module_relu(self, node, layer) -> _Value:
        return self.function_relu(node)

    def module_leaky_relu(self, node, layer) -> _Value:
        return self.leaky(node, self.arg(node, node.args[0]), layer.negative_slope)

    def leaky(self, node, x: _Value, slope) -> _Value:
        """LeakyReLU(e) = s e + (1 - s) relu(e): its gate takes the values s and 1."""
        slope = Fraction(slope)
        if slope == 0:
            return _Value(f"relu({x.text})", x.shape, True)
        x = self.bind(x)
        return _Value(f"{_number(slope)} * {x.text} + {_number(1 - slope)} * relu({x.text})",
                      x.shape)

    def module_smooth(self, node, layer) -> _Value:
        x = self.arg(node, node.args[0])
        kind = type(layer).__name__
        if kind == "GELU" and getattr(layer, "approximate", "none") != "none":
            self.refuse(node, "GELU(approximate='tanh') is another function than GELU; "
                              "only the exact GELU is translated")
        function = {"Tanh": "tanh", "Sigmoid": "sigmoid", "GELU": "gelu", "SiLU": "silu"}[kind]
        return _Value(f"{function}({x.text})", x.shape, True)

    def module_pool(self, node, layer) -> _Value:
        x = self.arg(node, node.args[0])
        kind = type(layer).__name__
        dims = 2 if kind.endswith("2d") else 1
        size, stride = _pair(layer.kernel_size, dims), _pair(layer.stride or layer.kernel_size, dims)
        if _pair(layer.padding, dims) != (0,) * dims or layer.ceil_mode:
            self.refuse(node, "padding and ceil_mode have no .net translation")
        if kind.startswith("Max") and (_pair(layer.dilation, dims) != (1,) * dims
                                       or layer.return_indices):
            self.refuse(node, "dilation and return_indices have no .net translation")
        if kind.startswith("Avg") and getattr(layer, "divisor_override", None):
            self.refuse(node, "divisor_override has no .net translation")
        return self.pool(node, x, "max" if kind.startswith("Max") else "avg", dims, size, stride)

    def pool(self, node, x: _Value, kind: str, dims: int, size: tuple, stride: tuple) -> _Value:
        if len(set(size)) != 1 or len(set(stride)) != 1:
            self.refuse(node, "windows or strides that differ between the two axes have no "
                              ".net translation")
        size, stride = size[0], stride[0]
        function = f"{kind}pool" + ("2d" if dims == 2 else "")
        tiles = stride == size and all(n % size == 0 for n in x.shape[-dims:])
        text = f"{function}({x.text}, size={size}" + ("" if tiles else f", stride={stride}") + ")"
        return _Value(text, self.net_shape(node), True)

    def module_adaptive(self, node, layer) -> _Value:
        x = self.arg(node, node.args[0])
        dims = 2 if type(layer).__name__.endswith("2d") else 1
        wanted = _pair(layer.output_size, dims)
        given = x.shape[-dims:]
        wanted = tuple(n if o is None else o for o, n in zip(wanted, given))
        if any(n % o for n, o in zip(given, wanted)) or len({n // o for n, o in zip(given, wanted)}) != 1:
            self.refuse(node, f"output size {wanted} does not divide the input size "
                              f"{tuple(given)} into equal square windows")
        size = given[0] // wanted[0]
        if size == 1:
            return x
        return self.pool(node, x, "avg", dims, (size,) * dims, (size,) * dims)

    def module_flatten(self, node, layer) -> _Value:
        return self.reshaped(node, self.arg(node, node.args[0]))

    def module_embedding(self, node, layer) -> _Value:
        x = self.arg(node, node.args[0])
        if not x.onehot:
            self.refuse(node, "an Embedding needs the module's integer input itself")
        if layer.padding_idx is not None or layer.max_norm is not None:
            self.refuse(node, "padding_idx (a frozen row) and max_norm have no .net translation")
        k, new = self.number(node.target)
        if new:
            self.param(f"E{k}", tuple(layer.weight.shape), f"{node.target}.weight")
        shape = self.net_shape(node)
        if len(x.shape) <= 2:
            return _Value(f"{x.text} @ E{k}", shape)
        flat = f"reshape({x.text}, {prod(x.shape[:-1])}, {x.shape[-1]}) @ E{k}"
        return _Value(f"reshape({flat}, {', '.join(map(str, shape))})", shape, True)

    def module_attention(self, node, layer) -> _Value:
        """Self-attention ``attention(X, Wq.T, Wk.T, Wv.T, Wo, heads=h)``.

        PyTorch scales the scores by c = 1/sqrt(E/h); the language does not, and the
        laws are the same. Proof: softmax is a generic function (DSL.md section 2): its
        value is a free data symbol per distinct argument, and the model depends on
        theta through the argument's entries only, which are carriers. Scaling every
        score by the nonzero constant c (1) maps equal arguments to equal arguments and
        different to different (c p = c q iff p = q), so the symbols are the same, and
        (2) multiplies each carrier's coefficient polynomials by c, which changes
        neither the span of their gradients (N) nor the polynomials conserved by the
        flows they generate (a law h has grad h . grad(c f) = c grad h . grad f = 0).
        """
        if layer.in_proj_bias is not None or layer.bias_k is not None or layer.add_zero_attn:
            self.refuse(node, "query/key/value biases have no .net translation (the language's "
                              "attention has none): use bias=False, add_bias_kv=False, "
                              "add_zero_attn=False")
        if not layer._qkv_same_embed_dim or not layer.batch_first:
            self.refuse(node, "only batch_first=True with kdim = vdim = embed_dim is translated")
        query = node.args[0] if node.args else node.kwargs.get("query")
        rest = list(node.args[1:3]) + [node.kwargs.get(k) for k in ("key", "value") if k in node.kwargs]
        extra = {k: v for k, v in node.kwargs.items() if k not in ("query", "key", "value")}
        masks = [k for k in ("key_padding_mask", "attn_mask") if extra.get(k) is not None]
        if extra.get("is_causal") or masks or len(node.args) > 3:
            self.refuse(node, "masks have no .net translation")
        if any(r is not query for r in rest):
            self.refuse(node, "only self-attention (query, key and value the same tensor) is "
                              "translated")
        x = self.arg(node, query)
        if x.shape and x.shape[-1] != layer.embed_dim:
            self.refuse(node, f"expects {layer.embed_dim} features, gets shape {list(x.shape)}")
        if self.batched or len(x.shape) != 2:
            self.refuse(node, "attention is translated on one sample [tokens, features] only")
        if any(u.op != "call_function" or u.target is not operator.getitem or u.args[1] != 0
               for u in node.users):
            self.refuse(node, "only the attention output (item 0) is translated, not the weights")
        k, new = self.number(node.target)
        e = layer.embed_dim
        names = (f"Wq{k}", f"Wk{k}", f"Wv{k}")
        if new:
            for n in names:
                self.param(n, (e, e), None)
            self.out.names[f"{node.target}.in_proj_weight"] = names
            self.param(f"Wo{k}", (e, e), f"{node.target}.out_proj.weight")
            if layer.out_proj.bias is not None:
                self.param(f"bo{k}", (e,), f"{node.target}.out_proj.bias")
        text = (f"attention({x.text}, Wq{k}.T, Wk{k}.T, Wv{k}.T, Wo{k}, heads={layer.num_heads})")
        if layer.out_proj.bias is not None:
            return _Value(f"{text} + bo{k}", tuple(x.shape))
        return _Value(text, tuple(x.shape), True)

    def module_norm(self, node, layer) -> _Value:
        """LayerNorm, RMSNorm and BatchNorm as the language's ``layernorm``,
        ``rmsnorm`` and ``batchnorm`` with their affine parameters."""
        x = self.arg(node, node.args[0])
        kind = type(layer).__name__
        options = []
        if kind.startswith("BatchNorm"):
            function = "batchnorm"
            if not layer.training and layer.track_running_stats:
                self.refuse(node, "in eval mode BatchNorm uses its running statistics (buffers, "
                                  "not the batch's); put the module in train mode")
            affine = layer.affine
            shape = (x.shape[1],) + (1,) * (len(x.shape) - 2)
            bias = affine
        else:
            function = "layernorm" if kind == "LayerNorm" else "rmsnorm"
            axes = len(layer.normalized_shape)
            if axes > 1:
                options.append(f"axes={axes}")
            affine = layer.elementwise_affine
            shape = tuple(layer.normalized_shape)
            bias = affine and getattr(layer, "bias", None) is not None
        eps = layer.eps
        if eps is None:   # RMSNorm's default: the machine epsilon of the input's dtype
            eps = self.torch.finfo(self.examples[0].dtype if self.examples[0].dtype.is_floating_point
                                   else self.torch.float32).eps
        if self.eps == "zero":
            note = "eps is taken as zero in the normalization layers (eps='zero')"
            if note not in self.out.notes:
                self.out.notes.append(note)
        else:
            options.insert(0, f"eps={str(Fraction(eps))}")
        text = f"{function}({x.text}" + "".join(f", {o}" for o in options) + ")"
        if not affine:
            return _Value(text, self.net_shape(node), True)
        k, new = self.number(node.target)
        if new:
            self.param(f"g{k}", shape, f"{node.target}.weight")
            if bias:
                self.param(f"b{k}", shape, f"{node.target}.bias")
        return _Value(f"g{k} * {text}" + (f" + b{k}" if bias else ""), self.net_shape(node))

    # --------------------------------------------------- functions and methods
    def function_identity(self, node) -> _Value:
        return self.arg(node, node.args[0])

    def function_relu(self, node) -> _Value:
        x = self.arg(node, node.args[0])
        return _Value(f"relu({x.text})", x.shape, True)

    def function_leaky_relu(self, node) -> _Value:
        slope = node.args[1] if len(node.args) > 1 else node.kwargs.get("negative_slope", 0.01)
        return self.leaky(node, self.arg(node, node.args[0]), slope)

    def function_tanh(self, node) -> _Value:
        x = self.arg(node, node.args[0])
        return _Value(f"tanh({x.text})", x.shape, True)

    def function_sigmoid(self, node) -> _Value:
        x = self.arg(node, node.args[0])
        return _Value(f"sigmoid({x.text})", x.shape, True)

    def function_gelu(self, node) -> _Value:
        if node.kwargs.get("approximate", "none") != "none":
            self.refuse(node, "gelu(approximate='tanh') is another function than GELU; "
                              "only the exact GELU is translated")
        x = self.arg(node, node.args[0])
        return _Value(f"gelu({x.text})", x.shape, True)

    def function_silu(self, node) -> _Value:
        x = self.arg(node, node.args[0])
        return _Value(f"silu({x.text})", x.shape, True)

    def function_arithmetic(self, node) -> _Value:
        """+, -, * of tensors (NumPy broadcasting) or numbers; / by a number; -e.
        Arithmetic of sizes (``x.size(0) * 2``) is done in Python."""
        if not any(isinstance(self.values.get(a), _Value) for a in node.args
                   if isinstance(a, self.torch.fx.Node)):
            values = [self.values[a] if isinstance(a, self.torch.fx.Node) else a for a in node.args]
            return node.target(*values) if node.op == "call_function" else \
                getattr(values[0], node.target)(*values[1:])
        name = _function_key(node.target)
        symbol = {"add": "+", "iadd": "+", "sub": "-", "isub": "-", "mul": "*", "imul": "*",
                  "truediv": "/", "neg": "-", "multiply": "*", "subtract": "-"}[name.split(".")[-1]]
        if symbol == "-" and len(node.args) == 1:
            return _Value(f"-{self.arg(node, node.args[0]).operand()}", self.net_shape(node))
        if node.kwargs.get("alpha", 1) != 1:
            self.refuse(node, "alpha has no .net translation")
        left, right = node.args[:2]
        if symbol == "/":
            if isinstance(right, self.torch.fx.Node) or not right:
                self.refuse(node, "division is translated by a nonzero number only")
            symbol, right = "*", 1 / Fraction(right)
        texts = [self.arg(node, item).operand() if isinstance(item, self.torch.fx.Node)
                 else _number(item) for item in (left, right)]
        return _Value(f"{texts[0]} {symbol} {texts[1]}", self.net_shape(node))

    def function_matmul(self, node) -> _Value:
        a, b = (self.arg(node, item) for item in node.args[:2])
        if len(a.shape) > 2 or len(b.shape) > 2:
            self.refuse(node, "@ is translated for vectors and matrices only")
        return _Value(f"{a.operand()} @ {b.operand()}", self.net_shape(node))

    def function_reshape(self, node) -> _Value:
        return self.reshaped(node, self.arg(node, node.args[0]))

    def reshaped(self, node, x: _Value) -> _Value:
        shape = self.net_shape(node)
        if shape == x.shape:
            return x
        return _Value(f"reshape({x.text}, {', '.join(map(str, shape))})" if shape else
                      f"sum({x.text})", shape, True)

    def function_permute(self, node) -> _Value:
        x = self.arg(node, node.args[0])
        order = node.args[1:] if node.args[1:] else (node.kwargs["dims"],)
        if len(order) == 1 and isinstance(order[0], (tuple, list)):
            order = order[0]
        rank = len(order)
        order = [d + rank if d < 0 else d for d in order]
        if not self.batched:
            if order[0] != 0:
                self.refuse(node, "it moves the batch axis, which a one-sample model does not have")
            order = [d - 1 for d in order[1:]]
        return self.permuted(node, x, order)

    def permuted(self, node, x: _Value, order) -> _Value:
        if list(order) == sorted(order):
            return x
        return _Value(f"permute({x.text}, {', '.join(map(str, order))})", self.net_shape(node), True)

    def function_transpose(self, node) -> _Value:
        x = self.arg(node, node.args[0])
        rank = len(self.shapes[node.args[0].name].shape)
        if node.target == "t":
            dims = (0, 1) if rank == 2 else (0, 0)
        else:
            dims = tuple(node.args[1:3]) or (node.kwargs["dim0"], node.kwargs["dim1"])
        first, second = (self.axis(node, d, rank) for d in dims)
        order = list(range(len(x.shape)))
        order[first], order[second] = order[second], order[first]
        return self.permuted(node, x, order)

    def function_cat(self, node) -> _Value:
        items = node.args[0]
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        rank = len(self.shapes[items[0].name].shape)
        axis = self.axis(node, dim, rank)
        parts = [self.arg(node, item).text for item in items]
        if len(parts) == 1:
            return self.arg(node, items[0])
        return _Value(f"cat({', '.join(parts)}" + (f", axis={axis}" if axis else "") + ")",
                      self.net_shape(node), True)

    def function_getitem(self, node):
        source, index = node.args
        value = self.values[source]
        if isinstance(value, _Value):
            if index == 0 and source.op == "call_module" and _MODULES.get(
                    type(self.modules[source.target]).__name__) == "attention":
                return value
            self.refuse(node, "indexing or slicing a tensor has no .net translation")
        return value[index]

    def function_size(self, node):
        return self.shapes[node.name]

    def function_getattr(self, node):
        if node.args[1] != "shape":
            self.refuse(node, f"the attribute '{node.args[1]}' has no .net translation")
        return tuple(self.shapes[node.args[0].name].shape)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _pair(value, dims: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def _function_key(target) -> str:
    """A call_function target as text: ``operator.add``, ``torch.relu``, ``F.gelu``."""
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module == "builtins" and name == "getattr":
        return "getattr"
    return f"torch.{name}"


_MODULES = {"Linear": "linear", "Conv1d": "conv", "Conv2d": "conv", "ReLU": "relu",
            "LeakyReLU": "leaky_relu", "Tanh": "smooth", "Sigmoid": "smooth", "GELU": "smooth",
            "SiLU": "smooth", "MaxPool1d": "pool", "MaxPool2d": "pool", "AvgPool1d": "pool",
            "AvgPool2d": "pool", "AdaptiveAvgPool1d": "adaptive", "AdaptiveAvgPool2d": "adaptive",
            "Flatten": "flatten", "Embedding": "embedding", "MultiheadAttention": "attention",
            "LayerNorm": "norm", "RMSNorm": "norm", "BatchNorm1d": "norm", "BatchNorm2d": "norm"}
_FUNCTIONS = {"operator.add": "arithmetic", "operator.iadd": "arithmetic",
              "operator.sub": "arithmetic", "operator.isub": "arithmetic",
              "operator.mul": "arithmetic", "operator.imul": "arithmetic",
              "operator.truediv": "arithmetic", "operator.neg": "arithmetic",
              "torch.add": "arithmetic", "torch.sub": "arithmetic", "torch.mul": "arithmetic",
              "torch.subtract": "arithmetic", "torch.multiply": "arithmetic",
              "operator.matmul": "matmul", "torch.matmul": "matmul", "operator.getitem": "getitem",
              "getattr": "getattr", "F.relu": "relu", "torch.relu": "relu",
              "F.leaky_relu": "leaky_relu", "torch.tanh": "tanh", "F.tanh": "tanh",
              "torch.sigmoid": "sigmoid", "F.sigmoid": "sigmoid", "F.gelu": "gelu", "torch.gelu": "gelu",
              "F.silu": "silu", "F.dropout": "identity", "torch.flatten": "reshape",
              "torch.reshape": "reshape", "torch.permute": "permute", "torch.transpose": "transpose",
              "torch.cat": "cat", "torch.concat": "cat", "torch.concatenate": "cat"}
_METHODS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "flatten": "reshape",
            "view": "reshape", "reshape": "reshape", "permute": "permute",
            "transpose": "transpose", "t": "transpose", "size": "size", "contiguous": "identity",
            "add": "arithmetic", "sub": "arithmetic", "mul": "arithmetic", "matmul": "matmul"}


def net_text(module, example_input=None, name: str = "torch_model", eps: str = "exact",
             input_shape=None) -> tuple[str, dict]:
    """The `.net` text of a traceable ``nn.Module`` and the parameter-name mapping.

    ``example_input``: a tensor with the batch axis first (or a tuple of them, one
    per input), or a shape of one sample; ``input_shape`` is the older name of the
    latter. Notes on the translation are ``net_text_and_notes``'s third value.

    >>> import torch.nn as nn
    >>> print(net_text(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)))[0])
    model torch_model
    input x[2]
    param W1[2,2], b1[2], W2[1,2], b2[1]
    output W2 @ relu(W1 @ x + b1) + b2
    """
    text, names, _ = net_text_and_notes(module, example_input, name, eps, input_shape)
    return text, names


def net_text_and_notes(module, example_input=None, name: str = "torch_model",
                       eps: str = "exact", input_shape=None) -> tuple[str, dict, list]:
    """``net_text`` with the notes on the translation (e.g. eps taken as zero).

    >>> import torch, torch.nn as nn
    >>> text, names, notes = net_text_and_notes(nn.LayerNorm(3), torch.zeros(1, 3), eps="zero")
    >>> text.splitlines()[-1], notes
    ('output g1 * layernorm(x) + b1', ["eps is taken as zero in the normalization layers (eps='zero')"])
    """
    if eps not in ("exact", "zero"):
        raise UnsupportedError(f"eps must be 'exact' or 'zero', not {eps!r}")
    example = example_input if example_input is not None else input_shape
    out = _Importer(module, example, name, eps).run()
    lines = [f"model {name}", "input " + ", ".join(out.inputs), "param " + ", ".join(out.params)]
    text = "\n".join(lines + out.statements + [f"output {o}" for o in out.outputs])
    return text, out.names, out.notes


def _first_shape(layers, input_shape) -> tuple:
    """The one-sample input shape given by the caller (kept for the older API).

    >>> _first_shape([], (3, 8))
    (3, 8)
    """
    return tuple(input_shape)


def from_torch(module, example_input=None, name: str = "torch_model", eps: str = "exact",
               input_shape=None):
    """A ``Model`` with the architecture of ``module`` (any ``nn.Module`` torch.fx traces).

    ``example_input`` is a tensor with the batch axis first, e.g. ``torch.zeros(2, 3, 8)``
    (its values are not read, only its shape and dtype; integer indices for an
    ``Embedding``), a tuple of such tensors for several inputs, or the shape of one
    sample, ``(3, 8)`` (``input_shape``, the older keyword, means the same). It can be
    omitted when the first layer is a ``Linear``. ``eps="zero"`` writes the
    normalization layers without eps (``model.torch_notes`` says so).
    ``model.torch_names`` maps PyTorch's parameter names to the model's.

    Importing PyTorch takes a second, so this example shows the input line the import
    writes for a given one-sample shape (the module's docstring builds a whole model):

    >>> "input x" + _shape(_first_shape([], (3, 8)))
    'input x[3,8]'
    """
    from ..api import parse

    if importlib.util.find_spec("torch") is None:
        raise UnsupportedError("from_torch needs PyTorch: pip install -e '.[torch]'")
    text, names, notes = net_text_and_notes(module, example_input, name, eps, input_shape)
    model = parse(text, f"<torch:{name}>")
    model.torch_names = names
    model.torch_notes = notes
    return model
