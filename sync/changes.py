"""Pull: what changed for a crew since its cursor, as puts and deletes of whole jobs.

Why the cursor is a transaction-id horizon, not a sequence number
------------------------------------------------------------------
Every change to an incident with a crew writes a `sync_change` row (a trigger on `incident`), stamped with
the writer's top-level transaction id (`xid`, from `pg_current_xact_id()`). A serial id would not do:
transaction A takes change id 10, transaction B takes 11 and commits first; a pull then sees 11, moves its
cursor past it, and change 10 — committed a moment later — is never sent.

So the cursor is an `xid` horizon. Each pull runs in one REPEATABLE READ snapshot and reads
`pg_snapshot_xmin(pg_current_snapshot())`: every transaction with a smaller id has finished (committed or
rolled back) — nothing with an id below it can ever commit again. The pull sends every change it can see
with `xid >= cursor`, and hands back that horizon as the next cursor. A transaction still running at pull
time has an id at or above the horizon, so its changes are sent by a later pull; a change seen now but at or
above the horizon is simply sent again (puts are idempotent). Nothing committed is ever skipped, whatever the
commit order, and nothing has to serialise the writers (a lock on the log would put every report, dispatch
action and crew sync in one queue).

The price: a long transaction anywhere in the cluster holds the horizon back, so later changes are re-sent
until it ends — more bytes, never a gap. Keep transactions short (they are, here).

Per-client order and transaction-id order agree: a push takes its client's advisory lock before writing
anything, so it only gets a transaction id after the previous push of the same client has committed. The
`last_mutation_id` a pull reports is read in the same snapshot as the jobs it sends, so a phone never drops a
pending mutation whose effect the pull did not carry.

A cursor is `<epoch>.<crew>.<xid>`: from another database (epoch), for another crew (the lineman moved), older
than the pruned log (`sync_state.floor_xid`), unreadable or from the future — the answer is a full reset.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.incidents import state
from server.forms import whole_number
from server.staff.models import Staff

# A crew's view: its jobs with work left or just done (materials and photos often follow the restore).
# Cancelled and closed jobs leave it, with a delete that says why.
VIEW_STATUSES = ("reported", "assigned", "en_route", "on_site", "restored")


@dataclass(frozen=True)
class Cursor:
    epoch: str
    crew_id: int
    xid: int

    def __str__(self) -> str:
        return f"{self.epoch}.{self.crew_id}.{self.xid}"

    @classmethod
    def parse(cls, value: str | None) -> Cursor | None:
        if not value or len(value) > 80:
            return None
        parts = value.split(".")
        numbers = [whole_number(part, limit=2**63 - 1) for part in parts[1:]]
        if len(parts) != 3 or None in numbers:
            return None
        return cls(parts[0], *numbers)


@dataclass(frozen=True)
class Pull:
    cursor: str
    reset: bool
    last_mutation_id: int
    ops: list[dict]

    def as_json(self) -> dict:
        return {"cursor": self.cursor, "reset": self.reset, "last_mutation_id": self.last_mutation_id,
                "ops": self.ops}


_SNAPSHOT = text("""
    SELECT s.epoch, s.floor_xid,
           pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
           pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid
    FROM sync_state s WHERE s.id = 1
""")

_CHANGED = text("""
    SELECT DISTINCT incident_id FROM sync_change WHERE crew_id = :crew_id AND xid >= :since
""")

_LAST_MUTATION = text("""
    SELECT last_mutation_id FROM sync_client WHERE client_id = :client_id AND staff_id = :staff_id
