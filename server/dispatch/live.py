"""The console's live feed: Server-Sent Events fed by PostgreSQL LISTEN/NOTIFY.

Triggers (migration e12dispatch01) log every change to an incident or a crew in `live_event` and NOTIFY
`faultline_live` with "<event id> <topic> <row id>" at commit. Each stream says `changed` with that id; the
browser then fetches what it shows (queue, map, open incident) — data never travels here. A browser that
reconnects sends the last id it saw (Last-Event-ID) and is told at once if anything happened meanwhile.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from litestar.response import ServerSentEventMessage
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.listen import NotifyHub

CHANNEL = "faultline_live"
HEARTBEAT_SECONDS = 25.0  # below the idle timeout of common proxies
STREAM_SECONDS = 600.0  # then EventSource reconnects, and the sign-in is checked again
RETRY_MS = 2_000  # a dispatcher's screen must not stay stale for long
KEEP_EVENTS = "2 days"  # server/housekeeping.py drops older ones


def parse_notice(payload: str) -> dict:
    """ "42 incident 7" → {"event": 42, "topic": "incident", "id": 7}; ValueError when malformed."""
    event, topic, ref = payload.split(" ")
    if topic not in ("incident", "crew"):
        raise ValueError(topic)
    return {"event": int(event), "topic": topic, "id": int(ref)}


class LiveHub(NotifyHub):
    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, CHANNEL, lambda payload: parse_notice(payload) and "all")


async def missed_since(session: AsyncSession, last_seen: int | None) -> int | None:
    """The newest event id when something happened after `last_seen`, else None. Events older than KEEP_EVENTS
    are pruned by server/housekeeping.py: a browser away that long is told to refresh everything anyway."""
    if last_seen is None:
        return None
    newest = (await session.exec(text("SELECT max(id) FROM live_event"))).scalar_one()
    return newest if newest is not None and newest > last_seen else None


def changed(notice: dict) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="changed", id=str(notice["event"]),
                                  data=json.dumps({"topic": notice["topic"], "id": notice["id"]}))


async def live_stream(hub: LiveHub, missed: int | None, heartbeat: float = HEARTBEAT_SECONDS,
                      lifetime: float = STREAM_SECONDS, last_seen: int | None = None
                      ) -> AsyncIterator[ServerSentEventMessage]:
    """`last_seen`: the last event the browser had (Last-Event-ID or ?since=), when it said."""
    queue = await hub.subscribe("all")
    loop = asyncio.get_running_loop()
    last = missed if missed is not None else last_seen
    try:
        yield ServerSentEventMessage(comment="connected", data=None, retry=RETRY_MS)
        if missed is not None:  # catch up: one event makes the page fetch everything again
            yield changed({"event": missed, "topic": "all", "id": 0})
        deadline = loop.time() + lifetime
        while (left := deadline - loop.time()) > 0:
            try:
                payload = await asyncio.wait_for(queue.get(), timeout=min(heartbeat, left))
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            if payload is None:
                return
            notice = parse_notice(payload)
            if last is not None and notice["event"] > last + 1:
                # The hub keeps only the newest notice (server/listen.py), and one may also have come between
                # the catch-up check and LISTEN: when ids were passed over, no single topic says it all.
                # (A rolled-back change leaves a gap too: then the page just fetches a little more.)
                notice = {"event": notice["event"], "topic": "all", "id": 0}
            last = notice["event"] if last is None else max(last, notice["event"])
            yield changed(notice)
    finally:
        hub.unsubscribe("all", queue)
