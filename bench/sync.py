"""Benchmark: a crew phone's 1,000-mutation batch through `POST /sync/push`, and a pull of 10,000 changes
through `GET /sync/pull`, each beside the raw single-row INSERTs / plain SELECTs of the same rows, measured in
the same run on the same database.

    .venv/bin/python -m bench.sync [--mutations 1000] [--changes 10000]
"""
from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from psycopg.types.json import Jsonb

from bench._common import bench_database, served, signed_in
from server.db_url import libpq_url
from server.staff.service import hash_password

PASSWORD = "bench-sync-password"
JOBS = 50


def _setup(url: str) -> dict:
    """A crew, its lineman, and two sets of jobs assigned to it: one for the service, one for the raw baseline."""
    with psycopg.connect(libpq_url(url)) as conn:
        crew = conn.execute("INSERT INTO crew (code, name) VALUES ('BENCH', 'Bench crew') RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO crew_shift (crew_id, started_by) VALUES (%s, 'system')", (crew,))
        staff = conn.execute("INSERT INTO staff (username, display_name, role, password_hash, crew_id) "
                             "VALUES ('bench-lineman', 'Bench Lineman', 'lineman', %s, %s) RETURNING id",
                             (hash_password(PASSWORD), crew)).fetchone()[0]
        jobs = [conn.execute("INSERT INTO incident (category, location, report_count, status, crew_id, assigned_at) "
                             "VALUES ('no_power', 'SRID=4326;POINT(37.6 -1.0)', 1, 'assigned', %s, now()) "
                             "RETURNING id", (crew,)).fetchone()[0] for _ in range(2 * JOBS)]
    return {"crew": crew, "staff": staff, "jobs": jobs[:JOBS], "raw_jobs": jobs[JOBS:]}


