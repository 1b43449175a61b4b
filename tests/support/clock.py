"""The instants every time-sensitive test also runs at, in one list, and the fixtures that freeze the clock there.

A rule that depends on the date must hold on any day: each such test runs once on the real clock and once
frozen (time-machine) at each instant below, in the time zone the deployment would have there. The code under
test reads time only from `server.db.utcnow()` (SQL gets it as `:now`), so freezing Python's clock freezes the
rule; rows the database stamps itself (`server_default=now()`) keep the real time, so a frozen test sets the
times it depends on from the frozen clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from server.db import utcnow
from server.settings import get_settings


@dataclass(frozen=True)
class Instant:
    name: str
    local: str       # wall-clock time in `timezone`, ISO
    timezone: str    # the deployment's FAULTLINE_TIMEZONE for this run
    fold: int = 0    # 1: the second pass of an hour a fall-back repeats

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.local).replace(tzinfo=ZoneInfo(self.timezone), fold=self.fold)


INSTANTS = [
    # The last minute of the year: "now + 400 days" is two years on, tomorrow is another year.
    Instant("new-years-eve", "2027-12-31T23:59:00", "Africa/Nairobi"),
    # A leap day: a year ahead of it has no 29 February; a year back neither.
    Instant("leap-day", "2028-02-29T12:00:00", "Africa/Nairobi"),
    # Albania springs forward at 02:00 → 03:00 on 28 March 2027: an hour after it, "two hours ago" is 00:30.
    Instant("spring-forward", "2027-03-28T03:30:00", "Europe/Tirane"),
    # …and falls back at 03:00 → 02:00 on 31 October 2027: the second 02:30, an hour after the first one.
    Instant("fall-back", "2027-10-31T02:30:00", "Europe/Tirane", fold=1),
]


@dataclass(frozen=True)
class Clock:
    """What a test needs of the clock it runs on: the instant (None: the real clock) and the local zone."""

    instant: Instant | None
    timezone: str

    @property
    def name(self) -> str:
        """To tell apart what each run writes into the shared test database."""
        return self.instant.name if self.instant else "real-clock"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def now(self) -> datetime:
        """The code's own clock (frozen or not), in UTC."""
        return utcnow()

    def local_now(self) -> datetime:
        return utcnow().astimezone(self.zone)

    def today(self) -> date:
        """Today in the deployment's time zone."""
        return self.local_now().date()


def utc(moment: datetime | None) -> datetime | None:
    """For asserting equality: Python never finds a local time inside a repeated (fall-back) hour *equal* to a
    time of another zone (PEP 495), though it orders them right; compare both in UTC."""
    return None if moment is None else moment.astimezone(UTC)


CLOCKS = [pytest.param(None, id="real-clock")] + [pytest.param(i, id=i.name) for i in INSTANTS]


def _clock(instant: Instant | None, tick: bool):
    if instant is None:
        yield Clock(None, get_settings().locale.timezone)
        return
    with time_machine.travel(instant.at, tick=tick):
        assert abs((utcnow() - instant.at).total_seconds()) < 60, "time-machine did not move the clock"
        yield Clock(instant, instant.timezone)


@pytest.fixture(params=CLOCKS)
def frozen_clock(request):
    """For pure rules: the real clock, then each instant with time standing still (tick=False)."""
    yield from _clock(request.param, tick=False)


@pytest.fixture(params=CLOCKS)
def ticking_clock(request):
    """For tests with a database and the app: each instant, with time moving on from it (tick=True), so
    timeouts and "later" still happen. Integration tests take `clock` (tests/integration/conftest.py), which also
    sets the app's time zone to the instant's."""
    yield from _clock(request.param, tick=True)
