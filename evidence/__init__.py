"""evidence: the bottom package that every tier returns its results through.

- ``record``: the evidence record (:class:`Evidence`), verdicts and the run context of a check.
- ``io``: atomic result files and one JSON-plain rule.
"""
