"""The crew app's field rules through sync: check-ins outside the geofence are kept and flagged, and a crew that
cannot fix a job hands it back to dispatch."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from server.operator import save_overrides
from server.audit import figures, sla
from server.db import utcnow
from server.incidents import actions
from tests.integration.test_sync_push import signed_in, statuses
from tests.integration.test_sync_support import events, fresh, make_crew, make_incident, make_staff, new_id

METRES_PER_DEGREE = 110_574  # of latitude near the equator (WGS 84), as PostGIS measures it
# make_incident puts the fault at (-1.0, 37.6 + offset·1e-4).
FAULT_LATITUDE, FAULT_LONGITUDE = -1.0, 37.6


@pytest.fixture
async def world(session):
    crew_a, crew_b = await make_crew(session, "Field A"), await make_crew(session, "Field B")
    return {
        "crew_a": crew_a, "crew_b": crew_b,
        "lineman_a": await make_staff(session, "lineman", crew_a.id),
        "lineman_b": await make_staff(session, "lineman", crew_b.id),
        "dispatcher": await make_staff(session, "dispatcher"),
    }


async def assigned_job(session, world, crew: str = "crew_a", offset: int = 0):
    incident = await make_incident(session, offset=offset)
    await actions.assign_crew(session, incident.id, world[crew].id, world["dispatcher"])
    return incident


def south_of_the_fault(metres: float) -> float:
    return FAULT_LATITUDE - metres / METRES_PER_DEGREE


async def checkin_row(session, checkin_id: str):
    return (await session.exec(text("SELECT distance_m, accuracy_m, outside_geofence FROM checkin WHERE id = :id"),
                               params={"id": uuid.UUID(checkin_id)})).one()


# ---------------------------------------------------------------- geofence


@pytest.mark.parametrize("metres, accuracy, outside", [
    (11, 8, False),         # at the pole
    (140, None, False),     # just inside the default 150 m
    (400, None, True),      # down the road
    (400, 5, True),         # a precise fix does not help
    (250, None, True),      # outside the fence…
    (250, 120, False),      # …unless the fix itself may be 120 m off: the fence widens by the accuracy
    (400, 120, True),       # but not without end
    (400, 5000, True),      # a vague fix (a cell tower's ±5 km) widens it by the radius at most: 300 m
    (290, 5000, False),
])
async def test_a_checkin_is_flagged_only_when_it_is_outside_the_fence(app, session, world, metres, accuracy,
                                                                      outside):
    incident = await assigned_job(session, world)
    checkin_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        args = {"incident_id": incident.id, "checkin_id": checkin_id, "latitude": south_of_the_fault(metres),
                "longitude": FAULT_LONGITUDE} | ({"accuracy_m": accuracy} if accuracy is not None else {})
        answer = await phone.push(phone.make("arrived", **args))
    assert statuses(answer) == ["applied"]  # never blocked
    result = answer["results"][0]
    assert result["details"]["outside_geofence"] is outside and result["details"]["geofence_m"] == 150
    assert result["details"]["distance_m"] == pytest.approx(metres, abs=2)
    assert ("outside the check-in area" in (result["message"] or "")) is outside
    row = await checkin_row(session, checkin_id)
    assert row.outside_geofence is outside and row.distance_m == pytest.approx(metres, abs=2)
    assert (await fresh(session, incident.id)).status == "on_site"
    on_site = [e for e in await events(session, incident.id) if e.kind == "on_site"]
    assert len(on_site) == 1 and on_site[0].details["outside_geofence"] is outside
    # The supervisor sees the judgement made on arrival, even if the radius is changed afterwards.
    targets = sla.Targets(timedelta(hours=1), timedelta(hours=4), timedelta(hours=24))
    seen = await figures.timeline(session, incident.id, targets, geofence_radius_m=10_000, now=utcnow())
    assert [k.outside for k in seen.checkins] == [outside]


async def test_the_operators_radius_is_the_fence(app, session, world):
    incident = await assigned_job(session, world)
    await save_overrides(session, {"geofence_radius_m": 500}, None)
    try:
        async with signed_in(app, world["lineman_a"]) as phone:
            answer = await phone.push(phone.make("arrived", incident_id=incident.id, checkin_id=new_id(),
                                                 latitude=south_of_the_fault(400), longitude=FAULT_LONGITUDE))
    finally:
        await save_overrides(session, {"geofence_radius_m": None}, None)
    assert answer["results"][0]["details"]["outside_geofence"] is False
    assert answer["results"][0]["details"]["geofence_m"] == 500


async def test_a_flagged_checkin_shows_on_the_dispatchers_panel_and_a_resent_one_keeps_its_flag(app, session,
                                                                                                 world):
    incident = await assigned_job(session, world)
    checkin_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        arrived = {"incident_id": incident.id, "checkin_id": checkin_id, "latitude": south_of_the_fault(400),
                   "longitude": FAULT_LONGITUDE}
        first = await phone.push(phone.make("arrived", **arrived))
        again = await phone.push(phone.make("arrived", **arrived))  # the same check-in in a new mutation
    assert first["results"][0]["details"]["new"] is True
    assert again["results"][0]["details"]["new"] is False
    assert again["results"][0]["details"]["outside_geofence"] is True
    async with signed_in(app, world["dispatcher"]) as desk:
        panel = await desk.http.get(f"/dispatch/incidents/{incident.id}", headers={"accept": "text/html"})
    assert panel.status_code == 200 and "outside the geofence" in panel.text


# ---------------------------------------------------------------- unable to fix


async def test_a_crew_unable_to_fix_hands_the_job_back_to_dispatch(app, session, world):
    incident = await assigned_job(session, world)
    async with signed_in(app, world["lineman_a"]) as phone:
        assert statuses(await phone.push(phone.make("en_route", incident_id=incident.id))) == ["applied"]
        await phone.pull()
        rev_before = (await fresh(session, incident.id)).rev
        live_before = (await session.exec(text("SELECT count(*) FROM live_event WHERE topic = 'incident' "
                                               "AND ref_id = :id"), params={"id": incident.id})).scalar_one()
        answer = await phone.push(phone.make("unable_to_fix", incident_id=incident.id,
                                             reason="  Needs a bucket truck: the pole top is cracked  "))
        assert statuses(answer) == ["applied"], answer
        assert answer["results"][0]["details"] == {"status": "en_route", "flag": "unable_to_fix"}
        await phone.pull()
        job = phone.view[f"incident/{incident.id}"]  # still the crew's until dispatch reassigns it
        assert job["flag"] == "unable_to_fix" and job["status"] == "en_route"

    row = await fresh(session, incident.id)
    assert (row.status, row.flag, row.crew_id) == ("en_route", "unable_to_fix", world["crew_a"].id)
    assert row.rev == rev_before + 1
    live_after = (await session.exec(text("SELECT count(*) FROM live_event WHERE topic = 'incident' "
                                          "AND ref_id = :id"), params={"id": incident.id})).scalar_one()
    assert live_after > live_before  # the console's live feed hears of it
    handed_back = [e for e in await events(session, incident.id) if e.kind == "unable_to_fix"]
    assert len(handed_back) == 1
    event = handed_back[0]
    assert event.actor == f"staff:{world['lineman_a'].id}" and event.client_time is not None
    assert event.details["reason"] == "Needs a bucket truck: the pole top is cracked"
    assert event.details["via"] == "sync" and event.details["status"] == "en_route"

    async with signed_in(app, world["dispatcher"]) as desk:
        queue = (await desk.http.get("/dispatch/", headers={"accept": "text/html"})).text
        panel = (await desk.http.get(f"/dispatch/incidents/{incident.id}", headers={"accept": "text/html"})).text
    queue_row = re.search(rf'<tr id="incident-{incident.id}".*?</tr>', queue, re.S)
    assert queue_row and "crew unable to fix" in queue_row.group(0)
    assert "Unable to fix" in panel


async def test_unable_to_fix_is_refused_for_a_job_that_is_not_the_crews(app, session, world):
    theirs = await assigned_job(session, world, crew="crew_b")
    nobodys = await make_incident(session, offset=3)
    async with signed_in(app, world["lineman_a"]) as phone:
        answer = await phone.push(phone.make("unable_to_fix", incident_id=theirs.id, reason="Not safe"),
                                  phone.make("unable_to_fix", incident_id=nobodys.id, reason="Not safe"),
                                  phone.make("unable_to_fix", incident_id=99_999_999, reason="Not safe"))
    assert statuses(answer) == ["rejected"] * 3
    assert [r["reason"] for r in answer["results"]] == ["not_your_job", "not_your_job", "unknown_incident"]
    assert "not your crew's" in answer["results"][0]["message"]
    for incident in (theirs, nobodys):
        row = await fresh(session, incident.id)
        assert row.flag is None and row.rev == incident.rev
        assert not [e for e in await events(session, incident.id) if e.kind == "unable_to_fix"]


async def test_unable_to_fix_is_refused_once_the_job_is_restored(app, session, world):
    incident = await assigned_job(session, world)
    async with signed_in(app, world["lineman_a"]) as phone:
        done = await phone.push(phone.make("restored", incident_id=incident.id, cause="Blown fuse"))
        assert statuses(done) == ["applied"]
        answer = await phone.push(phone.make("unable_to_fix", incident_id=incident.id, reason="Too late"))
    assert statuses(answer) == ["rejected"] and answer["results"][0]["reason"] == "job_not_open"
    assert "no longer open" in answer["results"][0]["message"]
    row = await fresh(session, incident.id)
    assert (row.status, row.flag) == ("restored", None)


@pytest.mark.parametrize("reason, problem", [
    ("", "reason is empty"),
    ("   ", "reason is empty"),
    ("x" * 501, "reason is too long"),
    (None, "reason is missing"),
])
async def test_unable_to_fix_needs_a_reason(app, session, world, reason, problem):
    incident = await assigned_job(session, world)
    args = {"incident_id": incident.id} | ({"reason": reason} if reason is not None else {})
    async with signed_in(app, world["lineman_a"]) as phone:
        answer = await phone.push(phone.make("unable_to_fix", **args))
    assert statuses(answer) == ["rejected"] and answer["results"][0]["reason"] == "invalid_args"
    assert problem in answer["results"][0]["message"]
    assert (await fresh(session, incident.id)).flag is None


async def test_a_reason_of_500_characters_is_kept_whole(app, session, world):
    incident = await assigned_job(session, world)
    async with signed_in(app, world["lineman_a"]) as phone:
        answer = await phone.push(phone.make("unable_to_fix", incident_id=incident.id, reason="y" * 500))
    assert statuses(answer) == ["applied"]
    handed_back = [e for e in await events(session, incident.id) if e.kind == "unable_to_fix"]
    assert handed_back[0].details["reason"] == "y" * 500
