"""Staff accounts and sign-in: argon2id hashes, server-side sessions that end the moment a user is deactivated."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.staff.models import Role, Staff, StaffSession

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps sign-in time the same either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_staff(session: AsyncSession, *, username: str, password: str, role: str,
                       display_name: str = "", language: str = "en", crew_id: int | None = None) -> Staff:
    if role not in Role.__members__:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role)}")
    staff = Staff(username=username.strip().lower(), display_name=display_name or username, role=role,
                  language=language, password_hash=hash_password(password), crew_id=crew_id)
    session.add(staff)
    await session.commit()
    await session.refresh(staff)
    return staff


async def sign_in(session: AsyncSession, username: str, password: str, hours: int) -> tuple[str, Staff] | None:
    """A new session token (and who it is) for good credentials of an active user, else None."""
    staff = (await session.exec(select(Staff).where(Staff.username == username.strip().lower()))).first()
    if staff is None or not staff.active:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(staff.password_hash, password):
        return None
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_token_hash(token), staff_id=staff.id,
                             expires_at=utcnow() + timedelta(hours=hours)))
    await session.commit()
    return token, staff


async def staff_for_token(session: AsyncSession, token: str) -> Staff | None:
    query = (select(Staff).join(StaffSession, col(StaffSession.staff_id) == col(Staff.id))
             .where(StaffSession.token_hash == _token_hash(token), StaffSession.expires_at > utcnow(),
                    col(Staff.active).is_(True)))
    return (await session.exec(query)).first()


async def sign_out(session: AsyncSession, token: str) -> None:
    await session.exec(delete(StaffSession).where(col(StaffSession.token_hash) == _token_hash(token)))
    await session.commit()


def landing_path(role: str) -> str:
    """Each role lands on its own page."""
    return {
        Role.agent: "/agent",
        Role.dispatcher: "/dispatch",
        Role.lineman: "/crew",
        Role.supervisor: "/supervisor",
        Role.admin: "/admin",
    }[Role(role)]


async def set_language(session: AsyncSession, staff_id: int, language: str) -> None:
    staff = await session.get(Staff, staff_id)
    staff.language = language
    await session.commit()
