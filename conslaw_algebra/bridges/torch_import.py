"""Import a PyTorch ``nn.Sequential`` as a `.net` model (optional extra ``[torch]``).

Conservation laws depend on the architecture only, so the import reads layer types
and shapes, never weight values. The module is walked once and written as explicit
`.net` statements (``input``, ``param``, one let-binding per layer, ``output``), then
compiled by the ordinary parser.

Names: weight layers (``Linear``, ``Conv1d``, ``Conv2d``) are numbered 1, 2, ... in
order; the k-th one's ``weight`` becomes ``Wk`` and its ``bias`` ``bk``, so in
``nn.Sequential(Linear, ReLU, Linear)`` ``0.weight -> W1``, ``0.bias -> b1``,
``2.weight -> W2``. The input is ``x``. The mapping is ``model.torch_names``.

Translated: ``Linear`` (with or without bias), ``ReLU``, ``Identity``, ``Flatten`` of a
vector, ``Conv1d``/``Conv2d`` without bias (stride 1, no padding, no dilation, one
group), ``MaxPool1d`` with stride = kernel size. Anything else, or a layer with
trainable parameters of another kind, is refused with a message naming the layer.

>>> import torch.nn as nn
>>> model = from_torch(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1, bias=False)))
>>> model.torch_names
{'0.weight': 'W1', '0.bias': 'b1', '2.weight': 'W2'}
>>> model.count_laws().laws
2
"""
from __future__ import annotations

import importlib.util

from ..errors import UnsupportedError


def _shape(shape) -> str:
    return "[" + ",".join(str(int(n)) for n in shape) + "]" if shape else ""


def net_text(module, input_shape=None, name: str = "torch_model") -> tuple[str, dict]:
    """The `.net` text of an ``nn.Sequential`` and the parameter-name mapping.

    >>> import torch.nn as nn
    >>> print(net_text(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)))[0])
    model torch_model
    input x[2]
    param W1[2,2], b1[2], W2[1,2], b2[1]
    h1 = relu(W1 @ x + b1)
    output W2 @ h1 + b2
    """
    from torch import nn

    if not isinstance(module, nn.Sequential):
        raise UnsupportedError(f"from_torch takes an nn.Sequential, not {type(module).__name__}")
    layers = list(module.named_children())
    if not layers:
        raise UnsupportedError("the nn.Sequential is empty")
    shape = tuple(input_shape) if input_shape is not None else _first_input(layers[0][1])
    params: list[str] = []
    names: dict[str, str] = {}
    statements: list[str] = []
    value, count, lets = "x", 0, 0

    def bind(expression: str) -> str:
        nonlocal lets
        lets += 1
        statements.append(f"h{lets} = {expression}")
        return f"h{lets}"

    pending = None   # an expression not yet bound to a name

    def new_weight(key, weight_shape) -> int:
        """Declare the next weight tensor W<k> for layer ``key``; returns k."""
        nonlocal count
        count += 1
        params.append(f"W{count}{_shape(weight_shape)}")
        names[f"{key}.weight"] = f"W{count}"
        return count
    for key, layer in layers:
        where = f"layer {key} ({type(layer).__name__})"
        current = pending if pending is not None else value
        if isinstance(layer, nn.Linear):
            if len(shape) != 1 or shape[0] != layer.in_features:
                raise UnsupportedError(f"{where} expects {layer.in_features} inputs, gets shape "
                                       f"{list(shape)}")
            new_weight(key, layer.weight.shape)
            current = bind(pending) if pending is not None else current
            expression = f"W{count} @ {current}"
            if layer.bias is not None:
                params.append(f"b{count}{_shape(layer.bias.shape)}")
                names[f"{key}.bias"] = f"b{count}"
                expression += f" + b{count}"
            pending, shape = expression, (layer.out_features,)
        elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            dims = 1 if isinstance(layer, nn.Conv1d) else 2
            plain = (all(s == 1 for s in layer.stride) and all(d == 1 for d in layer.dilation)
                     and layer.groups == 1 and layer.padding in ((0,) * dims, "valid"))
            if not plain:
                raise UnsupportedError(f"{where}: only stride 1, no padding, no dilation and one "
                                       "group have a .net translation")
            if layer.bias is not None:
                raise UnsupportedError(f"{where}: a convolution bias has no .net translation "
                                       "yet (use bias=False)")
            if len(shape) != dims + 1 or shape[0] != layer.in_channels:
                raise UnsupportedError(f"{where} expects {layer.in_channels} channels and "
                                       f"{dims} spatial axes, gets shape {list(shape)}")
            new_weight(key, layer.weight.shape)
            current = bind(pending) if pending is not None else current
            pending = f"conv{dims}d(W{count}, {current})"
            kernel = layer.kernel_size
            shape = (layer.out_channels,) + tuple(n - k + 1 for n, k in zip(shape[1:], kernel))
        elif isinstance(layer, nn.ReLU):
            pending = f"relu({current})"
        elif isinstance(layer, nn.MaxPool1d):
            size = _single(layer.kernel_size)
            stride = _single(layer.stride)
            if stride != size or _single(layer.padding) != 0 or _single(layer.dilation) != 1:
                raise UnsupportedError(f"{where}: only windows with stride = kernel size have a "
                                       ".net translation")
            if shape[-1] % size:
                raise UnsupportedError(f"{where}: length {shape[-1]} is not a multiple of {size}")
            pending = f"maxpool({current}, size={size})"
            shape = shape[:-1] + (shape[-1] // size,)
        elif isinstance(layer, nn.Identity) or (isinstance(layer, nn.Flatten) and len(shape) == 1):
            continue
        else:
            raise UnsupportedError(f"{where} has no .net translation")
        if any(True for _ in layer.parameters()) and not isinstance(
                layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            raise UnsupportedError(f"{where} has trainable parameters of an unsupported kind")
        if pending is not None and pending.startswith("relu("):
            value, pending = bind(pending), None
    if count == 0:
        raise UnsupportedError("the nn.Sequential has no Linear or convolution layer")
    output = pending if pending is not None else value
    input_line = f"input x{_shape(_first_shape(layers, input_shape))}"
    text = "\n".join([f"model {name}", input_line, "param " + ", ".join(params)] + statements
                     + [f"output {output}"])
    return text, names


def _single(value) -> int:
    return value if isinstance(value, int) else value[0]


def _first_input(layer) -> tuple:
    from torch import nn

    if isinstance(layer, nn.Linear):
        return (layer.in_features,)
    raise UnsupportedError(f"give input_shape: the first layer ({type(layer).__name__}) does not "
                           "fix the input's shape")


def _first_shape(layers, input_shape) -> tuple:
    return tuple(input_shape) if input_shape is not None else _first_input(layers[0][1])


def from_torch(module, input_shape=None, name: str = "torch_model"):
    """A ``Model`` with the architecture of ``module`` (an ``nn.Sequential``).

    ``input_shape`` (one sample, no batch axis) is needed when the first layer is a
    convolution, e.g. ``(channels, length)``. ``model.torch_names`` maps PyTorch's
    parameter names to the model's (``'0.weight' -> 'W1'``).

    Importing PyTorch takes seconds, so this example shows the input line the import
    writes for a given ``input_shape`` (the module's docstring builds a whole model):

    >>> "input x" + _shape(_first_shape([], (3, 8)))
    'input x[3,8]'
    """
    from ..api import parse

    if importlib.util.find_spec("torch") is None:
        raise UnsupportedError("from_torch needs PyTorch: pip install -e '.[torch]'")
    text, names = net_text(module, input_shape, name)
    model = parse(text, f"<torch:{name}>")
    model.torch_names = names
    return model