""")

_JOBS = text("""
    SELECT i.id, i.code, i.status, i.priority, i.category, i.cause, i.etr, i.crew_id, i.rev, i.flag,
           ST_Y(i.location::geometry) AS latitude, ST_X(i.location::geometry) AS longitude,
           t.code AS transformer, z.name AS zone, i.report_count, i.repeat_calls, i.customers_affected,
           i.reported_at, i.assigned_at, i.en_route_at, i.on_site_at, i.restored_at, i.cancelled_at, i.closed_at,
           f.value AS etr_proposal
    FROM incident i
    LEFT JOIN transformer t ON t.id = i.transformer_id
    LEFT JOIN zone z ON z.id = i.zone_id
    LEFT JOIN incident_field f ON f.incident_id = i.id AND f.name = 'etr_proposal'
    WHERE i.id = ANY(:ids)
""")

_NOTES = text("""
    SELECT n.id, n.incident_id, n.author_role, n.text, n.crew_id, s.display_name AS author,
           coalesce(n.client_time, n.server_time) AS at
    FROM note n LEFT JOIN staff s ON s.id = n.staff_id
    WHERE n.incident_id = ANY(:ids) ORDER BY at, n.id
""")
_CHECKINS = text("""
    SELECT c.id, c.incident_id, ST_Y(c.location::geometry) AS latitude, ST_X(c.location::geometry) AS longitude,
           c.accuracy_m, c.distance_m, c.outside_geofence, c.crew_id, coalesce(c.client_time, c.server_time) AS at
    FROM checkin c WHERE c.incident_id = ANY(:ids) ORDER BY at, c.id
""")
_PHOTOS = text("""
    SELECT p.id, p.incident_id, p.caption, p.crew_id, coalesce(p.client_time, p.server_time) AS at
    FROM photo p WHERE p.incident_id = ANY(:ids) ORDER BY at, p.id
""")
_MATERIALS = text("""
    SELECT m.id, m.incident_id, m.item, m.quantity, m.unit, m.crew_id, coalesce(m.client_time, m.server_time) AS at
    FROM material_use m WHERE m.incident_id = ANY(:ids) ORDER BY at, m.id
""")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def in_view(status: str, job_crew_id: int | None, crew_id: int) -> bool:
    return job_crew_id == crew_id and status in VIEW_STATUSES


def why_gone(status: str, job_crew_id: int | None, crew_id: int) -> str:
    if job_crew_id != crew_id:
        return "reassigned"
    return status if status in ("cancelled", "closed") else "gone"


async def jobs(session: AsyncSession, ids: list[int]) -> dict[int, dict]:
    """The whole job as a crew phone keeps it, for each incident id: the incident, its ETR and the crew's
    proposal, and every note (desk and field), check-in, photo and material on it."""
    if not ids:
        return {}
    found: dict[int, dict] = {}
    for row in await session.exec(_JOBS, params={"ids": ids}):
        found[row.id] = {
            "id": row.id, "code": row.code, "status": row.status, "priority": row.priority,
            "category": row.category, "cause": row.cause, "etr": _time(row.etr), "etr_proposal": row.etr_proposal,
            "crew_id": row.crew_id, "rev": row.rev, "flag": row.flag,
            "latitude": row.latitude, "longitude": row.longitude, "transformer": row.transformer, "zone": row.zone,
            "report_count": row.report_count, "repeat_calls": row.repeat_calls,
            "customers_affected": row.customers_affected,
            "times": {status: _time(getattr(row, column)) for status, column in state.TIME_COLUMN.items()},
            "notes": [], "checkins": [], "photos": [], "materials": [],
        }
    for row in await session.exec(_NOTES, params={"ids": ids}):
        found[row.incident_id]["notes"].append({"id": str(row.id), "author_role": row.author_role, "text": row.text,
                                                "author": row.author, "crew_id": row.crew_id, "at": _time(row.at)})
    for row in await session.exec(_CHECKINS, params={"ids": ids}):
        found[row.incident_id]["checkins"].append({
            "id": str(row.id), "latitude": row.latitude, "longitude": row.longitude, "accuracy_m": row.accuracy_m,
            "distance_m": None if row.distance_m is None else round(row.distance_m, 1),
            "outside_geofence": row.outside_geofence, "crew_id": row.crew_id,
            "at": _time(row.at)})
    for row in await session.exec(_PHOTOS, params={"ids": ids}):
        found[row.incident_id]["photos"].append({"id": str(row.id), "caption": row.caption, "crew_id": row.crew_id,
                                                 "at": _time(row.at)})
    for row in await session.exec(_MATERIALS, params={"ids": ids}):
        found[row.incident_id]["materials"].append({
            "id": str(row.id), "item": row.item, "quantity": str(row.quantity.normalize()), "unit": row.unit,
            "crew_id": row.crew_id, "at": _time(row.at)})
    return found


def _put(job: dict) -> dict:
    return {"op": "put", "key": f"incident/{job['id']}", "value": job}


async def crew_view(session: AsyncSession, crew_id: int | None) -> dict[str, dict]:
    """Everything a crew's phone should hold, keyed as in pull: what a full reset sends."""
    if crew_id is None:
        return {}
    ids = [row.id for row in await session.exec(
        text("SELECT id FROM incident WHERE crew_id = :crew_id AND status = ANY(:statuses) ORDER BY id"),
        params={"crew_id": crew_id, "statuses": list(VIEW_STATUSES)})]
    return {f"incident/{job_id}": job for job_id, job in (await jobs(session, ids)).items()}


