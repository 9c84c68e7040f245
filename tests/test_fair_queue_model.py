"""SQS fair queues, in the SQS model: what ``enqueue(..., tenant=...)`` buys, since moto has no fairness.

On a standard queue a message's MessageGroupId names its tenant. Once a tenant holds more than 10% of the
messages in flight, and at least 30 of its own, SQS delivers the other (quiet) tenants' messages first.
The model (tests/support/sqs_model.py) follows the developer guide's description; these tests show its
invariants: a quiet tenant's message never waits behind a noisy tenant's backlog, and nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.support.model_profiles import Budget, model_settings
from tests.support.sqs_model import FAIR_NOISY_MIN_IN_FLIGHT, SimClock, SqsModel

VISIBILITY_SECONDS = 30
TENANTS = ("noisy", "a", "b", None)  # None: a message without a tenant
FAIRNESS = Budget(bounded_examples=40, long_examples=1000, steps=60)


class FairQueue:
    """One standard queue of the model, driven call by call on a simulated clock."""

    def __init__(self) -> None:
        self.model = SqsModel()
        self.clock = SimClock()
        self.url = self.call("CreateQueue", QueueName="tenants", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        self.sent: dict[str, str | None] = {}  # message id -> tenant
        self.deleted: Counter[str] = Counter()
        self.in_hand: dict[str, str] = {}  # message id -> receipt handle

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.model.call(operation, params, self.clock())

    def send(self, tenant: str | None, count: int) -> None:
        for _ in range(count):
            extra = {"MessageGroupId": tenant} if tenant is not None else {}
            message_id = self.call("SendMessage", QueueUrl=self.url, MessageBody="task", **extra)["MessageId"]
            self.sent[message_id] = tenant

    def receive(self, count: int) -> list[str]:
        """One receive; checks the fairness invariant on what it returned."""
        queue = self.model.queue(self.url)
        noisy = set(self.model.noisy_tenants(queue, self.clock()))
        visible = [m for m in queue.messages.values() if m.visible(self.clock())]
        quiet_waiting = {m.message_id for m in visible if m.group_id not in noisy}
        messages = self.call(
            "ReceiveMessage", QueueUrl=self.url, MaxNumberOfMessages=count, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        taken = [m["MessageId"] for m in messages]
        for message in messages:
            assert message["Attributes"].get("MessageGroupId") == self.sent[message["MessageId"]], "tenant kept"
            self.in_hand[message["MessageId"]] = message["ReceiptHandle"]
        if any(self.sent[message_id] in noisy for message_id in taken):
            left_behind = quiet_waiting - set(taken)
            assert not left_behind, f"a noisy tenant's message went before quiet ones: {sorted(left_behind)}"
        return taken

    def delete(self, message_ids: list[str]) -> None:
        for message_id in message_ids:
            handle = self.in_hand.pop(message_id)
            self.call("DeleteMessage", QueueUrl=self.url, ReceiptHandle=handle)
            self.deleted[message_id] += 1

    def drain(self) -> None:
        """Receive and delete until nothing is left, waiting out visibility timeouts."""
        for _ in range(10_000):
            if not self.model.queue(self.url).messages:
                return
            taken = self.receive(10)
            if taken:
                self.delete(taken)
            else:
                self.clock.advance(VISIBILITY_SECONDS)
        raise AssertionError("the queue did not drain")


def test_a_quiet_tenants_task_jumps_a_noisy_tenants_backlog():
    queue = FairQueue()
    queue.send("noisy", 500)
    held = [message_id for _ in range(5) for message_id in queue.receive(10)]  # 50 in flight: noisy
    assert len(held) == 50 >= FAIR_NOISY_MIN_IN_FLIGHT
    queue.send("quiet", 3)
    queue.send(None, 1)
    taken = queue.receive(10)
    # Without fairness the quiet tenant's tasks would come after the 450 waiting before them.
    assert [queue.sent[m] for m in taken[:4]] == ["quiet", "quiet", "quiet", None]
    assert [queue.sent[m] for m in taken[4:]] == ["noisy"] * 6  # the rest of the receive: no capacity lost
    queue.delete(held + taken)
    queue.drain()
    assert set(queue.deleted) == set(queue.sent) and max(queue.deleted.values()) == 1


def test_without_a_noisy_tenant_delivery_stays_oldest_first():
    queue = FairQueue()
    queue.send("a", 5)
    queue.send("b", 5)
    assert [queue.sent[m] for m in queue.receive(10)] == ["a"] * 5 + ["b"] * 5


steps = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.sampled_from(TENANTS), st.integers(1, 60)),
        st.tuples(st.just("receive"), st.integers(1, 10)),
        st.tuples(st.just("receive"), st.just(10)),
        st.tuples(st.just("delete"), st.floats(0, 1)),
        st.tuples(st.just("advance"), st.integers(1, VISIBILITY_SECONDS)),
    ),
    max_size=FAIRNESS.steps,
)


@model_settings(FAIRNESS)
@given(burst=st.integers(0, 300), held=st.integers(0, 8), plan=steps)
def test_fair_delivery_puts_quiet_tenants_first_and_loses_nothing(burst, held, plan):
    """A noisy tenant's burst, some of it received and held, then any sequence of sends, receives, deletes
    and waits: every receive that hands out a noisy tenant's message has taken every quiet tenant's visible
    message first; once drained, every message sent was deleted exactly once (nothing lost, nothing doubled)."""
    queue = FairQueue()
    queue.send("noisy", burst)
    for _ in range(held):
        queue.receive(10)
    for step in plan:
        if step[0] == "send":
            queue.send(step[1], step[2])
        elif step[0] == "receive":
            queue.receive(step[1])
        elif step[0] == "delete":
            in_hand = sorted(queue.in_hand)
            queue.delete(in_hand[: int(len(in_hand) * step[1])])
        else:
            queue.clock.advance(step[1])
            messages = queue.model.queue(queue.url).messages
            queue.in_hand = {m: h for m, h in queue.in_hand.items() if messages[m].in_flight(queue.clock())}
    queue.drain()
    assert set(queue.deleted) == set(queue.sent)
    assert all(count == 1 for count in queue.deleted.values())
