"""Sign-in limits (server/staff/rules.py): wrong passwords per account and per address, counted in PostgreSQL for
every process, through a real server that believes X-Forwarded-For from its proxy (as `faultline serve` does), so
each test speaks from an address of its own. Failures are recorded for the administrator, and a session's CSRF
token is its own."""
import re
import secrets
import socket
import threading
import time
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
import time_machine
import uvicorn
from sqlmodel.ext.asyncio.session import AsyncSession

from server.app import create_app
from server.db import make_engine, utcnow
from server.staff.service import create_staff
from tests.conftest import DEMO_PASSWORD

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def served(database_url, test_settings):
    """The app with the shipped limits (5 an account, 20 an address), behind a trusted proxy on 127.0.0.1."""
    settings = replace(test_settings, server=replace(test_settings.server, signin_per_account=5, signin_per_address=20))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(database_url, settings), host="127.0.0.1", port=port,
                                           proxy_headers=True, forwarded_allow_ips="127.0.0.1", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


class Browser:
    """One browser at one address."""

    def __init__(self, base: str, address: str | None = None):
        self.http = httpx.Client(base_url=base, headers={"x-forwarded-for": address or _address()}, timeout=30)

    def token(self, path: str = "/login") -> str:
        return CSRF_INPUT.search(self.http.get(path, headers={"accept": "text/html"}).text).group(1)

    def sign_in(self, username: str, password: str) -> httpx.Response:
        return self.http.post("/login", data={"username": username, "password": password,
                                              "_csrf_token": self.token()}, headers={"accept": "text/html"})


async def _account(database_url, role="dispatcher") -> str:
    engine = make_engine(database_url, pool_size=1)
    username = f"limits-{secrets.token_hex(4)}"
    async with AsyncSession(engine) as session:
        await create_staff(session, username=username, password=DEMO_PASSWORD, role=role)
    await engine.dispose()
    return username


async def test_thirty_wrong_passwords_lock_the_account_even_for_the_right_one(served, database_url):
    username = await _account(database_url)
    guesser = Browser(served)
    answers = [guesser.sign_in(username, f"guess-{n}").status_code for n in range(30)]
    assert answers == [401] * 5 + [429] * 25
    refused = guesser.sign_in(username, DEMO_PASSWORD)  # the right one, within the window: still refused
    assert refused.status_code == 429 and "fl_session" not in refused.cookies
    assert "Too many failed sign-ins" in refused.text and "Try again at" in refused.text
    # From anywhere else too: the account is what is being guessed.
    assert Browser(served).sign_in(username, DEMO_PASSWORD).status_code == 429


async def test_the_lock_ends_with_its_window(served, database_url):
    username = await _account(database_url)
    guesser = Browser(served)
    with time_machine.travel(utcnow(), tick=True) as traveller:
        for n in range(5):
            guesser.sign_in(username, f"guess-{n}")
        assert guesser.sign_in(username, DEMO_PASSWORD).status_code == 429
        traveller.shift(timedelta(minutes=16))  # the next 15-minute window
        assert guesser.sign_in(username, DEMO_PASSWORD).status_code == 303


async def test_one_address_guessing_many_accounts_is_stopped_there_only(served, database_url):
    username = await _account(database_url)
    office = Browser(served)
    answers = [office.sign_in(f"nobody-{n}-{secrets.token_hex(3)}", "guess").status_code for n in range(21)]
    assert answers == [401] * 20 + [429]
    assert office.sign_in(username, DEMO_PASSWORD).status_code == 429  # this address waits
    assert Browser(served).sign_in(username, DEMO_PASSWORD).status_code == 303  # the account itself is fine


async def test_failures_are_recorded_for_the_administrator_without_passwords(served, database_url):
    username = await _account(database_url)
    address = _address()
    someone = Browser(served, address)
    someone.sign_in(username, "wrong-password")
    someone.sign_in("My Secret Passw0rd!", "")  # a password typed into the username box
    admin = Browser(served)
    assert admin.sign_in("admin", DEMO_PASSWORD).status_code == 303
    page = admin.http.get("/admin/sign-ins").text
    assert username in page and address in page and "Wrong password" in page
    assert "My Secret Passw0rd!" not in page and "my secret passw0rd!" not in page
    assert "No such account" in page


async def test_a_session_accepts_only_its_own_csrf_token(served, database_url):
    mine, theirs = Browser(served), Browser(served)
    before = mine.token()  # issued before signing in
    assert mine.sign_in("supervisor", DEMO_PASSWORD).status_code == 303
    assert theirs.sign_in("agent", DEMO_PASSWORD).status_code == 303
    assert mine.http.cookies["fl_csrf"] != theirs.http.cookies["fl_csrf"]
    profile = {"language": "sw"}
    # My own token works.
    assert mine.http.post("/profile", data={**profile, "_csrf_token": mine.token("/profile")}).status_code == 200
    # Another session's token pair planted in my browser (or one from before I signed in) is not mine.
    for cookie, token in ((theirs.http.cookies["fl_csrf"], theirs.token("/profile")), (before, before)):
        planted = httpx.Client(base_url=served, headers=mine.http.headers, timeout=30)
        planted.cookies.set("fl_session", mine.http.cookies["fl_session"])
        planted.cookies.set("fl_csrf", cookie)
        answer = planted.post("/profile", data={**profile, "_csrf_token": token}, headers={"accept": "text/html"})
        assert answer.status_code == 401  # not this session's: sign in again
    mine.http.post("/profile", data={"language": "en", "_csrf_token": mine.token("/profile")})
