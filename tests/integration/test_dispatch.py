"""Dispatch: crews' status from shifts and work, nearest crews, every console action and every illegal move,
two dispatchers at once, and the live feed's catch-up.

A refused action rolls the session back, which expires every object it loaded: tests keep plain ids."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.refusals import Refused
from server.crews import service as crews
from server.db import utcnow
from server.dispatch import service
from server.dispatch.live import LiveHub, live_stream, missed_since, parse_notice
from server.incidents import actions
from server.incidents.service import open_queue
from server.db_url import libpq_url
from tests.conftest import csrf_token, sign_in
from tests.integration.test_sync_support import PASSWORD, fresh, make_crew, make_incident, make_staff
from tests.support.clock import utc


@pytest.fixture
async def desk(session):
    staff = await make_staff(session, "dispatcher", name="Desk")
    session.expunge(staff)  # like request.user: loaded elsewhere, untouched by this session's rollbacks
    return staff


async def crew_status(session, crew_id) -> str:
    return (await session.exec(text("SELECT status FROM crew WHERE id = :id"), params={"id": crew_id})).scalar_one()


async def set_status(session, incident_id, status):
    """A crew's step as the sync service would write it (tested there); here only its effect on the crew."""
    await session.exec(text("UPDATE incident SET status = :s, rev = rev + 1 WHERE id = :id"),
                       params={"s": status, "id": incident_id})
    await session.commit()


async def test_a_crews_status_follows_its_shift_and_its_work(session, desk):
    crew = await make_crew(session, "Status crew")
    assert await crew_status(session, crew.id) == "available"
    job = await make_incident(session, offset=40)
    crew, job = SimpleNamespace(id=crew.id), SimpleNamespace(id=job.id)
    await actions.assign_crew(session, job.id, crew.id, desk)
    assert await crew_status(session, crew.id) == "assigned"
    for step in ("en_route", "on_site"):
        await set_status(session, job.id, step)
        assert await crew_status(session, crew.id) == step
    with pytest.raises(Refused, match="still has 1 open jobs"):
        await crews.end_shift(session, crew.id, desk)
    assert await crew_status(session, crew.id) == "on_site"
    await set_status(session, job.id, "restored")
    assert await crew_status(session, crew.id) == "available"
    await crews.end_shift(session, crew.id, desk)
    assert await crew_status(session, crew.id) == "off_shift"
    await crews.start_shift(session, crew.id, desk)
    await crews.start_shift(session, crew.id, desk)  # twice is harmless
    assert await crew_status(session, crew.id) == "available"
    shifts = (await session.exec(text("SELECT count(*), count(ended_at) FROM crew_shift WHERE crew_id = :id"),
                                 params={"id": crew.id})).one()
    assert tuple(shifts) == (2, 1)


async def test_the_most_advanced_job_sets_a_busy_crews_status(session, desk):
    crew = await make_crew(session, "Two jobs")
    first, second = await make_incident(session, offset=41), await make_incident(session, offset=42)
    await actions.assign_crew(session, first.id, crew.id, desk)
    await actions.assign_crew(session, second.id, crew.id, desk)
    await set_status(session, second.id, "on_site")
    assert await crew_status(session, crew.id) == "on_site"
    other = await make_crew(session, "Takes over")
    await actions.reassign_crew(session, second.id, other.id, desk)  # progress kept: the new crew is on site
    assert (await crew_status(session, crew.id), await crew_status(session, other.id)) == ("assigned", "on_site")


async def test_an_off_shift_crew_cannot_be_sent(session, desk):
    crew = await make_crew(session, "Gone home")
    await crews.end_shift(session, crew.id, desk)
    job = await make_incident(session, offset=43)
    crew, job = SimpleNamespace(id=crew.id), SimpleNamespace(id=job.id)
    with pytest.raises(Refused, match="Gone home is off shift"):
        await actions.assign_crew(session, job.id, crew.id, desk)
    assert (await fresh(session, job.id)).crew_id is None