async def pull(session: AsyncSession, staff: Staff, cursor: str | None,
               client_id: uuid.UUID | None = None) -> Pull:
    """What changed for the staff member's crew since `cursor` (see the module docstring)."""
    crew_id, staff_id = staff.crew_id, staff.id
    await session.rollback()  # a fresh transaction, so the snapshot below is the one everything is read in
    await session.exec(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    try:
        snap = (await session.exec(_SNAPSHOT)).one()
        last = 0
        if client_id is not None:
            found = (await session.exec(_LAST_MUTATION, params={"client_id": client_id,
                                                                "staff_id": staff_id})).first()
            last = found.last_mutation_id if found else 0
        next_cursor = str(Cursor(snap.epoch, crew_id or 0, snap.horizon))
        since = Cursor.parse(cursor)
        usable = (since is not None and since.epoch == snap.epoch and since.crew_id == (crew_id or 0)
                  and snap.floor_xid <= since.xid <= snap.next_xid)
        if crew_id is None:
            return Pull(next_cursor, True, last, [])
        if not usable:
            view = await crew_view(session, crew_id)
            return Pull(next_cursor, True, last, [_put(job) for job in view.values()])
        changed = sorted(row.incident_id for row in await session.exec(
            _CHANGED, params={"crew_id": crew_id, "since": since.xid}))
        found = await jobs(session, changed)
        ops = []
        for job_id in changed:
            job = found.get(job_id)
            if job is not None and in_view(job["status"], job["crew_id"], crew_id):
                ops.append(_put(job))
            else:
                why = why_gone(job["status"], job["crew_id"], crew_id) if job else "gone"
                ops.append({"op": "del", "key": f"incident/{job_id}", "why": why,
                            "code": job["code"] if job else None})
        return Pull(next_cursor, False, last, ops)
    finally:
        await session.rollback()


async def prune_change_log(session: AsyncSession, older_than: timedelta, now: datetime | None = None) -> int:
    """Drop change-log rows older than `older_than`; cursors from before them get a full reset.

    The floor is one past the newest transaction id dropped, so every cursor at or above it still finds
    every change it has not seen. Returns the rows dropped.
    """
    floor = (await session.exec(text("""
        SELECT coalesce(max(xid), 0) + 1 AS below FROM sync_change WHERE changed_at < CAST(:now AS timestamptz) - :age
    """), params={"age": older_than, "now": now or utcnow()})).one().below
    dropped = (await session.exec(text("DELETE FROM sync_change WHERE xid < :below"),
                                  params={"below": floor})).rowcount
    await session.exec(text("UPDATE sync_state SET floor_xid = greatest(floor_xid, :below) WHERE id = 1"),
                       params={"below": floor})
    await session.commit()
    return dropped
