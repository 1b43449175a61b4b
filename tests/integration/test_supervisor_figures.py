"""The supervisor's audit pages on real PostGIS: zone and crew figures with known answers (and the SQL agreeing
with the pure rules of server/audit/sla.py), CSV and GeoJSON exports, the SLA watch list, an offline job's
timeline, refused periods, and who may open all this."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.operator import effective_settings, save_overrides
from server.audit import figures, sla
from server.audit.routes import CSV_COLUMNS
from server.db import make_engine, utcnow
from server.incidents import actions
from server.incidents.models import IncidentEvent
from server.db_url import libpq_url
from sync import mutations as m
from sync import service as sync
from tests.conftest import sign_in
from tests.integration.test_sync_support import fresh, make_crew, make_incident, make_staff, new_id
from tests.support.clock import utc

NAIROBI, TIRANE = ZoneInfo("Africa/Nairobi"), ZoneInfo("Europe/Tirane")
MARCH = ("2019-03-01", "2019-03-31")


def local(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2019, month, day, hour, minute, tzinfo=NAIROBI)


async def _incident(session, zone_id: int, crew_id: int | None, reported: datetime, steps: dict[str, float],
                    status: str = "closed", priority: str = "normal", reopened_from: int | None = None) -> int:
    """An incident of March 2019 written straight into the table: step times in minutes after the report."""
    times = {f"{step}_at": reported + timedelta(minutes=minutes) for step, minutes in steps.items()}
    columns = ", ".join(times)
    values = ", ".join(f":{name}" for name in times)
    row = await session.exec(text(f"""
        INSERT INTO incident (category, priority, status, location, zone_id, crew_id, report_count, reported_at,
                              reopened_from_id{", " + columns if times else ""})
        SELECT :category, :priority, :status, ST_PointOnSurface(z.area)::geography, z.id, :crew_id, 1, :reported,
               :reopened_from{", " + values if times else ""}
        FROM zone z WHERE z.id = :zone_id
        RETURNING id"""), params={"category": "danger" if priority == "high" else "no_power", "priority": priority,
                                  "status": status, "zone_id": zone_id, "crew_id": crew_id, "reported": reported,
                                  "reopened_from": reopened_from, **times})
    return row.scalar_one()


async def _checkin(session, incident_id: int, crew_id: int, distance_m: float, accuracy_m: float | None) -> None:
    await session.exec(text("""
        INSERT INTO checkin (id, incident_id, crew_id, location, accuracy_m, distance_m, client_time, server_time)
        SELECT :id, i.id, :crew_id, i.location, :accuracy_m, :distance_m, i.reported_at, i.reported_at
        FROM incident i WHERE i.id = :incident_id"""),
        params={"id": new_id(), "incident_id": incident_id, "crew_id": crew_id, "accuracy_m": accuracy_m,
                "distance_m": distance_m})


@pytest.fixture(scope="module")
async def march(engine):
    """Jobs of March 2019 in one zone for two crews, with answers worked out by hand (see each line)."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        operator = await effective_settings(session, _settings())
        assert (operator.sla_danger_on_site_minutes, operator.sla_danger_restore_minutes,
                operator.sla_restore_minutes, operator.geofence_radius_m) == (60, 240, 1440, 150), \
            "these answers assume the default SLA targets and geofence"
        zone = (await session.exec(text("SELECT id, name FROM zone ORDER BY name LIMIT 1"))).one()
        crew_a, crew_b = await make_crew(session, "Audit A"), await make_crew(session, "Audit B")
        a, b = crew_a.id, crew_b.id
        add = _incident
        ids = {
            1: await add(session, zone.id, a, local(5, 10), {"assigned": 10, "en_route": 20, "on_site": 40,
                                                             "restored": 120, "closed": 200}),
            # restored after 30 h: breaches the day's target
            2: await add(session, zone.id, a, local(6, 10), {"assigned": 20, "on_site": 60, "restored": 1800,
                                                             "closed": 1900}),
            # danger on site after 70 min: breaches the hour; restored within 4 h
            3: await add(session, zone.id, b, local(7, 10), {"assigned": 5, "on_site": 70, "restored": 200},
                         status="restored", priority="high"),
            4: await add(session, zone.id, b, local(8, 10), {"assigned": 30, "on_site": 90, "restored": 240,
                                                             "closed": 300}),
            # cancelled (a duplicate): not a job
            5: await add(session, zone.id, a, local(9, 10), {"assigned": 5, "cancelled": 15}, status="cancelled"),
            # the first minutes of March in Nairobi (still February in UTC): in the period
            7: await add(session, zone.id, b, local(1, 0, 10), {"assigned": 15, "on_site": 45, "restored": 90,
                                                                "closed": 120}),
            # the last minutes of February and the first of April in Nairobi: outside
            8: await add(session, zone.id, a, local(28, 23, 50, month=2), {"assigned": 1, "on_site": 2,
                                                                           "restored": 3, "closed": 4}),
            9: await add(session, zone.id, a, local(1, 0, 5, month=4), {"assigned": 1, "on_site": 2, "restored": 3,
                                                                        "closed": 4}),
            # the phone's clock was behind: on site "30 min" after the report but 30 min before the assignment;
            # the server received it at 150 min, which counts
            10: await add(session, zone.id, a, local(10, 10), {"assigned": 60, "on_site": 30, "restored": 200,
                                                               "closed": 250}),
        }
        # the customer of #4 said the power was not back: #6 reopens it
        ids[6] = await add(session, zone.id, a, local(8, 15), {"assigned": 10, "on_site": 40, "restored": 100,
                                                               "closed": 150}, reopened_from=ids[4])
        session.add(IncidentEvent(incident_id=ids[10], kind="on_site", actor="system",
                                  client_time=local(10, 10, 30), server_time=local(10, 12, 30), details={}))
        await _checkin(session, ids[1], a, 40, 10)      # inside
        await _checkin(session, ids[2], a, 5000, 20)    # outside
        await _checkin(session, ids[3], b, 180, 40)     # 30 m beyond the fence, but the fix says ±40 m: inside
        await _checkin(session, ids[4], b, 170, None)   # outside
        await _checkin(session, ids[7], a, 600, 5)      # outside, by crew A on crew B's job: counted for A
        await _checkin(session, ids[5], a, 9000, 5)     # on a cancelled job: not counted
        await _checkin(session, ids[8], a, 9000, 5)     # outside the period: not counted
        await session.commit()
    return {"zone": zone, "crew_a": crew_a, "crew_b": crew_b, "ids": ids}


