"""SLA and job-time rules (server/audit/sla.py): which time a step counts at, durations, verdicts, and the period
a supervisor asks for (server/audit/figures.py parse_period) — table-driven, no database."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.audit import sla
from server.audit.figures import MAX_PERIOD_DAYS, parse_period
from server.refusals import Refused
from tests.support.clock import utc


@pytest.fixture
def at(frozen_clock):
    """Minutes after a report made two hours before the clock's now, as the deployment's local time (as a
    database session in that zone would give them). At the daylight-saving instants the job spans the change."""
    reported = frozen_clock.now() - timedelta(hours=2)

    def local(minutes: float | None) -> datetime | None:
        return None if minutes is None else (reported + timedelta(minutes=minutes)).astimezone(frozen_clock.zone)
    return local


TARGETS = sla.Targets(danger_on_site=timedelta(hours=1), danger_restore=timedelta(hours=4),
                      restore=timedelta(hours=24))

# step, phone's time, server's time, previous step's time (minutes after the report) → counts at, source, skew
STEP_TIME_CASES = [
    ("online crew step: phone and server agree",
     "on_site", 30, 30, 10, 30, "device", None),
    ("offline: done at 30 min, synced 3 h later: the phone's time counts",
     "on_site", 30, 210, 10, 30, "device", None),
    ("no phone time (an old client): the server's time",
     "en_route", None, 20, 10, 20, "server", None),
    ("desk step: always the server's time, even with a device time",
     "assigned", 1, 5, 0, 5, "server", None),
    ("phone clock ahead of the server's receipt: clamped to the receipt",
     "restored", 300, 200, 100, 200, "server", "ahead"),
    ("phone 2 min slow, before the previous step: clamped to the previous step",
     "en_route", 8, 90, 10, 10, "previous", None),
    ("exactly the tolerance before the previous step: still clamped",
     "en_route", 5, 90, 10, 10, "previous", None),
    ("phone an hour slow: ignored, the receipt counts",
     "on_site", -50, 90, 10, 90, "server", "behind"),
    ("phone slow and no receipt known: the previous step's time",
     "on_site", -50, None, 10, 10, "previous", "behind"),
    ("phone slow and the receipt before the previous step too: the previous step's time",
     "restored", -50, 5, 10, 10, "previous", "behind"),
    ("ahead of the receipt, and the receipt before the previous step: the previous step",
     "restored", 60, 5, 10, 10, "previous", "ahead"),
    ("desk step recorded before the previous one: kept in order",
     "closed", None, 5, 10, 10, "previous", None),
    ("first step: no previous",
     "reported", None, 0, None, 0, "server", None),
    ("not reached",
     "restored", None, None, 10, None, None, None),
]


@pytest.mark.parametrize("case, step, device, server, previous, expected, source, skew", STEP_TIME_CASES,
                         ids=[c[0] for c in STEP_TIME_CASES])
def test_the_time_a_step_counts_at(at, case, step, device, server, previous, expected, source, skew):
    found = sla.step_time(step, at(device), at(server), at(previous))
    assert (utc(found.at), found.source, found.skew) == (utc(at(expected)), source, skew)
    assert (utc(found.device_time), utc(found.server_time)) == (utc(at(device)), utc(at(server)))  # both kept


def _claims(**steps):
    return {step: value if isinstance(value, tuple) else (None, value) for step, value in steps.items()}


def test_an_offline_job_counts_at_the_phones_times_with_durations_between_steps(at):
    # Assigned at 10 min; the crew was offline: en route 15, on site 40, restored 150; all synced at 4 h.
    synced = at(240)
    times = sla.step_times(_claims(reported=at(0), assigned=at(10), en_route=(at(15), synced),
                                   on_site=(at(40), synced), restored=(at(150), synced), closed=at(300)))
    assert [t.at for t in times] == [utc(at(m)) for m in (0, 10, 15, 40, 150, 300)]
    assert [t.source for t in times] == ["server", "server", "device", "device", "device", "server"]
    gaps = {i.step: (i.since_previous, i.since_report) for i in sla.intervals(times)}
    assert gaps == {"assigned": (timedelta(minutes=10), timedelta(minutes=10)),
                    "en_route": (timedelta(minutes=5), timedelta(minutes=15)),
                    "on_site": (timedelta(minutes=25), timedelta(minutes=40)),
                    "restored": (timedelta(minutes=110), timedelta(minutes=150)),
                    "closed": (timedelta(minutes=150), timedelta(minutes=300))}


def test_a_phone_an_hour_slow_is_not_believed_and_durations_never_go_negative(at):
    # The phone says en route 20 min *before* the report, on site 10 min before it: its clock is an hour slow.
    times = sla.step_times(_claims(reported=at(0), assigned=at(10), en_route=(at(-20), at(60)),
                                   on_site=(at(-10), at(61)), restored=(at(50), at(120))))
    counted = {t.step: t for t in times}
    assert counted["en_route"].at == utc(at(60)) and counted["en_route"].skew == "behind"
    assert counted["on_site"].at == utc(at(61)) and counted["on_site"].skew == "behind"
    # restored at 50 by the phone is before on site (61): more than the tolerance → the receipt, 120.
    assert counted["restored"].at == utc(at(120)) and counted["restored"].skew == "behind"
    assert all(i.since_previous >= timedelta(0) for i in sla.intervals(times))


def test_a_skipped_step_does_not_break_the_chain(at):
    # No "on the way" and no check-in: restored is checked against the assignment.
    times = sla.step_times(_claims(reported=at(0), assigned=at(10), restored=(at(5), at(100))))
    counted = {t.step: t for t in times}
    assert not counted["en_route"].reached and not counted["on_site"].reached
    assert counted["restored"].at == utc(at(10)) and counted["restored"].source == "previous"
    assert [i.step for i in sla.intervals(times)] == ["assigned", "restored"]


# priority, status, steps (minutes from the report, None = not reached), now (minutes) → verdicts per target
ASSESS_CASES = [
    ("danger: on site in 50 min, restored in 3 h — both met",
     "high", "restored", {"on_site": 50, "restored": 180}, 300, {"on_site": "met", "restored": "met"}),
    ("danger: on site at 61 min — breached by a minute",
     "high", "restored", {"on_site": 61, "restored": 180}, 300, {"on_site": "breached", "restored": "met"}),
    ("danger: nobody on site at 40 min — within target",
     "high", "assigned", {}, 40, {"on_site": "pending", "restored": "pending"}),
    ("danger: nobody on site at 45 min — at risk (last quarter of the hour)",
     "high", "assigned", {}, 45, {"on_site": "at_risk", "restored": "pending"}),
    ("danger: nobody on site at 61 min — breached while still open",
     "high", "en_route", {}, 61, {"on_site": "breached", "restored": "pending"}),
    ("danger: at the deadline exactly, still open — at risk, not yet breached",
     "high", "assigned", {}, 60, {"on_site": "at_risk", "restored": "pending"}),
    ("danger: restored with no check-in proves the crew was there",
     "high", "restored", {"restored": 55}, 300, {"on_site": "met", "restored": "met"}),
    ("danger: on site in time, restore open at 3 h 30 — at risk",
     "high", "on_site", {"on_site": 30}, 210, {"on_site": "met", "restored": "at_risk"}),
    ("ordinary fault: restored in 23 h — met",
     "normal", "closed", {"restored": 23 * 60}, 30 * 60, {"restored": "met"}),
    ("ordinary fault: open at 19 h — at risk (6 h window)",
     "normal", "on_site", {"on_site": 120}, 19 * 60, {"restored": "at_risk"}),
    ("ordinary fault: open at 25 h — breached",
     "normal", "assigned", {}, 25 * 60, {"restored": "breached"}),
    ("ordinary fault: restored late at 25 h — breached for good",
     "normal", "closed", {"restored": 25 * 60}, 40 * 60, {"restored": "breached"}),
    ("cancelled: no SLA",
     "high", "cancelled", {}, 600, {}),
]


@pytest.mark.parametrize("case, priority, status, steps, now, expected", ASSESS_CASES, ids=[c[0] for c in ASSESS_CASES])
def test_sla_verdicts(at, case, priority, status, steps, now, expected):
    claims = _claims(reported=at(0), **{step: (at(m), at(m)) for step, m in steps.items()})
    checks = sla.assess(priority, status, sla.step_times(claims), at(now), TARGETS)
    assert {c.target: c.verdict for c in checks} == expected


def test_an_offline_restore_is_judged_by_when_it_happened_not_when_it_synced(at):
    # Danger restored at 3 h 50 by the phone, synced at 7 h: met, although the server heard of it late.
    claims = _claims(reported=at(0), assigned=at(5), on_site=(at(40), at(420)), restored=(at(230), at(420)))
    checks = {c.target: c for c in sla.assess("high", "restored", sla.step_times(claims), at(500), TARGETS)}
    assert checks["restored"].verdict == "met" and checks["restored"].reached_at == utc(at(230))
    assert checks["on_site"].verdict == "met"


def test_a_slow_phone_clock_cannot_turn_a_breach_into_a_met_target(at):
    # The phone claims on site at 30 min — but before the assignment at 50 min: its clock is behind, so the
    # receipt (2 h) counts and the danger hour was missed.
    claims = _claims(reported=at(0), assigned=at(50), on_site=(at(30), at(120)))
    checks = {c.target: c for c in sla.assess("high", "on_site", sla.step_times(claims), at(130), TARGETS)}
    assert checks["on_site"].verdict == "breached" and checks["on_site"].reached_at == utc(at(120))


def test_a_fast_phone_clock_cannot_push_a_step_past_its_receipt(at):
    # The phone's clock is 2 h fast: restored "at 5 h" but received at 3 h 30 → counted at 3 h 30: met.
    claims = _claims(reported=at(0), assigned=at(5), on_site=(at(40), at(40)), restored=(at(300), at(210)))
    checks = {c.target: c for c in sla.assess("high", "restored", sla.step_times(claims), at(400), TARGETS)}
    assert checks["restored"].reached_at == utc(at(210)) and checks["restored"].verdict == "met"


def test_worst_and_time_left(at):
    claims = _claims(reported=at(0), assigned=at(5))
    checks = sla.assess("high", "assigned", sla.step_times(claims), at(70), TARGETS)
    assert sla.worst(checks) == "breached"
    check = sla.open_check(checks)
    assert check.target == "on_site" and check.left(at(70)) == timedelta(minutes=-10)
    assert sla.worst([]) is None and sla.open_check([]) is None


def test_targets_come_from_the_operator_settings():
    class Operator:
        sla_danger_on_site_minutes, sla_danger_restore_minutes, sla_restore_minutes = 45, 180, 720
        sla_at_risk_percent = 25
    targets = sla.Targets.from_settings(Operator())
    assert targets.for_priority("high") == {"on_site": timedelta(minutes=45), "restored": timedelta(hours=3)}
    assert targets.for_priority("normal") == {"restored": timedelta(hours=12)}
    assert targets.warning(timedelta(hours=12)) == timedelta(hours=3)
    Operator.sla_at_risk_percent = 10
    assert sla.Targets.from_settings(Operator()).warning(timedelta(hours=12)) == timedelta(minutes=72)


TIRANE = ZoneInfo("Europe/Tirane")


def tirane(wall: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=TIRANE, fold=fold)


# Reported, restored (local times in Tirane, as a database session in that zone returns them) → how long it took
DST_CASES = [
    ("spring forward: 01:30 before the change to 03:30 after it is one hour",
     tirane("2027-03-28T01:30"), tirane("2027-03-28T03:30"), timedelta(hours=1)),
    ("spring forward: the evening before to the morning after, a night an hour short",
     tirane("2027-03-27T22:00"), tirane("2027-03-28T06:00"), timedelta(hours=7)),
    ("fall back: the first 02:30 to the second 02:30 is one hour",
     tirane("2027-10-31T02:30"), tirane("2027-10-31T02:30", fold=1), timedelta(hours=1)),
    ("fall back: 01:30 before the change to 03:30 after it is three hours",
     tirane("2027-10-31T01:30"), tirane("2027-10-31T03:30"), timedelta(hours=3)),
    ("fall back: the evening before to the morning after, a night an hour long",
     tirane("2027-10-30T22:00"), tirane("2027-10-31T06:00"), timedelta(hours=9)),
]


@pytest.mark.parametrize("case, reported, restored, took", DST_CASES, ids=[c[0] for c in DST_CASES])
def test_durations_across_a_daylight_saving_change_are_real_time(case, reported, restored, took):
    times = sla.step_times(_claims(reported=reported, restored=(restored, restored)))
    assert {i.step: i.since_report for i in sla.intervals(times)} == {"restored": took}
    # The day's target, shortened to just above and below what it took: met, then breached — by real time.
    for allowed, verdict in ((took + timedelta(minutes=1), "met"), (took - timedelta(minutes=1), "breached")):
        targets = sla.Targets(timedelta(hours=1), timedelta(hours=4), allowed)
        check, = sla.assess("normal", "restored", times, restored + timedelta(days=1), targets)
        assert (check.verdict, check.deadline) == (verdict, utc(reported) + allowed)


def test_a_step_in_the_repeated_hour_is_in_order_by_real_time():
    """The second 02:10 comes after the first 02:50: a phone's on-site at the second 02:10 is believed."""
    claims = _claims(reported=tirane("2027-10-31T02:00"), assigned=tirane("2027-10-31T02:50"),
                     on_site=(tirane("2027-10-31T02:10", fold=1), tirane("2027-10-31T02:15", fold=1)))
    on_site = next(t for t in sla.step_times(claims) if t.step == "on_site")
    assert (on_site.source, on_site.skew, on_site.at) == ("device", None, utc(tirane("2027-10-31T02:10", fold=1)))


