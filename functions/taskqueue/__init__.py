"""Lambda Task Queue runtime: register tasks by name, run them from SQS.

Task modules need only this package's top level::

    from taskqueue import Backoff, PermanentError, Retry, task

    @task("resize_image")
    def resize_image(payload):
        ...

    @task("capture", max_attempts=3, backoff=Backoff(base_seconds=1, max_seconds=30))
    def capture(payload):
        ...  # raise Retry(after=120) to be tried again in exactly 120 s
"""

from taskqueue.backoff import Backoff
from taskqueue.errors import PermanentError, Retry
from taskqueue.registry import TaskContext, task

__all__ = ["Backoff", "PermanentError", "Retry", "TaskContext", "task"]
