"""Old import paths, kept only until ``scenarios/soak.py`` and ``bench/drain.py`` (being changed on another
branch) import from the new ones; delete this package then. The pieces live in the lowest layer that uses
them: ``infrastructure.call_counter``, ``infrastructure.lambda_context``, ``infrastructure.statistics``,
``infrastructure.tables`` and ``deployment.instrumented_consumer``."""
