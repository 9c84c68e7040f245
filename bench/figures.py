"""The benchmark's figures, from its measurements: each run's median repeat, each design at its best with its
latency and bill, and the record written to ``bench/results.json``. Shown by :mod:`bench.report`."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import cost_model, metric_series, runtime_cost
from bench.drain import CONSUMER_MEMORY_GB, Measurement, Trickle, Window
from taskqueue_local.infrastructure.statistics import median_by, percentile

TASK_NAMES = 1  # the no-op task: metric series per task name are counted for this many
CEILING = "emulator ceiling"
SCHEDULED_CONSUMER = "scheduled consumer"
EVENT_SOURCE_MAPPING = "event source mapping"
BASELINE = "baseline"
DESIGNS = (SCHEDULED_CONSUMER, EVENT_SOURCE_MAPPING, BASELINE)
# As designed, the baseline runs one tick a minute: at most 10 tasks a minute, whatever SQS allows.
BASELINE_TASKS_PER_SECOND = 10 / 60


@dataclass(frozen=True)
class IdleRun:
    """One scheduled run on an empty queue: its seconds, its SQS calls and the log bytes it wrote."""

    seconds: float
    sqs_calls: float
    log_bytes: float


@dataclass(frozen=True)
class Drained:
    """What the drain measurements gave: every repeat of each named run (in the order they ran), the trickle's
    latencies in ms by design, and one idle run of the scheduled consumer and one of the baseline."""

    measured: dict[str, list[Measurement]]
    latency: dict[str, list[float]]
    idle_consumer: IdleRun
    idle_baseline: IdleRun


@dataclass(frozen=True)
class MeasuredRun:
    """A named run (a design at one setting): its median repeat by rate, and every repeat's rate."""

    name: str
    median: Measurement
    rates: list[float]
    fraction_of_ceiling: float

    @property
    def calls_per_task(self) -> dict[str, float]:
        return {op: n / max(1, self.median.tasks) for op, n in sorted(self.median.calls.items())}

    def as_json(self) -> dict[str, Any]:
        return {
            **{key: value for key, value in asdict(self.median).items() if key != "calls"},
            "name": self.name,
            "calls_per_task": self.calls_per_task,
            "rates": self.rates,
            "tasks_per_second": self.median.rate,
            "fraction_of_ceiling": self.fraction_of_ceiling,
            "requests_per_task": self.median.requests_per_task,
        }


@dataclass(frozen=True)
class Latency:
    """From sending a task to its end, in ms; ``modelled`` says how, when it was not measured."""

    p50_ms: float | None
    p95_ms: float | None
    tasks: int
    modelled: str | None = None

    @classmethod
    def measured(cls, values: list[float]) -> Latency:
        return cls(percentile(values, 0.5), percentile(values, 0.95), len(values))

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "tasks": self.tasks}
        if self.modelled is not None:
            shown["modelled"] = self.modelled
        return shown


BASELINE_LATENCY = Latency(p50_ms=30_000.0, p95_ms=57_000.0, tasks=0, modelled="one tick a minute")


@dataclass(frozen=True)
class DesignFigures:
    """A design at its best (its fastest run): rate, requests, what a task uses and costs, latency."""

    best: str  # the name of its fastest run
    tasks_per_second: float  # as shown: the baseline's as it is scheduled, not as fast as it can go
    tasks_per_second_measured: float
    fraction_of_ceiling: float
    requests_per_task: float
    usage_per_task: cost_model.TaskUsage
    usd_per_million_tasks: dict[str, float]
    usd_per_month_idle: dict[str, float]
    usd_per_month_periodic_task: float
    metric_series_while_busy: int
    usd_per_month_metrics_while_busy: float
    latency: Latency

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "latency": self.latency.as_json()}


@dataclass(frozen=True)
class Results:
    """One benchmark run: how it measured, what it measured, and each design's figures."""

    window: Window
    trickle: Trickle
    repeats: int
    ceiling: Measurement
    measurements: list[MeasuredRun]
    designs: dict[str, DesignFigures]
    runtime: runtime_cost.RuntimeFigures
    idle_consumer: IdleRun
    idle_baseline: IdleRun
    worker_series: int
    consumer_series: int  # a busy month's; an idle month has none (see _idle_usage)
    prices: cost_model.Prices = cost_model.PRICES
    generated: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    python: str = field(default_factory=lambda: sys.version.split()[0])
    cpus: int = field(default_factory=lambda: os.cpu_count() or 0)
    seconds: float | None = None  # the whole run's, known once it is over

    def measurement(self, name: str) -> MeasuredRun:
        return next(run for run in self.measurements if run.name == name)

    def as_json(self) -> dict[str, Any]:
        """What ``bench/results.json`` holds."""
        shown: dict[str, Any] = {
            "generated": self.generated,
            "machine": {"python": self.python, "cpus": self.cpus},
            "method": self._method(),
            "ceiling": {"tasks_per_second": self.ceiling.rate, "setting": self.ceiling.setting},
            "measurements": [run.as_json() for run in self.measurements],
            "designs": {design: figures.as_json() for design, figures in self.designs.items()},
            "runtime": self.runtime.as_dict(),
            "idle_runs": {"consumer": asdict(self.idle_consumer), "baseline": asdict(self.idle_baseline)},
            "metric_series": {
                "worker_per_task_names": f"5 + 3 x task names ({self.worker_series} for {TASK_NAMES})",
                "consumer": self.consumer_series,
            },
            "prices": cost_model.prices_as_dict(self.prices),
        }
        if self.seconds is not None:
            shown["seconds"] = self.seconds
        return shown

    def _method(self) -> dict[str, Any]:
        return {
            "window": asdict(self.window),
            "trickle": asdict(self.trickle),
            "repeats": self.repeats,
            "median_of_repeats": True,
            "feed": f"a fresh queue per measurement, kept at {self.window.backlog} messages sent and not yet done "
            "by a feeder thread (SendMessageBatch of 10, not counted)",
            "counting": "boto3 event hooks: provide-client-params on this process's clients, before-call inside "
            "the function processes",
            "worker": "no-op task, taskqueue.worker from the built zip, run by the local Lambda endpoint in its own process",
        }


