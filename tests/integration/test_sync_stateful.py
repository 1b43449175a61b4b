"""Hypothesis stateful test of sync against real PostGIS: several crew phones and a dispatcher, random offline
periods, batches duplicated, lost (request or response), delayed and reordered, wrong phone clocks.

After every step:
- each mutation took effect exactly once (one timeline event per mutation and kind), in per-client order;
- every mutation up to the client's last id is on record as applied, rejected or conflict (nothing lost),
  and a retried batch got the same answers;
- status never went backwards;
- the server equals a pure reference model (written here, independently of sync/rules.py) fed the same
  mutations and dispatcher actions in the order the server took them.
After everything is delivered and pulled, every phone's view equals the server's view for its crew.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.refusals import Refused
from server.db import make_engine, utcnow
from server.incidents import actions
from sync import changes, service
from sync.mutations import parse_batch
from tests.integration.test_sync_support import make_crew, make_incident, make_staff

ORDER = ["reported", "assigned", "en_route", "on_site", "cancelled", "restored", "closed"]
STEP_OF = {"en_route": "en_route", "arrived": "on_site", "restored": "restored"}
CAUSES = ["Blown fuse", "Tree on the line", "Broken jumper", "Vandalism"]
# Steps come up most, as on a real job; a few mutations are wrong on purpose.
KINDS = ["accept_job", "en_route", "en_route", "arrived", "arrived", "restored", "restored", "note", "photo",
         "materials", "propose_etr", "propose_etr", "position", "repeat_note", "bad_args", "unknown_incident",
         "unknown_name"]
MISSING = 2**31 - 1


def rank(status: str) -> int:
    return ORDER.index(status)


# ------------------------------------------------------------------ the reference model


@dataclass
class Job:
    id: int
    status: str = "reported"
    crew: int | None = None
    held_by: set = field(default_factory=set)  # every crew the job was ever given to
    cause: str | None = None
    cause_stamp: tuple | None = None
    etr_proposal: str | None = None
    etr_stamp: tuple | None = None
    etr: datetime | None = None
    times: dict = field(default_factory=dict)
    notes: set = field(default_factory=set)
    checkins: set = field(default_factory=set)
    photos: set = field(default_factory=set)
    materials: set = field(default_factory=set)


@dataclass
class Model:
    jobs: dict[int, Job]
    conflicts: set = field(default_factory=set)  # open (incident, crew, kind)
    positions: dict = field(default_factory=dict)  # crew -> time of the newest fix

    @staticmethod
    def clamp(at: datetime, now: datetime) -> datetime:
        if at > now:
            return now
        return max(at, now - timedelta(days=3))

    def _earliest(self, job: Job, status: str, at: datetime) -> None:
        job.times[status] = min(job.times.get(status, at), at)

    def crew_mutation(self, crew: int | None, client_id: str, mutation_id: int, name: str, args: dict,
                      at: datetime, now: datetime, expected_rejection: str | None) -> tuple[str, str | None]:
        """(outcome, reason) the server must answer; the model's state moves as the rules say."""
        if expected_rejection:
            return "rejected", expected_rejection
        at = self.clamp(at, now)
        if name == "position":
            if crew is None:
                return "rejected", "no_crew"
            if crew not in self.positions or at > self.positions[crew]:
                self.positions[crew] = at
            return "applied", None
        job = self.jobs.get(args["incident_id"])
        if job is None:
            return "rejected", "unknown_incident"
        if crew is None or crew not in job.held_by:
            return "rejected", "not_crews_job"  # never the crew's: nothing of it is kept
        mine = job.crew == crew
        result = ("applied", None)
        if name in ("note", "photo", "materials", "arrived"):
            kept = {"note": job.notes, "photo": job.photos, "materials": job.materials, "arrived": job.checkins}[name]
            kept.add(args.get("note_id") or args.get("photo_id") or args.get("material_id") or args["checkin_id"])
            if not mine:
                result = ("conflict", "not_assigned")
        if name == "accept_job":
            if not mine:
                result = ("conflict", "not_assigned")
            elif job.status == "cancelled":
                result = ("conflict", "cancelled")
        if name in STEP_OF:
            step = STEP_OF[name]
            if not mine:
                result = ("conflict", "not_assigned")
            else:
                after = max(job.status, step, key=rank)
                if job.status == "cancelled" and after == "cancelled":
                    result = ("conflict", "cancelled")
                else:
                    if job.status == "cancelled":
                        result = ("conflict", "restored_after_cancel")
                    job.status = after
                    self._earliest(job, step, at)
                    if name == "restored":
                        stamp = (at, client_id, mutation_id)
                        if job.cause_stamp is None or stamp > job.cause_stamp:
                            job.cause, job.cause_stamp = args["cause"], stamp
        if name == "propose_etr":
            if not mine:
                result = ("conflict", "not_assigned")
            else:
                stamp = (at, client_id, mutation_id)
                if job.etr_stamp is None or stamp > job.etr_stamp:
                    job.etr_proposal, job.etr_stamp = datetime.fromisoformat(args["etr"]).isoformat(), stamp
        if result[0] == "conflict":
            self.conflicts.add((job.id, crew, result[1]))
        return result

    def dispatcher(self, action: str, job_id: int, now: datetime, crew: int | None = None,
                   etr: datetime | None = None, note_id: str | None = None) -> bool:
        """True when the action is allowed (and applied), False when it must be refused."""
        job = self.jobs[job_id]
        before_restore = job.status in ("reported", "assigned", "en_route", "on_site")
        if action == "assign":
            if not before_restore:
                return False
            if job.crew != crew:
                job.crew = crew
                job.held_by.add(crew)
                job.status = max(job.status, "assigned", key=rank)
                job.times.setdefault("assigned", now)
            return True
        if action == "etr":
            if not before_restore:
                return False
            job.etr = etr
            return True
        if action == "note":
            job.notes.add(note_id)
            return True
        if action == "cancel":
            if not before_restore:
                return False
            job.status = "cancelled"
            job.times["cancelled"] = now
            return True
        if action == "close":
            if job.status != "restored":
                return False
            job.status = "closed"
            job.times["closed"] = now
            return True
        raise AssertionError(action)


