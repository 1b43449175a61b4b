"""What supervisors read about job times: zone, crew and day figures over a period, the SLA watch list, and one
incident's timeline. All the audit's SQL lives here; the rules it applies are server/audit/sla.py's.

Figures count the jobs *reported* in the period (cancelled ones — duplicates, no fault found — left out) and
measure every time from the first report: to assign, to arrive (on site), to restore. Step times follow the
rules of sla.py (the phone's time for crew steps, kept in order, the server's receipt when the phone's clock
was behind); the SQL below does the same as sla.step_times, and tests/integration/test_supervisor_figures.py
checks that both agree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import sla
from server.i18n import N_
from server.refusals import Refused
from server.incidents.models import OPEN_STATUSES

MAX_PERIOD_DAYS = 400  # a year and a bit: this year against the same month last year
DEFAULT_PERIOD_DAYS = 30
WATCH_CANDIDATES = 5000  # open incidents read for the SLA watch list, oldest first


# ---------------------------------------------------------------- the period


@dataclass(frozen=True)
class Period:
    first: date   # both days included, in the deployment's time zone
    last: date
    timezone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.timezone))

    @property
    def end(self) -> datetime:
        """Midnight after the last day (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.timezone))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=k) for k in range(self.days)]


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_YEAR, LAST_YEAR = 1970, 2999  # beyond these a date is a typing slip, not a period of records


_NOT_A_DATE = {
    "from": N_("“%(value)s” is not a date for the start of the period: write it as YYYY-MM-DD, for example "
               "2026-03-01."),
    "to": N_("“%(value)s” is not a date for the end of the period: write it as YYYY-MM-DD, for example "
             "2026-03-31."),
}


def _day(raw: str, which: str) -> date:
    raw = raw.strip()
    try:
        if not _DATE.match(raw):
            raise ValueError
        found = date.fromisoformat(raw)
    except ValueError:
        raise Refused(_NOT_A_DATE[which], 400, value=raw[:20]) from None
    if not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise Refused(N_("Choose dates between the years %(first)s and %(last)s."), 400,
                            first=FIRST_YEAR, last=LAST_YEAR)
    return found


def parse_period(raw_from: str | None, raw_to: str | None, today: date, timezone: str,
                 max_days: int = MAX_PERIOD_DAYS) -> Period:
    """The period asked for: both days included; by default the last 30 days up to today."""
    last = _day(raw_to, "to") if raw_to and raw_to.strip() else None
    first = _day(raw_from, "from") if raw_from and raw_from.strip() else None
    if last is None:
        last = today if first is None else min(today, first + timedelta(days=DEFAULT_PERIOD_DAYS - 1))
        last = max(last, first) if first is not None else last
    if first is None:
        first = last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise Refused(N_("The period starts (%(first)s) after it ends (%(last)s): swap the two dates."), 400,
                            first=first.isoformat(), last=last.isoformat())
    if (last - first).days + 1 > max_days:
        raise Refused(N_("Choose a period of at most %(days)s days (this one has %(asked)s)."), 400,
                            days=max_days, asked=(last - first).days + 1)
    return Period(first, last, timezone)


# ---------------------------------------------------------------- step times in SQL (sla.step_times)


def _crew_step(column: str, previous: str, kind: str) -> str:
    """sla.step_time for a crew step whose column holds the phone's time (already never after the receipt,
    sync/rules.py): kept when in order, clamped within the tolerance, else the first receipt of the step.
    The receipt is read only in that rare last branch."""
    return f"""CASE WHEN i.{column} IS NULL THEN NULL
            WHEN i.{column} >= {previous} THEN i.{column}
            WHEN i.{column} >= {previous} - CAST(:tolerance AS interval) THEN {previous}
            ELSE greatest({previous}, (SELECT min(e.server_time) FROM incident_event e
                                       WHERE e.incident_id = i.id AND e.kind = '{kind}')) END"""


