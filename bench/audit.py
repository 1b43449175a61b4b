"""Benchmark: the supervisor's zone, crew and day figures over 1,000,000 incidents reported over a year — for a
month and for the whole year — through the service function, through HTTP (the page with its charts, and the
CSV), beside the same two SQL statements run directly with psycopg; first without the two indexes the figures
use (dropped in this throwaway database), then with them as migration g14audit0001 makes them, to show what
they buy.
Also the SLA watch list, with a storm's worth of open incidents.

    .venv/bin/python -m bench.audit [--incidents 1000000] [--crews 200] [--repeat 5] [--plan]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlmodel.ext.asyncio.session import AsyncSession

from bench._common import bench_database, psycopg_sql, served, signed_in
from server.operator import defaults
from server.audit import figures, sla
from server.db import make_engine, utcnow
from server.db_url import libpq_url
from server.settings import get_settings

CREW_PREFIX = "BA"
FIGURES_SQL = psycopg_sql(figures.FIGURES)
OUTSIDE_SQL = psycopg_sql(figures.OUTSIDE_CHECKINS)
# The figures' two indexes (migration g14audit0001): the period filter, and the "was it reopened?" lookup,
# which otherwise reads every incident once per request.
FIGURE_INDEXES = ("ix_incident_reported_at", "ix_incident_reopened_from_id")

# A year of faults, evenly spread (ids grow with time, as in life). Per job, by a few random draws: 4 % danger;
# assigned within minutes to two hours, on the way minutes later, on site within an hour or two, restored within
# hours (danger faster), closed after. 1 % cancelled. The last two days keep open jobs at every step (the SLA
# watch list). 0.5 % of on-site times come from a phone with a slow clock: 30 min before the assignment, with the
# server's receipt in an incident_event.
_SEED_INCIDENTS = """
    WITH zones AS (SELECT array_agg(id ORDER BY id) AS ids, ST_Extent(area) AS box FROM zone),
         crews AS (SELECT array_agg(id ORDER BY id) AS ids FROM crew WHERE code LIKE %(crew_prefix)s),
         draw AS (
             SELECT g, now() - interval '365 days' * (1 - g::float8 / %(n)s) AS reported_at,
                    random() AS kind, random() AS fate, random() AS r1, random() AS r2, random() AS r3,
                    random() AS r4, random() AS r5, random() AS x, random() AS y
             FROM generate_series(1, %(n)s) g),
         job AS (
             SELECT d.*, d.kind < 0.04 AS danger,
                    d.reported_at + interval '1 minute' * (2 + 118 * d.r1 * d.r1) AS assigned_at,
                    interval '1 minute' * (1 + 9 * d.r2) AS to_route,
                    interval '1 minute' * (5 + 100 * d.r3 * d.r3) AS to_site,
                    interval '1 minute' * (10 + (CASE WHEN d.kind < 0.04 THEN 300 ELSE 1800 END) * d.r4 * d.r4)
                        AS to_restore,
                    interval '1 minute' * (30 + 600 * d.r5) AS to_close,
                    now() - d.reported_at < interval '2 days' AS recent
             FROM draw d),
         timed AS (
             SELECT j.*, j.assigned_at + j.to_route AS en_route_at,
                    j.assigned_at + j.to_route + j.to_site AS on_site_at,
                    j.assigned_at + j.to_route + j.to_site + j.to_restore AS restored_at,
                    -- how far along the job is: 0 reported … 4 restored, 5 closed, -1 cancelled
                    CASE WHEN j.fate < 0.01 THEN -1
                         WHEN j.recent AND j.fate < 0.15 THEN 0 WHEN j.recent AND j.fate < 0.30 THEN 1
                         WHEN j.recent AND j.fate < 0.40 THEN 2 WHEN j.recent AND j.fate < 0.55 THEN 3
                         WHEN j.recent AND j.fate < 0.75 THEN 4 WHEN j.fate < 0.03 THEN 4 ELSE 5 END AS step
             FROM job j)
    INSERT INTO incident (category, priority, status, location, zone_id, crew_id, report_count, customers_affected,
                          reported_at, last_report_at, assigned_at, en_route_at, on_site_at, restored_at, closed_at,
                          cancelled_at)
    SELECT CASE WHEN t.danger THEN 'danger' ELSE 'no_power' END, CASE WHEN t.danger THEN 'high' ELSE 'normal' END,
           (ARRAY['cancelled', 'reported', 'assigned', 'en_route', 'on_site', 'restored', 'closed'])[t.step + 2],
           ST_SetSRID(ST_MakePoint(ST_XMin(z.box) + t.x * (ST_XMax(z.box) - ST_XMin(z.box)),
                                   ST_YMin(z.box) + t.y * (ST_YMax(z.box) - ST_YMin(z.box))), 4326)::geography,
           z.ids[1 + (t.g %% array_length(z.ids, 1))],
           CASE WHEN t.step = -1 OR t.step >= 1 THEN c.ids[1 + ((t.g / 7) %% array_length(c.ids, 1))] END,
           1 + (t.r5 * 5)::int, (t.r4 * 200)::int, t.reported_at, t.reported_at,
           CASE WHEN t.step >= 1 OR (t.step = -1 AND t.r1 < 0.5) THEN t.assigned_at END,
           CASE WHEN t.step >= 2 THEN t.en_route_at END,
           CASE WHEN t.step >= 3 AND t.g %% 200 = 0 THEN t.assigned_at - interval '30 minutes'
                WHEN t.step >= 3 THEN t.on_site_at END,
           CASE WHEN t.step >= 4 THEN t.restored_at END,
           CASE WHEN t.step = 5 THEN t.restored_at + t.to_close END,
           CASE WHEN t.step = -1 THEN t.reported_at + interval '20 minutes' END
    FROM timed t, zones z, crews c
    ORDER BY t.g
