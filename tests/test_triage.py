"""Dead-letter triage against moto: list, redrive and purge with filters; crashes and SQS errors midway;
FIFO; large messages; and a DLQ of tens of thousands in bounded memory."""

from __future__ import annotations

import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from taskqueue.dead_letter_queue import (
    ERROR_ATTRIBUTE,
    MALFORMED,
    PERMANENT_ERROR,
    REASON_ATTRIBUTE,
    REASON_ATTRIBUTES,
    RETRIES_EXHAUSTED,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
    TASK_ATTRIBUTE,
)
from taskqueue.limits import SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES, SQS_MAX_RETENTION_SECONDS
from taskqueue.operations.dlq_message import KNOWN_REASONS, REDRIVE, DlqMessage
from taskqueue.operations.dlq_scan import ScanSettings
from taskqueue.operations.output import JsonLinesOutput, PlainOutput
from taskqueue.operations.queue_attributes import QueuePairingError, queue_depths
from taskqueue.operations.redrive_journal import SENDING, SENT, RedriveJournal
from taskqueue.operations.rich_output import RichOutput
from taskqueue.operations.triage import (
    MessageResult,
    Selection,
    TriageReport,
    list_dead_letters,
    purge_dead_letters,
    redrive_dead_letters,
)
from taskqueue.schedule_dead_letters import SCHEDULE_FAILED, SCHEDULER_ATTRIBUTES, ScheduleFailure
from taskqueue.sqs_batch import entry_bytes
from tests.support.aws_fakes import CallRecorder, DeadLetterSourceArns, FakeClock, ReceiptHandles

# No long poll at the end of a scan: moto answers at once.
FAST = ScanSettings(wait_seconds=0)


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even the release of what it held."""


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, MessageResult, str]] = []
        self.progress_calls = 0

    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None:
        self.events.append((dlq_message.message_id, outcome, detail))

    def progress(self, report: TriageReport) -> None:
        self.progress_calls += 1

    def ids(self, outcome: MessageResult) -> list[str]:
        return [message_id for message_id, seen, _ in self.events if seen is outcome]


def text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def dlq_message(
    sqs, dlq_url: str, task: str | None, payload, reason: str | None = None, group: str | None = None, **extra: str
) -> str:
    """A DLQ message as the worker sends it (with ``reason``) or as SQS's redrive leaves it (without)."""
    body = json.dumps({"task": task, "payload": payload}) if task else "not json {"
    attributes = {name: text(value) for name, value in extra.items()}
    if reason:
        attributes |= {
            REASON_ATTRIBUTE: text(reason),
            ERROR_ATTRIBUTE: text(f"{reason} happened\nTraceback: line 1\nline 2"),
            SOURCE_MESSAGE_ID_ATTRIBUTE: text("source-1"),
        }
        if task:
            attributes[TASK_ATTRIBUTE] = text(task)
    arguments = {"QueueUrl": dlq_url, "MessageBody": body, "MessageAttributes": attributes}
    if group:
        arguments |= {"MessageGroupId": group, "MessageDeduplicationId": f"dlq-{payload}"}
    if not attributes:
        del arguments["MessageAttributes"]
    return str(sqs.send_message(**arguments)["MessageId"])


def drain(sqs, url: str) -> list[dict]:
    """Every message of a queue, deleted as read (FIFO groups open up as they go)."""
    received = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    ).get("Messages"):
        received += batch
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return received


def payloads(messages: list[dict]) -> list:
    return sorted(json.loads(m["Body"])["payload"] for m in messages)


@pytest.fixture
def journal(tmp_path, queues, sqs):
    with RedriveJournal(tmp_path / "journal.sqlite3", queues.dlq_arn) as opened:
        yield opened


@pytest.fixture
def end_leases(sqs):
    """Ends the leases a crashed run left on the messages it received, through SQS's own API
    (ChangeMessageVisibility to 0), where waiting them out would take real time."""
    receipts = ReceiptHandles(sqs)

    def end(queue_url: str) -> None:
        assert receipts.expire(queue_url) > 0, "no message was held"

    return end


@pytest.fixture
def mixed(sqs, queues) -> dict[str, list[str]]:
    """A DLQ as the worker and SQS fill it: ids by kind."""
    ids: dict[str, list[str]] = {"charge": [], "report": [], "redriven": [], "malformed": []}
    for n in range(3):
        ids["charge"].append(dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR, trace=f"t{n}"))
    for n in range(2):
        ids["report"].append(dlq_message(sqs, queues.dlq_url, "report", 10 + n, RETRIES_EXHAUSTED))
    ids["redriven"].append(dlq_message(sqs, queues.dlq_url, "resize", 20))
    ids["malformed"].append(dlq_message(sqs, queues.dlq_url, None, None, MALFORMED))
    return ids


def listed(sqs, queues, selection: Selection) -> tuple[list[str], TriageReport]:
    recorder = Recorder()
    report = list_dead_letters(sqs, queues.dlq_url, selection, recorder, FAST)
    return recorder.ids(MessageResult.LISTED), report


def assert_all_visible(sqs, url: str, count: int) -> None:
    depths = queue_depths(sqs, url)
    assert (depths["ApproximateNumberOfMessages"], depths["ApproximateNumberOfMessagesNotVisible"]) == (count, 0)


# -- reading ------------------------------------------------------------------------------------


