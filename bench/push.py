"""Benchmark: Web Push messages per second through Faultline's outbox worker, beside a plain loop calling
pywebpush.webpush() on the same messages, in the same run, both against a local push service that
decrypts every message and checks its VAPID signature.

    .venv/bin/python -m bench.push [--messages 10000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psycopg
from pywebpush import webpush

from bench._common import bench_database
from server.app import make_courier
from server.db import make_engine
from server.notify.worker import deliver_due
from server.db_url import libpq_url
from server.secrets import load_or_create_secrets
from server.settings import ServerSettings, get_settings
from tests.support.push_service import PushService


def _queue(database_url: str, service: PushService, count: int) -> list[dict]:
    """One incident with `count` subscribed reports, and one queued push each."""
    subscriptions = []
    with psycopg.connect(libpq_url(database_url)) as conn:
        incident_id = conn.execute("INSERT INTO incident (category, report_count) VALUES ('no_power', %s) "
                                   "RETURNING id", (count,)).fetchone()[0]
        with conn.cursor().copy("COPY report (channel, category, language, incident_id, tracking_token) "
                                "FROM STDIN") as copy:
            for _ in range(count):
                copy.write_row(("web", "no_power", "sw", incident_id, secrets.token_urlsafe(16)))
        report_ids = [r[0] for r in conn.execute("SELECT id FROM report WHERE incident_id = %s ORDER BY id",
                                                 (incident_id,))]
        with conn.cursor().copy("COPY push_subscription (report_id, endpoint, p256dh, auth) FROM STDIN") as copy:
            for n, report_id in enumerate(report_ids):
                sub = service.subscribe(f"bench-{n}")
                subscriptions.append(sub)
                copy.write_row((report_id, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"]))
        payload = json.dumps({"title": "Umeme: FL-000001", "body": "FL-000001: umeme umerejeshwa.",
                              "url": "/t/x", "tag": "FL-000001-restored", "topic": "FL000001restored",
                              "urgency": "high"})
        conn.execute("""
            INSERT INTO outbox (channel, kind, incident_id, subscription_id, recipient, language, payload, dedupe_key)
            SELECT 'push', 'restored', %s, s.id, s.endpoint, 'sw', %s::jsonb, 'bench:' || s.id
            FROM push_subscription s JOIN report r ON r.id = s.report_id WHERE r.incident_id = %s""",
                     (incident_id, payload, incident_id))
    return subscriptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    settings = replace(get_settings(), server=replace(ServerSettings(), data_dir=Path(tempfile.mkdtemp())))
    keys = load_or_create_secrets(settings.server.data_dir)
    service = PushService(keys["vapid_public_key"])
    with bench_database(customers=1000) as url:
        subscriptions = _queue(url, service, args.messages)
        courier = make_courier(settings, keys)
        engine = make_engine(url, pool_size=10)
        started = time.perf_counter()
        sent = asyncio.run(deliver_due(engine, courier, concurrency=8))
        worker_seconds = time.perf_counter() - started
        asyncio.run(engine.dispose())
        assert sent == args.messages and len(service.deliveries) == args.messages and not service.refused

        body = json.dumps({"id": 1, "title": "Umeme: FL-000001", "body": "FL-000001: umeme umerejeshwa.",
                           "url": "/t/x", "tag": "FL-000001-restored"})
        started = time.perf_counter()
        for sub in subscriptions:  # the plain loop: a fresh claims dict each call (webpush writes into it)
            webpush(sub, body, vapid_private_key=keys["vapid_private_key"],
                    vapid_claims={"sub": settings.notify.vapid_subject}, ttl=86400, timeout=10)
        loop_seconds = time.perf_counter() - started
        assert len(service.deliveries) == 2 * args.messages and not service.refused
    service.close()
    worker_rate, loop_rate = args.messages / worker_seconds, args.messages / loop_seconds
    print(f"outbox worker (8 lanes, row locks, VAPID cached, one session per push service): "
          f"{worker_rate:8.0f} messages/s")
    print(f"plain loop of pywebpush.webpush():                                               {loop_rate:8.0f} messages/s")
    print(f"ratio worker/loop: {worker_rate / loop_rate:.2f}")


if __name__ == "__main__":
    main()
