"""Benchmark: the dispatcher's console with 5,000 crews on shift and 20,000 open incidents — the incident panel
(with its nearest-crew suggestion) and the queue through HTTP (p50/p95), beside the same queries run directly
with psycopg in the same run on the same database (ratio), and the plan of the nearest-crew query.

    .venv/bin/python -m bench.dispatch [--crews 5000] [--incidents 20000] [--requests 200] [--plan]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from sqlmodel import select

from bench._common import bench_database, percentile, psycopg_sql, served, signed_in
from server.assets.models import Zone
from server.dispatch import service
from server.incidents import service as incidents
from server.db_url import libpq_url

HTMX = {"hx-request": "true"}
CODE_PREFIX = "BC"  # the benchmark's crews: BC00001...; the demo city's are C01...
WARM_UP = 20
QUEUE_LIMIT = 200  # what the console asks open_queue for

# The same SQL the app sends (SQLAlchemy renders it to psycopg's %(name)s style).
NEAREST = psycopg_sql(service._NEAREST)
QUEUE = psycopg_sql(incidents._QUEUE)
PANEL = [psycopg_sql(q) for q in (service._INCIDENT, service._REPORTS, service._EVENTS, service._NOTES,
                                  service._PHOTOS, service._CHECKINS)]
LIVE_SEEN = "SELECT coalesce(max(id), 0) FROM live_event"  # service.latest_live_event, read by the panel route
ZONES = psycopg_sql(select(Zone).order_by(Zone.name))  # service.zones: the queue's zone filter


def _copy(conn: psycopg.Connection, statement: str, rows) -> None:
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _seed(url: str, crews: int, incidents: int, seed: int) -> dict:
    """Crews spread over the served area, each on shift; then open incidents, most reported, some assigned.
    Rows go in with COPY into a scratch table and one INSERT ... SELECT each, the triggers on (crew status,
    live feed, sync change log) left on as in production."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with psycopg.connect(libpq_url(url)) as conn:
        w, s, e, n = conn.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                                  "FROM (SELECT ST_Extent(area) e FROM zone) z").fetchone()
        started = time.perf_counter()
        conn.execute("CREATE TEMP TABLE bench_crew (code text, name text, lon float8, lat float8, "
                     "position_at timestamptz) ON COMMIT DROP")
        _copy(conn, "COPY bench_crew FROM STDIN",
              ((f"{CODE_PREFIX}{k:05d}", f"Bench crew {k}", rng.uniform(w, e), rng.uniform(s, n),
                now - timedelta(minutes=rng.uniform(0, 45))) for k in range(1, crews + 1)))
        conn.execute("""
            INSERT INTO crew (code, name, home_zone_id, position, position_at)
            SELECT b.code, b.name, (SELECT z.id FROM zone z WHERE ST_Covers(z.area, b.point) ORDER BY z.id LIMIT 1),
                   b.point::geography, b.position_at
            FROM (SELECT *, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS point FROM bench_crew) b ORDER BY b.code""")
        conn.execute("INSERT INTO crew_shift (crew_id, started_by) SELECT id, 'system' FROM crew WHERE code LIKE %s",
                     (CODE_PREFIX + "%",))
        conn.commit()
        crew_seconds = time.perf_counter() - started
        crew_ids = [row[0] for row in conn.execute("SELECT id FROM crew WHERE code LIKE %s ORDER BY id",
                                                   (CODE_PREFIX + "%",))]

        started = time.perf_counter()
        conn.execute("CREATE TEMP TABLE bench_incident (n int, category text, priority text, status text, "
                     "crew_id int, lon float8, lat float8, customers int, reports int, reported_at timestamptz) "
                     "ON COMMIT DROP")
        rows = []
        for k in range(incidents):
            danger = rng.random() < 0.04
            assigned = rng.random() < 0.15
            rows.append((k, "danger" if danger else "no_power",
                         "high" if danger or rng.random() < 0.03 else "normal",
                         "assigned" if assigned else "reported", rng.choice(crew_ids) if assigned else None,
                         rng.uniform(w, e), rng.uniform(s, n), int(rng.paretovariate(1.2) * 5),
                         rng.randint(1, 6), now - timedelta(hours=rng.uniform(0, 12))))
        _copy(conn, "COPY bench_incident FROM STDIN", rows)
        # The transformer: the nearest one (KNN in a LATERAL subquery, where the point is a parameter).
        conn.execute("""
            INSERT INTO incident (category, priority, status, location, zone_id, transformer_id, feeder_id,
                                  crew_id, report_count, customers_affected, reported_at, last_report_at,
                                  assigned_at)
            SELECT b.category, b.priority, b.status, b.point::geography,
                   (SELECT z.id FROM zone z WHERE ST_Covers(z.area, b.point) ORDER BY z.id LIMIT 1),
                   t.id, t.feeder_id, b.crew_id, b.reports, b.customers, b.reported_at, b.reported_at,
                   CASE WHEN b.crew_id IS NOT NULL THEN b.reported_at + (now() - b.reported_at) / 2 END
            FROM (SELECT *, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS point FROM bench_incident) b
            LEFT JOIN LATERAL (SELECT t.id, t.feeder_id FROM transformer t
                               ORDER BY t.location <-> b.point::geography LIMIT 1) t ON true
            ORDER BY b.n""")
        conn.commit()
        incident_seconds = time.perf_counter() - started
        started = time.perf_counter()
        conn.autocommit = True
        conn.execute("ANALYZE")
        analyze_seconds = time.perf_counter() - started
        counts = conn.execute("""
            SELECT (SELECT count(*) FROM crew WHERE code LIKE %(p)s),
                   (SELECT count(*) FROM crew WHERE code LIKE %(p)s AND status <> 'off_shift'),
                   (SELECT count(*) FROM crew WHERE code LIKE %(p)s AND status = 'assigned'),
                   (SELECT count(*) FROM incident WHERE status IN ('reported', 'assigned', 'en_route', 'on_site')),
                   (SELECT count(*) FROM incident WHERE status = 'assigned'),
                   (SELECT count(*) FROM incident WHERE category = 'danger'),
                   (SELECT count(*) FROM incident WHERE zone_id IS NULL),
                   (SELECT count(*) FROM live_event), (SELECT count(*) FROM sync_change)""",
                                {"p": CODE_PREFIX + "%"}).fetchone()
    return {"crew_seconds": crew_seconds, "incident_seconds": incident_seconds, "analyze_seconds": analyze_seconds,
            "counts": dict(zip(("crews", "on_shift", "crews_assigned", "open", "assigned", "danger", "no_zone",
                                "live_events", "sync_changes"), counts, strict=True))}


