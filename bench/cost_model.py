"""The bill, per million tasks and per month at idle: SQS, Lambda requests and duration, CloudWatch Logs
ingestion, custom metrics, EventBridge and EventBridge Scheduler; and the DynamoDB writes task status
(``track_status``) adds.

Prices are AWS's list prices in us-east-1, first tier, free tiers left out, as read on ``PRICES.as_of``
from aws.amazon.com/sqs/pricing, /lambda/pricing, /cloudwatch/pricing, /eventbridge/pricing and
/dynamodb/pricing/on-demand. Every quantity they multiply is measured by the benchmark (requests, billed
duration, log bytes, metric series), except Lambda's own log lines per invocation, which are sized from
their documented format below, the idle polling of an event source mapping, which only AWS's fleet does
(see docs/performance.md), and the status writes, counted from the code (``status_writes``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

GB = 1024**3
MONTH_MINUTES = 30 * 24 * 60  # a scheduled consumer at rate(1 minute): 43,200 runs a month


@dataclass(frozen=True)
class Prices:
    as_of: str
    region: str
    sqs_per_million_requests: float
    lambda_per_million_requests: float
    lambda_arm64_per_gb_second: float
    logs_standard_per_gb: float  # Lambda's logs, first tier (tiered since May 2025)
    logs_infrequent_access_per_gb: float
    custom_metric_per_month: float  # first 10,000 metrics; EMF metrics are custom metrics
    eventbridge_scheduled_rule_per_million: float  # scheduled rules' events are AWS events: free
    scheduler_per_million_invocations: float  # EventBridge Scheduler: tasks due beyond SQS's 900 s
    # DynamoDB on demand (aws.amazon.com/dynamodb/pricing/on-demand), per write request unit (a write of up
    # to 1 KB; a failed conditional write too) and per consistent read request unit (up to 4 KB). The
    # flow-control table's items are under 1 KB; a status record's writes count their units (StatusWrites).
    dynamodb_per_million_writes: float
    dynamodb_per_million_reads: float


PRICES = Prices(
    as_of="2026-11-30",
    region="us-east-1",
    sqs_per_million_requests=0.40,
    lambda_per_million_requests=0.20,
    lambda_arm64_per_gb_second=0.0000133334,
    logs_standard_per_gb=0.50,
    logs_infrequent_access_per_gb=0.25,
    custom_metric_per_month=0.30,
    eventbridge_scheduled_rule_per_million=0.0,
    scheduler_per_million_invocations=1.00,
    dynamodb_per_million_writes=0.625,
    dynamodb_per_million_reads=0.125,
)

# Lambda's own lines per invocation in the JSON log format (the module's default, with the system log
# level left at INFO): platform.start and platform.report, as documented; a sample sizes them. The
# module's logging_system_log_level = "WARN" drops both.
PLATFORM_LOG_LINES = (
    '{"time":"2026-11-30T12:00:00.000Z","type":"platform.start",'
    '"record":{"requestId":"6d1b3c2e-5f0a-4c8e-9b7d-2a4f6e8c0b1d","version":"$LATEST"}}\n',
    '{"time":"2026-11-30T12:00:00.012Z","type":"platform.report",'
    '"record":{"requestId":"6d1b3c2e-5f0a-4c8e-9b7d-2a4f6e8c0b1d","metrics":{"durationMs":11.84,'
    '"billedDurationMs":12,"memorySizeMB":512,"maxMemoryUsedMB":71},"status":"success"}}\n',
)
PLATFORM_LOG_BYTES_PER_INVOCATION = sum(len(line.encode()) for line in PLATFORM_LOG_LINES)

# An idle SQS event source mapping: AWS's pollers keep long-polling (20 s) an empty queue. AWS starts a
# mapping with 5 concurrent batches and may go down to 2; 5 is the stated assumption.
ESM_IDLE_POLLERS = 5
ESM_IDLE_RECEIVES_PER_MINUTE = ESM_IDLE_POLLERS * 60 / 20


@dataclass(frozen=True)
class TaskUsage:
    """What one task uses, measured: requests, billed compute and log bytes."""

    sqs_requests: float
    lambda_requests: float
    gb_seconds: float
    function_log_bytes: float  # what the functions write
    invocations: float  # each adds Lambda's own lines

    @property
    def log_bytes(self) -> float:
        return self.function_log_bytes + self.invocations * PLATFORM_LOG_BYTES_PER_INVOCATION


@dataclass(frozen=True)
class IdleUsage:
    """What a month with no task uses: scheduled runs, polls, metrics published while idle."""

    runs: float = 0.0  # scheduled invocations (the consumer's, the baseline's)
    gb_seconds: float = 0.0
    sqs_requests: float = 0.0
    function_log_bytes: float = 0.0
    metric_series: int = 0


def per_million_tasks(usage: TaskUsage, prices: Prices = PRICES) -> dict[str, float]:
    """US$ per million tasks, by line; logs at the standard class, with the infrequent-access total too."""
    million = 1e6
    logs_gb = usage.log_bytes * million / GB
    parts = {
        "sqs_requests": usage.sqs_requests * prices.sqs_per_million_requests,
        "lambda_requests": usage.lambda_requests * prices.lambda_per_million_requests,
        "lambda_duration": usage.gb_seconds * million * prices.lambda_arm64_per_gb_second,
        "logs": logs_gb * prices.logs_standard_per_gb,
    }
    parts["total"] = sum(parts.values())
    parts["total_logs_infrequent_access"] = (
        parts["total"] - parts["logs"] + logs_gb * prices.logs_infrequent_access_per_gb
    )
    # Not in the total: only tasks due beyond SQS's 900 s go through a one-time schedule, one Scheduler
    # invocation each (its SendMessage replaces the producer's own, so SQS's count does not change).
    parts["scheduler_if_due_beyond_900s"] = prices.scheduler_per_million_invocations
    return parts


def periodic_task_per_month(usage: TaskUsage, runs_per_month: float, prices: Prices = PRICES) -> float:
    """US$ a month for one periodic task: a Scheduler invocation per run, and the run as any task."""
    return runs_per_month * (prices.scheduler_per_million_invocations + per_million_tasks(usage, prices)["total"]) / 1e6


def per_month_idle(usage: IdleUsage, prices: Prices = PRICES) -> dict[str, float]:
    """US$ per month with no task at all, by line."""
    parts = {
        "sqs_requests": usage.sqs_requests * prices.sqs_per_million_requests / 1e6,
        "lambda_requests": usage.runs * prices.lambda_per_million_requests / 1e6,
        "lambda_duration": usage.gb_seconds * prices.lambda_arm64_per_gb_second,
        "logs": (usage.function_log_bytes + usage.runs * PLATFORM_LOG_BYTES_PER_INVOCATION)
        / GB
        * prices.logs_standard_per_gb,
        "custom_metrics": usage.metric_series * prices.custom_metric_per_month,
        "eventbridge": usage.runs * prices.eventbridge_scheduled_rule_per_million / 1e6,
    }
    parts["total"] = sum(parts.values())
    return parts


def metrics_per_month(series: int, prices: Prices = PRICES) -> float:
    """US$ a month for the metric series a busy month publishes (each a custom metric)."""
    return series * prices.custom_metric_per_month


@dataclass(frozen=True)
class FlowRequests:
    """The flow-control table's requests for one start of a limited task (taskqueue.flow_control)."""

    writes: float
    consistent_reads: float