def test_a_dead_letter_reads_reason_task_and_error_from_the_worker_or_sqs(sqs, queues, mixed):
    seen: dict[str, DlqMessage] = {}

    class Keep(Recorder):
        def message(self, dlq_message, outcome, detail=""):
            seen[dlq_message.message_id] = dlq_message

    list_dead_letters(sqs, queues.dlq_url, Selection(), Keep(), FAST)
    charge = seen[mixed["charge"][0]]
    assert (charge.reason, charge.task, charge.error_first_line) == (
        PERMANENT_ERROR,
        "charge",
        "permanent_error happened",
    )
    assert charge.error.endswith("line 2")
    assert charge.receive_count >= 1
    assert charge.size > len(charge.body)  # attributes count too
    assert charge.first_enqueued is not None and abs(charge.first_enqueued - datetime.now(UTC)) < timedelta(minutes=5)
    assert set(charge.original_attributes()) == {"trace"}
    redriven = seen[mixed["redriven"][0]]
    assert (redriven.reason, redriven.task) == (REDRIVE, "resize")  # no marks: SQS moved it; task from the body
    malformed = seen[mixed["malformed"][0]]
    assert (malformed.reason, malformed.task) == (MALFORMED, None)


def test_a_message_sqs_moved_names_its_source_queue_when_sqs_says():
    source = "arn:aws:sqs:us-east-1:123456789012:tasks"
    message = {"MessageId": "m", "ReceiptHandle": "h", "Body": "{}", "Attributes": {"DeadLetterQueueSourceArn": source}}
    read = DlqMessage.from_message(message)
    assert (read.reason, read.error) == (
        REDRIVE,
        f"moved by SQS's redrive policy from {source} after maxReceiveCount receives",
    )


def test_no_reserved_attribute_goes_back_with_a_dead_letter():
    attributes = {name: text("x") for name in (*REASON_ATTRIBUTES, "TaskQueue.Forged", "trace")}
    message = {"MessageId": "m", "ReceiptHandle": "h", "Body": "{}", "MessageAttributes": attributes}
    assert set(DlqMessage.from_message(message).original_attributes()) == {"trace"}


# -- list ----------------------------------------------------------------------------------------


def test_list_filters_by_reason_task_message_id_since_and_limit(sqs, queues, mixed):
    ids, report = listed(sqs, queues, Selection(reasons=frozenset({PERMANENT_ERROR})))
    assert sorted(ids) == sorted(mixed["charge"])
    assert (report.scanned, report.matched, report.error) == (7, 3, None)

    ids, _ = listed(sqs, queues, Selection(tasks=frozenset({"resize", "report"})))
    assert sorted(ids) == sorted(mixed["redriven"] + mixed["report"])

    ids, _ = listed(sqs, queues, Selection(reasons=frozenset({REDRIVE})))
    assert ids == mixed["redriven"]

    ids, _ = listed(sqs, queues, Selection(message_ids=frozenset(mixed["report"][:1])))
    assert ids == mixed["report"][:1]

    ids, _ = listed(sqs, queues, Selection(since=datetime.now(UTC) - timedelta(hours=1)))
    assert len(ids) == 7
    ids, _ = listed(sqs, queues, Selection(since=datetime.now(UTC) + timedelta(hours=1)))
    assert ids == []

    ids, report = listed(sqs, queues, Selection(limit=2))
    assert len(ids) == 2 and report.matched == 2


def test_list_puts_back_everything_it_read_at_once(sqs, queues, mixed):
    _, report = listed(sqs, queues, Selection(tasks=frozenset({"charge"})))
    assert report.released == 7
    assert_all_visible(sqs, queues.dlq_url, 7)
    _, report = listed(sqs, queues, Selection(limit=1))  # stops early, still puts back what it read
    assert_all_visible(sqs, queues.dlq_url, 7)


def test_an_unknown_reason_or_task_matches_nothing_and_says_so(sqs, queues, mixed):
    ids, report = listed(sqs, queues, Selection(reasons=frozenset({"permanent-error"})))
    assert ids == [] and report.matched == 0 and report.scanned == 7
    notes = "\n".join(report.notes)
    assert "nothing matched --reason permanent-error" in notes
    assert f"{PERMANENT_ERROR} (3)" in notes  # what there is instead
    assert "'permanent-error': not a reason" in notes

    ids, report = listed(sqs, queues, Selection(tasks=frozenset({"chrage"})))
    assert ids == []
    assert "nothing matched --task chrage" in report.notes[0] and "charge (3)" in report.notes[0]


# -- redrive -------------------------------------------------------------------------------------


def test_redrive_sends_only_the_selected_with_body_and_original_attributes(sqs, queues, mixed, journal):
    recorder = Recorder()
    report = redrive_dead_letters(
        sqs, queues.dlq_url, queues.url, Selection(tasks=frozenset({"charge"})), journal, recorder, FAST
    )

    assert (report.matched, report.moved, report.failed, report.error) == (3, 3, 0, None)
    assert sorted(recorder.ids(MessageResult.MOVED)) == sorted(mixed["charge"])
    assert recorder.progress_calls >= 1  # what a progress bar follows
    moved = drain(sqs, queues.url)
    assert payloads(moved) == [0, 1, 2]
    assert all(json.loads(m["Body"])["task"] == "charge" for m in moved)
    assert sorted(m["MessageAttributes"]["trace"]["StringValue"] for m in moved) == ["t0", "t1", "t2"]
    assert all(not any(name.startswith("taskqueue.") for name in m["MessageAttributes"]) for m in moved)
    assert_all_visible(sqs, queues.dlq_url, 4)  # the rest is back in the DLQ at once
    assert journal.entries() == {}