def figures(
    drained: Drained,
    runtime: runtime_cost.RuntimeFigures,
    window: Window,
    trickle: Trickle,
    repeats: int,
    prices: cost_model.Prices = cost_model.PRICES,
) -> Results:
    medians = {name: median_by(runs, key=lambda m: m.rate) for name, runs in drained.measured.items()}
    _, ceiling = _fastest(medians, CEILING)
    measurements = [
        MeasuredRun(name, median, [round(m.rate, 1) for m in drained.measured[name]], median.rate / ceiling.rate)
        for name, median in medians.items()
    ]
    worker_series = len(metric_series.worker_series(TASK_NAMES))
    consumer_series = len(metric_series.busy_consumer_series())
    consumer_series_idle = len(metric_series.idle_consumer_series())
    idle = _idle_usage(drained, consumer_series_idle)
    busy_series = {
        SCHEDULED_CONSUMER: worker_series + consumer_series,
        EVENT_SOURCE_MAPPING: worker_series,
        BASELINE: 0,
    }
    function_log_bytes = runtime.log_bytes_per_task[runtime_cost.WORKER.name]
    fastest = {design: _fastest(medians, design) for design in DESIGNS}
    designs = {
        design: _design_figures(
            design,
            name,
            best,
            ceiling,
            latency=BASELINE_LATENCY if design == BASELINE else Latency.measured(drained.latency[design]),
            usage=_task_usage(best, 0.0 if design == BASELINE else function_log_bytes),
            idle=idle[design],
            series=busy_series[design],
            prices=prices,
        )
        for design, (name, best) in fastest.items()
    }
    return Results(
        window=window,
        trickle=trickle,
        repeats=repeats,
        ceiling=ceiling,
        measurements=measurements,
        designs=designs,
        runtime=runtime,
        idle_consumer=drained.idle_consumer,
        idle_baseline=drained.idle_baseline,
        worker_series=worker_series,
        consumer_series=consumer_series,
        prices=prices,
    )


def _design_figures(
    design: str,
    name: str,
    best: Measurement,
    ceiling: Measurement,
    latency: Latency,
    usage: cost_model.TaskUsage,
    idle: cost_model.IdleUsage,
    series: int,
    prices: cost_model.Prices,
) -> DesignFigures:
    shown_rate = BASELINE_TASKS_PER_SECOND if design == BASELINE else best.rate
    return DesignFigures(
        best=name,
        tasks_per_second=shown_rate,
        tasks_per_second_measured=best.rate,
        fraction_of_ceiling=shown_rate / ceiling.rate,
        requests_per_task=best.requests_per_task,
        usage_per_task=usage,
        usd_per_million_tasks=cost_model.per_million_tasks(usage, prices),
        usd_per_month_idle=cost_model.per_month_idle(idle, prices),
        usd_per_month_periodic_task=cost_model.periodic_task_per_month(usage, cost_model.MONTH_MINUTES, prices),
        metric_series_while_busy=series,
        usd_per_month_metrics_while_busy=cost_model.metrics_per_month(series, prices),
        latency=latency,
    )


def _fastest(medians: dict[str, Measurement], design: str) -> tuple[str, Measurement]:
    """The design's fastest run (the first of equals), by name."""
    return max(((name, m) for name, m in medians.items() if m.design == design), key=lambda item: item[1].rate)


def _task_usage(measurement: Measurement, function_log_bytes: float) -> cost_model.TaskUsage:
    return cost_model.TaskUsage(
        sqs_requests=measurement.per_task("sqs."),
        lambda_requests=measurement.per_task("lambda."),
        gb_seconds=measurement.gb_seconds_per_task,
        function_log_bytes=function_log_bytes,
        invocations=measurement.invocations / max(1, measurement.tasks),
    )


def _idle_usage(drained: Drained, consumer_series_idle: int) -> dict[str, cost_model.IdleUsage]:
    """A month with no task, by design: a run a minute (the consumer's, the baseline's tick) as measured once;
    an event source mapping's idle polling as AWS's pollers do it (``cost_model``)."""
    months = cost_model.MONTH_MINUTES
    consumer, baseline = drained.idle_consumer, drained.idle_baseline
    return {
        SCHEDULED_CONSUMER: cost_model.IdleUsage(
            runs=months,
            gb_seconds=months * consumer.seconds * CONSUMER_MEMORY_GB,
            sqs_requests=months * consumer.sqs_calls,
            function_log_bytes=months * consumer.log_bytes,
            metric_series=consumer_series_idle,
        ),
        EVENT_SOURCE_MAPPING: cost_model.IdleUsage(sqs_requests=months * cost_model.ESM_IDLE_RECEIVES_PER_MINUTE),
        BASELINE: cost_model.IdleUsage(
            runs=months,
            gb_seconds=months * baseline.seconds * CONSUMER_MEMORY_GB,
            sqs_requests=months * baseline.sqs_calls,
        ),
    }
