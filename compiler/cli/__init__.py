"""The ``dualgate`` command line: one thin module per command, over the compiler API."""
