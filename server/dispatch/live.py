"""The console's live feed: what its Server-Sent Events say (the loop is server/live_events.py).

Triggers (migration e12dispatch01) log every change to an incident or a crew in `live_event` and NOTIFY
`faultline_live` with "<event id> <topic> <row id>" at commit. Each stream says `changed` with that id; the
browser then fetches what it shows (queue, map, open incident) — data never travels here. A browser that
reconnects sends the last id it saw (Last-Event-ID) and is told at once if anything happened meanwhile.
Every dispatcher hears every change: who may open the feed at all is the route's guard.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator

from litestar.response import ServerSentEventMessage
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.listen import NotifyHub
from server.live_events import HEARTBEAT_SECONDS, STREAM_SECONDS, event_stream

CHANNEL = "faultline_live"
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


def live_stream(hub: LiveHub, missed: int | None, heartbeat: float = HEARTBEAT_SECONDS,
                lifetime: float = STREAM_SECONDS, last_seen: int | None = None
                ) -> AsyncIterator[ServerSentEventMessage]:
    """`last_seen`: the last event the browser had (Last-Event-ID or ?since=), when it said."""
    last = missed if missed is not None else last_seen

    def say(payload: str) -> ServerSentEventMessage:
        nonlocal last
        notice = parse_notice(payload)
        if last is not None and notice["event"] > last + 1:
            # The hub keeps only the newest notice (server/listen.py), and one may also have come between
            # the catch-up check and LISTEN: when ids were passed over, no single topic says it all.
            # (A rolled-back change leaves a gap too: then the page just fetches a little more.)
            notice = {"event": notice["event"], "topic": "all", "id": 0}
        last = notice["event"] if last is None else max(last, notice["event"])
        return changed(notice)

    opening = [ServerSentEventMessage(comment="connected", data=None, retry=RETRY_MS)]
    if missed is not None:  # catch up: one event makes the page fetch everything again
        opening.append(changed({"event": missed, "topic": "all", "id": 0}))
    return event_stream(hub, "all", opening, say, heartbeat, lifetime)
