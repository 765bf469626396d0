"""Work built on the public facade: ``simulate`` integrates the flow and discrete steps
on floats and measures each law's drift; ``sweep`` counts laws over families of models in
parallel; ``families`` writes those families' `.net` text.
"""
