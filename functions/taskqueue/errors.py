"""Exceptions that carry a meaning for the queue."""


class PermanentError(Exception):
    """Raised by a task that can never succeed: the message goes to the DLQ at once, with the reason."""


class MalformedMessage(ValueError):
    """A message body that is not a valid task message."""


class UnknownTask(LookupError):
    """A message names a task that no loaded module registered."""
