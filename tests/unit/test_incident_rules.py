"""Which incident a report joins, and its priority: table-driven, no database."""
from datetime import UTC, datetime, timedelta

import pytest

from server.incidents.rules import (GroupingRules, OpenIncident, incident_to_join, priority_for, raised_category,
                                    raised_priority)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RULES = GroupingRules(radius_m=300, window=timedelta(hours=3))


def open_incident(id, category="no_power", transformer=None, distance=0.0, age_minutes=10, priority="normal"):
    return OpenIncident(id, category, transformer, priority, distance, NOW - timedelta(minutes=age_minutes))


CASES = [
    # (description, report category, report transformer, open incidents, expected incident id)
    ("same transformer joins", "no_power", 10, [open_incident(1, transformer=10, distance=900)], 1),
    ("same transformer, old incident still joins", "no_power", 10,
     [open_incident(1, transformer=10, age_minutes=60 * 24)], 1),
    ("wire down on a dead transformer is the same fault", "danger", 10, [open_incident(1, transformer=10)], 1),
    ("no power where voltage was low: the fault got worse", "no_power", 20,
     [open_incident(2, "low_voltage", transformer=20)], 2),
    ("sparking is not a low-voltage job", "danger", 20, [open_incident(2, "low_voltage", transformer=20)], None),
    ("another known transformer nearby is another fault", "no_power", 30,
     [open_incident(1, transformer=10, distance=50)], None),
    ("no transformer: joins the nearest recent incident", "no_power", None,
     [open_incident(1, transformer=10, distance=250), open_incident(2, transformer=11, distance=120)], 2),
    ("no transformer: too far is a new incident", "no_power", None, [open_incident(1, transformer=10, distance=301)],
     None),
    ("no transformer: too old is a new incident", "no_power", None,
     [open_incident(1, transformer=10, distance=100, age_minutes=181)], None),
    ("known transformer joins a nearby incident that has none", "no_power", 10,
     [open_incident(3, transformer=None, distance=200)], 3),
    ("the oldest incident on the transformer wins", "no_power", 10,
     [open_incident(7, transformer=10), open_incident(4, transformer=10)], 4),
    ("same transformer beats a closer transformer-less incident", "damage", 10,
     [open_incident(5, transformer=None, distance=10), open_incident(6, "damage", transformer=10, distance=280)], 6),
    ("nothing open: a new incident", "no_power", 10, [], None),
]


@pytest.mark.parametrize("description, category, transformer, incidents, expected", CASES,
                         ids=[case[0] for case in CASES])
def test_a_report_joins_the_right_incident(description, category, transformer, incidents, expected):
    joined = incident_to_join(category, transformer, incidents, NOW, RULES)
    assert (joined.id if joined else None) == expected


@pytest.mark.parametrize("category, priority", [("danger", "high"), ("no_power", "normal"),
                                                ("low_voltage", "normal"), ("damage", "normal")])
def test_danger_is_high_priority(category, priority):
    assert priority_for(category) == priority


def test_priority_only_ever_rises():
    assert raised_priority("high", "no_power") == "high"
    assert raised_priority("normal", "danger") == "high"
    assert raised_priority("normal", "no_power") == "normal"


@pytest.mark.parametrize("current, reported, category", [
    ("no_power", "danger", "danger"), ("damage", "danger", "danger"), ("danger", "no_power", "danger"),
    ("no_power", "damage", "no_power"), ("no_power", "low_voltage", "no_power"), ("danger", "danger", "danger"),
])
def test_danger_makes_a_danger_incident(current, reported, category):
    assert raised_category(current, reported) == category

