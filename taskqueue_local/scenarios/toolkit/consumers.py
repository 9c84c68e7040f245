"""Moved: :mod:`taskqueue_local.deployment.instrumented_consumer`."""

from taskqueue_local.deployment.instrumented_consumer import InstrumentedConsumer, instrumented_consumer

__all__ = ["InstrumentedConsumer", "instrumented_consumer"]
