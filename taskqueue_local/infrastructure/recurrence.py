"""When an EventBridge Scheduler expression comes due: ``at()``, ``rate()`` and ``cron()``, in a time zone.

``cron(minutes hours day-of-month month day-of-week year)`` follows the Scheduler's rules: names for
months (JAN-DEC) and days (SUN-SAT, 1 = Sunday), ``*``, ``,``, ``-``, ``/``, ``?`` (one of the two day
fields must be ``?``), ``L`` (the month's last day; ``5L``: its last Thursday), ``W`` (``15W``: the
weekday nearest the 15th) and ``#`` (``2#1``: the first Monday). Times are local to the schedule's time
zone; a local time that a daylight-saving change skips comes due at the same wall time after the change.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskqueue.schedules import parse_at

_RATE = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>minutes?|hours?|days?)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
_MONTHS = {name: number for number, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name.upper(): number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
_SEARCH_DAYS = 366 * 8  # a cron's next occurrence is searched this far ahead (leap days, Feb 29 on a Monday...)


def zone(timezone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {timezone!r} is not an IANA time zone name") from None


def rate_seconds(expression: str) -> int | None:
    """Seconds between runs of a ``rate(...)`` expression; None for another kind."""
    match = _RATE.match(expression.strip())
    return None if match is None else int(match["value"]) * _UNIT_SECONDS[match["unit"].rstrip("s")]


def _numbers(text: str, names: dict[str, int], low: int, high: int, field: str) -> frozenset[int]:
    """One field's values: ``*``, lists, ranges and steps, numbers or names."""

    def number(token: str) -> int:
        value = names.get(token.upper()) if not token.isdigit() else int(token)
        if value is None or not low <= value <= high:
            raise ValueError(f"cron {field} field: {token!r} is not {low}-{high}")
        return value

    found: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = number(start), number(end)
        else:
            first = number(span)
            last = high if step else first
        every = int(step) if step.isdigit() and int(step) > 0 else (1 if not step else 0)
        if every == 0:
            raise ValueError(f"cron {field} field: step {step!r} must be a positive number")
        found.update(range(first, last + 1, every))
    return frozenset(found)


def _nearest_weekday(day: int, year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = date(year, month, day).weekday()  # Monday = 0
    if weekday == 5:  # Saturday: the Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, unless that leaves the month
        return day + 1 if day < last else day - 2
    return day


def _day_of_month_rule(text: str) -> Callable[[date], bool]:
    if text == "L":
        return lambda day: day.day == calendar.monthrange(day.year, day.month)[1]
    if re.fullmatch(r"\d{1,2}W", text):
        wanted = int(text[:-1])
        if not 1 <= wanted <= 31:
            raise ValueError(f"cron day-of-month field: {text!r} is not 1-31")
        return lambda day: day.day == _nearest_weekday(wanted, day.year, day.month)
    days = _numbers(text, {}, 1, 31, "day-of-month")
    return lambda day: day.day in days


def _scheduler_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # Sunday = 1 ... Saturday = 7


def _day_of_week_rule(text: str) -> Callable[[date], bool]:
    if match := re.fullmatch(r"(\w+)L", text):
        weekday = _numbers(match[1], _DAYS, 1, 7, "day-of-week")
        last = calendar.monthrange
        return lambda day: _scheduler_weekday(day) in weekday and day.day + 7 > last(day.year, day.month)[1]
    if match := re.fullmatch(r"(\w+)#([1-5])", text):
        weekday, nth = _numbers(match[1], _DAYS, 1, 7, "day-of-week"), int(match[2])
        return lambda day: _scheduler_weekday(day) in weekday and (day.day - 1) // 7 + 1 == nth
    days = _numbers(text, _DAYS, 1, 7, "day-of-week")
    return lambda day: _scheduler_weekday(day) in days


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day: Callable[[date], bool]

    @classmethod
    def parse(cls, expression: str) -> Cron:
        match = _CRON.match(expression.strip())
        fields = match["fields"].split() if match else []
        if len(fields) != 6:
            raise ValueError(f"{expression!r} is not cron(minutes hours day-of-month month day-of-week year)")
        minutes, hours, day_of_month, month, day_of_week, year = fields
        if (day_of_month == "?") == (day_of_week == "?"):
            raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
        day = _day_of_week_rule(day_of_week) if day_of_month == "?" else _day_of_month_rule(day_of_month)
        return cls(
            minutes=_numbers(minutes, {}, 0, 59, "minutes"),
            hours=_numbers(hours, {}, 0, 23, "hours"),
            months=_numbers(month, {k.upper(): v for k, v in _MONTHS.items()}, 1, 12, "month"),
            years=_numbers(year, {}, 1970, 2199, "year"),
            day=day,
        )

    def next_after(self, moment: datetime, timezone: ZoneInfo) -> datetime | None:
        """The first occurrence strictly after ``moment``, in UTC; None if there is none left."""
        local = moment.astimezone(timezone)
        first_day = local.date()
        for offset in range(_SEARCH_DAYS):
            day = first_day + timedelta(days=offset)
            if day.year not in self.years or day.month not in self.months or not self.day(day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    candidate = datetime.combine(day, time(hour, minute), timezone).astimezone(UTC)
                    if candidate > moment:
                        return candidate
        return None


def next_occurrence(expression: str, timezone: str | None, after: datetime, anchor: datetime) -> datetime | None:
    """The first time ``expression`` comes due strictly after ``after`` (UTC); None when it never will again.

    ``anchor`` is when a rate() schedule started: it comes due every period from then.
    """
    due = parse_at(expression, timezone)
    if due is not None:
        return due if due > after else None
    period = rate_seconds(expression)
    if period is not None:
        elapsed = max(0.0, (after - anchor).total_seconds())
        return anchor + timedelta(seconds=(int(elapsed // period) + 1) * period)
    return Cron.parse(expression).next_after(after, zone(timezone))
