"""The benchmark's results: each design's figures and bill from the measurements, the goals, the tables
and the chart."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import cost_model, metric_series, runtime_cost
from bench.drain import CONSUMER_MEMORY_GB, Measurement, Trickle, Window
from taskqueue_local.infrastructure.statistics import median_by, percentile
from taskqueue_local.infrastructure.tables import table

TASK_NAMES = 1  # the no-op task: metric series per task name are counted for this many
# The scheduled consumer at the module's defaults (consumer_max_concurrency 4, consumer_receivers 1).
DEFAULT_CONSUMER = "consumer 4/1"


def results(
    drained: dict[str, Any], runtime: runtime_cost.RuntimeFigures, window: Window, trickle: Trickle, repeats: int
) -> dict[str, Any]:
    medians = {name: median_by(results, key=lambda m: m.rate) for name, results in drained["measured"].items()}

    def fastest(design: str) -> Measurement:
        return max((m for m in medians.values() if m.design == design), key=lambda m: m.rate)

    ceiling = fastest("emulator ceiling")
    rows = []
    for name, chosen in medians.items():
        rows.append(
            {
                **{k: v for k, v in asdict(chosen).items() if k != "calls"},
                "name": name,
                "calls_per_task": {op: n / max(1, chosen.tasks) for op, n in sorted(chosen.calls.items())},
                "rates": [round(m.rate, 1) for m in drained["measured"][name]],
                "tasks_per_second": chosen.rate,
                "fraction_of_ceiling": chosen.rate / ceiling.rate,
                "requests_per_task": chosen.requests_per_task,
            }
        )
    best = {design: fastest(design) for design in ("scheduled consumer", "event source mapping", "baseline")}
    function_log_bytes = runtime.log_bytes_per_task[runtime_cost.WORKER.name]
    usage = {
        design: cost_model.TaskUsage(
            sqs_requests=m.per_task("sqs."),
            lambda_requests=m.per_task("lambda."),
            gb_seconds=m.gb_seconds_per_task,
            function_log_bytes=0.0 if design == "baseline" else function_log_bytes,
            invocations=m.invocations / max(1, m.tasks),
        )
        for design, m in best.items()
    }
    idle_consumer, idle_baseline = drained["idle"]["consumer"], drained["idle"]["baseline"]
    months = cost_model.MONTH_MINUTES
    worker_series = len(metric_series.worker_series(TASK_NAMES))
    consumer_series = len(metric_series.consumer_series())
    idle_usage = {
        "scheduled consumer": cost_model.IdleUsage(
            runs=months,
            gb_seconds=months * idle_consumer["seconds"] * CONSUMER_MEMORY_GB,
            sqs_requests=months * idle_consumer["sqs_calls"],
            function_log_bytes=months * idle_consumer["log_bytes"],
            metric_series=consumer_series,
        ),
        "event source mapping": cost_model.IdleUsage(sqs_requests=months * cost_model.ESM_IDLE_RECEIVES_PER_MINUTE),
        "baseline": cost_model.IdleUsage(
            runs=months,
            gb_seconds=months * idle_baseline["seconds"] * CONSUMER_MEMORY_GB,
            sqs_requests=months * idle_baseline["sqs_calls"],
        ),
    }
    busy_series = {
        "scheduled consumer": worker_series + consumer_series,
        "event source mapping": worker_series,
        "baseline": 0,
    }
    latency: dict[str, dict[str, Any]] = {
        design: {"p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95), "tasks": len(values)}
        for design, values in drained["latency"].items()
    }
    latency["baseline"] = {"p50_ms": 30_000.0, "p95_ms": 57_000.0, "tasks": 0, "modelled": "one tick a minute"}
    # As designed, the baseline runs one tick a minute: at most 10 tasks a minute, whatever SQS allows.
    shown_rate = {design: 10 / 60 if design == "baseline" else m.rate for design, m in best.items()}
    designs = {
        design: {
            "best": _name(medians, best[design]),
            "tasks_per_second": shown_rate[design],
            "tasks_per_second_measured": best[design].rate,
            "fraction_of_ceiling": shown_rate[design] / ceiling.rate,
            "requests_per_task": best[design].requests_per_task,
            "usage_per_task": asdict(usage[design]),
            "usd_per_million_tasks": cost_model.per_million_tasks(usage[design]),
            "usd_per_month_idle": cost_model.per_month_idle(idle_usage[design]),
            "usd_per_month_periodic_task": cost_model.periodic_task_per_month(usage[design], months),
            "metric_series_while_busy": busy_series[design],
            "usd_per_month_metrics_while_busy": cost_model.metrics_per_month(busy_series[design]),
            "latency": latency[design],
        }
        for design in best
    }
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": sys.version.split()[0], "cpus": os.cpu_count() or 0},
        "method": {
            "window": asdict(window),
            "trickle": asdict(trickle),
            "repeats": repeats,
            "median_of_repeats": True,
            "feed": f"a fresh queue per measurement, kept at {window.backlog} messages sent and not yet done by a "
            "feeder thread (SendMessageBatch of 10, not counted)",
            "counting": "boto3 event hooks: provide-client-params on this process's clients, before-call inside "
            "the function processes",
            "worker": "no-op task, taskqueue.worker from the built zip, run by the local Lambda endpoint in its own process",
        },
        "ceiling": {"tasks_per_second": ceiling.rate, "setting": ceiling.setting},
        "measurements": rows,
        "designs": designs,
        "runtime": runtime.as_dict(),
        "idle_runs": drained["idle"],
        "metric_series": {
            "worker_per_task_names": f"5 + 3 x task names ({worker_series} for {TASK_NAMES})",
            "consumer": consumer_series,
        },
        "prices": cost_model.prices_as_dict(),
    }


def _name(medians: dict[str, Measurement], chosen: Measurement) -> str:
    return next(name for name, m in medians.items() if m is chosen)


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    runtime = result["runtime"]
    consumer = result["designs"]["scheduled consumer"]
    defaults = next(row for row in result["measurements"] if row["name"] == DEFAULT_CONSUMER)
    logs = runtime["log_bytes_per_task"][runtime_cost.WORKER.name]
    return [
        ("drain rate, scheduled consumer at its best / emulator ceiling", ">= 0.8", f"{consumer['fraction_of_ceiling']:.2f}", consumer["fraction_of_ceiling"] >= 0.8),
        ("requests per task, scheduled consumer at the module's defaults", "<= 0.30", f"{defaults['requests_per_task']:.3f}", defaults["requests_per_task"] <= 0.30),
        ("log bytes per successful task (the worker's own)", "<= 60", f"{logs:.1f}", logs <= 60),
        ("worker CPU per no-op task / bare handler", "<= 10x", f"{runtime['cpu_ratio']:.1f}x", runtime["cpu_ratio"] <= 10),
        ("cold start / import boto3 + client", "<= 1.10x", f"{runtime['cold_start_ratio']:.2f}x", runtime["cold_start_ratio"] <= 1.10),
    ]  # fmt: skip


def tables(result: dict[str, Any]) -> str:
    ceiling, window = result["ceiling"], result["method"]["window"]
    drain = table(
        f"Drain rate (window {window['seconds']:g} s, backlog {window['backlog']}; emulator ceiling "
        f"{ceiling['tasks_per_second']:.1f} tasks/s at {ceiling['setting']})",
        ("design", "setting", "tasks/s", "x ceiling", "req/task", "calls per task"),
        [
            (
                row["design"],
                row["setting"],
                f"{row['tasks_per_second']:.1f}",
                f"{row['fraction_of_ceiling']:.2f}",
                f"{row['requests_per_task']:.3f}",
                ", ".join(f"{op.split('.')[1]} {n:.2f}" for op, n in row["calls_per_task"].items()),
            )
            for row in result["measurements"]
        ],
        right=("tasks/s", "x ceiling", "req/task"),
    )
    designs = result["designs"]
    platform_bytes = result["prices"]["platform_log_bytes_per_invocation"]
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("best setting", lambda x: x["best"]),
        ("tasks/s (baseline: as scheduled)", lambda x: f"{x['tasks_per_second']:.3g}"),
        ("x emulator ceiling", lambda x: f"{x['fraction_of_ceiling']:.3f}"),
        ("requests per task", lambda x: f"{x['requests_per_task']:.3f}"),
        ("latency p50 / p95 (ms)", lambda x: f"{x['latency']['p50_ms']:.0f} / {x['latency']['p95_ms']:.0f}"),
        *(
            (f"US$/M tasks: {line.replace('_', ' ')}", functools.partial(_usd_per_million, line))
            for line in ("sqs_requests", "lambda_requests", "lambda_duration", "logs", "total")
        ),
        ("  with logs in infrequent access", functools.partial(_usd_per_million, "total_logs_infrequent_access")),
        (
            "log bytes per task (with Lambda's lines)",
            lambda x: (
                f"{x['usage_per_task']['function_log_bytes'] + x['usage_per_task']['invocations'] * platform_bytes:.0f}"
            ),
        ),
        (
            "metric series while busy / US$ a month",
            lambda x: f"{x['metric_series_while_busy']} / {x['usd_per_month_metrics_while_busy']:.2f}",
        ),
        (
            "  + Scheduler, for tasks due beyond 900 s",
            functools.partial(_usd_per_million, "scheduler_if_due_beyond_900s"),
        ),
        ("a periodic task every minute, US$ a month", lambda x: f"{x['usd_per_month_periodic_task']:.3f}"),
        ("US$ per month at idle", lambda x: f"{x['usd_per_month_idle']['total']:.2f}"),
        ("  of which custom metrics", lambda x: f"{x['usd_per_month_idle']['custom_metrics']:.2f}"),
    ]
    bill = table(
        "Each design at its best: rate, latency and the bill",
        ("", *designs),
        [(label, *(value(design) for design in designs.values())) for label, value in lines],
        right=tuple(designs),
    )
    runtime = result["runtime"]
    cold = runtime["cold_start_seconds"]
    worker, bare = runtime_cost.WORKER.name, runtime_cost.BARE.name
    inside = table(
        f"Inside the worker (medians of {runtime['repeats']} runs each)",
        ("", worker, bare, "ratio", "baseline"),
        [
            (
                "log bytes per successful task",
                f"{runtime['log_bytes_per_task'][worker]:.1f}",
                f"{runtime['log_bytes_per_task'][bare]:.1f}",
                "",
                "0 (+ Lambda's lines per task)",
            ),
            (
                "CPU µs per no-op task",
                f"{runtime['cpu_us_per_task'][worker]:.1f}",
                f"{runtime['cpu_us_per_task'][bare]:.1f}",
                f"{runtime['cpu_ratio']:.1f}x",
                "",
            ),
            (
                "cold start, import + build (ms)",
                f"{cold[worker] * 1000:.0f}",
                f"{cold[bare] * 1000:.0f}",
                f"{runtime['cold_start_ratio']:.2f}x vs import boto3 + client "
                f"({cold[runtime_cost.REFERENCE.name] * 1000:.0f} ms)",
                f"{cold['baseline'] * 1000:.0f}",
            ),
        ],
        right=(worker, bare, "baseline"),
    )
    goal_table = table(
        "Goals",
        ("goal", "target", "measured", "met"),
        [(goal, target, measured, "yes" if met else "NO") for goal, target, measured, met in goals(result)],
    )
    prices = result["prices"]
    prices_line = (
        f"prices ({prices['region']}, read {prices['as_of']}): SQS US$ {prices['sqs_per_million_requests']}/M requests; "
        f"Lambda US$ {prices['lambda_per_million_requests']}/M requests + US$ {prices['lambda_arm64_per_gb_second']}/GB-s "
        f"(arm64); CloudWatch Logs US$ {prices['logs_standard_per_gb']}/GB (standard), "
        f"{prices['logs_infrequent_access_per_gb']}/GB (infrequent access); custom metrics US$ "
        f"{prices['custom_metric_per_month']}/metric-month; EventBridge scheduled rules free; EventBridge Scheduler "
        f"US$ {prices['scheduler_per_million_invocations']}/M invocations (tasks due beyond 900 s, any design). "
        f"Lambda's own lines: {platform_bytes} bytes per invocation (JSON format, system level INFO: the module's "
        "default)."
    )
    return "\n\n".join([drain, bill, inside, goal_table, prices_line])


def _usd_per_million(line: str, design: dict[str, Any]) -> str:
    return f"{design['usd_per_million_tasks'][line]:.3f}"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = result["measurements"]
    names = [f"{r['design']}\n{r['setting']}" for r in rows]
    colours = {
        "emulator ceiling": "#888888",
        "scheduled consumer": "#4c72b0",
        "event source mapping": "#55a868",
        "baseline": "#c44e52",
    }
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    left.barh(names, [r["fraction_of_ceiling"] for r in rows], color=[colours[r["design"]] for r in rows])
    left.axvline(0.8, color="black", linestyle=":", linewidth=1)
    left.set_title("Drain rate, x the emulator's ceiling (higher is better)")
    left.invert_yaxis()
    right.barh(names, [r["requests_per_task"] for r in rows], color=[colours[r["design"]] for r in rows])
    right.set_title("API requests per task (lower is better)")
    right.invert_yaxis()
    right.set_yticklabels([])
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