# Each step's time depends on the one before; OFFSET 0 keeps PostgreSQL from folding the chain into one
# expression (it would copy each earlier CASE into every later one: over a hundred subplans).
_CHAIN = f"""(SELECT ARRAY[a.assigned_at, r.en_route_at, o.on_site_at, s.restored_at]
    FROM (SELECT CASE WHEN i.assigned_at IS NULL THEN NULL
                      ELSE greatest(i.assigned_at, i.reported_at) END AS assigned_at OFFSET 0) a
    CROSS JOIN LATERAL (SELECT {_crew_step("en_route_at", "coalesce(a.assigned_at, i.reported_at)", "en_route")}
                        AS en_route_at OFFSET 0) r
    CROSS JOIN LATERAL (SELECT {_crew_step("on_site_at", "coalesce(r.en_route_at, a.assigned_at, i.reported_at)",
                                           "on_site")} AS on_site_at OFFSET 0) o
    CROSS JOIN LATERAL (SELECT {_crew_step("restored_at", "coalesce(o.on_site_at, r.en_route_at, a.assigned_at, "
                                           "i.reported_at)", "restored")} AS restored_at OFFSET 0) s)"""

# Nearly every job has its steps in order already: then the columns are the step times as they stand, and the
# chain above runs only for the few others (a phone whose clock was behind).
_IN_ORDER = """(i.assigned_at IS NULL OR i.assigned_at >= i.reported_at)
            AND (i.en_route_at IS NULL OR i.en_route_at >= greatest(i.reported_at, i.assigned_at))
            AND (i.on_site_at IS NULL OR i.on_site_at >= greatest(i.reported_at, i.assigned_at, i.en_route_at))
            AND (i.restored_at IS NULL
                 OR i.restored_at >= greatest(i.reported_at, i.assigned_at, i.en_route_at, i.on_site_at))"""

_IN_PERIOD = """i.reported_at >= :start AND i.reported_at < :end AND i.status <> 'cancelled'"""

# The period's jobs with `fixed`: NULL when the steps are in order, else the corrected step times (the chain).
_JOBS = f"""
        SELECT i.id, i.zone_id, i.crew_id, i.priority, i.reported_at, i.assigned_at, i.on_site_at, i.restored_at,
               CASE WHEN {_IN_ORDER} THEN NULL ELSE {_CHAIN} END AS fixed
        FROM incident i
        WHERE {_IN_PERIOD}
        OFFSET 0"""


def _at(step: str) -> str:
    """A step's time in a row of _JOBS."""
    place = {"assigned": 1, "en_route": 2, "on_site": 3, "restored": 4}[step]
    return f"(CASE WHEN j.fixed IS NULL THEN j.{step}_at ELSE j.fixed[{place}] END)"


# sla.assess in SQL: a target is missed when its step (or a later one) came after the deadline, or has not
# come and the deadline has passed.
_BREACHED = f"""CASE WHEN j.priority = 'high' THEN
        coalesce({_at("on_site")}, {_at("restored")}, CAST(:now AS timestamptz))
            > j.reported_at + CAST(:danger_on_site AS interval)
        OR coalesce({_at("restored")}, CAST(:now AS timestamptz)) > j.reported_at + CAST(:danger_restore AS interval)
    ELSE coalesce({_at("restored")}, CAST(:now AS timestamptz)) > j.reported_at + CAST(:restore AS interval) END"""

# One pass over the period's jobs, three groupings: per zone, per crew, per day. Minutes as floats;
# percentile_cont with an array sorts each group once for both shares.
FIGURES = text(f"""
    WITH job AS (
        SELECT j.zone_id, j.crew_id, (j.reported_at AT TIME ZONE :timezone)::date AS day,
               date_part('epoch', {_at("assigned")} - j.reported_at) / 60 AS assign_min,
               date_part('epoch', {_at("on_site")} - j.reported_at) / 60 AS arrive_min,
               date_part('epoch', {_at("restored")} - j.reported_at) / 60 AS restore_min,
               {_BREACHED} AS breached,
               -- restores that did not hold: a customer said "no, the power is not back"; such a follow-up is
               -- always reported after the job it reopens, so only follow-ups from the period's start are read
               j.id IN (SELECT f.reopened_from_id FROM incident f
                        WHERE f.reopened_from_id IS NOT NULL AND f.reported_at >= :start) AS reopened
        FROM ({_JOBS}) j
    )
    SELECT GROUPING(zone_id, crew_id, day) AS grouping, zone_id, crew_id, day,
           count(*) AS jobs,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY assign_min) AS assign,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY arrive_min) AS arrive,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY restore_min) AS restore,
           count(*) FILTER (WHERE breached) AS breached,
           count(*) FILTER (WHERE reopened) AS reopened
    FROM job
    GROUP BY GROUPING SETS ((zone_id), (crew_id), (day))
""")

