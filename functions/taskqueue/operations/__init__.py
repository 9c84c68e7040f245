"""Operating a queue from a shell or from Python: the ``python -m taskqueue`` CLI, dead-letter triage,
redrive and queue depths.

None of it runs in the Lambda functions, so ``build.py`` leaves this package (and ``__main__``) out of
their zips; the CLI's optional dependency (rich) is the package's ``cli`` extra, never a function's.
"""
