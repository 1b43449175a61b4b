"""Work through sync on another crew's job (issue 16, item 7): a job that was never the crew's is refused and
nothing of it is stored, its photo file included; a job taken from the crew (reassigned while they were offline)
keeps their work, with a conflict for a supervisor."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from server.incidents import actions
from tests.integration.test_crew_photos import folder, phone_jpeg, upload
from tests.integration.test_sync_push import signed_in, statuses
from tests.integration.test_sync_support import events, fresh, make_crew, make_incident, make_staff, new_id

RECORDS = ("note", "checkin", "photo", "material_use")


@pytest.fixture
async def world(session):
    crew_a, crew_b = await make_crew(session, "C01 like"), await make_crew(session, "C02 like")
    return {"crew_a": crew_a, "crew_b": crew_b,
            "lineman_a": await make_staff(session, "lineman", crew_a.id),
            "lineman_b": await make_staff(session, "lineman", crew_b.id),
            "dispatcher": await make_staff(session, "dispatcher")}


def _work(phone, incident_id: int) -> tuple[list[dict], dict]:
    ids = {"note": new_id(), "checkin": new_id(), "photo": new_id(), "material_use": new_id()}
    return [
        phone.make("note", incident_id=incident_id, note_id=ids["note"], text="Pole cracked near the base"),
        phone.make("arrived", incident_id=incident_id, checkin_id=ids["checkin"], latitude=-1.0, longitude=37.6),
        phone.make("photo", incident_id=incident_id, photo_id=ids["photo"], caption="The pole"),
        phone.make("materials", incident_id=incident_id, material_id=ids["material_use"], item="Fuse", quantity=2,
                   unit="pcs"),
    ], ids


async def _stored(session, ids: dict) -> dict:
    return {table: (await session.exec(text(f"SELECT count(*) FROM {table} WHERE id = :id"),
                                       params={"id": uuid.UUID(ids[table])})).scalar_one() for table in RECORDS}


async def test_work_on_a_job_never_the_crews_is_refused_and_nothing_of_it_is_stored(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    before = await events(session, incident.id)
    file_first = new_id()
    async with signed_in(app, world["lineman_b"]) as phone_b:
        # The file of a photo may come before its mutation: it is taken, then dropped with the mutation.
        await upload(phone_b, file_first, phone_jpeg((640, 480)), expect=201)
        work, ids = _work(phone_b, incident.id)
        steps = [phone_b.make("accept_job", incident_id=incident.id),
                 phone_b.make("en_route", incident_id=incident.id),
                 phone_b.make("photo", incident_id=incident.id, photo_id=file_first),
                 phone_b.make("restored", incident_id=incident.id, cause="Replaced the fuse")]
        answer = await phone_b.push(*work, *steps)
        assert statuses(answer) == ["rejected"] * 8, answer
        assert {r["reason"] for r in answer["results"]} == {"not_crews_job"}
        assert "never given to your crew" in answer["results"][0]["message"]
        assert "call dispatch" in answer["results"][0]["message"]
        assert answer["results"][2]["details"]["photo_id"] == ids["photo"]
        assert await phone_b.push(*work, *steps) == answer  # the same answers on a retry
        # The photo's file, after its mutation was refused, or again after it had come first: refused.
        for photo_id in (ids["photo"], file_first):
            late = await upload(phone_b, photo_id, phone_jpeg((640, 480)), expect=409)
            assert "never given to your crew" in late.json()["detail"]

    assert await _stored(session, ids) == dict.fromkeys(RECORDS, 0)
    uploads = (await session.exec(text("SELECT id FROM photo_file WHERE id = ANY(:ids)"),
                                  params={"ids": [uuid.UUID(ids["photo"]), uuid.UUID(file_first)]})).all()
    assert [str(row.id) for row in uploads] == [file_first]  # the record of the upload stays (append-only)…
    assert not list(folder(app).glob(f"{file_first}*")) and not list(folder(app).glob(f"{ids['photo']}*"))  # …not the photo
    row = await fresh(session, incident.id)
    assert (row.status, row.crew_id, row.cause) == ("assigned", world["crew_a"].id, None)
    assert await events(session, incident.id) == before  # nothing in the job's timeline either
    conflicts = (await session.exec(text("SELECT count(*) FROM sync_conflict WHERE incident_id = :id"),
                                    params={"id": incident.id})).scalar_one()
    assert conflicts == 0

    # The crew whose job it is, and the dispatcher, see none of it.
    async with signed_in(app, world["lineman_a"]) as phone_a:
        await phone_a.pull()
        assert phone_a.view[f"incident/{incident.id}"]["notes"] == []
    async with signed_in(app, world["dispatcher"]) as desk:
        panel = await desk.http.get(f"/dispatch/incidents/{incident.id}", headers={"accept": "text/html"})
        assert panel.status_code == 200 and "Pole cracked" not in panel.text
        assert (await desk.http.get(f"/photos/{file_first}.jpg")).status_code == 404


async def test_work_on_a_job_taken_from_the_crew_is_kept_with_a_conflict(app, session, world):
    incident = await make_incident(session, offset=1)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone_a:
        await phone_a.pull()
        # Crew A goes out of signal; dispatch gives the job to crew B; crew A works on, offline.
        await actions.reassign_crew(session, incident.id, world["crew_b"].id, world["dispatcher"])
        work, ids = _work(phone_a, incident.id)
        answer = await phone_a.push(*work)
        assert statuses(answer) == ["conflict"] * 4, answer
        assert {r["reason"] for r in answer["results"]} == {"not_assigned"}
        await upload(phone_a, ids["photo"], phone_jpeg((640, 480)), expect=201)
    assert await _stored(session, ids) == dict.fromkeys(RECORDS, 1)
    kinds = {row.kind for row in await session.exec(text(
        "SELECT kind FROM sync_conflict WHERE incident_id = :id"), params={"id": incident.id})}
    assert kinds == {"not_assigned"}


async def test_a_job_the_crew_held_before_it_was_given_to_another_counts_as_theirs(app, session, world):
    """A → B → A → B: crew A's offline work after the second reassignment is still kept."""
    incident = await make_incident(session, offset=2)
    for crew in ("crew_a", "crew_b", "crew_a", "crew_b"):
        await actions.assign_crew(session, incident.id, world[crew].id, world["dispatcher"])
    async with signed_in(app, world["lineman_a"]) as phone_a:
        work, ids = _work(phone_a, incident.id)
        assert statuses(await phone_a.push(*work)) == ["conflict"] * 4
    assert await _stored(session, ids) == dict.fromkeys(RECORDS, 1)
