"""Business hours in the inbox's zone, with Italian holidays, closures and DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from inbox.hours import InvalidSchedule, Schedule, describe

ROME = ZoneInfo("Europe/Rome")
WEEK = {
    "schedule": {
        **{
            d: [["09:00", "13:00"], ["14:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
        },
        "sat": [["09:00", "13:00"]],
        "sun": [],
    },
    "holidays": "IT",
    "closures": [{"from": "2026-12-24", "to": "2026-12-26"}],
}


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


@pytest.fixture
def shop() -> Schedule:
    return Schedule.parse("Europe/Rome", WEEK)


def test_open_and_closed_instants(shop: Schedule) -> None:
    assert shop.is_open(rome(2026, 11, 23, 9, 0))  # Monday, opening minute
    assert not shop.is_open(rome(2026, 11, 23, 13, 30))  # lunch
    assert not shop.is_open(rome(2026, 11, 23, 18, 0))  # closing minute is closed
    assert shop.is_open(rome(2026, 11, 28, 12, 59))  # Saturday morning
    assert not shop.is_open(rome(2026, 11, 28, 22, 30))  # Saturday evening
    assert not shop.is_open(rome(2026, 11, 29, 11, 0))  # Sunday
    assert not shop.is_open(rome(2026, 12, 8, 10, 0))  # Immacolata, a Tuesday
    assert not shop.is_open(rome(2026, 12, 24, 10, 0))  # one-off closure
    assert shop.is_open(rome(2026, 12, 28, 10, 0))
    # The same instant seen in UTC: 08:30 UTC is 09:30 in Rome in winter.
    assert shop.is_open(datetime(2026, 11, 23, 8, 30, tzinfo=UTC))


def test_next_opening_after_a_saturday_night_and_a_holiday(shop: Schedule) -> None:
    assert shop.next_open(rome(2026, 11, 28, 22, 30)) == rome(2026, 11, 30, 9, 0)
    assert shop.next_open(rome(2026, 12, 7, 19, 0)) == rome(2026, 12, 9, 9, 0)  # skips the 8th
    assert shop.next_open(rome(2026, 12, 23, 18, 30)) == rome(2026, 12, 28, 9, 0)
    inside = rome(2026, 11, 23, 10, 0)
    assert shop.next_open(inside) == inside
    assert describe(rome(2026, 11, 30, 9, 0), ROME, "it") == "lunedì 30 novembre alle 09:00"
    assert describe(rome(2026, 11, 30, 9, 0), ROME, "en") == "Monday 30 November at 09:00"


def test_business_time_stops_outside_hours(shop: Schedule) -> None:
    # Friday 17:30 to Monday 09:30: 30 min on Friday, 4 h on Saturday, 30 min on Monday.
    seconds = shop.business_seconds(rome(2026, 11, 27, 17, 30), rome(2026, 11, 30, 9, 30))
    assert seconds == (30 + 240 + 30) * 60
    assert shop.add_business_seconds(rome(2026, 11, 27, 17, 30), 45 * 60) == rome(
        2026, 11, 28, 9, 15
    )
    assert shop.add_business_seconds(rome(2026, 11, 23, 12, 50), 20 * 60) == rome(
        2026, 11, 23, 14, 10
    )


def test_daylight_saving_day_keeps_local_hours() -> None:
    always_9_to_18 = Schedule.parse(
        "Europe/Rome", {"schedule": {d: [["09:00", "18:00"]] for d in ("sat", "sun")}}
    )
    # 29 March 2026: clocks go forward; 09:00 local is 07:00 UTC (08:00 UTC the day before).
    assert always_9_to_18.next_open(rome(2026, 3, 29, 3, 0)) == datetime(
        2026, 3, 29, 7, 0, tzinfo=UTC
    )
    assert always_9_to_18.next_open(rome(2026, 3, 28, 3, 0)) == datetime(
        2026, 3, 28, 8, 0, tzinfo=UTC
    )


def test_no_schedule_is_always_open_and_bad_ones_are_refused() -> None:
    assert Schedule.parse("Europe/Rome", None).is_open(rome(2026, 12, 25, 3, 0))
    with pytest.raises(InvalidSchedule):
        Schedule.parse("Europe/Rome", {"schedule": {"mon": [["18:00", "09:00"]]}})
    with pytest.raises(InvalidSchedule):
        Schedule.parse("Europe/Rome", {"schedule": {"mon": [["9", "18:00"]]}})
    with pytest.raises(InvalidSchedule):
        Schedule.parse("Europe/Rome", {"holidays": "XX"})
