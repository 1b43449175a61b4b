"""Push: apply a crew phone's batch of mutations exactly once, in order, merged by the rules of the job.

Before anything is read, every value of every mutation was cleaned when the batch was parsed
(sync/mutations.py): a mutation holding what PostgreSQL cannot keep (a lone surrogate, NUL, a number that is not
finite or past a bigint), nested too deep or too large is answered `rejected` without being read further, and
its cleaned copy is what is stored, so no statement ever sees such a value and a retry gets the same answer.

One transaction per batch:

1. lock the client (an advisory lock, taken before the transaction writes anything — see sync/changes.py on
   why that keeps per-client order and transaction-id order the same), register it on first sight;
2. ids at or below the client's last one were applied before: answer them from `sync_mutation`, exactly as
   the first time (a retried batch gets the same answers back);
3. lock the batch's incidents in id order (no deadlock between two phones syncing the same jobs);
4. apply the next ids one by one, each in its own savepoint. A mutation wrong in itself (unknown name, bad
   arguments, no such job, a job that was never the crew's) is rolled back and answered `rejected`; one that meets a dispatcher's decision is
   kept as far as the rules allow (sync/rules.py) and answered `conflict`; either way it is used up, so one
   bad mutation never blocks the queue;
5. an id after a gap (an earlier batch has not arrived) is not applied and answered `pending`: the phone
   keeps it and sends it again behind the missing ones;
6. write the timeline events of the batch in one statement, bump `rev` once for each job touched (one row in
   the change log per job, not per mutation), record every answer and the client's new last id, commit.

Only a database that cannot go on fails the whole batch. A deadlock or a serialization failure is met by
running the batch again from scratch, up to three times with a short jittered pause (push_retrying); after that,
or on a lost connection, the phone gets a 503 and retries it, which is safe because nothing of it was committed.
"""
from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from pydantic import BaseModel, ValidationError
from sqlalchemy import insert, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.operator import effective_settings
from server.db import utcnow
from server.incidents import state
from server.incidents.actions import ETR_HORIZON, tell_customers
from server.incidents.models import Incident, IncidentEvent
from server.incidents.records import MaterialUse, Note, Photo
from server.settings import Settings, get_settings
from server.staff.models import Staff
from sync import mutations as m
from sync import messages, photos, rules
from sync.models import CrewPing, IncidentField, SyncClient, SyncConflict, SyncMutation

log = logging.getLogger("faultline.sync")

PENDING = "pending"  # not applied: an earlier id is missing; the phone keeps it and sends it again
UNABLE_TO_FIX = "unable_to_fix"  # incident.flag: the crew handed the job back, dispatch must reassign it
NOT_CREWS_JOB = "not_crews_job"  # rejected: the job was never the crew's (sync/rules.py may_work_on)


class MutationRejected(Exception):
    """The mutation breaks a rule on its own terms: answered `rejected` inside the push's 200 and used up. Not a
    refusal of the request (that is server.refusals.Refused): one mutation's answer among the batch's."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason, self.details = reason, details


@dataclass(frozen=True)
class Answer:
    id: int
    status: str
    reason: str | None = None
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"id": self.id, "status": self.status, "reason": self.reason, "details": self.details}


@dataclass
class Context:
    """One mutation being applied: who sent it, when (by their clock, clamped), and the batch's clock."""

    session: AsyncSession
    staff: Staff
    crew_id: int | None
    client_id: uuid.UUID
    sent: m.Sent
    now: datetime
    event_time: datetime
    clock_flag: str | None
    base_rev: int | None
    settings: Settings | None = None
    # The batch's locked incidents, held here: the session's identity map only keeps them weakly.
    incidents: dict[int, Incident] = field(default_factory=dict)
    # Timeline events of this mutation, written with the batch's once it has taken effect.
    events: list[dict] = field(default_factory=list)

    @property
    def actor(self) -> str:
        return f"staff:{self.staff.id}"

    def stamp(self) -> rules.Stamp:
        return rules.Stamp.of(self.event_time, self.client_id, self.sent.id)

    def trace(self) -> dict:
        """Where an event came from: the device, its mutation, and the raw clock when it was off."""
        found = {"via": "sync", "client_id": str(self.client_id), "mutation_id": self.sent.id,
                 "crew_id": self.crew_id, "base_rev": self.base_rev}
        if self.clock_flag:
            found |= {"clock": self.clock_flag, "client_time_sent": self.sent.client_time}
        return found

    def crew_side(self) -> dict:
        return {"client_id": str(self.client_id), "mutation_id": self.sent.id, "staff_id": self.staff.id,
                "crew_id": self.crew_id, "name": self.sent.name, "args": self.sent.args,
                "client_time": self.sent.client_time, "event_time": self.event_time.isoformat(),
                "base_rev": self.base_rev}


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str | None = None
    details: dict = field(default_factory=dict)
    conflict_id: int | None = None


