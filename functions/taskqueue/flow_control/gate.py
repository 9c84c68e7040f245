"""The worker's check before a task starts: its concurrency slot for the key, then its rate token.

Called before the run is written ahead in the attempts table, so a task over a limit uses no attempt: it is
released unrun (:func:`taskqueue.batch.release.release`), to come back through the same visibility mechanism
``Retry(after=)`` uses (the worker's answer behind the consumer, ChangeMessageVisibility behind an event source
mapping): a rate-limited one when its token will be there, a key-limited one after its backoff. Any failure of
the table is "not now" too: never a run beyond a limit, never a lost message.

Before it is released, a start waits in the invocation for a token due within a second, or for a slot of its
key freed within a second, when the invocation has the time: a release comes back in whole seconds and
costs a receive (toward ``maxReceiveCount``), and the tokens and slots freed meanwhile go unused.

The slot comes first: a slot taken and not used is given back at once, a rate token taken and not used is lost.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from taskqueue import dead_letter_queue
from taskqueue.batch import log, release
from taskqueue.batch.budget import MIN_REMAINING_SECONDS_TO_START, Invocation
from taskqueue.batch.log import describe
from taskqueue.dead_letter_queue import DeadLetter
from taskqueue.flow_control.concurrency_keys import KeyLeases, Lease
from taskqueue.flow_control.rate_limit import RateLimiter, Take, ceil_seconds
from taskqueue.flow_control.spec import RateLimit
from taskqueue.limits import LAMBDA_MAX_TIMEOUT_SECONDS, SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
from taskqueue.message import TaskMessage
from taskqueue.observability import ERROR, TASKS_HELD_BACK

if TYPE_CHECKING:
    from taskqueue.batch.dead_letters import DeadLetters
    from taskqueue.registry import RegisteredTask

from taskqueue.config import FLOW_CONTROL_TABLE_ENV as TABLE_ENV

# A start whose rate token is due within this waits for it in the invocation rather than be released: a
# release comes back in whole seconds and costs a receive toward maxReceiveCount, and the tokens due in the
# meantime went unused (make flow read 79-83% of the limit with releases only).
WAIT_FOR_TOKEN_SECONDS = 1.0
# Tokens lost to other workers while waiting: at most this many looks before the start is released.
MAX_WAITS = 10
# A rate-limited start begins this long after its grant (FlowGate._pace): room for the run's write-ahead and
# status writes between them (DynamoDB's latency, and the emulator's on a loaded machine).
START_DELAY_SECONDS = 0.1
# A start whose key has every slot held looks again this often (one consistent read of the slots), for up
# to WAIT_FOR_SLOT_SECONDS, before it is released: a slot frees when a run ends, which no one knows ahead. Half
# the interval is lost per hand-over on average (make flow: 0.05 s read 87-89% of the slots, 0.02 s 91%).
SLOT_POLL_SECONDS = 0.02
WAIT_FOR_SLOT_SECONDS = 1.0
SLOT_LOOKS = round(WAIT_FOR_SLOT_SECONDS / SLOT_POLL_SECONDS)


class FlowControlNotConfigured(ValueError):
    """A task declares a limit and the worker has no flow-control table."""


def check_configured(tasks: Iterable[RegisteredTask], table: str | None, attempts_table: str | None) -> None:
    """Fail the worker's start when a task declares a limit and the worker cannot hold it: no flow-control
    table (the task would run unlimited), or no attempts table (a receive would then be an attempt, and
    starts held back by a limit would use up the task's attempts and be dead-lettered unrun)."""
    limited = [f"{each.name!r} ({each.flow.describe()})" for each in tasks if each.flow is not None]
    if not limited:
        return
    if not table:
        raise FlowControlNotConfigured(
            f"task {', '.join(limited)} declares a flow limit, and {TABLE_ENV} is not set: set the Terraform "
            "module's flow_control = true (it creates the table and sets the variable), or remove the limit"
        )
    if not attempts_table:
        raise FlowControlNotConfigured(
            f"task {', '.join(limited)} declares a flow limit, and TASKQUEUE_ATTEMPTS_TABLE is not set: without "
            "it a receive is an attempt, and starts held back by the limit would use up the task's attempts. Keep "
            "the module's track_attempts = true (the default)"
        )


@dataclass
class Admission:
    """A start let through: its slot (if its task limits a key) is given back by :meth:`end`."""

    leases: KeyLeases | None = None
    lease: Lease | None = None
    keys: dict[str, Any] | None = None
    # Waits until the start's time under its rate limit (see FlowGate._pace); None: no rate limit.
    pace: Callable[[], None] | None = None

    def wait_to_start(self) -> None:
        """Just before the task is called: wait, if need be, until its time under the rate limit."""
        if self.pace is not None:
            self.pace()

    def outlive(self, seconds: float) -> None:
        """The run goes on past its batch's answer (a thread cannot be stopped): its slot stays held ``seconds``
        more, unless the run gave it back already; :meth:`end` frees it when the run does end."""
        lease = self.lease
        if self.leases is None or lease is None:
            return
        try:
            self.leases.extend(lease, seconds)
        except Exception as error:
            log.logger.warning(
                "could not hold the key's concurrency slot of a run still going; another run of its key may start "
                "beside it once its lease ends",
                extra={**(self.keys or {}), ERROR: describe(error)},
            )

    def end(self) -> None:
        """The run is over (done, failed, or never called): free its slot. A failure leaves it to expire."""
        if self.leases is None or self.lease is None:
            return
        lease, self.lease = self.lease, None
        try:
            self.leases.give_back(lease)
        except Exception as error:
            log.logger.warning(
                "could not give back the key's concurrency slot; it is free again when its lease expires: its "
                "invocation's deadline plus 5 s, or 900 s after its batch's answer for a run that went on past it",
                extra={**(self.keys or {}), ERROR: describe(error)},
            )


UNLIMITED = Admission()


class FlowGate:
    """The flow-control table's rate buckets and key leases, checked before each limited task starts."""

    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is None:
            import boto3  # noqa: PLC0415

            client = boto3.client("dynamodb")
        self.rates = RateLimiter(table_name, client, clock)
        self.leases = KeyLeases(table_name, client, clock, rng)
        self.clock = clock
        self.sleep = sleep
        # Keys whose slots stayed held through a whole wait, and until when their starts do not wait.
        self._held_keys: dict[tuple[str, str], float] = {}
        self._held_keys_lock = threading.Lock()

    def admit(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        message: TaskMessage,
        keys: dict[str, Any],
        invocation: Invocation,
        backoff: Callable[[], int],
        dead_letters: DeadLetters,
    ) -> Admission | None:
        """Let the start through (its :class:`Admission`), or release the message unrun (raises ``NotRun``).
        None: the message is settled here (dead-lettered: its key function failed on its payload)."""
        limits = registered.flow
        if limits is None:
            return UNLIMITED
        admission = Admission(keys=keys)
        # A rate-limited start begins START_DELAY_SECONDS after its grant: its waits leave that much too.
        reserve = START_DELAY_SECONDS if limits.rate is not None else 0.0
        if self._time_to_wait(invocation, reserve) < 0:
            release.out_of_time(raw, registered.name, keys, invocation)
        if limits.concurrency is not None:
            try:
                key = limits.concurrency.key_of(message.payload)
            except Exception as error:
                why = DeadLetter(
                    dead_letter_queue.MALFORMED,
                    f"key(payload) of task {registered.name!r} (key_concurrency={limits.concurrency.limit}) failed "
                    f"on this payload: {describe(error)}",
                    registered.name,
                    ran=False,
                )
                dead_letters.send(raw, why, keys, invocation)
                return None
            try:
                lease = self._take_slot(registered.name, key, limits.concurrency.limit, invocation, reserve)
            except Exception as error:
                self._hold_back(raw, registered, backoff(), "the flow-control table failed", keys, invocation, error)
            if lease is None:
                self._hold_back(
                    raw,
                    registered,
                    backoff(),
                    f"{limits.concurrency.limit} runs of its key are under way (key_concurrency)",
                    keys,
                    invocation,
                )
            admission.leases, admission.lease = self.leases, lease
        if limits.rate is not None:
            try:
                take = self._take_token(registered.name, limits.rate, invocation, reserve)
            except Exception as error:
                admission.end()
                self._hold_back(raw, registered, backoff(), "the flow-control table failed", keys, invocation, error)
            if not take.granted:
                admission.end()
                self._hold_back(
                    raw,
                    registered,
                    # SQS hides a message at most 12 hours: a start further down a slow rate's line looks again then.
                    min(ceil_seconds(take.retry_in_seconds), SQS_MAX_VISIBILITY_TIMEOUT_SECONDS),
                    f"over its rate limit ({limits.rate}); back when a token will be there",
                    keys,
                    invocation,
                )
            start_at = take.granted_at + START_DELAY_SECONDS
            admission.pace = lambda: self._pace(start_at)
        return admission

    def _pace(self, start_at: float) -> None:
        """Start no sooner than ``start_at``, START_DELAY_SECONDS after the grant. Between the grant and the call
        come the run's write-ahead and status writes, whose times vary: starts shifted by the same delay keep
        their grants' spacing, where a quick write after a slow one would bunch them (make flow saw 26 starts
        in a second against limit + burst = 25 with a delay of one emission, 50 ms at 20/s, behind the
        mapping, on a quiet machine)."""
        delay = start_at - self.clock()
        if delay > 0:
            self.sleep(delay)

    def _take_token(self, task: str, rate: RateLimit, invocation: Invocation, reserve: float) -> Take:
        """A token now, or one due soon waited for here (leaving ``reserve`` of the invocation's time); else the
        limiter's answer, with the start's place in the line to come back."""
        waited = 0.0
        for _ in range(MAX_WAITS):
            horizon = min(WAIT_FOR_TOKEN_SECONDS - waited, self._time_to_wait(invocation, reserve))
            take = self.rates.take(task, rate, wait_seconds=max(0.0, horizon))
            if take.granted or take.retry_in_seconds > horizon:
                return take
            # A microsecond more: at today's epoch a float's step is a quarter of one, and the limiter counts
            # whole microseconds rounded down, so a wait of exactly the time told may find the token not there.
            self.sleep(take.retry_in_seconds + 1e-6)
            waited += take.retry_in_seconds
        return self.rates.take(task, rate)

    def _take_slot(self, task: str, key: str, limit: int, invocation: Invocation, reserve: float) -> Lease | None:
        """A slot of ``key`` now, or one freed while this start looks again for a little while; else None.

        A key whose slots stayed held through a whole wait is not waited for again until as long has passed:
        a batch of a key whose runs are long would otherwise wait a second a start, for nothing."""
        with self._held_keys_lock:
            may_wait = self.clock() >= self._held_keys.get((task, key), -math.inf)
        looks = SLOT_LOOKS if may_wait else 0
        first: int | None = None
        while True:
            seconds = invocation.remaining_seconds()
            lease = self.leases.take(
                task, key, limit, LAMBDA_MAX_TIMEOUT_SECONDS if seconds is None else seconds, first
            )
            if lease is not None:
                return lease
            first = None
            while first is None:
                if looks == 0 or self._time_to_wait(invocation, reserve) < SLOT_POLL_SECONDS:
                    if may_wait and looks == 0:  # held through a whole wait
                        self._remember_held(task, key)
                    return None
                self.sleep(SLOT_POLL_SECONDS)
                looks -= 1
                first = self.leases.free_slot(task, key, limit)

    def _remember_held(self, task: str, key: str) -> None:
        now = self.clock()
        with self._held_keys_lock:  # a concurrent batch's lanes wait on their own threads
            self._held_keys = {held: until for held, until in self._held_keys.items() if until > now}
            self._held_keys[task, key] = now + WAIT_FOR_SLOT_SECONDS

    @staticmethod
    def _time_to_wait(invocation: Invocation, reserve: float = 0.0) -> float:
        """How long a start may wait here and still have the time to start it, ``reserve`` more kept (its start
        delay); infinite without a clock."""
        seconds = invocation.seconds_left(MIN_REMAINING_SECONDS_TO_START + reserve, sets_retry_delays=True)
        return math.inf if seconds is None else seconds

    def _hold_back(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        delay: int,
        why: str,
        keys: dict[str, Any],
        invocation: Invocation,
        error: Exception | None = None,
    ) -> NoReturn:
        invocation.metrics.count(TASKS_HELD_BACK, task=registered.name)
        release.release(raw, delay, f"not run: {why}; released, no attempt used", keys, invocation, error)
