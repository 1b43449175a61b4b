"""Housekeeping on real PostgreSQL: old rows go, recent ones stay, the crews' change log moves its floor (so an
older cursor gets a full reset), and two processes never keep house at the same time."""
from __future__ import annotations

from datetime import timedelta

import psycopg
from sqlalchemy import text

from server import housekeeping
from server.db_url import libpq_url
from sync import changes
from tests.integration.test_sync_support import make_crew, make_incident, make_staff

KEEP = timedelta(days=30)


async def _count(session, sql: str, **params) -> int:
    return (await session.exec(text(sql), params=params)).scalar_one()


async def test_old_rows_go_and_recent_ones_stay(clock, engine, session):
    """On any day: "old" and "recent" are by the code's clock (the rows' times are set from it here, as the
    database's own now() is not the clock the rules read)."""
    staff = await make_staff(session, "agent")
    crew = await make_crew(session, "Housekeeping")
    lineman = await make_staff(session, "lineman", crew.id)
    session.expunge(lineman)  # like request.user: loaded elsewhere, untouched by the pulls' rollbacks
    job = await make_incident(session, offset=77)
    await session.exec(text("UPDATE incident SET crew_id = :crew, status = 'assigned' WHERE id = :id"),
                       params={"crew": crew.id, "id": job.id})
    await session.commit()
    staff_id, job_id = staff.id, job.id  # a pull ends in a rollback, which expires loaded objects
    before = await changes.pull(session, lineman, None)
    await session.exec(text("UPDATE incident SET rev = rev + 1 WHERE id = :id"), params={"id": job_id})
    await session.commit()  # a change after that pull, which the prune below will drop
    for statement in (
            # rows of this test's runs at other instants (which may lie ahead of this one) would be counted
            "DELETE FROM live_event WHERE ref_id IN (-1, -2)", "DELETE FROM rate_hit WHERE key LIKE 'hk-%'",
            "INSERT INTO live_event (topic, ref_id, at) VALUES ('crew', -1, :now - interval '3 days'),"
            " ('crew', -2, :now - interval '1 hour')",
            "INSERT INTO staff_session (token_hash, staff_id, created_at, expires_at) VALUES"
            " (md5('old' || :staff), :staff, :now - interval '3 days', :now - interval '2 days'),"
            " (md5('new' || :staff), :staff, :now, :now + interval '12 hours')",
            "INSERT INTO rate_hit (key, window_start, hits) VALUES ('hk-old', :now - interval '2 days', 1),"
            " ('hk-new', :now, 1)",
            "UPDATE sync_change SET changed_at = :now - interval '40 days' WHERE incident_id = :job"):
        await session.exec(text(statement.replace(":now", "CAST(:now AS timestamptz)")),
                           params={"staff": staff_id, "job": job_id, "now": clock.now()})
    await session.commit()

    done = await housekeeping.tidy(engine, KEEP)

    assert not done.skipped and done.dropped["live_event"] >= 1 and done.dropped["sync_change"] >= 1
    assert await _count(session, "SELECT count(*) FROM live_event WHERE ref_id IN (-1, -2)") == 1
    assert await _count(session, "SELECT count(*) FROM staff_session WHERE staff_id = :staff", staff=staff_id) == 1
    assert await _count(session, "SELECT count(*) FROM rate_hit WHERE key LIKE 'hk-%'") == 1
    assert await _count(session, "SELECT count(*) FROM sync_change WHERE incident_id = :job", job=job_id) == 0
    # The phone that pulled before the prune is told to start again, and gets its job back.
    again = await changes.pull(session, lineman, before.cursor)
    assert again.reset and any(op.get("key") == f"incident/{job_id}" for op in again.ops)


async def test_a_second_process_skips_while_the_first_keeps_house(engine, database_url):
    with psycopg.connect(libpq_url(database_url)) as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtext('faultline housekeeping'))")
        assert (await housekeeping.tidy(engine, KEEP)).skipped
    assert not (await housekeeping.tidy(engine, KEEP)).skipped

