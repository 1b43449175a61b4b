"""Import a utility's zones, feeders, transformers (GeoJSON) and customers (CSV) in one transaction.

The file is streamed with COPY into a temporary staging table, checked row by row (here, as it streams) and as
a set (in SQL: duplicates, unknown codes, places outside every zone or far from their transformer), and only
when nothing is wrong upserted by natural key — zone name, feeder code, transformer code, meter number — with
`ON CONFLICT … DO UPDATE … WHERE` something changed, so re-importing an updated export touches exactly the rows
that changed. Any problem, or a dry run, rolls the whole transaction back: a failed import changes nothing.

`faultline import` and the administrator's upload page both call `import_file`. It uses a plain (sync) psycopg
connection: the web page runs it in a worker thread, so a million rows never stall the event loop.
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from server.i18n import N_
from server.imports import rules
from server.imports.geojson import GeoJsonUnreadable, read_feature_collection
from server.imports.rules import KINDS, MAX_PROBLEMS, Problem
from server.db_url import libpq_url

IMPORT_LOCK = 1101  # one import at a time: each kind refers to the ones before it


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    region: str = "KE"             # the deployment's country: numbers without +country code, plausible places
    default_language: str = "en"   # a new customer with no language in the file
    actor: str = "cli"
    stored_as: str | None = None   # where a checked file waits in the data folder to be applied


@dataclass
class ImportReport:
    kind: str
    filename: str
    dry_run: bool
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    not_in_file: int = 0           # in the database but not in the file: kept, never deleted by an import
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    notes: list[Problem] = field(default_factory=list)
    applied: bool = False
    seconds: float = 0.0
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def status(self) -> str:
        return "applied" if self.applied else "checked" if self.ok else "refused"

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def add_counted(self, problems: list[Problem], total: int) -> None:
        """Problems found by one SQL check: the first MAX_PROBLEMS of them, and how many in all."""
        room = MAX_PROBLEMS - len(self.problems)
        self.problems.extend(problems[:max(room, 0)])
        self.problem_count += total

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.line or 0))

    def as_json(self) -> dict:
        return {"rows": self.rows, "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "not_in_file": self.not_in_file, "problem_count": self.problem_count,
                "problems": [[p.line, p.message, p.values] for p in self.sorted_problems()],
                "notes": [[p.line, p.message, p.values] for p in self.notes]}

    @classmethod
    def from_run(cls, run: Any) -> ImportReport:
        saved = run.report or {}
        report = cls(kind=run.kind, filename=run.filename, dry_run=run.dry_run, rows=run.rows,
                     inserted=run.inserted, updated=run.updated, unchanged=run.unchanged,
                     not_in_file=saved.get("not_in_file", 0), problem_count=run.problem_count,
                     applied=run.status == "applied", seconds=run.seconds, run_id=run.id)
        report.problems = [Problem(line, message, values) for line, message, values in saved.get("problems", [])]
        report.notes = [Problem(line, message, values) for line, message, values in saved.get("notes", [])]
        return report


def import_file(database_url: str, kind: str, path: Path, options: ImportOptions,
                filename: str | None = None) -> ImportReport:
    """Check a file and, when nothing is wrong and this is not a dry run, apply it. Never half-applied."""
    started = time.perf_counter()
    report = ImportReport(kind=kind, filename=(filename or path.name)[:200], dry_run=options.dry_run)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
        if kind == "customers":
            _import_customers(conn, path, report, options)
        else:
            _import_network(conn, kind, path, report, options)
        report.applied = report.ok and not options.dry_run
        if not report.applied:
            conn.rollback()  # a dry run, or something wrong: nothing of it stays
        report.seconds = time.perf_counter() - started
        report.run_id = _record_run(conn, report, options)  # with the data when applied, else on its own
        conn.commit()
    return report


def _record_run(conn: psycopg.Connection, report: ImportReport, options: ImportOptions) -> int:
    return conn.execute("""
        INSERT INTO import_run (kind, filename, stored_as, dry_run, status, actor, rows, inserted, updated,
                                unchanged, problem_count, report, seconds)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (report.kind, report.filename, options.stored_as if report.status == "checked" else None, report.dry_run,
         report.status, options.actor[:60], report.rows, report.inserted, report.updated, report.unchanged,
         report.problem_count, Jsonb(report.as_json()), report.seconds)).fetchone()[0]


def _checked(conn: psycopg.Connection, report: ImportReport, sql: str, params: dict, problem) -> None:
    """Run one set-wide check; `problem(row)` turns each offending row into a Problem. Rows end in their total."""
    rows = conn.execute(sql + " ORDER BY 1 LIMIT %(cap)s", {**params, "cap": MAX_PROBLEMS}).fetchall()
    if rows:
        report.add_counted([problem(row) for row in rows], rows[0][-1])