# One start, by path, counted from the code (tests/test_flow_control.py holds these to what it sends):
FLOW_REQUESTS = {
    # a rate-limited start while the bucket is busy: one conditional UpdateItem
    "rate_limited_start": FlowRequests(writes=1, consistent_reads=0),
    # a rate-limited start on an idle bucket: a read tells it is idle, then one write
    "rate_limited_start_idle": FlowRequests(writes=1, consistent_reads=1),
    # a start held back by the rate: the failed take, the read, and its place in the line to come back (the
    # first of a line: a failed write finds it empty, a second starts it; later ones: one write)
    "rate_held_back": FlowRequests(writes=3, consistent_reads=1),
    # a start that waited in the invocation for its token, due within a second, and got it: the failed take,
    # the read that told when, the take (another worker taking the token first adds the first two again)
    "rate_waited_for_its_token": FlowRequests(writes=2, consistent_reads=1),
    # a start under key_concurrency with a slot free at the first try: its PutItem, then its DeleteItem
    "key_limited_start": FlowRequests(writes=2, consistent_reads=0),
    # each look again at a key whose every slot was held, while a start waits (up to 50 in a second): one
    # consistent read of each slot (BatchGetItem)
    "key_look_again_per_slot": FlowRequests(writes=0, consistent_reads=1),
}


