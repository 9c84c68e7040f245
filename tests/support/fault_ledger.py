"""What ran, when: the model tasks of the fault test, the ledger they write, and an idempotency store.

Each task message carries its own plan (how long it runs, how it fails). The task function runs on the
current invocation's timeline, records the interval it ran in on the global timeline, and commits its
side effect only when it succeeds. The invariants of the fault test are read from this ledger.

``ModelIdempotency`` has Powertools' idempotency semantics on that timeline: an INPROGRESS record blocks
a second run until the first completes, fails (the record is deleted) or its invocation's deadline
passes (a run cut off by a timeout leaves its record INPROGRESS until then); a completed record makes
later runs skip.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from taskqueue import PermanentError
from taskqueue.attempts import LedgerEntry, refusal
from taskqueue.concurrency import TaskCancelled
from taskqueue.errors import Retry, TaskInProgress
from taskqueue.registry import TaskContext, TaskRegistry
from taskqueue.status import QUEUED, SCHEDULED, StatusRecord, StatusWrite, allowed
from taskqueue.status import TaskKey as StatusKey
from tests.support.lambda_model import InvocationCrashed, InvocationKilled, LambdaModel

__all__ = ["Execution", "Ledger", "ModelIdempotency", "ModelStatus", "TableFaults", "TaskPlan", "registered_name"]

# How a task behaves on each run.
OK, TRANSIENT, ALWAYS, PERMANENT, RETRY = "ok", "transient", "always", "permanent", "retry"
# Each task name is also registered with its own max_attempts, under the name plus this suffix.
MAX_ATTEMPTS_CHOICES = (1, 2, 3)


def registered_name(name: str, max_attempts: int | None) -> str:
    """The name a task with its own ``max_attempts`` is registered under (the registry holds the policy)."""
    return name if max_attempts is None else f"{name}.max{max_attempts}"


@dataclass(frozen=True)
class TaskPlan:
    """``behaviour``: ok; transient (fails its first ``failures`` runs); always (fails every run);
    permanent (raises PermanentError); retry (raises ``Retry(after=delay)`` on its first ``failures``
    runs). ``seconds``: how long each run works. ``max_attempts``: the task's own policy (None: the
    queue's), which picks the name it is registered under."""

    behaviour: str = OK
    failures: int = 0
    seconds: float = 0.0
    delay: float = 0.0
    max_attempts: int | None = None

    def as_payload(self, tag: int, padding: int) -> dict[str, Any]:
        plan = [self.behaviour, self.failures, self.seconds, self.delay]
        return {"n": tag, "plan": plan, "pad": "p" * padding}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> tuple[int, TaskPlan]:
        behaviour, failures, seconds, delay = payload["plan"]
        return int(payload["n"]), cls(behaviour, int(failures), float(seconds), float(delay))


class TransientFailure(RuntimeError):
    """A task's planned failure that a retry may get past."""


@dataclass(frozen=True)
class Execution:
    """One run of a task function, on the global timeline."""

    tag: int
    message_id: str
    start: float
    end: float
    # "succeeded", "failed", "retry" (raised Retry), "permanent", "killed" (its invocation's timeout, or, for a
    # threads=True run past its batch's answer, its environment's reset), "crashed", "cancelled" (a concurrent
    # batch's cancel point came first)
    outcome: str
    invocation: int
    retry_after: float = 0.0  # what a run that raised Retry asked for


@dataclass(frozen=True)
class Skip:
    """A run the idempotency store skipped because its key had completed (the invocation tells which
    messages it may have been)."""

    key: str
    at: float
    invocation: int