def _ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _get(http: httpx.Client, path: str, sizes: list[int], headers: dict | None = HTMX) -> Callable[[], None]:
    def action() -> None:
        response = http.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}\n{response.text[:3000]}")
        sizes.append(len(response.content))
    return action


def _run(conn: psycopg.Connection, *steps: tuple[str, dict]) -> Callable[[], None]:
    def action() -> None:
        for sql, params in steps:
            conn.execute(sql, params).fetchall()
    return action


def _panel_steps(incident_id: int) -> list[tuple[str, dict]]:
    """What service.incident_view and the route read for an open incident, in the order they read it."""
    return [*((sql, {"id": incident_id}) for sql in PANEL),
            (NEAREST, {"incident_id": incident_id, "limit": service.SUGGESTIONS}), (LIVE_SEEN, {})]


def _explain_nearest(conn: psycopg.Connection, incident_id: int, full: bool) -> None:
    plan = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + NEAREST,
                                           {"incident_id": incident_id, "limit": service.SUGGESTIONS})]
    print(f"EXPLAIN (ANALYZE, BUFFERS) of _NEAREST, incident {incident_id}{'' if full else ' (the scan of crew)'}:")
    crew_node, depth = False, 0
    for line in plan:
        indent = len(line) - len(line.lstrip())
        if " on crew c " in line:
            crew_node, depth = True, indent
        elif crew_node and (indent <= depth or line.lstrip().startswith("->")):
            crew_node = False
        if full or crew_node or line.startswith(("Planning Time", "Execution Time")):
            print("  " + (line if full else line.strip()))
    knn = any(re.search(r"Index Scan using \S+ on crew c ", line) for line in plan) and any(
        re.search(r"Order By: \(\(?(c\.)?\"?position\"? <->", line) for line in plan)
    print(f"  KNN on the GiST index of crew.position: {'yes' if knn else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--crews", type=int, default=5_000)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per measure, after a warm-up")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--plan", action="store_true", help="print the whole plan of the nearest-crew query")
    args = parser.parse_args()
    started = time.perf_counter()
    with bench_database(customers=args.customers) as url:
        print(f"demo city with {args.customers:,} customers ready in {time.perf_counter() - started:.0f} s")
        seeded = _seed(url, args.crews, args.incidents, args.seed)
        c = seeded["counts"]
        print(f"seeded {c['crews']:,} crews ({c['on_shift']:,} on shift, {c['crews_assigned']:,} with a job) in "
              f"{seeded['crew_seconds']:.1f} s; {args.incidents:,} incidents in {seeded['incident_seconds']:.1f} s "
              f"(open now {c['open']:,}: {c['assigned']:,} assigned, {c['danger']:,} danger, {c['no_zone']} without "
              f"a zone); ANALYZE {seeded['analyze_seconds']:.1f} s")
        print(f"  the triggers wrote {c['live_events']:,} live_event and {c['sync_changes']:,} sync_change rows")

        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            open_ids = [row[0] for row in conn.execute(
                "SELECT id FROM incident WHERE status IN ('reported', 'assigned') ORDER BY id")]
        sample = random.Random(args.seed).sample(open_ids, WARM_UP + args.requests)
        warm, timed = sample[:WARM_UP], sample[WARM_UP:]

        with served(url) as base_url, closing(signed_in(base_url, "dispatcher", timeout=60)) as http, \
                psycopg.connect(libpq_url(url), autocommit=True) as conn:
            first = http.get(f"/dispatch/incidents/{timed[0]}", headers=HTMX)
            assert first.status_code == 200, first.text[:3000]
            suggested = first.text.count('<input type="hidden" name="crew_id"')
            assert suggested == service.SUGGESTIONS, f"the panel suggests {suggested} crews"
            assert len(conn.execute(NEAREST, {"incident_id": timed[0], "limit": service.SUGGESTIONS}).fetchall()) \
                == service.SUGGESTIONS

            panel_http, nearest_sql, panel_sql, panel_sizes = [], [], [], []
            for k, incident_id in enumerate(warm + timed):
                panel = _get(http, f"/dispatch/incidents/{incident_id}", panel_sizes)
                nearest = _run(conn, (NEAREST, {"incident_id": incident_id, "limit": service.SUGGESTIONS}))
                everything = _run(conn, *_panel_steps(incident_id))
                times = (_ms(panel), _ms(nearest), _ms(everything))
                if k >= WARM_UP:
                    panel_http.append(times[0])
                    nearest_sql.append(times[1])
                    panel_sql.append(times[2])

            queue_http, queue_sql, page_sql, queue_sizes = [], [], [], []
            queue_params = {"crew_id": None, "zone_id": None, "status": None, "limit": QUEUE_LIMIT}
            rows = len(conn.execute(QUEUE, queue_params).fetchall())
            for k in range(WARM_UP + args.requests):
                times = (_ms(_get(http, "/dispatch/", queue_sizes)), _ms(_run(conn, (QUEUE, queue_params))),
                         _ms(_run(conn, (QUEUE, queue_params), (ZONES, {}))))
                if k >= WARM_UP:
                    queue_http.append(times[0])
                    queue_sql.append(times[1])
                    page_sql.append(times[2])

            page_http, page_sizes = [], []  # the whole console page: queue, zones, the first crews of the table
            for k in range(WARM_UP + args.requests):
                elapsed = _ms(_get(http, "/dispatch/", page_sizes, headers={}))
                if k >= WARM_UP:
                    page_http.append(elapsed)

            print(f"\n{args.requests} requests each after {WARM_UP} to warm up; one client, one at a time (ms)")
            print(f"{'measure':<52}{'p50':>8}{'p95':>8}{'http/sql p50':>14}{'p95':>7}")

            def line(name: str, values: list[float], http_values: list[float] | None = None,
                     extra: str = "") -> None:
                p50, p95 = statistics.median(values), percentile(values, .95)
                ratio = "" if http_values is None else \
                    f"{statistics.median(http_values) / p50:>14.1f}{percentile(http_values, .95) / p95:>7.1f}"
                print(f"{name:<52}{p50:>8.1f}{p95:>8.1f}{ratio}{extra}")

            line("incident panel, HTTP  GET /dispatch/incidents/{id}", panel_http,
                 extra=f"   {statistics.mean(panel_sizes[WARM_UP:]) / 1000:.0f} KB of HTML")
            line("  nearest crews (_NEAREST), direct", nearest_sql, panel_http)
            line("  all the panel's queries (8), direct", panel_sql, panel_http)
            line(f"queue ({rows} rows), HTTP  GET /dispatch/", queue_http,
                 extra=f"   {statistics.mean(queue_sizes[WARM_UP:]) / 1000:.0f} KB of HTML")
            line("  the queue query (_QUEUE), direct", queue_sql, queue_http)
            line("  _QUEUE + the zones, direct", page_sql, queue_http)
            line("whole console page, HTTP  GET /dispatch/", page_http,
                 extra=f"   {statistics.mean(page_sizes[WARM_UP:]) / 1000:.0f} KB of HTML")
            line("  _QUEUE + the zones, direct", page_sql, page_http)
            print()
            _explain_nearest(conn, timed[0], args.plan)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