"""
# 1 % of restores did not hold: a later incident (37 ids on, about 13 hours later) reopens it.
_SEED_REOPENED = """
    UPDATE incident f SET reopened_from_id = f.id - 37, flag = 'reopened'
    WHERE f.id % 100 = 0 AND f.id - 37 >= (SELECT min(id) FROM incident)
"""
# The slow-clock phones' receipts: the server heard of the arrival 40 minutes after the assignment.
_SEED_RECEIPTS = """
    INSERT INTO incident_event (incident_id, kind, actor, client_time, server_time, details)
    SELECT id, 'on_site', 'system', on_site_at, assigned_at + interval '40 minutes', '{"bench": true}'
    FROM incident WHERE on_site_at < assigned_at ORDER BY id
"""
# A GPS check-in for most arrivals: most within a few tens of metres, one in ten far off.
_SEED_CHECKINS = """
    INSERT INTO checkin (id, incident_id, crew_id, location, accuracy_m, distance_m, client_time, server_time)
    SELECT gen_random_uuid(), i.id, i.crew_id, i.location, 5 + 40 * random(),
           CASE WHEN random() < 0.1 THEN 150 + 2000 * random() ELSE 120 * random() END,
           i.on_site_at, i.on_site_at + interval '1 minute' * 240 * random()
    FROM incident i WHERE i.on_site_at IS NOT NULL AND random() < 0.95
