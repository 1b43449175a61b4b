"""Poke: a tiny server-sent event stream that only says "pull now" when something for the crew changed.

Data never travels here (Replicache's rule): the phone pulls. The change-log trigger NOTIFYs the crew's id on
channel `faultline_sync`; PostgreSQL delivers it at commit, so a poke never arrives before the change can be
pulled. One LISTEN connection per app process serves every open stream; it opens with the first stream and
closes after the last (server/listen.py).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from litestar.response import ServerSentEventMessage

from server.listen import NotifyHub

CHANNEL = "faultline_sync"
HEARTBEAT_SECONDS = 25.0  # below the idle timeout of common proxies and carrier NATs
STREAM_SECONDS = 600.0  # then the stream ends and EventSource reconnects (the sign-in is checked again)
RETRY_MS = 10_000  # how long EventSource waits before reconnecting


class PokeHub(NotifyHub):
    """Pokes for one crew: the change-log trigger's payload is the crew's id."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, CHANNEL, int)


async def poke_stream(hub: PokeHub, crew_id: int, heartbeat: float = HEARTBEAT_SECONDS,
                      lifetime: float = STREAM_SECONDS) -> AsyncIterator[ServerSentEventMessage]:
    queue = await hub.subscribe(crew_id)
    loop = asyncio.get_running_loop()
    try:
        # On (re)connect: pull now, since pokes sent while disconnected were missed.
        yield ServerSentEventMessage(event="poke", data="{}", retry=RETRY_MS)
        deadline = loop.time() + lifetime
        while (left := deadline - loop.time()) > 0:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=min(heartbeat, left))
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            if item is None:
                return
            yield ServerSentEventMessage(event="poke", data="{}")
    finally:
        hub.unsubscribe(crew_id, queue)
