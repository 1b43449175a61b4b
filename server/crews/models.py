"""Line crews: who goes out to repair faults."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, func, text
from sqlmodel import Field, SQLModel

from server.db import point_column, utcnow
from server.i18n import N_

CREW_STATUSES = ("off_shift", "available", "assigned", "en_route", "on_site")
CREW_STATUS_LABELS = {
    "off_shift": N_("Off shift"),
    "available": N_("Available"),
    "assigned": N_("Has a job"),
    "en_route": N_("On the way"),
    "on_site": N_("On site"),
}


class Crew(SQLModel, table=True):
    __table_args__ = (CheckConstraint(f"status IN {CREW_STATUSES}", name="crew_status_known"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=20)
    name: str = Field(max_length=120)
    # use_alter: zone -> staff -> crew -> zone is a cycle; this key is added after the tables.
    home_zone_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("zone.id", use_alter=True, name="crew_home_zone_id_fkey")))
    status: str = Field(default="off_shift", max_length=20, sa_column_kwargs={"server_default": "off_shift"})
    position: Any = Field(sa_column=point_column())
    position_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class CrewShift(SQLModel, table=True):
    """A crew's working time. On shift and idle is "available"; the database keeps crew.status in step."""

    __tablename__ = "crew_shift"
    __table_args__ = (
        # A crew is on at most one shift at a time.
        Index("ix_crew_shift_open", "crew_id", unique=True, postgresql_where=text("ended_at IS NULL")),
        Index("ix_crew_shift_crew_id_started_at", "crew_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    crew_id: int = Field(foreign_key="crew.id")
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                         server_default=func.now()))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    started_by: str = Field(max_length=60)  # "staff:12"
    ended_by: str | None = Field(default=None, max_length=60)