@dataclass
class Ledger:
    """Every task run, skip and committed side effect, for the invariants to read."""

    lambdas: list[LambdaModel] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    side_effects: dict[Any, int] = field(default_factory=lambda: defaultdict(int))
    identities: dict[int, Any] = field(default_factory=dict)  # tag -> identity (what idempotency protects)

    def current(self) -> tuple[LambdaModel, Any]:
        for model in self.lambdas:
            if model.current is not None:
                return model, model.current
        raise AssertionError("a task ran outside any worker invocation")

    def register(
        self, registry: TaskRegistry, names: list[str], concurrent: bool = False, threads: Collection[str] = ()
    ) -> None:
        """``concurrent``: as async def tasks, which the worker runs side by side in a batch (issue 23), but for the
        registered names in ``threads``: sync ``threads=True`` tasks, run in a lane's thread, never cancelled."""
        for name in names:
            for full_name, limit in [(name, None), *((registered_name(name, n), n) for n in MAX_ATTEMPTS_CHOICES)]:
                in_thread = full_name in threads
                function = self.run_async if concurrent and not in_thread else self.run
                registry.register(full_name, function, max_attempts=limit, threads=in_thread)

    async def run_async(self, payload: dict[str, Any], context: TaskContext) -> None:
        self.run(payload, context)

    def run(self, payload: dict[str, Any], context: TaskContext) -> None:
        model, invocation = self.current()
        tag, plan = TaskPlan.from_payload(payload)
        timeline = invocation.timeline
        start = timeline.now

        def record(outcome: str, retry_after: float = 0.0) -> None:
            self.executions.append(
                Execution(tag, context.message_id, start, timeline.now, outcome, invocation.number, retry_after)
            )

        try:
            model.task_started()
        except InvocationCrashed:
            record("crashed")  # its run was recorded (write-ahead) and started: it counts
            raise
        previous = sum(1 for e in self.executions if e.tag == tag and e.outcome != "crashed")
        try:
            timeline.spend(plan.seconds)
        except InvocationKilled:
            record("killed")
            raise
        except TaskCancelled:
            record("cancelled")
            raise
        if plan.behaviour == PERMANENT:
            record("permanent")
            raise PermanentError(f"task {tag} can never succeed")
        if plan.behaviour == RETRY and previous < plan.failures:
            record("retry", plan.delay)
            raise Retry(after=plan.delay)
        if plan.behaviour == ALWAYS or (plan.behaviour == TRANSIENT and previous < plan.failures):
            record("failed")
            raise TransientFailure(f"task {tag} failed on its run {previous + 1}")
        record("succeeded")
        self.side_effects[self.identities[tag]] += 1

    def now(self) -> float:
        return self.current()[1].timeline.now


@dataclass
class _Claim:
    start: float
    expiry: float  # an INPROGRESS record's expiry: the deadline of the invocation that made it
    end: float | None = None
    status: str = "INPROGRESS"  # then "COMPLETED", or "DELETED" after an exception


# Faults of a DynamoDB call: refused before it took effect (a throttle, a 5xx), or a 5xx once it had.
THROTTLE, FAIL, FAIL_AFTER = "throttle", "fail", "fail-after"
TABLE_FAULT_KINDS = (THROTTLE, FAIL, FAIL_AFTER)


def _dynamodb_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"}}, operation)


@dataclass
class TableFaults:
    """Faults drawn per call of a model table: ``faults`` maps a call's number (counted over the table's
    life, from 0) to a kind; each call the table makes is numbered, whether or not a fault hits it."""

    faults: dict[int, str] = field(default_factory=dict)
    calls: int = 0
    hit: list[tuple[str, str]] = field(default_factory=list)  # (operation, kind) of each fault injected

    def call(self, operation: str, effect: Callable[[], Any]) -> Any:
        kind = self.faults.get(self.calls)
        self.calls += 1
        if kind is None:
            return effect()
        self.hit.append((operation, kind))
        if kind == THROTTLE:
            raise _dynamodb_error("ProvisionedThroughputExceededException", operation)
        if kind == FAIL:
            raise _dynamodb_error("InternalServerError", operation)
        effect()  # FAIL_AFTER: the write took effect, its answer is lost
        raise _dynamodb_error("InternalServerError", operation)


