"""The utility's network and customers: zones, feeders, transformers, customers, and the city's roads."""
from __future__ import annotations

from typing import Any

from sqlmodel import Field, SQLModel

from server.db import geometry_column, point_column


class Zone(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    responsible_staff_id: int | None = Field(default=None, foreign_key="staff.id", ondelete="SET NULL")
    area: Any = Field(sa_column=geometry_column("MULTIPOLYGON"))


class Feeder(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    name: str = Field(max_length=120)
    zone_id: int | None = Field(default=None, foreign_key="zone.id", index=True)
    route: Any = Field(sa_column=geometry_column("LINESTRING"))


class Transformer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    feeder_id: int | None = Field(default=None, foreign_key="feeder.id", index=True)
    location: Any = Field(sa_column=point_column(nullable=False))


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    meter_no: str = Field(unique=True, max_length=40)
    name: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    phone: str | None = Field(default=None, max_length=20, index=True)  # E.164
    language: str = Field(default="en", max_length=5, sa_column_kwargs={"server_default": "en"})
    transformer_id: int | None = Field(default=None, foreign_key="transformer.id", index=True)
    location: Any = Field(sa_column=point_column())


class Road(SQLModel, table=True):
    """Streets of the service area: the base map when there is no internet."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    kind: str = Field(default="street", max_length=20, sa_column_kwargs={"server_default": "street"})  # arterial | street
    route: Any = Field(sa_column=geometry_column("LINESTRING"))
