"""The `.net` language: text to a checked, typed program. ``parser`` reads text with the
lark grammar ``net.lark`` into an AST with source positions (syntax errors as
``file:line:col``); ``compiler`` resolves names and shapes and lowers the AST to a
``program.Program``, the flat list of typed operations on parameter and data tensors that
every evaluator interprets, together with the flow and metric the file asks for;
``sympy_text`` writes a SymPy expression as `.net` text, so SymPy input goes through the
same compiler. The interpreters of a Program live here too, one per arithmetic
(``expand`` exact features over QQ, ``modular`` jets modulo a prime, ``floating`` floats
for simulation), because the compiler needs them: ``canonical`` evaluates arguments to
decide which calls are one value and which arguments hold data (DSL.md section 2).
"""