def test_redrive_keeps_a_standard_queues_tenant(sqs, queues, journal):
    """A tenant (the MessageGroupId of a fair queue) goes back with its task, so fairness holds after a redrive."""
    sqs.send_message(
        QueueUrl=queues.dlq_url,
        MessageBody=json.dumps({"task": "export", "payload": 1}),
        MessageGroupId="customer-42",
        MessageAttributes={REASON_ATTRIBUTE: text(PERMANENT_ERROR)},
    )
    dlq_message(sqs, queues.dlq_url, "export", 2, PERMANENT_ERROR)
    report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST)
    assert report.moved == 2
    received = sqs.receive_message(QueueUrl=queues.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    tenants = {json.loads(m["Body"])["payload"]: m["Attributes"].get("MessageGroupId") for m in received["Messages"]}
    assert tenants == {1: "customer-42", 2: None}


def test_redrive_dry_run_sends_and_deletes_nothing(sqs, queues, mixed, journal):
    recorder = Recorder()
    report = redrive_dead_letters(
        sqs,
        queues.dlq_url,
        queues.url,
        Selection(reasons=frozenset({RETRIES_EXHAUSTED})),
        journal,
        recorder,
        FAST,
        dry_run=True,
    )
    assert (report.would_move, report.moved) == (2, 0)
    assert sorted(recorder.ids(MessageResult.WOULD_MOVE)) == sorted(mixed["report"])
    assert drain(sqs, queues.url) == []
    assert_all_visible(sqs, queues.dlq_url, 7)


def test_redrive_by_message_id_and_limit(sqs, queues, mixed, journal):
    chosen = frozenset(mixed["charge"] + mixed["report"])
    report = redrive_dead_letters(
        sqs, queues.dlq_url, queues.url, Selection(message_ids=chosen, limit=4), journal, Recorder(), FAST
    )
    assert report.moved == 4
    assert len(drain(sqs, queues.url)) == 4
    remaining, _ = listed(sqs, queues, Selection())
    assert len(set(remaining) & chosen) == 1 and len(remaining) == 3


def raise_on_call(number: int, error: BaseException):
    """A botocore hook that raises ``error`` on the ``number``-th call it sees, and only then."""
    calls = []

    def hook(**_):
        calls.append(1)
        if len(calls) == number:
            raise error

    return hook


def dead(**_):
    raise Crash  # a killed process releases nothing


def crash_after_sqs_accepts_the_send(**_):
    raise Crash  # SQS took the batch; the process dies before it hears back


def redrive_all(sqs, queues, journal, settings: ScanSettings = FAST) -> TriageReport:
    return redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), settings)


def crash(sqs, queues, journal, event: str, handler, settings: ScanSettings = FAST) -> None:
    """A redrive whose process dies where ``handler`` raises, releasing nothing; then a fresh client state."""
    sqs.meta.events.register(event, handler)
    sqs.meta.events.register("before-call.sqs.ChangeMessageVisibilityBatch", dead)
    try:
        with pytest.raises(Crash):
            redrive_all(sqs, queues, journal, settings)
    finally:
        sqs.meta.events.unregister(event, handler)
        sqs.meta.events.unregister("before-call.sqs.ChangeMessageVisibilityBatch", dead)


def test_a_crash_between_send_and_delete_neither_duplicates_nor_loses(sqs, queues, journal, end_leases):
    for n in range(25):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR)
    crash(sqs, queues, journal, "before-call.sqs.DeleteMessageBatch", raise_on_call(2, Crash()))
    # The second batch is in the queue and still in the DLQ, hidden until its lease ends; the journal knows.
    assert list(journal.entries().values()) == [SENT] * 10
    end_leases(queues.dlq_url)

    report = redrive_all(sqs, queues, journal)

    assert (report.moved, report.finished_earlier, report.possibly_duplicated) == (15, 10, 0)
    assert payloads(drain(sqs, queues.url)) == list(range(25))  # each exactly once
    assert drain(sqs, queues.dlq_url) == []
    assert journal.entries() == {}


def test_a_crash_before_the_send_is_confirmed_resends_and_reports_it(sqs, queues, journal, end_leases):
    """The one window the journal cannot close on a standard queue: said so, and counted."""
    for n in range(10):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR)
    crash(sqs, queues, journal, "after-call.sqs.SendMessageBatch", crash_after_sqs_accepts_the_send)
    assert list(journal.entries().values()) == [SENDING] * 10
    end_leases(queues.dlq_url)

    report = redrive_all(sqs, queues, journal)

    assert (report.moved, report.possibly_duplicated) == (10, 10)
    assert "may hold them twice" in " ".join(report.notes)
    assert payloads(drain(sqs, queues.url)) == sorted(list(range(10)) * 2)  # nothing lost; standard SQS cannot dedupe


def test_an_sqs_error_midway_reports_what_was_done_and_a_rerun_continues(sqs, queues, journal):
    for n in range(30):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR)
    unavailable = ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "slow down"}}, "ReceiveMessage")
    sqs.meta.events.register("before-call.sqs.ReceiveMessage", raise_on_call(3, unavailable))
    report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST)

    assert report.moved == 20
    assert report.error == "ReceiveMessage: ServiceUnavailable: slow down"
    assert not report.succeeded
    assert "rerun to continue" in report.notes[-1]
    assert_all_visible(sqs, queues.dlq_url, 10)

    report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST)
    assert (report.moved, report.error) == (10, None)
    assert payloads(drain(sqs, queues.url)) == list(range(30))


