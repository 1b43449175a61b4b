"""Staff sign-in: argon2 hashes, session cookies, CSRF, sign-out, deactivation, how long a sign-in lasts."""
from datetime import timedelta

import time_machine
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from server.staff.service import create_staff
from tests.conftest import csrf_token, sign_in


async def test_each_role_lands_on_its_own_page(client):
    landings = {"agent": "/agent", "dispatcher": "/dispatch", "lineman": "/crew", "supervisor": "/supervisor",
                "admin": "/admin"}
    for role, path in landings.items():
        client.cookies.clear()
        response = await sign_in(client, role)
        assert response.status_code == 303 and response.headers["location"] == path
        page = await client.get(path)
        assert page.status_code == 200


async def test_wrong_password_is_refused_with_a_message(client):
    response = await sign_in(client, "dispatcher", "not-the-password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert "fl_session" not in response.cookies


async def test_unknown_user_is_refused_the_same_way(client):
    response = await sign_in(client, "nobody-here")
    assert response.status_code == 401 and "Wrong username or password" in response.text


async def test_a_form_without_csrf_token_is_refused(client):
    await client.get("/login")
    response = await client.post("/login", data={"username": "admin", "password": "faultline-demo"})
    assert response.status_code == 403


async def test_passwords_are_stored_as_argon2id(database_url):
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        hashes = (await session.exec(text("SELECT password_hash FROM staff"))).scalars().all()
    await engine.dispose()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


async def test_sign_out_ends_the_session_on_the_server(client):
    await sign_in(client, "supervisor")
    session_cookie = client.cookies.get("fl_session")
    token = await csrf_token(client, "/supervisor")
    response = await client.post("/logout", headers={"x-csrftoken": token}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set("fl_session", session_cookie)  # a stolen copy of the cookie is useless now
    assert (await client.get("/supervisor")).status_code == 401


async def test_a_deactivated_user_is_signed_out_at_once(client, database_url):
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        await create_staff(session, username="temp-agent", password="temporary-pass", role="agent")
    assert (await sign_in(client, "temp-agent", "temporary-pass")).status_code == 303
    assert (await client.get("/agent")).status_code == 200
    async with AsyncSession(engine) as session:
        await session.exec(text("UPDATE staff SET active = false WHERE username = 'temp-agent'"))
        await session.commit()
    await engine.dispose()
    assert (await client.get("/agent")).status_code == 401


async def test_sign_in_never_redirects_to_another_site(client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        token = await csrf_token(client)  # each sign-in issues a token of its own
        response = await client.post("/login", data={"username": "agent", "password": "faultline-demo",
                                                     "next": target, "_csrf_token": token}, follow_redirects=False)
        assert response.headers["location"] == "/agent"
        client.cookies.delete("fl_session")


async def test_a_sign_in_lasts_its_hours_then_ends_on_the_server(clock, client, test_settings):
    """On any day, across New Year and a daylight-saving change: FAULTLINE_SESSION_HOURS of real time."""
    assert (await sign_in(client, "supervisor")).status_code == 303
    session_cookie = client.cookies.get("fl_session")
    lasts = timedelta(hours=test_settings.server.session_hours)
    for later, allowed in ((timedelta(0), True), (lasts - timedelta(minutes=1), True),
                           (lasts + timedelta(minutes=1), False)):
        with time_machine.travel(clock.now() + later, tick=False):
            client.cookies.set("fl_session", session_cookie)  # kept by the browser: the server decides
            status = (await client.get("/supervisor")).status_code
        assert status == (200 if allowed else 401), later
