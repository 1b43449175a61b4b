"""The administrator's work on staff, crews and zones: the rules in server.admin.rules, the SQL here."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, text
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from server.admin.models import CrewSkill, ImportRun
from server.admin.rules import CrewInput, StaffInput, admin_change_refused
from server.assets.models import Zone
from server.crews.models import Crew
from server.i18n import N_
from server.refusals import Refused
from server.staff.models import Role, Staff, StaffSession
from server.staff.service import create_staff, hash_password

# No 0/O, 1/l/I: a temporary password is read out over the phone.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def temporary_password() -> str:
    """About 59 random bits in three groups of four, given once to the person (the admin reads it out)."""
    chars = [secrets.choice(_PASSWORD_ALPHABET) for _ in range(12)]
    return "-".join("".join(chars[i:i + 4]) for i in range(0, 12, 4))


# ---------------------------------------------------------------- staff

async def staff_accounts(session: AsyncSession) -> list[Staff]:
    return list((await session.exec(select(Staff).order_by(col(Staff.active).desc(), Staff.role,
                                                           Staff.username))).all())


async def crew_choices(session: AsyncSession) -> list[Crew]:
    return list((await session.exec(select(Crew).order_by(Crew.code))).all())


async def _active_admins(session: AsyncSession) -> int:
    query = select(func.count()).select_from(Staff).where(Staff.role == Role.admin, col(Staff.active).is_(True))
    return (await session.exec(query)).one()


async def _end_sessions(session: AsyncSession, staff_id: int) -> None:
    await session.exec(delete(StaffSession).where(col(StaffSession.staff_id) == staff_id))


async def create_account(session: AsyncSession, entry: StaffInput) -> tuple[Staff, str]:
    """A new account with a temporary password, returned once."""
    if (await session.exec(select(Staff.id).where(Staff.username == entry.username))).first() is not None:
        raise Refused(N_("Someone already has this username."), 409, "username")
    password = temporary_password()
    staff = await create_staff(session, username=entry.username, password=password, role=entry.role,
                               display_name=entry.display_name, language=entry.language, crew_id=entry.crew_id)
    return staff, password


async def _locked_staff(session: AsyncSession, staff_id: int) -> Staff:
    # Row lock: two administrators demoting the last two admins at once cannot both succeed.
    await session.exec(text("SELECT pg_advisory_xact_lock(1102)"))
    staff = await session.get(Staff, staff_id, with_for_update=True)
    if staff is None:
        raise Refused(N_("There is no such staff account."), 404)
    return staff


async def update_account(session: AsyncSession, acting: Staff, staff_id: int, entry: StaffInput) -> Staff:
    staff = await _locked_staff(session, staff_id)
    refused = admin_change_refused(acting_id=acting.id, target_id=staff.id, target_role=staff.role,
                                   target_active=staff.active, new_role=entry.role, new_active=staff.active,
                                   active_admins=await _active_admins(session))
    if refused:
        await session.rollback()
        raise Refused(refused, 409, "role")
    staff.display_name, staff.role, staff.language, staff.crew_id = (entry.display_name, entry.role, entry.language,
                                                                     entry.crew_id)
    session.add(staff)
    await session.commit()
    return staff


async def set_active(session: AsyncSession, acting: Staff, staff_id: int, active: bool) -> Staff:
    """Deactivating also deletes the person's sessions: they are signed out on their next click."""
    staff = await _locked_staff(session, staff_id)
    refused = admin_change_refused(acting_id=acting.id, target_id=staff.id, target_role=staff.role,
                                   target_active=staff.active, new_role=staff.role, new_active=active,
                                   active_admins=await _active_admins(session))
    if refused:
        await session.rollback()
        raise Refused(refused, 409)
    staff.active = active
    session.add(staff)
    if not active:
        await _end_sessions(session, staff.id)
    await session.commit()
    return staff


async def reset_password(session: AsyncSession, staff_id: int) -> tuple[Staff, str]:
    """A new temporary password; whoever knew the old one (or holds a session) is out."""
    staff = await _locked_staff(session, staff_id)
    password = temporary_password()
    staff.password_hash = hash_password(password)
    session.add(staff)
    await _end_sessions(session, staff.id)
    await session.commit()
    return staff, password


# ---------------------------------------------------------------- crews

@dataclass(frozen=True)
class CrewView:
    crew: Crew
    zone: str | None
    members: list[Staff]
    skills: list[str]


