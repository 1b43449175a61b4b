"""A push that meets a deadlock or a serialization failure is run again on the server, from scratch, before the
phone is told to come back (issue 16, item 8). Both are real: a second connection takes the locks the other
way round, or commits a change to the job inside the push's snapshot."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.incidents import actions
from server.db_url import libpq_url
from sync import service
from sync.mutations import parse_batch
from tests.integration.test_sync_push import signed_in, statuses
from tests.integration.test_sync_support import make_crew, make_incident, make_staff, mutation, new_id


@pytest.fixture
async def world(session):
    crew = await make_crew(session, "Retry crew")
    return {"crew": crew, "lineman": await make_staff(session, "lineman", crew.id),
            "dispatcher": await make_staff(session, "dispatcher")}


async def _waits_for(watcher: psycopg.AsyncConnection, blocker_pid: int) -> int:
    """The pid of the backend that waits for one of the blocker's locks, once it waits (up to 10 s)."""
    for _ in range(200):
        row = await (await watcher.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                           (blocker_pid,))).fetchone()
        if row:
            return row[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the push never waited for the other connection's lock")


async def _counts(session, client_id: str, incident_id: int) -> tuple:
    found = await session.exec(text("""
        SELECT (SELECT count(*) FROM note WHERE incident_id = :incident) AS notes,
               (SELECT count(*) FROM crew_ping p JOIN sync_mutation m ON m.sent->'args'->>'ping_id' = p.id::text
                WHERE m.client_id = :client) AS pings,
               (SELECT count(*) FROM sync_mutation WHERE client_id = :client) AS recorded,
               (SELECT last_mutation_id FROM sync_client WHERE client_id = :client) AS last
    """), params={"incident": incident_id, "client": uuid.UUID(client_id)})
    return tuple(found.one())


def _take_locks_the_other_way(database_url: str, crew_id: int, incident_id: int, holding: threading.Event,
                              failed: list) -> None:
    """The other transaction, in a thread of its own (the test client blocks the test's event loop while the
    app answers): it holds the crew's row; the push locks the job, then needs the crew's row (its records
    name the crew); this one then asks for the job. Each waits for the other — a real deadlock, which
    PostgreSQL breaks by failing the push, the first to wait — and this one lets go at once."""
    try:
        with psycopg.connect(libpq_url(database_url)) as other, \
                psycopg.connect(libpq_url(database_url), autocommit=True) as watcher:
            # This side checks for a deadlock only after 10 s, the push after PostgreSQL's default 1 s: the push is
            # always the one failed, however busy the machine (which side is checked first decides it).
            other.execute("SET deadlock_timeout = '10s'")
            other.execute("SELECT id FROM crew WHERE id = %s FOR UPDATE", (crew_id,))
            holding.set()
            for _ in range(400):
                if watcher.execute("SELECT 1 FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                   (other.info.backend_pid,)).fetchone():
                    break
                time.sleep(0.025)
            else:
                raise AssertionError("the push never waited for the other transaction's lock")
            other.execute("SELECT id FROM incident WHERE id = %s FOR UPDATE", (incident_id,))  # the cycle
            other.rollback()
    except BaseException as error:  # noqa: BLE001  (seen by the test)
        failed.append(error)


async def test_a_push_that_meets_a_deadlock_is_run_again_and_answered(app, session, world, database_url, caplog):
    caplog.set_level(logging.INFO, logger="faultline.sync")
    incident = await make_incident(session)
    await actions.assign_crew(session, incident.id, world["crew"].id, world["dispatcher"])
    failed, holding = [], threading.Event()
    async with signed_in(app, world["lineman"]) as phone:
        batch = [phone.make("note", incident_id=incident.id, note_id=new_id(), text="Before the fix"),
                 phone.make("position", ping_id=new_id(), latitude=-1.0, longitude=37.6),
                 phone.make("en_route", incident_id=incident.id)]
        other = threading.Thread(target=_take_locks_the_other_way,
                                 args=(database_url, world["crew"].id, incident.id, holding, failed))
        other.start()
        assert holding.wait(10)  # the other transaction holds the crew's row first
        response = await phone.http.post("/sync/push", json={"client_id": phone.client_id, "mutations": batch},
                                         headers={"x-csrftoken": phone.token})
        other.join(30)
    assert not failed, failed
    assert response.status_code == 200, response.text  # not 503: the phone need not send it again
    assert statuses(response.json()) == ["applied"] * 3
    assert any("40P01" in record.getMessage() for record in caplog.records), "no deadlock met"
    assert await _counts(session, phone.client_id, incident.id) == (1, 1, 3, 3)  # once, from scratch


async def test_a_push_that_meets_a_serialization_failure_is_run_again(session, engine, world, database_url,
                                                                     caplog):
    """Under SERIALIZABLE, a change to the job committed after the push's snapshot was taken and before it locks
    the job fails the push with 40001; the second try, in a new transaction, sees it and goes through."""
    caplog.set_level(logging.INFO, logger="faultline.sync")
    incident = await make_incident(session, offset=1)
    await actions.assign_crew(session, incident.id, world["crew"].id, world["dispatcher"])
    client_id = new_id()
    batch = parse_batch({"client_id": client_id, "mutations": [
        mutation(1, "note", incident_id=incident.id, note_id=new_id(), text="Checked the line"),
        mutation(2, "en_route", incident_id=incident.id)]})
    serializable = engine.execution_options(isolation_level="SERIALIZABLE")
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as other, \
            AsyncSession(serializable, expire_on_commit=False) as pushing:
        # The push's first statement takes its snapshot, then waits for its client's lock (held here).
        await other.execute("SELECT pg_advisory_lock(5, hashtext(%s))", (client_id,))
        pushed = asyncio.create_task(service.push_retrying(pushing, world["lineman"], batch))
        await _waits_for(other, other.info.backend_pid)
        await other.execute("UPDATE incident SET priority = 'high' WHERE id = %s", (incident.id,))
        await other.execute("SELECT pg_advisory_unlock(5, hashtext(%s))", (client_id,))
        result = await asyncio.wait_for(pushed, 30)
    assert [answer.status for answer in result.answers] == ["applied", "applied"]
    assert any("40001" in record.getMessage() for record in caplog.records), "no serialization failure met"
    found = await session.exec(text("SELECT priority, status FROM incident WHERE id = :id"),
                               params={"id": incident.id})
    assert tuple(found.one()) == ("high", "en_route")  # the other's change kept, the push's applied once
    notes = await session.exec(text("SELECT count(*) FROM note WHERE incident_id = :id"), params={"id": incident.id})
    assert notes.scalar_one() == 1


def test_only_a_serialization_failure_or_a_deadlock_is_retried():
    class Orig:
        def __init__(self, sqlstate):
            self.sqlstate = sqlstate

    class Failure(Exception):
        def __init__(self, sqlstate):
            self.orig = Orig(sqlstate)

    assert service.retryable(Failure("40001")) and service.retryable(Failure("40P01"))
    assert not service.retryable(Failure("23505")) and not service.retryable(Failure("57014"))
    assert not service.retryable(ValueError())
