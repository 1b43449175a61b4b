"""Administration tables: the operator settings a utility changes, crew skills, and the record of each import."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from server.db import utcnow

# The skills a dispatcher looks for when sending a crew; labels live in server.admin.rules.
SKILLS = ("hv_lines", "lv_network", "transformers", "underground_cable", "live_line", "vegetation", "meters")


class CrewSkill(SQLModel, table=True):
    __tablename__ = "crew_skill"
    __table_args__ = (CheckConstraint(f"skill IN {SKILLS}", name="crew_skill_known"),)

    crew_id: int = Field(sa_column=Column(Integer, ForeignKey("crew.id", ondelete="CASCADE"), primary_key=True))
    skill: str = Field(sa_column=Column(String(30), primary_key=True))


class ImportRun(SQLModel, table=True):
    """One import (or dry run) of a file: who, what, the counts and the validation report."""

    __tablename__ = "import_run"
    __table_args__ = (
        CheckConstraint("kind IN ('zones','feeders','transformers','customers')", name="import_run_kind_known"),
        CheckConstraint("status IN ('checked','applied','refused')", name="import_run_status_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    filename: str = Field(max_length=200)
    # A checked file kept in the data folder until it is applied, so the administrator need not upload it again.
    stored_as: str | None = Field(default=None, max_length=200)
    dry_run: bool
    status: str = Field(max_length=10)
    actor: str = Field(max_length=60)  # "staff:12" or "cli"
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problem_count: int = 0
    report: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False,
                                                                    server_default=func.now()))
    seconds: float = 0.0
