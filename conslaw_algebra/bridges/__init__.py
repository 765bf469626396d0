"""Models from other tools: ``sympy_bridge`` turns SymPy expressions, and
``torch_import`` a PyTorch module, into `.net` text compiled by the ordinary parser, so a
bridged model means exactly what the same file would mean.
"""