# Check-ins outside the geofence: as judged when the check-in arrived (checkin.outside_geofence, with the radius
# of that day); older check-ins without that flag: farther than sync.rules.geofence_reach — the radius plus the
# fix's own accuracy, at most the radius again. Counted for the crew that checked in.
OUTSIDE_CHECKINS = text(f"""
    SELECT GROUPING(i.zone_id, k.crew_id) AS grouping, i.zone_id, k.crew_id, count(*) AS outside
    FROM checkin k JOIN incident i ON i.id = k.incident_id
    WHERE coalesce(k.outside_geofence, k.distance_m > :radius + least(coalesce(k.accuracy_m, 0), :radius))
      AND {_IN_PERIOD}
    GROUP BY GROUPING SETS ((i.zone_id), (k.crew_id))
""")

NO_JIT = text("SET LOCAL jit = off")
_ZONES = text("""
    SELECT z.id, z.name, s.display_name AS responsible FROM zone z
    LEFT JOIN staff s ON s.id = z.responsible_staff_id ORDER BY z.name
""")
_CREWS = text("SELECT c.id, c.code, c.name FROM crew c WHERE c.id = ANY(:ids)")
_ZONE_AREAS = text("SELECT z.id, ST_AsGeoJSON(z.area, 6)::json AS geometry FROM zone z")

# GROUPING(zone_id, crew_id, day): a bit set for each column *not* grouped on.
_BY_ZONE, _BY_CREW, _BY_DAY = 0b011, 0b101, 0b110
_OUTSIDE_BY_ZONE, _OUTSIDE_BY_CREW = 0b01, 0b10


@dataclass(frozen=True)
class Figure:
    """One zone's, crew's or day's jobs in the period; times in minutes from the first report."""

    key: int | str | None
    name: str
    responsible: str | None = None
    jobs: int = 0
    assign_p50: float | None = None
    assign_p90: float | None = None
    arrive_p50: float | None = None
    arrive_p90: float | None = None
    restore_p50: float | None = None
    restore_p90: float | None = None
    outside_geofence: int = 0
    reopened: int = 0
    breached: int = 0


@dataclass(frozen=True)
class Figures:
    period: Period
    zones: list[Figure]
    crews: list[Figure]
    days: list[Figure]
    geofence_radius_m: int
    targets: sla.Targets
    no_zone: Figure | None = None  # jobs outside every zone, when there are any


def _interval(delta: timedelta) -> str:
    return f"{delta.total_seconds()} seconds"


def figure_params(period: Period, targets: sla.Targets, now: datetime) -> dict:
    return {"start": period.start, "end": period.end, "timezone": period.timezone, "now": now,
            "tolerance": _interval(sla.SKEW_TOLERANCE), "danger_on_site": _interval(targets.danger_on_site),
            "danger_restore": _interval(targets.danger_restore), "restore": _interval(targets.restore)}


def _shares(values: list[float] | None) -> tuple[float | None, float | None]:
    return (values[0], values[1]) if values else (None, None)


def _figure(row, key, name: str, responsible: str | None = None, outside: int = 0) -> Figure:
    if row is None:
        return Figure(key, name, responsible, outside_geofence=outside)
    assign, arrive, restore = _shares(row.assign), _shares(row.arrive), _shares(row.restore)
    return Figure(key, name, responsible, row.jobs, *assign, *arrive, *restore, outside, row.reopened, row.breached)


async def period_figures(session: AsyncSession, period: Period, targets: sla.Targets, geofence_radius_m: int,
                         now: datetime) -> Figures:
    """Every zone (even without jobs), every crew with jobs or check-ins, every day of the period."""
    params = figure_params(period, targets, now)
    # PostgreSQL's JIT compiles this statement's many expressions for longer than the statement runs (1.2 s of
    # 1.6 s for a month among 1,000,000 incidents, bench/audit.py): off for this transaction only.
    await session.exec(NO_JIT)
    rows = list(await session.exec(FIGURES, params=params))
    outside_rows = list(await session.exec(OUTSIDE_CHECKINS, params={**params, "radius": geofence_radius_m}))
    by_zone = {r.zone_id: r for r in rows if r.grouping == _BY_ZONE}
    by_crew = {r.crew_id: r for r in rows if r.grouping == _BY_CREW}
    by_day = {r.day: r for r in rows if r.grouping == _BY_DAY}
    outside_zone = {r.zone_id: r.outside for r in outside_rows if r.grouping == _OUTSIDE_BY_ZONE}
    outside_crew = {r.crew_id: r.outside for r in outside_rows if r.grouping == _OUTSIDE_BY_CREW}

    zones = [_figure(by_zone.get(z.id), z.id, z.name, z.responsible, outside_zone.get(z.id, 0))
             for z in await session.exec(_ZONES)]
    no_zone = None
    if None in by_zone or None in outside_zone:
        no_zone = _figure(by_zone.get(None), None, "", None, outside_zone.get(None, 0))
    crew_ids = sorted({k for k in by_crew if k is not None} | {k for k in outside_crew if k is not None})
    crews = []
    if crew_ids:
        names = {c.id: c for c in await session.exec(_CREWS, params={"ids": crew_ids})}
        crews = [_figure(by_crew.get(k), k, names[k].name, None, outside_crew.get(k, 0))
                 for k in sorted(crew_ids, key=lambda k: (names[k].code, k))]
    days = [_figure(by_day.get(d), d.isoformat(), d.isoformat()) for d in period.each_day()]
    return Figures(period, zones, crews, days, geofence_radius_m, targets, no_zone)


