"""What a user sees: the ``conslaw`` command line (``cli``) and the interactive REPL
(``repl``). They call the ``api`` facade, print its results as text or JSON and draw the
progress that the analyses report; one line and exit status 2 for a user's mistake.
"""
