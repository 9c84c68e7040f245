"""The benchmark's results shown: the tables a run prints, its goals and the chart (``bench/results.png``).
The figures are :mod:`bench.figures`'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import cost_model, runtime_cost
from bench.figures import BASELINE, CEILING, EVENT_SOURCE_MAPPING, SCHEDULED_CONSUMER, DesignFigures, Results
from taskqueue_local.infrastructure.tables import table

# The scheduled consumer at the module's defaults (consumer_max_concurrency 4, consumer_receivers 1).
DEFAULT_CONSUMER = "consumer 4/1"


@dataclass(frozen=True)
class Goal:
    goal: str
    target: str
    measured: str
    met: bool


def goals(results: Results) -> list[Goal]:
    runtime = results.runtime
    consumer = results.designs[SCHEDULED_CONSUMER]
    defaults = results.measurement(DEFAULT_CONSUMER).median
    logs = runtime.log_bytes_per_task[runtime_cost.WORKER.name]
    return [
        Goal("drain rate, scheduled consumer at its best / emulator ceiling", ">= 0.8", f"{consumer.fraction_of_ceiling:.2f}", consumer.fraction_of_ceiling >= 0.8),
        Goal("requests per task, scheduled consumer at the module's defaults", "<= 0.30", f"{defaults.requests_per_task:.3f}", defaults.requests_per_task <= 0.30),
        Goal("log bytes per successful task (the worker's own)", "<= 60", f"{logs:.1f}", logs <= 60),
        Goal("worker CPU per no-op task / bare handler", "<= 10x", f"{runtime.cpu_ratio:.1f}x", runtime.cpu_ratio <= 10),
        Goal("cold start / import boto3 + client", "<= 1.10x", f"{runtime.cold_start_ratio:.2f}x", runtime.cold_start_ratio <= 1.10),
    ]  # fmt: skip


def tables(results: Results) -> str:
    return "\n\n".join(
        [
            _drain_table(results),
            _bill_table(results),
            _inside_table(results.runtime),
            _goal_table(results),
            _prices_line(results.prices),
        ]
    )


def _drain_table(results: Results) -> str:
    ceiling, window = results.ceiling, results.window
    return table(
        f"Drain rate (window {window.seconds:g} s, backlog {window.backlog}; emulator ceiling "
        f"{ceiling.rate:.1f} tasks/s at {ceiling.setting})",
        ("design", "setting", "tasks/s", "x ceiling", "req/task", "calls per task"),
        [
            (
                run.median.design,
                run.median.setting,
                f"{run.median.rate:.1f}",
                f"{run.fraction_of_ceiling:.2f}",
                f"{run.median.requests_per_task:.3f}",
                ", ".join(f"{op.split('.')[1]} {n:.2f}" for op, n in run.calls_per_task.items()),
            )
            for run in results.measurements
        ],
        right=("tasks/s", "x ceiling", "req/task"),
    )


def _usd_per_million(line: str) -> Callable[[DesignFigures], str]:
    return lambda design: f"{design.usd_per_million_tasks[line]:.3f}"


# The bill table's lines: a label, and a design's figure shown.
BILL_LINES: tuple[tuple[str, Callable[[DesignFigures], str]], ...] = (
    ("best setting", lambda x: x.best),
    ("tasks/s (baseline: as scheduled)", lambda x: f"{x.tasks_per_second:.3g}"),
    ("x emulator ceiling", lambda x: f"{x.fraction_of_ceiling:.3f}"),
    ("requests per task", lambda x: f"{x.requests_per_task:.3f}"),
    ("latency p50 / p95 (ms)", lambda x: f"{x.latency.p50_ms:.0f} / {x.latency.p95_ms:.0f}"),
    *(
        (f"US$/M tasks: {line.replace('_', ' ')}", _usd_per_million(line))
        for line in ("sqs_requests", "lambda_requests", "lambda_duration", "logs", "total")
    ),
    ("  with logs in infrequent access", _usd_per_million("total_logs_infrequent_access")),
    ("log bytes per task (with Lambda's lines)", lambda x: f"{x.usage_per_task.log_bytes:.0f}"),
    (
        "metric series while busy / US$ a month",
        lambda x: f"{x.metric_series_while_busy} / {x.usd_per_month_metrics_while_busy:.2f}",
    ),
    ("  + Scheduler, for tasks due beyond 900 s", _usd_per_million("scheduler_if_due_beyond_900s")),
    ("a periodic task every minute, US$ a month", lambda x: f"{x.usd_per_month_periodic_task:.3f}"),
    ("US$ per month at idle", lambda x: f"{x.usd_per_month_idle['total']:.2f}"),
    ("  of which custom metrics", lambda x: f"{x.usd_per_month_idle['custom_metrics']:.2f}"),
)


def _bill_table(results: Results) -> str:
    designs = results.designs
    return table(
        "Each design at its best: rate, latency and the bill",
        ("", *designs),
        [(label, *(shown(design) for design in designs.values())) for label, shown in BILL_LINES],
        right=tuple(designs),
    )


def _inside_table(runtime: runtime_cost.RuntimeFigures) -> str:
    cold = runtime.cold_start_seconds
    worker, bare = runtime_cost.WORKER.name, runtime_cost.BARE.name
    return table(
        f"Inside the worker (medians of {runtime.repeats} runs each)",
        ("", worker, bare, "ratio", "baseline"),
        [
            (
                "log bytes per successful task",
                f"{runtime.log_bytes_per_task[worker]:.1f}",
                f"{runtime.log_bytes_per_task[bare]:.1f}",
                "",
                "0 (+ Lambda's lines per task)",
            ),
            (
                "CPU µs per no-op task",
                f"{runtime.cpu_us_per_task[worker]:.1f}",
                f"{runtime.cpu_us_per_task[bare]:.1f}",
                f"{runtime.cpu_ratio:.1f}x",
                "",
            ),
            (
                "cold start, import + build (ms)",
                f"{cold[worker] * 1000:.0f}",
                f"{cold[bare] * 1000:.0f}",
                f"{runtime.cold_start_ratio:.2f}x vs import boto3 + client "
                f"({cold[runtime_cost.REFERENCE.name] * 1000:.0f} ms)",
                f"{cold['baseline'] * 1000:.0f}",
            ),
        ],
        right=(worker, bare, "baseline"),
    )


def _goal_table(results: Results) -> str:
    return table(
        "Goals",
        ("goal", "target", "measured", "met"),
        [(goal.goal, goal.target, goal.measured, "yes" if goal.met else "NO") for goal in goals(results)],
    )


def _prices_line(prices: cost_model.Prices) -> str:
    return (
        f"prices ({prices.region}, read {prices.as_of}): SQS US$ {prices.sqs_per_million_requests}/M requests; "
        f"Lambda US$ {prices.lambda_per_million_requests}/M requests + US$ {prices.lambda_arm64_per_gb_second}/GB-s "
        f"(arm64); CloudWatch Logs US$ {prices.logs_standard_per_gb}/GB (standard), "
        f"{prices.logs_infrequent_access_per_gb}/GB (infrequent access); custom metrics US$ "
        f"{prices.custom_metric_per_month}/metric-month; EventBridge scheduled rules free; EventBridge Scheduler "
        f"US$ {prices.scheduler_per_million_invocations}/M invocations (tasks due beyond 900 s, any design). "
        f"Lambda's own lines: {cost_model.PLATFORM_LOG_BYTES_PER_INVOCATION} bytes per invocation (JSON format, "
        "system level INFO: the module's default)."
    )


def chart(results: Results, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    runs = results.measurements
    names = [f"{run.median.design}\n{run.median.setting}" for run in runs]
    colours = {
        CEILING: "#888888",
        SCHEDULED_CONSUMER: "#4c72b0",
        EVENT_SOURCE_MAPPING: "#55a868",
        BASELINE: "#c44e52",
    }
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    colour = [colours[run.median.design] for run in runs]
    left.barh(names, [run.fraction_of_ceiling for run in runs], color=colour)
    left.axvline(0.8, color="black", linestyle=":", linewidth=1)
    left.set_title("Drain rate, x the emulator's ceiling (higher is better)")
    left.invert_yaxis()
    right.barh(names, [run.median.requests_per_task for run in runs], color=colour)
    right.set_title("API requests per task (lower is better)")
    right.invert_yaxis()
    right.set_yticklabels([])
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
