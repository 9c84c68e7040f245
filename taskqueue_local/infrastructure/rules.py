"""EventBridge rules on a rate (what starts the consumer), fired locally: the emulator stores rules but never fires them.

Rules, targets and the functions' resource policies are read back from the emulator, so a rule
fires only what the deployment wired: a target whose function does not allow
``events.amazonaws.com`` from that rule's ARN is reported and skipped, as EventBridge would fail.

EventBridge Scheduler's schedules (tasks due later, periodic tasks) run in
:mod:`taskqueue_local.infrastructure.schedule_runner`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskqueue_local.infrastructure.background_loop import BackgroundLoop
from taskqueue_local.infrastructure.recurrence import rate_seconds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleTarget:
    rule_name: str
    rule_arn: str
    schedule: str
    period_seconds: float
    function_arn: str
    input: str | None


def _allows(policy: dict[str, Any], rule_arn: str) -> bool:
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else principal
        source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
        if statement.get("Effect") == "Allow" and service == "events.amazonaws.com" and source == rule_arn:
            return True
    return False


def rule_targets(events: Any, lambda_client: Any) -> list[RuleTarget]:
    """Lambda targets of the enabled scheduled rules, checked against the functions' policies."""
    found = []
    for rule in events.list_rules().get("Rules", []):
        if rule.get("State") != "ENABLED" or not rule.get("ScheduleExpression"):
            continue
        period = rate_seconds(rule["ScheduleExpression"])
        if period is None:
            raise ValueError(
                f"rule {rule['Name']}: {rule['ScheduleExpression']!r} is not a rate(); only rates run here"
            )
        for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            if ":lambda:" not in target["Arn"]:
                continue
            try:
                policy = json.loads(lambda_client.get_policy(FunctionName=target["Arn"])["Policy"])
            except lambda_client.exceptions.ResourceNotFoundException:
                policy = {}
            if not _allows(policy, rule["Arn"]):
                log.warning("rule %s may not invoke %s: no matching lambda permission", rule["Name"], target["Arn"])
                continue
            found.append(
                RuleTarget(
                    rule["Name"], rule["Arn"], rule["ScheduleExpression"], period, target["Arn"], target.get("Input")
                )
            )
    return found


def rule_event(target: RuleTarget, region: str, account: str) -> bytes:
    if target.input is not None:
        return target.input.encode()
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [target.rule_arn],
            "detail": {},
        }
    ).encode()


class RuleFirer(BackgroundLoop):
    """Fires each target every ``period / speedup`` seconds, asynchronously, like EventBridge."""

    def __init__(
        self, targets: list[RuleTarget], fire: Callable[[RuleTarget, bytes], None], speedup: float = 1.0
    ) -> None:
        self.targets = targets
        self.fire = fire
        self.speedup = speedup
        self.fired = 0
        super().__init__("rule-firer")

    def _run(self) -> None:
        if not self.targets:
            return  # nothing scheduled (an event-source-mapping deployment, say)
        next_fire = {target: time.monotonic() for target in self.targets}
        while not self._stop.is_set():
            now = time.monotonic()
            for target, due in next_fire.items():
                if due <= now:
                    _, _, _, region, account, _ = target.rule_arn.split(":", 5)
                    self.fire(target, rule_event(target, region, account))
                    self.fired += 1
                    next_fire[target] = due + target.period_seconds / self.speedup
            self._stop.wait(max(0.01, min(next_fire.values()) - time.monotonic()))