# ---------------------------------------------------------------- writing helpers


def point(longitude: float, latitude: float) -> str:
    return f"SRID=4326;POINT({longitude} {latitude})"


# Whether the incident's history ever gave it to the crew (a dispatcher's assignment, or a reassignment away).
_HELD_BEFORE = text("""
    SELECT EXISTS (SELECT 1 FROM incident_event
                   WHERE incident_id = :incident_id AND kind IN ('assigned', 'reassigned')
                     AND (details->>'crew_id' = :crew_id OR details->>'previous_crew_id' = :crew_id))
""")


def _locked(ctx: Context, incident_id: int) -> Incident:
    incident = ctx.incidents.get(incident_id)
    if incident is None:
        raise MutationRejected("unknown_incident", incident_id=incident_id)
    return incident


async def _incident(ctx: Context, incident_id: int, **record: str) -> Incident:
    """The batch's locked incident, when the crew may work on it at all (rules.may_work_on); `record` names
    what a refusal leaves unstored."""
    incident = _locked(ctx, incident_id)
    if not rules.assigned(incident.crew_id, ctx.crew_id):  # the usual case costs no query
        held = ctx.crew_id is not None and (await ctx.session.exec(_HELD_BEFORE, params={
            "incident_id": incident.id, "crew_id": str(ctx.crew_id)})).scalar_one()
        if not rules.may_work_on(incident.crew_id, ctx.crew_id, held):
            raise MutationRejected(NOT_CREWS_JOB, incident_id=incident_id, **record)
    return incident


def _event(ctx: Context, incident: Incident, kind: str, details: dict, location: str | None = None) -> None:
    """Every change leaves its incident_event (actor, the phone's time, the server's time). The batch bumps
    the `rev` of every incident it touched once, which puts it in the change log for every crew concerned."""
    ctx.events.append({"incident_id": incident.id, "kind": kind, "actor": ctx.actor, "client_time": ctx.event_time,
                       "server_time": ctx.now, "location": location, "details": {**details, **ctx.trace()}})


def _server_side(incident: Incident) -> dict:
    return {"status": incident.status, "crew_id": incident.crew_id, "rev": incident.rev,
            "cancelled_at": incident.cancelled_at.isoformat() if incident.cancelled_at else None}


async def _conflict(ctx: Context, incident: Incident, kind: str) -> int:
    """Open a conflict for a supervisor, or add this mutation to the open one of the same story.

    The incident row is locked, so two phones cannot open the same conflict twice.
    """
    query = select(SyncConflict).where(SyncConflict.incident_id == incident.id, SyncConflict.kind == kind,
                                       col(SyncConflict.resolved_at).is_(None))
    query = query.where(col(SyncConflict.crew_id).is_(None) if ctx.crew_id is None
                        else SyncConflict.crew_id == ctx.crew_id)
    conflict = (await ctx.session.exec(query)).first()
    if conflict is None:
        conflict = SyncConflict(incident_id=incident.id, crew_id=ctx.crew_id, kind=kind,
                                crew_side={"mutations": [ctx.crew_side()]}, server_side=_server_side(incident),
                                created_at=ctx.now, updated_at=ctx.now)
    else:
        conflict.crew_side = {"mutations": [*conflict.crew_side.get("mutations", []), ctx.crew_side()]}
        conflict.updated_at = ctx.now
    ctx.session.add(conflict)
    await ctx.session.flush()
    return conflict.id


async def _finish(ctx: Context, incident: Incident, decision: rules.Decision, details: dict) -> Outcome:
    if decision.outcome == rules.CONFLICT:
        conflict_id = await _conflict(ctx, incident, decision.reason)
        return Outcome(rules.CONFLICT, decision.reason, details, conflict_id)
    return Outcome(rules.APPLIED, decision.reason, details)


