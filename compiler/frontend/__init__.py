"""The front end: policy text (DSL or YAML) to the typed IR, or diagnostics.

Data flows one way: ``parser`` (Lark grammar, ``transformer``) and ``yaml_front`` build
the ``ast``; ``lowering`` checks every value and reference and builds the IR; ``loader``
runs the pipeline for one file.
"""
