"""Moved: :mod:`taskqueue_local.infrastructure.lambda_context`."""

from taskqueue_local.infrastructure.lambda_context import LambdaContext

__all__ = ["LambdaContext"]