def _move(incident: Incident, decision: rules.Decision, proposed: str, at: datetime) -> None:
    """Status forward only; the time of the proposed step is the earliest any phone of the crew claimed."""
    incident.status = decision.status
    column = state.TIME_COLUMN[proposed]
    setattr(incident, column, rules.earliest(getattr(incident, column), at))


async def _step(ctx: Context, incident: Incident, proposed: str, details: dict,
                location: str | None = None) -> Outcome:
    before = incident.status
    decision = rules.decide_step(before, incident.crew_id, ctx.crew_id, proposed)
    if decision.apply:
        _move(incident, decision, proposed, ctx.event_time)
        if incident.status != before and incident.status in ("en_route", "restored"):
            await tell_customers(ctx.session, incident, incident.status, ctx.settings, ctx.crew_id)
    details = {**details, "status": incident.status}
    _event(ctx, incident, proposed, {**details, "outcome": decision.outcome, "reason": decision.reason,
                                     "status_before": before}, location)
    return await _finish(ctx, incident, decision, details)


async def _set_field(ctx: Context, incident: Incident, name: str, value: Any) -> rules.Decision:
    """Last writer wins by (event time, client id, mutation id); every write stays in the timeline."""
    current = await ctx.session.get(IncidentField, (incident.id, name))
    stamp = ctx.stamp()
    current_stamp = None if current is None else rules.Stamp.of(current.event_time, current.client_id,
                                                                current.mutation_id)
    decision = rules.decide_field(incident.crew_id, ctx.crew_id, current_stamp, stamp)
    if decision.apply:
        if current is None:
            current = IncidentField(incident_id=incident.id, name=name, client_id=ctx.client_id,
                                    event_time=stamp.at)
        current.value, current.event_time, current.client_id = value, stamp.at, ctx.client_id
        current.mutation_id, current.staff_id, current.updated_at = stamp.mutation_id, ctx.staff.id, ctx.now
        ctx.session.add(current)
    _event(ctx, incident, f"{name}_set", {"field": name, "value": value, "won": decision.apply,
                                          "outcome": decision.outcome})
    return decision


async def _append(ctx: Context, incident: Incident, table: Any, row: dict) -> bool:
    """Insert a field record by its phone-made UUID; False when that UUID was already stored (union by id)."""
    statement = pg_insert(table).values(**row).on_conflict_do_nothing(index_elements=["id"]) \
        .returning(table.c.id)
    inserted = (await ctx.session.exec(statement)).first()
    if inserted is not None:
        return True
    owner = (await ctx.session.exec(select(table.c.incident_id).where(table.c.id == row["id"]))).first()
    if owner != row["incident_id"]:
        raise MutationRejected("id_taken", id=str(row["id"]))
    return False


def _record_row(ctx: Context, incident: Incident, record_id: uuid.UUID) -> dict:
    return {"id": record_id, "incident_id": incident.id, "staff_id": ctx.staff.id, "crew_id": ctx.crew_id,
            "client_time": ctx.event_time, "server_time": ctx.now}


async def _record(ctx: Context, incident: Incident, table: Any, row: dict, kind: str, details: dict) -> Outcome:
    new = await _append(ctx, incident, table, row)
    decision = rules.decide_record(incident.crew_id, ctx.crew_id)
    details = {**details, "new": new}
    _event(ctx, incident, kind, {**details, "outcome": decision.outcome})
    return await _finish(ctx, incident, decision, details)


# ---------------------------------------------------------------- the mutations


async def accept_job(ctx: Context, args: m.AcceptJob) -> Outcome:
    incident = await _incident(ctx, args.incident_id)
    decision = rules.decide_accept(incident.status, incident.crew_id, ctx.crew_id)
    _event(ctx, incident, "accepted", {"outcome": decision.outcome, "reason": decision.reason})
    return await _finish(ctx, incident, decision, {"status": incident.status})


async def en_route(ctx: Context, args: m.EnRoute) -> Outcome:
    return await _step(ctx, await _incident(ctx, args.incident_id), "en_route", {})