class RefusingLongBodies:
    """SQS through a client whose SendMessageBatch refuses long bodies entry by entry, as SQS answers per entry."""

    def __init__(self, sqs, limit: int) -> None:
        self.sqs = sqs
        self.limit = limit

    def __getattr__(self, name: str):
        return getattr(self.sqs, name)

    def send_message_batch(self, QueueUrl, Entries):
        short = [e for e in Entries if len(e["MessageBody"]) <= self.limit]
        refused = [
            {"Id": e["Id"], "SenderFault": True, "Code": "InvalidParameterValue", "Message": "message too long"}
            for e in Entries
            if len(e["MessageBody"]) > self.limit
        ]
        result = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=short) if short else {}
        return {"Successful": result.get("Successful", []), "Failed": result.get("Failed", []) + refused}


def test_a_send_refused_for_one_message_leaves_it_in_the_dlq_and_sends_the_others(sqs, queues, journal):
    dlq_message(sqs, queues.dlq_url, "big", "x" * 4096, PERMANENT_ERROR)
    for n in range(3):
        dlq_message(sqs, queues.dlq_url, "small", n, PERMANENT_ERROR)
    recorder = Recorder()

    report = redrive_dead_letters(
        RefusingLongBodies(sqs, 2048), queues.dlq_url, queues.url, Selection(), journal, recorder, FAST
    )

    assert (report.moved, report.failed, report.succeeded, report.error) == (3, 1, False, None)
    assert journal.entries() == {}  # SQS said no: not sent, nothing to finish later
    assert [detail for *_, detail in recorder.events if _[1] is MessageResult.SEND_FAILED] == [
        "InvalidParameterValue: message too long"
    ]
    assert payloads(drain(sqs, queues.url)) == [0, 1, 2]
    assert_all_visible(sqs, queues.dlq_url, 1)


def test_a_send_call_refused_as_a_whole_stops_the_run_and_records_nothing_as_sent(sqs, make_queues, tmp_path):
    """moto refuses a whole batch with one body over the queue's maximum: a 4xx, so nothing was sent."""
    queues = make_queues("small", MaximumMessageSize="2048")
    dlq_message(sqs, queues.dlq_url, "big", "x" * 4096, PERMANENT_ERROR)
    with RedriveJournal(tmp_path / "j.sqlite3", queues.dlq_arn) as journal:
        report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST)
        assert journal.entries() == {}
    assert report.failed == 1 and report.error is not None and report.error.startswith("SendMessageBatch: ")
    assert_all_visible(sqs, queues.dlq_url, 1)


def test_large_dead_letters_go_in_chunks_within_10_entries_and_1_mib(sqs, queues, journal):
    for n in range(24):
        dlq_message(sqs, queues.dlq_url, "big", f"{n:02d}" + "x" * 200_000, PERMANENT_ERROR, trace="y" * 1000)
    recorder = CallRecorder(sqs)

    report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST)

    assert (report.moved, report.error) == (24, None)
    sends = recorder.named("SendMessageBatch")
    assert len(sends) >= 24 * 200_000 // SQS_MAX_BATCH_BYTES
    for call in sends + recorder.named("DeleteMessageBatch") + recorder.named("ChangeMessageVisibilityBatch"):
        assert len(call["Entries"]) <= SQS_MAX_BATCH_ENTRIES
    assert all(sum(entry_bytes(e) for e in call["Entries"]) <= SQS_MAX_BATCH_BYTES for call in sends)
    assert sorted(json.loads(m["Body"])["payload"][:2] for m in drain(sqs, queues.url)) == [
        f"{n:02d}" for n in range(24)
    ]


def test_fifo_keeps_the_group_and_a_stable_deduplication_id_across_reruns(sqs, make_queues, tmp_path):
    queues = make_queues("orders", fifo=True)
    for n in range(4):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR, group="customer-1")
    dlq_message(sqs, queues.dlq_url, "charge", 9, PERMANENT_ERROR, group="customer-2")

    def fail_delete(**_):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "DeleteMessageBatch")

    sqs.meta.events.register("before-call.sqs.DeleteMessageBatch", fail_delete)
    with RedriveJournal(tmp_path / "first.sqlite3", queues.dlq_arn) as journal:
        report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST)
    sqs.meta.events.unregister("before-call.sqs.DeleteMessageBatch", fail_delete)
    assert report.moved == 0 and report.error == "DeleteMessageBatch: InternalError: try again"

    # Even a rerun that lost the journal (another machine) sends nothing twice within SQS's window.
    with RedriveJournal(tmp_path / "other-machine.sqlite3", queues.dlq_arn) as journal:
        report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST)
    assert (report.moved, report.error) == (5, None)

    moved = drain(sqs, queues.url)
    assert [json.loads(m["Body"])["payload"] for m in moved if m["Attributes"]["MessageGroupId"] == "customer-1"] == [
        0,
        1,
        2,
        3,
    ]
    assert payloads(moved) == [0, 1, 2, 3, 9]
    assert all(m["Attributes"]["MessageDeduplicationId"].startswith("taskqueue-redrive-") for m in moved)
    assert drain(sqs, queues.dlq_url) == []


