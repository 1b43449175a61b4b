"""The one event-stream loop behind the console's live feed and the phones' poke (server/live_events.py), on a
channel of its own: one LISTEN connection fanned out, keep-alives, streams that leave, a lost connection."""
from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from litestar.response import ServerSentEventMessage

from server.listen import NotifyHub
from server.live_events import event_stream
from server.db_url import libpq_url

HELLO = ServerSentEventMessage(comment="hello", data=None, retry=1_000)


def _key(payload: str) -> str:
    """ "north cable down" is for the streams listening to "north"; a payload without a key is nobody's."""
    key, _ = payload.split(" ", 1)
    return key


def _say(payload: str) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="said", data=payload)


@pytest.fixture
def hub(database_url):
    return NotifyHub(libpq_url(database_url), f"faultline_test_{uuid.uuid4().hex[:8]}", _key)


def _stream(hub: NotifyHub, key: str, heartbeat: float = 5, lifetime: float = 60):
    return event_stream(hub, key, [HELLO], _say, heartbeat=heartbeat, lifetime=lifetime)


async def _notify(hub: NotifyHub, *payloads: str) -> None:
    async with await psycopg.AsyncConnection.connect(hub._dsn, autocommit=True) as conn:
        for payload in payloads:
            await conn.execute("SELECT pg_notify(%s, %s)", (hub._channel, payload))


async def _listeners(hub: NotifyHub, expected: int) -> list[int]:
    """The backends LISTENing on the hub's channel as PostgreSQL sees them, once there are `expected` of them
    (a connection closes a moment after its last stream) or after 2.5 s."""
    async with await psycopg.AsyncConnection.connect(hub._dsn, autocommit=True) as conn:
        for _ in range(50):
            rows = await (await conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
                (f"LISTEN {hub._channel}",))).fetchall()
            if len(rows) == expected:
                break
            await asyncio.sleep(0.05)
        return [pid for pid, in rows]


async def _next(stream, timeout: float = 5) -> ServerSentEventMessage:
    return await asyncio.wait_for(anext(stream), timeout)


async def test_one_listen_connection_fans_each_notice_out_to_every_stream_listening_for_its_key(hub):
    north, also_north, south = _stream(hub, "north"), _stream(hub, "north"), _stream(hub, "south")
    try:
        for stream in (north, also_north, south):
            assert (await _next(stream)).comment == "hello"  # the domain's opening words, once listening
        assert len(await _listeners(hub, 1)) == 1  # three streams, one connection
        await _notify(hub, "north cable down")
        for stream in (north, also_north):
            heard = await _next(stream)
            assert (heard.event, heard.data) == ("said", "north cable down")
        await _notify(hub, "nobody's", "south fuse blown")  # a payload without a key is skipped
        heard = await _next(south)
        assert heard.data == "south fuse blown"  # never the north's notice
    finally:
        for stream in (north, also_north, south):
            await stream.aclose()
    assert not hub.listening
    assert await _listeners(hub, 0) == []  # the last stream gone, so is the connection


async def test_a_slow_browser_hears_the_newest_notice_and_an_idle_one_keep_alives_until_the_stream_ends(hub):
    stream = _stream(hub, "north", heartbeat=0.3, lifetime=1.0)
    assert (await _next(stream)).comment == "hello"
    await _notify(hub, "north 1", "north 2", "north 3")
    await asyncio.sleep(0.2)  # all three arrive before the browser reads
    assert (await _next(stream)).data == "north 3"  # the newest says it all
    rest = [message async for message in stream]
    assert rest and all(message.comment == "keep-alive" for message in rest)  # and then the lifetime is over
    assert not hub.listening


async def test_a_stream_whose_browser_went_away_is_dropped_and_the_others_still_hear(hub):
    staying, leaving = _stream(hub, "north"), _stream(hub, "north")
    await _next(staying)
    await _next(leaving)
    waiting = asyncio.ensure_future(anext(leaving))
    await asyncio.sleep(0.05)
    waiting.cancel()  # what the server does to a stream whose browser disconnected while it waited
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert hub.listening  # one stream still listens
    await _notify(hub, "north still here")
    assert (await _next(staying)).data == "north still here"
    await staying.aclose()
    assert not hub.listening  # the one that left was no longer counted


async def test_a_lost_listen_connection_ends_every_stream_and_the_next_stream_listens_again(hub):
    north, south = _stream(hub, "north"), _stream(hub, "south")
    await _next(north)
    await _next(south)
    lost, = await _listeners(hub, 1)
    waiting = [asyncio.ensure_future(anext(stream)) for stream in (north, south)]
    async with await psycopg.AsyncConnection.connect(hub._dsn, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (lost,))  # a restart, a failover, a cut cable
    for ended in waiting:  # each browser reconnects, and its opening words make up for what it missed
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(ended, 5)
    assert not hub.listening
    again = _stream(hub, "north")
    try:
        assert (await _next(again)).comment == "hello"
        listening = await _listeners(hub, 1)
        assert len(listening) == 1 and listening != [lost]  # a new connection
        await _notify(hub, "north back")
        assert (await _next(again)).data == "north back"
    finally:
        await again.aclose()
    assert not hub.listening
