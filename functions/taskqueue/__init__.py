"""Lambda Task Queue runtime: register tasks by name, run them from SQS.

Task modules need only this package's top level::

    from taskqueue import PermanentError, task

    @task("resize_image")
    def resize_image(payload):
        ...
"""

from taskqueue.errors import PermanentError
from taskqueue.registry import TaskContext, task

__all__ = ["PermanentError", "TaskContext", "task"]
