"""Structured JSON logs and CloudWatch metrics (EMF), through Powertools for AWS Lambda."""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["MetricUnit", "logger_for", "metrics"]

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "TaskQueue")


def _json_line(document: Any) -> str:
    """Powertools' JSON, except that text stdout cannot encode (a lone surrogate from a task name, say) is
    escaped, so the line is written rather than lost in the log handler."""
    line = json.dumps(document, default=str, separators=(",", ":"), ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document, default=str, separators=(",", ":"), ensure_ascii=True)
    return line


def logger_for(role: str) -> Logger:
    """A JSON logger; POWERTOOLS_SERVICE_NAME overrides the service name, as in any Powertools function."""
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or f"taskqueue-{role}", json_serializer=_json_line)
