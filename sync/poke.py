"""Poke: a tiny server-sent event stream that only says "pull now" when something for the crew changed.

Data never travels here (Replicache's rule): the phone pulls. The change-log trigger NOTIFYs the crew's id on
channel `faultline_sync`; PostgreSQL delivers it at commit, so a poke never arrives before the change can be
pulled. A phone hears its own crew's pokes only. The loop, with its one LISTEN connection per process, is
server/live_events.py.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.response import ServerSentEventMessage

from server.listen import NotifyHub
from server.live_events import HEARTBEAT_SECONDS, STREAM_SECONDS, event_stream

CHANNEL = "faultline_sync"
RETRY_MS = 10_000  # how long EventSource waits before reconnecting


class PokeHub(NotifyHub):
    """Pokes for one crew: the change-log trigger's payload is the crew's id."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, CHANNEL, int)


def _poke(payload: str) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="poke", data="{}")


def poke_stream(hub: PokeHub, crew_id: int, heartbeat: float = HEARTBEAT_SECONDS,
                lifetime: float = STREAM_SECONDS) -> AsyncIterator[ServerSentEventMessage]:
    # On (re)connect: pull now, since pokes sent while disconnected were missed.
    opening = [ServerSentEventMessage(event="poke", data="{}", retry=RETRY_MS)]
    return event_stream(hub, crew_id, opening, _poke, heartbeat, lifetime)
