"""Incident rules as pure functions: which incident a new report joins, and its priority.

Grouping, in the order a utility's control room would apply it:
1. the open incident on the report's own transformer, if its category is compatible;
2. otherwise — only where one side has no known transformer — the nearest open compatible incident
   within the radius, reported within the time window. Two different known transformers are two
   faults: merging them would hide the second one (dispatchers can still merge duplicates by hand).
Danger (sparking, wire down) joins like any other report but always lifts the incident to high priority and
makes it a danger incident, so the queue, the map and the crew's phone all show it as one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from server.i18n import N_
from server.labels import Category

# A danger report must never wait behind ordinary faults.
HIGH_PRIORITY_CATEGORIES = {Category.danger}
# Categories that describe the same kind of fault can share an incident.
COMPATIBLE = {
    Category.no_power: {Category.no_power, Category.low_voltage, Category.damage, Category.danger},
    Category.low_voltage: {Category.no_power, Category.low_voltage},
    Category.damage: {Category.no_power, Category.damage, Category.danger},
    Category.danger: {Category.no_power, Category.damage, Category.danger},
}


@dataclass(frozen=True)
class GroupingRules:
    radius_m: float = 300.0
    window: timedelta = timedelta(hours=3)


@dataclass(frozen=True)
class OpenIncident:
    id: int
    category: str
    transformer_id: int | None
    priority: str
    distance_m: float = 0.0
    reported_at: datetime | None = None


def priority_for(category: str) -> str:
    return "high" if category in HIGH_PRIORITY_CATEGORIES else "normal"


def raised_priority(current: str, category: str) -> str:
    return "high" if current == "high" or priority_for(category) == "high" else "normal"


def raised_category(current: str, reported: str) -> str:
    """An incident's category once another report (or a merged duplicate) says `reported`: danger wins."""
    return Category.danger.value if Category.danger in (current, reported) else current


def incident_to_join(category: str, transformer_id: int | None, candidates: list[OpenIncident],
                     now: datetime, rules: GroupingRules = GroupingRules()) -> OpenIncident | None:
    """The open incident a new report belongs to, or None for a new incident."""
    compatible = [c for c in candidates if c.category in COMPATIBLE[Category(category)]]
    if transformer_id is not None:
        same = [c for c in compatible if c.transformer_id == transformer_id]
        if same:
            return min(same, key=lambda c: c.id)  # the oldest: later duplicates are merged into it by hand
    nearby = [
        c for c in compatible
        if (transformer_id is None or c.transformer_id is None)
        and c.distance_m <= rules.radius_m
        and (c.reported_at is None or now - c.reported_at <= rules.window)
    ]
    return min(nearby, key=lambda c: (c.distance_m, c.id)) if nearby else None



# What each status means to a customer: the same words on the web, in SMS, USSD and the API.
TIMELINE = (
    ("reported", "reported_at", N_("Reported")),
    ("assigned", "assigned_at", N_("Crew assigned")),
    ("en_route", "en_route_at", N_("Crew on the way")),
    ("on_site", "on_site_at", N_("Crew at the site")),
    ("restored", "restored_at", N_("Power restored")),
)


def timeline_steps(incident) -> list[tuple[str, str, datetime | None]]:
    """(status, label, when) for each step a customer follows; `when` is None until it happens."""
    return [(status, label, getattr(incident, column)) for status, column, label in TIMELINE]
