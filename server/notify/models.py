"""Push subscriptions, the outbox of messages waiting to be sent, and planned work announced ahead."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from server.db import geometry_column, utcnow


class PushSubscription(SQLModel, table=True):
    """A browser that asked to be told about one report's incident ("notify me" on the tracking page)."""

    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True, ondelete="CASCADE")
    endpoint: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(
        DateTime(timezone=True), nullable=False, server_default=func.now()))


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient, written in the same transaction as the change that causes it.

    `dedupe_key` is unique: the same (incident, kind, recipient) is never queued twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("channel IN ('push', 'sms')", name="outbox_channel_known"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'gone')", name="outbox_status_known"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    channel: str = Field(max_length=10)
    kind: str = Field(max_length=30)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    subscription_id: int | None = Field(default=None, foreign_key="push_subscription.id", ondelete="SET NULL")
    recipient: str = Field(sa_column=Column(Text, nullable=False))  # a phone (E.164) or a push endpoint
    language: str = Field(default="en", max_length=5)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))
    dedupe_key: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    status: str = Field(default="pending", max_length=10, sa_column_kwargs={"server_default": "pending"})
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_try_at: datetime = Field(default_factory=utcnow, sa_column=Column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), index=True))
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(
        DateTime(timezone=True), nullable=False, server_default=func.now()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Broadcast(SQLModel, table=True):
    """A message to every customer of a zone (a scam warning, say): who sent what to how many."""

    id: int | None = Field(default=None, primary_key=True)
    zone_id: int | None = Field(default=None, foreign_key="zone.id")  # None: every zone
    texts: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))
    recipients: int = Field(default=0)
    # The preview's one-time key: the same confirmed form sent twice (a double tap, a resend) sends once.
    confirmation: str | None = Field(default=None, max_length=64, unique=True)
    created_by_staff_id: int | None = Field(default=None, foreign_key="staff.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(
        DateTime(timezone=True), nullable=False, server_default=func.now()))


class PlannedOutage(SQLModel, table=True):
    """Maintenance announced ahead: shown on the public outages page and feed."""

    __tablename__ = "planned_outage"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    reason: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    area: Any = Field(sa_column=geometry_column("MULTIPOLYGON"))
    zone_id: int | None = Field(default=None, foreign_key="zone.id")
    starts_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ends_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    cancelled: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
