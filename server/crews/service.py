"""Shifts: a crew goes on and off shift. (Positions arrive through the sync service: `position` mutations.)

crew.status is not written here: the database works it out from the open shift and the crew's jobs
(migration e12dispatch01), so every writer agrees on it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.crews.models import Crew, CrewShift
from server.db import utcnow
from server.i18n import N_
from server.staff.models import Staff, actor_of
from server.refusals import Refused



async def _crew_for_update(session: AsyncSession, crew_id: int) -> Crew:
    crew = (await session.exec(select(Crew).where(Crew.id == crew_id).with_for_update()
                               .execution_options(populate_existing=True))).first()
    if crew is None:
        raise Refused(N_("There is no crew number %(id)s."), 404, id=crew_id)
    return crew


async def open_shift(session: AsyncSession, crew_id: int) -> CrewShift | None:
    return (await session.exec(select(CrewShift).where(CrewShift.crew_id == crew_id,
                                                       CrewShift.ended_at.is_(None)))).first()


async def start_shift(session: AsyncSession, crew_id: int, staff: Staff, now: datetime | None = None) -> CrewShift:
    """On shift; starting twice is harmless (the open shift is returned)."""
    crew = await _crew_for_update(session, crew_id)
    shift = await open_shift(session, crew.id)
    if shift is None:
        shift = CrewShift(crew_id=crew.id, started_at=now or utcnow(), started_by=actor_of(staff))
        session.add(shift)
    await session.commit()
    return shift


async def end_shift(session: AsyncSession, crew_id: int, staff: Staff, now: datetime | None = None) -> None:
    """Off shift. Not while the crew still holds open jobs: customers would wait for nobody."""
    crew = await _crew_for_update(session, crew_id)
    jobs = (await session.exec(text("SELECT count(*) FROM incident WHERE crew_id = :crew AND status IN "
                                    "('assigned', 'en_route', 'on_site')"), params={"crew": crew.id})).scalar_one()
    if jobs:
        name = crew.name
        await session.rollback()
        raise Refused(N_("%(crew)s still has %(n)s open jobs: give them to another crew before the shift "
                               "ends."), 409, crew=name, n=jobs)
    shift = await open_shift(session, crew.id)
    if shift is not None:
        shift.ended_at, shift.ended_by = max(now or utcnow(), shift.started_at), actor_of(staff)
        session.add(shift)
    await session.commit()


async def set_shift(session: AsyncSession, crew_id: int, staff: Staff, on: bool) -> None:
    """The shift buttons (console and crew page): start when `on`, else end."""
    if on:
        await start_shift(session, crew_id, staff)
    else:
        await end_shift(session, crew_id, staff)
