"""Operator settings: what a utility's administrators tune without a redeploy (their page: server/admin); read
by intake, sync and the supervisor's rules, so it lives below all of them.

Each value is the override stored in `operator_settings` when there is one, else the deployment's default (an
environment variable where one exists — FAULTLINE_GROUP_RADIUS_M, FAULTLINE_GROUP_WINDOW_MINUTES,
FAULTLINE_SMS_SENDER — else a built-in default).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.settings import Settings

# Built-in defaults where no environment variable exists. SLA: a danger call (sparking, wire down) needs a crew
# on site within the hour and the supply safe within four; any other fault is restored within a day.
SLA_DANGER_ON_SITE_MINUTES = 60
SLA_DANGER_RESTORE_MINUTES = 4 * 60
SLA_RESTORE_MINUTES = 24 * 60
# "At risk" is the last quarter of a target: 15 min of the danger hour, 6 h of a day.
SLA_AT_RISK_PERCENT = 25
GEOFENCE_RADIUS_M = 150  # a crew's check-in counts when their phone is this close to the fault
SMS_SENDER = "Faultline"  # when FAULTLINE_SMS_SENDER is empty


class OperatorSettings(SQLModel, table=True):
    """Overrides of what operators tune; a NULL column means "use the default" (environment or built-in).

    One row (id = 1): the settings of the deployment, not of a user.
    """

    __tablename__ = "operator_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="operator_settings_one_row"),
        CheckConstraint("sla_danger_on_site_minutes > 0 AND sla_danger_restore_minutes > 0 "
                        "AND sla_restore_minutes > 0", name="operator_settings_sla_positive"),
        CheckConstraint("geofence_radius_m > 0 AND group_radius_m > 0 AND group_window_minutes > 0",
                        name="operator_settings_positive"),
        CheckConstraint("sla_at_risk_percent BETWEEN 1 AND 99", name="operator_settings_at_risk_share"),
    )

    id: int = Field(default=1, primary_key=True)
    sla_danger_on_site_minutes: int | None = Field(default=None)
    sla_danger_restore_minutes: int | None = Field(default=None)
    sla_restore_minutes: int | None = Field(default=None)
    sla_at_risk_percent: int | None = Field(default=None)
    geofence_radius_m: int | None = Field(default=None)
    group_radius_m: int | None = Field(default=None)
    group_window_minutes: int | None = Field(default=None)
    sms_sender: str | None = Field(default=None, max_length=15)
    updated_by_staff_id: int | None = Field(default=None, foreign_key="staff.id", ondelete="SET NULL")
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))



@dataclass(frozen=True)
class EffectiveSettings:
    sla_danger_on_site_minutes: int
    sla_danger_restore_minutes: int
    sla_restore_minutes: int
    sla_at_risk_percent: int
    geofence_radius_m: int
    group_radius_m: float
    group_window_minutes: int
    sms_sender: str
    overridden: frozenset[str] = frozenset()  # the names whose value comes from the database


OPERATOR_FIELDS = tuple(f.name for f in fields(EffectiveSettings) if f.name != "overridden")


def defaults(settings: Settings) -> EffectiveSettings:
    return EffectiveSettings(
        sla_danger_on_site_minutes=SLA_DANGER_ON_SITE_MINUTES,
        sla_danger_restore_minutes=SLA_DANGER_RESTORE_MINUTES,
        sla_restore_minutes=SLA_RESTORE_MINUTES,
        sla_at_risk_percent=SLA_AT_RISK_PERCENT,
        geofence_radius_m=GEOFENCE_RADIUS_M,
        group_radius_m=settings.intake.group_radius_m,
        group_window_minutes=settings.intake.group_window_minutes,
        sms_sender=settings.notify.sms_sender or SMS_SENDER,  # FAULTLINE_SMS_SENDER
    )


def combine(default: EffectiveSettings, stored: OperatorSettings | None) -> EffectiveSettings:
    """The stored override where there is one, else the default (pure: the table tests use it)."""
    values, overridden = {}, set()
    for name in OPERATOR_FIELDS:
        value = getattr(stored, name, None) if stored is not None else None
        if value is None:
            values[name] = getattr(default, name)
        else:
            values[name] = value
            overridden.add(name)
    return EffectiveSettings(**values, overridden=frozenset(overridden))


async def effective_settings(session: AsyncSession, settings: Settings) -> EffectiveSettings:
    return combine(defaults(settings), await session.get(OperatorSettings, 1))


async def save_overrides(session: AsyncSession, overrides: dict[str, object], staff_id: int | None) -> None:
    """Store what the administrator set; None for a field means "back to the default"."""
    row = await session.get(OperatorSettings, 1) or OperatorSettings(id=1)
    for name in OPERATOR_FIELDS:
        if name in overrides:
            setattr(row, name, overrides[name])
    row.updated_by_staff_id, row.updated_at = staff_id, utcnow()
    session.add(row)
    await session.commit()