async def test_a_restored_or_cancelled_incident_cannot_be_assigned(session, desk):
    crew = await make_crew(session)
    done, dropped = await make_incident(session, offset=44), await make_incident(session, offset=45)
    crew, done, dropped = (SimpleNamespace(id=row.id) for row in (crew, done, dropped))
    await set_status(session, done.id, "restored")
    await actions.cancel_incident(session, dropped.id, "No fault found", desk)
    for incident in (done, dropped):
        with pytest.raises(Refused, match="cannot be given to a crew"):
            await actions.assign_crew(session, incident.id, crew.id, desk)


async def test_an_action_on_a_stale_screen_is_refused_not_overwritten(session, desk):
    crew, other = await make_crew(session), await make_crew(session)
    job = await make_incident(session, offset=46)
    crew, other, job = (SimpleNamespace(id=row.id) for row in (crew, other, job))
    seen = (await fresh(session, job.id)).rev
    await actions.assign_crew(session, job.id, crew.id, desk, expected_rev=seen)
    with pytest.raises(Refused, match="changed while you were looking"):
        await actions.assign_crew(session, job.id, other.id, desk, expected_rev=seen)
    with pytest.raises(Refused, match="changed while you were looking"):
        await actions.cancel_incident(session, job.id, "Duplicate", desk, expected_rev=seen)
    with pytest.raises(Refused, match="changed while you were looking"):
        await actions.set_etr(session, job.id, utcnow() + timedelta(hours=2), desk, expected_rev=seen)
    after = await fresh(session, job.id)
    assert (after.crew_id, after.status, after.etr) == (crew.id, "assigned", None)


async def test_two_dispatchers_assigning_at_once_one_wins_the_other_is_told(engine, session):
    first, second = await make_staff(session, "dispatcher"), await make_staff(session, "dispatcher")
    crew_a, crew_b = await make_crew(session, "Crew A"), await make_crew(session, "Crew B")
    job = await make_incident(session, offset=47)
    seen = (await fresh(session, job.id)).rev

    async def assign(staff, crew):
        async with AsyncSession(engine, expire_on_commit=False) as own:
            try:
                await actions.assign_crew(own, job.id, crew.id, staff, expected_rev=seen)
                return crew.id
            except Refused as refused:
                return refused

    outcomes = await asyncio.gather(assign(first, crew_a), assign(second, crew_b))
    winners = [o for o in outcomes if isinstance(o, int)]
    losers = [o for o in outcomes if isinstance(o, Refused)]
    assert len(winners) == 1 and len(losers) == 1
    assert "changed while you were looking" in str(losers[0])
    after = await fresh(session, job.id)
    assert after.crew_id == winners[0] and after.rev == seen + 1
    events = (await session.exec(text("SELECT count(*) FROM incident_event WHERE incident_id = :id AND kind "
                                      "IN ('assigned', 'reassigned')"), params={"id": job.id})).scalar_one()
    assert events == 1


async def test_merging_a_duplicate_moves_its_reports_and_cancels_it(session, desk):
    keep, duplicate = await make_incident(session, offset=48), await make_incident(session, offset=49)
    for incident, phone in ((duplicate, "+254700000481"), (duplicate, "+254700000482"), (keep, "+254700000483")):
        await session.exec(text("INSERT INTO report (channel, category, phone, location, incident_id, tracking_token)"
                                " SELECT 'web', 'no_power', :phone, location, id, md5(random()::text)"
                                " FROM incident WHERE id = :id"), params={"phone": phone, "id": incident.id})
    await session.exec(text("UPDATE incident SET report_count = CASE id WHEN :k THEN 1 ELSE 2 END, "
                            "customers_affected = 30 WHERE id IN (:k, :d)"), params={"k": keep.id, "d": duplicate.id})
    await session.exec(text("UPDATE incident SET category = 'danger', priority = 'high' WHERE id = :d"),
                       params={"d": duplicate.id})
    await session.commit()
    seen = (await fresh(session, duplicate.id)).rev
    await actions.merge_incidents(session, duplicate.id, keep.id, desk, expected_rev=seen)
    kept, gone = await fresh(session, keep.id), await fresh(session, duplicate.id)
    assert (gone.status, gone.merged_into_id) == ("cancelled", keep.id)
    assert kept.report_count == 3 and kept.customers_affected == 30  # same (no) transformer: counted once
    assert (kept.category, kept.priority) == ("danger", "high")  # the wire down reported on the duplicate
    moved = (await session.exec(text("SELECT count(*) FROM report WHERE incident_id = :id"),
                                params={"id": keep.id})).scalar_one()
    assert moved == 3
    kinds = {row[0] for row in await session.exec(text(
        "SELECT kind FROM incident_event WHERE incident_id IN (:k, :d)"), params={"k": keep.id, "d": duplicate.id})}
    assert {"merged", "merged_in"} <= kinds
    view = await service.incident_view(session, duplicate.id)
    assert view.incident.merged_into == kept.code


