"""Staff accounts and their sign-in sessions."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, DateTime, func
from sqlmodel import Field, SQLModel

from server.db import utcnow
from server.i18n import N_


class Role(StrEnum):
    agent = "agent"
    dispatcher = "dispatcher"
    lineman = "lineman"
    supervisor = "supervisor"
    admin = "admin"


ROLE_LABELS = {
    Role.agent: N_("Call-centre agent"),
    Role.dispatcher: N_("Dispatcher"),
    Role.lineman: N_("Lineman"),
    Role.supervisor: N_("Supervisor"),
    Role.admin: N_("Administrator"),
}


class Staff(SQLModel, table=True):
    __table_args__ = (CheckConstraint("role IN ('agent','dispatcher','lineman','supervisor','admin')",
                                      name="staff_role_known"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=60)
    display_name: str = Field(max_length=120)
    role: str = Field(max_length=20)
    language: str = Field(default="en", max_length=5, sa_column_kwargs={"server_default": "en"})
    password_hash: str = Field(max_length=200)
    active: bool = Field(default=True, sa_column_kwargs={"server_default": "true"})
    crew_id: int | None = Field(default=None, foreign_key="crew.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                    server_default=func.now()))


def actor_of(staff: Staff) -> str:
    """Who did it, as the timeline and the audit write it."""
    return f"staff:{staff.id}"


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "staff_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    staff_id: int = Field(foreign_key="staff.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # The SHA-256 of the CSRF token issued with this sign-in: a form is accepted only with this session's own
    # token, never one made before sign-in or for another browser (NULL: a session from before this rule).
    csrf_hash: str | None = Field(default=None, max_length=64)


class SignInFailure(SQLModel, table=True):
    """A sign-in that did not succeed, kept for the administrator (trimmed by housekeeping after 90 days)."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (CheckConstraint("reason IN ('wrong_password', 'unknown_account', 'switched_off', 'locked')",
                                      name="sign_in_failure_reason_known"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                    index=True))
    username: str = Field(max_length=60)  # as typed, when it could be a username; "?" otherwise
    staff_id: int | None = Field(default=None, foreign_key="staff.id", ondelete="CASCADE")
    address: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=20)
