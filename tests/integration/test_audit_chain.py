"""The timeline is tamper-evident: edits and deletions made with SQL behind the application's back show."""
import psycopg
import pytest
from click.testing import CliRunner
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit.chain import SETTLE_SECONDS, verify_chain
from server.cli import main as faultline
from server.db import make_engine, utcnow
from server.db_url import libpq_url
from server.settings import get_settings
from tests.conftest import sign_in


def _tamper(url, sql, *params):
    """Run SQL as an intruder would: with the append-only guard switched off, restoring it after."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("ALTER TABLE incident_event DISABLE TRIGGER incident_event_append_only")
        try:
            conn.execute(sql, params)
        finally:
            conn.execute("ALTER TABLE incident_event ENABLE TRIGGER incident_event_append_only")


@pytest.fixture
def tamper(database_url):
    return lambda sql, *params: _tamper(database_url, sql, *params)


@pytest.fixture
def tamper_in():
    return _tamper


async def _check(database_url, anchors, settle_seconds=0):
    """A check; events count as settled at once unless said otherwise (the test's events are all new)."""
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        check = await verify_chain(session, anchors, settle_seconds)
    await engine.dispose()
    return check


def _rows(database_url, sql, params=()):
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(sql, params).fetchall()


def _events(database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute("SELECT id, incident_id, seq FROM incident_event ORDER BY id").fetchall()


async def test_an_event_committed_late_is_no_false_alarm(clock, database_url, tmp_path):
    """An event's id is taken at insert, not at commit: a slow transaction's event may appear after a check
    anchored a newer id. The anchor covers only settled events, so the next check stays clean. On any day: the
    events are stamped by the code's clock, as the app stamps them, and settle by it."""
    anchors = tmp_path / "anchors.jsonl"
    first, second = (row[0] for row in _rows(database_url, "SELECT id FROM incident ORDER BY id LIMIT 2"))
    insert = ("INSERT INTO incident_event (incident_id, kind, actor, server_time, details) "
              "VALUES (%s, 'note', 'staff:test', %s, '{}')")
    with psycopg.connect(libpq_url(database_url)) as slow:
        slow.execute(insert, (first, utcnow()))  # its id is taken now, its commit comes later
        with psycopg.connect(libpq_url(database_url), autocommit=True) as quick:
            quick.execute(insert, (second, utcnow()))  # a newer id, committed at once
        assert (await _check(database_url, anchors, SETTLE_SECONDS)).intact
        slow.commit()
    check = await _check(database_url, anchors, SETTLE_SECONDS)
    assert check.intact, check.english()
    # Without the settling time (anchoring every committed event) the same sequence is a false alarm.
    fresh = tmp_path / "unsettled.jsonl"
    with psycopg.connect(libpq_url(database_url)) as slow:
        slow.execute(insert, (first, utcnow()))
        with psycopg.connect(libpq_url(database_url), autocommit=True) as quick:
            quick.execute(insert, (second, utcnow()))
        assert (await _check(database_url, fresh, 0)).intact
        slow.commit()
    assert (await _check(database_url, fresh, 0)).problem == "anchor"


async def test_each_kind_of_tampering_is_found(database_url, tamper, tmp_path):
    anchors = tmp_path / "anchors.jsonl"
    assert (await _check(database_url, anchors)).intact
    events = _events(database_url)
    chains = {}
    for event_id, incident_id, seq in events:
        chains.setdefault(incident_id, []).append(event_id)
    long_chain = max(chains.values(), key=len)
    assert len(long_chain) >= 3

    # 1. An edited event.
    tamper("UPDATE incident_event SET details = '{\"report_id\": 999}' WHERE id = %s", long_chain[1])
    check = await _check(database_url, anchors)
    assert (check.broken_event_id, check.problem) == (long_chain[1], "altered")
    # ... and the intruder recomputes that event's hash and the next ones: the chain is whole again,
    # but the anchor written by the first clean check no longer matches.
    tamper("""UPDATE incident_event e SET hash = incident_event_digest(e.prev_hash, e) WHERE id = %s""",
           long_chain[1])
    for later in long_chain[2:]:
        tamper("""UPDATE incident_event e SET prev_hash = p.hash FROM incident_event p
                  WHERE e.id = %s AND p.incident_id = e.incident_id AND p.seq = e.seq - 1""", later)
        tamper("UPDATE incident_event e SET hash = incident_event_digest(e.prev_hash, e) WHERE id = %s", later)
    check = await _check(database_url, anchors)
    assert not check.intact and check.problem == "anchor" and "no longer match" in check.english()


async def test_a_deleted_event_leaves_a_gap(database_url, tamper, tmp_path):
    events = _events(database_url)
    by_incident = {}
    for event_id, incident_id, seq in events:
        by_incident.setdefault(incident_id, []).append(event_id)
    chain = next(ids for ids in by_incident.values() if len(ids) >= 3)
    tamper("DELETE FROM incident_event WHERE id = %s", chain[1])
    check = await _check(database_url, tmp_path / "fresh.jsonl")
    assert check.broken_event_id == chain[2] and check.problem == "missing"


def test_verify_from_the_command_line(database_url, tamper, monkeypatch, tmp_path):
    first_event = _events(database_url)[0][0]
    tamper("UPDATE incident_event SET actor = 'someone else' WHERE id = %s", first_event)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("FAULTLINE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(faultline, ["audit", "verify"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "BROKEN" in result.output and "contents were changed" in result.output


async def test_the_audit_page_says_what_is_wrong_in_the_readers_language(client, database_url, tamper):
    from server.i18n import gettext
    event_id, actor = _rows(database_url, "SELECT id, actor FROM incident_event ORDER BY id DESC LIMIT 1")[0]
    tamper("UPDATE incident_event SET actor = 'someone else' WHERE id = %s", event_id)
    try:
        await sign_in(client, "supervisor")
        client.cookies.set("fl_lang", "sw")
        page = await client.get("/supervisor/audit", headers={"accept": "text/html"})
    finally:
        tamper("UPDATE incident_event SET actor = %s WHERE id = %s", actor, event_id)
    assert page.status_code == 200 and "contents were changed" not in page.text
    assert gettext("sw", "its contents were changed") in page.text


async def test_only_supervisors_and_admins_see_the_audit(client):
    assert (await client.get("/supervisor/audit")).status_code == 401
    await sign_in(client, "dispatcher")
    assert (await client.get("/supervisor/audit")).status_code == 403
    client.cookies.clear()
    await sign_in(client, "supervisor")
    page = await client.get("/supervisor/audit")
    assert page.status_code == 200 and "Audit log check" in page.text


@pytest.fixture
def own_database(db_server):
    """A database of this test's own with one incident and three events recorded ten minutes ago (settled), so
    the shared one's tampering by the tests above cannot decide what the command says."""
    import uuid

    from server import migrate
    from server.provision import drop_database
    name = f"faultline_audit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(db_server.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = db_server.url_for(name)
    migrate.upgrade(url)
    with psycopg.connect(libpq_url(url)) as conn:
        incident, = conn.execute("INSERT INTO incident (code, category, status, priority, report_count, reported_at, "
                                 "last_report_at, rev) VALUES ('FL-000001', 'no_power', 'reported', 'normal', 1, "
                                 "now(), now(), 1) RETURNING id").fetchone()
        for kind in ("reported", "note", "note"):
            conn.execute("INSERT INTO incident_event (incident_id, kind, actor, server_time, details) "
                         "VALUES (%s, %s, 'staff:test', now() - interval '10 minutes', '{}')", (incident, kind))
    yield url
    drop_database(db_server, name)


def test_the_command_exits_non_zero_on_any_broken_chain_or_anchor(own_database, tamper_in, tmp_path):
    """What a cron job or a monitor sees: the real `faultline audit verify`, its exit status and its words."""
    import os
    import subprocess
    import sys

    def verify():
        env = dict(os.environ, DATABASE_URL=own_database, FAULTLINE_DATA_DIR=str(tmp_path))
        done = subprocess.run([sys.executable, "-m", "server.cli", "audit", "verify"], env=env, capture_output=True,
                              text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    status, said = verify()
    assert status == 0 and said.startswith("Intact: 3 events"), said  # and an anchor is written
    assert (tmp_path / "audit-anchors.jsonl").stat().st_mode & 0o777 == 0o600
    tamper_in(own_database, "UPDATE incident_event SET actor = 'someone else' WHERE seq = 2")
    status, said = verify()
    assert status == 1 and "BROKEN: incident FL-000001, event #2 (step 2): its contents were changed" in said
    tamper_in(own_database, "UPDATE incident_event SET actor = 'staff:test' WHERE seq = 2")
    assert verify()[0] == 0
    tamper_in(own_database, "DELETE FROM incident_event WHERE seq = 3")  # the newest: no gap, but the anchor knows
    status, said = verify()
    assert status == 1 and "no longer match" in said, said
