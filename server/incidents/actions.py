"""Dispatcher-side operations on an incident: assign or reassign a crew, set the ETR, add a note, cancel,
merge a duplicate, close.

Each one locks the incident row (so it serialises with crew phones syncing the same job), moves it by the
state rules (server/incidents/state.py), bumps `rev` — the sync change log and the crew's next pull follow
from that — and writes its incident_event in the same transaction. No HTTP here: the dispatcher console
puts routes on these; the sync tests drive them directly.
"""
from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.crews.models import Crew
from server.db import utcnow
from server.i18n import N_
from server.refusals import Refused
from server.incidents import state
from server.incidents.models import Incident, IncidentEvent
from server.incidents.records import Note
from server.incidents.rules import raised_category
from server.notify.service import queue_incident_notice
from server.settings import Settings
from server.staff.models import Staff, actor_of

MAX_NOTE = 2000
MAX_REASON = 500
# An ETR a customer is told must be ahead of now, and within a horizon anyone can plan for.
ETR_HORIZON = timedelta(days=14)
ETR_PAST_SLACK = timedelta(minutes=5)


def _refusal_rolls_back(action):
    """A refused action leaves nothing behind: not half a change, not the row lock it took."""
    @functools.wraps(action)
    async def run(session: AsyncSession, *args, **kwargs):
        try:
            return await action(session, *args, **kwargs)
        except Refused:
            await session.rollback()
            raise
    return run


def author_role(staff: Staff) -> str:
    return {"lineman": "crew", "supervisor": "supervisor", "admin": "supervisor"}.get(staff.role, "dispatcher")


async def locked_incident(session: AsyncSession, incident_id: int) -> Incident:
    """The incident, locked until commit, as it is in the database now (not as the session last saw it)."""
    query = select(Incident).where(Incident.id == incident_id).with_for_update() \
        .execution_options(populate_existing=True)
    incident = (await session.exec(query)).first()
    if incident is None:
        raise Refused(N_("There is no incident number %(id)s."), 404, id=incident_id)
    return incident


def _check_version(incident: Incident, expected_rev: int | None) -> None:
    """Two dispatchers on one incident: the one who acted on an older screen is told, not overwritten."""
    if expected_rev is not None and incident.rev != expected_rev:
        raise Refused(N_("%(code)s changed while you were looking at it. Look at it again, then decide."), 409,
                            code=incident.code)


def _record(session: AsyncSession, incident: Incident, kind: str, staff: Staff, now: datetime,
            details: dict) -> None:
    # A desk is online: the action happens when the server receives it, so both times are the same.
    incident.rev += 1
    session.add(incident)
    session.add(IncidentEvent(incident_id=incident.id, kind=kind, actor=actor_of(staff), client_time=now,
                              server_time=now, details=details))


def _status_label(status: str) -> str:
    return status.replace("_", " ")


async def tell_customers(session: AsyncSession, incident: Incident, kind: str, settings: Settings | None,
                         crew_id: int | None = None) -> None:
    """Queue the customers' notice in the same transaction as the change (sent by the outbox worker).
    Without settings (scripts, some tests) nobody is told."""
    if settings is None:
        return
    crew = await session.get(Crew, crew_id) if crew_id else None
    await queue_incident_notice(session, incident, kind, settings, crew_code=crew.code if crew else None)


@_refusal_rolls_back
async def assign_crew(session: AsyncSession, incident_id: int, crew_id: int, staff: Staff,
                      now: datetime | None = None, settings: Settings | None = None,
                      expected_rev: int | None = None) -> Incident:
    """Send a crew, or send another one (reassign). Allowed before the restore, unless cancelled."""
    now = now or utcnow()
    incident = await locked_incident(session, incident_id)
    _check_version(incident, expected_rev)
    if not state.can_assign(incident.status):
        raise Refused(N_("%(code)s is %(status)s: it cannot be given to a crew any more."), 409,
                            code=incident.code, status=_status_label(incident.status))
    crew = await session.get(Crew, crew_id, populate_existing=True)
    if crew is None:
        raise Refused(N_("There is no crew number %(id)s."), 404, id=crew_id)
    if crew.status == "off_shift" and incident.crew_id != crew_id:
        raise Refused(N_("%(crew)s is off shift: choose a crew that is working."), 409, crew=crew.name)
    if incident.crew_id == crew_id:
        return incident  # already theirs: nothing changes, nothing to record
    previous, before = incident.crew_id, incident.status
    incident.crew_id = crew_id
    if incident.flag == "unable_to_fix":
        incident.flag = None  # another crew is going: the last one's "unable to fix" is answered
    # Forward only: a reassigned job keeps its progress (the new crew's own steps are merged the same way).
    incident.status = state.furthest(incident.status, "assigned")
    incident.assigned_at = incident.assigned_at or now
    _record(session, incident, "reassigned" if previous else "assigned", staff, now,
            {"crew_id": crew_id, "previous_crew_id": previous})
    if before == "reported":
        await tell_customers(session, incident, "assigned", settings, crew_id)
    await session.commit()
    return incident


async def reassign_crew(session: AsyncSession, incident_id: int, crew_id: int, staff: Staff,
                        now: datetime | None = None, settings: Settings | None = None,
                        expected_rev: int | None = None) -> Incident:
    return await assign_crew(session, incident_id, crew_id, staff, now, settings, expected_rev)


