"""Rate limits kept in PostgreSQL, so every app process counts the same hits (fixed windows). Old windows are
swept by server/housekeeping.py."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.i18n import N_
from server.refusals import Refused

_HIT = text("""
    INSERT INTO rate_hit (key, window_start, hits) VALUES (:key, :window_start, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_hit.hits + 1
    RETURNING hits
""")


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


_COUNT = text("SELECT coalesce(sum(hits), 0) FROM rate_hit WHERE key = :key AND window_start = :window_start")


async def count(session: AsyncSession, key: str, window: timedelta, now: datetime | None = None) -> int:
    """Hits so far for `key` in the current window (nothing is counted)."""
    return (await session.exec(_COUNT, params={"key": key[:80], "window_start": window_start(now or utcnow(), window)})
            ).scalar_one()


async def hit(session: AsyncSession, key: str, limit: int, window: timedelta) -> bool:
    """Count one hit for `key`; True while the key is within its limit for the current window."""
    hits = (await session.exec(_HIT, params={"key": key[:80], "window_start": window_start(utcnow(), window)})
            ).scalar_one()
    await session.commit()
    return hits <= limit


async def enforce(session: AsyncSession, key: str, limit: int, window: timedelta) -> None:
    if not await hit(session, key, limit, window):
        raise Refused(N_("Too many reports from here in a short time. Please wait a little and try again; if it is "
                         "dangerous, call the emergency line."), 429)