async def arrived(ctx: Context, args: m.Arrived) -> Outcome:
    """On site with a GPS fix: the check-in is kept whatever happens to the status.

    A fix farther from the fault than the geofence (rules.geofence_reach: the operator's radius, widened by
    the fix's own accuracy up to twice the radius) never blocks the check-in — a lineman may have parked down the road, or the fault is mapped badly — it
    is flagged for the dispatcher."""
    incident = await _incident(ctx, args.incident_id, checkin_id=str(args.checkin_id))
    where = point(args.longitude, args.latitude)
    radius = (await effective_settings(ctx.session, ctx.settings or get_settings())).geofence_radius_m
    inserted = (await ctx.session.exec(text("""
        INSERT INTO checkin (id, incident_id, staff_id, crew_id, location, accuracy_m, distance_m, outside_geofence,
                             client_time, server_time)
        SELECT :id, i.id, :staff_id, :crew_id, ST_GeogFromText(:point), :accuracy_m, d.metres,
               d.metres > :reach, :client_time, :server_time
        FROM incident i, LATERAL (SELECT ST_Distance(i.location, ST_GeogFromText(:point)) AS metres) d
        WHERE i.id = :incident_id
        ON CONFLICT (id) DO NOTHING
        RETURNING distance_m, outside_geofence
    """), params={"id": args.checkin_id, "staff_id": ctx.staff.id, "crew_id": ctx.crew_id, "point": where,
                  "accuracy_m": args.accuracy_m, "reach": rules.geofence_reach(radius, args.accuracy_m),
                  "client_time": ctx.event_time, "server_time": ctx.now, "incident_id": incident.id})).first()
    stored = inserted
    if inserted is None:
        stored = (await ctx.session.exec(text("SELECT incident_id, distance_m, outside_geofence FROM checkin "
                                              "WHERE id = :id"), params={"id": args.checkin_id})).first()
        if stored is None or stored[0] != incident.id:
            raise MutationRejected("id_taken", id=str(args.checkin_id))
        stored = stored[1:]
    details = {"checkin_id": str(args.checkin_id), "new": inserted is not None}
    if stored[0] is not None:
        details["distance_m"] = round(stored[0], 1)
    if stored[1] is not None:  # as judged when it was first stored
        details["outside_geofence"] = stored[1]
    if inserted is not None:
        details["geofence_m"] = radius
    return await _step(ctx, incident, "on_site", details, where)


async def add_note(ctx: Context, args: m.AddNote) -> Outcome:
    incident = await _incident(ctx, args.incident_id, note_id=str(args.note_id))
    row = _record_row(ctx, incident, args.note_id) | {"author_role": "crew", "text": args.text}
    return await _record(ctx, incident, Note.__table__, row, "note", {"note_id": str(args.note_id)})


async def add_photo(ctx: Context, args: m.AddPhoto) -> Outcome:
    incident = await _incident(ctx, args.incident_id, photo_id=str(args.photo_id))
    row = _record_row(ctx, incident, args.photo_id) | {"caption": args.caption}
    return await _record(ctx, incident, Photo.__table__, row, "photo", {"photo_id": str(args.photo_id)})


async def use_material(ctx: Context, args: m.UseMaterial) -> Outcome:
    incident = await _incident(ctx, args.incident_id, material_id=str(args.material_id))
    row = _record_row(ctx, incident, args.material_id) | {"item": args.item, "quantity": args.quantity,
                                                          "unit": args.unit}
    return await _record(ctx, incident, MaterialUse.__table__, row, "material",
                         {"material_id": str(args.material_id)})


async def restored(ctx: Context, args: m.Restored) -> Outcome:
    """Restored, with the cause: the step by the state rules, the cause by last writer wins."""
    incident = await _incident(ctx, args.incident_id)
    outcome = await _step(ctx, incident, "restored", {"cause": args.cause})
    if outcome.reason in ("not_assigned",):
        return outcome  # the cause is in the conflict and the timeline, not on a job that is not theirs
    won = await _set_field(ctx, incident, "cause", args.cause)
    if won.apply:
        incident.cause = args.cause
    return Outcome(outcome.status, outcome.reason, {**outcome.details, "cause_won": won.apply}, outcome.conflict_id)


async def propose_etr(ctx: Context, args: m.ProposeEtr) -> Outcome:
    """The crew's estimate, for the dispatcher to adopt: the customers' ETR stays the dispatcher's."""
    if abs(args.etr - ctx.now) > ETR_HORIZON:
        raise MutationRejected("etr_out_of_range", days=ETR_HORIZON.days)
    incident = await _incident(ctx, args.incident_id)
    value = args.etr.isoformat()
    decision = await _set_field(ctx, incident, "etr_proposal", value)
    return await _finish(ctx, incident, decision, {"etr_proposal": value, "won": decision.apply})