@pytest.mark.parametrize("values, share, expected", [
    ([], 0.5, None), ([7.0], 0.9, 7.0), ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5), ([10.0, 20.0, 30.0, 40.0, 50.0], 0.9, 46.0),
])
def test_percentile_is_continuous_like_postgresql(values, share, expected):
    assert sla.percentile(values, share) == (None if expected is None else pytest.approx(expected))


TODAY = date(2026, 3, 31)

PERIOD_CASES = [
    ("nothing: the last 30 days", None, None, (date(2026, 3, 2), TODAY)),
    ("both days", "2026-01-01", "2026-01-31", (date(2026, 1, 1), date(2026, 1, 31))),
    ("one day", "2026-02-10", "2026-02-10", (date(2026, 2, 10), date(2026, 2, 10))),
    ("only the start: 30 days from it", "2026-01-01", "", (date(2026, 1, 1), date(2026, 1, 30))),
    ("only the start, recent: up to today", "2026-03-20", None, (date(2026, 3, 20), TODAY)),
    ("only the end: 30 days up to it", None, "2026-02-28", (date(2026, 1, 30), date(2026, 2, 28))),
    ("the longest allowed", "2025-02-25", "2026-03-31", (date(2025, 2, 25), TODAY)),
    ("spaces around", " 2026-01-01 ", " 2026-01-02", (date(2026, 1, 1), date(2026, 1, 2))),
]