async def zone_areas(session: AsyncSession) -> dict[int, dict]:
    """Each zone's outline as a GeoJSON geometry (6 decimals: about 10 cm)."""
    return {row.id: row.geometry for row in await session.exec(_ZONE_AREAS)}


# ---------------------------------------------------------------- one incident, and the SLA watch list

# The first time the server heard of each crew step (any phone, any outcome): the receipt beside the phone's
# time, and the time that counts when the phone's clock was behind.
_RECEIPTS = """
    LEFT JOIN LATERAL (
        SELECT min(e.server_time) FILTER (WHERE e.kind = 'en_route') AS en_route_received,
               min(e.server_time) FILTER (WHERE e.kind = 'on_site') AS on_site_received,
               min(e.server_time) FILTER (WHERE e.kind = 'restored') AS restored_received
        FROM incident_event e
        WHERE e.incident_id = i.id AND e.kind IN ('en_route', 'on_site', 'restored')
    ) rcv ON true
"""

_INCIDENT_COLUMNS = """
    i.id, i.code, i.status, i.priority, i.category, i.cause, i.flag, i.report_count, i.customers_affected,
    i.reported_at, i.assigned_at, i.en_route_at, i.on_site_at, i.restored_at, i.closed_at, i.cancelled_at,
    rcv.en_route_received, rcv.on_site_received, rcv.restored_received,
    z.name AS zone, s.display_name AS responsible, c.name AS crew
"""

_TIMELINE_INCIDENT = text(f"""
    SELECT {_INCIDENT_COLUMNS},
           p.code AS reopens_code, p.id AS reopens_id,
           (SELECT array_agg(f.code ORDER BY f.id) FROM incident f WHERE f.reopened_from_id = i.id) AS reopened_by
    FROM incident i
    LEFT JOIN zone z ON z.id = i.zone_id
    LEFT JOIN staff s ON s.id = z.responsible_staff_id
    LEFT JOIN crew c ON c.id = i.crew_id
    LEFT JOIN incident p ON p.id = i.reopened_from_id
    {_RECEIPTS}
    WHERE i.id = :id
""")
_INCIDENT_BY_CODE = text("SELECT id FROM incident WHERE code = :code")
_TIMELINE_EVENTS = text("""
    SELECT e.id, e.seq, e.kind, e.actor, s.display_name AS who, e.client_time, e.server_time, e.details
    FROM incident_event e
    LEFT JOIN staff s ON s.id = CASE WHEN e.actor ~ '^staff:[0-9]+$' THEN substr(e.actor, 7)::int END
    WHERE e.incident_id = :id ORDER BY e.seq, e.id
""")
_TIMELINE_CHECKINS = text("""
    SELECT k.id, c.name AS crew, s.display_name AS who, k.distance_m, k.accuracy_m, k.client_time, k.server_time,
           coalesce(k.outside_geofence, k.distance_m > :radius + least(coalesce(k.accuracy_m, 0), :radius),
                    false) AS outside
    FROM checkin k
    LEFT JOIN crew c ON c.id = k.crew_id
    LEFT JOIN staff s ON s.id = k.staff_id
    WHERE k.incident_id = :id ORDER BY coalesce(k.client_time, k.server_time), k.server_time
""")

