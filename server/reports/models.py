"""A customer's report that something is wrong with the supply."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, func
from sqlmodel import Field, SQLModel

from server.db import point_column, utcnow


class Report(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("category IN ('no_power','low_voltage','danger','damage')", name="report_category_known"),
        CheckConstraint("channel IN ('web','ussd','sms','agent','api')", name="report_channel_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=10)
    category: str = Field(max_length=20)
    phone: str | None = Field(default=None, max_length=20, index=True)  # E.164
    meter_no: str | None = Field(default=None, max_length=40)
    text: str = Field(default="", max_length=1000, sa_column_kwargs={"server_default": ""})
    language: str = Field(default="en", max_length=5, sa_column_kwargs={"server_default": "en"})
    location: Any = Field(sa_column=point_column())
    customer_id: int | None = Field(default=None, foreign_key="customer.id")
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    photo: str | None = Field(default=None, max_length=80)  # file name under the data folder's media/reports
    # "Is your power back?" after a restore: the answer, and the report filed anew when it was "no".
    power_back: bool | None = Field(default=None)
    follow_up_id: int | None = Field(default=None, foreign_key="report.id")
    # The customer's tracking link: unguessable, shows only this report.
    tracking_token: str = Field(unique=True, max_length=43)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                    server_default=func.now()))


class ApiClient(SQLModel, table=True):
    """A partner system or chatbot allowed to file reports through the JSON API, with its own key."""

    __tablename__ = "api_client"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=80)
    key_hash: str = Field(unique=True, max_length=64)  # SHA-256 of the key; the key itself is shown once
    active: bool = Field(default=True, sa_column_kwargs={"server_default": "true"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                          server_default=func.now()))


class RateHit(SQLModel, table=True):
    """Requests counted per key (phone, IP) per fixed window: shared by every app process."""

    __tablename__ = "rate_hit"

    key: str = Field(primary_key=True, max_length=80)
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    hits: int = Field(default=0)