def _batch(jobs: list[int], count: int) -> list[dict]:
    """A day's offline work, oldest first: on each job a walk, a check-in, notes, photos, materials, the restore."""
    start = datetime.now(UTC) - timedelta(hours=8)
    plan = ["accept_job", "en_route", "arrived", "note", "photo", "materials", "note", "materials", "photo",
            "note", "materials", "propose_etr", "note", "photo", "materials", "note", "materials", "note",
            "position", "restored"]
    found = []
    for n in range(count):
        job, name = jobs[(n // len(plan)) % len(jobs)], plan[n % len(plan)]
        args: dict = {"incident_id": job}
        if name == "arrived":
            args |= {"checkin_id": str(uuid.uuid4()), "latitude": -1.0001, "longitude": 37.6, "accuracy_m": 7}
        elif name == "note":
            args |= {"note_id": str(uuid.uuid4()), "text": f"Note {n}: jumper replaced, line tested"}
        elif name == "photo":
            args |= {"photo_id": str(uuid.uuid4()), "caption": "Pole top"}
        elif name == "materials":
            args |= {"material_id": str(uuid.uuid4()), "item": "LV fuse 100 A", "quantity": 2, "unit": "pcs"}
        elif name == "propose_etr":
            args |= {"etr": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}
        elif name == "position":
            args = {"ping_id": str(uuid.uuid4()), "latitude": -1.0, "longitude": 37.6}
        elif name == "restored":
            args |= {"cause": "Blown LV fuse"}
        found.append({"id": n + 1, "name": name, "args": args,
                      "client_time": (start + timedelta(seconds=20 * n)).isoformat(), "base_rev": 1})
    return found


def _signed_in(base_url: str) -> tuple[httpx.Client, str]:
    http = signed_in(base_url, "bench-lineman", PASSWORD, timeout=120)
    return http, http.headers["x-csrftoken"]


def _raw_push(url: str, staff: int, crew: int, batch: list[dict]) -> float:
    """The floor: the rows a push writes (record, event, mutation log, the job's status), single-row INSERTs in
    one transaction, no rules, no idempotency check."""
    client = uuid.uuid4()
    tables = {"note": ("note", "author_role, text", lambda a: ("crew", a["text"])),
              "photo": ("photo", "caption", lambda a: (a["caption"],)),
              "materials": ("material_use", "item, quantity, unit", lambda a: (a["item"], a["quantity"], a["unit"]))}
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("INSERT INTO sync_client (client_id, staff_id) VALUES (%s, %s)", (client, staff))
        conn.commit()
        started = time.perf_counter()
        for m in batch:
            args, job = m["args"], m["args"].get("incident_id")
            if m["name"] in tables:
                table, columns, values = tables[m["name"]]
                record = args.get("note_id") or args.get("photo_id") or args.get("material_id")
                marks = ", ".join(["%s"] * (5 + len(values(args))))
                conn.execute(f"INSERT INTO {table} (id, incident_id, staff_id, crew_id, client_time, {columns}) "
                             f"VALUES ({marks})", (record, job, staff, crew, m["client_time"], *values(args)))
            elif m["name"] == "arrived":
                conn.execute("INSERT INTO checkin (id, incident_id, staff_id, crew_id, location, client_time) "
                             "VALUES (%s, %s, %s, %s, 'SRID=4326;POINT(37.6 -1.0001)', %s)",
                             (args["checkin_id"], job, staff, crew, m["client_time"]))
            if job:
                conn.execute("UPDATE incident SET rev = rev + 1 WHERE id = %s", (job,))
                conn.execute("INSERT INTO incident_event (incident_id, kind, actor, client_time, details) "
                             "VALUES (%s, %s, %s, %s, %s)", (job, m["name"], f"staff:{staff}", m["client_time"],
                                                              Jsonb(args)))
            conn.execute("INSERT INTO sync_mutation (client_id, mutation_id, staff_id, name, sent, outcome) "
                         "VALUES (%s, %s, %s, %s, %s, 'applied')", (client, m["id"], staff, m["name"], Jsonb(m)))
        conn.commit()
        return time.perf_counter() - started


def _make_changes(url: str, crew: int, count: int) -> list[int]:
    """`count` new jobs for the crew, each with a desk note: `count` rows in the change log."""
    with psycopg.connect(libpq_url(url)) as conn:
        ids = [row[0] for row in conn.execute("""
            INSERT INTO incident (category, location, report_count, status, crew_id, assigned_at)
            SELECT 'no_power', ST_MakePoint(37.6 + g * 1e-6, -1.0)::geography, 1, 'assigned', %s, now()
            FROM generate_series(1, %s) g RETURNING id""", (crew, count))]
        conn.execute("""INSERT INTO note (id, incident_id, author_role, text)
                        SELECT gen_random_uuid(), id, 'dispatcher', 'Customer says the transformer hums'
                        FROM unnest(%s::int[]) AS id""", (ids,))
        changed = conn.execute("SELECT count(*) FROM sync_change WHERE incident_id = ANY(%s)", (ids,)).fetchone()[0]
        assert changed == count, changed
    return ids


def _raw_select(url: str, ids: list[int]) -> float:
    """The floor: the same incidents and their notes with two plain SELECTs, rows fetched, nothing shaped."""
    with psycopg.connect(libpq_url(url)) as conn:
        started = time.perf_counter()
        conn.execute("SELECT i.*, ST_Y(i.location::geometry), ST_X(i.location::geometry) FROM incident i "
                     "WHERE i.id = ANY(%s)", (ids,)).fetchall()
        conn.execute("SELECT * FROM note WHERE incident_id = ANY(%s)", (ids,)).fetchall()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=10_000)
    args = parser.parse_args()
    with bench_database(customers=2000) as url:
        world = _setup(url)
        batch = _batch(world["jobs"], args.mutations)
        with served(url) as base_url:
            http, token = _signed_in(base_url)
            client_id = str(uuid.uuid4())
            started = time.perf_counter()
            pushed = http.post("/sync/push", json={"client_id": client_id, "mutations": batch},
                               headers={"x-csrftoken": token})
            push_seconds = time.perf_counter() - started
            assert pushed.status_code == 200, pushed.text
            outcomes = {}
            for result in pushed.json()["results"]:
                outcomes[result["status"]] = outcomes.get(result["status"], 0) + 1
            retry_started = time.perf_counter()
            again = http.post("/sync/push", json={"client_id": client_id, "mutations": batch},
                              headers={"x-csrftoken": token})
            retry_seconds = time.perf_counter() - retry_started
            assert again.json()["results"] == pushed.json()["results"]

            cursor = http.get("/sync/pull", params={"client_id": client_id}).json()["cursor"]
            ids = _make_changes(url, world["crew"], args.changes)
            started = time.perf_counter()
            pulled = http.get("/sync/pull", params={"client_id": client_id, "cursor": cursor})
            pull_seconds = time.perf_counter() - started
            assert pulled.status_code == 200
            body = pulled.json()
            puts = sum(op["op"] == "put" for op in body["ops"])
            assert not body["reset"] and puts >= args.changes, (body["reset"], puts)
            http.close()
        raw_push_seconds = _raw_push(url, world["staff"], world["crew"], _batch(world["raw_jobs"], args.mutations))
        raw_select_seconds = _raw_select(url, ids)
    print(f"push {args.mutations} mutations, one batch through HTTP: {push_seconds * 1000:8.0f} ms "
          f"({args.mutations / push_seconds:.0f}/s; {outcomes})")
    print(f"  the same batch again (all answered from the log): {retry_seconds * 1000:8.0f} ms")
    print(f"  raw single-row INSERTs of the same rows, one transaction: {raw_push_seconds * 1000:8.0f} ms "
          f"(ratio {push_seconds / raw_push_seconds:.1f}x)")
    print(f"pull {args.changes} changes through HTTP: {pull_seconds * 1000:8.0f} ms "
          f"({puts} jobs, {len(pulled.content) / 1e6:.1f} MB JSON)")
    print(f"  raw SELECTs of the same incidents and notes: {raw_select_seconds * 1000:8.0f} ms "
          f"(ratio {pull_seconds / raw_select_seconds:.1f}x)")


if __name__ == "__main__":
    main()
