"""Load the demo city with COPY (bulk loading), once; or grow its customers for benchmarks."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psycopg
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from server.demo import city
from server.db_url import libpq_url
from server.reports.rules import ReportInput
from server.reports.service import take_report
from server.staff.service import hash_password


@dataclass(frozen=True)
class DemoSummary:
    created_city: bool
    customers_added: int
    customers_total: int
    seconds: float


def _copy(conn: psycopg.Connection, statement: str, rows) -> None:
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _ids(conn: psycopg.Connection, table: str, key: str) -> dict[str, int]:
    return dict(conn.execute(f"SELECT {key}, id FROM {table}").fetchall())


def _load_city(conn: psycopg.Connection, seed: int) -> None:
    password = hash_password(city.DEMO_PASSWORD)
    staff = [(u, name, role, password) for u, name, role in city.DEMO_STAFF]
    staff += [(u, name, "supervisor", password) for u, name in city.ZONE_RESPONSIBLE.values()]
    _copy(conn, "COPY staff (username, display_name, role, password_hash) FROM STDIN", staff)
    staff_ids = _ids(conn, "staff", "username")

    _copy(conn, "COPY zone (name, responsible_staff_id, area) FROM STDIN",
          [(zone, staff_ids[city.ZONE_RESPONSIBLE[zone][0]], city.zone_ewkt(zone)) for zone in city.ZONES])
    zone_ids = _ids(conn, "zone", "name")
    _copy(conn, "COPY road (name, kind, route) FROM STDIN",
          [(name, kind, line.ewkt()) for name, kind, line in city.roads()])
    _copy(conn, "COPY feeder (code, name, zone_id, route) FROM STDIN",
          [(code, name, zone_ids[zone], line.ewkt()) for code, name, zone, line in city.feeders(seed)])
    feeder_ids = _ids(conn, "feeder", "code")
    _copy(conn, "COPY transformer (code, feeder_id, location) FROM STDIN",
          [(t.code, feeder_ids[t.feeder_code], f"SRID=4326;POINT({t.lon} {t.lat})") for t in city.transformers(seed)])
    _copy(conn, "COPY crew (code, name, home_zone_id, status, position, position_at) FROM STDIN",
          [(code, name, zone_ids[zone], "off_shift", f"SRID=4326;POINT({lon} {lat})", "now")
           for code, name, zone, (lon, lat) in city.crews()])
    # Every crew but the last is on shift (the database then marks them available); one shows "off shift".
    conn.execute("INSERT INTO crew_shift (crew_id, started_by) SELECT id, 'system' FROM crew "
                 "WHERE code <> (SELECT max(code) FROM crew)")
    conn.execute("UPDATE staff SET crew_id = (SELECT id FROM crew WHERE code = 'C01') WHERE role = 'lineman'")


def _add_customers(conn: psycopg.Connection, total: int, seed: int) -> int:
    existing = conn.execute("SELECT count(*) FROM customer").fetchone()[0]
    if existing >= total:
        return 0
    transformer_ids = [row[0] for row in conn.execute("SELECT id FROM transformer ORDER BY code")]
    _copy(conn, "COPY customer (meter_no, name, phone, language, transformer_id, location) FROM STDIN",
          ((c.meter_no, c.name, c.phone, c.language, transformer_ids[c.transformer_index],
            f"SRID=4326;POINT({c.lon} {c.lat})") for c in city.customers(total, seed, start=existing)))
    return total - existing


async def _file_demo_reports(database_url: str, customers: int) -> None:
    """A few reports through the real intake path, so grouping shows on the dispatcher's screen."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for meter_index, category in city.DEMO_REPORTS:
                if meter_index >= customers:
                    continue
                customer = next(city.customers(meter_index + 1, start=meter_index))
                entry = ReportInput(category=category, phone=customer.phone, latitude=None, longitude=None,
                                    meter_no=customer.meter_no, text="", language=customer.language)
                await take_report(session, entry, channel="web")
    finally:
        await engine.dispose()


def load_demo(database_url: str, customers: int = 10_000, seed: int = city.SEED) -> DemoSummary:
    """Create the demo city if the database has none, then make sure it has `customers` customers."""
    started = time.perf_counter()
    with psycopg.connect(libpq_url(database_url)) as conn:
        # One loader at a time: a second `faultline up` waits instead of loading the city twice.
        conn.execute("SELECT pg_advisory_xact_lock(2026)")
        created = conn.execute("SELECT count(*) FROM zone").fetchone()[0] == 0
        if created:
            _load_city(conn, seed)
        added = _add_customers(conn, customers, seed)
        total = conn.execute("SELECT count(*) FROM customer").fetchone()[0]
        conn.commit()
        if created or added:
            conn.autocommit = True
            conn.execute("ANALYZE")
    if created:
        asyncio.run(_file_demo_reports(database_url, total))
    return DemoSummary(created, added, total, time.perf_counter() - started)
