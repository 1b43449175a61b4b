"""The whole class, on every route: a NUL in an address, or a JSON body nested thousands deep, with a NUL, half
an emoji or a number that is not one, is refused 400 with a sentence — never a 500 (server/input_guard.py)."""
import json
import re

import pytest
from litestar.routes import HTTPRoute

from server.input_guard import OWN_BODY
from server.staff.models import Role
from tests.conftest import csrf_token, sign_in


def _routes(app):
    """(method, path with every parameter filled so that the route matches)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            path = re.sub(r"\{[^}:]+:int\}", "1", route.path)
            path = re.sub(r"\{[^}]+\}", "x", path)
            for handler in route.route_handlers:
                for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                    yield method, path, None

DEEP = ("[" * 5000 + "]" * 5000).encode()
BROKEN_JSON = {
    "deep": DEEP,
    "deep object": ('{"a":' * 4000 + "1" + "}" * 4000).encode(),
    "lone surrogate": b'{"category": "no_power", "phone": "0712345678", "text": "power off \\ud83d"}',
    "nul": b'{"category": "no_power", "phone": "0712\\u00005678"}',
    "huge number": b'{"category": "no_power", "phone": "0712345678", "latitude": 1e999, "longitude": 36.8}',
    "nan": b'{"category": "no_power", "phone": "0712345678", "latitude": NaN, "longitude": 36.8}',
    "long integer": b'{"endpoint": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("role", [None, *Role])
async def test_a_nul_in_the_address_of_any_route_is_refused_plainly(app, client, role):
    if role is not None:
        await sign_in(client, role.value)
    token = await csrf_token(client)
    for method, path, _ in _routes(app):
        if path == "/logout":
            continue
        for address in (f"{path}?q=a%00b&code=a%00b", path.replace("/x", "/a%00b") if "/x" in path else None):
            if address is None:
                continue
            response = await client.request(method, address, headers={"x-csrftoken": token, "accept": "text/html"},
                                            follow_redirects=False)
            assert response.status_code == 400, f"{role} {method} {address}: {response.status_code}"
            assert "not allowed (a NUL byte)" in response.text, address


@pytest.mark.parametrize("role", [None, Role.dispatcher, Role.lineman, Role.admin])
@pytest.mark.parametrize("kind", list(BROKEN_JSON))
async def test_broken_json_to_any_route_is_refused_plainly(app, client, role, kind):
    if role is not None:
        await sign_in(client, role.value)
    token = await csrf_token(client)
    headers = {"x-csrftoken": token, "content-type": "application/json", "x-api-key": "not-a-key"}
    checked = 0
    for method, path, _ in _routes(app):
        if method not in ("POST", "PUT", "PATCH", "DELETE") or path in ("/logout", *OWN_BODY):
            continue
        response = await client.request(method, path, content=BROKEN_JSON[kind], headers=headers)
        assert response.status_code == 400, f"{role} {method} {path} with {kind}: {response.status_code}"
        detail = response.json()["detail"]
        assert detail and "JSON" in detail, detail
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("role", [None, Role.dispatcher, Role.supervisor, Role.admin])
async def test_a_nul_in_any_form_is_refused_plainly(app, client, role):
    """Forms handlers judge their fields themselves; a NUL never reaches them (the console's crew code did)."""
    if role is not None:
        await sign_in(client, role.value)
    token = await csrf_token(client)
    headers = {"x-csrftoken": token, "content-type": "application/x-www-form-urlencoded", "accept": "text/html"}
    for method, path, _ in _routes(app):
        if method not in ("POST", "PUT", "PATCH", "DELETE") or path in ("/logout", *OWN_BODY):
            continue
        response = await client.request(method, path, content=b"crew_code=C0%001&username=a%00&text=x\x00y",
                                        headers=headers, follow_redirects=False)
        assert response.status_code == 400, f"{role} {method} {path}: {response.status_code}"
        assert "(a NUL byte)" in response.text


async def test_the_named_cases(client):
    """As measured from outside: each was a 500."""
    await sign_in(client, "dispatcher")
    assert (await client.get("/dispatch/crews?q=a%00b")).status_code == 400
    client.cookies.clear()
    await sign_in(client, "supervisor")
    assert (await client.get("/supervisor/timeline?code=a%00b")).status_code == 400
    client.cookies.clear()
    token = await csrf_token(client, "/")
    for method in ("POST", "DELETE"):  # open to any visitor, with any token
        answer = await client.request(method, "/t/" + "A" * 22 + "/push", content=DEEP,
                                      headers={"content-type": "application/json", "x-csrftoken": token})
        assert answer.status_code == 400 and "nested too deeply" in answer.json()["detail"]


async def test_good_json_still_goes_through(client, app):
    from sqlmodel.ext.asyncio.session import AsyncSession

    from server.db import make_engine
    from server.reports.api import create_api_client
    engine = make_engine(app.state.engine.url.render_as_string(hide_password=False), pool_size=1)
    async with AsyncSession(engine) as session:
        key = await create_api_client(session, "input-class-test")
    await engine.dispose()
    body = {"category": "no_power", "phone": "0712 345 699", "latitude": -1.2921, "longitude": 36.8219,
            "text": "Nguvu hakuna tangu saa tatu 🙁"}
    answer = await client.post("/api/v1/reports", content=json.dumps(body), headers={
        "content-type": "application/json", "x-api-key": key})
    assert answer.status_code == 201, answer.text
