"""What people add to an incident in the field and at the desk: notes, GPS check-ins, photos, materials used.

Each is an append-only set keyed by a UUID the device generates when the person acts, so the same record
sent twice (a retried sync, a second phone) is stored once: union by id, never edited, never lost.
(Photo files travel separately and attach to their row by the same id: `photo_file`, sync/photos.py.)
"""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, ForeignKey, Integer, Numeric, func
from sqlmodel import Field, SQLModel

from server.db import point_column, utcnow

AUTHOR_ROLES = ("crew", "dispatcher", "supervisor")


def _incident() -> Any:
    return Field(sa_column=Column(Integer, ForeignKey("incident.id"), nullable=False, index=True))


def _client_time() -> Any:
    """When the person acted, by their device's clock (clamped if far off); None when they were at a desk."""
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


def _server_time() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                          server_default=func.now()))


class Note(SQLModel, table=True):
    __table_args__ = (CheckConstraint(f"author_role IN {AUTHOR_ROLES}", name="note_author_role_known"),)

    id: uuid.UUID = Field(primary_key=True)
    incident_id: int = _incident()
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    author_role: str = Field(max_length=12)
    text: str = Field(max_length=2000)
    client_time: datetime | None = _client_time()
    server_time: datetime = _server_time()


class Checkin(SQLModel, table=True):
    """A crew's GPS fix on arrival: where they were, how precise, how far from the incident."""

    id: uuid.UUID = Field(primary_key=True)
    incident_id: int = _incident()
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    location: Any = Field(sa_column=point_column(nullable=False, index=False))
    accuracy_m: float | None = None
    distance_m: float | None = None
    # Farther from the fault than the operator's geofence radius plus the fix's own accuracy. Judged once,
    # when the check-in is stored (the row never changes); NULL for check-ins from before the rule.
    outside_geofence: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    client_time: datetime | None = _client_time()
    server_time: datetime = _server_time()


class Photo(SQLModel, table=True):
    """A photo reference; the file itself is uploaded on its own under the same id."""

    id: uuid.UUID = Field(primary_key=True)
    incident_id: int = _incident()
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    caption: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    client_time: datetime | None = _client_time()
    server_time: datetime = _server_time()


class PhotoFile(SQLModel, table=True):
    """A crew photo's file, stored once by the photo's id (it may arrive before or after its `photo` row):
    who sent it, its size, and when and where it was taken by its EXIF (kept in the file; the rest is not)."""

    __tablename__ = "photo_file"

    id: uuid.UUID = Field(primary_key=True)
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    staff_id: int = Field(foreign_key="staff.id")
    bytes: int
    width: int
    height: int
    taken_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    latitude: float | None = None
    longitude: float | None = None
    received_at: datetime = _server_time()


class MaterialUse(SQLModel, table=True):
    __tablename__ = "material_use"
    __table_args__ = (CheckConstraint("quantity > 0", name="material_use_quantity_positive"),)

    id: uuid.UUID = Field(primary_key=True)
    incident_id: int = _incident()
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    crew_id: int | None = Field(default=None, foreign_key="crew.id")
    item: str = Field(max_length=120)
    quantity: Decimal = Field(sa_column=Column(Numeric(12, 3), nullable=False))
    unit: str = Field(max_length=20)
    client_time: datetime | None = _client_time()
    server_time: datetime = _server_time()