def test_fifo_a_crash_before_the_send_is_confirmed_duplicates_nothing(sqs, make_queues, tmp_path, end_leases):
    queues = make_queues("orders", fifo=True)
    for n in range(3):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR, group="customer-1")
    # A short lease, so the rerun comes within SQS's 5-minute deduplication window.
    settings = ScanSettings(lease_seconds=60, wait_seconds=0)
    with RedriveJournal(tmp_path / "j.sqlite3", queues.dlq_arn) as journal:
        crash(sqs, queues, journal, "after-call.sqs.SendMessageBatch", crash_after_sqs_accepts_the_send, settings)
        end_leases(queues.dlq_url)
        report = redrive_all(sqs, queues, journal, settings)
    assert (report.moved, report.possibly_duplicated) == (3, 3)
    assert [json.loads(m["Body"])["payload"] for m in drain(sqs, queues.url)] == [0, 1, 2]


# -- purge ---------------------------------------------------------------------------------------


def test_purge_deletes_only_what_matches(sqs, queues, mixed):
    recorder = Recorder()
    report = purge_dead_letters(sqs, queues.dlq_url, Selection(reasons=frozenset({MALFORMED, REDRIVE})), recorder, FAST)

    assert (report.deleted, report.failed, report.error) == (2, 0, None)
    assert sorted(recorder.ids(MessageResult.DELETED)) == sorted(mixed["malformed"] + mixed["redriven"])
    assert_all_visible(sqs, queues.dlq_url, 5)
    remaining, _ = listed(sqs, queues, Selection())
    assert sorted(remaining) == sorted(mixed["charge"] + mixed["report"])


def test_purge_refuses_to_run_without_a_filter(sqs, queues, mixed):
    with pytest.raises(ValueError, match="purge needs a filter"):
        purge_dead_letters(sqs, queues.dlq_url, Selection(limit=3), Recorder(), FAST)
    assert_all_visible(sqs, queues.dlq_url, 7)


# -- tens of thousands ---------------------------------------------------------------------------


class LargeDlq:
    """A DLQ of ``count`` messages, made up as they are received, so the test itself holds none of them."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.received = 0
        self.released = 0
        self.largest_release = 0

    def get_queue_attributes(self, **_):
        return {
            "Attributes": {
                "QueueArn": "arn:aws:sqs:us-east-1:123456789012:dlq",
                "ApproximateNumberOfMessages": str(self.count - self.received),
            }
        }

    def list_dead_letter_source_queues(self, **_):
        return {"queueUrls": ["https://sqs.invalid/queue"]}  # a dead-letter queue

    def receive_message(self, **_):
        messages = []
        for n in range(self.received, min(self.received + 10, self.count)):
            messages.append(
                {
                    "MessageId": f"{n:036d}",
                    "ReceiptHandle": f"{n:0400d}",  # SQS's are a few hundred bytes too
                    "Body": json.dumps({"task": "charge", "payload": {"n": n, "pad": "x" * 1000}}),
                    "Attributes": {"SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1"},
                    "MessageAttributes": {REASON_ATTRIBUTE: text(PERMANENT_ERROR), ERROR_ATTRIBUTE: text("e" * 500)},
                }
            )
        self.received += len(messages)
        return {"Messages": messages}

    def change_message_visibility_batch(self, QueueUrl, Entries):
        self.released += len(Entries)
        self.largest_release = max(self.largest_release, len(Entries))
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


class Quiet:
    """Keeps nothing per message, so what the test measures is the scan's memory."""

    def message(self, dlq_message, outcome, detail=""):
        pass

    def progress(self, report):
        pass


def peak_memory_of_listing(count: int) -> tuple[int, LargeDlq]:
    dlq = LargeDlq(count)
    tracemalloc.start()
    try:
        report = list_dead_letters(dlq, "https://sqs.invalid/dlq", Selection(), Quiet(), FAST)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.scanned, report.matched, report.released) == (count, count, count)
    return peak, dlq


def test_a_dlq_of_tens_of_thousands_is_read_in_bounded_memory():
    small, _ = peak_memory_of_listing(2_000)
    large, dlq = peak_memory_of_listing(30_000)
    # Fifteen times the messages, about the same memory: nothing per message stays in Python.
    assert large < small * 1.5, (small, large)
    assert dlq.released == 30_000 and dlq.largest_release == SQS_MAX_BATCH_ENTRIES


