"""The incident state machine as pure rules: which status follows which, and which one wins a merge.

    reported → assigned → en_route → on_site → restored → closed,   plus cancelled before restored.

Every status has one place on a single line, and a merge keeps the furthest one ("furthest wins"):

    reported < assigned < en_route < on_site < cancelled < restored < closed

`cancelled` sits after `on_site` and before `restored` on purpose. A dispatcher's cancel (a duplicate, no
fault found) wins over any crew step before the restore, however late the crew's phone syncs. A restore is
a fact in the field — the power is back — so it wins over a cancel that crossed it; the sync service raises
that case for a supervisor. Nothing ever moves back down the line, so "status never goes backwards" is one
comparison, and merging two sides in any order gives the same answer.
"""
from __future__ import annotations

from server.incidents.models import STATUSES

ORDER = ("reported", "assigned", "en_route", "on_site", "cancelled", "restored", "closed")
RANK = {status: place for place, status in enumerate(ORDER)}
assert set(ORDER) == set(STATUSES), "every status of the incident table has a place in the order"

# The column holding the time each status was first reached.
TIME_COLUMN = {
    "reported": "reported_at", "assigned": "assigned_at", "en_route": "en_route_at", "on_site": "on_site_at",
    "restored": "restored_at", "closed": "closed_at", "cancelled": "cancelled_at",
}
# Steps a crew reports from the field (accepting a job keeps it `assigned`).
CREW_STEPS = ("en_route", "on_site", "restored")
# Still work to do: a dispatcher may reassign, set an ETR or cancel.
BEFORE_RESTORE = ("reported", "assigned", "en_route", "on_site")


def rank(status: str) -> int:
    try:
        return RANK[status]
    except KeyError:
        raise ValueError(f"unknown incident status {status!r}") from None


def furthest(current: str, proposed: str) -> str:
    """The status that wins when two sides disagree: the one further along the line."""
    return proposed if rank(proposed) > rank(current) else current


def is_forward(before: str, after: str) -> bool:
    """True when `after` does not move back from `before` (staying put counts as forward)."""
    return rank(after) >= rank(before)


def can_cancel(status: str) -> bool:
    return status in BEFORE_RESTORE


def can_assign(status: str) -> bool:
    """Assignment and reassignment are the dispatcher's, before the restore and unless cancelled."""
    return status in BEFORE_RESTORE


def can_close(status: str) -> bool:
    return status == "restored"


def is_open(status: str) -> bool:
    return status in BEFORE_RESTORE