async def crew_views(session: AsyncSession) -> list[CrewView]:
    crews = await crew_choices(session)
    zones = {z.id: z.name for z in (await session.exec(select(Zone))).all()}
    members: dict[int, list[Staff]] = {}
    for staff in (await session.exec(select(Staff).where(col(Staff.crew_id).is_not(None))
                                     .order_by(Staff.display_name))).all():
        members.setdefault(staff.crew_id, []).append(staff)
    skills: dict[int, list[str]] = {}
    for skill in (await session.exec(select(CrewSkill).order_by(CrewSkill.skill))).all():
        skills.setdefault(skill.crew_id, []).append(skill.skill)
    return [CrewView(c, zones.get(c.home_zone_id), members.get(c.id, []), skills.get(c.id, [])) for c in crews]


async def linemen(session: AsyncSession) -> list[Staff]:
    query = select(Staff).where(Staff.role == Role.lineman, col(Staff.active).is_(True)).order_by(Staff.display_name)
    return list((await session.exec(query)).all())


async def save_crew(session: AsyncSession, crew_id: int | None, entry: CrewInput) -> Crew:
    """Create (crew_id None) or change a crew: name, home zone, skills, and who is in it."""
    if crew_id is None:
        if (await session.exec(select(Crew.id).where(Crew.code == entry.code))).first() is not None:
            raise Refused(N_("Another crew already has this code."), 409, "code")
        crew = Crew(code=entry.code, name=entry.name, home_zone_id=entry.home_zone_id)
        session.add(crew)
        await session.flush()
    else:
        crew = await session.get(Crew, crew_id, with_for_update=True)
        if crew is None:
            raise Refused(N_("There is no such crew."), 404)
        crew.name, crew.home_zone_id = entry.name, entry.home_zone_id
        session.add(crew)
    await session.exec(delete(CrewSkill).where(col(CrewSkill.crew_id) == crew.id))
    session.add_all([CrewSkill(crew_id=crew.id, skill=skill) for skill in entry.skills])
    # A lineman is in one crew: choosing them here moves them from any other.
    await session.exec(update(Staff).where(col(Staff.crew_id) == crew.id, col(Staff.id).not_in(entry.member_ids or [0]))
                       .values(crew_id=None))
    if entry.member_ids:
        await session.exec(update(Staff).where(col(Staff.id).in_(entry.member_ids)).values(crew_id=crew.id))
    await session.commit()
    return crew


# ---------------------------------------------------------------- zones

@dataclass(frozen=True)
class ZoneView:
    id: int
    name: str
    responsible_id: int | None
    responsible: str | None
    responsible_active: bool
    feeders: int
    transformers: int


_ZONES = text("""
    SELECT z.id, z.name, z.responsible_staff_id AS responsible_id, s.display_name AS responsible,
           coalesce(s.active, true) AS responsible_active,
           (SELECT count(*) FROM feeder f WHERE f.zone_id = z.id) AS feeders,
           (SELECT count(*) FROM transformer t JOIN feeder f ON f.id = t.feeder_id WHERE f.zone_id = z.id)
               AS transformers
    FROM zone z LEFT JOIN staff s ON s.id = z.responsible_staff_id
    ORDER BY z.name""")


async def zone_views(session: AsyncSession) -> list[ZoneView]:
    return [ZoneView(**row._mapping) for row in await session.exec(_ZONES)]


async def responsible_choices(session: AsyncSession) -> list[Staff]:
    """Who can answer for a zone's pending complaints: active supervisors and administrators."""
    query = select(Staff).where(col(Staff.role).in_((Role.supervisor, Role.admin)), col(Staff.active).is_(True)) \
        .order_by(Staff.display_name)
    return list((await session.exec(query)).all())


async def set_responsible(session: AsyncSession, zone_id: int, staff_id: int | None) -> Zone:
    zone = await session.get(Zone, zone_id)
    if zone is None:
        raise Refused(N_("There is no such zone."), 404)
    zone.responsible_staff_id = staff_id
    session.add(zone)
    await session.commit()
    return zone


# ---------------------------------------------------------------- imports

async def recent_imports(session: AsyncSession, limit: int = 20) -> list[ImportRun]:
    return list((await session.exec(select(ImportRun).order_by(col(ImportRun.id).desc()).limit(limit))).all())