# ---------------------------------------------------------------- customers (CSV)

_CUSTOMER_STAGING = """
    CREATE TEMP TABLE import_customer (
        line integer NOT NULL, meter_no text NOT NULL, name text, phone text, language text,
        transformer text NOT NULL, lon double precision, lat double precision
    ) ON COMMIT DROP"""


def _import_customers(conn: psycopg.Connection, path: Path, report: ImportReport, options: ImportOptions) -> None:
    conn.execute(_CUSTOMER_STAGING)
    columns = _stage_customers(conn, path, report, options)
    if columns is None:
        return
    conn.execute("ANALYZE import_customer")
    _check_customers(conn, report)
    if report.ok:
        _upsert_customers(conn, report, columns, options)


def _stage_customers(conn: psycopg.Connection, path: Path, report: ImportReport,
                     options: ImportOptions) -> rules.CsvColumns | None:
    with path.open("rb") as raw:
        # surrogateescape: a line that is not UTF-8 is reported by its number instead of stopping the file.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        header_line = text.readline()
        if not header_line.strip():
            report.add(Problem(None, N_("The file is empty.")))
            return None
        delimiter = rules.sniff_delimiter(header_line)
        columns = rules.read_header(next(csv.reader([header_line], delimiter=delimiter)))
        if isinstance(columns, Problem):
            report.add(columns)
            return None
        if columns.unused:
            report.notes.append(Problem(None, N_("These columns were not used: %(columns)s."),
                                        {"columns": rules.shown(", ".join(columns.unused), 200)}))
        rule = rules.CustomerRowRule(columns, options.region)
        reader = csv.reader(text, delimiter=delimiter)
        rows, last_line = 0, 1
        with conn.cursor().copy("COPY import_customer (line, meter_no, name, phone, language, transformer, lon, lat)"
                                " FROM STDIN") as copy:
            write = copy.write_row
            while True:
                line = last_line + 1
                try:
                    fields = next(reader, None)
                except csv.Error:
                    report.add(Problem(line, N_("This line cannot be read as CSV: look for a quote that is "
                                                "opened and never closed.")))
                    break
                if fields is None:
                    break
                last_line = reader.line_num + 1
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line
                rows += 1
                checked = rule.check(fields, line)
                if isinstance(checked, list):
                    for problem in checked:
                        report.add(problem)
                    keys = rule.keys(fields)
                    if keys is not None:  # never applied (the file has problems), only checked with the rest
                        write((line, keys[0], None, None, None, keys[1], None, None))
                    continue
                write((line, checked.meter_no, checked.name, checked.phone, checked.language, checked.transformer,
                       checked.longitude, checked.latitude))
    report.rows = rows
    if rows == 0:
        report.add(Problem(None, N_("The file has no rows to import.")))
    return columns


def _check_customers(conn: psycopg.Connection, report: ImportReport) -> None:
    limits = {"max_metres": rules.CUSTOMER_MAX_METRES}
    _checked(conn, report, """
        WITH repeated AS (
            SELECT meter_no, min(line) AS first_line FROM import_customer GROUP BY meter_no HAVING count(*) > 1)
        SELECT s.line, s.meter_no, r.first_line, count(*) OVER ()
        FROM import_customer s JOIN repeated r USING (meter_no) WHERE s.line > r.first_line""", {},
        lambda row: Problem(row[0], N_("The meter number %(value)s is also on line %(first)s."),
                            {"value": rules.shown(row[1]), "first": row[2]}))
    _checked(conn, report, """
        SELECT s.line, s.transformer, count(*) OVER () FROM import_customer s
        WHERE NOT EXISTS (SELECT 1 FROM transformer t WHERE t.code = s.transformer)""", {},
        lambda row: Problem(row[0], N_("Unknown transformer %(value)s: import the transformers first, or check "
                                       "the code."), {"value": rules.shown(row[1])}))
    _checked(conn, report, """
        SELECT s.line, t.code, round((ST_Distance(p.point, t.location) / 1000)::numeric, 1),
               CASE WHEN abs(s.lon) <= 90 THEN
                   ST_DWithin(ST_SetSRID(ST_MakePoint(s.lat, s.lon), 4326)::geography, t.location, %(max_metres)s)
               ELSE false END,
               count(*) OVER ()
        FROM import_customer s JOIN transformer t ON t.code = s.transformer
        CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography AS point) p
        WHERE s.lon IS NOT NULL AND NOT ST_DWithin(p.point, t.location, %(max_metres)s)""", limits,
        lambda row: Problem(row[0], N_("This customer is %(km)s km from their transformer %(code)s: latitude and "
                                       "longitude look swapped.") if row[3] else
                            N_("This customer is %(km)s km from their transformer %(code)s: check the coordinates "
                               "(WGS 84 degrees) or the transformer code."), {"km": str(row[2]), "code": row[1]}))
    _checked(conn, report, """
        SELECT s.line, count(*) OVER () FROM import_customer s
        WHERE s.lon IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM zone z WHERE ST_Covers(z.area, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)))""", {},
        lambda row: Problem(row[0], N_("This place is outside every zone: reports from it could not be placed.")))