def test_a_journal_that_cannot_be_opened_is_refused_naming_the_path(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    with pytest.raises(ValueError, match=f"redrive journal {blocked}/journal.sqlite3 cannot be opened"):
        RedriveJournal(blocked / "journal.sqlite3", "arn:aws:sqs:us-east-1:123456789012:tasks-dlq")


def test_journal_entries_older_than_sqs_can_keep_a_message_are_dropped(tmp_path):
    now = [1_000_000_000.0]
    with RedriveJournal(tmp_path / "j.sqlite3", "arn:dlq", clock=lambda: now[0]) as journal:
        journal.sending(["old"], "https://sqs/q")
        journal.sent(["old"])
    now[0] += SQS_MAX_RETENTION_SECONDS + 1
    with RedriveJournal(tmp_path / "j.sqlite3", "arn:dlq", clock=lambda: now[0]) as journal:
        journal.sending(["new"], "https://sqs/q")
        assert journal.entries() == {"new": SENDING}


# -- issue 19: the operator's tools never make a bad day worse ----------------------------------


def moved_by_sqs(sqs, queues, body: str, attributes: dict) -> str:
    """A message a producer sent to the task queue, received until SQS's redrive moves it to the DLQ."""
    message_id = sqs.send_message(QueueUrl=queues.url, MessageBody=body, MessageAttributes=attributes)["MessageId"]
    for _ in range(queues.max_receive_count):
        assert sqs.receive_message(QueueUrl=queues.url, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=queues.url)  # this receive moved it
    return str(message_id)


def forged_scheduler_attributes() -> dict:
    failure = ScheduleFailure(
        schedule_arn="arn:aws:scheduler:us-east-1:123456789012:schedule/default/forged",
        target_arn="arn:aws:sqs:us-east-1:123456789012:tasks",
        scheduled_time="2030-01-01T00:00:00Z",
        error_code="AWS.SQS.Forged",
        error_message="forged",
        exhausted_retry_condition=None,
        retry_attempts=3,
        execution_id="x",
    )
    return failure.message_attributes()


def test_a_message_sqs_moved_is_redrive_whatever_attributes_a_producer_gave_it(sqs, queues):
    """Defect 9: a producer's taskqueue.* or Scheduler attributes survive SQS's redrive; the reason shown must
    come from provenance, so purge --reason malformed cannot delete a real task."""
    DeadLetterSourceArns(sqs, queues.url, queues.arn, queues.dlq_url)
    forged_worker = {
        REASON_ATTRIBUTE: text(MALFORMED),
        ERROR_ATTRIBUTE: text("forged"),
        TASK_ATTRIBUTE: text("forged-task"),
    }
    real_task = json.dumps({"task": "charge", "payload": 1})
    moved = [
        moved_by_sqs(sqs, queues, real_task, forged_worker),
        moved_by_sqs(sqs, queues, real_task, forged_scheduler_attributes()),
    ]
    genuine = [dlq_message(sqs, queues.dlq_url, None, None, MALFORMED)]
    seen: dict[str, DlqMessage] = {}

    class Keep(Recorder):
        def message(self, dlq_message, outcome, detail=""):
            seen[dlq_message.message_id] = dlq_message

    list_dead_letters(sqs, queues.dlq_url, Selection(), Keep(), FAST)
    assert [(seen[i].reason, seen[i].task) for i in moved] == [(REDRIVE, "charge"), (REDRIVE, "charge")]
    assert all(seen[i].error.startswith(f"moved by SQS's redrive policy from {queues.arn}") for i in moved)

    recorder = Recorder()
    report = purge_dead_letters(
        sqs, queues.dlq_url, Selection(reasons=frozenset({MALFORMED, SCHEDULE_FAILED})), recorder, FAST
    )
    assert recorder.ids(MessageResult.DELETED) == genuine
    assert report.deleted == 1
    assert_all_visible(sqs, queues.dlq_url, 2)


def test_a_reason_value_the_worker_never_writes_is_not_shown_as_its_reason():
    for forged in (REDRIVE, SCHEDULE_FAILED, "anything"):
        message = {
            "MessageId": "m",
            "ReceiptHandle": "h",
            "Body": json.dumps({"task": "charge"}),
            "MessageAttributes": {REASON_ATTRIBUTE: text(forged)},
        }
        assert DlqMessage.from_message(message).reason == REDRIVE


def test_every_triage_operation_refuses_a_queue_that_is_no_dead_letter_queue(sqs, queues, journal):
    """Defect 10: pointed at the task queue, purge deleted live tasks."""
    for n in range(3):
        sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps({"task": "charge", "payload": n}))
    selection = Selection(since=datetime.now(UTC) - timedelta(hours=1))
    operations = [
        lambda: list_dead_letters(sqs, queues.url, selection, Recorder(), FAST),
        lambda: purge_dead_letters(sqs, queues.url, selection, Recorder(), FAST),
        lambda: redrive_dead_letters(sqs, queues.url, queues.dlq_url, selection, journal, Recorder(), FAST),
    ]
    for operation in operations:
        with pytest.raises(QueuePairingError, match=f"{queues.url} .*is not a dead-letter queue|has no redrive policy"):
            operation()
    assert_all_visible(sqs, queues.url, 3)
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in drain(sqs, queues.url))  # never received


