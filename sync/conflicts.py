"""Conflicts from offline work, for supervisors: list them, resolve them.

Accepting a "not assigned" conflict applies the crew's steps and fields as if the job had been theirs —
by the same rules as a sync (forward only, earliest time per step, last writer by the phone's stamp).
The other kinds can only be acknowledged: status never goes back (sync/rules.py RESOLUTIONS).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.crews.models import Crew
from server.db import utcnow
from server.i18n import N_
from server.incidents import state
from server.incidents.actions import locked_incident
from server.staff.models import Staff, actor_of
from server.refusals import Refused
from server.incidents.models import Incident, IncidentEvent
from sync import rules
from sync.models import IncidentField, SyncConflict

KIND_LABELS = {
    "not_assigned": N_("Work by a crew the job had been taken from"),
    "cancelled": N_("Work on a job dispatch had cancelled"),
    "restored_after_cancel": N_("Restored after dispatch had cancelled"),
}
RESOLUTION_LABELS = {
    "accepted": N_("Apply the crew's work"),
    "dismissed": N_("Keep the job as it is"),
}
# The crew step each mutation stands for, when a supervisor applies it.
STEPS = {"en_route": "en_route", "arrived": "on_site", "restored": "restored"}


@dataclass(frozen=True)
class ConflictRow:
    id: int
    incident_id: int
    incident_code: str
    incident_status: str
    crew: str | None
    kind: str
    mutations: list[dict]
    server_side: dict
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    resolution_note: str

    @property
    def choices(self) -> tuple[str, ...]:
        return rules.RESOLUTIONS.get(self.kind, ())


async def list_conflicts(session: AsyncSession, open_only: bool = False, limit: int = 200) -> list[ConflictRow]:
    """Open conflicts first (oldest first: they have waited longest), then the latest resolved ones."""
    query = (select(SyncConflict, Incident.code, Incident.status, Crew.name, Staff.display_name)
             .join(Incident, col(Incident.id) == SyncConflict.incident_id)
             .outerjoin(Crew, col(Crew.id) == SyncConflict.crew_id)
             .outerjoin(Staff, col(Staff.id) == SyncConflict.resolved_by_id)
             .order_by(col(SyncConflict.resolved_at).is_not(None), col(SyncConflict.resolved_at).desc(),
                       SyncConflict.created_at, SyncConflict.id)
             .limit(limit))
    if open_only:
        query = query.where(col(SyncConflict.resolved_at).is_(None))
    found = list(await session.exec(query))
    crews = dict((await session.exec(select(Crew.id, Crew.name))).all()) if found else {}
    rows = []
    for c, code, status, crew, resolver in found:
        # Times as datetimes for the page, and the crew that held the job by name.
        mutations = [{**item, "at": datetime.fromisoformat(item["event_time"])}
                     for item in c.crew_side.get("mutations", [])]
        server_side = {**c.server_side, "crew": crews.get(c.server_side.get("crew_id"))}
        rows.append(ConflictRow(id=c.id, incident_id=c.incident_id, incident_code=code, incident_status=status,
                                crew=crew, kind=c.kind, mutations=mutations, server_side=server_side,
                                created_at=c.created_at, resolved_at=c.resolved_at, resolved_by=resolver,
                                resolution=c.resolution, resolution_note=c.resolution_note))
    return rows


async def _apply_crew_work(session: AsyncSession, incident: Incident, conflict: SyncConflict, staff: Staff,
                           now: datetime) -> list[str]:
    """The crew's steps and fields, as if the job had been theirs. Returns what changed."""
    changed = []
    for item in conflict.crew_side.get("mutations", []):
        at = datetime.fromisoformat(item["event_time"])
        step = STEPS.get(item["name"])
        if step is not None:
            after = state.furthest(incident.status, step)
            if after != incident.status:
                changed.append(f"status:{after}")
            incident.status = after
            column = state.TIME_COLUMN[step]
            setattr(incident, column, rules.earliest(getattr(incident, column), at))
        field_value = {"restored": ("cause", item["args"].get("cause")),
                       "propose_etr": ("etr_proposal", item["args"].get("etr"))}.get(item["name"])
        if field_value is not None and field_value[1] is not None:
            name, value = field_value
            if name == "etr_proposal":
                value = datetime.fromisoformat(value).isoformat()
            stamp = rules.Stamp.of(at, item["client_id"], item["mutation_id"])
            current = await session.get(IncidentField, (incident.id, name))
            current_stamp = None if current is None else rules.Stamp.of(current.event_time, current.client_id,
                                                                        current.mutation_id)
            if rules.last_writer_wins(current_stamp, stamp):
                client_id = uuid.UUID(item["client_id"])
                current = current or IncidentField(incident_id=incident.id, name=name, client_id=client_id,
                                                   event_time=at)
                current.value, current.event_time, current.client_id = value, at, client_id
                current.mutation_id, current.staff_id, current.updated_at = item["mutation_id"], staff.id, now
                session.add(current)
                if name == "cause":
                    incident.cause = value
                changed.append(name)
    return changed


async def resolve(session: AsyncSession, conflict_id: int, resolution: str, note: str, staff: Staff,
                  now: datetime | None = None) -> SyncConflict:
    now = now or utcnow()
    note = (note or "").strip()
    if len(note) > 500:
        raise Refused(N_("The note can be at most %(limit)s characters."), 422, limit=500)
    conflict = await session.get(SyncConflict, conflict_id)
    if conflict is None:
        raise Refused(N_("There is no conflict number %(id)s."), 404, id=conflict_id)
    incident = await locked_incident(session, conflict.incident_id)  # the lock serialises two supervisors
    await session.refresh(conflict)
    if conflict.resolved_at is not None:
        raise Refused(N_("This conflict was already resolved."), 409)
    if resolution not in rules.RESOLUTIONS.get(conflict.kind, ()):
        raise Refused(N_("Choose one of the answers offered for this conflict."), 422)
    changed = []
    if resolution == "accepted" and conflict.kind == "not_assigned":
        changed = await _apply_crew_work(session, incident, conflict, staff, now)
    conflict.resolved_at, conflict.resolved_by_id = now, staff.id
    conflict.resolution, conflict.resolution_note, conflict.updated_at = resolution, note, now
    session.add(conflict)
    incident.rev += 1
    session.add(incident)
    session.add(IncidentEvent(incident_id=incident.id, kind="conflict_resolved", actor=actor_of(staff),
                              client_time=now, server_time=now,
                              details={"conflict_id": conflict.id, "kind": conflict.kind, "resolution": resolution,
                                       "note": note, "changed": changed}))
    await session.commit()
    return conflict