def _upsert_customers(conn: psycopg.Connection, report: ImportReport, columns: rules.CsvColumns,
                      options: ImportOptions) -> None:
    # A column the file does not have is left as it is; an empty cell means "none" (or the default).
    updated = [c for c, present in (("name", columns.has("name")), ("phone", columns.has("phone")),
                                    ("language", columns.has("language")), ("transformer_id", True),
                                    ("location", columns.has("latitude"))) if present]
    keep = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    old = ", ".join("ST_AsBinary(c.location)" if c == "location" else f"c.{c}" for c in updated)
    new = ", ".join("ST_AsBinary(EXCLUDED.location)" if c == "location" else f"EXCLUDED.{c}" for c in updated)
    inserted, changed = conn.execute(f"""
        WITH upserted AS (
            INSERT INTO customer AS c (meter_no, name, phone, language, transformer_id, location)
            SELECT s.meter_no, coalesce(s.name, ''), s.phone, coalesce(s.language, %(language)s), t.id,
                   coalesce(ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography, t.location)
            FROM import_customer s JOIN transformer t ON t.code = s.transformer
            ON CONFLICT (meter_no) DO UPDATE SET {keep}
            WHERE ({old}) IS DISTINCT FROM ({new})
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted""",
        {"language": options.default_language}).fetchone()
    report.inserted, report.updated = inserted, changed
    staged = conn.execute("SELECT count(*) FROM import_customer").fetchone()[0]
    report.unchanged = staged - inserted - changed
    report.not_in_file = conn.execute("""
        SELECT count(*) FROM customer c
        WHERE NOT EXISTS (SELECT 1 FROM import_customer s WHERE s.meter_no = c.meter_no)""").fetchone()[0]


# ---------------------------------------------------------------- zones, feeders, transformers (GeoJSON)

_FEATURE_STAGING = """
    CREATE TEMP TABLE import_feature (
        line integer NOT NULL, key text NOT NULL, name text, ref text, ref_given boolean NOT NULL,
        geojson text NOT NULL, geom geometry
    ) ON COMMIT DROP"""
_TABLES = {"zones": "zone", "feeders": "feeder", "transformers": "transformer"}
_KEYS = {"zones": "name", "feeders": "code", "transformers": "code"}


def _import_network(conn: psycopg.Connection, kind: str, path: Path, report: ImportReport,
                    options: ImportOptions) -> None:
    try:
        collection = read_feature_collection(path.read_bytes())
    except GeoJsonUnreadable as unreadable:
        report.add(Problem(unreadable.line, unreadable.message))
        return
    srid = rules.crs_srid(collection.members.get("crs"))
    if srid is None:
        report.add(Problem(None, N_("The file names a coordinate system we cannot read. Export it in WGS 84 "
                                    "(EPSG:4326).")))
        return
    if srid != 4326 and conn.execute("SELECT 1 FROM spatial_ref_sys WHERE srid = %s", (srid,)).fetchone() is None:
        report.add(Problem(None, N_("The file is in EPSG:%(srid)s, which we do not know. Export it in WGS 84 "
                                    "(EPSG:4326)."), {"srid": srid}))
        return
    conn.execute(_FEATURE_STAGING)
    first_line: dict[str, int] = {}
    with conn.cursor().copy("COPY import_feature (line, key, name, ref, ref_given, geojson) FROM STDIN") as copy:
        for line, feature in collection.features():
            report.rows += 1
            checked = rules.check_feature(kind, feature, line)
            if isinstance(checked, list):
                for problem in checked:
                    report.add(problem)
                continue
            if checked.key in first_line:
                report.add(Problem(line, N_("%(value)s is also on line %(first)s."),
                                   {"value": rules.shown(checked.key), "first": first_line[checked.key]}))
                continue
            first_line[checked.key] = line
            copy.write_row((line, checked.key, checked.name, checked.ref, checked.ref_given,
                            json.dumps(checked.geometry)))
    if report.rows == 0:
        report.add(Problem(None, N_("The file has no features to import.")))
        return
    if not _read_geometries(conn, report, srid):
        return
    _check_places(conn, report, kind, options.region)
    {"zones": _check_zones, "feeders": _check_feeders, "transformers": _check_transformers}[kind](conn, report)
    if report.ok:
        _upsert_network(conn, kind, report)