async def test_merges_that_make_no_sense_are_refused(session, desk):
    one, other = await make_incident(session, offset=50), await make_incident(session, offset=51)
    one, other = (SimpleNamespace(id=row.id) for row in (one, other))
    with pytest.raises(Refused, match="into itself"):
        await actions.merge_incidents(session, one.id, one.id, desk)
    await set_status(session, other.id, "restored")
    with pytest.raises(Refused, match="only open incidents can be merged"):
        await actions.merge_incidents(session, one.id, other.id, desk)
    assert (await fresh(session, one.id)).status == "reported"


async def test_cancel_note_and_etr_are_checked(clock, session, desk):
    job = SimpleNamespace(id=(await make_incident(session, offset=52)).id)
    with pytest.raises(Refused, match="Say why"):
        await actions.cancel_incident(session, job.id, "  ", desk)
    with pytest.raises(Refused, match="Write the note"):
        await actions.add_note(session, job.id, "", desk)
    with pytest.raises(Refused, match="between now and"):
        await actions.set_etr(session, job.id, utcnow() - timedelta(hours=1), desk)
    await actions.set_etr(session, job.id, utcnow() + timedelta(hours=3), desk)
    await actions.add_note(session, job.id, "Bring a ladder", desk)
    await actions.cancel_incident(session, job.id, "No fault found", desk)
    with pytest.raises(Refused, match="can no longer be cancelled"):
        await actions.cancel_incident(session, job.id, "Again", desk)
    kinds = [row[0] for row in await session.exec(text(
        "SELECT kind FROM incident_event WHERE incident_id = :id ORDER BY seq"), params={"id": job.id})]
    assert kinds[-3:] == ["etr_set", "note", "cancelled"]


# ETR as an offset from now → accepted (the desk may be a few minutes behind; at most two weeks ahead)
ETR_CASES = [
    (timedelta(minutes=-10), False), (timedelta(minutes=-4), True), (timedelta(minutes=30), True),
    (timedelta(hours=3), True), (timedelta(days=14, minutes=-1), True), (timedelta(days=14, minutes=1), False),
]


async def test_an_etr_is_between_now_and_two_weeks_ahead_on_any_day(clock, session, desk):
    """Given in local time, as the console gives it; judged by real time across a daylight-saving change."""
    job = SimpleNamespace(id=(await make_incident(session, offset=53)).id)
    for offset, accepted in ETR_CASES:
        etr = (clock.now() + offset).astimezone(clock.zone)
        if accepted:
            await actions.set_etr(session, job.id, etr, desk)
            assert (await fresh(session, job.id)).etr == utc(etr), offset
        else:
            with pytest.raises(Refused, match="between now and 14 days"):
                await actions.set_etr(session, job.id, etr, desk)
    await actions.cancel_incident(session, job.id, "Test over", desk)