@_refusal_rolls_back
async def set_etr(session: AsyncSession, incident_id: int, etr: datetime, staff: Staff,
                  now: datetime | None = None, settings: Settings | None = None,
                  expected_rev: int | None = None) -> Incident:
    """The restoration time customers are told. Only while there is still work to do."""
    now = now or utcnow()
    if etr.tzinfo is None:
        raise Refused(N_("Give the ETR with its time zone."), 422)
    if not now - ETR_PAST_SLACK <= etr <= now + ETR_HORIZON:
        raise Refused(N_("The ETR must be between now and %(days)s days ahead."), 422, days=ETR_HORIZON.days)
    incident = await locked_incident(session, incident_id)
    _check_version(incident, expected_rev)
    if not state.is_open(incident.status):
        raise Refused(N_("%(code)s is %(status)s: an ETR no longer applies."), 409,
                            code=incident.code, status=_status_label(incident.status))
    previous = incident.etr
    incident.etr = etr
    _record(session, incident, "etr_set", staff, now,
            {"etr": etr.isoformat(), "previous": previous.isoformat() if previous else None})
    if previous != etr:
        await tell_customers(session, incident, "etr_changed", settings, incident.crew_id)
    await session.commit()
    return incident


@_refusal_rolls_back
async def add_note(session: AsyncSession, incident_id: int, text: str, staff: Staff,
                   note_id: uuid.UUID | None = None, now: datetime | None = None) -> Note:
    """A note from the desk for the crew (and the record). Notes never change once written."""
    now = now or utcnow()
    text = text.strip()
    if not text:
        raise Refused(N_("Write the note first."), 422)
    if len(text) > MAX_NOTE:
        raise Refused(N_("A note can be at most %(limit)s characters."), 422, limit=MAX_NOTE)
    incident = await locked_incident(session, incident_id)
    note = Note(id=note_id or uuid.uuid4(), incident_id=incident.id, staff_id=staff.id, author_role=author_role(staff),
                text=text, client_time=None, server_time=now)
    session.add(note)
    _record(session, incident, "note", staff, now, {"note_id": str(note.id), "author_role": note.author_role})
    await session.commit()
    return note


@_refusal_rolls_back
async def cancel_incident(session: AsyncSession, incident_id: int, reason: str, staff: Staff,
                          now: datetime | None = None, expected_rev: int | None = None) -> Incident:
    """A duplicate, or no fault found. Wins over every crew step before the restore (state.py)."""
    now = now or utcnow()
    reason = reason.strip()
    if not reason:
        raise Refused(N_("Say why the incident is cancelled (a duplicate of…, no fault found…)."), 422)
    if len(reason) > MAX_REASON:
        raise Refused(N_("The reason can be at most %(limit)s characters."), 422, limit=MAX_REASON)
    incident = await locked_incident(session, incident_id)
    _check_version(incident, expected_rev)
    if not state.can_cancel(incident.status):
        raise Refused(N_("%(code)s is %(status)s: it can no longer be cancelled."), 409,
                            code=incident.code, status=_status_label(incident.status))
    previous = incident.status
    incident.status = "cancelled"
    incident.cancelled_at = now
    _record(session, incident, "cancelled", staff, now, {"reason": reason, "previous_status": previous})
    await session.commit()
    return incident


@_refusal_rolls_back
async def close_incident(session: AsyncSession, incident_id: int, staff: Staff,
                         now: datetime | None = None) -> Incident:
    """The end of a restored job (checked, paperwork done)."""
    now = now or utcnow()
    incident = await locked_incident(session, incident_id)
    if not state.can_close(incident.status):
        raise Refused(N_("%(code)s is %(status)s: only a restored incident can be closed."), 409,
                            code=incident.code, status=_status_label(incident.status))
    incident.status = "closed"
    incident.closed_at = now
    _record(session, incident, "closed", staff, now, {})
    await session.commit()
    return incident


@_refusal_rolls_back
async def merge_incidents(session: AsyncSession, duplicate_id: int, into_id: int, staff: Staff,
                          now: datetime | None = None, expected_rev: int | None = None) -> Incident:
    """One fault reported twice: the duplicate's reports (and their customers' notices) join the other
    incident, and the duplicate is cancelled with a pointer to it. Returns the incident that remains."""
    now = now or utcnow()
    if duplicate_id == into_id:
        raise Refused(N_("An incident cannot be merged into itself."), 422)
    # Lock both in id order, so two dispatchers merging the same pair the other way round cannot deadlock.
    locked = {i: await locked_incident(session, i) for i in sorted((duplicate_id, into_id))}
    duplicate, into = locked[duplicate_id], locked[into_id]
    _check_version(duplicate, expected_rev)
    for incident in (duplicate, into):
        if not state.is_open(incident.status):
            raise Refused(N_("%(code)s is %(status)s: only open incidents can be merged."), 409,
                                code=incident.code, status=_status_label(incident.status))
    moved = (await session.exec(text("UPDATE report SET incident_id = :into WHERE incident_id = :duplicate"),
                                params={"into": into.id, "duplicate": duplicate.id})).rowcount
    into.report_count += duplicate.report_count
    into.repeat_calls += duplicate.repeat_calls
    # Two reports of one transformer's fault count its customers once; different transformers add up.
    if duplicate.transformer_id == into.transformer_id:
        into.customers_affected = max(into.customers_affected, duplicate.customers_affected)
    else:
        into.customers_affected += duplicate.customers_affected
    into.priority = "high" if "high" in (into.priority, duplicate.priority) else into.priority
    into.category = raised_category(into.category, duplicate.category)
    into.last_report_at = max(filter(None, (into.last_report_at, duplicate.last_report_at)), default=None)
    previous = duplicate.status
    duplicate.status, duplicate.cancelled_at, duplicate.merged_into_id = "cancelled", now, into.id
    _record(session, duplicate, "merged", staff, now,
            {"into": into.code, "into_id": into.id, "reports": moved, "previous_status": previous})
    _record(session, into, "merged_in", staff, now, {"from": duplicate.code, "from_id": duplicate.id,
                                                     "reports": moved})
    await session.commit()
    return into
