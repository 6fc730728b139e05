"""Business hours: an inbox's weekly schedule in its time zone, public holidays, closures.

The schedule lives in the inbox's settings:

    "business_hours": {
        "schedule": {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], ..., "sun": []},
        "holidays": "IT",                                   # a country code, or null
        "closures": [{"from": "2026-12-24", "to": "2026-12-26"}]  # local dates, inclusive
    }

An inbox without `business_hours` is open around the clock. Every function takes the
time it reasons about, so tests drive the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")
_HORIZON_DAYS = 400  # how far ahead the next opening is looked for


class InvalidSchedule(ValueError):
    pass


def _parse_time(raw: Any) -> time | None:
    """'HH:MM'; '24:00' is the end of the day (None)."""
    if not isinstance(raw, str) or not _HHMM.fullmatch(raw):
        raise InvalidSchedule(f"times are 'HH:MM' (00:00 to 24:00), got {raw!r}")
    if raw == "24:00":
        return None
    hours, minutes = raw.split(":")
    return time(int(hours), int(minutes))


@lru_cache(maxsize=64)
def _country_holidays(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holiday_calendars.country_holidays(country, years=year).keys())
    except NotImplementedError:
        raise InvalidSchedule(f"no holiday calendar for country {country!r}") from None


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    weekly: dict[int, list[tuple[time, time | None]]] = field(default_factory=dict)
    country: str | None = None
    closures: tuple[tuple[date, date], ...] = ()
    always_open: bool = False

    @classmethod
    def parse(cls, timezone: str, raw: dict[str, Any] | None) -> Schedule:
        zone = ZoneInfo(timezone or "Europe/Rome")
        if not raw:
            return cls(zone, always_open=True)
        weekly: dict[int, list[tuple[time, time | None]]] = {}
        for n, day in enumerate(DAYS):
            spans = []
            for span in (raw.get("schedule") or {}).get(day, []):
                if not isinstance(span, list | tuple) or len(span) != 2:
                    raise InvalidSchedule(f"{day}: each span is [from, to], got {span!r}")
                start, end = _parse_time(span[0]), _parse_time(span[1])
                if start is None or (end is not None and end <= start):
                    raise InvalidSchedule(f"{day}: {span[0]}-{span[1]} ends before it starts")
                spans.append((start, end))
            weekly[n] = sorted(spans)
        closures = []
        for c in raw.get("closures") or []:
            try:
                closures.append((date.fromisoformat(c["from"]), date.fromisoformat(c["to"])))
            except (KeyError, TypeError, ValueError):
                raise InvalidSchedule(f"closures are {{from, to}} ISO dates, got {c!r}") from None
        country = raw.get("holidays")
        if country:
            _country_holidays(str(country), 2026)  # fail early on an unknown country
        return cls(zone, weekly, str(country) if country else None, tuple(closures))

    def closed_on(self, day: date) -> bool:
        if any(start <= day <= end for start, end in self.closures):
            return True
        return self.country is not None and day in _country_holidays(self.country, day.year)

    def spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of a local calendar day, as aware datetimes."""
        if self.always_open:
            start = datetime.combine(day, time(0), self.zone)
            return [(start, datetime.combine(day + timedelta(days=1), time(0), self.zone))]
        if self.closed_on(day):
            return []
        out = []
        for opens, end in self.weekly.get(day.weekday(), []):
            s = datetime.combine(day, opens, self.zone)
            e = (
                datetime.combine(day, end, self.zone)
                if end is not None
                else datetime.combine(day + timedelta(days=1), time(0), self.zone)
            )
            out.append((s, e))
        return out

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        return any(s <= local < e for s, e in self.spans_on(local.date()))

    def next_open(self, at: datetime) -> datetime | None:
        """`at` itself when open, else the start of the next open span (None: never)."""
        local = at.astimezone(self.zone)
        for offset in range(_HORIZON_DAYS):
            for s, e in self.spans_on(local.date() + timedelta(days=offset)):
                if s <= local < e:
                    return at
                if s > local:
                    return s.astimezone(UTC)
        return None

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Open time between two instants (SLA clocks run only while the inbox is open)."""
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            for s, e in self.spans_on(day):
                lo, hi = max(s, start), min(e, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime | None:
        """The instant when `seconds` of open time have passed since `start`."""
        remaining = seconds
        day = start.astimezone(self.zone).date()
        for _ in range(_HORIZON_DAYS):
            for s, e in self.spans_on(day):
                lo = max(s, start)
                if e <= lo:
                    continue
                span = (e - lo).total_seconds()
                if span >= remaining:
                    return (lo + timedelta(seconds=remaining)).astimezone(UTC)
                remaining -= span
            day += timedelta(days=1)
        return None


def schedule_of(timezone: str, settings: dict[str, Any] | None) -> Schedule:
    return Schedule.parse(timezone, (settings or {}).get("business_hours"))


_IT_DAYS = ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica")
_IT_MONTHS = ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio",
              "agosto", "settembre", "ottobre", "novembre", "dicembre")  # fmt: skip


def describe(when: datetime, zone: ZoneInfo, language: str) -> str:
    """'lunedì 24 novembre alle 09:00' / 'Monday 24 November at 09:00', in the inbox's zone."""
    local = when.astimezone(zone)
    if language == "it":
        day, month = _IT_DAYS[local.weekday()], _IT_MONTHS[local.month - 1]
        return f"{day} {local.day} {month} alle {local:%H:%M}"
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"