"""


def _seed(url: str, incidents: int, crews: int) -> dict:
    timings = {}
    with psycopg.connect(libpq_url(url)) as conn:
        started = time.perf_counter()
        conn.execute("""INSERT INTO crew (code, name, home_zone_id)
                        SELECT %(p)s || lpad(g::text, 4, '0'), 'Bench crew ' || g,
                               (SELECT id FROM zone ORDER BY id OFFSET g %% (SELECT count(*) FROM zone) LIMIT 1)
                        FROM generate_series(1, %(crews)s) g""", {"p": CREW_PREFIX, "crews": crews})
        # The live feed, the sync change log and the crew status triggers would write a row (and a NOTIFY) per
        # incident: switched off for the seed in this throwaway database only, and on again right after.
        conn.execute("ALTER TABLE incident DISABLE TRIGGER USER")
        conn.execute(_SEED_INCIDENTS, {"n": incidents, "crew_prefix": CREW_PREFIX + "%"})
        conn.execute(_SEED_REOPENED)
        conn.execute("ALTER TABLE incident ENABLE TRIGGER USER")
        conn.commit()
        timings["incidents"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(_SEED_RECEIPTS)
        conn.execute(_SEED_CHECKINS)
        conn.commit()
        timings["checkins"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE incident")
        conn.execute("VACUUM ANALYZE checkin")
        conn.execute("VACUUM ANALYZE incident_event")
        timings["analyze"] = time.perf_counter() - started
        counts = conn.execute("""
            SELECT count(*), count(*) FILTER (WHERE status IN ('reported', 'assigned', 'en_route', 'on_site')),
                   count(*) FILTER (WHERE priority = 'high'), count(*) FILTER (WHERE status = 'cancelled'),
                   count(*) FILTER (WHERE reopened_from_id IS NOT NULL), count(*) FILTER (WHERE on_site_at < assigned_at),
                   min(reported_at), max(reported_at),
                   (SELECT count(*) FROM checkin), (SELECT count(*) FROM live_event),
                   pg_size_pretty(pg_total_relation_size('incident'))
            FROM incident""").fetchone()
    names = ("incidents", "open", "danger", "cancelled", "reopens", "slow_clocks", "first", "last", "checkins",
             "live_events", "size")
    return {"seconds": timings, "counts": dict(zip(names, counts, strict=True))}


def _periods() -> dict[str, figures.Period]:
    timezone = get_settings().locale.timezone
    today = datetime.now(ZoneInfo(timezone)).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    return {
        f"month ({last_month_end.replace(day=1)} … {last_month_end})":
            figures.Period(last_month_end.replace(day=1), last_month_end, timezone),
        f"year ({today - timedelta(days=364)} … {today})": figures.Period(today - timedelta(days=364), today, timezone),
    }


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):>8.0f}{min(values):>8.0f}{max(values):>8.0f}"


async def _timed(action: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    await action()  # warm: plans and caches
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        found.append((time.perf_counter() - started) * 1000)
    return found


def _timed_sync(action: Callable[[], object], repeat: int) -> list[float]:
    action()
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        found.append((time.perf_counter() - started) * 1000)
    return found


def _get(http: httpx.Client, path: str, params: dict | None = None) -> Callable[[], int]:
    def action() -> int:
        response = http.get(path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}\n{response.text[:2000]}")
        return len(response.content)
    return action


async def _measure(url: str, base_url: str, repeat: int, plan: bool, label: str) -> None:
    """Blocking HTTP and psycopg calls inside a coroutine on purpose: one client, one thing at a time."""
    operator = defaults(get_settings())
    targets, radius = sla.Targets.from_settings(operator), operator.geofence_radius_m
    engine = make_engine(url, pool_size=1)
    print(f"\n{label}: {repeat} runs each after one to warm up (ms)")
    print(f"{'measure':<62}{'median':>8}{'min':>8}{'max':>8}")
    with closing(signed_in(base_url, "supervisor", timeout=300)) as http, \
            psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SET jit = off")  # as the service runs them (figures.NO_JIT)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for name, period in _periods().items():
                params = figures.figure_params(period, targets, utcnow())
                outside = {**params, "radius": radius}
                query = {"from": period.first.isoformat(), "to": period.last.isoformat()}
                jobs = conn.execute("SELECT count(*) FROM incident WHERE reported_at >= %(start)s AND "
                                    "reported_at < %(end)s", params).fetchone()[0]
                found = await figures.period_figures(session, period, targets, radius, utcnow())
                crews = sum(c.jobs for c in found.crews)
                print(f"{name}: {jobs:,} incidents ({crews:,} jobs of {len(found.crews)} crews)")
                service = await _timed(lambda: figures.period_figures(session, period, targets, radius, utcnow()),
                                       repeat)
                print(f"  {'service period_figures (zones, crews, days)':<60}{_stats(service)}")
                both = _timed_sync(lambda: (conn.execute(FIGURES_SQL, params).fetchall(),
                                            conn.execute(OUTSIDE_SQL, outside).fetchall()), repeat)
                print(f"  {'  the same two statements, direct (psycopg)':<60}{_stats(both)}")
                alone = _timed_sync(lambda: conn.execute(FIGURES_SQL, params).fetchall(), repeat)
                print(f"  {'    FIGURES (zones, crews, days in one pass)':<60}{_stats(alone)}")
                alone = _timed_sync(lambda: conn.execute(OUTSIDE_SQL, outside).fetchall(), repeat)
                print(f"  {'    OUTSIDE_CHECKINS (geofence, per zone and crew)':<60}{_stats(alone)}")
                conn.execute("SET jit = on")  # unprepared: a prepared plan would keep the JIT choice of its time
                alone = _timed_sync(lambda: conn.execute(FIGURES_SQL, params, prepare=False).fetchall(),
                                    max(1, repeat // 2))
                conn.execute("SET jit = off")
                print(f"  {'    FIGURES with the server JIT left on (why NO_JIT)':<60}{_stats(alone)}")
                sizes: list[int] = []
                page = _timed_sync(lambda: sizes.append(_get(http, "/supervisor/figures", query)()), repeat)
                print(f"  {'HTTP GET /supervisor/figures (tables + 2 SVG charts)':<60}{_stats(page)}"
                      f"   {sizes[-1] / 1000:.0f} KB")
                sizes = []
                exported = _timed_sync(lambda: sizes.append(_get(http, "/supervisor/figures.csv", query)()), repeat)
                print(f"  {'HTTP GET /supervisor/figures.csv':<60}{_stats(exported)}   {sizes[-1] / 1000:.0f} KB")
                if plan:
                    print("  EXPLAIN (ANALYZE, BUFFERS) of FIGURES (JIT off):")
                    for (line,) in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + FIGURES_SQL, params):
                        print("    " + line)
            listed = await figures.sla_watch(session, targets, utcnow())
            watched = await _timed(lambda: figures.sla_watch(session, targets, utcnow()), repeat)
        print(f"SLA watch list now: {len(listed.breached):,} breached, {len(listed.at_risk):,} at risk"
              f"{' (the oldest ' + format(figures.WATCH_CANDIDATES, ',') + ' open ones read)' if listed.cut else ''}")
        print(f"  {'service sla_watch':<60}{_stats(watched)}")
        print(f"  {'HTTP GET /supervisor (pending by zone + watch list)':<60}"
              f"{_stats(_timed_sync(_get(http, '/supervisor'), repeat))}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--crews", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--plan", action="store_true", help="print the plan of the figures query")
    args = parser.parse_args()
    started = time.perf_counter()
    with bench_database(customers=args.customers) as url:
        print(f"demo city ready in {time.perf_counter() - started:.0f} s")
        seeded = _seed(url, args.incidents, args.crews)
        c, s = seeded["counts"], seeded["seconds"]
        print(f"seeded {c['incidents']:,} incidents ({c['first']:%Y-%m-%d} … {c['last']:%Y-%m-%d}; {c['open']:,} open, "
              f"{c['danger']:,} danger, {c['cancelled']:,} cancelled, {c['reopens']:,} reopens, {c['slow_clocks']:,} "
              f"slow phone clocks) for {args.crews} crews in {s['incidents']:.1f} s with INSERT … SELECT "
              f"generate_series (incident triggers off during the seed; {c['live_events']} live events)")
        print(f"  {c['checkins']:,} check-ins and the slow clocks' receipts in {s['checkins']:.1f} s; "
              f"VACUUM ANALYZE {s['analyze']:.1f} s; incident table {c['size']}")
        with served(url) as base_url:
            with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                definitions = [conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                                            (name,)).fetchone()[0] for name in FIGURE_INDEXES]
                for name in FIGURE_INDEXES:
                    conn.execute(f"DROP INDEX {name}")
                conn.execute("ANALYZE incident")
            asyncio.run(_measure(url, base_url, args.repeat, args.plan,
                                 "without the figures' two indexes (dropped here)"))
            with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                for definition in definitions:
                    began = time.perf_counter()
                    conn.execute(definition)
                    print(f"\n{definition}: {time.perf_counter() - began:.1f} s")
                conn.execute("ANALYZE incident")
            asyncio.run(_measure(url, base_url, args.repeat, args.plan,
                                 "with the indexes of migration g14audit0001"))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
