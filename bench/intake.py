"""Benchmark: reports per second through the HTTP intake API (with grouping), beside raw single-row
INSERTs of the same rows into the same tables, measured in the same run.

    .venv/bin/python -m bench.intake [--reports 2000] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import time

import httpx
import psycopg
from sqlmodel.ext.asyncio.session import AsyncSession

from bench._common import bench_database, served
from server.db import make_engine
from server.db_url import libpq_url
from server.reports.api import create_api_client


def _storm(database_url: str, count: int) -> list[dict]:
    """Reports from a crowd around the demo transformers, each from its own phone."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        points = conn.execute("SELECT ST_Y(location::geometry), ST_X(location::geometry) FROM transformer").fetchall()
    rng = random.Random(1)
    return [{"category": rng.choice(["no_power"] * 4 + ["danger"]), "phone": f"+25471{i:07d}",
             "latitude": lat + rng.uniform(-5e-4, 5e-4), "longitude": lon + rng.uniform(-5e-4, 5e-4)}
            for i, (lat, lon) in enumerate(rng.choice(points) for _ in range(count))]


async def _through_http(base_url: str, key: str, reports: list[dict], concurrency: int) -> float:
    queue = list(reversed(reports))
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": key}, timeout=30) as client:
        async def worker():
            while queue:
                response = await client.post("/api/v1/reports", json=queue.pop())
                assert response.status_code == 201, response.text
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def _raw_inserts(database_url: str, reports: list[dict]) -> float:
    """The floor: one INSERT into incident and one into report per report, one commit each, no grouping."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        started = time.perf_counter()
        for r in reports:
            point = f"SRID=4326;POINT({r['longitude']} {r['latitude']})"
            incident_id = conn.execute(
                "INSERT INTO incident (category, location, report_count) VALUES (%s, %s, 1) RETURNING id",
                (r["category"], point)).fetchone()[0]
            conn.execute("INSERT INTO report (channel, category, phone, location, incident_id, tracking_token)"
                         " VALUES ('api', %s, %s, %s, %s, %s)",
                         (r["category"], r["phone"], point, incident_id, secrets.token_urlsafe(32)))
            conn.commit()
        return time.perf_counter() - started


async def _api_key(database_url: str) -> str:
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        key = await create_api_client(session, "bench")
    await engine.dispose()
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with bench_database() as url:
        reports = _storm(url, args.reports)
        key = asyncio.run(_api_key(url))
        with served(url) as base_url:
            http_seconds = asyncio.run(_through_http(base_url, key, reports, args.concurrency))
        with psycopg.connect(libpq_url(url)) as conn:
            incidents = conn.execute("SELECT count(*) FROM incident").fetchone()[0]
        raw_seconds = _raw_inserts(url, reports)
    http_rate, raw_rate = args.reports / http_seconds, args.reports / raw_seconds
    print(f"intake through HTTP API (grouping, {args.concurrency} clients): {http_rate:8.0f} reports/s "
          f"({args.reports} reports → {incidents} incidents)")
    print(f"raw single-row INSERTs (incident + report, no grouping): {raw_rate:8.0f} reports/s")
    print(f"ratio HTTP/raw: {http_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
