"""Housekeeping: the tables that only ever grow are trimmed once an hour by the process that sends notifications
(`faultline serve` by default, else `faultline worker`), or by `faultline housekeeping` from cron.

What goes, and why losing it is harmless:
- `live_event` older than 2 days: a console away that long refreshes everything anyway (server/dispatch/live.py).
- `sync_change` older than FAULTLINE_SYNC_KEEP_DAYS: a phone whose cursor is older gets a full reset, which
  re-sends its jobs. The phone's queued work travels by push, never by pull, so none of it is lost.
- staff sign-ins that expired more than a day ago, and rate-limit windows older than a day.
Incidents, their events, notifications and the audit chain are records: never trimmed.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.dispatch.live import KEEP_EVENTS
from sync.changes import prune_change_log

log = logging.getLogger(__name__)

EVERY_SECONDS = 3600.0


def sync_keep(settings) -> timedelta:
    """FAULTLINE_SYNC_KEEP_DAYS as a span."""
    return timedelta(days=settings.server.sync_keep_days)


# Two processes may both run it; the second finds the lock taken and skips this round.
_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext('faultline housekeeping'))")
_STEPS = {
    "live_event": text("DELETE FROM live_event WHERE at < CAST(:now AS timestamptz) - CAST(:keep_events AS interval)"),
    "staff_session": text("DELETE FROM staff_session WHERE expires_at < CAST(:now AS timestamptz) - interval '1 day'"),
    "rate_hit": text("DELETE FROM rate_hit WHERE window_start < CAST(:now AS timestamptz) - interval '1 day'"),
    "sign_in_failure": text("DELETE FROM sign_in_failure WHERE at < CAST(:now AS timestamptz) - interval '90 days'"),
}


@dataclass(frozen=True)
class Tidied:
    skipped: bool                 # another process held the lock
    dropped: dict[str, int]       # table → rows deleted


async def tidy(engine: AsyncEngine, sync_keep: timedelta) -> Tidied:
    now = utcnow()
    async with AsyncSession(engine) as session:
        if not (await session.exec(_LOCK)).scalar_one():
            return Tidied(True, {})
        dropped = {table: (await session.exec(step, params={"keep_events": KEEP_EVENTS, "now": now})).rowcount
                   for table, step in _STEPS.items()}
        await session.commit()  # ends the lock's transaction too; the change log is pruned in its own
    async with AsyncSession(engine) as session:
        dropped["sync_change"] = await prune_change_log(session, sync_keep, now)
    return Tidied(False, dropped)


async def run_forever(engine: AsyncEngine, sync_keep: timedelta, every: float = EVERY_SECONDS) -> None:
    while True:
        try:
            done = await tidy(engine, sync_keep)
            if any(done.dropped.values()):
                log.info("housekeeping dropped %s", done.dropped)
        except asyncio.CancelledError:
            raise
        except Exception:  # a database hiccup waits for the next round
            log.exception("housekeeping failed; trying again next round")
        await asyncio.sleep(every)