@pytest.mark.parametrize("case, raw_from, raw_to, expected", PERIOD_CASES, ids=[c[0] for c in PERIOD_CASES])
def test_a_period(case, raw_from, raw_to, expected):
    period = parse_period(raw_from, raw_to, TODAY, "Africa/Nairobi")
    assert (period.first, period.last) == expected
    assert utc(period.end) - utc(period.start) == timedelta(days=period.days)  # Nairobi keeps one offset
    assert period.start.utcoffset() == timedelta(hours=3)  # midnight in Nairobi, not in UTC


# Days back from today (the clock's, in the deployment's zone) → the period's first and last day, back from today
RECENT_PERIODS = [
    ("nothing: the last 30 days up to today", None, None, (29, 0)),
    ("only the start, recent: up to today", 11, None, (11, 0)),
    ("only the start, a month back: 30 days from it", 45, None, (45, 16)),
    ("only the end, yesterday: 30 days up to it", None, 1, (30, 1)),
    ("the longest allowed, up to today", MAX_PERIOD_DAYS - 1, 0, (MAX_PERIOD_DAYS - 1, 0)),
    ("a year back to today, whatever the leap days", 366, 0, (366, 0)),
]


@pytest.mark.parametrize("case, days_from, days_to, expected", RECENT_PERIODS, ids=[c[0] for c in RECENT_PERIODS])
def test_a_recent_period_on_any_day(frozen_clock, case, days_from, days_to, expected):
    today = frozen_clock.today()

    def back(days):
        return None if days is None else (today - timedelta(days=days)).isoformat()
    period = parse_period(back(days_from), back(days_to), today, frozen_clock.timezone)
    assert (period.first, period.last) == (today - timedelta(days=expected[0]), today - timedelta(days=expected[1]))
    # Both ends are local midnights, however many hours the days between them had.
    for bound, day in ((period.start, period.first), (period.end, period.last + timedelta(days=1))):
        local = bound.astimezone(frozen_clock.zone)
        assert (local.date(), local.time()) == (day, time(0))