# ------------------------------------------------------------------ the phones


@dataclass
class Phone:
    staff: SimpleNamespace
    client_id: str
    skew: timedelta
    next_id: int = 1
    outbox: list = field(default_factory=list)
    delayed: list = field(default_factory=list)  # batches held by the network, delivered later
    notes_sent: list = field(default_factory=list)
    view: dict = field(default_factory=dict)
    cursor: str | None = None
    last_mutation_id: int = 0


class SyncMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    engine = None

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    # -------------------------------------------------------------- set-up

    @initialize()
    def set_up(self):
        self.now = utcnow().replace(microsecond=0)
        self.session = AsyncSession(self.engine, expire_on_commit=False)
        self.run(self._set_up())

    async def _set_up(self):
        s = self.session
        crew_a, crew_b = await make_crew(s, "Model A"), await make_crew(s, "Model B")
        self.crews = [crew_a.id, crew_b.id]
        people = [await make_staff(s, "lineman", crew_a.id), await make_staff(s, "lineman", crew_a.id),
                  await make_staff(s, "lineman", crew_b.id)]
        desk = await make_staff(s, "dispatcher")
        self.desk = SimpleNamespace(id=desk.id, role="dispatcher", crew_id=None)
        skews = [timedelta(0), timedelta(minutes=-3), timedelta(minutes=2)]
        self.phones = [Phone(SimpleNamespace(id=p.id, role="lineman", crew_id=p.crew_id), str(uuid.uuid4()), skew)
                       for p, skew in zip(people, skews)]
        jobs = [await make_incident(s, offset=i, now=self.now) for i in range(3)]
        self.job_ids = [j.id for j in jobs]
        self.model = Model({j.id: Job(j.id, times={"reported": self.now}) for j in jobs})
        self.answers: dict[tuple[str, int], dict] = {}  # the first answer to each mutation
        self.highest_rank = {j: 0 for j in self.job_ids}
        # The morning's dispatch: two jobs for crew A (two phones), one for crew B.
        for job, crew in zip(self.job_ids, [crew_a.id, crew_a.id, crew_b.id]):
            self.model.dispatcher("assign", job, self.now, crew=crew)
            await actions.assign_crew(s, job, crew, self.desk, now=self.now)

    def teardown(self):
        if hasattr(self, "session"):
            try:
                if hasattr(self, "model"):
                    self.settle()
            finally:
                self.run(self.session.close())

    # -------------------------------------------------------------- phones act offline

    @rule(who=st.integers(0, 2), kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=4),
          which=st.integers(0, 2), cause=st.sampled_from(CAUSES), hours=st.integers(1, 6),
          clock=st.sampled_from(["ok"] * 6 + ["ahead", "behind"]))
    def act(self, who, kinds, which, cause, hours, clock):
        """A lineman works on one job offline: a few actions queue on the phone."""
        for kind in kinds:
            self._act(self.phones[who], kind, which, cause, hours, clock)

    def _act(self, phone, kind, which, cause, hours, clock):
        at = self.now + phone.skew + {"ok": timedelta(0), "ahead": timedelta(days=9),
                                      "behind": timedelta(days=-11)}[clock]
        job = self.job_ids[which]
        name, args, rejection = kind, {"incident_id": job}, None
        if kind in ("note", "repeat_note"):
            name = "note"
            if kind == "repeat_note" and phone.notes_sent:  # a reinstalled app sends a record again
                args = dict(phone.notes_sent[which % len(phone.notes_sent)])
            else:
                args |= {"note_id": str(uuid.uuid4()), "text": f"note {phone.next_id}"}
                phone.notes_sent.append(args)
        elif kind == "arrived":
            args |= {"checkin_id": str(uuid.uuid4()), "latitude": -1.0, "longitude": 37.6, "accuracy_m": 9}
        elif kind == "photo":
            args |= {"photo_id": str(uuid.uuid4()), "caption": "pole"}
        elif kind == "materials":
            args |= {"material_id": str(uuid.uuid4()), "item": "fuse", "quantity": "2", "unit": "pcs"}
        elif kind == "restored":
            args |= {"cause": cause}
        elif kind == "propose_etr":
            args |= {"etr": (self.now + timedelta(hours=hours)).isoformat()}
        elif kind == "position":
            args = {"ping_id": str(uuid.uuid4()), "latitude": -1.0 - which / 1000, "longitude": 37.6}
        elif kind == "bad_args":
            name, args, rejection = "note", {"incident_id": job, "note_id": "x", "text": ""}, "invalid_args"
        elif kind == "unknown_incident":
            name, args, rejection = "en_route", {"incident_id": MISSING}, "unknown_incident"
        elif kind == "unknown_name":
            name, rejection = "climb_pole", "unknown_mutation"
        phone.outbox.append({"id": phone.next_id, "name": name, "args": args, "client_time": at.isoformat(),
                             "base_rev": 1, "_rejection": rejection})
        phone.next_id += 1

    # -------------------------------------------------------------- the network

    def _push(self, phone: Phone, batch: list[dict]) -> dict[int, dict]:
        """Send a batch to the server; feed the model what the server applied; return the answers."""
        wire = [{k: v for k, v in m.items() if not k.startswith("_")} for m in batch]
        result = self.run(service.push(self.session, phone.staff, parse_batch({"client_id": phone.client_id,
                                                                              "mutations": wire}),
                                       now=self.now))
        answers = {}
        for sent, answer in zip(batch, result.answers):
            answers[answer.id] = answer.as_json()
            key = (phone.client_id, answer.id)
            if answer.status == "pending":
                assert key not in self.answers, "a mutation already applied is never pending again"
                continue
            if key in self.answers:
                assert answer.as_json() == self.answers[key], "a retried mutation gets the same answer"
                continue
            self.answers[key] = answer.as_json()
            outcome = self.model.crew_mutation(phone.staff.crew_id, phone.client_id, sent["id"], sent["name"],
                                               sent["args"], datetime.fromisoformat(sent["client_time"]), self.now,
                                               sent["_rejection"])
            got = (answer.status, answer.reason if answer.status != "applied" else None)
            event(f"{sent['name']}: {answer.status} {answer.reason or ''}")  # --hypothesis-show-statistics
            assert got == outcome, f"{sent['name']} {sent['args']}: server {got}, model {outcome}"
        return answers

    @staticmethod
    def _received(phone: Phone, answers: dict[int, dict]) -> None:
        """The phone heard the answers: final ones leave the outbox, pending ones stay for the next push."""
        phone.outbox = [m for m in phone.outbox if answers.get(m["id"], {}).get("status") in (None, "pending")]

    @rule(who=st.integers(0, 2), mode=st.sampled_from(["normal", "normal", "duplicate", "lose_request",
                                                        "lose_response", "delay", "reversed_halves"]))
    def deliver(self, who, mode):
        phone = self.phones[who]
        batch = list(phone.outbox)
        if mode == "lose_request" or not batch and mode != "normal":
            return
        if mode == "delay":
            phone.delayed.append(batch)
            return
        if mode == "reversed_halves" and len(batch) > 1:
            half = len(batch) // 2
            self._received(phone, self._push(phone, batch[half:]))
            self._received(phone, self._push(phone, batch[:half]))
            return
        answers = self._push(phone, batch)
        if mode == "duplicate":
            assert self._push(phone, batch) == answers
        if mode != "lose_response":
            self._received(phone, answers)

    @rule(who=st.integers(0, 2))
    def release_delayed(self, who):
        phone = self.phones[who]
        if phone.delayed:
            self._received(phone, self._push(phone, phone.delayed.pop(0)))

    @rule(who=st.integers(0, 2))
    def pull(self, who):
        phone = self.phones[who]
        result = self.run(changes.pull(self.session, phone.staff, phone.cursor, uuid.UUID(phone.client_id)))
        if result.reset:
            phone.view = {}
        for op in result.ops:
            if op["op"] == "put":
                phone.view[op["key"]] = op["value"]
            else:
                phone.view.pop(op["key"], None)
        # Mutations the server took while the phone did not hear the answer stay in the outbox: the next push
        # hears their answers from the record (sync/__init__.py), as the crew app does.
        phone.cursor, phone.last_mutation_id = result.cursor, result.last_mutation_id

    # -------------------------------------------------------------- the dispatcher and the clock

    @rule(action=st.sampled_from(["assign", "assign", "etr", "note", "cancel", "close"]),
          which=st.integers(0, 2), crew=st.integers(0, 1), hours=st.integers(1, 5))
    def dispatcher(self, action, which, crew, hours):
        job = self.job_ids[which]
        crew_id, etr, note_id = self.crews[crew], self.now + timedelta(hours=hours), str(uuid.uuid4())
        allowed = self.model.dispatcher(action, job, self.now, crew=crew_id, etr=etr, note_id=note_id)
        call = {"assign": lambda: actions.assign_crew(self.session, job, crew_id, self.desk, now=self.now),
                "etr": lambda: actions.set_etr(self.session, job, etr, self.desk, now=self.now),
                "note": lambda: actions.add_note(self.session, job, "from the desk", self.desk,
                                                 note_id=uuid.UUID(note_id), now=self.now),
                "cancel": lambda: actions.cancel_incident(self.session, job, "duplicate", self.desk, now=self.now),
                "close": lambda: actions.close_incident(self.session, job, self.desk, now=self.now)}[action]
        try:
            self.run(call())
            done = True
        except Refused:
            done = False
        assert done == allowed, f"dispatcher {action} on {job}: server {done}, model {allowed}"

    @rule(minutes=st.integers(1, 90))
    def tick(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule()
    def settle(self):
        """Signal everywhere: delayed batches arrive, every outbox empties, every phone pulls."""
        for phone in self.phones:
            while phone.delayed:
                self._received(phone, self._push(phone, phone.delayed.pop(0)))
        for phone in self.phones:
            for _ in range(3):
                if phone.outbox:
                    self._received(phone, self._push(phone, list(phone.outbox)))
            assert not phone.outbox, "everything sent in order is taken"
        for phone in self.phones:
            self.pull(self.phones.index(phone))
            self.pull(self.phones.index(phone))
            server = self.run(self._crew_view(phone.staff.crew_id))
            assert phone.view == server, "a phone's view equals the server's view for its crew"
            assert phone.last_mutation_id == phone.next_id - 1

    async def _crew_view(self, crew_id):
        view = await changes.crew_view(self.session, crew_id)
        await self.session.rollback()
        return view

    # -------------------------------------------------------------- invariants

    @invariant()
    def server_matches_the_model(self):
        if not hasattr(self, "model"):
            return
        rows, items, conflicts, positions = self.run(self._server_state())
        assert len(rows) == len(self.job_ids), rows
        for row in rows:
            job = self.model.jobs[row.id]
            assert rank(row.status) >= self.highest_rank[row.id], "status never goes backwards"
            self.highest_rank[row.id] = rank(row.status)
            server = {"status": row.status, "crew": row.crew_id, "cause": row.cause, "etr": row.etr,
                      "etr_proposal": row.etr_proposal,
                      "times": {s: getattr(row, f"{s}_at") for s in ORDER if getattr(row, f"{s}_at")}}
            model = {"status": job.status, "crew": job.crew, "cause": job.cause, "etr": job.etr,
                     "etr_proposal": job.etr_proposal, "times": job.times}
            assert server == model, f"incident {row.id}"
            for kind in ("notes", "checkins", "photos", "materials"):
                assert items[kind].get(row.id, set()) == getattr(job, kind), f"{kind} of {row.id}"
        assert conflicts == self.model.conflicts
        assert positions == {crew: at for crew, at in self.model.positions.items()}

    async def _server_state(self):
        s, ids = self.session, self.job_ids
        rows = list(await s.exec(text("""
            SELECT i.*, f.value #>> '{}' AS etr_proposal FROM incident i
            LEFT JOIN incident_field f ON f.incident_id = i.id AND f.name = 'etr_proposal'
            WHERE i.id = ANY(:ids)"""), params={"ids": ids}))
        items = {}
        for kind, table in (("notes", "note"), ("checkins", "checkin"), ("photos", "photo"),
                            ("materials", "material_use")):
            found: dict[int, set] = {}
            for row in await s.exec(text(f"SELECT incident_id, id FROM {table} WHERE incident_id = ANY(:ids)"),
                                    params={"ids": ids}):
                found.setdefault(row.incident_id, set()).add(str(row.id))
            items[kind] = found
        conflicts = {(r.incident_id, r.crew_id, r.kind) for r in await s.exec(text(
            "SELECT incident_id, crew_id, kind FROM sync_conflict WHERE incident_id = ANY(:ids) "
            "AND resolved_at IS NULL"), params={"ids": ids})}
        positions = {r.id: r.position_at for r in await s.exec(text(
            "SELECT id, position_at FROM crew WHERE id = ANY(:ids) AND position_at IS NOT NULL"),
            params={"ids": self.crews})}
        # Exactly once: one timeline event per mutation and kind; and in each client's order.
        events = list(await s.exec(text("""
            SELECT details->>'client_id' AS client_id, (details->>'mutation_id')::bigint AS mutation_id, kind
            FROM incident_event WHERE incident_id = ANY(:ids) AND details ? 'mutation_id' ORDER BY id"""),
            params={"ids": ids}))
        keys = [(e.client_id, e.mutation_id, e.kind) for e in events]
        assert len(keys) == len(set(keys)), "a mutation took effect twice"
        for phone in self.phones:
            mine = [e.mutation_id for e in events if e.client_id == phone.client_id]
            assert mine == sorted(mine), "a client's mutations took effect in its order"
        # Nothing lost: every id up to the client's last is on record with a final outcome.
        for phone in self.phones:
            record = list(await s.exec(text("""
                SELECT m.mutation_id, m.outcome, m.conflict_id, c.last_mutation_id
                FROM sync_client c JOIN sync_mutation m ON m.client_id = c.client_id
                WHERE c.client_id = :client_id ORDER BY m.mutation_id"""), params={"client_id": phone.client_id}))
            if record:
                assert [r.mutation_id for r in record] == list(range(1, record[0].last_mutation_id + 1))
                assert all(r.outcome != "conflict" or r.conflict_id for r in record)
        await s.rollback()
        return rows, items, conflicts, positions


def test_sync_against_a_reference_model(database_url):
    # The service is async; Hypothesis drives a plain class, so the machine runs its own event loop.
    loop = asyncio.new_event_loop()
    engine = make_engine(database_url, pool_size=2)
    SyncMachine.loop, SyncMachine.engine = loop, engine
    try:
        run_state_machine_as_test(SyncMachine, settings=settings(
            max_examples=40, stateful_step_count=50, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
