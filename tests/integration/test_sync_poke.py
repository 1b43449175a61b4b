"""Poke: an event stream that says "pull now" when something for the crew changed, and nothing else."""
from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient

from server.incidents import actions
from server.db_url import libpq_url
from sync.poke import PokeHub, poke_stream
from tests.conftest import sign_in
from tests.integration.test_sync_support import PASSWORD, make_crew, make_incident, make_staff


class Stream:
    """Drives the app over ASGI like a browser's EventSource: the test client would wait for the end."""

    def __init__(self, app, cookie: str) -> None:
        self.app, self.cookie = app, cookie
        self.received, self.closed = asyncio.Queue(), asyncio.Event()
        self.status = None
        self.buffer = ""

    async def _receive(self):
        if not hasattr(self, "_asked"):
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.closed.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            await self.received.put(message.get("body", b"").decode())

    def open(self):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/sync/poke", "raw_path": b"/sync/poke", "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
                 "headers": [(b"host", b"testserver"), (b"accept", b"text/event-stream"),
                             (b"cookie", f"fl_session={self.cookie}".encode())]}
        self.task = asyncio.create_task(self.app(scope, self._receive, self._send))
        return self

    async def next_event(self, timeout: float) -> str | None:
        """The next whole event (up to a blank line), or None when none comes in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "\r\n\r\n" not in self.buffer:
            try:
                self.buffer += await asyncio.wait_for(self.received.get(), deadline - loop.time())
            except (TimeoutError, ValueError):
                return None
        event, self.buffer = self.buffer.split("\r\n\r\n", 1)
        return event

    async def close(self):
        self.closed.set()
        await asyncio.wait_for(self.task, 5)


async def _signed_in_cookie(app, username: str) -> str:
    async with AsyncTestClient(app=app) as http:
        assert (await sign_in(http, username, PASSWORD)).status_code == 303
        return http.cookies["fl_session"]


async def test_a_change_for_the_crew_pokes_its_phones_and_only_theirs(app, session):
    crew, other = await make_crew(session, "Poke crew"), await make_crew(session, "Other crew")
    lineman, desk = await make_staff(session, "lineman", crew.id), await make_staff(session, "dispatcher")
    job, elsewhere = await make_incident(session), await make_incident(session, offset=1)
    await actions.assign_crew(session, elsewhere.id, other.id, desk)
    stream = Stream(app, await _signed_in_cookie(app, lineman.username)).open()
    try:
        hello = await stream.next_event(5)
        assert stream.status == 200 and "event: poke" in hello and "retry: 10000" in hello
        await actions.add_note(session, elsewhere.id, "Not for them", desk)
        assert await stream.next_event(0.5) is None
        await actions.assign_crew(session, job.id, crew.id, desk)
        poke = await stream.next_event(5)
        assert poke is not None and "event: poke" in poke and "data: {}" in poke
        # Taken away from them: their phones must hear it too, to drop the job.
        await actions.reassign_crew(session, job.id, other.id, desk)
        assert "event: poke" in (await stream.next_event(5) or "")
    finally:
        await stream.close()
    assert not app.state.sync_pokes.listening  # the last stream gone, the LISTEN connection is closed


async def test_poke_wants_an_event_stream_client(app):
    async with AsyncTestClient(app=app) as http:
        await sign_in(http, "lineman")
        response = await http.get("/sync/poke", headers={"accept": "text/html"})
    assert response.status_code == 406 and "EventSource" in response.text


async def test_the_stream_keeps_alive_and_ends_after_its_lifetime(database_url):
    hub = PokeHub(libpq_url(database_url))
    events = []
    async for message in poke_stream(hub, crew_id=0, heartbeat=0.05, lifetime=0.2):
        events.append(message.encode().decode())
        assert hub.listening
    assert events[0].startswith("event: poke") and any(e.startswith(": keep-alive") for e in events)
    await asyncio.sleep(0.05)
    assert not hub.listening
