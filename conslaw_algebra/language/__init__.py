"""The `.net` language: text to a checked, typed program. ``parser`` reads text into the
syntax tree of ``syntax`` with source positions, by the hand-written ``fast_parser``, and
on a mistake by ``lark_parser`` (lark on the grammar ``net.lark``), whose error is
reported as ``file:line:col``; ``compiler`` resolves names and shapes and lowers the AST to a
``program.Program``, the flat list of typed operations on parameter and data tensors that
every evaluator interprets, together with the flow the file asks for (``flowspec``, the
one place that knows the cases of a flow) and its metric lines; ``sympy_text`` writes a
SymPy expression as `.net` text, so SymPy input goes through the same compiler. A Program
is run by one ``interpreter`` (forward and reverse pass) in one of three arithmetics:
``expand`` exact features over QQ, ``modular`` jets modulo a prime, ``floating`` floats for
simulation. They live here because the compiler needs them: ``canonical`` evaluates
arguments to decide which calls are one value and which arguments hold data (DSL.md
section 2).
"""
