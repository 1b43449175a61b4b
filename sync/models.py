"""Sync tables: crew devices and the mutations they sent, the change log pull reads, conflicts for supervisors.

The append-only field records (notes, check-ins, photos, materials) live with the incident in
server/incidents/records.py; they are imported here so the one schema import (server/models.py) sees them.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

import server.incidents.records  # noqa: F401  (notes, check-ins, photos, materials)
from server.db import point_column, utcnow

OUTCOMES = ("applied", "rejected", "conflict")
CONFLICT_KINDS = ("not_assigned", "cancelled", "restored_after_cancel")
RESOLUTIONS = ("accepted", "dismissed")
# The top-level transaction id of the writer, as a number (xid8 fits a bigint for the life of any cluster).
CURRENT_XID = text("(pg_current_xact_id()::text::bigint)")


def _now_column(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                          server_default=func.now()))


class SyncClient(SQLModel, table=True):
    """One crew app install (its IndexedDB outbox), owned by the staff member who signed in on it."""

    __tablename__ = "sync_client"

    client_id: uuid.UUID = Field(primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    # Mutation ids are 1, 2, 3… per client; everything up to here has taken effect (or was used up).
    last_mutation_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    created_at: datetime = _now_column()
    last_push_at: datetime | None = _now_column(nullable=True)


class SyncMutation(SQLModel, table=True):
    """Every mutation the server took from a client, as sent, with the answer it got: the idempotency
    record (a retried batch is answered from here) and the audit trail of offline work."""

    __tablename__ = "sync_mutation"
    __table_args__ = (CheckConstraint(f"outcome IN {OUTCOMES}", name="sync_mutation_outcome_known"),)

    client_id: uuid.UUID = Field(sa_column=Column(ForeignKey("sync_client.client_id"), primary_key=True))
    mutation_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    staff_id: int = Field(foreign_key="staff.id")
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    name: str = Field(max_length=40)
    sent: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))  # the mutation as sent
    client_time: datetime | None = _now_column(nullable=True)  # the device's clock, as sent
    event_time: datetime | None = _now_column(nullable=True)  # the same, clamped when too far off
    clock_flag: str | None = Field(default=None, max_length=10)  # "future" / "past" when clamped
    base_rev: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    incident_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True, index=True))
    outcome: str = Field(max_length=10)
    reason: str | None = Field(default=None, max_length=40)
    details: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))
    conflict_id: int | None = Field(default=None, foreign_key="sync_conflict.id")
    server_time: datetime = _now_column()
    xid: int = Field(default=None, sa_column=Column(BigInteger, nullable=False, server_default=CURRENT_XID))


class SyncChange(SQLModel, table=True):
    """The change log pull reads: one row per change to an incident, for each crew it concerns.

    Written by a trigger on `incident` (every writer — intake, dispatch, sync — bumps the incident row), so
    no code path can forget it. `xid` orders the log; see sync/changes.py for why a serial id would not do.
    """

    __tablename__ = "sync_change"
    __table_args__ = (Index("ix_sync_change_crew_id_xid", "crew_id", "xid"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    xid: int = Field(default=None, sa_column=Column(BigInteger, nullable=False, server_default=CURRENT_XID))
    incident_id: int = Field(sa_column=Column(Integer, nullable=False))
    crew_id: int = Field(sa_column=Column(Integer, nullable=False))
    changed_at: datetime = _now_column()


class SyncState(SQLModel, table=True):
    """One row: this database's sync epoch (a cursor from another database or a restored backup is
    unknown) and the oldest transaction id the change log still covers (older cursors get a full reset)."""

    __tablename__ = "sync_state"
    __table_args__ = (CheckConstraint("id = 1", name="sync_state_one_row"),)

    id: int = Field(default=1, primary_key=True)
    epoch: str = Field(max_length=32)
    floor_xid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class SyncConflict(SQLModel, table=True):
    """Offline work that met a dispatcher's decision, kept with both sides for a supervisor to resolve.

    One open conflict per (incident, crew, kind): later mutations of the same story join it.
    """

    __tablename__ = "sync_conflict"
    __table_args__ = (
        CheckConstraint(f"kind IN {CONFLICT_KINDS}", name="sync_conflict_kind_known"),
        CheckConstraint(f"resolution IS NULL OR resolution IN {RESOLUTIONS}", name="sync_conflict_resolution_known"),
        Index("ix_sync_conflict_open", "incident_id", "crew_id", "kind", unique=True,
              postgresql_where=text("resolved_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    kind: str = Field(max_length=30)
    # {"mutations": [{client_id, mutation_id, staff_id, name, args, client_time, base_rev}, …]}
    crew_side: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    # What the server held when the first of them arrived: status, crew, rev, the dispatcher's reason.
    server_side: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = _now_column()
    updated_at: datetime = _now_column()
    resolved_at: datetime | None = _now_column(nullable=True)
    resolved_by_id: int | None = Field(default=None, foreign_key="staff.id")
    resolution: str | None = Field(default=None, max_length=20)
    resolution_note: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})


class IncidentField(SQLModel, table=True):
    """The current winner of a single-value field set from the field (cause, ETR proposal) and its stamp.

    Last writer wins by (event time, client id); every write, winning or losing, is in incident_event.
    """

    __tablename__ = "incident_field"

    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incident.id"), primary_key=True))
    name: str = Field(sa_column=Column(String(30), primary_key=True))
    value: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    event_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    client_id: uuid.UUID
    mutation_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    updated_at: datetime = _now_column()


class CrewPing(SQLModel, table=True):
    """A crew phone's position fix, kept for audit; the newest one is also on the crew row."""

    __tablename__ = "crew_ping"

    id: uuid.UUID = Field(primary_key=True)
    crew_id: int = Field(foreign_key="crew.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    location: Any = Field(sa_column=point_column(nullable=False, index=False))
    accuracy_m: float | None = None
    client_time: datetime | None = _now_column(nullable=True)
    server_time: datetime = _now_column()
