"""One Server-Sent Events loop for every stream fed by PostgreSQL LISTEN: the console's live feed
(server/dispatch/live.py) and the crew phones' poke (sync/poke.py) are this loop with their own words.

The hub (server/listen.py) holds one LISTEN connection per process and channel and fans each NOTIFY out to the
streams listening for its key. This loop subscribes, says what the domain says on connecting, then what each
notice says, with a keep-alive when nothing happens; it ends after its lifetime (EventSource reconnects, and the
sign-in is checked again) or when the hub lost its connection (the browser reconnects, the next subscriber opens
a new one, and the domain's opening words make up for what was missed), and it always leaves the hub when the
browser goes away. A domain keeps only its channel, its key, its words and its retry delay.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable, Iterable

from litestar.response import ServerSentEventMessage

from server.listen import NotifyHub

HEARTBEAT_SECONDS = 25.0  # below the idle timeout of common proxies and carrier NATs
STREAM_SECONDS = 600.0  # then the stream ends and EventSource reconnects: the sign-in is checked again


async def event_stream(hub: NotifyHub, key: Hashable, opening: Iterable[ServerSentEventMessage],
                       say: Callable[[str], ServerSentEventMessage], heartbeat: float = HEARTBEAT_SECONDS,
                       lifetime: float = STREAM_SECONDS) -> AsyncIterator[ServerSentEventMessage]:
    """`opening`: sent once listening, so nothing that happens from then on is missed; `say(payload)`: what a
    notice for `key` tells the browser (the hub keeps only the newest one while the browser is slow)."""
    queue = await hub.subscribe(key)
    loop = asyncio.get_running_loop()
    try:
        for message in opening:
            yield message
        deadline = loop.time() + lifetime
        while (left := deadline - loop.time()) > 0:
            try:
                payload = await asyncio.wait_for(queue.get(), timeout=min(heartbeat, left))
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            if payload is None:  # the hub lost its connection
                return
            yield say(payload)
    finally:
        # Also when the browser went away: the server cancels the stream while it waits, and this runs then.
        hub.unsubscribe(key, queue)
