"""Interpreters of a compiled ``Program``, one per arithmetic: ``expand`` expands the
outputs exactly into features (polynomials in the parameters over QQ, gates kept as
symbols); ``modular`` evaluates them and their derivatives modulo a prime on jets at a
random point (what the Lie count needs, without expanding); ``floating`` runs the model on
floats with reverse-mode gradients, for simulation only.
"""
