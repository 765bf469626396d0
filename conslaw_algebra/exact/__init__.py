"""Exact arithmetic that every later stage builds on, and that knows nothing of models:
linear algebra modulo a word-size prime (``modp``: rank, spans, the prime and its error
bound), truncated jets modulo p for exact directional derivatives (``jets``), the bridge to
Singular for Groebner bases, syzygies and normal forms (``singular``), python-flint
polynomials as sparse terms (``sparse``) and polynomials printed with parameter names
(``render``). It imports only ``errors`` and ``progress``.
"""
