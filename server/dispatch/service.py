"""What the dispatcher's console reads: the map's live layer, nearest crews, one incident in full."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.assets.models import Zone
from server.crews.models import Crew
from server.db import utcnow
from server.forms import whole_number

SUGGESTIONS = 5
# A crew that has not sent a position for this long is shown as "position old": it may be far from there.
STALE_POSITION_MINUTES = 30


@dataclass(frozen=True)
class CrewSuggestion:
    id: int
    code: str
    name: str
    status: str
    metres: float
    load: int
    position_at: datetime | None
    minutes_since_position: int | None


# PostGIS KNN (`<->` on the GiST index of crew.position, geography: metres) — the index walks outwards
# from the incident, so this stays fast with thousands of crews. Load = open jobs the crew already has.
# The planner only orders an index scan by `<->` against a constant or a parameter, never a column of a
# joined table: hence LATERAL, which hands the incident's point to the inner query as a parameter (a plain
# join read all crews and sorted them). Load is counted for the chosen crews only.
_NEAREST = text("""
    SELECT c.id, c.code, c.name, c.status, c.metres,
           (SELECT count(*) FROM incident j
            WHERE j.crew_id = c.id AND j.status IN ('assigned', 'en_route', 'on_site')) AS load,
           c.position_at,
           (extract(epoch FROM CAST(:now AS timestamptz) - c.position_at) / 60)::int AS minutes_since_position
    FROM (SELECT location FROM incident WHERE id = :incident_id) i
    CROSS JOIN LATERAL (
        SELECT c.id, c.code, c.name, c.status, c.position_at, ST_Distance(c.position, i.location) AS metres,
               c.position <-> i.location AS knn
        FROM crew c
        WHERE c.status <> 'off_shift' AND c.position IS NOT NULL
        ORDER BY c.position <-> i.location
        LIMIT :limit
    ) c
    ORDER BY c.knn
""")


async def nearest_crews(session: AsyncSession, incident_id: int, limit: int = SUGGESTIONS) -> list[CrewSuggestion]:
    rows = await session.exec(_NEAREST, params={"incident_id": incident_id, "limit": limit, "now": utcnow()})
    return [CrewSuggestion(**row._mapping) for row in rows]


# Incidents and crews for the console map, as one GeoJSON document built by the database.
_LIVE_MAP = text("""
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(f), '[]'::json))
    FROM (
        SELECT json_build_object(
            'type', 'Feature', 'id', 'incident-' || i.id,
            'geometry', ST_AsGeoJSON(i.location::geometry, 6)::json,
            'properties', json_build_object(
                'kind', 'incident', 'id', i.id, 'code', i.code, 'status', i.status, 'priority', i.priority,
                'danger', i.category = 'danger', 'customers', i.customers_affected, 'reports', i.report_count,
                'zone_id', i.zone_id)) AS f
        FROM incident i
        WHERE i.status IN ('reported', 'assigned', 'en_route', 'on_site') AND i.location IS NOT NULL
          AND (CAST(:zone_id AS integer) IS NULL OR i.zone_id = :zone_id)
        UNION ALL
        SELECT json_build_object(
            'type', 'Feature', 'id', 'crew-' || c.id,
            'geometry', ST_AsGeoJSON(c.position::geometry, 6)::json,
            'properties', json_build_object(
                'kind', 'crew', 'id', c.id, 'code', c.code, 'name', c.name, 'status', c.status,
                'minutes', (extract(epoch FROM CAST(:now AS timestamptz) - c.position_at) / 60)::int)) AS f
        FROM crew c
        WHERE c.position IS NOT NULL AND c.status <> 'off_shift'
    ) features
""")


async def live_map(session: AsyncSession, zone_id: int | None = None) -> dict:
    return (await session.exec(_LIVE_MAP, params={"zone_id": zone_id, "now": utcnow()})).scalar_one()


@dataclass(frozen=True)
class IncidentView:
    incident: object  # the row: every incident column plus zone, transformer, feeder, crew names
    reports: list
    events: list
    notes: list
    photos: list
    checkins: list
    suggestions: list[CrewSuggestion]


_INCIDENT = text("""
    SELECT i.*, z.name AS zone, t.code AS transformer, f.code AS feeder, c.name AS crew, c.code AS crew_code,
           m.code AS merged_into,
           ST_Y(i.location::geometry) AS latitude, ST_X(i.location::geometry) AS longitude
    FROM incident i
    LEFT JOIN zone z ON z.id = i.zone_id
    LEFT JOIN transformer t ON t.id = i.transformer_id
    LEFT JOIN feeder f ON f.id = i.feeder_id
    LEFT JOIN crew c ON c.id = i.crew_id
    LEFT JOIN incident m ON m.id = i.merged_into_id
    WHERE i.id = :id
