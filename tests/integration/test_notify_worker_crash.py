"""A worker killed mid-batch and restarted drops nothing, and whatever it sends again carries the same id and
tag, so the phone still shows it once (delivery is at least once: see server/notify/worker.py)."""
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import psycopg
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine, utcnow
from server.incidents.models import Incident
from server.notify.service import queue_incident_notice
from server.db_url import libpq_url
from server.reports.rules import ReportInput
from server.reports.service import take_report
from server.secrets import load_or_create_secrets
from tests.support.push_service import PushService

PHONES = 300


def _worker(database_url, data_dir):
    env = dict(os.environ, DATABASE_URL=database_url, FAULTLINE_DATA_DIR=str(data_dir))
    log = (data_dir / "crash-worker.log").open("ab")  # read back when the test fails
    return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env, stdout=log, stderr=log)


async def test_a_killed_worker_drops_nothing_and_repeats_only_in_flight_messages(database_url, test_settings):
    service = PushService(load_or_create_secrets(test_settings.server.data_dir)["vapid_public_key"])
    with psycopg.connect(libpq_url(database_url)) as conn:
        lat, lon = conn.execute("""
            SELECT ST_Y(t.location::geometry), ST_X(t.location::geometry) FROM transformer t
            WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id)
            ORDER BY t.code OFFSET 90 LIMIT 1""").fetchone()
    engine = make_engine(database_url, pool_size=2)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        first = await take_report(session, ReportInput("no_power", "+254733000000", lat, lon, None, "", "en"), "web")
    incident_id, report_id = first.incident.id, first.report.id
    with psycopg.connect(libpq_url(database_url)) as conn:
        for n in range(PHONES):
            sub = service.subscribe(f"crash-{n}")
            new_report = conn.execute("""
                INSERT INTO report (channel, category, phone, language, location, incident_id, tracking_token)
                SELECT channel, category, %s, language, location, incident_id, %s FROM report WHERE id = %s
                RETURNING id""", (f"+2547330{n:05d}", secrets.token_urlsafe(16), report_id)).fetchone()[0]
            conn.execute("INSERT INTO push_subscription (report_id, endpoint, p256dh, auth) VALUES (%s, %s, %s, %s)",
                         (new_report, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"]))
    async with AsyncSession(engine, expire_on_commit=False) as session:
        incident = await session.get(Incident, incident_id)
        assert await queue_incident_notice(session, incident, "restored", test_settings) == PHONES + 1  # +1 SMS
        await session.commit()
    await engine.dispose()
    with psycopg.connect(libpq_url(database_url)) as conn:  # other tests' queued messages wait: counts are ours
        conn.execute("UPDATE outbox SET next_try_at = %s "  # the worker judges "due" by server.db.utcnow()
                     "WHERE status = 'pending' AND incident_id IS DISTINCT FROM %s",
                     (utcnow() + timedelta(days=1), incident_id))

    kills = 0
    for target in (PHONES // 3, 2 * PHONES // 3):
        worker = _worker(database_url, test_settings.server.data_dir)
        deadline = time.monotonic() + 120
        while len(service.deliveries) < target and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.005)
        worker.send_signal(signal.SIGKILL)  # no goodbye: mid-batch, possibly mid-request
        worker.wait()
        kills += 1
    worker = _worker(database_url, test_settings.server.data_dir)
    deadline = time.monotonic() + 120
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            pending = conn.execute("SELECT count(*) FROM outbox WHERE incident_id = %s AND status <> 'sent'",
                                   (incident_id,)).fetchone()[0]
            if pending == 0:
                break
            time.sleep(0.1)
    worker.terminate()
    worker.wait()
    service.close()

    worker_log = (test_settings.server.data_dir / "crash-worker.log").read_text(errors="replace")[-3000:]
    assert pending == 0, f"{pending} messages were left unsent; the worker said:\n{worker_log}"
    assert service.refused == []
    received = Counter(d.subscriber for d in service.deliveries)
    assert set(received) == {f"crash-{n}" for n in range(PHONES)}  # nothing dropped
    repeated = {name: count for name, count in received.items() if count > 1}
    assert sum(count - 1 for count in repeated.values()) <= kills * 8  # at most what was in flight (8 lanes)
    for name in repeated:  # a repeat is the same message: same outbox id and tag, shown once on the phone
        copies = [d.message for d in service.deliveries if d.subscriber == name]
        assert len({(m["id"], m["tag"]) for m in copies}) == 1
    print(f"\n{PHONES} messages, {kills} kills, {sum(received.values()) - PHONES} re-sent in flight")
