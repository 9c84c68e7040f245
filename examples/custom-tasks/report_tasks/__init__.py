"""A platform repository's own tasks: the worker imports this package (``task_modules = ["report_tasks"]``).

``build.py worker --tasks examples/custom-tasks/report_tasks`` puts it into the worker's zip next to
the ``taskqueue`` runtime. What the tasks touch (an S3 bucket here) is granted to the worker's role
by the example's ``worker_policy_statements``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from taskqueue import PermanentError, task

_s3 = boto3.client("s3")


@task("render_report")
def render_report(payload: dict[str, Any]) -> None:
    """Write a small JSON report to ``s3://$REPORTS_BUCKET/reports/<report_id>.json``."""
    report_id = payload.get("report_id")
    if not isinstance(report_id, str) or not report_id.isidentifier():
        # Retrying cannot fix a bad payload: straight to the dead-letter queue, with this reason.
        raise PermanentError(f"report_id must be an identifier, got {report_id!r}")
    body = json.dumps({"report_id": report_id, "rows": payload.get("rows", [])}, sort_keys=True)
    _s3.put_object(
        Bucket=os.environ["REPORTS_BUCKET"],
        Key=f"reports/{report_id}.json",
        Body=body.encode(),
        ContentType="application/json",
    )
