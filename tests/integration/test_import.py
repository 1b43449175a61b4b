"""Importing a utility's own network and customers: good files, every kind of bad row, re-imports, dry runs,
the admin upload page, export → import round trips, and the CLI. On a database of its own (imports change the
network other tests rely on)."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from server import migrate
from server.app import create_app
from server.demo import city
from server.demo.load import load_demo
from server.imports.export import export_to
from server.imports.service import ImportOptions, import_file
from server.provision import drop_database
from server.db_url import libpq_url
from server.settings import PROJECT_ROOT
from tests.conftest import csrf_token, sign_in

HEADER = ["meter_no", "phone", "name", "language", "transformer", "latitude", "longitude"]
# Mombasa island: in Kenya, far from the demo city's zones in Nairobi.
MOMBASA = (39.64, -4.08, 39.70, -4.03)


@pytest.fixture(scope="module")
def import_db(db_server):
    name = f"faultline_import_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(libpq_url(db_server.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = db_server.url_for(name)
    migrate.upgrade(url)
    load_demo(url, customers=2000)
    yield url
    drop_database(db_server, name)


def _sql(url, query, *params):
    with psycopg.connect(libpq_url(url)) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _fingerprint(url) -> dict[str, str]:
    """Every network and customer row, hashed: equal fingerprints mean nothing changed."""
    return {table: _sql(url, f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t")[0][0]
            for table in ("zone", "feeder", "transformer", "customer", "staff")}


def _customers(url, prefix) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in _sql(url, """
        SELECT c.meter_no, c.name, c.phone, c.language, t.code, ST_AsText(c.location) FROM customer c
        LEFT JOIN transformer t ON t.id = c.transformer_id WHERE c.meter_no LIKE %s""", prefix + "%")}


def _write_csv(path: Path, rows, header=HEADER, delimiter=",", encoding="utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _demo_rows(count: int, prefix: str = "TST", every_without_place: int = 10) -> list[list]:
    codes = [t.code for t in city.transformers()]
    rows = []
    for i, c in enumerate(city.customers(count)):
        placed = i % every_without_place != 0
        rows.append([f"{prefix}{i:06d}", c.phone, c.name, c.language, codes[c.transformer_index],
                     c.lat if placed else "", c.lon if placed else ""])
    return rows


def _import(url, kind, path, **options):
    return import_file(url, kind, path, ImportOptions(**options))


def _messages(report) -> dict[int | None, list[str]]:
    found: dict[int | None, list[str]] = {}
    for problem in report.problems:
        found.setdefault(problem.line, []).append(problem.english())
    return found


# ---------------------------------------------------------------- customers

def test_a_good_customer_file_is_imported(import_db, tmp_path):
    rows = _demo_rows(500, prefix="GOOD")
    rows[1][1] = "0712 345 678"   # national format: stored in E.164
    rows[2][3] = "Kiswahili"      # a language by its name
    rows[3][3] = ""               # none: the deployment's default
    report = _import(import_db, "customers", _write_csv(tmp_path / "c.csv", rows))
    assert report.applied and (report.rows, report.inserted, report.updated) == (500, 500, 0), report.problems[:3]
    stored = _customers(import_db, "GOOD")
    assert len(stored) == 500
    assert stored["GOOD000001"][1] == "+254712345678"
    assert stored["GOOD000002"][2] == "sw" and stored["GOOD000003"][2] == "en"
    # Without coordinates, a customer stands at their transformer.
    (at_transformer,), = _sql(import_db, """
        SELECT bool_and(ST_Equals(c.location::geometry, t.location::geometry)) FROM customer c
        JOIN transformer t ON t.id = c.transformer_id WHERE c.meter_no IN ('GOOD000000', 'GOOD000010')""")
    assert at_transformer
    run, = _sql(import_db, "SELECT status, rows, inserted, actor FROM import_run WHERE id = %s", report.run_id)
    assert run == ("applied", 500, 500, "cli")


def test_a_reimport_changing_one_percent_updates_exactly_those_rows(import_db, tmp_path):
    rows = _demo_rows(2000, prefix="PCT")
    first = _import(import_db, "customers", _write_csv(tmp_path / "first.csv", rows))
    assert first.applied and first.inserted == 2000
    before = _customers(import_db, "PCT")
    changed = set()
    for k, i in enumerate(range(7, 2000, 100)):  # 20 rows: 1 %
        row = rows[i]
        if k % 5 == 0:
            row[2] += " Jr"
        elif k % 5 == 1:
            row[1] = f"+2547{30000000 + i:08d}"
        elif k % 5 == 2:
            row[3] = "vi" if row[3] != "vi" else "sq"
        elif k % 5 == 3:
            row[5], row[6] = (float(row[5] or -1.28) + 0.0005, float(row[6] or 36.8) + 0.0005) \
                if row[5] else ("", "")
            if not row[5]:  # it had none: give it its transformer's neighbour's code instead
                row[4] = "T-F101-002" if row[4] != "T-F101-002" else "T-F101-003"
        else:
            row[4] = "T-F101-002" if row[4] != "T-F101-002" else "T-F101-003"
            row[5], row[6] = "", ""
        changed.add(row[0])
    again = _import(import_db, "customers", _write_csv(tmp_path / "again.csv", rows))
    assert again.applied and (again.inserted, again.updated, again.unchanged) == (0, 20, 1980)
    after = _customers(import_db, "PCT")
    assert {meter for meter in before if before[meter] != after[meter]} == changed
    # The same file a third time changes nothing at all.
    xmin_before = _sql(import_db, "SELECT max(xmin::text::bigint) FROM customer WHERE meter_no LIKE 'PCT%%'")
    third = _import(import_db, "customers", _write_csv(tmp_path / "third.csv", rows))
    assert (third.inserted, third.updated, third.unchanged) == (0, 0, 2000)
    assert _sql(import_db, "SELECT max(xmin::text::bigint) FROM customer WHERE meter_no LIKE 'PCT%%'") == xmin_before


BAD_ROWS = [  # (row, what the report must say about its line)
    (["BAD1", "+254712000001", "Far Away", "en", "T-F101-001", "-4.05", "39.67"], "km from their transformer"),
    (["BAD2", "+254712000002", "Swapped", "en", "T-F101-001", "36.7576", "-1.2391"], "look swapped"),
    (["BAD3", "+254712000003", "Metres", "en", "T-F101-001", "9863000", "256000"], "not a place in degrees"),
    (["BAD4", "+254712000004", "Paris", "en", "T-F101-001", "48.85", "2.35"], "outside KE"),
    (["BAD5", "+254712000005", "No Such", "en", "T-NOPE-999", "", ""], "Unknown transformer T-NOPE-999"),
    (["TWIN", "+254712000006", "Twin", "en", "T-F101-001", "", ""], None),  # fine, but see the last line
    (["BAD7", "12345", "Short Phone", "en", "T-F101-001", "", ""], "not a valid phone number"),
    (["BAD8", "+2547123456789012", "Long Phone", "en", "T-F101-001", "", ""], "not a valid phone number"),
    (["BAD9", "+254712000009", "Klingon", "tlh", "T-F101-001", "", ""], "Unknown language tlh"),
    (["BAD 10!", "+254712000010", "Odd Meter", "en", "T-F101-001", "", ""], "letters, digits and dashes"),
    (["BAD11", "+254712000011", "Half Place", "en", "T-F101-001", "-1.2391", ""], "both latitude and longitude"),
    (["BAD12", "+254712000012", "Text Place", "en", "T-F101-001", "north", "east"], "not a pair of numbers"),
    (["", "+254712000013", "No Meter", "en", "T-F101-001", "", ""], "meter number is missing"),
    (["BAD14", "+254712000014", "No Transformer", "en", "", "", ""], "transformer code is missing"),
    (["BAD15", "+254712000015", "Short Row"], "has 3 columns"),
    # Wrong in two ways: both are reported, the file-wide check too.
    (["BAD16", "12", "Both Wrong", "en", "T-NOPE-777", "", ""], "Unknown transformer T-NOPE-777"),
    (["BAD17", "12", "Also Wrong", "en", "T-F101-001", "", ""], "not a valid phone number"),
]


def test_every_kind_of_bad_row_is_reported_by_line_and_nothing_is_applied(import_db, tmp_path):
    before = _fingerprint(import_db)
    good = _demo_rows(30, prefix="MIX")
    rows = good + [row for row, _ in BAD_ROWS] + [["TWIN", "", "", "", "T-F101-001", "", ""]]
    report = _import(import_db, "customers", _write_csv(tmp_path / "bad.csv", rows))
    assert not report.applied and report.status == "refused"
    found = _messages(report)
    for offset, (_row, expected) in enumerate(BAD_ROWS):
        line = 2 + len(good) + offset
        if expected is None:
            assert line not in found, found[line]
            continue
        assert any(expected in message for message in found.get(line, [])), (line, expected, found.get(line))
    both = 2 + len(good) + len(BAD_ROWS) - 2
    assert any("not a valid phone number" in m for m in found[both]), found[both]
    # The meter on two lines of the file: the later one is named, with the first.
    twin_line = 2 + len(good) + len(BAD_ROWS)
    assert any(f"TWIN is also on line {2 + len(good) + 5}" in m for m in found[twin_line])
    assert not any(line and line < 2 + len(good) for line in found), "good lines were blamed"
    assert _fingerprint(import_db) == before
    assert _customers(import_db, "MIX") == {}


def test_a_failed_import_leaves_the_database_as_it_was(import_db, tmp_path):
    rows = _demo_rows(1000, prefix="GOOD")  # updates for the 500 already there, 500 new…
    for row in rows:
        row[2] = row[2].upper()
    rows.append(["LAST", "+254712999999", "Bad At The End", "en", "T-NOPE-000", "", ""])  # …and one bad line
    before = _fingerprint(import_db)
    report = _import(import_db, "customers", _write_csv(tmp_path / "almost.csv", rows))
    assert not report.applied and report.problem_count == 1
    assert report.problems[0].line == 1002
    assert _fingerprint(import_db) == before


def test_a_dry_run_says_what_would_change_and_changes_nothing(import_db, tmp_path):
    assert _import(import_db, "customers", _write_csv(tmp_path / "first.csv", _demo_rows(500, prefix="DRY"))).applied
    rows = _demo_rows(600, prefix="DRY")
    rows[0][2] = "Renamed In The Dry Run"
    before = _fingerprint(import_db)
    report = _import(import_db, "customers", _write_csv(tmp_path / "dry.csv", rows), dry_run=True)
    assert report.ok and not report.applied and report.status == "checked"
    assert (report.inserted, report.updated, report.unchanged) == (100, 1, 499)
    assert _fingerprint(import_db) == before


def test_a_column_left_out_keeps_what_the_database_has(import_db, tmp_path):
    rows = [[r[0], r[2], r[4]] for r in _demo_rows(50, prefix="GOOD")]
    before = _customers(import_db, "GOOD0000")
    report = _import(import_db, "customers",
                     _write_csv(tmp_path / "thin.csv", rows, header=["Meter Number", "Name", "Transformer_Code"]))
    assert report.applied and report.updated == 0, report.problems[:3]
    assert _customers(import_db, "GOOD0000") == before  # phones, languages and places untouched


def test_spreadsheet_exports_semicolons_bom_and_other_encodings(import_db, tmp_path):
    rows = _demo_rows(5, prefix="SEMI")
    rows[1][2] = "Ëndrit Çela"
    path = tmp_path / "semi.csv"
    _write_csv(path, rows, delimiter=";", encoding="utf-8-sig")
    report = _import(import_db, "customers", path, dry_run=True)
    assert report.ok and report.inserted == 5, report.problems[:3]
    latin = _write_csv(tmp_path / "latin.csv", rows, encoding="cp1252")
    report = _import(import_db, "customers", latin, dry_run=True)
    assert [p.line for p in report.problems] == [3] and "not UTF-8" in report.problems[0].english()


@pytest.mark.parametrize("content, expected", [
    (b"", "The file is empty"),
    (b"meter,phone\n1,+254712000000\n", "The column transformer is missing"),
    (b"meter_no,transformer,latitude\n1,T-F101-001,-1.2\n", "latitude column without a longitude"),
    (b"meter_no,transformer\n", "no rows to import"),
    (b'meter_no,transformer\n"unclosed,T-F101-001\n', "opened and never closed"),
])
def test_files_that_are_not_customer_lists_say_why(import_db, tmp_path, content, expected):
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    report = _import(import_db, "customers", path)
    said = [p.english() for p in report.problems]
    assert not report.ok and any(expected in text for text in said), said


# ---------------------------------------------------------------- zones, feeders, transformers

def _feature(properties, geometry_type, coordinates) -> dict:
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": geometry_type, "coordinates": coordinates}}


def _geojson(path: Path, features, **members) -> Path:
    """One feature per line, as GIS tools write them."""
    head = {"type": "FeatureCollection", **members}
    text = json.dumps(head)[:-1] + ', "features": [\n' + ",\n".join(json.dumps(f) for f in features) + "\n]}\n"
    path.write_text(text)
    return path


def _box(w, s, e, n):
    return [[[w, s], [e, s], [e, n], [w, n], [w, s]]]


def test_a_new_area_is_loaded_zone_feeder_transformers_customers(import_db, tmp_path):
    w, s, e, n = MOMBASA
    zones = _geojson(tmp_path / "zones.geojson", [_feature({"name": "Mombasa Island", "responsible": "kamau"},
                                                           "Polygon", _box(w, s, e, n))])
    report = _import(import_db, "zones", zones)
    assert report.applied and report.inserted == 1 and report.not_in_file == 4, report.problems
    feeders = _geojson(tmp_path / "feeders.geojson", [
        _feature({"code": "FM01", "name": "Island feeder"}, "LineString", [[39.65, -4.07], [39.69, -4.04]]),
        # Two pieces that meet: merged into one route.
        _feature({"code": "FM02"}, "MultiLineString",
                 [[[39.65, -4.04], [39.66, -4.05]], [[39.66, -4.05], [39.67, -4.07]]]),
    ])
    report = _import(import_db, "feeders", feeders)
    assert report.applied and report.inserted == 2, report.problems
    zone_of, = _sql(import_db, "SELECT array_agg(DISTINCT z.name) FROM feeder f JOIN zone z ON z.id = f.zone_id "
                               "WHERE f.code IN ('FM01', 'FM02')")[0]
    assert zone_of == ["Mombasa Island"]  # no zone property: the zone its start lies in
    transformers = _geojson(tmp_path / "transformers.geojson", [
        _feature({"code": f"T-FM01-{k:03d}", "feeder": "FM01"}, "Point", [39.65 + k * 0.005, -4.07 + k * 0.004])
        for k in range(1, 6)])
    report = _import(import_db, "transformers", transformers)
    assert report.applied and report.inserted == 5, report.problems
    customers = _write_csv(tmp_path / "island.csv", [
        [f"MSA{k}", f"+2547220000{k:02d}", f"Island {k}", "sw", f"T-FM01-{k:03d}", "", ""] for k in range(1, 6)])
    report = _import(import_db, "customers", customers)
    assert report.applied and report.inserted == 5, report.problems
    responsible, = _sql(import_db, "SELECT s.username FROM zone z JOIN staff s ON s.id = z.responsible_staff_id "
                                   "WHERE z.name = 'Mombasa Island'")[0]
    assert responsible == "kamau"


def test_a_declared_projected_system_is_converted(import_db, tmp_path):
    (x, y), = _sql(import_db, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(39.68, "
                              "-4.06), 4326), 32737) AS p) q")
    path = _geojson(tmp_path / "utm.geojson", [_feature({"code": "T-UTM-001", "feeder": "FM01"}, "Point", [x, y])],
                    crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32737"}})
    report = _import(import_db, "transformers", path)
    assert report.applied, report.problems
    (metres,), = _sql(import_db, "SELECT ST_Distance(location, ST_MakePoint(39.68, -4.06)::geography) "
                                 "FROM transformer WHERE code = 'T-UTM-001'")
    assert metres < 0.01


def test_every_kind_of_bad_feature_is_reported_by_line(import_db, tmp_path):
    before = _fingerprint(import_db)
    features = [
        _feature({"code": "T-OK-001", "feeder": "FM01"}, "Point", [39.66, -4.05]),                 # line 2: fine
        _feature({"code": "T-SWAP-001"}, "Point", [-4.05, 39.66]),                                 # 3: swapped
        _feature({"code": "T-UTM-002"}, "Point", [256000, 9863000]),                               # 4: metres
        _feature({"code": "T-PARIS-001"}, "Point", [2.35, 48.85]),                                 # 5: abroad
        _feature({"code": "T-SEA-001"}, "Point", [40.5, -3.0]),                                    # 6: no zone
        _feature({"code": "T-NOFEED-001", "feeder": "F-NOPE"}, "Point", [39.66, -4.05]),           # 7: feeder
        _feature({"code": "T-OK-001"}, "Point", [39.661, -4.051]),                                 # 8: twice
        _feature({"feeder": "FM01"}, "Point", [39.66, -4.05]),                                     # 9: no code
        _feature({"code": "T-LINE-001"}, "LineString", [[39.66, -4.05], [39.67, -4.05]]),          # 10: not a point
        _feature({"code": "T-NAN-001"}, "Point", ["39.66", -4.05]),                                # 11: text
    ]
    report = _import(import_db, "transformers", _geojson(tmp_path / "bad.geojson", features))
    found = _messages(report)
    expected = {3: "axes look swapped", 4: "look like metres", 5: "outside KE", 6: "outside every zone",
                7: "Unknown feeder F-NOPE", 8: "also on line 2", 9: "no code property", 10: "needs a point geometry",
                11: "not numbers"}
    for line, text in expected.items():
        assert any(text in m for m in found.get(line, [])), (line, text, found.get(line))
    assert 2 not in found and not report.applied
    assert _fingerprint(import_db) == before


@pytest.mark.parametrize("kind, features, expected", [
    ("zones", [_feature({"name": "Bowtie"}, "Polygon",
                        [[[39.64, -4.08], [39.70, -4.03], [39.70, -4.08], [39.64, -4.03], [39.64, -4.08]]])],
     "not valid (Self-intersection"),
    ("zones", [_feature({"name": "Open"}, "Polygon", [[[39.64, -4.08], [39.70, -4.03], [39.70, -4.08]]])],
     "a ring must close"),
    ("zones", [_feature({"name": "Nobody's", "responsible": "no-such-person"}, "Polygon", _box(*MOMBASA))],
     "username no-such-person"),
    ("feeders", [_feature({"code": "FM09"}, "MultiLineString",
                          [[[39.65, -4.04], [39.66, -4.05]], [[39.68, -4.06], [39.69, -4.07]]])], "in 2 pieces"),
    ("feeders", [_feature({"code": "FM10", "zone": "Atlantis"}, "LineString", [[39.65, -4.07], [39.69, -4.04]])],
     "Unknown zone Atlantis"),
])
def test_bad_network_features(import_db, tmp_path, kind, features, expected):
    report = _import(import_db, kind, _geojson(tmp_path / "f.geojson", features))
    assert not report.ok and any(expected in p.english() for p in report.problems), \
        [p.english() for p in report.problems]
    assert report.problems[0].line == 2


@pytest.mark.parametrize("content, expected", [
    (b'{"type": "FeatureCollection", "features": [\n{"type": "Feature",\n "properties": {}, }\n]}',
     (3, "not valid GeoJSON")),
    (b'{"type": "Feature", "properties": {}, "geometry": null}', (1, "not a FeatureCollection")),
    (b'[1, 2]', (1, "should start with {")),
    (b'{"type": "FeatureCollection", "features": []}', (None, "no features")),
    (b'{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:999999"}}, '
     b'"features": [{"type": "Feature", "properties": {"code": "X"}, "geometry": {"type": "Point", '
     b'"coordinates": [1, 2]}}]}', (None, "EPSG:999999, which we do not know")),
    (b'\xff\xfe{}', (1, "not UTF-8")),
])
def test_files_that_are_not_feature_collections_say_why(import_db, tmp_path, content, expected):
    path = tmp_path / "odd.geojson"
    path.write_bytes(content)
    report = _import(import_db, "transformers", path)
    assert not report.ok
    line, text = expected
    assert any(p.line == line and text in p.english() for p in report.problems), [p.english() for p in report.problems]


# ---------------------------------------------------------------- export, round trip

@pytest.mark.parametrize("kind", ["zones", "feeders", "transformers", "customers"])
def test_an_export_imported_again_changes_nothing(import_db, tmp_path, kind):
    path = tmp_path / f"{kind}.export"
    with path.open("wb") as handle:
        export_to(import_db, kind, handle)
    count, = _sql(import_db, f"SELECT count(*) FROM {kind[:-1]}")[0]
    report = _import(import_db, kind, path)
    assert report.applied and (report.inserted, report.updated, report.unchanged) == (0, 0, count), \
        report.problems[:3]


def test_the_customer_export_is_the_import_format(import_db, tmp_path):
    out = io.BytesIO()
    export_to(import_db, "customers", out)
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == ",".join(HEADER)
    placed_at_transformer = next(line for line in lines if line.startswith("GOOD000010,"))
    assert placed_at_transformer.endswith(",,")  # came without coordinates: goes out without


# ---------------------------------------------------------------- the command line

def _cli(url, *args):
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_command_line_imports_and_exports(import_db, tmp_path):
    path = _write_csv(tmp_path / "cli.csv", _demo_rows(20, prefix="CLI"))
    dry = _cli(import_db, "import", "customers", str(path), "--dry-run")
    assert dry.returncode == 0 and "Would add 20" in dry.stdout and "nothing was changed" in dry.stdout
    assert _customers(import_db, "CLI") == {}
    done = _cli(import_db, "import", "customers", str(path))
    assert done.returncode == 0 and "Added 20" in done.stdout
    bad = _write_csv(tmp_path / "cli-bad.csv", [["CLI-X", "", "", "", "T-NOPE-1", "", ""]])
    refused = _cli(import_db, "import", "customers", str(bad))
    assert refused.returncode == 1 and "line 2: Unknown transformer T-NOPE-1" in refused.stderr
    exported = _cli(import_db, "export", "zones")
    assert exported.returncode == 0 and json.loads(exported.stdout)["type"] == "FeatureCollection"


# ---------------------------------------------------------------- the administrator's upload page

@pytest.fixture(scope="module")
def import_app(import_db, test_settings):
    return create_app(import_db, test_settings)


@pytest.fixture
async def admin(import_app):
    async with AsyncTestClient(app=import_app) as client:
        assert (await sign_in(client, "admin")).status_code == 303
        yield client


async def _upload(client, kind, name, content: bytes, dry_run: bool):
    token = await csrf_token(client, "/admin/imports")
    data = {"kind": kind, "_csrf_token": token, **({"dry_run": "on"} if dry_run else {})}
    return await client.post("/admin/imports", data=data, files={"file": (name, content, "text/csv")},
                             headers={"accept": "text/html"})


async def test_upload_check_then_apply(admin, import_db):
    rows = _demo_rows(40, prefix="WEB")
    content = ("\n".join(",".join(map(str, r)) for r in [HEADER, *rows]) + "\n").encode()
    checked = await _upload(admin, "customers", "web.csv", content, dry_run=True)
    assert checked.status_code == 200 and "Apply this file" in checked.text
    assert _customers(import_db, "WEB") == {}
    run_id = checked.text.split('action="/admin/imports/')[1].split("/apply")[0]
    token = await csrf_token(admin, f"/admin/imports/{run_id}")
    applied = await admin.post(f"/admin/imports/{run_id}/apply", data={"_csrf_token": token},
                               headers={"accept": "text/html"})
    assert applied.status_code == 201 and "40 new" in applied.text
    assert len(_customers(import_db, "WEB")) == 40
    again = await admin.post(f"/admin/imports/{run_id}/apply", data={"_csrf_token": token},
                             headers={"accept": "text/html"})
    assert again.status_code == 409  # the kept file went once it was applied
    listing = await admin.get("/admin/imports")
    assert "web.csv" in listing.text


async def test_a_bad_upload_gets_its_report_and_changes_nothing(admin, import_db):
    before = _fingerprint(import_db)
    content = b"meter_no,phone,transformer\nWEB-BAD,07,T-F101-001\nWEB-BAD2,,T-NOPE\n"
    response = await _upload(admin, "customers", "bad.csv", content, dry_run=False)
    assert response.status_code == 422
    assert "07 is not a valid phone number" in response.text and "Unknown transformer T-NOPE" in response.text
    assert ">2<" in response.text and ">3<" in response.text  # the line numbers
    assert _fingerprint(import_db) == before


async def test_an_upload_without_a_file_or_kind_is_told_what_is_missing(admin):
    token = await csrf_token(admin, "/admin/imports")
    response = await admin.post("/admin/imports", data={"_csrf_token": token, "kind": "planets"},
                                files={"nothing": ("", b"", "text/plain")}, headers={"accept": "text/html"})
    assert response.status_code == 422
    assert "Choose what the file holds." in response.text and "Choose a file to import." in response.text


@pytest.mark.parametrize("kind", ["zones", "customers"])
async def test_the_export_download_matches_the_command_line(admin, import_db, kind):
    response = await admin.get(f"/admin/export/{kind}")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    out = io.BytesIO()
    export_to(import_db, kind, out)
    assert response.content == out.getvalue()


async def test_only_administrators_may_import(import_app):
    async with AsyncTestClient(app=import_app) as client:
        await sign_in(client, "supervisor")
        token = await csrf_token(client, "/supervisor")
        response = await client.post("/admin/imports", data={"kind": "customers", "_csrf_token": token},
                                     files={"file": ("c.csv", b"meter_no,transformer\n", "text/csv")})
        assert response.status_code == 403
        assert (await client.get("/admin/export/customers")).status_code == 403


async def test_an_export_is_named_by_the_utilitys_day_not_the_machines(import_app):
    """At 23:30 UTC on 31 December it is already 1 January in Nairobi: the file says 2028-01-01."""
    import time_machine
    with time_machine.travel("2027-12-31T23:30:00+00:00", tick=True):
        async with AsyncTestClient(app=import_app) as admin:
            assert (await sign_in(admin, "admin")).status_code == 303
            response = await admin.get("/admin/export/zones")
    assert 'filename="faultline-2028-01-01-' in response.headers["content-disposition"]
