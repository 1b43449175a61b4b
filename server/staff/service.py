"""Staff accounts and sign-in: argon2id hashes, server-side sessions that end the moment a user is deactivated."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server import ratelimit
from server.db import utcnow
from server.staff import rules
from server.staff.models import Role, SignInFailure, Staff, StaffSession

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


@dataclass(frozen=True)
class SignedIn:
    token: str         # the session cookie's value
    staff: Staff


@dataclass(frozen=True)
class SignInRefused:
    locked_until: datetime | None  # too many failures: no try counts before then; None: wrong credentials


def _limit_keys(username: str, address: str) -> tuple[str, str]:
    return f"signin:user:{username.strip().lower()[:60]}", f"signin:addr:{address[:60]}"


async def sign_in(session: AsyncSession, username: str, password: str, hours: int, address: str,
                  csrf_token: str | None = None,
                  limits: rules.SignInLimits = rules.SignInLimits()) -> SignedIn | SignInRefused:
    """A new session for good credentials of an active user, unless this account or this address has failed too
    often lately (server/staff/rules.py); every failure is counted and recorded. `csrf_token` is bound to the
    new session (see StaffSession.csrf_hash)."""
    now = utcnow()
    account_key, address_key = _limit_keys(username, address)
    failures = [await ratelimit.count(session, key, limits.window, now) for key in (account_key, address_key)]
    staff = (await session.exec(select(Staff).where(Staff.username == username.strip().lower()))).first()
    if rules.verdict(*failures, limits) != rules.OPEN:
        await _record_failure(session, username, staff, address, "locked", now)
        return SignInRefused(rules.window_end(ratelimit.window_start(now, limits.window), limits))
    if staff is None or not staff.active:
        password_matches(_DUMMY_HASH, password)  # the same time either way: no telling which accounts exist
        reason = "unknown_account" if staff is None else "switched_off"
    elif not password_matches(staff.password_hash, password):
        reason = "wrong_password"
    else:
        token = secrets.token_urlsafe(32)
        session.add(StaffSession(token_hash=_token_hash(token), staff_id=staff.id, created_at=now,
                                 expires_at=now + timedelta(hours=hours),
                                 csrf_hash=_token_hash(csrf_token) if csrf_token else None))
        await session.commit()
        return SignedIn(token, staff)
    for key in (account_key, address_key):
        await ratelimit.hit(session, key, 0, limits.window)
    await _record_failure(session, username, staff, address, reason, now)
    return SignInRefused(None)


async def _record_failure(session: AsyncSession, username: str, staff: Staff | None, address: str, reason: str,
                          now: datetime) -> None:
    session.add(SignInFailure(at=now, username=rules.recorded_username(username),
                              staff_id=staff.id if staff else None, address=address[:64], reason=reason))
    await session.commit()


async def recent_failures(session: AsyncSession, limit: int = 200) -> list[SignInFailure]:
    return list(await session.exec(select(SignInFailure).order_by(col(SignInFailure.at).desc(),
                                                                  col(SignInFailure.id).desc()).limit(limit)))


async def failure_counts(session: AsyncSession, hours: int = 24, top: int = 20) -> tuple[list, list]:
    """(username, failures) and (address, failures) over the last `hours`, most first."""
    since = utcnow() - timedelta(hours=hours)
    found = []
    for column in (SignInFailure.username, SignInFailure.address):
        found.append(list(await session.exec(
            select(column, func.count()).where(SignInFailure.at >= since).group_by(column)
            .order_by(func.count().desc(), column).limit(top))))
    return found[0], found[1]


async def staff_for_token(session: AsyncSession, token: str) -> tuple[Staff, str | None] | None:
    """Who holds this session token, and the hash of the CSRF token bound to the session."""
    query = (select(Staff, StaffSession.csrf_hash).join(StaffSession, col(StaffSession.staff_id) == col(Staff.id))
             .where(StaffSession.token_hash == _token_hash(token), StaffSession.expires_at > utcnow(),
                    col(Staff.active).is_(True)))
    found = (await session.exec(query)).first()
    return (found[0], found[1]) if found else None


def csrf_matches(csrf_hash: str | None, csrf_cookie: str | None) -> bool:
    """Is this the CSRF token issued with the session? (A session from before the binding has none to match.)"""
    return csrf_hash is None or (csrf_cookie is not None and secrets.compare_digest(csrf_hash, _token_hash(csrf_cookie)))


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
