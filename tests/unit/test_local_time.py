"""Wall-clock times typed in forms (an ETR, planned work), read in the deployment's zone across daylight-saving
changes, and the planned-work horizon on year ends and leap days — table tests, no database."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.forms import local_time
from server.notify.routes import a_year_after


def _utc(wall: str) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=UTC)


# typed (wall clock), zone, now (UTC) → the instant meant (UTC)
LOCAL_TIMES = [
    ("an ordinary day in Nairobi", "2027-12-31T23:30", "Africa/Nairobi", "2027-12-31T20:00", "2027-12-31T20:30"),
    ("a winter day in Tirane", "2027-01-15T09:00", "Europe/Tirane", "2027-01-15T07:00", "2027-01-15T08:00"),
    ("a summer day in Tirane", "2027-07-15T09:00", "Europe/Tirane", "2027-07-15T06:00", "2027-07-15T07:00"),
    # 28 March 2027: 02:00 becomes 03:00
    ("spring forward: just before", "2027-03-28T01:59", "Europe/Tirane", "2027-03-27T23:00", "2027-03-28T00:59"),
    ("spring forward: just after", "2027-03-28T03:00", "Europe/Tirane", "2027-03-27T23:00", "2027-03-28T01:00"),
    ("spring forward: a skipped time reads as the hour it became", "2027-03-28T02:30", "Europe/Tirane",
     "2027-03-27T23:00", "2027-03-28T01:30"),
    # 31 October 2027: 03:00 becomes 02:00 again
    ("fall back: the repeated hour, before its first pass: the first", "2027-10-31T02:45", "Europe/Tirane",
     "2027-10-30T23:00", "2027-10-31T00:45"),
    ("fall back: during its first pass, still ahead: the first", "2027-10-31T02:45", "Europe/Tirane",
     "2027-10-31T00:30", "2027-10-31T00:45"),
    ("fall back: during its second pass: the second, still to come", "2027-10-31T02:45", "Europe/Tirane",
     "2027-10-31T01:30", "2027-10-31T01:45"),
    ("fall back: a day ahead, not in the repeated hour", "2027-11-01T02:45", "Europe/Tirane",
     "2027-10-31T01:30", "2027-11-01T01:45"),
]


@pytest.mark.parametrize("case, typed, zone, now, meant", LOCAL_TIMES, ids=[c[0] for c in LOCAL_TIMES])
def test_a_typed_local_time_is_the_next_time_the_clock_shows_it(case, typed, zone, now, meant):
    found = local_time(datetime.fromisoformat(typed), zone, _utc(now))
    assert found == _utc(meant) and found.tzinfo is UTC


@pytest.mark.parametrize("today, last", [
    (date(2026, 12, 6), date(2027, 12, 6)),
    (date(2027, 12, 31), date(2028, 12, 31)),
    (date(2028, 1, 1), date(2029, 1, 1)),
    (date(2028, 2, 29), date(2029, 2, 28)),   # no 29 February next year: never more than a year
    (date(2028, 2, 28), date(2029, 2, 28)),
    (date(2027, 3, 1), date(2028, 3, 1)),     # a year with 29 February in it: 366 days
    (date(2027, 3, 28), date(2028, 3, 28)),
])
def test_planned_work_may_start_up_to_the_same_date_next_year(today, last):
    assert a_year_after(today) == last
    assert (last - today) in (timedelta(days=365), timedelta(days=366))