""")
_REPORTS = text("""
    SELECT r.id, r.channel, r.category, r.phone, r.text, r.photo, r.created_at, r.language
    FROM report r WHERE r.incident_id = :id ORDER BY r.created_at DESC LIMIT 50
""")
_EVENTS = text("""
    SELECT e.kind, e.actor, s.display_name AS who, e.client_time, e.server_time, e.details
    FROM incident_event e
    LEFT JOIN staff s ON s.id = CASE WHEN e.actor ~ '^staff:[0-9]+$' THEN substr(e.actor, 7)::int END
    WHERE e.incident_id = :id ORDER BY e.seq
""")
_NOTES = text("""
    SELECT n.text, n.author_role, coalesce(s.display_name, c.name) AS who, coalesce(n.client_time, n.server_time) AS at
    FROM note n LEFT JOIN staff s ON s.id = n.staff_id LEFT JOIN crew c ON c.id = n.crew_id
    WHERE n.incident_id = :id ORDER BY at
""")
# has_file: the file may arrive before or after its photo row (sync/photos.py); link it once it is here.
_PHOTOS = text("SELECT p.id, p.caption, coalesce(p.client_time, p.server_time) AS at, f.id IS NOT NULL AS has_file "
               "FROM photo p LEFT JOIN photo_file f ON f.id = p.id WHERE p.incident_id = :id ORDER BY at")
_CHECKINS = text("SELECT k.accuracy_m, k.distance_m, k.outside_geofence, coalesce(k.client_time, k.server_time) AS at "
                 "FROM checkin k WHERE k.incident_id = :id ORDER BY at")


async def incident_view(session: AsyncSession, incident_id: int) -> IncidentView | None:
    incident = (await session.exec(_INCIDENT, params={"id": incident_id})).first()
    if incident is None:
        return None
    params = {"id": incident_id}
    return IncidentView(
        incident=incident,
        reports=(await session.exec(_REPORTS, params=params)).all(),
        events=(await session.exec(_EVENTS, params=params)).all(),
        notes=(await session.exec(_NOTES, params=params)).all(),
        photos=(await session.exec(_PHOTOS, params=params)).all(),
        checkins=(await session.exec(_CHECKINS, params=params)).all(),
        suggestions=await nearest_crews(session, incident_id) if incident.status in (
            "reported", "assigned", "en_route", "on_site") else [],
    )


async def zones(session: AsyncSession) -> list[Zone]:
    return list(await session.exec(select(Zone).order_by(Zone.name)))


# The console's crew table shows this many; a utility with thousands of crews searches or picks a zone.
CREW_ROWS = 50


@dataclass(frozen=True)
class CrewList:
    crews: list[Crew]
    total: int          # how many match, of which `crews` are the first CREW_ROWS
    zone_id: int | None
    search: str


async def crews_for_console(session: AsyncSession, zone_id: int | None = None, search: str = "") -> CrewList:
    """Crews on shift first, then by code; by home zone and by a piece of the code or name."""
    search = " ".join(search.split())[:60]
    matching = select(Crew)
    if zone_id is not None:
        matching = matching.where(Crew.home_zone_id == zone_id)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matching = matching.where(or_(Crew.code.ilike(pattern), Crew.name.ilike(pattern)))
    total = (await session.exec(select(func.count()).select_from(matching.subquery()))).one()
    crews = await session.exec(matching.order_by(Crew.status == "off_shift", Crew.code).limit(CREW_ROWS))
    return CrewList(list(crews), total, zone_id, search)


async def latest_live_event(session: AsyncSession) -> int:
    return (await session.exec(text("SELECT coalesce(max(id), 0) FROM live_event"))).scalar_one()


async def incident_by_code(session: AsyncSession, code: str) -> int | None:
    """An incident's id from the code a dispatcher types ("FL-000123", or just "123")."""
    code = code.strip().upper()
    number = whole_number(code)
    if number is not None:
        code = f"FL-{number:06d}"
    if not code or len(code) > 20:
        return None
    return (await session.exec(text("SELECT id FROM incident WHERE code = :code"), params={"code": code})).scalar()


async def report_photo_exists(session: AsyncSession, name: str) -> bool:
    if len(name) > 80:
        return False
    return (await session.exec(text("SELECT EXISTS (SELECT 1 FROM report WHERE photo = :name)"),
                               params={"name": name})).scalar_one()


async def crew_id_by_code(session: AsyncSession, code: str) -> int | None:
    code = code.strip().upper()
    if not code or len(code) > 20:
        return None
    return (await session.exec(text("SELECT id FROM crew WHERE upper(code) = :code"), params={"code": code})).scalar()
