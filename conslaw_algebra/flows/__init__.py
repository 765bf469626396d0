"""The training flow as vector fields. ``system`` turns a program and its flow specification
(gradient, mirror/metric, heavy-ball or Nesterov momentum: ``language/flowspec.py``) into
the family of generator fields on the parameter or phase space, sampled modulo p, and
builds them exactly over QQ (``exact_fields``, the one place that does); ``fields`` is the
lazy algebra of those fields (combinations and Lie brackets) evaluated at a point.
"""