async def test_an_etr_typed_on_the_console_is_the_next_time_the_clock_shows_it(clock, client, session):
    """A quarter of an hour ahead, typed as the local wall clock shows it: accepted on any day. In the hour a
    fall-back repeats (the second 02:30 in Tirane), 02:45 is the one still to come, not the one gone by."""
    job = await make_incident(session, offset=54)
    job_id = job.id
    assert (await sign_in(client, "dispatcher")).status_code == 303
    token = await csrf_token(client, "/dispatch/")
    typed = (clock.now() + timedelta(minutes=15)).astimezone(clock.zone).strftime("%Y-%m-%dT%H:%M")
    saved = await client.post(f"/dispatch/incidents/{job_id}/etr", headers={"x-csrftoken": token},
                              data={"etr": typed})
    assert saved.status_code == 200 and "ETR saved" in saved.text, (typed, saved.text[-500:])
    ahead = (await fresh(session, job_id)).etr - clock.now()
    assert timedelta(minutes=13) < ahead <= timedelta(minutes=15), (typed, ahead)
    cancelled = await client.post(f"/dispatch/incidents/{job_id}/cancel", headers={"x-csrftoken": token},
                                  data={"reason": "Test over"})
    assert cancelled.status_code == 200


async def test_nearest_crews_are_on_shift_and_ordered_by_distance(session, desk):
    job = await make_incident(session, offset=5000)
    near, far, gone = (await make_crew(session, "Near"), await make_crew(session, "Far"),
                       await make_crew(session, "Off"))
    for crew, metres in ((near, 300), (far, 900), (gone, 100)):
        await session.exec(text("UPDATE crew SET position = ST_Project(i.location, :m, 0), position_at = now() "
                                "FROM incident i WHERE i.id = :job AND crew.id = :crew"),
                           params={"m": metres, "job": job.id, "crew": crew.id})
    await session.commit()
    await crews.end_shift(session, gone.id, desk)
    busy_job = await make_incident(session, offset=5001)
    await actions.assign_crew(session, busy_job.id, far.id, desk)
    suggestions = await service.nearest_crews(session, job.id)
    names = [s.name for s in suggestions]
    assert "Off" not in names
    assert names.index("Near") < names.index("Far")
    by_name = {s.name: s for s in suggestions}
    assert by_name["Near"].metres == pytest.approx(300, abs=1) and by_name["Far"].load == 1
    # The same order as an independent distance sort over every crew on shift.
    expected = [row[0] for row in await session.exec(text(
        "SELECT c.name FROM crew c, incident i WHERE i.id = :id AND c.status <> 'off_shift' "
        "AND c.position IS NOT NULL ORDER BY ST_Distance(c.position, i.location), c.id LIMIT 5"),
        params={"id": job.id})]
    assert names == expected


async def test_how_old_a_crews_position_is_by_the_codes_clock(clock, session, desk):
    """On any day: a crew's last ping 7 minutes ago says 7 minutes, on the panel and on the map."""
    job = await make_incident(session, offset=6000)
    crew = await make_crew(session, "Pinged")
    job_id, crew_id = job.id, crew.id
    await session.exec(text("UPDATE crew SET position = ST_Project(i.location, 200, 0), position_at = :at "
                            "FROM incident i WHERE i.id = :job AND crew.id = :crew"),
                       params={"at": clock.now() - timedelta(minutes=7, seconds=10), "job": job_id, "crew": crew_id})
    await session.commit()
    suggested = {s.id: s for s in await service.nearest_crews(session, job_id)}
    on_map = {f["properties"]["id"]: f["properties"] for f in (await service.live_map(session))["features"]
              if f["properties"]["kind"] == "crew"}
    assert (suggested[crew_id].minutes_since_position, on_map[crew_id]["minutes"]) == (7, 7)
    await crews.end_shift(session, crew_id, desk)  # out of the other tests' suggestions
    await actions.cancel_incident(session, job_id, "Test over", desk)


