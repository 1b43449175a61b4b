"""Pull never skips a committed change, whatever order concurrent transactions commit in."""
from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import psycopg
from sqlalchemy import text

from server.incidents import actions
from server.db_url import libpq_url
from sync import changes
from tests.integration.test_sync_support import make_crew, make_incident, make_staff


async def _crew_with_jobs(session, count):
    crew = await make_crew(session, "Cursor crew")
    lineman = await make_staff(session, "lineman", crew.id)
    desk = await make_staff(session, "dispatcher")
    jobs = []
    for offset in range(count):
        incident = await make_incident(session, offset=offset)
        await actions.assign_crew(session, incident.id, crew.id, desk)
        jobs.append(incident.id)
    # Who pulls, detached from the session as request.user is (a pull ends its own transaction).
    return SimpleNamespace(id=lineman.id, crew_id=lineman.crew_id), jobs


def _put_ids(pull: changes.Pull) -> set[int]:
    return {op["value"]["id"] for op in pull.ops if op["op"] == "put"}


async def test_an_early_transaction_committing_late_is_not_skipped(session, database_url):
    lineman, (first, second) = await _crew_with_jobs(session, 2)
    start = await changes.pull(session, lineman, None)
    url = libpq_url(database_url)
    with psycopg.connect(url) as slow, psycopg.connect(url) as quick:
        # The slow transaction writes first (smaller change id), the quick one commits first.
        slow.execute("UPDATE incident SET rev = rev + 1 WHERE id = %s", (first,))
        quick.execute("UPDATE incident SET rev = rev + 1 WHERE id = %s", (second,))
        quick.commit()
        ids = dict(slow.execute("SELECT incident_id, max(id) FROM sync_change WHERE incident_id IN (%s, %s) "
                                "GROUP BY incident_id", (first, second)).fetchall())
        while_open = await changes.pull(session, lineman, start.cursor)
        assert _put_ids(while_open) == {second}
        # A cursor on the change id would now stand past the slow transaction's row, which is still to commit:
        assert ids[first] < ids[second]
        slow.commit()
    after = await changes.pull(session, lineman, while_open.cursor)
    assert first in _put_ids(after)
    assert second not in _put_ids(await changes.pull(session, lineman, after.cursor))


async def test_many_interleaved_writers_and_a_busy_puller_lose_nothing(session, database_url):
    """Writers in threads hold transactions open for random times and commit or roll back in any order while
    the puller pulls without pause. Each job changes at most once, so a skipped change would never show."""
    lineman, jobs = await _crew_with_jobs(session, 48)
    cursor = (await changes.pull(session, lineman, None)).cursor
    todo, committed, commit_order, lock = list(jobs), set(), [], threading.Lock()
    rng = random.Random(5)
    url = libpq_url(database_url)

    def writer(seed: int) -> None:
        local = random.Random(seed)
        with psycopg.connect(url) as conn:
            while True:
                with lock:
                    if not todo:
                        return
                    job = todo.pop(local.randrange(len(todo)))
                conn.execute("UPDATE incident SET rev = rev + 1 WHERE id = %s", (job,))
                time.sleep(local.uniform(0, 0.03))
                if local.random() < 0.15:
                    conn.rollback()
                    continue
                with lock:  # held across the commit, so the list is the true commit order
                    conn.commit()
                    committed.add(job)
                    commit_order.append(job)

    threads = [threading.Thread(target=writer, args=(rng.random(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    seen: set[int] = set()
    pulls = 0
    while any(thread.is_alive() for thread in threads):
        pull = await changes.pull(session, lineman, cursor)
        seen |= _put_ids(pull)
        cursor, pulls = pull.cursor, pulls + 1
        await asyncio.sleep(0.002)
    for thread in threads:
        thread.join()
    pull = await changes.pull(session, lineman, cursor)
    seen |= _put_ids(pull)
    assert committed and pulls > 5
    assert committed <= seen, f"skipped: {committed - seen}"
    # The test means something only if change ids were committed out of their order.
    change_id = dict((await session.exec(text(
        "SELECT incident_id, max(id) FROM sync_change WHERE incident_id = ANY(:ids) GROUP BY incident_id"),
        params={"ids": commit_order})).all())
    ids_in_commit_order = [change_id[job] for job in commit_order]
    assert ids_in_commit_order != sorted(ids_in_commit_order)
    # Rolled-back writes left nothing to pull once the horizon passed them.
    assert _put_ids(await changes.pull(session, lineman, pull.cursor)) == set()


async def test_a_cursor_older_than_the_pruned_log_gets_a_full_reset(session):
    lineman, (job,) = await _crew_with_jobs(session, 1)
    old = await changes.pull(session, lineman, None)
    await session.exec(text("UPDATE incident SET rev = rev + 1 WHERE id = :id"), params={"id": job})
    await session.commit()
    dropped = await changes.prune_change_log(session, timedelta(seconds=0))
    assert dropped >= 1
    again = await changes.pull(session, lineman, old.cursor)
    assert again.reset and job in _put_ids(again)
    newer = await changes.pull(session, lineman, again.cursor)
    assert not newer.reset
