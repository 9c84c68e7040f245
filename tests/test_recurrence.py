"""When the local stack runs an EventBridge Scheduler expression: at(), rate() and cron() in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskqueue_local.infrastructure.recurrence import Cron, next_occurrence, rate_seconds, zone

ANCHOR = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_at_runs_once_in_its_time_zone():
    expression = "at(2030-07-01T09:00:00)"
    assert next_occurrence(expression, "Europe/Berlin", ANCHOR, ANCHOR) == utc(2030, 7, 1, 7, 0)
    assert next_occurrence(expression, "Europe/Berlin", utc(2030, 7, 1, 7, 0), ANCHOR) is None


@pytest.mark.parametrize(
    ("expression", "seconds"), [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200)]
)
def test_rate_runs_every_period_from_its_start(expression, seconds):
    assert rate_seconds(expression) == seconds
    first = next_occurrence(expression, None, ANCHOR - timedelta(microseconds=1), ANCHOR)
    assert first == ANCHOR + timedelta(seconds=seconds)  # one period after it starts
    assert next_occurrence(expression, None, first, ANCHOR) == ANCHOR + timedelta(seconds=2 * seconds)
    assert next_occurrence(expression, None, ANCHOR + timedelta(seconds=seconds * 2.5), ANCHOR) == ANCHOR + timedelta(
        seconds=seconds * 3
    )


def test_cron_follows_its_time_zone_across_daylight_saving():
    nightly = Cron.parse("cron(0 3 * * ? *)")
    berlin = zone("Europe/Berlin")
    assert nightly.next_after(utc(2030, 1, 10, 0, 0), berlin) == utc(2030, 1, 10, 2, 0)  # CET, UTC+1
    assert nightly.next_after(utc(2030, 7, 10, 0, 0), berlin) == utc(2030, 7, 10, 1, 0)  # CEST, UTC+2


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(*/15 * * * ? *)", utc(2030, 1, 1, 12, 1), utc(2030, 1, 1, 12, 15)),
        ("cron(0 9 ? * MON-FRI *)", utc(2030, 1, 4, 10, 0), utc(2030, 1, 7, 9, 0)),  # Friday -> Monday
        ("cron(0 0 L * ? *)", utc(2030, 2, 1, 0, 0), utc(2030, 2, 28, 0, 0)),
        ("cron(0 0 15W * ? *)", utc(2030, 6, 1, 0, 0), utc(2030, 6, 14, 0, 0)),  # the 15th is a Saturday
        ("cron(0 0 ? * 2#1 *)", utc(2030, 1, 1, 0, 0), utc(2030, 1, 7, 0, 0)),  # first Monday
        ("cron(0 0 ? * 6L *)", utc(2030, 1, 1, 0, 0), utc(2030, 1, 25, 0, 0)),  # last Friday
        ("cron(30 8 1 JAN,JUL ? 2031)", utc(2030, 1, 1, 0, 0), utc(2031, 1, 1, 8, 30)),
        ("cron(0 12 29 2 ? *)", utc(2030, 3, 1, 0, 0), utc(2032, 2, 29, 12, 0)),
    ],
)
def test_cron_fields(expression, after, expected):
    assert Cron.parse(expression).next_after(after, zone("UTC")) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 3 * * *)", "is not cron(minutes hours day-of-month month day-of-week year)"),
        ("cron(0 3 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(61 3 * * ? *)", "cron minutes field: '61' is not 0-59"),
        ("cron(0 3 ? * FUNDAY *)", "cron day-of-week field: 'FUNDAY' is not 1-7"),
        ("cron(0/0 3 * * ? *)", "step '0' must be a positive number"),
    ],
)
def test_bad_cron_expressions_are_refused_with_the_field(expression, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        Cron.parse(expression)


def test_a_bad_time_zone_is_refused():
    with pytest.raises(ValueError, match="time zone 'Mars/Olympus' is not an IANA time zone name"):
        zone("Mars/Olympus")


def test_a_cron_that_never_comes_due_again_has_no_next_run():
    assert next_occurrence("cron(0 0 1 1 ? 2029)", "UTC", ANCHOR, ANCHOR) is None