async def test_danger_stays_on_top_until_someone_is_on_site(session, desk):
    calm = await make_incident(session, offset=70)
    await session.exec(text("UPDATE incident SET customers_affected = 5000 WHERE id = :id"), params={"id": calm.id})
    danger = await make_incident(session, offset=71)
    await session.exec(text("UPDATE incident SET category = 'danger' WHERE id = :id"), params={"id": danger.id})
    await session.commit()
    queue = [row.id for row in await open_queue(session, limit=10_000)]
    assert queue.index(danger.id) < queue.index(calm.id)
    await set_status(session, danger.id, "on_site")
    row = next(r for r in await open_queue(session, limit=10_000) if r.id == danger.id)
    assert not row.danger_unattended
    queue = [row.id for row in await open_queue(session, limit=10_000)]
    assert queue.index(calm.id) < queue.index(danger.id)
    only_on_site = await open_queue(session, status="on_site", limit=10_000)
    assert {r.status for r in only_on_site} == {"on_site"} and danger.id in {r.id for r in only_on_site}


async def test_the_live_feed_announces_changes_and_a_reconnecting_browser_catches_up(database_url, session, desk):
    assert parse_notice("42 incident 7") == {"event": 42, "topic": "incident", "id": 7}
    for bad in ("", "1 2", "x incident 1", "1 customer 2"):
        with pytest.raises(ValueError):
            parse_notice(bad)
    job = await make_incident(session, offset=80)
    seen = await service.latest_live_event(session)
    assert await missed_since(session, seen) is None
    hub = LiveHub(libpq_url(database_url))
    stream = live_stream(hub, missed=None, heartbeat=5)
    hello = await anext(stream)
    assert hello.comment == "connected" and hello.retry == 2000
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.2)  # the LISTEN is open
    await actions.add_note(session, job.id, "Live", desk)
    event = await asyncio.wait_for(waiting, 5)
    assert event.event == "changed" and f'"id": {job.id}' in event.data and int(event.id) > seen
    await stream.aclose()
    assert not hub.listening
    # Away for a while: the next connection starts with one event covering everything missed.
    await actions.add_note(session, job.id, "While away", desk)
    missed = await missed_since(session, int(event.id))
    assert missed is not None and missed > int(event.id)
    stream = live_stream(hub, missed=missed, heartbeat=5)
    await anext(stream)
    catch_up = await asyncio.wait_for(anext(stream), 5)
    assert catch_up.event == "changed" and catch_up.id == str(missed) and '"topic": "all"' in catch_up.data
    await stream.aclose()


async def test_the_console_over_http(client, session):
    crew = await make_crew(session, "Http crew")
    job = await make_incident(session, offset=90)
    assert (await sign_in(client, "dispatcher")).status_code == 303
    page = await client.get("/dispatch/")
    assert page.status_code == 200 and 'data-live="/dispatch/live?since=' in page.text
    panel = await client.get(f"/dispatch/incidents/{job.id}", headers={"hx-request": "true"})
    assert panel.status_code == 200 and job.code in panel.text and "Nearest crews" in panel.text
    token = await csrf_token(client, "/dispatch/")
    rev = (await fresh(session, job.id)).rev
    assigned = await client.post(f"/dispatch/incidents/{job.id}/assign", headers={"x-csrftoken": token,
                                 "hx-request": "true"}, data={"crew_id": str(crew.id), "rev": str(rev)})
    assert assigned.status_code == 200 and "Crew assigned." in assigned.text
    assert assigned.headers["hx-trigger"] == "dispatch-changed"
    by_code = await client.post(f"/dispatch/incidents/{job.id}/assign", headers={"x-csrftoken": token},
                                data={"crew_code": crew.code.lower(), "rev": str(rev + 1)})  # typed on the panel
    assert by_code.status_code == 200 and "Crew assigned." in by_code.text
    stale = await client.post(f"/dispatch/incidents/{job.id}/cancel", headers={"x-csrftoken": token,
                              "hx-request": "true"}, data={"reason": "Duplicate", "rev": str(rev)})
    assert stale.status_code == 422 and "changed while you were looking" in stale.text
    for path, data, message in (
            (f"/dispatch/incidents/{job.id}/assign", {"crew_id": "abc"}, "Choose a crew."),
            (f"/dispatch/incidents/{job.id}/assign", {"crew_code": "NOPE"}, "There is no crew with the code NOPE."),
            (f"/dispatch/incidents/{job.id}/etr", {"etr": "tomorrow"}, "Give the ETR as a date and a time."),
            (f"/dispatch/incidents/{job.id}/merge", {"into": "FL-999999999"}, "There is no incident with the code"),
            (f"/dispatch/incidents/{job.id}/note", {"text": ""}, "Write the note first.")):
        refused = await client.post(path, headers={"x-csrftoken": token}, data=data)
        assert refused.status_code == 422 and message in refused.text, (path, refused.status_code)
    missing = await client.get("/dispatch/incidents/999999999")
    assert missing.status_code == 404
    assert (await client.get("/dispatch/incidents/abc")).status_code == 404
    geo = (await client.get("/dispatch/map.geojson")).json()
    kinds = {(f["properties"]["kind"], f["properties"]["id"]) for f in geo["features"]}
    assert ("incident", job.id) in kinds and ("crew", crew.id) not in kinds  # no position yet: not on the map
    not_a_stream = await client.get("/dispatch/live")
    assert not_a_stream.status_code == 406


