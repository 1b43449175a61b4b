"""Sync through HTTP: a lineman's phone pushes mutations and pulls its jobs, with a real dispatcher and PostGIS."""
from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from server.refusals import Refused
from server.db import utcnow
from server.incidents import actions
from tests.conftest import csrf_token, sign_in
from tests.integration.test_sync_support import (PASSWORD, events, fresh, make_crew, make_incident, make_staff,
                                                 minutes_ago, mutation, new_id)


@pytest.fixture
async def world(session):
    """Two crews, a lineman in each (a second one in the first), a dispatcher and a supervisor."""
    crew_a, crew_b = await make_crew(session, "Sync A"), await make_crew(session, "Sync B")
    return {
        "crew_a": crew_a, "crew_b": crew_b,
        "lineman_a": await make_staff(session, "lineman", crew_a.id, "Asha Lineman"),
        "lineman_a2": await make_staff(session, "lineman", crew_a.id, "Amani Lineman"),
        "lineman_b": await make_staff(session, "lineman", crew_b.id, "Baraka Lineman"),
        "dispatcher": await make_staff(session, "dispatcher"),
        "supervisor": await make_staff(session, "supervisor"),
    }


class Phone:
    """A crew app install: its own sign-in, client id, mutation counter and pulled view."""

    def __init__(self, http: AsyncTestClient, token: str) -> None:
        self.http, self.token = http, token
        self.client_id, self.next_id, self.cursor = new_id(), 1, None
        self.view: dict[str, dict] = {}
        self.last_mutation_id = 0

    def make(self, name: str, at=None, **args) -> dict:
        found = mutation(self.next_id, name, at, **args)
        self.next_id += 1
        return found

    async def push(self, *mutations: dict, client_id: str | None = None, expect: int = 200) -> dict:
        response = await self.http.post("/sync/push", json={"client_id": client_id or self.client_id,
                                                             "mutations": list(mutations)},
                                        headers={"x-csrftoken": self.token})
        assert response.status_code == expect, response.text
        return response.json()

    async def pull(self) -> dict:
        params = {"client_id": self.client_id} | ({"cursor": self.cursor} if self.cursor else {})
        response = await self.http.get("/sync/pull", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["reset"]:
            self.view = {}
        for op in body["ops"]:
            if op["op"] == "put":
                self.view[op["key"]] = op["value"]
            else:
                self.view.pop(op["key"], None)
        self.cursor, self.last_mutation_id = body["cursor"], body["last_mutation_id"]
        return body


@asynccontextmanager
async def signed_in(app, staff):
    async with AsyncTestClient(app=app) as http:
        assert (await sign_in(http, staff.username, PASSWORD)).status_code == 303
        yield Phone(http, await csrf_token(http))


def statuses(body: dict) -> list[str]:
    return [result["status"] for result in body["results"]]


async def test_a_job_goes_from_assigned_to_restored_through_sync(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        first = await phone.pull()
        assert first["reset"] and f"incident/{incident.id}" in phone.view
        assert phone.view[f"incident/{incident.id}"]["status"] == "assigned"

        t0 = minutes_ago(30)
        note_id, checkin_id, photo_id, material_id, ping_id = new_id(), new_id(), new_id(), new_id(), new_id()
        etr = (utcnow() + timedelta(hours=2)).isoformat()
        batch = [
            phone.make("accept_job", t0, incident_id=incident.id),
            phone.make("en_route", t0 + timedelta(minutes=1), incident_id=incident.id),
            phone.make("position", t0 + timedelta(minutes=2), ping_id=ping_id, latitude=-1.0, longitude=37.6,
                       accuracy_m=12),
            phone.make("arrived", t0 + timedelta(minutes=10), incident_id=incident.id, checkin_id=checkin_id,
                       latitude=-1.0001, longitude=37.6, accuracy_m=8),
            phone.make("propose_etr", t0 + timedelta(minutes=11), incident_id=incident.id, etr=etr),
            phone.make("note", t0 + timedelta(minutes=12), incident_id=incident.id, note_id=note_id,
                       text="Jumper burnt on the LV side"),
            phone.make("photo", t0 + timedelta(minutes=13), incident_id=incident.id, photo_id=photo_id,
                       caption="Burnt jumper"),
            phone.make("materials", t0 + timedelta(minutes=20), incident_id=incident.id, material_id=material_id,
                       item="LV fuse 100 A", quantity=3, unit="pcs"),
            phone.make("restored", t0 + timedelta(minutes=25), incident_id=incident.id, cause="Blown LV fuse"),
        ]
        answer = await phone.push(*batch)
        assert statuses(answer) == ["applied"] * 9, answer
        assert answer["last_mutation_id"] == 9, answer["results"][2]
        assert answer["results"][2]["details"] == {"new": True, "moved": True}, answer["results"][2]
        assert answer["results"][3]["details"]["distance_m"] == pytest.approx(11.1, abs=1)

        second = await phone.pull()
        assert not second["reset"] and second["last_mutation_id"] == 9
        job = phone.view[f"incident/{incident.id}"]
        assert job["status"] == "restored" and job["cause"] == "Blown LV fuse"
        assert job["etr_proposal"] == etr
        assert [n["id"] for n in job["notes"]] == [note_id]
        assert [c["id"] for c in job["checkins"]] == [checkin_id]
        assert [p["id"] for p in job["photos"]] == [photo_id]
        assert job["materials"] == [{"id": material_id, "item": "LV fuse 100 A", "quantity": "3", "unit": "pcs",
                                     "crew_id": world["crew_a"].id, "at": job["materials"][0]["at"]}]
        # The times of the states are the phone's, not the moment it synced.
        assert job["times"]["en_route"] == (t0 + timedelta(minutes=1)).isoformat()
        assert job["times"]["restored"] == (t0 + timedelta(minutes=25)).isoformat()

    row = await fresh(session, incident.id)
    assert (row.status, row.cause) == ("restored", "Blown LV fuse")
    timeline = await events(session, incident.id)
    sync_events = [e for e in timeline if e.details.get("via") == "sync"]
    assert [e.kind for e in sync_events] == ["accepted", "en_route", "on_site", "etr_proposal_set", "note", "photo",
                                             "material", "restored", "cause_set"]
    assert all(e.actor == f"staff:{world['lineman_a'].id}" and e.client_time and e.server_time
               for e in sync_events)
    assert sync_events[1].client_time == t0 + timedelta(minutes=1) and sync_events[1].server_time > t0
    crew = (await session.exec(text("SELECT ST_Y(position::geometry) AS lat, position_at FROM crew WHERE id = :id"),
                               params={"id": world["crew_a"].id})).one()
    assert crew.lat == pytest.approx(-1.0) and crew.position_at == t0 + timedelta(minutes=2)


async def test_a_retried_batch_gets_the_same_answers_and_changes_nothing(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        batch = [phone.make("en_route", incident_id=incident.id),
                 phone.make("note", incident_id=incident.id, note_id=new_id(), text="On our way"),
                 phone.make("note", incident_id=incident.id, note_id=new_id(), text="x" * 3000)]
        first = await phone.push(*batch)
        before = await events(session, incident.id)
        again = await phone.push(*batch)
        assert again == first
        assert statuses(first) == ["applied", "applied", "rejected"]
        assert len(await events(session, incident.id)) == len(before)
        # The same records sent again as new mutations (a reinstalled app): stored once, union by id.
        repeat = await phone.push(phone.make("note", incident_id=incident.id, note_id=batch[1]["args"]["note_id"],
                                             text="On our way"))
        assert statuses(repeat) == ["applied"] and repeat["results"][0]["details"]["new"] is False
    count = (await session.exec(text("SELECT count(*) FROM note WHERE incident_id = :id"),
                                params={"id": incident.id})).scalar_one()
    assert count == 1


async def test_a_gap_waits_for_the_missing_batch_then_everything_applies_in_order(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        early = [phone.make("en_route", incident_id=incident.id),
                 phone.make("note", incident_id=incident.id, note_id=new_id(), text="first")]
        late = [phone.make("arrived", incident_id=incident.id, checkin_id=new_id(), latitude=-1.0, longitude=37.6),
                phone.make("note", incident_id=incident.id, note_id=new_id(), text="second")]
        answer = await phone.push(*late)  # the first batch was lost on the way
        assert statuses(answer) == ["pending", "pending"]
        assert answer["results"][0]["details"] == {"expected": 1} and "action 1" in answer["results"][0]["message"]
        assert (await fresh(session, incident.id)).status == "assigned"
        assert statuses(await phone.push(*early)) == ["applied", "applied"]
        assert statuses(await phone.push(*late)) == ["applied", "applied"]
    texts = [row.text for row in await session.exec(text(
        "SELECT text FROM note WHERE incident_id = :id ORDER BY client_time"), params={"id": incident.id})]
    assert texts == ["first", "second"]
    assert (await fresh(session, incident.id)).status == "on_site"


async def test_a_bad_mutation_is_used_up_with_a_reason_and_never_blocks_the_queue(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        batch = [
            phone.make("teleport", incident_id=incident.id),
            phone.make("note", incident_id=incident.id, note_id="not-a-uuid", text=""),
            phone.make("en_route", incident_id=99_999_999),
            {**phone.make("en_route", incident_id=incident.id), "client_time": "yesterday"},
            phone.make("note", incident_id=incident.id, note_id=new_id(), text="nul\x00byte"),
            phone.make("materials", incident_id=incident.id, material_id=new_id(), item="fuse", quantity=-1,
                       unit="pcs"),
            phone.make("position", ping_id=new_id(), latitude=95, longitude=37.6),
            {**phone.make("en_route", incident_id=incident.id), "args": ["not", "an", "object"]},
            phone.make("en_route", incident_id=incident.id, extra="field"),
            phone.make("propose_etr", incident_id=incident.id, etr=1_900_000_000),  # a number is no time of day
            phone.make("en_route", incident_id=incident.id),
        ]
        answer = await phone.push(*batch)
    assert statuses(answer) == ["rejected"] * 10 + ["applied"]
    reasons = [r["reason"] for r in answer["results"]]
    assert reasons[:4] == ["unknown_mutation", "invalid_args", "unknown_incident", "invalid_time"]
    messages = [r["message"] for r in answer["results"]]
    assert "teleport" in messages[0] and "Update the app" in messages[0]
    assert "note_id is not valid" in messages[1] and "text is empty" in messages[1]
    assert "not allowed" in messages[4] and "quantity is too small" in messages[5]
    assert "latitude is too large" in messages[6] and "extra is not expected" in messages[8]
    assert "etr must be a date and time" in messages[9]
    assert answer["last_mutation_id"] == 11
    assert (await fresh(session, incident.id)).status == "en_route"
    recorded = (await session.exec(text("SELECT count(*) FROM sync_mutation WHERE client_id = :c"),
                                   params={"c": uuid.UUID(phone.client_id)})).scalar_one()
    assert recorded == 11  # every one of them is on record, as sent


@pytest.mark.parametrize("body, message", [
    (b"not json", "Send the batch as JSON"),
    (b'{"mutations": []}', "client_id must be the UUID"),
    (b'{"client_id": "00000000-0000-0000-0000-000000000001", "mutations": {}}', "mutations must be a list"),
    (b'{"client_id": "00000000-0000-0000-0000-000000000001", "mutations": [{"name": "en_route"}]}',
     "Mutation number 1 has no id"),
    (b'{"client_id": "00000000-0000-0000-0000-000000000001", "mutations": [{"id": 2}, {"id": 1}]}',
     "must increase"),
    (b'{"client_id": "00000000-0000-0000-0000-000000000001", "mutations": [{"id": 1, "args": NaN}]}',
     "Send the batch as JSON"),
    (b"[" * 5000 + b"]" * 5000, "Send the batch as JSON"),
])
async def test_a_batch_that_cannot_be_numbered_is_refused_with_a_clear_message(app, world, body, message):
    async with signed_in(app, world["lineman_a"]) as phone:
        response = await phone.http.post("/sync/push", content=body, headers={"x-csrftoken": phone.token,
                                                                             "content-type": "application/json"})
    assert response.status_code == 400 and message in response.json()["detail"]


async def test_too_many_mutations_at_once_are_refused(app, world):
    async with signed_in(app, world["lineman_a"]) as phone:
        body = {"client_id": phone.client_id, "mutations": [{"id": i, "name": "x"} for i in range(1, 1002)]}
        response = await phone.http.post("/sync/push", json=body, headers={"x-csrftoken": phone.token})
    assert response.status_code == 400 and "at most 1000" in response.json()["detail"]


async def test_push_needs_the_csrf_header(app, world):
    async with signed_in(app, world["lineman_a"]) as phone:
        response = await phone.http.post("/sync/push", json={"client_id": phone.client_id, "mutations": []})
    assert response.status_code == 403


async def test_another_persons_app_install_is_refused(app, world):
    async with signed_in(app, world["lineman_a"]) as phone_a, signed_in(app, world["lineman_b"]) as phone_b:
        await phone_a.push()
        answer = await phone_b.push(client_id=phone_a.client_id, expect=409)
    assert "another person" in answer["detail"]


async def test_staff_other_than_linemen_cannot_sync(app, world):
    async with signed_in(app, world["dispatcher"]) as desk:
        assert (await desk.http.get("/sync/pull")).status_code == 403


async def test_an_unknown_or_foreign_cursor_gets_a_full_reset(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_b"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone_a, signed_in(app, world["lineman_b"]) as phone_b:
        await phone_a.pull()
        for cursor in ("garbage", "x.1.2", phone_a.cursor, "..", "a" * 80, "a" * 81, "9." * 500):
            phone_b.cursor = cursor
            body = await phone_b.pull()
            assert body["reset"] and f"incident/{incident.id}" in phone_b.view, cursor
        bad = await phone_b.http.get("/sync/pull", params={"client_id": "nope"})
        assert bad.status_code == 400 and "client_id" in bad.json()["detail"]


async def test_a_job_taken_away_offline_keeps_the_work_and_raises_one_conflict(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone_a, signed_in(app, world["lineman_b"]) as phone_b:
        await phone_a.pull()
        await phone_b.pull()
        # Crew A goes out of signal; dispatch gives the job to crew B.
        await actions.reassign_crew(session, incident.id, world["crew_b"].id, world["dispatcher"])
        t0 = minutes_ago(20)
        note_id = new_id()
        answer = await phone_a.push(
            phone_a.make("en_route", t0, incident_id=incident.id),
            phone_a.make("note", t0 + timedelta(minutes=5), incident_id=incident.id, note_id=note_id,
                         text="Crossarm cracked, needs a new one"),
            phone_a.make("restored", t0 + timedelta(minutes=9), incident_id=incident.id, cause="Replaced fuse"))
        assert statuses(answer) == ["conflict"] * 3
        assert "no longer your crew's" in answer["results"][0]["message"]
        row = await fresh(session, incident.id)
        assert (row.status, row.crew_id, row.cause) == ("assigned", world["crew_b"].id, None)

        gone = await phone_a.pull()
        assert {"op": "del", "key": f"incident/{incident.id}", "why": "reassigned", "code": row.code} in gone["ops"]
        await phone_b.pull()
        assert [n["id"] for n in phone_b.view[f"incident/{incident.id}"]["notes"]] == [note_id]

    found = list(await session.exec(text("SELECT id, kind, crew_side, server_side FROM sync_conflict "
                                         "WHERE incident_id = :id"), params={"id": incident.id}))
    assert len(found) == 1 and found[0].kind == "not_assigned"
    assert [m["name"] for m in found[0].crew_side["mutations"]] == ["en_route", "note", "restored"]
    assert found[0].server_side["crew_id"] == world["crew_b"].id

    async with signed_in(app, world["supervisor"]) as desk:
        page = await desk.http.get("/supervisor/conflicts", headers={"accept": "text/html"})
        assert page.status_code == 200 and row.code in page.text and "Crossarm cracked" in page.text
        refused = await desk.http.post(f"/supervisor/conflicts/{found[0].id}/resolve",
                                       data={"resolution": "nonsense", "_csrf_token": desk.token})
        assert refused.status_code == 409 and "Choose one of the answers" in refused.text
        done = await desk.http.post(f"/supervisor/conflicts/{found[0].id}/resolve",
                                    data={"resolution": "accepted", "note": "Crew A did fix it",
                                          "_csrf_token": desk.token},
                                    follow_redirects=False)
        assert done.status_code == 303
        again = await desk.http.post(f"/supervisor/conflicts/{found[0].id}/resolve",
                                     data={"resolution": "dismissed", "_csrf_token": desk.token})
        assert again.status_code == 409 and "already resolved" in again.text
        missing = await desk.http.post("/supervisor/conflicts/abc/resolve", data={"_csrf_token": desk.token},
                                       headers={"accept": "text/html"})
        assert missing.status_code == 404
    row = await fresh(session, incident.id)
    assert (row.status, row.cause, row.crew_id) == ("restored", "Replaced fuse", world["crew_b"].id)
    assert row.restored_at == t0 + timedelta(minutes=9)
    assert (await events(session, incident.id))[-1].kind == "conflict_resolved"


async def test_cancel_beats_offline_steps_and_a_restore_beats_the_cancel(app, session, world):
    first, second = await make_incident(session), await make_incident(session, offset=1)
    for incident in (first, second):
        await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
        await actions.cancel_incident(session, incident.id, "Duplicate of another job", world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        answer = await phone.push(
            phone.make("en_route", minutes_ago(9), incident_id=first.id),
            phone.make("arrived", minutes_ago(5), incident_id=first.id, checkin_id=new_id(), latitude=-1.0,
                       longitude=37.6),
            phone.make("restored", minutes_ago(1), incident_id=second.id, cause="Loose neutral"))
    assert statuses(answer) == ["conflict", "conflict", "conflict"]
    assert [r["reason"] for r in answer["results"]] == ["cancelled", "cancelled", "restored_after_cancel"]
    assert (await fresh(session, first.id)).status == "cancelled"
    checkins = (await session.exec(text("SELECT count(*) FROM checkin WHERE incident_id = :id"),
                                   params={"id": first.id})).scalar_one()
    assert checkins == 1  # the visit is kept even though the status is not
    row = await fresh(session, second.id)
    assert (row.status, row.cause) == ("restored", "Loose neutral")
    with pytest.raises(Refused, match="can no longer be cancelled"):
        await actions.cancel_incident(session, second.id, "Duplicate", world["dispatcher"])


async def test_a_phone_clock_far_off_is_clamped_and_flagged(clock, app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        ahead = phone.make("en_route", utcnow() + timedelta(days=400), incident_id=incident.id)
        behind = phone.make("note", utcnow() - timedelta(days=30), incident_id=incident.id, note_id=new_id(),
                            text="written long ago?")
        answer = await phone.push(ahead, behind)
    assert statuses(answer) == ["applied", "applied"]
    assert [r["details"]["clock"] for r in answer["results"]] == ["future", "past"]
    assert "clock was ahead" in answer["results"][0]["message"]
    row = await fresh(session, incident.id)
    assert row.en_route_at <= utcnow()
    stored = list(await session.exec(text("SELECT client_time, event_time, clock_flag FROM sync_mutation "
                                          "WHERE client_id = :c ORDER BY mutation_id"),
                                     params={"c": uuid.UUID(phone.client_id)}))
    assert stored[0].client_time > utcnow() + timedelta(days=399)  # the phone's own time, kept for audit
    assert stored[0].event_time <= utcnow() and stored[0].clock_flag == "future"
    assert utcnow() - stored[1].event_time < timedelta(days=3, minutes=1) and stored[1].clock_flag == "past"
    flagged = [e for e in await events(session, incident.id) if e.details.get("clock")]
    # What the phone sent, word for word (not "next year": 400 days from December is the year after).
    assert [e.details["client_time_sent"] for e in flagged] == [ahead["client_time"], behind["client_time"]]


async def test_two_phones_of_one_crew_last_writer_wins_and_the_loser_stays_in_history(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone_1, signed_in(app, world["lineman_a2"]) as phone_2:
        # Phone 2 acted later but synced first; phone 1's older restore arrives after it.
        assert statuses(await phone_2.push(phone_2.make("restored", minutes_ago(2), incident_id=incident.id,
                                                        cause="Tree branch on the line"))) == ["applied"]
        late = await phone_1.push(phone_1.make("restored", minutes_ago(10), incident_id=incident.id,
                                               cause="Blown fuse"),
                                  phone_1.make("en_route", minutes_ago(30), incident_id=incident.id))
    assert statuses(late) == ["applied", "applied"]
    assert late["results"][0]["details"]["cause_won"] is False
    assert late["results"][1]["reason"] == "already_further"
    row = await fresh(session, incident.id)
    assert row.cause == "Tree branch on the line"
    # Furthest state kept; each step's time is the earliest any phone of the crew claimed.
    assert row.status == "restored" and row.restored_at <= minutes_ago(9) and row.en_route_at <= minutes_ago(29)
    history = [(e.details["value"], e.details["won"]) for e in await events(session, incident.id)
               if e.kind == "cause_set"]
    assert history == [("Tree branch on the line", True), ("Blown fuse", False)]


async def test_dispatcher_actions_refuse_what_breaks_the_rules(clock, session, world):
    incident_id, crew_a = (await make_incident(session)).id, world["crew_a"].id
    # A refused action rolls its transaction back, which expires what this session loaded: hold plain values.
    desk = SimpleNamespace(id=world["dispatcher"].id, role="dispatcher")
    incident = SimpleNamespace(id=incident_id)
    with pytest.raises(Refused, match="no crew number"):
        await actions.assign_crew(session, incident.id, 99_999_999, desk)
    with pytest.raises(Refused, match="no incident number"):
        await actions.cancel_incident(session, 99_999_999, "x", desk)
    with pytest.raises(Refused, match="between now and 14 days"):
        await actions.set_etr(session, incident.id, utcnow() - timedelta(hours=1), desk)
    with pytest.raises(Refused, match="only a restored incident"):
        await actions.close_incident(session, incident.id, desk)
    with pytest.raises(Refused, match="Say why"):
        await actions.cancel_incident(session, incident.id, "  ", desk)
    with pytest.raises(Refused, match="Write the note"):
        await actions.add_note(session, incident.id, "", desk)
    etr = utcnow() + timedelta(hours=3)
    await actions.set_etr(session, incident.id, etr, desk)
    author = (await actions.add_note(session, incident.id, "Bring a ladder", desk)).author_role
    await actions.cancel_incident(session, incident.id, "No fault found", desk)
    with pytest.raises(Refused, match="cannot be given to a crew"):
        await actions.assign_crew(session, incident.id, crew_a, desk)
    kinds = [e.kind for e in await events(session, incident.id)]
    assert kinds[-3:] == ["etr_set", "note", "cancelled"]
    assert author == "dispatcher"


async def test_the_timeline_records_and_field_records_cannot_be_rewritten(session, world):
    incident = await make_incident(session)
    note_id = (await actions.add_note(session, incident.id, "Permanent", world["dispatcher"])).id
    for statement in ("UPDATE note SET text = 'changed' WHERE id = :id", "DELETE FROM note WHERE id = :id"):
        with pytest.raises(Exception, match="append-only"):
            await session.exec(text(statement), params={"id": note_id})
        await session.rollback()


async def test_customers_are_told_when_the_crew_is_on_the_way_and_when_power_is_back(app, session, world):
    incident = await make_incident(session)
    await session.exec(text("""
        INSERT INTO report (channel, category, phone, language, location, incident_id, tracking_token)
        VALUES ('sms', 'no_power', '+254700555123', 'en', 'SRID=4326;POINT(37.6 -1.0)', :id, :token)"""),
        params={"id": incident.id, "token": uuid.uuid4().hex})
    await session.commit()
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        await phone.push(phone.make("en_route", incident_id=incident.id),
                         phone.make("en_route", incident_id=incident.id),
                         phone.make("restored", incident_id=incident.id, cause="Blown fuse"))
    told = list(await session.exec(text("SELECT kind, recipient, payload FROM outbox WHERE incident_id = :id "
                                        "ORDER BY id"), params={"id": incident.id}))
    assert [(row.kind, row.recipient) for row in told] == [("en_route", "+254700555123"),
                                                           ("restored", "+254700555123")]
    assert world["crew_a"].code in told[0].payload["text"]


async def test_events_written_by_a_batch_keep_the_timeline_chain_intact(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone:
        await phone.push(phone.make("en_route", incident_id=incident.id),
                         phone.make("arrived", incident_id=incident.id, checkin_id=new_id(), latitude=-1.0,
                                    longitude=37.6),
                         *[phone.make("note", incident_id=incident.id, note_id=new_id(), text=f"n{i}")
                           for i in range(5)])
    assert [row.seq for row in await session.exec(text(
        "SELECT seq FROM incident_event WHERE incident_id = :id ORDER BY id"), params={"id": incident.id})] == \
        list(range(1, 10))
    # This job's chain only: other tests tamper with theirs on purpose.
    broken = (await session.exec(text("""
        SELECT count(*) FROM (
            SELECT e.hash, e.prev_hash, lag(e.hash) OVER (ORDER BY e.seq) AS before,
                   incident_event_digest(e.prev_hash, e) AS recomputed
            FROM incident_event e WHERE e.incident_id = :id) c
        WHERE c.prev_hash IS DISTINCT FROM c.before OR c.hash IS DISTINCT FROM c.recomputed"""),
        params={"id": incident.id})).scalar_one()
    assert broken == 0
