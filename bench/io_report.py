"""The I/O-bound workload's figures, goals and table (issue 23), from :mod:`bench.io_bound`'s measurements."""

from __future__ import annotations

from typing import Any

from bench import cost_model
from bench.io_bound import CONCURRENT, CONSUMER, MAPPING, NOOP, POWERTOOLS, SEQUENTIAL, TRIGGERS, IoMeasurement
from taskqueue_local.infrastructure.statistics import percentile
from taskqueue_local.infrastructure.tables import table

SPEEDUP_GOAL = 8.0  # concurrent / sequential tasks/s per unit of concurrency, batch 10 behind the consumer
GB_SECONDS_GOAL = 0.15  # concurrent / sequential billed GB-s per task
POWERTOOLS_GOAL = 0.95  # ours concurrent / Powertools tasks/s
NOOP_CPU_GOAL = 1.05  # CPU per no-op task, this run / the previous results.json
IO_COLUMNS = (
    "tasks/s per unit",
    "tasks per worker-s",
    "µGB-s per task",
    "US$/M tasks",
    "p50 / p95 ms",
)


def results(measurements: list[IoMeasurement]) -> list[dict[str, Any]]:
    """Each measurement's figures (or why it was not measured), with its bill per million tasks."""
    rows: list[dict[str, Any]] = []
    for m in measurements:
        if m.not_measured is not None:
            rows.append({"row": m.row, "trigger": m.trigger, "not_measured": m.not_measured})
            continue
        usage = cost_model.TaskUsage(
            sqs_requests=m.per_task("sqs."),
            lambda_requests=m.per_task("lambda."),
            gb_seconds=m.gb_seconds_per_task,
            function_log_bytes=0.0,
            invocations=m.invocations / max(1, m.tasks),
        )
        rows.append(
            {
                "row": m.row,
                "trigger": m.trigger,
                "concurrency": m.concurrency,
                "tasks": m.tasks,
                "seconds": m.seconds,
                "tasks_per_second_per_unit": m.tasks_per_second_per_unit,
                "tasks_per_worker_second": m.tasks_per_worker_second,
                "gb_seconds_per_task": m.gb_seconds_per_task,
                "invocations": m.invocations,
                "calls": m.calls,
                "usd_per_million_tasks": cost_model.per_million_tasks(usage)["total"],
                "latency_p50_ms": percentile(m.latencies_ms, 0.5),
                "latency_p95_ms": percentile(m.latencies_ms, 0.95),
            }
        )
    return rows


def _find(rows: list[dict[str, Any]], row: str, trigger: str) -> dict[str, Any] | None:
    found = next((r for r in rows if r["row"] == row and r["trigger"] == trigger), None)
    return None if found is None or "not_measured" in found else found


