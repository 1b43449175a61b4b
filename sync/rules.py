"""Merge rules for offline crew work, as pure functions (table tests: tests/unit/test_sync_rules.py).

The rules of the job, not "last write wins" everywhere:

- status moves forward only, the furthest state wins; a dispatcher's cancel wins over every step before
  `restored`, and a restore wins over a cancel — but that one is raised for a supervisor
  (server/incidents/state.py holds the order);
- assignment is the dispatcher's: work a crew did offline on a job taken from it meanwhile is kept (notes,
  check-ins, photos, materials are stored; steps and fields go into the conflict) and raises a conflict;
  work on a job that was never the crew's is refused, and nothing of it is stored;
- notes, check-ins, photos and materials are append-only sets keyed by the phone's UUID;
- single-value fields (cause, ETR proposal) go to the last writer by (event time, client id, mutation id);
  the losing value stays in the incident's history;
- a phone's clock is believed within limits: an event cannot have happened after the server received it,
  and one claimed far in the past is pulled back to the limit; both are flagged.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.incidents import state

APPLIED, REJECTED, CONFLICT = "applied", "rejected", "conflict"


@dataclass(frozen=True)
class ClockRules:
    # A phone clock a few minutes fast is normal (no network time offline); more is a wrong clock.
    max_ahead: timedelta = timedelta(minutes=5)
    # Crews are offline for hours, sometimes a long weekend in the bush; older than this is a wrong clock.
    max_behind: timedelta = timedelta(days=3)


def clamp_client_time(client_time: datetime, server_now: datetime,
                      rules: ClockRules = ClockRules()) -> tuple[datetime, str | None]:
    """(the time to record, flag). Never later than the server's receipt; flagged when far off."""
    if client_time > server_now:
        return server_now, ("future" if client_time - server_now > rules.max_ahead else None)
    if server_now - client_time > rules.max_behind:
        return server_now - rules.max_behind, "past"
    return client_time, None


@dataclass(frozen=True, order=True)
class Stamp:
    """Who wrote a single-value field when: ordered by event time, then client id, then mutation id
    (two writes from one phone in the same millisecond: the later mutation wins)."""

    at: datetime
    client_id: str
    mutation_id: int = 0

    @classmethod
    def of(cls, at: datetime, client_id: uuid.UUID | str, mutation_id: int = 0) -> Stamp:
        return cls(at, str(client_id), mutation_id)


def geofence_reach(radius_m: float, accuracy_m: float | None) -> float:
    """How far from the fault a check-in still counts as on site: the operator's radius widened by the fix's own
    accuracy (a phone that says ±40 m is not caught out by 30 m), but by no more than the radius itself, so a
    vague fix (±5 km from a cell tower) cannot make every check-in "inside"."""
    return radius_m + min(accuracy_m or 0.0, radius_m)


def last_writer_wins(current: Stamp | None, proposed: Stamp) -> bool:
    """True when the proposed write replaces the current value (the current one then goes to history)."""
    return current is None or proposed > current


def earliest(recorded: datetime | None, claimed: datetime) -> datetime:
    """The time a status was first reached: two phones of one crew both saying "en route" keep the first."""
    return claimed if recorded is None or claimed < recorded else recorded


@dataclass(frozen=True)
class Decision:
    outcome: str                   # applied / conflict
    reason: str | None = None      # why, when it is not a plain "applied"
    status: str | None = None      # the incident's status afterwards, for steps
    apply: bool = True             # whether the incident's own fields may change (status, times, cause, ETR)


def assigned(job_crew_id: int | None, crew_id: int | None) -> bool:
    return crew_id is not None and job_crew_id == crew_id


def may_work_on(job_crew_id: int | None, crew_id: int | None, held_before: bool) -> bool:
    """Whether a crew's work on a job is taken at all: the job is theirs, or was theirs (`held_before`: the
    incident's history gave it to them once) and was taken from them, maybe while they were offline — that work
    is real, and the rules below keep it with a conflict. A job that was never theirs is no job of theirs."""
    return assigned(job_crew_id, crew_id) or (crew_id is not None and held_before)


def decide_step(status: str, job_crew_id: int | None, crew_id: int | None, proposed: str) -> Decision:
    """A crew step (en_route, on_site, restored) against the incident as the server has it."""
    if not assigned(job_crew_id, crew_id):
        return Decision(CONFLICT, "not_assigned", status, apply=False)
    after = state.furthest(status, proposed)
    if status == "cancelled":
        if after == "cancelled":
            return Decision(CONFLICT, "cancelled", status, apply=False)
        return Decision(CONFLICT, "restored_after_cancel", after)
    if state.rank(proposed) < state.rank(status):
        return Decision(APPLIED, "already_further", after)
    return Decision(APPLIED, None, after)


def decide_accept(status: str, job_crew_id: int | None, crew_id: int | None) -> Decision:
    """"I take this job": an acknowledgement, which only makes sense for a job that is still the crew's."""
    if not assigned(job_crew_id, crew_id):
        return Decision(CONFLICT, "not_assigned", status, apply=False)
    if status == "cancelled":
        return Decision(CONFLICT, "cancelled", status, apply=False)
    return Decision(APPLIED, None, status)


def decide_record(job_crew_id: int | None, crew_id: int | None) -> Decision:
    """A note, check-in, photo or material on a job the crew may work on (may_work_on): kept; a conflict when
    the job is no longer the crew's."""
    if not assigned(job_crew_id, crew_id):
        return Decision(CONFLICT, "not_assigned", apply=False)
    return Decision(APPLIED)


def decide_field(job_crew_id: int | None, crew_id: int | None, current: Stamp | None, proposed: Stamp) -> Decision:
    """A single-value field (cause, ETR proposal): last writer wins, the loser kept in history."""
    if not assigned(job_crew_id, crew_id):
        return Decision(CONFLICT, "not_assigned", apply=False)
    if last_writer_wins(current, proposed):
        return Decision(APPLIED)
    return Decision(APPLIED, "lost_to_later", apply=False)


# What a supervisor may do with each kind of conflict. Accepting a "not assigned" conflict applies the
# crew's steps and fields as if the job had been theirs (still forward only); a cancel that beat the crew
# can only be acknowledged (status never goes back), and a restore that beat a cancel is already applied.
RESOLUTIONS = {
    "not_assigned": ("accepted", "dismissed"),
    "cancelled": ("dismissed",),
    "restored_after_cancel": ("accepted",),
}
