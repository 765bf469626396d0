"""Exact arithmetic that every later stage builds on, and that knows nothing of models:
linear algebra modulo a word-size prime (``modp``: rank, spans, the prime and its error
bound), truncated jets modulo p for exact directional derivatives (``jets``), linear
algebra over QQ (``rational``: one ``rref`` with ``method='auto'``, kernels, primitive
vectors), sparse polynomial terms (``sparse``), the bridge to Singular for Groebner bases,
syzygies and normal forms (``singular``) and polynomials printed with names (``render``).
It imports only ``errors`` and ``progress``.
"""
