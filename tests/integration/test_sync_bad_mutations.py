"""One malformed mutation is refused alone (issue 16, item 2): what PostgreSQL cannot keep (a lone surrogate,
NUL, a number that is not finite or does not fit a bigint), nesting too deep and a mutation too large are
answered `rejected` with their reason, the good mutations beside them are applied, a retry gets the same
answers, and nothing answers 5xx."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from server.incidents import actions
from tests.integration.test_sync_push import signed_in, statuses
from tests.integration.test_sync_support import make_crew, make_incident, make_staff, mutation, new_id


@pytest.fixture
async def world(session):
    crew = await make_crew(session, "Bad input crew")
    return {"crew": crew, "lineman": await make_staff(session, "lineman", crew.id),
            "dispatcher": await make_staff(session, "dispatcher")}


def _note(mutation_id: int, incident_id: int, text_: str) -> str:
    return json.dumps(mutation(mutation_id, "note", incident_id=incident_id, note_id=new_id(), text=text_))


def _body(client_id: str, *mutations: str) -> bytes:
    """A push as the bytes on the wire: the bad mutation is written by hand, as a broken app would."""
    return ('{"client_id": "%s", "mutations": [%s]}' % (client_id, ", ".join(mutations))).encode()


NOTE = '{"id": 2, "name": "note", "client_time": "2026-11-22T09:00:00+03:00", "args": {"incident_id": %(job)s, ' \
       '"note_id": "%(uuid)s", %(extra)s}}'
ARRIVED = '{"id": 2, "name": "arrived", "client_time": "2026-11-22T09:00:00+03:00", "args": {"incident_id": %(job)s, ' \
          '"checkin_id": "%(uuid)s", "longitude": 37.6, %(extra)s}}'

# (the bad mutation, the field and the problem its answer names)
MALFORMED = {
    "lone surrogate in a note": (NOTE, '"text": "Pole \\ud83d leaning"', "text has a broken character"),
    "lone low surrogate in a note": (NOTE, '"text": "\\ude00"', "text has a broken character"),
    "lone surrogate in an argument's name": (NOTE, '"text": "ok", "te\\ud83dxt": 1', "has a broken character"),
    "lone surrogate in the mutation's name":
        ('{"id": 2, "name": "note\\ud83d", "client_time": "2026-11-22T09:00:00+03:00", "args": {"incident_id": '
         '%(job)s, "note_id": "%(uuid)s", %(extra)s}}', '"text": "ok"', "name has a broken character"),
    "lone surrogate in the client time":
        ('{"id": 2, "name": "note", "client_time": "2026-11-22T09:00:00+03:00\\ud83d", "args": {"incident_id": '
         '%(job)s, "note_id": "%(uuid)s", %(extra)s}}', '"text": "ok"', "client_time has a broken character"),
    "lone surrogate in base_rev":
        ('{"id": 2, "name": "note", "base_rev": "\\ud83d", "client_time": "2026-11-22T09:00:00+03:00", "args": '
         '{"incident_id": %(job)s, "note_id": "%(uuid)s", %(extra)s}}', '"text": "ok"',
         "base_rev has a broken character"),
    "bytes that are not UTF-8": (NOTE, '"text": "caf\xe9"', "text has a broken character"),
    "NUL in a note": (NOTE, '"text": "nul\\u0000byte"', "text contains a character that is not allowed"),
    "NUL in an argument's name": (NOTE, '"text": "ok", "k\\u0000": 1', "contains a character that is not allowed"),
    "NUL in the mutation's name":
        ('{"id": 2, "name": "no\\u0000te", "client_time": "2026-11-22T09:00:00+03:00", "args": {"incident_id": '
         '%(job)s, "note_id": "%(uuid)s", %(extra)s}}', '"text": "ok"', "name contains a character"),
    "1e999 (infinity to Python)": (ARRIVED, '"latitude": 1e999', "latitude is not a finite number"),
    "-1e999": (ARRIVED, '"latitude": -1e999', "latitude is not a finite number"),
    "an integer beyond bigint": (NOTE, '"text": "ok", "count": 9223372036854775808', "count is a number too large"),
    "base_rev beyond bigint":
        ('{"id": 2, "name": "note", "base_rev": 99999999999999999999999, "client_time": '
         '"2026-11-22T09:00:00+03:00", "args": {"incident_id": %(job)s, "note_id": "%(uuid)s", %(extra)s}}',
         '"text": "ok"', "base_rev is a number too large"),
    "an integer of 5,000 digits": (NOTE, '"text": "ok", "count": ' + "9" * 5000, "count is a number too large"),
    "nesting 50 deep": (NOTE, '"text": "ok", "deep": ' + "[" * 50 + "]" * 50, "is nested too deeply"),
    "nesting 5,000 deep": (NOTE, '"text": "ok", "deep": ' + "[" * 5000 + "]" * 5000, "is nested too deeply"),
    "objects nested 3,000 deep": (NOTE, '"text": "ok", "deep": ' + '{"a": ' * 3000 + "1" + "}" * 3000,
                                  "is nested too deeply"),
}


@pytest.mark.parametrize("kind", MALFORMED)
async def test_a_malformed_mutation_is_refused_alone_and_the_good_ones_beside_it_apply(app, session, world, kind):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew"].id, world["dispatcher"])
    template, extra, said = MALFORMED[kind]
    bad = template % {"job": incident.id, "uuid": new_id(), "extra": extra}
    async with signed_in(app, world["lineman"]) as phone:
        raw = _body(phone.client_id, _note(1, incident.id, "before"), bad, _note(3, incident.id, "after"))
        raw = raw.replace("caf\xe9".encode(), b"caf\xe9")  # Latin-1, as a broken client would send it
        answers = []
        for _ in range(2):  # the answer is lost; the phone sends the same batch again
            response = await phone.http.post("/sync/push", content=raw, headers={
                "x-csrftoken": phone.token, "content-type": "application/json"})
            assert response.status_code == 200, response.text
            answers.append(response.json())
    first, again = answers
    assert again == first  # answered again from the record, identically
    assert statuses(first) == ["applied", "rejected", "applied"], first
    refused = first["results"][1]
    assert refused["reason"] == "unstorable", refused
    assert said in refused["message"] and "not recorded" in refused["message"], refused["message"]
    assert first["last_mutation_id"] == 3
    notes = [row.text for row in await session.exec(text(
        "SELECT text FROM note WHERE incident_id = :id ORDER BY client_time, text"), params={"id": incident.id})]
    assert sorted(notes) == ["after", "before"]
    stored = list(await session.exec(text(
        "SELECT mutation_id, outcome, reason, name, sent FROM sync_mutation WHERE client_id = :c ORDER BY mutation_id"),
        params={"c": uuid.UUID(phone.client_id)}))
    assert [(row.mutation_id, row.outcome) for row in stored] == [(1, "applied"), (2, "rejected"), (3, "applied")]
    assert stored[1].reason == "unstorable" and stored[1].sent["id"] == 2  # its cleaned copy is on record


async def test_a_lone_surrogate_in_an_unknown_name_is_refused_not_a_server_error(app, session, world):
    async with signed_in(app, world["lineman"]) as phone:
        raw = _body(phone.client_id, '{"id": 1, "name": "\\ud83d", "args": {}, "client_time": "x"}')
        response = await phone.http.post("/sync/push", content=raw, headers={
            "x-csrftoken": phone.token, "content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert statuses(response.json()) == ["rejected"]


async def test_a_push_too_large_says_so_and_how_large_is_allowed(app, world):
    async with signed_in(app, world["lineman"]) as phone:
        huge = mutation(1, "note", incident_id=1, note_id=new_id(), text="x" * (5 * 1024 * 1024))
        response = await phone.http.post("/sync/push", json={"client_id": phone.client_id, "mutations": [huge]},
                                         headers={"x-csrftoken": phone.token})
    assert response.status_code == 413
    body = response.json()
    assert "too large" in body["detail"] and "4096 KB" in body["detail"] and "64 KB" in body["detail"], body
    assert "1000" not in body["detail"]
    assert "stay on this phone" in body["detail"]  # nothing was lost
    assert (body["max_bytes"], body["max_mutation_bytes"]) == (4 * 1024 * 1024, 64 * 1024)  # for the app


async def test_one_mutation_too_large_is_refused_alone_whole_or_as_the_apps_stub(app, session, world):
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew"].id, world["dispatcher"])
    async with signed_in(app, world["lineman"]) as phone:
        batch = [phone.make("note", incident_id=incident.id, note_id=new_id(), text="before"),
                 phone.make("note", incident_id=incident.id, note_id=new_id(), text="x" * 100_000),
                 # What the app sends in place of an action it could not send whole: its envelope and size.
                 {"id": phone.next_id, "name": "note", "client_time": "2026-11-22T09:00:00+03:00",
                  "too_large": 5 * 1024 * 1024},
                 mutation(phone.next_id + 1, "note", incident_id=incident.id, note_id=new_id(), text="after")]
        first = await phone.push(*batch)
        assert await phone.push(*batch) == first
    assert statuses(first) == ["applied", "rejected", "rejected", "applied"], first
    whole, stub = first["results"][1], first["results"][2]
    assert whole["reason"] == stub["reason"] == "too_large"
    assert "too large" in whole["message"] and "98 KB" in whole["message"] and "64 KB" in whole["message"]
    assert "5120 KB" in stub["message"]
    sent = (await session.exec(text("SELECT sent FROM sync_mutation WHERE client_id = :c AND mutation_id = 2"),
                               params={"c": uuid.UUID(phone.client_id)})).scalar_one()
    assert "args" not in sent and sent["too_large"] > 100_000  # its envelope on record, not the 100 KB
