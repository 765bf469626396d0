"""The algorithms on a flow's fields, and the values they return. ``lie`` counts the
laws as D minus the rank of the Lie algebra's trace (exact modulo p); ``laws`` finds a
basis of the polynomial laws of bounded degree (exact over QQ), ``syzygy_laws`` the same a
second way; ``relations`` the algebra they generate (relations, membership, minimal
generators); ``blocks`` laws tensor block by tensor block; ``paths`` path counts and norms;
``guards`` memory estimates and the time limit; ``results`` and ``exports`` the result
values and their LaTeX, SymPy and Sage forms.
"""