class ModelAttempts:
    """The module's attempts table (``taskqueue.attempts.AttemptLedger``) in memory, shared by every
    execution environment as DynamoDB is: runs written ahead, dead-letter verdicts, completed last runs and
    the deadline of each message's latest run, the holds of runs still going past their batch's answer, on the clock
    ``now`` (the running invocation's timeline).
    Each DynamoDB call may fail as ``faults`` draws (the refusal's read is a call of its own, as in
    ``AttemptLedger``)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.runs: dict[str, int] = defaultdict(int)
        self.verdicts: dict[str, Any] = {}
        self.completed: set[str] = set()
        self.running_until: dict[str, float] = {}
        self.verdicts_sent: set[str] = set()
        self.not_before: dict[str, float] = {}
        self.overran_until: dict[str, float] = {}
        self.faults = TableFaults()
        # Writes of a message's verdict that failed with no verdict in the table (the worker writes it before
        # the dead letter's send and again after it: when both fail, only its environment remembers it).
        self.verdict_writes_failed: dict[str, int] = defaultdict(int)
        # Runs recorded whose write's answer was lost (the worker did not start them), per message.
        self.unanswered_runs: dict[str, int] = defaultdict(int)

    def _entry(self, message_id: str) -> LedgerEntry:
        return LedgerEntry(
            self.runs.get(message_id, 0),
            self.verdicts.get(message_id),
            message_id in self.completed,
            self.running_until.get(message_id),
            verdict_sent=message_id in self.verdicts_sent,
            not_before=self.not_before.get(message_id),
            overran_until=self.overran_until.get(message_id),
        )

    def read(self, message_id: str) -> LedgerEntry:
        entry: LedgerEntry = self.faults.call("GetItem", lambda: self._entry(message_id))
        return entry

    def start_run(self, message_id: str, max_attempts: int | None, seconds_left: float) -> int:
        now = self.now()
        entry = self._entry(message_id)
        if (
            entry.verdict is not None
            or entry.completed
            or (max_attempts is not None and entry.runs >= max_attempts)
            or (entry.not_before is not None and now < entry.not_before)
            or (entry.overran_until is not None and now < entry.overran_until)
        ):
            self.faults.call("UpdateItem", lambda: None)  # the conditional write, refused
            raise refusal(self.read(message_id), now)

        def record() -> None:
            self.runs[message_id] += 1
            self.running_until[message_id] = now + seconds_left

        try:
            self.faults.call("UpdateItem", record)
        except ClientError:
            if self.faults.hit[-1][1] == FAIL_AFTER:
                self.unanswered_runs[message_id] += 1
            raise
        return self.runs[message_id]

    def mark_completed(self, message_id: str) -> None:
        self.faults.call("UpdateItem", lambda: self.completed.add(message_id))

    def remember_retry(self, message_id: str, delay_seconds: float) -> None:
        not_before = self.now() + delay_seconds
        self.faults.call("UpdateItem", lambda: self.not_before.__setitem__(message_id, not_before))

    def hold_overran(self, message_id: str, seconds: float) -> None:
        until = self.now() + seconds
        self.faults.call("UpdateItem", lambda: self.overran_until.__setitem__(message_id, until))

    def overran_ended(self, message_id: str) -> None:
        self.faults.call("UpdateItem", lambda: self.overran_until.pop(message_id, None))

    def remember_verdict(self, message_id: str, verdict: Any, sent: bool = False) -> None:
        def write() -> None:
            self.verdicts[message_id] = verdict
            if sent:
                self.verdicts_sent.add(message_id)

        try:
            self.faults.call("UpdateItem", write)
        except ClientError:
            if message_id not in self.verdicts:
                self.verdict_writes_failed[message_id] += 1
            raise


class ModelIdempotency:
    """Run-once by key, with Powertools' semantics, on the invocations' timelines.

    The worker takes any object with ``run(key, action)`` and ``register_lambda_context(context)``.
    Invocations are simulated one after the other while their timelines may overlap; a claim that
    starts later on the timeline than the run asking is taken as in progress (the one that started
    first would have held the record), so the store never lets two runs of one key both proceed.
    """

    def __init__(self, ledger: Ledger, ttl_seconds: float = 86_400) -> None:
        self.ledger = ledger
        self.ttl_seconds = ttl_seconds
        self.claims: dict[str, list[_Claim]] = defaultdict(list)
        self._expiry = 0.0
        # Faults per call: the read-and-claim (a conditional put) before the action, the completion after it.
        self.faults = TableFaults()
        # Keys whose completion a fault lost: the store cannot keep them from running again (a known limit).
        self.unrecorded: set[str] = set()

    def register_lambda_context(self, context: Any) -> None:
        self._expiry = self.ledger.now() + context.get_remaining_time_in_millis() / 1000

    def run(self, key: str, action: Callable[[], Any]) -> None:
        now = self.ledger.now()
        claims = self.claims[key]
        if any(self._blocks(claim, now) for claim in claims):
            # What taskqueue.idempotency.IdempotentRunner raises for Powertools' IdempotencyAlreadyInProgressError.
            raise TaskInProgress(f"Execution already in progress with idempotency key: {key}")
        if any(c.status == "COMPLETED" and c.end is not None and now < c.end + self.ttl_seconds for c in claims):
            self.ledger.skips.append(Skip(key, now, self.ledger.current()[1].number))
            return
        claim = _Claim(start=now, expiry=self._expiry)
        # A claim whose answer is lost stays INPROGRESS until its invocation's deadline, unrun.
        self.faults.call("PutItem", lambda: claims.append(claim))
        try:
            action()
        except Exception:
            claim.status, claim.end = "DELETED", self.ledger.now()
            raise
        except BaseException:
            # Cut off (timeout, crash): the record stays INPROGRESS until the invocation's deadline.
            claim.end = claim.expiry
            raise

        def complete() -> None:
            claim.status, claim.end = "COMPLETED", self.ledger.now()

        try:
            self.faults.call("UpdateItem", complete)
        except ClientError:
            if claim.status != "COMPLETED":
                claim.end = claim.expiry  # Powertools leaves the record INPROGRESS until its expiry
                self.unrecorded.add(key)
            raise

    @staticmethod
    def _blocks(claim: _Claim, now: float) -> bool:
        if claim.start > now:
            return True
        if claim.status == "INPROGRESS":
            return now <= claim.expiry
        return claim.end is not None and now < claim.end


class ModelStatus:
    """The module's status records (``taskqueue.status.StatusTable``) in memory: each write applied exactly when
    ``taskqueue.status.allowed`` says the table's condition lets it (``test_status`` holds the table to those
    rules), for the producer and the worker of one lane. Its calls meet no fault: a failed status write only
    leaves the status behind (its next write corrects it), which ``test_status`` covers."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.refused: list[tuple[str, str, str | None]] = []  # (item id, state, message id) of refused writes

    def write(self, key: StatusKey, write: StatusWrite) -> bool:
        current = self.items.get(key.item_id)
        if not allowed(current, write):
            self.refused.append((key.item_id, write.state, write.message_id))
            return False
        item = dict(current or {})
        item.update(task=key.task, task_id=key.task_id, task_state=write.state, state_changed_at=write.at)
        if write.message_id is not None:
            item["message_id"] = write.message_id
        if write.state in (SCHEDULED, QUEUED):
            for name in ("attempts", "reason", "dlq_message_id", "last_error"):
                item.pop(name, None)
            if write.state == SCHEDULED:
                item.pop("message_id", None)
        for name, value in (
            ("attempts", write.attempt),
            ("reason", write.reason),
            ("dlq_message_id", write.dlq_message_id),
            ("last_error", write.error),
        ):
            if value is not None:
                item[name] = value
        self.items[key.item_id] = item
        return True

    def read(self, key: StatusKey) -> StatusRecord | None:
        item = self.items.get(key.item_id)
        return None if item is None else StatusRecord.from_item(item)
