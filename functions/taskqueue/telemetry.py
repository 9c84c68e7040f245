"""Structured JSON logs and CloudWatch metrics (EMF), through Powertools for AWS Lambda."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["MetricUnit", "logger_for", "metrics"]

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "TaskQueue")


def logger_for(role: str) -> Logger:
    """A JSON logger; POWERTOOLS_SERVICE_NAME overrides the service name, as in any Powertools function."""
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or f"taskqueue-{role}")
