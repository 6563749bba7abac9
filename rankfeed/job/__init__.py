"""Library of the PyFlink feedback job: one module per stage; ``jobs/*.py`` only wires them."""
