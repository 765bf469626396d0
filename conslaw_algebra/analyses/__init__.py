"""The algorithms on a flow's fields, and the values they return. ``lie`` counts the
laws as D minus the rank of the Lie algebra's trace (exact modulo p); ``laws`` finds a
basis of the polynomial laws of bounded degree (exact over QQ), ``syzygy_laws`` the same a
second way; ``relations`` the algebra they generate (relations, membership, minimal
generators); ``blocks`` laws tensor block by tensor block; ``paths`` path counts and norms;
``regions`` sign regions; ``matrix_form`` which Gram differences are laws; ``guards`` memory
estimates and the time limit; ``results`` the result values (their text, JSON and LaTeX
forms are registered by ``views/results.py``).
"""
