"""A rate-limited example task, in a module of its own: a task that declares a flow limit needs the Terraform
module's ``flow_control = true`` (a worker without the flow-control table refuses to start), so only a
deployment that sets it lists this module: ``task_modules = ["example_tasks", "example_tasks.partner_api"]``
(the local demo does). ``example_tasks`` alone deploys anywhere.
"""

from __future__ import annotations

from typing import Any

from taskqueue import task

# A partner's API that takes one call every two seconds, two at once from idle. A start whose token is more
# than a second away is held back: it does not run, uses no attempt, and its message comes back when a token
# will be there (docs/flow-control.md; one due within a second is waited for in the invocation instead).
RATE_LIMIT = "30/m"
BURST = 2


@task("partner_api", rate_limit=RATE_LIMIT, burst=BURST)
def partner_api(payload: dict[str, Any]) -> None:
    """Stands for a call to the partner's API: the limit holds across every worker invocation at once."""
