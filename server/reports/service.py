"""Taking in a report: find where it is on the network, join or open an incident, all in one transaction."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.operator import effective_settings
from server.db import utcnow
from server.refusals import Refused
from server.i18n import N_
from server.incidents import rules
from server.incidents.models import Incident, IncidentEvent
from server.media import ReportPhoto
from server.reports.models import Report
from server.reports.rules import ReportInput
from server.phones import normalise_phone
from server.settings import Settings

# A transformer further than this from the report is not "its" transformer.
TRANSFORMER_SEARCH_METRES = 1500


@dataclass(frozen=True)
class Placement:
    longitude: float
    latitude: float
    zone_id: int
    transformer_id: int | None
    feeder_id: int | None
    customer_id: int | None


@dataclass(frozen=True)
class Receipt:
    report: Report
    incident: Incident
    joined_existing: bool
    already_reported: bool = False  # the same phone or meter had reported this incident: nothing new filed


_PLACE_BY_POINT = text("""
    SELECT z.id AS zone_id, t.id AS transformer_id, t.feeder_id, NULL::integer AS customer_id,
           :lon AS lon, :lat AS lat
    FROM zone z
    LEFT JOIN LATERAL (
        SELECT t.id, t.feeder_id FROM transformer t
        WHERE ST_DWithin(t.location, ST_MakePoint(:lon, :lat)::geography, :radius)
        ORDER BY t.location <-> ST_MakePoint(:lon, :lat)::geography
        LIMIT 1
    ) t ON true
    WHERE ST_Covers(z.area, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    LIMIT 1
""")

# A known meter is on a known transformer: no guessing from distance.
_PLACE_BY_METER = text("""
    SELECT z.id AS zone_id, c.transformer_id, t.feeder_id, c.id AS customer_id,
           ST_X(c.location::geometry) AS lon, ST_Y(c.location::geometry) AS lat
    FROM customer c
    LEFT JOIN transformer t ON t.id = c.transformer_id
    LEFT JOIN zone z ON ST_Covers(z.area, c.location::geometry)
    WHERE c.meter_no = :meter_no
    LIMIT 1
""")


async def place_report(session: AsyncSession, entry: ReportInput) -> Placement:
    if entry.longitude is None:
        row = (await session.exec(_PLACE_BY_METER, params={"meter_no": entry.meter_no})).first()
        if row is None or row.lon is None:
            raise Refused(N_("We do not know this meter number. Check it, or use your location instead."), 422, "meter_no")
    else:
        row = (await session.exec(_PLACE_BY_POINT, params={"lon": entry.longitude, "lat": entry.latitude,
                                                       "radius": TRANSFORMER_SEARCH_METRES})).first()
    if row is None or row.zone_id is None:
        raise Refused(N_("This place is outside the area we serve. Check the location on the map."), 422, "location")
    return Placement(row.lon, row.lat, row.zone_id, row.transformer_id, row.feeder_id, row.customer_id)


def new_tracking_token() -> str:
    """128 random bits (22 characters): unguessable, and short enough for a one-SMS link."""
    return secrets.token_urlsafe(16)


def _point(longitude: float, latitude: float) -> str:
    return f"SRID=4326;POINT({longitude} {latitude})"


_CANDIDATES = text("""
    SELECT i.id, i.category, i.transformer_id, i.priority, i.reported_at,
           ST_Distance(i.location, ST_MakePoint(:lon, :lat)::geography) AS distance_m
    FROM incident i
    WHERE i.status IN ('reported', 'assigned', 'en_route', 'on_site')
      AND (i.transformer_id = :transformer_id OR ST_DWithin(i.location, ST_MakePoint(:lon, :lat)::geography, :radius))
""")

_EARLIER_REPORT = text("""
    SELECT id FROM report
    WHERE incident_id = :incident_id AND (phone = :phone OR meter_no = :meter_no)
    ORDER BY id LIMIT 1
""")

_CUSTOMERS_ON = text("SELECT count(*) FROM customer WHERE transformer_id = :transformer_id")


async def _candidates(session: AsyncSession, place: Placement, grouping: rules.GroupingRules) -> list[rules.OpenIncident]:
    rows = await session.exec(_CANDIDATES, params={"lon": place.longitude, "lat": place.latitude,
                                                   "transformer_id": place.transformer_id,
                                                   "radius": grouping.radius_m})
    return [rules.OpenIncident(**row._mapping) for row in rows]


async def _lock_place(session: AsyncSession, place: Placement) -> None:
    """Reports about one place are taken one at a time, so a storm cannot open the same incident twice.

    By transformer when known; reports with no transformer share one lock (they are few).
    """
    await session.exec(text("SELECT pg_advisory_xact_lock(1, :key)"), params={"key": place.transformer_id or 0})


async def take_report(session: AsyncSession, entry: ReportInput, channel: str,
                      grouping: rules.GroupingRules = rules.GroupingRules(), actor: str = "customer",
                      photo: ReportPhoto | None = None, reopens: Incident | None = None) -> Receipt:
    """Store a report and attach it to its incident; a repeat caller is counted, not filed twice.

    `photo`: its file is written only here, in the step that stores the report. A refused report stores none,
    nor does a repeat call (it files no new report to show the photo with).

    `reopens`: the restored incident a customer says is not fixed; a new incident is linked to it
    and flagged for dispatch (unless another such report already opened one here).
    """
    place = await place_report(session, entry)
    await _lock_place(session, place)
    now = utcnow()
    joined = rules.incident_to_join(entry.category, place.transformer_id,
                                    await _candidates(session, place, grouping), now, grouping)
    if joined is not None:
        incident = await session.get(Incident, joined.id)
        earlier = (await session.exec(_EARLIER_REPORT, params={
            "incident_id": incident.id, "phone": entry.phone, "meter_no": entry.meter_no})).first()
        if earlier is not None:
            return await _count_repeat(session, incident, earlier.id, entry, channel, actor)
        incident.report_count += 1
        _raise_severity(incident, entry.category)
        incident.last_report_at = now
        incident.rev += 1
        kind = "report_added"
    else:
        customers = (await session.exec(_CUSTOMERS_ON, params={"transformer_id": place.transformer_id})).scalar_one() \
            if place.transformer_id else 0
        incident = Incident(category=entry.category, priority=rules.priority_for(entry.category),
                            location=_point(place.longitude, place.latitude), transformer_id=place.transformer_id,
                            feeder_id=place.feeder_id, zone_id=place.zone_id, report_count=1,
                            customers_affected=customers, reported_at=now, last_report_at=now,
                            reopened_from_id=reopens.id if reopens else None, flag="reopened" if reopens else None)
        session.add(incident)
        await session.flush()
        kind = "reported"
    report = Report(channel=channel, category=entry.category, phone=entry.phone, meter_no=entry.meter_no,
                    text=entry.text, language=entry.language, location=_point(place.longitude, place.latitude),
                    customer_id=place.customer_id, incident_id=incident.id, photo=photo.name if photo else None,
                    tracking_token=new_tracking_token(), created_at=now)
    session.add(report)
    await session.flush()
    details = {"report_id": report.id, "channel": channel, "category": entry.category}
    if reopens is not None:
        details["reopens"] = reopens.code
        session.add(IncidentEvent(incident_id=reopens.id, kind="not_restored", actor=actor,
                                  details={"report_id": report.id, "follow_up_incident": incident.code}))
    session.add(IncidentEvent(incident_id=incident.id, kind=kind, actor=actor,
                              location=_point(place.longitude, place.latitude), details=details))
    await _commit_with(session, photo)
    await session.refresh(incident)
    return Receipt(report=report, incident=incident, joined_existing=joined is not None)


async def _commit_with(session: AsyncSession, photo: ReportPhoto | None) -> None:
    """Commit the report and write its photo in one step: the file first, so a stored report always has it, and
    removed again when the commit fails (or the request is cancelled), so no file outlives its report."""
    if photo is None:
        await session.commit()
        return
    try:
        await anyio.to_thread.run_sync(photo.write)
        await session.commit()
    except BaseException:
        photo.remove()
        raise


def _raise_severity(incident: Incident, category: str) -> None:
    incident.priority = rules.raised_priority(incident.priority, category)
    incident.category = rules.raised_category(incident.category, category)


async def _count_repeat(session: AsyncSession, incident: Incident, report_id: int, entry: ReportInput,
                        channel: str, actor: str) -> Receipt:
    """The same caller again: counted, not filed twice — but a call that now says "sparking" still counts."""
    incident.repeat_calls += 1
    _raise_severity(incident, entry.category)
    incident.rev += 1
    session.add(IncidentEvent(incident_id=incident.id, kind="repeat_call", actor=actor,
                              details={"report_id": report_id, "channel": channel, "category": entry.category}))
    await session.commit()
    await session.refresh(incident)
    report = await session.get(Report, report_id)
    return Receipt(report=report, incident=incident, joined_existing=True, already_reported=True)


_REPORT_POINT = text("SELECT ST_X(location::geometry) AS lon, ST_Y(location::geometry) AS lat FROM report WHERE id = :id")


async def answer_power_back(session: AsyncSession, report: Report, incident: Incident, power_back: bool,
                            grouping: rules.GroupingRules = rules.GroupingRules()) -> Report:
    """Record "is your power back?"; on "no" the fault is reported anew. Returns the report to follow next."""
    if incident.status not in ("restored", "closed"):
        raise Refused(N_("You can answer this once the crew has restored the power."), 409, "power_back")
    if report.follow_up_id is not None:  # answered "no" before: the same follow-up, not another one
        return await session.get(Report, report.follow_up_id)
    report.power_back = power_back
    if power_back:
        session.add(IncidentEvent(incident_id=incident.id, kind="customer_confirmed", actor="customer",
                                  details={"report_id": report.id}))
        await session.commit()
        return report
    point = (await session.exec(_REPORT_POINT, params={"id": report.id})).one()
    entry = ReportInput(category=report.category, phone=report.phone, latitude=point.lat, longitude=point.lon,
                        meter_no=None, text=report.text, language=report.language)
    follow_up = (await take_report(session, entry, report.channel, grouping, reopens=incident)).report
    report.follow_up_id = follow_up.id
    session.add(report)
    await session.commit()
    return follow_up


async def report_by_token(session: AsyncSession, token: str) -> tuple[Report, Incident] | None:
    query = select(Report, Incident).join(Incident, Incident.id == Report.incident_id).where(
        Report.tracking_token == token)
    return (await session.exec(query)).first()


async def grouping_from(session: AsyncSession, settings: Settings) -> rules.GroupingRules:
    """Grouping radius and window: the administrator's override (operator settings), else the environment's."""
    operator = await effective_settings(session, settings)
    return rules.GroupingRules(radius_m=operator.group_radius_m,
                               window=timedelta(minutes=operator.group_window_minutes))


@dataclass(frozen=True)
class Caller:
    """A customer the agent may be talking to, and the open fault already known at their place."""

    meter_no: str
    name: str
    phone: str | None
    language: str
    transformer: str | None
    zone: str | None
    incident_code: str | None
    incident_status: str | None
    incident_etr: object
    incident_reports: int | None
    incident_category: str | None


_CALLERS = text("""
    SELECT c.meter_no, c.name, c.phone, c.language, t.code AS transformer, z.name AS zone
    FROM customer c
    LEFT JOIN transformer t ON t.id = c.transformer_id
    LEFT JOIN zone z ON ST_Covers(z.area, c.location::geometry)
    WHERE c.phone = :phone OR c.meter_no = :meter_no
    ORDER BY c.meter_no
    LIMIT 5
""")


async def find_callers(session: AsyncSession, query: str, region: str,
                       grouping: rules.GroupingRules = rules.GroupingRules()) -> list[Caller]:
    """Customers matching what the caller said (a phone number, any way it is written, or a meter number),
    each with the open fault a "no power" call from them would join: by the same rule that files the call,
    so the agent never promises a fault the call then does not join."""
    meter = query.strip().upper().replace(" ", "")
    phone = normalise_phone(query, region)
    callers = []
    for row in await session.exec(_CALLERS, params={"phone": phone, "meter_no": meter}):
        entry = ReportInput("no_power", None, None, None, row.meter_no, "", row.language)
        known = await known_incident_at(session, entry, grouping)
        callers.append(Caller(**row._mapping, incident_code=known and known.code,
                              incident_status=known and known.status, incident_etr=known and known.etr,
                              incident_reports=known and known.report_count,
                              incident_category=known and known.category))
    return callers


async def known_incident_at(session: AsyncSession, entry: ReportInput,
                            grouping: rules.GroupingRules = rules.GroupingRules()) -> Incident | None:
    """The open incident a "no power" report from here would join: shown before the customer sends."""
    try:
        place = await place_report(session, entry)
    except Refused:  # not placed: no fault to show
        return None
    joined = rules.incident_to_join(entry.category, place.transformer_id,
                                    await _candidates(session, place, grouping), utcnow(), grouping)
    return await session.get(Incident, joined.id) if joined else None