async def test_a_dispatcher_ends_and_starts_a_shift_and_a_lineman_only_their_own(client, session):
    crew = await make_crew(session, "Shift crew")
    assert (await sign_in(client, "dispatcher")).status_code == 303
    token = await csrf_token(client, "/dispatch/")
    off = await client.post(f"/dispatch/crews/{crew.id}/shift", headers={"x-csrftoken": token}, data={"on": "no"})
    assert off.status_code == 200 and await crew_status(session, crew.id) == "off_shift"
    unclear = await client.post(f"/dispatch/crews/{crew.id}/shift", headers={"x-csrftoken": token},
                                data={"on": "maybe"})
    assert unclear.status_code == 422 and "on=yes" in unclear.text
    assert await crew_status(session, crew.id) == "off_shift"  # nothing changed
    on = await client.post(f"/dispatch/crews/{crew.id}/shift", headers={"x-csrftoken": token}, data={"on": "yes"})
    assert on.status_code == 200 and await crew_status(session, crew.id) == "available"


async def test_the_crew_table_finds_crews_by_zone_and_name_on_shift_first(session, desk, monkeypatch):
    """With thousands of crews the console shows the first few that match, crews on shift before the rest."""
    zone_id = (await session.exec(text("SELECT id FROM zone ORDER BY id LIMIT 1"))).scalar_one()
    tag = f"Table{utcnow().timestamp():.0f}"
    made = [await make_crew(session, f"{tag} {n}") for n in range(4)]
    ids = [crew.id for crew in sorted(made[1:], key=lambda crew: crew.code)] + [made[0].id]  # by code
    await session.exec(text("UPDATE crew SET home_zone_id = :zone WHERE id = ANY(:ids)"),
                       params={"zone": zone_id, "ids": ids})
    await session.commit()
    await crews.end_shift(session, ids[-1], desk)
    found = await service.crews_for_console(session, search=tag.lower())
    assert [c.id for c in found.crews] == ids and found.total == 4  # the one off shift last
    assert (await service.crews_for_console(session, search=f"{tag} 2")).total == 1
    assert (await service.crews_for_console(session, search="%")).total == 0  # a wildcard is a character
    in_zone = await service.crews_for_console(session, zone_id=zone_id, search=tag)
    assert in_zone.total == 4 and in_zone.zone_id == zone_id
    monkeypatch.setattr(service, "CREW_ROWS", 2)
    first = await service.crews_for_console(session, search=tag)
    assert [c.id for c in first.crews] == ids[:2] and first.total == 4