def test_a_schedule_dead_letter_queue_named_by_no_redrive_policy_is_read_when_given_as_such(sqs):
    schedule_dlq = sqs.create_queue(QueueName="tasks-schedule-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=schedule_dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=schedule_dlq, MessageBody="{}", MessageAttributes=forged_scheduler_attributes())
    with pytest.raises(QueuePairingError, match="is not a dead-letter queue"):
        list_dead_letters(sqs, schedule_dlq, Selection(), Recorder(), FAST)
    recorder = Recorder()
    report = list_dead_letters(sqs, schedule_dlq, Selection(), recorder, FAST, schedule_dead_letter_arn=arn)
    assert (report.scanned, report.error) == (1, None)


def scheduler_dead_letter(sqs, dlq_url: str, **overrides: str) -> str:
    """A dead letter as EventBridge Scheduler sends it, with some of its attributes replaced."""
    attributes = forged_scheduler_attributes() | {name: text(value) for name, value in overrides.items()}
    body = json.dumps({"task": "report", "payload": 1})
    return str(sqs.send_message(QueueUrl=dlq_url, MessageBody=body, MessageAttributes=attributes)["MessageId"])


def test_an_attribute_that_parses_badly_breaks_no_command(sqs, queues, mixed):
    """Defect 11: RETRY_ATTEMPTS of "²" ("².isdigit()" is true, int() refuses it) raised inside the scan."""
    odd = scheduler_dead_letter(sqs, queues.dlq_url, RETRY_ATTEMPTS="²")
    ids, report = listed(sqs, queues, Selection())
    assert odd in ids and (report.scanned, report.error) == (8, None)
    assert_all_visible(sqs, queues.dlq_url, 8)


def test_a_scan_that_fails_for_any_reason_releases_every_message_it_holds(sqs, queues, mixed, monkeypatch):
    """Defect 11: the ledger's rollback forgot the receipt handles, so the batch stayed hidden for the lease."""
    reading = DlqMessage.from_message.__func__
    calls = []

    def breaks_on_the_third(cls, message):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("a bug in reading")
        return reading(cls, message)

    monkeypatch.setattr(DlqMessage, "from_message", classmethod(breaks_on_the_third))
    report = list_dead_letters(sqs, queues.dlq_url, Selection(), Recorder(), FAST)
    assert report.error == "RuntimeError: a bug in reading" and not report.succeeded
    assert_all_visible(sqs, queues.dlq_url, 7)


attribute_text = st.text(st.characters(codec="utf-8"), max_size=12)  # what SQS can carry
any_text = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too, as a body's JSON can


@given(
    system=st.dictionaries(
        st.sampled_from(["SentTimestamp", "ApproximateReceiveCount", "MessageGroupId", "DeadLetterQueueSourceArn"]),
        attribute_text,
    ),
    attributes=st.dictionaries(
        st.sampled_from([*REASON_ATTRIBUTES, *SCHEDULER_ATTRIBUTES, "other"]),
        st.fixed_dictionaries({"DataType": st.sampled_from(["String", "Number", "Binary"])})
        | st.fixed_dictionaries({"DataType": st.just("String"), "StringValue": attribute_text}),
    ),
    body=attribute_text | st.builds(lambda task: json.dumps({"task": task}), any_text),
)
@example(system={}, attributes={}, body=json.dumps({"task": "\ud800\x1b[2J\u009b\u202e"}))
@example(system={"SentTimestamp": "9" * 30, "ApproximateReceiveCount": "²"}, attributes={}, body="")
@hypothesis_settings(derandomize=True, max_examples=100, deadline=None)
def test_reading_and_showing_a_dead_letter_never_raises(system, attributes, body):
    read = DlqMessage.from_message(
        {"MessageId": "m", "ReceiptHandle": "h", "Body": body, "Attributes": system, "MessageAttributes": attributes}
    )
    assert read.reason in KNOWN_REASONS
    assert isinstance(read.receive_count, int) and isinstance(read.size, int)
    assert read.first_enqueued is None or read.first_enqueued.tzinfo is UTC
    assert isinstance(read.original_attributes(), dict) and isinstance(read.error_first_line, str)
    # Every output takes it, through a stream as strict as a real terminal's.
    for output in (JsonLinesOutput, PlainOutput, RichOutput):
        stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
        shown = output(stream)
        shown.message(read, MessageResult.LISTED)
        shown.message(read, MessageResult.SEND_FAILED, read.error)
        shown.show(read)
        assert stream.buffer.getvalue()


def test_a_scan_that_outlasts_its_lease_reads_on_and_reports_no_other_reader(sqs, queues, end_leases):
    """Defect 14: held messages whose lease lapsed came back, filled the next receive, and the scan stopped there."""
    for n in range(30):
        dlq_message(sqs, queues.dlq_url, "charge" if n % 2 else "report", n, PERMANENT_ERROR)

    class LeaseLapsesAfterTwoBatches(Recorder):
        def progress(self, report):
            super().progress(report)
            if self.progress_calls == 2:
                end_leases(queues.dlq_url)  # 10 held, enough to fill the next receive

    recorder = LeaseLapsesAfterTwoBatches()
    report = purge_dead_letters(sqs, queues.dlq_url, Selection(tasks=frozenset({"charge"})), recorder, FAST)
    assert (report.scanned, report.deleted, report.error) == (30, 15, None), report.notes
    assert not any("another reader" in note for note in report.notes)
    assert_all_visible(sqs, queues.dlq_url, 15)


def test_a_long_scan_extends_the_lease_of_what_it_holds(sqs, queues):
    for n in range(30):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR)
    clock = FakeClock()
    recorder = CallRecorder(sqs)

    class SlowReader(Recorder):
        def progress(self, report):
            super().progress(report)
            clock.advance(40)  # each batch takes 40 s of a 60 s lease

    settings = ScanSettings(lease_seconds=60, wait_seconds=0, clock=clock)
    report = list_dead_letters(sqs, queues.dlq_url, Selection(), SlowReader(), settings)
    assert (report.scanned, report.error) == (30, None)
    extended = [
        entry
        for call in recorder.named("ChangeMessageVisibilityBatch")
        for entry in call["Entries"]
        if entry["VisibilityTimeout"] == 60
    ]
    assert len(extended) >= 20  # the first two batches were held past half their lease
    assert_all_visible(sqs, queues.dlq_url, 30)


