"""Reading incidents for the people who act on them (dispatch queue, crews, supervisors)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow


@dataclass(frozen=True)
class QueueRow:
    id: int
    code: str
    status: str
    priority: str
    category: str
    zone: str | None
    transformer: str | None
    crew: str | None
    report_count: int
    repeat_calls: int
    customers_affected: int
    flag: str | None
    reported_at: datetime
    etr: datetime | None
    rev: int
    danger_unattended: bool
    total: int  # open incidents matching the filters, shown or not (the queue shows the most urgent)


# The order a dispatcher works in: danger until someone is on site, then high priority, reopened faults,
# the most customers, the oldest. Sorted and cut on the incident table alone, joined afterwards: with
# 20,000 open incidents in a storm the joins then touch 200 rows, not all of them.
_QUEUE = text("""
    SELECT i.id, i.code, i.status, i.priority, i.category, z.name AS zone, t.code AS transformer,
           c.name AS crew, i.report_count, i.repeat_calls, i.customers_affected, i.flag, i.reported_at, i.etr,
           i.rev, i.danger_unattended, i.total
    FROM (
        SELECT i.*, (i.category = 'danger' AND i.status IN ('reported', 'assigned', 'en_route')) AS danger_unattended,
               count(*) OVER () AS total
        FROM incident i
        WHERE i.status IN ('reported', 'assigned', 'en_route', 'on_site')
          AND (CAST(:crew_id AS integer) IS NULL OR i.crew_id = :crew_id)
          AND (CAST(:zone_id AS integer) IS NULL OR i.zone_id = :zone_id)
          AND (CAST(:status AS text) IS NULL OR i.status = :status)
        ORDER BY danger_unattended DESC, (i.priority = 'high') DESC, (i.flag IS NOT NULL) DESC,
                 i.customers_affected DESC, i.reported_at, i.id
        LIMIT :limit
    ) i
    LEFT JOIN zone z ON z.id = i.zone_id
    LEFT JOIN transformer t ON t.id = i.transformer_id
    LEFT JOIN crew c ON c.id = i.crew_id
    ORDER BY i.danger_unattended DESC, (i.priority = 'high') DESC, (i.flag IS NOT NULL) DESC,
             i.customers_affected DESC, i.reported_at, i.id
""")


async def open_queue(session: AsyncSession, crew_id: int | None = None, limit: int = 200, *,
                     zone_id: int | None = None, status: str | None = None) -> list[QueueRow]:
    rows = await session.exec(_QUEUE, params={"crew_id": crew_id, "zone_id": zone_id, "status": status,
                                              "limit": limit})
    return [QueueRow(**row._mapping) for row in rows]


@dataclass(frozen=True)
class ZonePending:
    zone: str
    responsible: str | None
    open_incidents: int
    open_reports: int
    oldest: datetime | None


_PENDING_BY_ZONE = text("""
    SELECT z.name AS zone, s.display_name AS responsible,
           count(i.id) AS open_incidents, coalesce(sum(i.report_count), 0) AS open_reports,
           min(i.reported_at) AS oldest
    FROM zone z
    LEFT JOIN staff s ON s.id = z.responsible_staff_id
    LEFT JOIN incident i ON i.zone_id = z.id AND i.status IN ('reported', 'assigned', 'en_route', 'on_site')
    GROUP BY z.id, z.name, s.display_name
    ORDER BY min(i.reported_at) NULLS LAST, z.name
""")


async def pending_by_zone(session: AsyncSession) -> list[ZonePending]:
    return [ZonePending(**row._mapping) for row in await session.exec(_PENDING_BY_ZONE)]


# Public: never a customer's own point. Where the transformer is known, its place; else the
# report's point snapped to a ~100 m grid.
_OUTAGES_GEOJSON = text("""
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(f), '[]'::json))
    FROM (
        SELECT json_build_object(
            'type', 'Feature',
            'geometry', ST_AsGeoJSON(coalesce(t.location::geometry,
                                              ST_SnapToGrid(i.location::geometry, 0.001)), 5)::json,
            'properties', json_build_object(
                'kind', 'fault', 'reference', i.code, 'status', i.status, 'category', i.category,
                'zone', z.name, 'reports', i.report_count, 'customers_affected', i.customers_affected,
                'reported_at', i.reported_at, 'etr', i.etr)) AS f
        FROM incident i
        LEFT JOIN transformer t ON t.id = i.transformer_id
        LEFT JOIN zone z ON z.id = i.zone_id
        WHERE i.status IN ('reported', 'assigned', 'en_route', 'on_site')
          AND (CAST(:zone AS text) IS NULL OR z.name = :zone)
        UNION ALL
        SELECT json_build_object(
            'type', 'Feature',
            'geometry', ST_AsGeoJSON(p.area, 5)::json,
            'properties', json_build_object(
                'kind', 'planned', 'title', p.title, 'reason', p.reason, 'zone', z.name,
                'starts_at', p.starts_at, 'ends_at', p.ends_at)) AS f
        FROM planned_outage p
        LEFT JOIN zone z ON z.id = p.zone_id
        WHERE NOT p.cancelled AND p.ends_at > CAST(:now AS timestamptz)
          AND (CAST(:zone AS text) IS NULL OR z.name = :zone)
    ) features
""")


async def outages_geojson(session: AsyncSession, zone: str | None = None) -> dict:
    return (await session.exec(_OUTAGES_GEOJSON, params={"zone": zone, "now": utcnow()})).scalar_one()


@dataclass(frozen=True)
class ZoneOutages:
    zone: str
    faults: list[QueueRow]
    planned: list


_PLANNED = text("""
    SELECT p.title, p.reason, p.starts_at, p.ends_at, z.name AS zone FROM planned_outage p
    LEFT JOIN zone z ON z.id = p.zone_id
    WHERE NOT p.cancelled AND p.ends_at > CAST(:now AS timestamptz) ORDER BY p.starts_at
""")


async def outages_by_zone(session: AsyncSession) -> list[ZoneOutages]:
    """What a customer checks before calling: open faults and planned work, area by area."""
    faults = await open_queue(session, limit=1000)
    planned = (await session.exec(_PLANNED, params={"now": utcnow()})).all()
    zones = sorted({f.zone or "" for f in faults} | {p.zone or "" for p in planned})
    return [ZoneOutages(zone, [f for f in faults if (f.zone or "") == zone],
                        [p for p in planned if (p.zone or "") == zone]) for zone in zones]
