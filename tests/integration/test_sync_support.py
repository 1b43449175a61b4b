"""Shared by the sync tests: crews, linemen and incidents of their own, seeded through the models and services.

The incidents sit outside the served area, so no report from another test can ever join one of them.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.crews.models import Crew, CrewShift
from server.db import utcnow
from server.incidents.models import Incident, IncidentEvent
from server.staff.models import Staff
from server.staff.service import hash_password

PASSWORD = "sync-test-password"
_HASH = None


def _password_hash() -> str:
    global _HASH
    _HASH = _HASH or hash_password(PASSWORD)
    return _HASH


def short_id() -> str:
    return uuid.uuid4().hex[:8]


async def make_crew(session: AsyncSession, name: str = "Sync crew") -> Crew:
    crew = Crew(code=f"S{short_id()}"[:20], name=name)
    session.add(crew)
    await session.flush()
    session.add(CrewShift(crew_id=crew.id, started_at=utcnow(), started_by="system"))  # on shift: available
    await session.commit()
    await session.refresh(crew)
    return crew


async def make_staff(session: AsyncSession, role: str, crew_id: int | None = None, name: str = "") -> Staff:
    username = f"{role}-{short_id()}"
    staff = Staff(username=username, display_name=name or username, role=role, password_hash=_password_hash(),
                  crew_id=crew_id)
    session.add(staff)
    await session.commit()
    return staff


async def make_incident(session: AsyncSession, offset: int = 0, now: datetime | None = None) -> Incident:
    now = now or utcnow()
    incident = Incident(category="no_power", location=f"SRID=4326;POINT({37.6 + offset * 1e-4} -1.0)",
                        report_count=1, reported_at=now, last_report_at=now)
    session.add(incident)
    await session.flush()
    session.add(IncidentEvent(incident_id=incident.id, kind="reported", actor="system", server_time=now,
                              details={"test": "sync"}))
    await session.commit()
    return incident


def mutation(mutation_id: int, name: str, at: datetime | None = None, base_rev: int | None = None,
             **args) -> dict:
    found = {"id": mutation_id, "name": name, "args": args,
             "client_time": (at or utcnow()).isoformat()}
    if base_rev is not None:
        found["base_rev"] = base_rev
    return found


def new_id() -> str:
    return str(uuid.uuid4())


async def fresh(session: AsyncSession, incident_id: int) -> Incident:
    return (await session.exec(select(Incident).where(Incident.id == incident_id)
                               .execution_options(populate_existing=True))).one()


async def events(session: AsyncSession, incident_id: int) -> list:
    return list(await session.exec(text("SELECT kind, actor, client_time, server_time, details FROM incident_event "
                                        "WHERE incident_id = :id ORDER BY id"), params={"id": incident_id}))


def minutes_ago(minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=minutes)