def _settings():
    from server.settings import get_settings
    return get_settings()


def _period() -> figures.Period:
    return figures.parse_period(*MARCH, today=utcnow().astimezone(NAIROBI).date(), timezone="Africa/Nairobi")


async def _figures(session) -> figures.Figures:
    operator = await effective_settings(session, _settings())
    return await figures.period_figures(session, _period(), sla.Targets.from_settings(operator),
                                        operator.geofence_radius_m, utcnow())


def _numbers(f: figures.Figure) -> tuple:
    return (f.jobs, f.assign_p50, f.assign_p90, f.arrive_p50, f.arrive_p90, f.restore_p50, f.restore_p90,
            f.outside_geofence, f.reopened, f.breached)


async def test_zone_and_crew_figures_for_march(session, march):
    found = await _figures(session)
    zones = {z.name: z for z in found.zones}
    zone = zones[march["zone"].name]
    approx = pytest.approx
    # jobs 1, 2, 3, 4, 6, 7, 10.  assign 5 10 10 15 20 30 60; arrive 40 40 45 60 70 90 150 (#10 at its receipt);
    # restore 90 100 120 200 200 240 1800. Outside: #2, #4, #7. Reopened: #4. Breached: #2 (30 h), #3 (70 min).
    assert _numbers(zone) == (7, approx(15), approx(42), approx(60), approx(114), approx(200), approx(864), 3, 1, 2)
    assert zone.responsible is not None
    assert all(z.jobs == 0 for name, z in zones.items() if name != march["zone"].name)
    crews = {c.key: c for c in found.crews}
    # crew A: jobs 1, 2, 6, 10 — assign 10 10 20 60, arrive 40 40 60 150, restore 100 120 200 1800
    assert _numbers(crews[march["crew_a"].id]) == (4, approx(15), approx(48), approx(50), approx(123), approx(160),
                                                   approx(1320), 2, 0, 1)
    # crew B: jobs 3, 4, 7 — assign 5 15 30, arrive 45 70 90, restore 90 200 240
    assert _numbers(crews[march["crew_b"].id]) == (3, approx(15), approx(27), approx(70), approx(86), approx(200),
                                                   approx(232), 1, 1, 1)
    assert set(crews) == {march["crew_a"].id, march["crew_b"].id}
    days = {d.name: d for d in found.days}
    assert len(found.days) == 31 and days["2019-03-01"].jobs == 1 and days["2019-03-31"].jobs == 0
    assert (days["2019-03-08"].jobs, days["2019-03-08"].restore_p50, days["2019-03-08"].reopened) == (2, approx(170), 1)
    assert days["2019-03-09"].jobs == 0  # only the cancelled one


