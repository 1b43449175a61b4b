"""An incident: one fault on the network, carrying every report about it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Index, LargeBinary, String,
                        UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from server.db import point_column, utcnow

STATUSES = ("reported", "assigned", "en_route", "on_site", "restored", "closed", "cancelled")
OPEN_STATUSES = ("reported", "assigned", "en_route", "on_site")


def _timestamp(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Incident(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="incident_status_known"),
        CheckConstraint("priority IN ('normal','high')", name="incident_priority_known"),
        # The supervisor's figures pick a period, and look for reopened jobs (migration g14audit0001).
        Index("ix_incident_reported_at", "reported_at"),
        Index("ix_incident_reopened_from_id", "reopened_from_id", postgresql_where=text("reopened_from_id IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    # FL-000123, numbered by a sequence so codes are short and never reused (FL-1234567 past a million:
    # lpad alone would cut the number and repeat codes).
    code: str = Field(sa_column=Column(String(20), unique=True, nullable=False,
                                       server_default=text("next_incident_code()")))
    status: str = Field(default="reported", max_length=20, index=True,
                        sa_column_kwargs={"server_default": "reported"})
    priority: str = Field(default="normal", max_length=10, sa_column_kwargs={"server_default": "normal"})
    category: str = Field(max_length=20)
    cause: str | None = Field(default=None, max_length=200)
    location: Any = Field(sa_column=point_column())
    transformer_id: int | None = Field(default=None, foreign_key="transformer.id", index=True)
    feeder_id: int | None = Field(default=None, foreign_key="feeder.id")
    zone_id: int | None = Field(default=None, foreign_key="zone.id", index=True)
    crew_id: int | None = Field(default=None, foreign_key="crew.id", index=True)
    report_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Customers on the transformer when the incident opened: who is likely in the dark.
    customers_affected: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Callers who reported again on this incident: no new report, but dispatch sees the pressure.
    repeat_calls: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_report_at: datetime | None = _timestamp()
    # "Is your power back?" — "no" opens a new incident linked to the old one, flagged to dispatch.
    reopened_from_id: int | None = Field(default=None, foreign_key="incident.id")
    # A duplicate merged by a dispatcher: cancelled, its reports moved to this one.
    merged_into_id: int | None = Field(default=None, foreign_key="incident.id")
    flag: str | None = Field(default=None, max_length=40)
    etr: datetime | None = _timestamp()
    reported_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                     server_default=func.now()))
    assigned_at: datetime | None = _timestamp()
    en_route_at: datetime | None = _timestamp()
    on_site_at: datetime | None = _timestamp()
    restored_at: datetime | None = _timestamp()
    closed_at: datetime | None = _timestamp()
    cancelled_at: datetime | None = _timestamp()
    # Bumped on every change; the sync service and dispatchers use it to spot stale edits.
    rev: int = Field(default=1, sa_column=Column(BigInteger, nullable=False, server_default="1"))


class IncidentEvent(SQLModel, table=True):
    """Append-only timeline of an incident: who did what, when (device time and server time), where."""

    __tablename__ = "incident_event"
    __table_args__ = (UniqueConstraint("incident_id", "seq", name="incident_event_incident_id_seq_key"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    incident_id: int = Field(sa_column=Column(ForeignKey("incident.id"), nullable=False, index=True))
    kind: str = Field(max_length=30)
    actor: str = Field(max_length=60)  # "customer", "staff:12", "system"
    client_time: datetime | None = _timestamp()
    server_time: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                     server_default=func.now()))
    location: Any = Field(sa_column=point_column(index=False))
    details: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))
    # Filled by the database on insert (migration d10audit0001): the incident's hash chain.
    seq: int | None = Field(default=None)
    prev_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