def goals(
    rows: list[dict[str, Any]], cpu_now: float | None, cpu_before: float | None
) -> list[tuple[str, str, str, bool | None]]:
    """(goal, target, measured, met); met None: not measured."""
    sequential, concurrent = _find(rows, SEQUENTIAL.name, CONSUMER), _find(rows, CONCURRENT.name, CONSUMER)
    ours, anchor = _find(rows, CONCURRENT.name, MAPPING), _find(rows, POWERTOOLS.name, MAPPING)
    found: list[tuple[str, str, str, bool | None]] = []
    if sequential and concurrent:
        configured = concurrent["tasks_per_second_per_unit"] / sequential["tasks_per_second_per_unit"]
        in_use = concurrent["tasks_per_worker_second"] / sequential["tasks_per_worker_second"]
        gb = concurrent["gb_seconds_per_task"] / sequential["gb_seconds_per_task"]
        found += [
            ("I/O-bound, batch 10: tasks/s per unit in use, concurrent / sequential", f">= {SPEEDUP_GOAL:g}x", f"{in_use:.1f}x", in_use >= SPEEDUP_GOAL),
            ("  the same per configured unit (wall clock, with the emulator's time)", f">= {SPEEDUP_GOAL:g}x", f"{configured:.1f}x", configured >= SPEEDUP_GOAL),
            ("I/O-bound, batch 10: billed GB-s per task, concurrent / sequential", f"<= {GB_SECONDS_GOAL}x", f"{gb:.3f}x", gb <= GB_SECONDS_GOAL),
        ]  # fmt: skip
    else:
        found += [("I/O-bound, batch 10: concurrent against sequential", f">= {SPEEDUP_GOAL:g}x, <= {GB_SECONDS_GOAL}x", "not measured", None)]  # fmt: skip
    if ours and anchor:
        in_use = ours["tasks_per_worker_second"] / anchor["tasks_per_worker_second"]
        configured = ours["tasks_per_second_per_unit"] / anchor["tasks_per_second_per_unit"]
        found += [
            ("I/O-bound, batch 100 (mapping): ours / Powertools, per unit in use", f">= {POWERTOOLS_GOAL}x", f"{in_use:.2f}x", in_use >= POWERTOOLS_GOAL),
            ("  the same per configured unit (wall clock)", f">= {POWERTOOLS_GOAL}x", f"{configured:.2f}x", configured >= POWERTOOLS_GOAL),
        ]  # fmt: skip
    else:
        found.append(("I/O-bound, batch 100 (mapping): ours / Powertools' async processor", f">= {POWERTOOLS_GOAL}x", "not measured", None))  # fmt: skip
    if cpu_now is not None and cpu_before is not None:
        ratio = cpu_now / cpu_before
        found.append(
            (
                "no-op: worker CPU per task / the previous results.json",
                f"<= {NOOP_CPU_GOAL}x",
                f"{ratio:.2f}x ({cpu_now:.1f} / {cpu_before:.1f} µs)",
                ratio <= NOOP_CPU_GOAL,
            )
        )
    else:
        found.append(
            (
                "no-op: worker CPU per task / the previous results.json",
                f"<= {NOOP_CPU_GOAL}x",
                "no previous results.json",
                None,
            )
        )
    return found


def tables(rows: list[dict[str, Any]], goal_lines: list[tuple[str, str, str, bool | None]]) -> str:
    drawn = []
    for trigger in TRIGGERS:
        lines = []
        reasons = []
        for r in (r for r in rows if r["trigger"] == trigger):
            if "not_measured" in r:
                lines.append((r["row"], *("-" for _ in IO_COLUMNS)))
                reasons.append(f"  {r['row']}: {r['not_measured']}")
                continue
            lines.append(
                (
                    r["row"],
                    f"{r['tasks_per_second_per_unit']:.1f}",
                    f"{r['tasks_per_worker_second']:.1f}",
                    f"{r['gb_seconds_per_task'] * 1e6:.0f}",
                    f"{r['usd_per_million_tasks']:.2f}",
                    _latency(r),
                )
            )
        concurrency = next((r["concurrency"] for r in rows if "concurrency" in r), None)
        drawn.append(
            table(
                f"I/O-bound tasks (100 ms wait) behind the {trigger}"
                + (f", worker concurrency {concurrency}" if concurrency else ""),
                ("", *IO_COLUMNS),
                lines,
                right=IO_COLUMNS,
            )
            + "".join(f"\n{reason}" for reason in reasons)
        )
    drawn.append(
        table(
            "Goals (issue 23, concurrency in the worker)",
            ("goal", "target", "measured", "met"),
            [
                (goal, target, measured, "-" if met is None else "yes" if met else "NO")
                for goal, target, measured, met in goal_lines
            ],
        )
    )
    note = (
        f"Each row drains a backlog enqueued at once ({NOOP.name}: the same path, no wait). Tasks/s per unit: per "
        "unit of configured worker concurrency, wall clock; tasks per worker-s: per second of worker run time, the "
        "concurrency in use. Latency: enqueue to settled over that drain. US$/M tasks: SQS and Lambda requests and "
        "billed duration (cost model), logs left out."
    )
    return "\n\n".join([*drawn, note])


def _latency(row: dict[str, Any]) -> str:
    if row["latency_p50_ms"] is None:
        return "-"
    return f"{row['latency_p50_ms']:.0f} / {row['latency_p95_ms']:.0f}"