async def test_the_sql_applies_the_same_rules_as_the_pure_functions(session, march):
    """Each job's step times and SLA by sla.py, from the same rows (with the receipts): the same figures."""
    operator = await effective_settings(session, _settings())
    targets, now = sla.Targets.from_settings(operator), utcnow()
    period = _period()
    rows = list(await session.exec(text("""
        SELECT i.*, rcv.* FROM incident i
        LEFT JOIN LATERAL (
            SELECT min(e.server_time) FILTER (WHERE e.kind = 'en_route') AS en_route_received,
                   min(e.server_time) FILTER (WHERE e.kind = 'on_site') AS on_site_received,
                   min(e.server_time) FILTER (WHERE e.kind = 'restored') AS restored_received
            FROM incident_event e WHERE e.incident_id = i.id) rcv ON true
        WHERE i.zone_id = :zone AND i.reported_at >= :start AND i.reported_at < :end AND i.status <> 'cancelled'
    """), params={"zone": march["zone"].id, "start": period.start, "end": period.end}))
    assign, arrive, restore, breached = [], [], [], 0
    for row in rows:
        times = {t.step: t.at for t in sla.step_times(figures.step_claims(row))}
        for found, step in ((assign, "assigned"), (arrive, "on_site"), (restore, "restored")):
            if times[step] is not None:
                found.append((times[step] - row.reported_at).total_seconds() / 60)
        checks = sla.assess(row.priority, row.status, sla.step_times(figures.step_claims(row)), now, targets)
        breached += sla.worst(checks) == sla.BREACHED
    zone = next(z for z in (await _figures(session)).zones if z.key == march["zone"].id)
    assert zone.jobs == len(rows) == 7
    for values, p50, p90 in ((assign, zone.assign_p50, zone.assign_p90), (arrive, zone.arrive_p50, zone.arrive_p90),
                             (restore, zone.restore_p50, zone.restore_p90)):
        assert (p50, p90) == (pytest.approx(sla.percentile(values, .5)), pytest.approx(sla.percentile(values, .9)))
    assert zone.breached == breached


async def _supervisor(client):
    assert (await sign_in(client, "supervisor")).status_code == 303
    return client


