"""What a user sees: how results read (``results``: text, JSON, HTML, LaTeX, registered
with each result type; ``exports``: LaTeX with matrix equations and Sage code), the
``conslaw`` command line (``cli``) and the interactive REPL (``repl``). They call the
``api`` facade, print its results and draw the progress that the analyses report; one
line and exit status 2 for a user's mistake.
"""