async def unable_to_fix(ctx: Context, args: m.UnableToFix) -> Outcome:
    """The crew cannot finish the job: flagged on the dispatcher's queue for reassignment. The status stays
    where it is (the work done so far is real); only the crew holding an open job can hand it back."""
    incident = _locked(ctx, args.incident_id)  # only the crew holding the job; no conflict to keep
    if not rules.assigned(incident.crew_id, ctx.crew_id):
        raise MutationRejected("not_your_job")
    if not state.is_open(incident.status):
        raise MutationRejected("job_not_open", status=incident.status)
    before, incident.flag = incident.flag, UNABLE_TO_FIX
    _event(ctx, incident, "unable_to_fix", {"reason": args.reason, "status": incident.status,
                                            "flag_before": before, "outcome": rules.APPLIED})
    return Outcome(rules.APPLIED, None, {"status": incident.status, "flag": incident.flag})


async def position(ctx: Context, args: m.Position) -> Outcome:
    """A position fix: kept for audit; the crew's own position moves only to a newer fix."""
    if ctx.crew_id is None:
        raise MutationRejected("no_crew")
    where = point(args.longitude, args.latitude)
    statement = pg_insert(CrewPing.__table__).values(
        id=args.ping_id, crew_id=ctx.crew_id, staff_id=ctx.staff.id, location=where, accuracy_m=args.accuracy_m,
        client_time=ctx.event_time, server_time=ctx.now).on_conflict_do_nothing(index_elements=["id"]) \
        .returning(CrewPing.__table__.c.id)
    new = (await ctx.session.exec(statement)).first() is not None
    moved = False
    if new:
        moved = (await ctx.session.exec(text("""
            UPDATE crew SET position = ST_GeogFromText(:point), position_at = :at
            WHERE id = :crew_id AND (position_at IS NULL OR position_at < :at)
            RETURNING id
        """), params={"point": where, "at": ctx.event_time, "crew_id": ctx.crew_id})).first() is not None
    return Outcome(rules.APPLIED, None, {"new": new, "moved": moved})


@dataclass(frozen=True)
class Mutation:
    schema: type[BaseModel]
    apply: Callable[[Context, Any], Awaitable[Outcome]]


# The registry: a name → its argument schema and the function that applies it.
REGISTRY: dict[str, Mutation] = {
    "accept_job": Mutation(m.AcceptJob, accept_job),
    "en_route": Mutation(m.EnRoute, en_route),
    "arrived": Mutation(m.Arrived, arrived),
    "note": Mutation(m.AddNote, add_note),
    "photo": Mutation(m.AddPhoto, add_photo),
    "materials": Mutation(m.UseMaterial, use_material),
    "restored": Mutation(m.Restored, restored),
    "propose_etr": Mutation(m.ProposeEtr, propose_etr),
    "position": Mutation(m.Position, position),
    "unable_to_fix": Mutation(m.UnableToFix, unable_to_fix),
}
assert REGISTRY.keys() == m.SCHEMAS.keys()


# ---------------------------------------------------------------- the batch


@dataclass(frozen=True)
class PushResult:
    client_id: uuid.UUID
    last_mutation_id: int
    answers: list[Answer]


async def _client(session: AsyncSession, client_id: uuid.UUID, staff: Staff, now: datetime) -> SyncClient:
    # Taken before anything is written, so it does not give the transaction an id yet (sync/changes.py).
    await session.exec(text("SELECT pg_advisory_xact_lock(5, hashtext(:client_id))"),
                       params={"client_id": str(client_id)})
    client = (await session.exec(select(SyncClient).where(SyncClient.client_id == client_id)
                                 .execution_options(populate_existing=True))).first()
    if client is None:
        client = SyncClient(client_id=client_id, staff_id=staff.id, created_at=now)
    elif client.staff_id != staff.id:
        raise m.push_refused(messages.DEVICE_TAKEN, 409)  # registered to another person
    client.last_push_at = now
    session.add(client)
    return client


async def _earlier_answers(session: AsyncSession, client_id: uuid.UUID, ids: list[int]) -> dict[int, Answer]:
    if not ids:
        return {}
    rows = await session.exec(select(SyncMutation.mutation_id, SyncMutation.outcome, SyncMutation.reason,
                                     SyncMutation.details)
                              .where(SyncMutation.client_id == client_id, col(SyncMutation.mutation_id).in_(ids)))
    return {row.mutation_id: Answer(row.mutation_id, row.outcome, row.reason, row.details) for row in rows}