async def test_the_figures_page_has_charts_and_tables(client, march):
    await _supervisor(client)
    page = await client.get("/supervisor/figures", params={"from": MARCH[0], "to": MARCH[1]})
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count('role="img"') == 2 and html.count("<title id=\"chart-") == 2
    assert 'aria-labelledby="chart-restore-title chart-restore-desc"' in html
    assert march["zone"].name in html and "Audit A" in html and "Audit B" in html
    assert 'href="/supervisor/figures.csv?from=2019-03-01&amp;to=2019-03-31"' in html
    # median restore in the zone: 200 min
    assert "3 h 20 min" in html
    default = await client.get("/supervisor/figures")
    assert default.status_code == 200 and 'name="from" value="' in default.text


async def test_csv_export(client, march):
    await _supervisor(client)
    response = await client.get("/supervisor/figures.csv", params={"from": MARCH[0], "to": MARCH[1]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="faultline-figures-2019-03-01-2019-03-31.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    zone = next(r for r in rows if r["scope"] == "zone" and r["name"] == march["zone"].name)
    assert (zone["jobs"], zone["assign_p50_min"], zone["arrive_p90_min"], zone["restore_p90_min"],
            zone["checkins_outside_geofence"], zone["reopened"], zone["sla_breached"]) == \
        ("7", "15.0", "114.0", "864.0", "3", "1", "2")
    crew = next(r for r in rows if r["scope"] == "crew" and r["key"] == str(march["crew_b"].id))
    assert (crew["name"], crew["jobs"], crew["restore_p50_min"]) == ("Audit B", "3", "200.0")
    assert sum(r["scope"] == "day" for r in rows) == 31
    empty = next(r for r in rows if r["scope"] == "zone" and r["name"] != march["zone"].name)
    assert (empty["jobs"], empty["assign_p50_min"]) == ("0", "")


async def test_by_default_the_last_30_days_up_to_today_where_the_utility_is(clock, client):
    """On any day: New Year's Eve is still the old year's last day in Nairobi, Tirane's day of the change one day."""
    await _supervisor(client)
    response = await client.get("/supervisor/figures.csv")
    assert response.status_code == 200
    days = [r["key"] for r in csv.DictReader(io.StringIO(response.text)) if r["scope"] == "day"]
    today = clock.today()
    assert days == [(today - timedelta(days=29 - k)).isoformat() for k in range(30)]


async def test_geojson_export(client, march):
    await _supervisor(client)
    response = await client.get("/supervisor/figures.geojson", params={"from": MARCH[0], "to": MARCH[1]})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) >= 4
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert isinstance(feature["geometry"]["coordinates"][0][0][0], list)  # ring of [lon, lat]
    zone = next(f for f in body["features"] if f["properties"]["zone"] == march["zone"].name)
    assert zone["id"] == march["zone"].id
    assert {k: zone["properties"][k] for k in ("jobs", "arrive_p50_min", "restore_p50_min",
                                               "checkins_outside_geofence", "reopened", "sla_breached", "from", "to")} \
        == {"jobs": 7, "arrive_p50_min": 60.0, "restore_p50_min": 200.0, "checkins_outside_geofence": 3,
            "reopened": 1, "sla_breached": 2, "from": "2019-03-01", "to": "2019-03-31"}


BAD_PERIODS = [
    ({"from": "2026-02-30"}, "is not a date for the start"),
    ({"to": "tomorrow"}, "is not a date for the end"),
    ({"from": "2026-03-10", "to": "2026-03-01"}, "after it ends"),
    ({"from": "2024-01-01", "to": "2026-03-01"}, "at most 400 days"),
    ({"from": "0001-01-01", "to": "0001-01-02"}, "between the years"),
    ({"from": "9999-12-31"}, "between the years"),
    ({"from": "2026-01-01'; DROP TABLE incident; --"}, "is not a date"),
]


@pytest.mark.parametrize("path", ["/supervisor/figures", "/supervisor/figures.csv", "/supervisor/figures.geojson"])
@pytest.mark.parametrize("params, message", BAD_PERIODS)
async def test_a_bad_period_is_a_400_with_a_reason(client, path, params, message):
    await _supervisor(client)
    page = await client.get(path, params=params, headers={"accept": "text/html"})
    assert page.status_code == 400, page.text
    assert message in page.text
    api = await client.get(path, params=params, headers={"accept": "application/json"})
    if path != "/supervisor/figures":
        assert api.status_code == 400 and message in api.json()["detail"]


@pytest.fixture
async def open_incidents(clock, session, march):
    """Open incidents right now (by the code's clock, on any day: at the daylight-saving instants the older ones
    were reported before the change), cancelled again afterwards so no other test meets them in its queue."""
    zone_id, crew_id, now = march["zone"].id, march["crew_a"].id, clock.now()
    ids = {
        "danger_at_risk": await _incident(session, zone_id, crew_id, now - timedelta(minutes=50), {"assigned": 5},
                                          status="assigned", priority="high"),
        "danger_late": await _incident(session, zone_id, crew_id, now - timedelta(minutes=70), {"assigned": 5},
                                       status="en_route", priority="high"),
        # on site in time; the restore has 3 h 10 left: fine
        "danger_on_site": await _incident(session, zone_id, crew_id, now - timedelta(minutes=50),
                                          {"assigned": 5, "on_site": 30}, status="on_site", priority="high"),
        "normal_at_risk": await _incident(session, zone_id, None, now - timedelta(hours=20), {}, status="reported"),
        "normal_fine": await _incident(session, zone_id, None, now - timedelta(hours=2), {}, status="reported"),
        "normal_late": await _incident(session, zone_id, crew_id, now - timedelta(hours=30), {"assigned": 60},
                                       status="assigned"),
        # restored in time yesterday: done, not on the list
        "restored": await _incident(session, zone_id, crew_id, now - timedelta(hours=30), {"restored": 60},
                                    status="restored"),
    }
    await session.commit()
    yield ids
    await session.exec(text("UPDATE incident SET status = 'cancelled', cancelled_at = now() "
                            "WHERE id = ANY(:ids) AND status <> 'restored'"), params={"ids": list(ids.values())})
    await session.commit()


async def test_the_sla_watch_list(session, client, open_incidents, march):
    operator = await effective_settings(session, _settings())
    watch = await figures.sla_watch(session, sla.Targets.from_settings(operator), utcnow())
    breached = [w.incident.id for w in watch.breached]
    at_risk = [w.incident.id for w in watch.at_risk]
    ids = open_incidents
    assert ids["danger_late"] in breached and ids["normal_late"] in breached
    assert breached.index(ids["normal_late"]) < breached.index(ids["danger_late"])  # the longest overdue first
    assert ids["danger_at_risk"] in at_risk and ids["normal_at_risk"] in at_risk
    assert at_risk.index(ids["danger_at_risk"]) < at_risk.index(ids["normal_at_risk"])  # the nearest deadline first
    for name in ("danger_on_site", "normal_fine", "restored"):
        assert ids[name] not in breached + at_risk, name
    late = next(w for w in watch.breached if w.incident.id == ids["danger_late"])
    assert late.check.target == "on_site"
    zone = next(z for z in watch.zones if z.zone == march["zone"].name)
    assert zone.breached >= 2 and zone.at_risk >= 2 and zone.responsible

    await _supervisor(client)
    page = await client.get("/supervisor")
    assert page.status_code == 200
    # The summary shows the most overdue first: at a frozen instant ahead, other tests' jobs still open come first.
    assert watch.breached[0].incident.code in page.text and 'hx-trigger="every 30s"' in page.text
    code = (await fresh(session, ids["danger_late"])).code
    assert 'href="/supervisor/figures"' in page.text and 'href="/supervisor/sla"' in page.text
    fragment = await client.get("/supervisor/sla", headers={"hx-request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and code in fragment.text
    full = await client.get("/supervisor/sla")
    assert full.status_code == 200 and "<html" in full.text and code in full.text


async def test_the_operator_sets_how_early_a_job_is_at_risk(session, client, open_incidents):
    """Both "at risk" jobs have a sixth of their target left: at risk with the default quarter, not with 10 %."""
    codes = {name: (await fresh(session, open_incidents[name])).code for name in ("danger_at_risk", "normal_at_risk")}
    await _supervisor(client)
    try:
        for percent, listed in ((None, True), (10, False), (20, True)):
            await save_overrides(session, {"sla_at_risk_percent": percent}, None)
            page = (await client.get("/supervisor/sla", headers={"hx-request": "true"})).text
            assert all((code in page) == listed for code in codes.values()), percent
    finally:
        await save_overrides(session, {"sla_at_risk_percent": None}, None)


async def test_an_offline_job_on_its_timeline(clock, session, client):
    """Assigned online; the crew went, arrived and restored with no signal, and synced hours later. On any day:
    at the daylight-saving instants the job spans the change, and the durations are still real time."""
    t0 = utcnow() - timedelta(hours=5)
    crew = await make_crew(session, "Audit offline")
    lineman = await make_staff(session, "lineman", crew.id, "Neema Lineman")
    dispatcher = await make_staff(session, "dispatcher")
    incident = await make_incident(session, offset=7, now=t0)
    await actions.assign_crew(session, incident.id, crew.id, dispatcher, now=t0 + timedelta(minutes=10))
    synced = t0 + timedelta(hours=4)

    def sent(number, name, minutes, **args):
        return {"id": number, "name": name, "client_time": (t0 + timedelta(minutes=minutes)).isoformat(),
                "args": {"incident_id": incident.id, **args}}
    batch = m.parse_batch({"client_id": new_id(), "mutations": [
        sent(1, "en_route", 20),
        sent(2, "arrived", 45, checkin_id=new_id(), latitude=-1.0, longitude=37.6 + 7e-4 + 0.0003, accuracy_m=12),
        sent(3, "restored", 150, cause="Blown LV fuse"),
    ]})
    result = await sync.push(session, lineman, batch, now=synced)
    assert [a.status for a in result.answers] == ["applied"] * 3, result.answers

    operator = await effective_settings(session, _settings())
    found = await figures.timeline(session, incident.id, sla.Targets.from_settings(operator),
                                   operator.geofence_radius_m, utcnow())
    steps = {s.step: s for s in found.steps}
    assert (steps["on_site"].at, steps["on_site"].server_time, steps["on_site"].source) == \
        (t0 + timedelta(minutes=45), synced, "device")
    assert steps["restored"].at == t0 + timedelta(minutes=150) and steps["assigned"].source == "server"
    assert found.intervals["on_site"].since_previous == timedelta(minutes=25)
    assert found.intervals["restored"].since_report == timedelta(minutes=150)
    assert [c.verdict for c in found.checks] == ["met"]
    assert len(found.checkins) == 1 and found.checkins[0].distance_m == pytest.approx(33, abs=2)
    assert found.checkins[0].outside is False

    await _supervisor(client)
    page = await client.get(f"/supervisor/incidents/{incident.id}/timeline")
    assert page.status_code == 200, page.text
    assert incident.code in page.text and "(phone's time)" in page.text and "inside the geofence" in page.text
    assert "1 h 45 min" in page.text and "2 h 30 min" in page.text  # on site → restored; report → restored
    lookup = await client.get("/supervisor/timeline", params={"code": incident.code.lower()}, follow_redirects=False)
    assert lookup.status_code == 303 and lookup.headers["location"] == f"/supervisor/incidents/{incident.id}/timeline"
    assert (await client.get("/supervisor/timeline", params={"code": "FL-999999999"})).status_code == 404
    assert (await client.get("/supervisor/timeline")).status_code == 400
    assert (await client.get("/supervisor/incidents/999999999/timeline")).status_code == 404
    assert (await client.get("/supervisor/incidents/abc/timeline")).status_code == 404


async def test_a_phone_clock_hours_behind_is_flagged_on_the_timeline(clock, session, client):
    t0 = utcnow() - timedelta(hours=2)
    crew = await make_crew(session, "Audit skew")
    lineman = await make_staff(session, "lineman", crew.id)
    dispatcher = await make_staff(session, "dispatcher")
    incident = await make_incident(session, offset=9, now=t0)
    await actions.assign_crew(session, incident.id, crew.id, dispatcher, now=t0 + timedelta(minutes=10))
    # The phone's clock is 3 h slow: it says "on site" before the fault was even reported.
    batch = m.parse_batch({"client_id": new_id(), "mutations": [
        {"id": 1, "name": "arrived", "client_time": (t0 - timedelta(minutes=140)).isoformat(),
         "args": {"incident_id": incident.id, "checkin_id": new_id(), "latitude": -1.0, "longitude": 37.6009}}]})
    received = t0 + timedelta(minutes=40)
    assert [a.status for a in (await sync.push(session, lineman, batch, now=received)).answers] == ["applied"]
    operator = await effective_settings(session, _settings())
    found = await figures.timeline(session, incident.id, sla.Targets.from_settings(operator),
                                   operator.geofence_radius_m, utcnow())
    on_site = next(s for s in found.steps if s.step == "on_site")
    assert (on_site.at, on_site.source, on_site.skew) == (received, "server", "behind")
    assert on_site.device_time == t0 - timedelta(minutes=140)
    await _supervisor(client)
    page = await client.get(f"/supervisor/incidents/{incident.id}/timeline")
    assert page.status_code == 200 and "its clock was behind" in page.text


def _utc(wall: str) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=UTC)


# The day asked for in Tirane; each job: reported (UTC), minutes to restore, whether it is that day's
DST_DAYS = [
    ("spring forward", "2027-03-28", 23, [
        ("2027-03-27T22:59", 30, False),   # 23:59 the day before (winter time)
        ("2027-03-27T23:30", 60, True),    # 00:30
        ("2027-03-28T00:30", 60, True),    # 01:30, restored at 03:30 after the change: one hour
        ("2027-03-28T21:59", 30, True),    # 23:59 (summer time)
        ("2027-03-28T22:00", 30, False),   # midnight after
    ]),
    ("fall back", "2027-10-31", 25, [
        ("2027-10-30T21:30", 30, False),   # 23:30 the day before (summer time)
        ("2027-10-30T22:30", 30, True),    # 00:30
        ("2027-10-31T00:30", 60, True),    # the first 02:30, restored at the second: one hour
        ("2027-10-31T22:30", 30, True),    # 23:30 (winter time)
        ("2027-10-31T23:10", 30, False),   # 00:10 the day after
    ]),
]


@pytest.mark.parametrize("case, day, hours, jobs", DST_DAYS, ids=[c[0] for c in DST_DAYS])
async def test_a_day_in_a_zone_with_daylight_saving_is_its_own_midnight_to_midnight(session, march, case, day,
                                                                                  hours, jobs):
    """Figures for Tirane's day of the change: the jobs of its 23 (or 25) hours, all bucketed on that day."""
    period = figures.parse_period(day, day, date(2027, 12, 31), "Europe/Tirane")
    assert utc(period.end) - utc(period.start) == timedelta(hours=hours)
    operator = await effective_settings(session, _settings())

    async def figures_of_the_day():
        return await figures.period_figures(session, period, sla.Targets.from_settings(operator),
                                            operator.geofence_radius_m, utcnow())
    before = await figures_of_the_day()  # other tests' jobs of that day (at the clock's instants), if any
    for reported, minutes, _ in jobs:
        await _incident(session, march["zone"].id, march["crew_a"].id, _utc(reported),
                        {"assigned": 1, "on_site": 2, "restored": minutes})
    await session.commit()
    found = await figures_of_the_day()
    theirs = [minutes for _, minutes, counted in jobs if counted]
    assert [d.name for d in found.days] == [day]
    assert found.days[0].jobs - before.days[0].jobs == len(theirs)
    zone = next(z for z in found.zones if z.key == march["zone"].id)
    assert (zone.jobs, zone.restore_p50) == (len(theirs), pytest.approx(sla.percentile(theirs, .5)))


async def test_a_database_whose_zone_has_daylight_saving_still_times_jobs_in_real_time(database_url, march):
    """A server set to Europe/Tirane (Debian's initdb takes the machine's zone): the app's sessions still read
    UTC, and a job reported at 01:30 before the spring change and restored at 03:30 after it took one hour."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET timezone TO \'Europe/Tirane\'')
    engine = make_engine(database_url, pool_size=1)
    try:
        with psycopg.connect(libpq_url(database_url)) as plain:
            assert plain.execute("SHOW TimeZone").fetchone()[0] == "Europe/Tirane"  # what a plain client gets
        async with AsyncSession(engine, expire_on_commit=False) as session:
            assert (await session.exec(text("SHOW TimeZone"))).scalar_one() == "UTC"
            reported = datetime(2027, 3, 28, 1, 30, tzinfo=TIRANE)
            incident_id = await _incident(session, march["zone"].id, march["crew_a"].id, reported,
                                          {"assigned": 5, "on_site": 50, "restored": 60}, status="restored",
                                          priority="high")
            await session.commit()
            operator = await effective_settings(session, _settings())
            found = await figures.timeline(session, incident_id, sla.Targets.from_settings(operator),
                                           operator.geofence_radius_m, utcnow())
        assert found.incident.reported_at.utcoffset() == timedelta(0)
        assert found.incident.restored_at.astimezone(TIRANE).hour == 3  # 03:30 summer time
        assert found.intervals["restored"].since_report == timedelta(hours=1)
        assert [(c.target, c.verdict) for c in found.checks] == [("on_site", "met"), ("restored", "met")]
    finally:
        await engine.dispose()
        with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" RESET timezone')


async def test_timelines_of_the_march_jobs(client, march):
    await _supervisor(client)
    late = (await client.get(f"/supervisor/incidents/{march['ids'][2]}/timeline")).text
    assert "outside the geofence" in late and "5,000 m" in late and "Breached" in late
    assert "late by 6 h" in late  # restored after 30 h against 24 h
    skewed = (await client.get(f"/supervisor/incidents/{march['ids'][10]}/timeline")).text
    assert "its clock was behind" in skewed and "2 h 30 min" in skewed  # on site counted at the receipt
    reopened = (await client.get(f"/supervisor/incidents/{march['ids'][4]}/timeline")).text
    assert "Reopened as" in reopened
    cancelled = (await client.get(f"/supervisor/incidents/{march['ids'][5]}/timeline")).text
    assert "No SLA: the incident was cancelled." in cancelled


SUPERVISOR_PATHS = ["/supervisor", "/supervisor/sla", "/supervisor/figures", "/supervisor/figures.csv",
                    "/supervisor/figures.geojson", "/supervisor/incidents/1/timeline", "/supervisor/timeline?code=FL-1"]


@pytest.mark.parametrize("role, allowed", [(None, False), ("agent", False), ("dispatcher", False),
                                           ("lineman", False), ("supervisor", True), ("admin", True)])
async def test_only_supervisors_and_administrators(client, role, allowed):
    if role is not None:
        assert (await sign_in(client, role)).status_code == 303
    for path in SUPERVISOR_PATHS:
        response = await client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
        if role is None:
            assert response.status_code == 401, path
        elif not allowed:
            assert response.status_code == 403, (role, path)
        else:
            assert response.status_code in (200, 303, 404), (role, path, response.status_code)
