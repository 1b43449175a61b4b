"""Checking the incidents' hash chains (written by the database on insert, migration d10audit0001).

A chain catches an event edited or deleted in its middle. Deleting an incident's newest events, or
rewriting an edited event and every later hash, keeps a chain consistent — so each clean check also
writes an anchor (how many events up to which id, and a digest of all their hashes) to a file outside
the database, and the next check must still match the last anchor.

An anchor covers only events recorded more than SETTLE_SECONDS before the check: an event's id is taken when
it is inserted, not when its transaction commits, so a newer event may be visible while an older id is still
on its way. Anchoring it would make that older event look like an insertion behind the check's back.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.i18n import N_

SETTLE_SECONDS = 300  # far beyond any write transaction; a longer one would be the thing to look into

# What is wrong, by the problem's code: for the audit page (translated) and the command line.
PROBLEMS = {
    "missing": N_("an event before this one is missing"),
    "unlinked": N_("it is not linked to the event before it"),
    "altered": N_("its contents were changed"),
    "anchor": N_("The events up to #%(max_id)s no longer match the check of %(at)s: %(then)s events then, "
                 "%(now)s now (deleted or rewritten)."),
}

_FIRST_BROKEN_LINK = text("""
    WITH chained AS (
        SELECT e.id, e.incident_id, e.seq, e.prev_hash, e.hash,
               lag(e.hash) OVER w AS expected_prev,
               row_number() OVER w AS expected_seq,
               incident_event_digest(e.prev_hash, e) AS recomputed
        FROM incident_event e
        WINDOW w AS (PARTITION BY e.incident_id ORDER BY e.seq)
    )
    SELECT c.id, i.code, c.seq,
           CASE WHEN c.seq IS DISTINCT FROM c.expected_seq THEN 'missing'
                WHEN c.prev_hash IS DISTINCT FROM c.expected_prev THEN 'unlinked'
                ELSE 'altered' END AS problem
    FROM chained c JOIN incident i ON i.id = c.incident_id
    WHERE c.seq IS DISTINCT FROM c.expected_seq OR c.prev_hash IS DISTINCT FROM c.expected_prev
       OR c.hash IS DISTINCT FROM c.recomputed
    ORDER BY c.id
    LIMIT 1
""")

_UP_TO = text("""
    SELECT count(*) AS events, coalesce(max(id), 0) AS max_id,
           encode(sha256(coalesce(string_agg(hash, ''::bytea ORDER BY id), ''::bytea)), 'hex') AS digest
    FROM incident_event WHERE id <= :max_id
""")
_COUNT = text("SELECT count(*) FROM incident_event")
_SETTLED = text("""
    SELECT coalesce(max(id), 0) FROM incident_event
    WHERE server_time < CAST(:now AS timestamptz) - make_interval(secs => :settle)
""")


@dataclass(frozen=True)
class ChainCheck:
    events: int
    broken_event_id: int | None = None
    incident_code: str | None = None
    seq: int | None = None
    problem: str | None = None  # a key of PROBLEMS
    values: dict | None = None  # what the problem's text names

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def message(self) -> str | None:
        return None if self.problem is None else PROBLEMS[self.problem]

    def english(self) -> str:
        return self.message % (self.values or {}) if self.values else self.message


def _last_anchor(anchors: Path) -> dict | None:
    if not anchors.exists():
        return None
    lines = [line for line in anchors.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


async def verify_chain(session: AsyncSession, anchors: Path, settle_seconds: int = SETTLE_SECONDS) -> ChainCheck:
    """The first broken link, if any; on a clean chain, a new anchor is appended to `anchors`."""
    events = (await session.exec(_COUNT)).scalar_one()
    broken = (await session.exec(_FIRST_BROKEN_LINK)).first()
    if broken is not None:
        return ChainCheck(events, broken.id, broken.code, broken.seq, broken.problem)
    anchor = _last_anchor(anchors)
    if anchor is not None:
        then = (await session.exec(_UP_TO, params={"max_id": anchor["max_id"]})).one()
        if (then.events, then.digest) != (anchor["events"], anchor["digest"]):
            return ChainCheck(events, problem="anchor", values={
                "max_id": anchor["max_id"], "at": anchor["at"][:16].replace("T", " "), "then": anchor["events"],
                "now": then.events})
    settled = (await session.exec(_SETTLED, params={"settle": settle_seconds, "now": utcnow()})).scalar_one()
    now = (await session.exec(_UP_TO, params={"max_id": settled})).one()
    anchors.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(anchors, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as handle:
        handle.write(json.dumps({"at": utcnow().isoformat(), "max_id": now.max_id, "events": now.events,
                                 "digest": now.digest}) + "\n")
    return ChainCheck(events)


def anchors_path(data_dir: Path) -> Path:
    return data_dir / "audit-anchors.jsonl"