def _read_geometries(conn: psycopg.Connection, report: ImportReport, srid: int) -> bool:
    geometry = "ST_Force2D(ST_GeomFromGeoJSON(geojson))"
    if srid != 4326:
        geometry = f"ST_Transform(ST_SetSRID({geometry}, {int(srid)}), 4326)"
    try:
        with conn.transaction():
            conn.execute(f"UPDATE import_feature SET geom = ST_SetSRID({geometry}, 4326)")
    except psycopg.Error:
        report.add(Problem(None, N_("The geometries could not be read as EPSG:%(srid)s coordinates. Export the "
                                    "file in WGS 84 (EPSG:4326)."), {"srid": srid}))
        return False
    return True


def _check_places(conn: psycopg.Connection, report: ImportReport, kind: str, region: str) -> None:
    """Degrees, and inside the deployment's country: what a wrong SRID or swapped axes break first."""
    conn.execute("""
        CREATE TEMP TABLE import_misplaced ON COMMIT DROP AS
        SELECT line FROM import_feature
        WHERE NOT (ST_XMin(geom) >= -180 AND ST_XMax(geom) <= 180 AND ST_YMin(geom) >= -90 AND ST_YMax(geom) <= 90)""")
    _checked(conn, report, "SELECT line, count(*) OVER () FROM import_misplaced", {},
             lambda row: Problem(row[0], N_("These coordinates are not degrees of longitude and latitude; they look "
                                            "like metres of a projected system. Export the file in WGS 84 "
                                            "(EPSG:4326), or name its system in the file's crs.")))
    bounds = rules.COUNTRY_BOUNDS.get(region)
    if bounds is not None:
        envelope = {"w": bounds[0], "s": bounds[1], "e": bounds[2], "n": bounds[3]}
        rows = conn.execute("""
            WITH box AS (SELECT ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) AS area)
            SELECT f.line, ST_CoveredBy(ST_FlipCoordinates(f.geom), box.area) FROM import_feature f, box
            WHERE f.line NOT IN (SELECT line FROM import_misplaced) AND NOT ST_CoveredBy(f.geom, box.area)
            ORDER BY f.line""", envelope).fetchall()
        if rows:
            conn.execute("INSERT INTO import_misplaced SELECT unnest(%s::int[])", ([row[0] for row in rows],))
            report.add_counted([Problem(line, N_("This lies outside %(region)s, but would be inside with latitude "
                                                 "and longitude the other way round: the axes look swapped.")
                                        if swapped else
                                        N_("This lies outside %(region)s: check the coordinate system (WGS 84 "
                                           "degrees, longitude first)."), {"region": region})
                                for line, swapped in rows[:MAX_PROBLEMS]], len(rows))
    if kind != "zones":
        _checked(conn, report, """
            SELECT f.line, count(*) OVER () FROM import_feature f
            WHERE f.line NOT IN (SELECT line FROM import_misplaced)
              AND NOT EXISTS (SELECT 1 FROM zone z WHERE ST_Intersects(z.area, f.geom))""", {},
            lambda row: Problem(row[0], N_("This place is outside every zone: import the zones first, or check "
                                           "the coordinates.")))


def _check_zones(conn: psycopg.Connection, report: ImportReport) -> None:
    _checked(conn, report, """
        SELECT line, ST_IsValidReason(geom), count(*) OVER () FROM import_feature
        WHERE line NOT IN (SELECT line FROM import_misplaced) AND NOT ST_IsValid(geom)""", {},
        lambda row: Problem(row[0], N_("The polygon is not valid (%(reason)s): fix it in the GIS and export "
                                       "again."), {"reason": rules.shown(row[1], 120)}))
    _checked(conn, report, """
        SELECT f.line, f.ref, count(*) OVER () FROM import_feature f
        WHERE f.ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staff s WHERE s.username = lower(f.ref))""", {},
        lambda row: Problem(row[0], N_("Nobody on the staff has the username %(value)s."),
                            {"value": rules.shown(row[1])}))


