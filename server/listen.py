"""One PostgreSQL LISTEN connection per app process, fanned out to the open event streams.

PostgreSQL delivers a NOTIFY at commit, to every process listening: so a stream never announces a change
before it can be read, and it works with several server processes. The connection opens with the first
subscriber and closes after the last, so an idle server holds no extra connection.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable

import psycopg

log = logging.getLogger("faultline.listen")


class NotifyHub:
    """Subscribers listen for one key (`key_of(payload)`); each gets the latest payload, coalesced."""

    def __init__(self, dsn: str, channel: str, key_of: Callable[[str], Hashable]) -> None:
        self._dsn, self._channel, self._key_of = dsn, channel, key_of
        self._subscribers: dict[Hashable, set[asyncio.Queue]] = {}
        self._listener: asyncio.Task | None = None
        self._connection: psycopg.AsyncConnection | None = None
        self._starting = asyncio.Lock()

    async def subscribe(self, key: Hashable) -> asyncio.Queue:
        """A queue holding the newest payload for the key (one at a time), or None when the hub stops."""
        async with self._starting:
            if self._listener is None:
                connection = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
                await connection.execute(f"LISTEN {self._channel}")
                self._connection = connection
                self._listener = asyncio.get_running_loop().create_task(self._listen(connection))
            queue: asyncio.Queue = asyncio.Queue(maxsize=1)
            self._subscribers.setdefault(key, set()).add(queue)
            return queue

    def unsubscribe(self, key: Hashable, queue: asyncio.Queue) -> None:
        # Synchronous: it runs while a closing stream is being cancelled, where an await would not return.
        queues = self._subscribers.get(key)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[key]
        if not self._subscribers and self._listener is not None:
            self._listener.cancel()
            self._listener = None
            connection, self._connection = self._connection, None
            if connection is not None:
                asyncio.get_running_loop().create_task(connection.close())

    @property
    def listening(self) -> bool:
        return self._listener is not None

    async def _listen(self, connection: psycopg.AsyncConnection) -> None:
        try:
            async for notice in connection.notifies():
                try:
                    key = self._key_of(notice.payload)
                except ValueError:
                    continue
                for queue in list(self._subscribers.get(key, ())):
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()  # the newest payload says it all
                    queue.put_nowait(notice.payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Lost the connection: end every stream; each browser reconnects and catches up on arrival.
            log.exception("the %s listener stopped", self._channel)
            for queues in list(self._subscribers.values()):
                for queue in queues:
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                    queue.put_nowait(None)
            self._subscribers.clear()
            self._listener, self._connection = None, None
            with contextlib.suppress(Exception):
                await connection.close()