# Open incidents that may be at risk or late: reported before the earliest warning of their priority.
_WATCH = text(f"""
    SELECT {_INCIDENT_COLUMNS}
    FROM incident i
    LEFT JOIN zone z ON z.id = i.zone_id
    LEFT JOIN staff s ON s.id = z.responsible_staff_id
    LEFT JOIN crew c ON c.id = i.crew_id
    {_RECEIPTS}
    WHERE i.status IN {OPEN_STATUSES}
      AND i.reported_at <= CAST(:now AS timestamptz) - CASE WHEN i.priority = 'high'
                                                          THEN CAST(:high_from AS interval)
                                                          ELSE CAST(:normal_from AS interval) END
    ORDER BY i.reported_at, i.id
    LIMIT :limit
""")


def step_claims(row) -> dict[str, tuple[datetime | None, datetime | None]]:
    """{step: (phone's time, server's time)} from an incident row with its receipts."""
    return {
        "reported": (None, row.reported_at),
        "assigned": (None, row.assigned_at),
        "en_route": (row.en_route_at, row.en_route_received),
        "on_site": (row.on_site_at, row.on_site_received),
        "restored": (row.restored_at, row.restored_received),
        "closed": (None, row.closed_at),
    }


@dataclass(frozen=True)
class Timeline:
    incident: object
    steps: list[sla.StepTime]
    intervals: dict[str, sla.Interval]
    checks: list[sla.TargetCheck]
    checkins: list
    events: list
    geofence_radius_m: int


async def incident_id_by_code(session: AsyncSession, code: str) -> int | None:
    return (await session.exec(_INCIDENT_BY_CODE, params={"code": code.strip().upper()})).scalar_one_or_none()


async def timeline(session: AsyncSession, incident_id: int, targets: sla.Targets, geofence_radius_m: int,
                   now: datetime) -> Timeline | None:
    row = (await session.exec(_TIMELINE_INCIDENT, params={"id": incident_id})).first()
    if row is None:
        return None
    steps = sla.step_times(step_claims(row))
    return Timeline(
        incident=row, steps=steps, intervals={i.step: i for i in sla.intervals(steps)},
        checks=sla.assess(row.priority, row.status, steps, now, targets),
        checkins=list(await session.exec(_TIMELINE_CHECKINS, params={"id": incident_id,
                                                                      "radius": geofence_radius_m})),
        events=list(await session.exec(_TIMELINE_EVENTS, params={"id": incident_id})),
        geofence_radius_m=geofence_radius_m)


@dataclass(frozen=True)
class Watched:
    incident: object
    checks: list[sla.TargetCheck]
    verdict: str
    check: sla.TargetCheck  # the target that matters now


@dataclass(frozen=True)
class ZoneWatch:
    zone: str | None
    responsible: str | None
    breached: int = 0
    at_risk: int = 0


@dataclass
class WatchList:
    breached: list[Watched] = field(default_factory=list)
    at_risk: list[Watched] = field(default_factory=list)
    zones: list[ZoneWatch] = field(default_factory=list)
    cut: bool = False  # more candidates than read: the oldest were checked


async def sla_watch(session: AsyncSession, targets: sla.Targets, now: datetime,
                    limit: int = WATCH_CANDIDATES) -> WatchList:
    """Open incidents breached or at risk now: breached longest overdue first, at risk closest to deadline."""
    high = targets.for_priority("high").values()
    params = {"now": now, "limit": limit + 1,
              "high_from": _interval(min(a - targets.warning(a) for a in high)),
              "normal_from": _interval(min(a - targets.warning(a) for a in targets.for_priority("normal").values()))}
    rows = list(await session.exec(_WATCH, params=params))
    found = WatchList(cut=len(rows) > limit)
    zones: dict[str | None, list] = {}
    for row in rows[:limit]:
        checks = sla.assess(row.priority, row.status, sla.step_times(step_claims(row)), now, targets)
        verdict = sla.worst(checks)
        if verdict not in (sla.BREACHED, sla.AT_RISK):
            continue
        watched = Watched(row, checks, verdict, sla.open_check(checks))
        (found.breached if verdict == sla.BREACHED else found.at_risk).append(watched)
        counts = zones.setdefault(row.zone, [row.responsible, 0, 0])
        counts[1 if verdict == sla.BREACHED else 2] += 1
    found.breached.sort(key=lambda w: (w.check.deadline, w.incident.id))
    found.at_risk.sort(key=lambda w: (w.check.deadline, w.incident.id))
    found.zones = sorted((ZoneWatch(zone, responsible, breached, at_risk)
                          for zone, (responsible, breached, at_risk) in zones.items()),
                         key=lambda z: (-z.breached, -z.at_risk, z.zone or ""))
    return found
