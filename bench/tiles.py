"""Benchmark: vector tiles per layer and zoom through the HTTP endpoint (p50/p95), beside the same
ST_AsMVT query run directly with psycopg in the same run (ratio), with the tiles' byte sizes.
Then each zone's offline area through HTTP beside a plain loop making the same tiles one query each.
The demo city is scaled to 1,000,000 customers first.

    .venv/bin/python -m bench.tiles [--customers 1000000] [--tiles 25] [--zones 4]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import time

import httpx
import psycopg

from bench._common import bench_database, percentile, served
from maps import service
from server.db_url import libpq_url

ZOOMS = (10, 12, 14, 16)


def _psycopg_sql(sql: str) -> str:
    return re.sub(r"(?<!:):([xyz])\b", r"%(\1)s", sql)


def _direct_sql(name: str) -> str:
    if name in service.COMPOSITES:
        return _psycopg_sql("SELECT " + service._composite_sql(name))
    return _psycopg_sql(service._mvt_sql(service.LAYERS[name]))


def _sample_tiles(extent, z: int, count: int) -> list[tuple[int, int]]:
    tiles = service.tiles_covering(extent, z)
    return random.Random(z).sample(tiles, min(count, len(tiles)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--tiles", type=int, default=25, help="tiles sampled per layer and zoom")
    parser.add_argument("--zones", type=int, default=4, help="zones whose offline area is measured")
    args = parser.parse_args()
    started = time.perf_counter()
    with bench_database(customers=args.customers) as url:
        print(f"demo city with {args.customers:,} customers ready in {time.perf_counter() - started:.0f} s")
        with psycopg.connect(libpq_url(url)) as conn:
            extent = conn.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                                  "FROM (SELECT ST_Extent(area) e FROM zone) z").fetchone()
        with served(url) as base_url, httpx.Client(base_url=base_url, timeout=30) as http, \
                psycopg.connect(libpq_url(url)) as conn:
            page = http.get("/login").text
            token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
            http.post("/login", data={"username": "dispatcher", "password": "faultline-demo", "_csrf_token": token})
            print(f"{'layer':<13}{'z':>3} {'http p50':>9} {'p95':>7} {'sql p50':>9} {'p95':>7} {'ratio':>6} "
                  f"{'bytes avg':>10} {'max':>8}  (ms)")
            for name in [*service.LAYERS, *service.COMPOSITES]:
                sql = _direct_sql(name)
                for z in ZOOMS:
                    http_ms, sql_ms, sizes = [], [], []
                    for x, y in _sample_tiles(extent, z, args.tiles):
                        t = time.perf_counter()
                        response = http.get(f"/tiles/{name}/{z}/{x}/{y}.mvt")
                        http_ms.append((time.perf_counter() - t) * 1000)
                        assert response.status_code in (200, 204), response.text
                        sizes.append(len(response.content))
                        t = time.perf_counter()
                        conn.execute(sql, {"z": z, "x": x, "y": y}).fetchone()
                        sql_ms.append((time.perf_counter() - t) * 1000)
                    p50_http, p50_sql = statistics.median(http_ms), statistics.median(sql_ms)
                    print(f"{name:<13}{z:>3} {p50_http:>9.1f} {percentile(http_ms, .95):>7.1f} {p50_sql:>9.1f} "
                          f"{percentile(sql_ms, .95):>7.1f} {p50_http / p50_sql:>6.2f} "
                          f"{statistics.mean(sizes):>10.0f} {max(sizes):>8}")
            _offline_areas(http, conn, args.zones)


def _offline_areas(http: httpx.Client, conn, zones: int) -> None:
    """A zone's offline area through HTTP (first ask: measured a level per query, stopping at the cap) beside
    a plain loop making every tile of the same levels one query each (the raw baseline)."""
    print(f"\n{'offline area':<16}{'levels':>7} {'tiles':>6} {'MB':>6} {'capped':>7} {'http ms':>8} "
          f"{'loop ms':>8} {'ratio':>6}")
    sql = _direct_sql("base")
    for zone_id, name, *box in conn.execute("SELECT id, name, ST_XMin(area), ST_YMin(area), ST_XMax(area), "
                                            "ST_YMax(area) FROM zone ORDER BY id LIMIT %s", (zones,)):
        t = time.perf_counter()
        area = http.get(f"/maps/offline/zones/{zone_id}", params={"max_zoom": 16}).json()
        http_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        for z in range(area["min_zoom"], area["max_zoom"] + 1):
            for x, y in service.tiles_covering(tuple(box), z):
                conn.execute(sql, {"z": z, "x": x, "y": y}).fetchone()
        loop_ms = (time.perf_counter() - t) * 1000
        print(f"{name[:15]:<16}{area['min_zoom']:>3}–{area['max_zoom']:<3} {area['count']:>6} "
              f"{area['bytes'] / 1048576:>6.1f} {str(area['capped']):>7} {http_ms:>8.0f} {loop_ms:>8.0f} "
              f"{http_ms / loop_ms:>6.2f}")


if __name__ == "__main__":
    main()