def flow_control_per_million(requests: FlowRequests, prices: Prices = PRICES) -> float:
    """US$ per million starts that make ``requests`` each."""
    return (
        requests.writes * prices.dynamodb_per_million_writes
        + requests.consistent_reads * prices.dynamodb_per_million_reads
    )


def prices_as_dict(prices: Prices = PRICES) -> dict[str, Any]:
    return {**asdict(prices), "platform_log_bytes_per_invocation": PLATFORM_LOG_BYTES_PER_INVOCATION}


# -- task status (track_status): DynamoDB writes per task ------------------------------------------------
# The worker's and the producer's UpdateItem calls (taskqueue.status): queued (the producer, after the send),
# running (each run), retrying (each failed run but the last), and the final state (succeeded or
# dead_lettered). A status record without a stored result is under 1 KB (a 500-character last error
# included), so each write is one write unit on the table. The index by state and time projects a few
# small attributes: a write that creates its entry costs one unit there, one that changes the state (its
# partition key) two (DynamoDB deletes the old entry and puts the new). A stored result (up to
# taskqueue.status.MAX_RESULT_BYTES) makes the final write ceil(size / 1 KB) units; it is not projected.
STATUS_RECORD_BYTES = 1024
WRITE_UNIT_BYTES = 1024


@dataclass(frozen=True)
class StatusWrites:
    """DynamoDB writes of one task's status: requests, and the write units they cost on the table and index."""

    requests: float
    table_write_units: float
    index_write_units: float

    @property
    def write_units(self) -> float:
        return self.table_write_units + self.index_write_units


def status_writes(tracking: bool, failed_runs: int = 0, result_bytes: int = 0) -> StatusWrites:
    """The status writes of a task that ends after ``failed_runs`` retried runs (0: it succeeds, or is
    dead-lettered, at its first run); none with tracking off."""
    if not tracking:
        return StatusWrites(0, 0, 0)
    runs = failed_runs + 1
    requests = 1 + runs + failed_runs + 1  # queued, each run's running, each retry's retrying, the final state
    final_units = -(-(STATUS_RECORD_BYTES + result_bytes) // WRITE_UNIT_BYTES)
    table_units = (requests - 1) + final_units
    # queued creates the entry (1); every later write changes the state (2).
    index_units = 1 + 2 * (requests - 1)
    return StatusWrites(requests, table_units, index_units)


def status_per_million_tasks(writes: StatusWrites, prices: Prices = PRICES) -> dict[str, float]:
    """Requests per task and US$ per million tasks of their writes (the table's and its index's)."""
    return {
        "requests_per_task": writes.requests,
        "write_units_per_task": writes.write_units,
        "table": writes.table_write_units * prices.dynamodb_per_million_writes,
        "index": writes.index_write_units * prices.dynamodb_per_million_writes,
        "total": writes.write_units * prices.dynamodb_per_million_writes,
    }
