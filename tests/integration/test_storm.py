"""A storm: 5,000 reports over 40 transformers, filed concurrently, make exactly 40 incidents."""
import asyncio
import random

import psycopg
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from server.db_url import libpq_url
from server.reports.rules import ReportInput
from server.reports.service import take_report

REPORTS, TRANSFORMERS, WORKERS = 5000, 40, 8


async def test_a_storm_makes_one_incident_per_transformer(database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        transformers = conn.execute("""
            SELECT t.id, ST_Y(t.location::geometry), ST_X(t.location::geometry) FROM transformer t
            WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id)
            ORDER BY t.code DESC LIMIT %s""", (TRANSFORMERS,)).fetchall()
    assert len(transformers) == TRANSFORMERS
    rng = random.Random(7)
    storm = [(transformers[i % TRANSFORMERS], f"+25479{i:07d}", rng.choice(["no_power", "no_power", "danger"]))
             for i in range(REPORTS)]
    rng.shuffle(storm)
    queue: asyncio.Queue = asyncio.Queue()
    for item in storm:
        queue.put_nowait(item)

    engine = make_engine(database_url, pool_size=WORKERS)

    async def worker():
        async with AsyncSession(engine, expire_on_commit=False) as session:
            while not queue.empty():
                (tid, lat, lon), phone, category = queue.get_nowait()
                # A few metres around the transformer, as a crowd of phones would be.
                entry = ReportInput(category=category, phone=phone, latitude=lat + rng.uniform(-3e-5, 3e-5),
                                    longitude=lon + rng.uniform(-3e-5, 3e-5), meter_no=None, text="", language="en")
                await take_report(session, entry, channel="api")

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    await engine.dispose()

    ids = [t[0] for t in transformers]
    with psycopg.connect(libpq_url(database_url)) as conn:
        incidents = conn.execute("""
            SELECT i.transformer_id, i.report_count, i.priority, i.customers_affected,
                   (SELECT count(*) FROM report r WHERE r.incident_id = i.id),
                   (SELECT count(*) FROM customer c WHERE c.transformer_id = i.transformer_id)
            FROM incident i WHERE i.transformer_id = ANY(%s)""", (ids,)).fetchall()
    assert len(incidents) == TRANSFORMERS
    assert sorted(row[0] for row in incidents) == sorted(ids)
    for transformer_id, report_count, priority, affected, filed, customers in incidents:
        assert report_count == filed == REPORTS // TRANSFORMERS
        assert priority == "high"  # a third of the storm reported sparking: every incident got some
        assert affected == customers > 0