def _check_feeders(conn: psycopg.Connection, report: ImportReport) -> None:
    _checked(conn, report, """
        SELECT line, ST_NumGeometries(ST_LineMerge(geom)), count(*) OVER () FROM import_feature
        WHERE GeometryType(geom) = 'MULTILINESTRING' AND GeometryType(ST_LineMerge(geom)) <> 'LINESTRING'""", {},
        lambda row: Problem(row[0], N_("A feeder's route must be one connected line; this one is in %(parts)s "
                                       "pieces."), {"parts": row[1]}))
    _checked(conn, report, """
        SELECT f.line, f.ref, count(*) OVER () FROM import_feature f
        WHERE f.ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM zone z WHERE z.name = f.ref)""", {},
        lambda row: Problem(row[0], N_("Unknown zone %(value)s: import the zones first, or check the name."),
                            {"value": rules.shown(row[1])}))


def _check_transformers(conn: psycopg.Connection, report: ImportReport) -> None:
    _checked(conn, report, """
        SELECT f.line, f.ref, count(*) OVER () FROM import_feature f
        WHERE f.ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM feeder d WHERE d.code = f.ref)""", {},
        lambda row: Problem(row[0], N_("Unknown feeder %(value)s: import the feeders first, or check the code."),
                            {"value": rules.shown(row[1])}))


# What goes into each table: a property the file leaves out keeps the stored value (the LEFT JOIN `e`);
# given but empty, it clears it.
_NETWORK_UPSERT = {
    "zones": ("name, area, responsible_staff_id", """
        SELECT f.key, ST_Multi(f.geom),
               CASE WHEN f.ref_given THEN (SELECT s.id FROM staff s WHERE s.username = lower(f.ref))
                    ELSE e.responsible_staff_id END
        FROM import_feature f LEFT JOIN zone e ON e.name = f.key""",
        "area = EXCLUDED.area, responsible_staff_id = EXCLUDED.responsible_staff_id",
        "(ST_AsBinary(d.area), d.responsible_staff_id) IS DISTINCT FROM "
        "(ST_AsBinary(EXCLUDED.area), EXCLUDED.responsible_staff_id)"),
    # A feeder without a zone property belongs to the zone its substation end (the start) is in.
    "feeders": ("code, name, zone_id, route", """
        SELECT f.key, coalesce(f.name, e.name, f.key),
               coalesce((SELECT z.id FROM zone z WHERE z.name = f.ref),
                        (SELECT z.id FROM zone z WHERE ST_Intersects(z.area, g.route)
                         ORDER BY ST_Covers(z.area, ST_StartPoint(g.route)) DESC,
                                  ST_Length(ST_Intersection(z.area, g.route)) DESC, z.id LIMIT 1)),
               g.route
        FROM import_feature f LEFT JOIN feeder e ON e.code = f.key
        CROSS JOIN LATERAL (SELECT CASE WHEN GeometryType(f.geom) = 'MULTILINESTRING' THEN ST_LineMerge(f.geom)
                                        ELSE f.geom END AS route) g""",
        "name = EXCLUDED.name, zone_id = EXCLUDED.zone_id, route = EXCLUDED.route",
        "(d.name, d.zone_id, ST_AsBinary(d.route)) IS DISTINCT FROM "
        "(EXCLUDED.name, EXCLUDED.zone_id, ST_AsBinary(EXCLUDED.route))"),
    "transformers": ("code, feeder_id, location", """
        SELECT f.key,
               CASE WHEN f.ref_given THEN (SELECT d.id FROM feeder d WHERE d.code = f.ref) ELSE e.feeder_id END,
               f.geom::geography
        FROM import_feature f LEFT JOIN transformer e ON e.code = f.key""",
        "feeder_id = EXCLUDED.feeder_id, location = EXCLUDED.location",
        "(d.feeder_id, ST_AsBinary(d.location)) IS DISTINCT FROM "
        "(EXCLUDED.feeder_id, ST_AsBinary(EXCLUDED.location))"),
}


def _upsert_network(conn: psycopg.Connection, kind: str, report: ImportReport) -> None:
    table, key = _TABLES[kind], _KEYS[kind]
    columns, select, update, changed = _NETWORK_UPSERT[kind]
    inserted, updated = conn.execute(f"""
        WITH upserted AS (
            INSERT INTO {table} AS d ({columns}) {select}
            ON CONFLICT ({key}) DO UPDATE SET {update} WHERE {changed}
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted""").fetchone()
    staged = conn.execute("SELECT count(*) FROM import_feature").fetchone()[0]
    report.inserted, report.updated, report.unchanged = inserted, updated, staged - inserted - updated
    report.not_in_file = conn.execute(f"""
        SELECT count(*) FROM {table} d
        WHERE NOT EXISTS (SELECT 1 FROM import_feature f WHERE f.key = d.{key})""").fetchone()[0]