async def test_the_crew_table_over_http_keeps_its_filter_after_a_shift_button(client, session, monkeypatch):
    tag = f"Http{utcnow().timestamp():.0f}"
    ids = [(await make_crew(session, f"{tag} {n}")).id for n in range(3)]
    assert (await sign_in(client, "dispatcher")).status_code == 303
    monkeypatch.setattr(service, "CREW_ROWS", 2)
    page = await client.get("/dispatch/crews", params={"q": tag})
    assert page.status_code == 200 and "Showing 2 of 3 crews" in page.text and page.text.count(f"· {tag} ") == 2
    token = await csrf_token(client, "/dispatch/")
    ended = await client.post(f"/dispatch/crews/{ids[0]}/shift", headers={"x-csrftoken": token},
                              data={"on": "no", "q": f"{tag} 0", "zone": ""})
    assert ended.status_code == 200 and f"{tag} 0" in ended.text and f"{tag} 1" not in ended.text
    assert "Start shift" in ended.text and await crew_status(session, ids[0]) == "off_shift"
    assert "No crew matches." in (await client.get("/dispatch/crews", params={"q": "no such crew at all"})).text
    assert (await client.get("/dispatch/crews", params={"q": "x" * 201})).status_code == 400
    console = await client.get("/dispatch/")
    assert console.status_code == 200 and 'id="crew-filters"' in console.text


async def test_a_lineman_starts_and_ends_their_own_crews_shift(client, session):
    crew = await make_crew(session, "Own shift")
    lineman = await make_staff(session, "lineman", crew.id)
    crew_id = crew.id
    assert (await sign_in(client, lineman.username, PASSWORD)).status_code == 303
    assert "End shift" in (await client.get("/crew")).text
    token = await csrf_token(client, "/crew")
    ended = await client.post("/crew/shift", headers={"x-csrftoken": token}, data={"on": "no"},
                              follow_redirects=False)
    assert ended.status_code == 303 and await crew_status(session, crew_id) == "off_shift"
    assert "Start shift" in (await client.get("/crew")).text
    await client.post("/crew/shift", headers={"x-csrftoken": token}, data={"on": "yes"})
    assert await crew_status(session, crew_id) == "available"
    # Not another crew's: the lineman's own crew comes from their account, never from the form.
    assert (await client.post("/dispatch/crews/1/shift", headers={"x-csrftoken": token},
                              data={"on": "no"})).status_code == 403


async def test_reassigning_a_job_a_crew_could_not_fix_clears_the_flag(session, desk):
    first, second = await make_crew(session, "Could not"), await make_crew(session, "Bucket truck")
    first_id, second_id = first.id, second.id
    job = await make_incident(session, offset=95)
    job_id = job.id
    await actions.assign_crew(session, job_id, first_id, desk)
    await session.exec(text("UPDATE incident SET flag = 'unable_to_fix' WHERE id = :id"), params={"id": job_id})
    await session.commit()
    await actions.reassign_crew(session, job_id, second_id, desk)
    assert (await fresh(session, job_id)).flag is None


async def test_a_long_queue_says_how_many_it_leaves_out(session, client):
    """In a storm the queue shows the most urgent first, and says how many open incidents there are in all."""
    open_now = (await session.exec(text("SELECT count(*) FROM incident WHERE status IN "
                                        "('reported', 'assigned', 'en_route', 'on_site')"))).scalar_one()
    shown = await open_queue(session, limit=2)
    assert len(shown) == 2 and all(row.total == open_now for row in shown)
    reported = (await session.exec(text("SELECT count(*) FROM incident WHERE status = 'reported'"))).scalar_one()
    assert (await open_queue(session, status="reported", limit=1))[0].total == reported  # the filters count too

    from server.dispatch import routes as dispatch_routes
    await sign_in(client, "dispatcher")
    page = await client.get("/dispatch/", headers={"accept": "text/html"})
    assert f"{open_now} open incidents" in page.text and "most urgent are shown" not in page.text
    original = dispatch_routes.open_queue

    async def short_queue(db_session, **filters):
        return await original(db_session, limit=2, **filters)

    dispatch_routes.open_queue = short_queue
    try:
        page = await client.get("/dispatch/", headers={"accept": "text/html"})
    finally:
        dispatch_routes.open_queue = original
    assert f"{open_now} open incidents: the 2 most urgent are shown" in page.text