def _incident_ids(sent: list[m.Sent]) -> list[int]:
    found = set()
    for item in sent:
        value = item.args.get("incident_id") if isinstance(item.args, dict) and item.refusal is None else None
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**31:
            found.add(value)
    return sorted(found)


async def _apply_one(session: AsyncSession, staff: Staff, client_id: uuid.UUID, sent: m.Sent, now: datetime,
                     clock: rules.ClockRules, settings: Settings | None,
                     incidents: dict[int, Incident]) -> tuple[Outcome, dict, list[dict]]:
    """(outcome, what to store beside it, its timeline events). Never raises for a rule; only a database
    that cannot go on does."""
    stored: dict = {"incident_id": None, "client_time": None, "event_time": None, "clock_flag": None,
                    "base_rev": None}
    if isinstance(sent.args, dict) and isinstance(sent.args.get("incident_id"), int):
        stored["incident_id"] = sent.args["incident_id"] if 1 <= sent.args["incident_id"] < 2**31 else None
    if sent.refusal is not None:  # held what PostgreSQL cannot keep, or too large: read no further
        return Outcome(rules.REJECTED, *sent.refusal), stored, []
    mutation = REGISTRY.get(sent.name)
    if mutation is None:
        return Outcome(rules.REJECTED, "unknown_mutation", {"name": sent.name[:m.MAX_NAME]}), stored, []
    if not isinstance(sent.args, dict):
        return Outcome(rules.REJECTED, "invalid_args", {"problems": [{"field": "args",
                                                                      "problem": m.OTHER_PROBLEM}]}), stored, []
    try:
        args = mutation.schema.model_validate(sent.args)
    except ValidationError as error:
        return Outcome(rules.REJECTED, "invalid_args", {"problems": m.field_problems(error)}), stored, []
    client_time = m.parse_client_time(sent.client_time)
    if client_time is None:
        return Outcome(rules.REJECTED, "invalid_time", {}), stored, []
    ok, base_rev = m.parse_base_rev(sent.base_rev)
    if not ok:
        return Outcome(rules.REJECTED, "invalid_base_rev", {}), stored, []
    event_time, flag = rules.clamp_client_time(client_time, now, clock)
    stored |= {"client_time": client_time, "event_time": event_time, "clock_flag": flag, "base_rev": base_rev}
    ctx = Context(session=session, staff=staff, crew_id=staff.crew_id, client_id=client_id, sent=sent, now=now,
                  event_time=event_time, clock_flag=flag, base_rev=base_rev, settings=settings, incidents=incidents)
    try:
        async with session.begin_nested():
            outcome = await mutation.apply(ctx, args)
    except sa_exc.DBAPIError as error:
        if not isinstance(error, (sa_exc.IntegrityError, sa_exc.DataError)):
            raise  # deadlock, lost connection…: the batch fails as a whole and the phone retries it
        # A value the database refuses: this mutation is wrong, not the database — use it up.
        log.warning("sync mutation %s/%s refused by the database: %s", client_id, sent.id, error.orig)
        outcome = await _rolled_back(session, incidents, stored["incident_id"], "invalid_value")
    except MutationRejected as rejected:
        outcome = await _rolled_back(session, incidents, stored["incident_id"], rejected.reason, rejected.details)
    except Exception:
        # A fault of ours must not block this phone's queue for ever: record it, use it up, say so.
        log.exception("sync mutation %s/%s (%s) failed", client_id, sent.id, sent.name)
        outcome = await _rolled_back(session, incidents, stored["incident_id"], "server_error")
    events = ctx.events if outcome.status != rules.REJECTED else []
    if flag:
        outcome = Outcome(outcome.status, outcome.reason, {**outcome.details, "clock": flag,
                                                           "recorded_time": event_time.isoformat()},
                          outcome.conflict_id)
    return outcome, stored, events


async def _rolled_back(session: AsyncSession, incidents: dict[int, Incident], incident_id: int | None, reason: str,
                       details: dict | None = None) -> Outcome:
    """The savepoint is gone; what it changed on the incident is stale in memory: read it again."""
    if incident_id in incidents:
        await session.refresh(incidents[incident_id])
    return Outcome(rules.REJECTED, reason, details or {})


