"""Flow control across every worker invocation at once: a rate limit per task and a concurrency limit per key.

- :mod:`.spec`: what a task declares (``@task(..., rate_limit="10/s", burst=5)``,
  ``@task(..., key_concurrency=2, key=lambda payload: payload["customer"])``), checked at registration;
- :mod:`.rate_limit`: the rate limit, a GCRA token bucket in one DynamoDB item per task;
- :mod:`.concurrency_keys`: the concurrency per key, one lease item per slot, each expiring with its run;
- :mod:`.gate`: the worker's check before a task starts: a task over a limit is released unrun, no attempt used.

The CLI's ``limits`` command (``taskqueue.operations.limit_commands``) reads the table's items.

The table (``TASKQUEUE_FLOW_CONTROL_TABLE``, the module's ``flow_control = true``) exists only where asked for:
:func:`.gate.check_configured` fails the worker's start when a task declares a limit and the table is not set.
"""
