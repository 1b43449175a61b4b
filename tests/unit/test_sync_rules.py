"""Merge rules for offline crew work, table by table."""
from datetime import UTC, datetime, timedelta

import pytest

from sync import rules
from sync.rules import APPLIED, CONFLICT, Decision, Stamp
from tests.support.clock import utc

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
MINE, OTHER = 7, 8


@pytest.mark.parametrize("radius, accuracy, reach", [
    (150, None, 150), (150, 0, 150), (150, 40, 190), (150, 150, 300), (150, 5000, 300), (150, 100_000, 300),
    (500, 120, 620),
])
def test_the_geofence_widens_by_the_fixs_accuracy_up_to_its_own_radius(radius, accuracy, reach):
    assert rules.geofence_reach(radius, accuracy) == reach


@pytest.mark.parametrize("status, job_crew, proposed, expected", [
    # the job is the crew's: forward only, furthest wins
    ("assigned", MINE, "en_route", Decision(APPLIED, None, "en_route")),
    ("assigned", MINE, "on_site", Decision(APPLIED, None, "on_site")),
    ("en_route", MINE, "en_route", Decision(APPLIED, None, "en_route")),
    ("on_site", MINE, "en_route", Decision(APPLIED, "already_further", "on_site")),
    ("restored", MINE, "on_site", Decision(APPLIED, "already_further", "restored")),
    ("closed", MINE, "restored", Decision(APPLIED, "already_further", "closed")),
    ("on_site", MINE, "restored", Decision(APPLIED, None, "restored")),
    # the dispatcher cancelled: the cancel wins before the restore, a restore wins over it (for review)
    ("cancelled", MINE, "en_route", Decision(CONFLICT, "cancelled", "cancelled", apply=False)),
    ("cancelled", MINE, "on_site", Decision(CONFLICT, "cancelled", "cancelled", apply=False)),
    ("cancelled", MINE, "restored", Decision(CONFLICT, "restored_after_cancel", "restored")),
    # the job was taken away (or never theirs): nothing of the job moves, a supervisor looks
    ("assigned", OTHER, "en_route", Decision(CONFLICT, "not_assigned", "assigned", apply=False)),
    ("en_route", None, "restored", Decision(CONFLICT, "not_assigned", "en_route", apply=False)),
    ("cancelled", OTHER, "restored", Decision(CONFLICT, "not_assigned", "cancelled", apply=False)),
])
def test_a_crew_step(status, job_crew, proposed, expected):
    assert rules.decide_step(status, job_crew, MINE, proposed) == expected


def test_a_lineman_with_no_crew_owns_no_job():
    assert rules.decide_step("assigned", None, None, "en_route").reason == "not_assigned"
    assert rules.decide_record(None, None).reason == "not_assigned"


@pytest.mark.parametrize("status, job_crew, expected", [
    ("assigned", MINE, Decision(APPLIED, None, "assigned")),
    ("on_site", MINE, Decision(APPLIED, None, "on_site")),
    ("cancelled", MINE, Decision(CONFLICT, "cancelled", "cancelled", apply=False)),
    ("assigned", OTHER, Decision(CONFLICT, "not_assigned", "assigned", apply=False)),
])
def test_accepting_a_job(status, job_crew, expected):
    assert rules.decide_accept(status, job_crew, MINE) == expected


@pytest.mark.parametrize("job_crew, expected", [
    (MINE, Decision(APPLIED)),
    (OTHER, Decision(CONFLICT, "not_assigned", apply=False)),
])
def test_notes_photos_checkins_materials_are_always_kept(job_crew, expected):
    assert rules.decide_record(job_crew, MINE) == expected


A, B = "0000000a-0000-0000-0000-000000000000", "0000000b-0000-0000-0000-000000000000"