async def push(session: AsyncSession, staff: Staff, batch: m.Batch, now: datetime | None = None,
               clock: rules.ClockRules = rules.ClockRules(), settings: Settings | None = None) -> PushResult:
    """Apply a batch (see the module docstring). Commits; raises Refused (the device is another person's), or a database error.

    With `settings`, customers are told (en route, restored) in the same transaction."""
    now = now or utcnow()
    client = await _client(session, batch.client_id, staff, now)
    last = client.last_mutation_id
    earlier = await _earlier_answers(session, batch.client_id, [s.id for s in batch.mutations if s.id <= last])
    due = []
    for sent in batch.mutations:
        if sent.id == last + len(due) + 1:
            due.append(sent)
    ids = _incident_ids(due)
    incidents: dict[int, Incident] = {}
    if ids:
        locked = await session.exec(select(Incident).where(col(Incident.id).in_(ids)).order_by(Incident.id)
                                    .with_for_update().execution_options(populate_existing=True))
        incidents = {incident.id: incident for incident in locked}
    applied: dict[int, Answer] = {}
    records, events, unclaimed = [], [], []
    for sent in due:
        outcome, stored, written = await _apply_one(session, staff, batch.client_id, sent, now, clock, settings,
                                                    incidents)
        if outcome.reason == NOT_CREWS_JOB and "photo_id" in outcome.details:
            unclaimed.append(uuid.UUID(outcome.details["photo_id"]))
        events += written
        applied[sent.id] = Answer(sent.id, outcome.status, outcome.reason, outcome.details)
        records.append({"client_id": batch.client_id, "mutation_id": sent.id, "staff_id": staff.id,
                        "crew_id": staff.crew_id, "name": sent.name[:m.MAX_NAME], "sent": sent.raw,
                        "outcome": outcome.status, "reason": outcome.reason, "details": outcome.details,
                        "conflict_id": outcome.conflict_id, "server_time": now, **stored})
    for incident_id in sorted({event["incident_id"] for event in events}):
        incidents[incident_id].rev += 1  # once per batch: one change-log row per job, not per mutation
        session.add(incidents[incident_id])
    if events:
        await session.exec(insert(IncidentEvent.__table__), params=events)
    if records:
        await session.exec(pg_insert(SyncMutation.__table__), params=records)
        client.last_mutation_id = due[-1].id
        session.add(client)
    # A photo's file may come before its mutation: when the mutation is refused, so is the file.
    refused_files = await photos.files_of_refused(session, staff, unclaimed) if unclaimed else []
    await session.commit()
    if refused_files and settings is not None:
        photos.remove_files(photos.photo_folder(settings.server.data_dir), refused_files)
    expected = client.last_mutation_id + 1
    answers = []
    for sent in batch.mutations:
        if sent.id in applied:
            answers.append(applied[sent.id])
        elif sent.id <= last:
            answers.append(earlier.get(sent.id) or Answer(sent.id, rules.APPLIED, "already_applied", {}))
        else:
            answers.append(Answer(sent.id, PENDING, "out_of_order", {"expected": expected}))
    return PushResult(batch.client_id, client.last_mutation_id, answers)


# A serialization failure or a deadlock says nothing about the batch: PostgreSQL gave up one of two transactions
# that met. Replicache's server (replicache-express, pg.ts) runs the push again a few times before it tells
# the phone to come back, so a phone on 2G does not send its batch again for a lock it never saw.
RETRIED_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
PUSH_RETRIES = 3
RETRY_PAUSE_S = 0.05  # the first pause, about; doubled after each try, jittered so two retries do not meet again


def retryable(error: BaseException) -> bool:
    return getattr(getattr(error, "orig", None), "sqlstate", None) in RETRIED_SQLSTATES


async def push_retrying(session: AsyncSession, staff: Staff, batch: m.Batch,
                        settings: Settings | None = None) -> PushResult:
    """push(), run again from scratch — the whole transaction rolled back first — when the database gave it up
    for a serialization failure or a deadlock, up to PUSH_RETRIES times; then the error is raised."""
    tries = 0
    while True:
        try:
            return await push(session, staff, batch, settings=settings)
        except sa_exc.DBAPIError as error:
            await session.rollback()
            if tries == PUSH_RETRIES or not retryable(error):
                raise
            pause = RETRY_PAUSE_S * 2**tries * random.uniform(0.5, 1.5)
            tries += 1
            log.info("sync push %s met %s; trying again in %.0f ms (%s of %s)", batch.client_id,
                     error.orig.sqlstate, pause * 1000, tries, PUSH_RETRIES)
            await anyio.sleep(pause)
