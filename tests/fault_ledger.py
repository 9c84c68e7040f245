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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambda_model import InvocationKilled, LambdaModel
from taskqueue import PermanentError
from taskqueue.attempts import LedgerEntry, RunRefused
from taskqueue.errors import TaskInProgress
from taskqueue.registry import TaskContext, TaskRegistry

__all__ = ["Execution", "Ledger", "ModelIdempotency", "TaskPlan"]

# How a task behaves on each run.
OK, TRANSIENT, ALWAYS, PERMANENT = "ok", "transient", "always", "permanent"


@dataclass(frozen=True)
class TaskPlan:
    """``behaviour``: ok; transient (fails its first ``failures`` runs); always (fails every run);
    permanent (raises PermanentError). ``seconds``: how long each run works."""

    behaviour: str = OK
    failures: int = 0
    seconds: float = 0.0

    def as_payload(self, tag: int, padding: int) -> dict[str, Any]:
        return {"n": tag, "plan": [self.behaviour, self.failures, self.seconds], "pad": "p" * padding}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> tuple[int, TaskPlan]:
        behaviour, failures, seconds = payload["plan"]
        return int(payload["n"]), cls(behaviour, int(failures), float(seconds))


class TransientFailure(RuntimeError):
    """A task's planned failure that a retry may get past."""


@dataclass(frozen=True)
class Execution:
    """One run of a task function, on the global timeline."""

    tag: int
    message_id: str
    start: float
    end: float
    outcome: str  # "succeeded", "failed", "permanent", "killed"
    invocation: int


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

    def register(self, registry: TaskRegistry, names: list[str]) -> None:
        for name in names:
            registry.register(name, self.run)

    def run(self, payload: dict[str, Any], context: TaskContext) -> None:
        model, invocation = self.current()
        model.task_started()
        tag, plan = TaskPlan.from_payload(payload)
        timeline = invocation.timeline
        start = timeline.now
        previous = sum(1 for e in self.executions if e.tag == tag)

        def record(outcome: str) -> None:
            self.executions.append(Execution(tag, context.message_id, start, timeline.now, outcome, invocation.number))

        try:
            timeline.spend(plan.seconds)
        except InvocationKilled:
            record("killed")
            raise
        if plan.behaviour == PERMANENT:
            record("permanent")
            raise PermanentError(f"task {tag} can never succeed")
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


class ModelAttempts:
    """The module's attempts table (``taskqueue.attempts.AttemptLedger``) in memory, shared by every
    execution environment as DynamoDB is: runs written ahead, dead-letter verdicts, completed last runs and
    the deadline of each message's latest run, on the clock ``now`` (the running invocation's timeline)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.runs: dict[str, int] = defaultdict(int)
        self.verdicts: dict[str, Any] = {}
        self.completed: set[str] = set()
        self.running_until: dict[str, float] = {}
        self.verdicts_sent: set[str] = set()

    def read(self, message_id: str) -> LedgerEntry:
        return LedgerEntry(
            self.runs.get(message_id, 0),
            self.verdicts.get(message_id),
            message_id in self.completed,
            self.running_until.get(message_id),
            verdict_sent=message_id in self.verdicts_sent,
        )

    def start_run(self, message_id: str, max_attempts: int | None, seconds_left: float) -> int:
        now = self.now()
        entry = self.read(message_id)
        if entry.verdict is not None or entry.completed or (max_attempts is not None and entry.runs >= max_attempts):
            running = 0.0 if entry.running_until is None else max(0.0, entry.running_until - now)
            raise RunRefused(entry, running)
        self.runs[message_id] += 1
        self.running_until[message_id] = now + seconds_left
        return self.runs[message_id]

    def mark_completed(self, message_id: str) -> None:
        self.completed.add(message_id)

    def remember_verdict(self, message_id: str, verdict: Any) -> None:
        self.verdicts[message_id] = verdict

    def mark_verdict_sent(self, message_id: str) -> None:
        self.verdicts_sent.add(message_id)


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
        claims.append(claim)
        try:
            action()
        except Exception:
            claim.status, claim.end = "DELETED", self.ledger.now()
            raise
        except BaseException:
            # Cut off (timeout, crash): the record stays INPROGRESS until the invocation's deadline.
            claim.end = claim.expiry
            raise
        claim.status, claim.end = "COMPLETED", self.ledger.now()

    @staticmethod
    def _blocks(claim: _Claim, now: float) -> bool:
        if claim.start > now:
            return True
        if claim.status == "INPROGRESS":
            return now <= claim.expiry
        return claim.end is not None and now < claim.end
