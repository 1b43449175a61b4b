"""The live event log behind the console's Server-Sent Events (written only by database triggers)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, func
from sqlmodel import Field, SQLModel


class LiveEvent(SQLModel, table=True):
    __tablename__ = "live_event"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    topic: str = Field(max_length=10)  # "incident" or "crew"
    ref_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