def test_todays_period_is_the_deployments_today():
    """At 23:59 on New Year's Eve in Nairobi it is still the old year there (20:59 in UTC), and at 01:30 on New
    Year's Day it is the new one (22:30 the day before in UTC)."""
    for wall, today in (("2027-12-31T23:59", date(2027, 12, 31)), ("2028-01-01T01:30", date(2028, 1, 1))):
        local = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo("Africa/Nairobi"))
        period = parse_period(None, None, local.date(), "Africa/Nairobi")
        assert period.last == today and utc(period.end) > utc(local) >= utc(period.start)


@pytest.mark.parametrize("first, last, hours, start_offset, end_offset", [
    ("2027-03-01", "2027-03-31", 31 * 24 - 1, 1, 2),   # the spring-forward night is an hour short
    ("2027-10-01", "2027-10-31", 31 * 24 + 1, 2, 1),   # the fall-back night an hour long
    ("2027-03-28", "2027-03-28", 23, 1, 2),
    ("2027-10-31", "2027-10-31", 25, 2, 1),
    ("2027-06-01", "2027-06-30", 30 * 24, 2, 2),
])
def test_a_period_across_a_daylight_saving_change(first, last, hours, start_offset, end_offset):
    """Midnight to midnight in Tirane: the SQL bounds are the real instants, whatever the day's length."""
    period = parse_period(first, last, date(2027, 12, 31), "Europe/Tirane")
    assert utc(period.end) - utc(period.start) == timedelta(hours=hours)
    assert (period.start.utcoffset(), period.end.utcoffset()) == (timedelta(hours=start_offset),
                                                                  timedelta(hours=end_offset))
    assert [d.isoformat() for d in period.each_day()][::max(period.days - 1, 1)] == sorted({first, last})


BAD_PERIODS = [
    ("not a date", "yesterday", None, "is not a date for the start"),
    ("not a real day", "2026-02-30", None, "is not a date for the start"),
    ("another format", None, "31/03/2026", "is not a date for the end"),
    ("no padding", "2026-1-1", None, "is not a date"),
    ("ends before it starts", "2026-03-10", "2026-03-01", "starts (2026-03-10) after it ends (2026-03-01)"),
    ("too long", "2025-01-01", "2026-03-31", f"at most {MAX_PERIOD_DAYS} days"),
    ("the last day of the calendar", "9999-12-31", "9999-12-31", "between the years"),
    ("year one", "0001-01-01", "0001-01-02", "between the years"),
    ("very long text", "x" * 500, None, "is not a date"),
]


@pytest.mark.parametrize("case, raw_from, raw_to, message", BAD_PERIODS, ids=[c[0] for c in BAD_PERIODS])
def test_a_bad_period_is_refused_with_a_reason(case, raw_from, raw_to, message):
    with pytest.raises(Refused) as refused:
        parse_period(raw_from, raw_to, TODAY, "Africa/Nairobi")
    assert message in str(refused.value)
    assert len(str(refused.value)) < 200
