"""Structured JSON logs, through Powertools for AWS Lambda's Logger, loaded when first needed.

A batch that succeeds logs nothing but its metrics line (taskqueue.metrics). Powertools' package takes
about a fifth of a cold start to import, so the Logger is built on the first line that is actually
written (a failure, a dead letter, a debug line): a cold start pays for it only when it logs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

__all__ = ["LazyLogger", "logger_for", "service_name"]

# What the function asks for: Lambda's log-level setting wins over Powertools' own variable, as in
# Powertools itself.
_LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING}


def _json_line(document: Any) -> str:
    """Powertools' JSON, except that text stdout cannot encode (a lone surrogate from a task name, say) is
    escaped, so the line is written rather than lost in the log handler."""
    line = json.dumps(document, default=str, separators=(",", ":"), ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document, default=str, separators=(",", ":"), ensure_ascii=True)
    return line


def service_name(role: str) -> str:
    """POWERTOOLS_SERVICE_NAME, as in any Powertools function, else taskqueue-<role>."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or f"taskqueue-{role}"


def configured_level() -> int:
    name = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO").upper()
    if name in _LEVELS:
        return _LEVELS[name]
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


_BUILDING = threading.Lock()


class LazyLogger:
    """The parts of Powertools' Logger this package uses; the Logger itself is built on first use."""

    def __init__(self, role: str) -> None:
        self.role = role
        self._powertools: Any = None
        self._context: Any = None
        self._context_keys_for: Any = None

    @property
    def powertools(self) -> Any:
        """The Powertools Logger (built now if it was not yet)."""
        if self._powertools is None:
            with _BUILDING:  # the lanes of a concurrent batch may log first from several threads at once
                if self._powertools is None:
                    from aws_lambda_powertools import Logger  # noqa: PLC0415 - see the module docstring

                    self._powertools = Logger(service=service_name(self.role), json_serializer=_json_line)
        if self._context is not None and self._context_keys_for is not self._context:
            # What inject_lambda_context would have added, for this invocation's lines.
            context = self._context
            self._powertools.append_keys(
                function_name=getattr(context, "function_name", None),
                function_request_id=getattr(context, "aws_request_id", None),
            )
            self._context_keys_for = context
        return self._powertools

    def bind(self, context: Any) -> None:
        """The invocation the next lines belong to."""
        self._context = context

    @property
    def log_level(self) -> int:
        return self._powertools.log_level if self._powertools is not None else configured_level()

    def enabled_for(self, level: int) -> bool:
        return self.log_level <= level

    def debug(self, message: str, extra: dict[str, Any] | None = None) -> None:
        if self.enabled_for(logging.DEBUG):
            self.powertools.debug(message, extra=extra, stacklevel=3)

    def info(self, message: str, extra: dict[str, Any] | None = None) -> None:
        if self.enabled_for(logging.INFO):
            self.powertools.info(message, extra=extra, stacklevel=3)

    def warning(self, message: str, extra: dict[str, Any] | None = None) -> None:
        if self.enabled_for(logging.WARNING):
            self.powertools.warning(message, extra=extra, stacklevel=3)

    def error(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self.powertools.error(message, extra=extra, stacklevel=3)

    def exception(self, message: str, extra: dict[str, Any] | None = None) -> None:
        self.powertools.exception(message, extra=extra, stacklevel=3)


def logger_for(role: str) -> LazyLogger:
    return LazyLogger(role)