@pytest.mark.parametrize("current, proposed, wins", [
    (None, Stamp(NOW, A, 1), True),
    (Stamp(NOW, A, 1), Stamp(NOW + timedelta(seconds=1), A, 2), True),   # later event time
    (Stamp(NOW, A, 5), Stamp(NOW - timedelta(minutes=9), B, 1), False),  # synced later, happened earlier
    (Stamp(NOW, A, 1), Stamp(NOW, B, 1), True),                           # same time: client id decides
    (Stamp(NOW, B, 1), Stamp(NOW, A, 1), False),
    (Stamp(NOW, A, 1), Stamp(NOW, A, 2), True),                           # same phone, same instant: order
    (Stamp(NOW, A, 2), Stamp(NOW, A, 2), False),
])
def test_last_writer_wins_by_time_then_client_then_mutation(current, proposed, wins):
    assert rules.last_writer_wins(current, proposed) is wins
    decision = rules.decide_field(MINE, MINE, current, proposed)
    assert decision.apply is wins and (decision.reason is None) is wins and decision.outcome == APPLIED


def test_a_field_on_a_job_taken_away_is_a_conflict():
    assert rules.decide_field(OTHER, MINE, None, Stamp(NOW, A)) == Decision(CONFLICT, "not_assigned", apply=False)


# The phone's time, as an offset from the server's receipt → what is recorded (offset from the receipt), flag
CLOCK_CASES = [
    (timedelta(hours=-5), timedelta(hours=-5), None),                     # offline all morning: believed
    (timedelta(hours=-1, minutes=-30), timedelta(hours=-1, minutes=-30), None),  # across a DST change too
    (timedelta(minutes=2), timedelta(0), None),                           # a fast clock, within reason
    (timedelta(minutes=5), timedelta(0), None),
    (timedelta(minutes=6), timedelta(0), "future"),                       # a wrong clock
    (timedelta(days=365), timedelta(0), "future"),
    (timedelta(days=400), timedelta(0), "future"),
    (timedelta(days=-2, hours=-23), timedelta(days=-2, hours=-23), None),
    (timedelta(days=-3), timedelta(days=-3), None),
    (timedelta(days=-40), timedelta(days=-3), "past"),
]


@pytest.mark.parametrize("sent, recorded, flag", CLOCK_CASES)
def test_a_phone_clock_is_believed_within_limits(frozen_clock, sent, recorded, flag):
    """On the real clock and at each instant: the phone writes its local time (an offset of its own, which a
    daylight-saving change moves); the limits are spans of real time, whatever the wall clocks say."""
    now = frozen_clock.now()
    phone_time = (now + sent).astimezone(frozen_clock.zone)
    recorded_at, found_flag = rules.clamp_client_time(phone_time, now)
    assert (utc(recorded_at), found_flag) == (now + recorded, flag)


@pytest.mark.parametrize("recorded, claimed, kept", [
    (None, timedelta(0), timedelta(0)),
    (timedelta(0), timedelta(minutes=-5), timedelta(minutes=-5)),
    (timedelta(0), timedelta(minutes=5), timedelta(0)),
    (timedelta(0), timedelta(minutes=-90), timedelta(minutes=-90)),  # at a DST instant: before the change
])
def test_the_time_of_a_step_is_the_first_any_phone_claimed(frozen_clock, recorded, claimed, kept):
    now = frozen_clock.now()
    local = frozen_clock.zone
    on_file = None if recorded is None else now + recorded  # as the database gives it back: UTC
    assert utc(rules.earliest(on_file, (now + claimed).astimezone(local))) == now + kept


def test_what_a_supervisor_may_answer_each_conflict():
    assert rules.RESOLUTIONS == {"not_assigned": ("accepted", "dismissed"), "cancelled": ("dismissed",),
                                 "restored_after_cancel": ("accepted",)}


@pytest.mark.parametrize("job_crew, crew, held_before, may", [
    (1, 1, False, True),    # the crew's job
    (2, 1, True, True),     # taken from the crew (maybe while it was offline): its work is kept, with a conflict
    (2, 1, False, False),   # never the crew's: refused, nothing stored
    (None, 1, False, False),
    (None, 1, True, True),
    (None, None, False, False),  # a lineman in no crew has no job
    (1, None, True, False),
])
def test_work_is_taken_only_on_a_job_that_is_or_was_the_crews(job_crew, crew, held_before, may):
    assert rules.may_work_on(job_crew, crew, held_before) is may
