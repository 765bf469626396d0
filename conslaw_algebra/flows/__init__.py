"""The training flow as vector fields. ``system`` turns a program and its flow (gradient,
mirror/metric, heavy-ball or Nesterov momentum) into the family of generator fields on
the parameter or phase space, evaluated modulo p or expanded exactly; ``fields`` is the
lazy algebra of those fields (combinations and Lie brackets) evaluated at a point.
"""