def test_a_dry_run_reports_no_possible_duplicates(sqs, queues, journal):
    """Defect 16: a dry run sends nothing, so it duplicates nothing."""
    message_id = dlq_message(sqs, queues.dlq_url, "charge", 1, PERMANENT_ERROR)
    journal.sending([message_id], queues.url)
    report = redrive_dead_letters(sqs, queues.dlq_url, queues.url, Selection(), journal, Recorder(), FAST, dry_run=True)
    assert (report.would_move, report.possibly_duplicated) == (1, 0)
    assert not any("may hold them twice" in note for note in report.notes)


def test_a_run_that_could_not_read_every_message_is_no_success(sqs, queues):
    """Defect 14: a partial purge ended with exit 0 and a note. Messages another reader holds are out of reach."""
    for n in range(25):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR)

    class AnotherReaderMeanwhile(Recorder):
        def progress(self, report):
            super().progress(report)
            if self.progress_calls == 1:
                sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60)

    report = purge_dead_letters(
        sqs, queues.dlq_url, Selection(tasks=frozenset({"charge"})), AnotherReaderMeanwhile(), FAST
    )
    assert (report.scanned, report.deleted) == (15, 15)
    assert not report.succeeded
    assert report.unread == 10
    assert "read 15 of about 25 messages: another reader held the others" in " ".join(report.notes)


def test_a_fifo_listing_that_could_not_reach_a_groups_later_messages_is_no_success_when_others_arrive(sqs, make_queues):
    """Found by the operator model's long profile (`dlq list` reported success without reading a message): on a
    FIFO DLQ, SQS delivers no more of a message group while its earlier messages are held, so a scan reads at
    most the first 10 of a group; a dead letter of another group arriving meanwhile made up the count, and the
    run compared counts only."""
    queues = make_queues("orders", fifo=True)
    first = [dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR, group="customer-1") for n in range(11)]

    class ADeadLetterArrivesMeanwhile(Recorder):
        def progress(self, report):
            super().progress(report)
            if self.progress_calls == 1:
                dlq_message(sqs, queues.dlq_url, None, 99, MALFORMED, group="customer-2")

    recorder = ADeadLetterArrivesMeanwhile()
    report = list_dead_letters(sqs, queues.dlq_url, Selection(), recorder, FAST)

    assert first[10] not in recorder.ids(MessageResult.LISTED)  # behind the 10 the scan holds
    assert (report.visible_at_start, report.scanned) == (11, 11)
    assert not report.succeeded
    assert report.unread == 1
    assert "a FIFO DLQ delivers no more of a message group" in " ".join(report.notes)
    assert_all_visible(sqs, queues.dlq_url, 12)


def test_a_fifo_listing_that_read_every_group_whole_is_a_success(sqs, make_queues):
    queues = make_queues("orders", fifo=True)
    for n in range(10):
        dlq_message(sqs, queues.dlq_url, "charge", n, PERMANENT_ERROR, group=f"customer-{n % 3}")
    ids, report = listed(sqs, queues, Selection())
    assert (len(ids), report.unread, report.succeeded) == (10, 0, True), report.notes
    assert_all_visible(sqs, queues.dlq_url, 10)


# -- a command killed midway ---------------------------------------------------------------------------


def test_a_dlq_command_terminated_midway_releases_what_it_holds(sqs, queues, mixed, capsys):
    """`dlq list` gets SIGTERM (a `timeout`, a cancelled job, a closed terminal's SIGHUP) holding its first receive.
    Python's default SIGTERM ends the process with no `with` block run, so the messages it held stayed hidden for
    the whole 900 s lease. The CLI must turn the signal into an orderly exit (128 + signal) that releases them.
    The test's own handler stands in for the default one (which would end pytest): before the fix the command
    ignored the signal and ran to exit 0."""
    import os
    import signal

    from taskqueue.operations.cli import main

    class TerminatedAfterFirstReceive:
        def __init__(self, client) -> None:
            self._client = client
            self.receives = 0

        def __getattr__(self, name):
            return getattr(self._client, name)

        def receive_message(self, **arguments):
            self.receives += 1
            if self.receives == 2:  # the first receive's messages are held by now
                os.kill(os.getpid(), signal.SIGTERM)
            return self._client.receive_message(**{**arguments, "MaxNumberOfMessages": 2})

    signals_seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: signals_seen.append(signum))
    try:
        code = main(["dlq", "list", "--dlq-url", queues.dlq_url], sqs=TerminatedAfterFirstReceive(sqs))
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert code == 128 + signal.SIGTERM
    assert signals_seen == []  # the CLI's handler took the signal, and gave the previous one back after
    assert_all_visible(sqs, queues.dlq_url, sum(len(ids) for ids in mixed.values()))


def test_the_operators_guide_gives_every_reason_of_the_worker_its_meaning_from_the_code():
    """docs/operating.md's table of reasons mirrors taskqueue.dead_letter_queue.WORKER_REASONS, the one place a
    reason is defined with its meaning: a reason added there and not here (or a meaning changed) fails."""
    from pathlib import Path

    from taskqueue.dead_letter_queue import WORKER_REASONS

    guide = (Path(__file__).resolve().parent.parent / "docs" / "operating.md").read_text(encoding="utf-8")
    rows = {}
    for line in guide.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 2:
            rows[cells[0].strip("`")] = cells[1]
    for reason in WORKER_REASONS:
        assert reason.name in rows, f"docs/operating.md lists no reason {reason.name!r}"
        assert rows[reason.name].startswith(reason.meaning), (reason.name, rows[reason.name], reason.meaning)
