"""Every staff route, every role: 401 without sign-in, 403 with a wrong role, open to the right ones."""
import re

import pytest
from litestar.routes import HTTPRoute

from server.staff.models import Role
from tests.conftest import csrf_token, sign_in


def _routes(app):
    """(method, path with parameters filled, allowed roles or None when public)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                path = re.sub(r"\{[^}]+\}", "x", route.path)
                yield method, path, None if handler.opt.get("public") else handler.opt.get("roles", frozenset())


def test_every_route_declares_who_may_call_it(app):
    for method, path, allowed in _routes(app):
        assert allowed is None or allowed, f"{method} {path} is closed to everyone: give it roles or PUBLIC"


def test_every_role_lands_on_a_page_it_may_open(app):
    from server.staff.service import landing_path
    staff_routes = {(path, allowed) for method, path, allowed in _routes(app) if method == "GET" and allowed}
    for role in Role:
        assert any(path == landing_path(role) and role in allowed for path, allowed in staff_routes), role


@pytest.mark.parametrize("role", [None, *Role])
async def test_each_role_gets_exactly_its_routes(app, client, role):
    if role is not None:
        assert (await sign_in(client, role.value)).status_code == 303
    token = await csrf_token(client)
    checked = 0
    for method, path, allowed in _routes(app):
        if allowed is None or path == "/logout":
            continue
        response = await client.request(method, path, headers={"x-csrftoken": token, "accept": "text/html"},
                                        follow_redirects=False)
        if role is None:
            expected = 401
        elif role in allowed:
            expected = None
        else:
            expected = 403
        if expected is None:
            assert response.status_code not in (401, 403), f"{role} refused {method} {path}"
            assert response.status_code < 500, f"{role} broke {method} {path}"
        else:
            assert response.status_code == expected, f"{role} on {method} {path}: {response.status_code}"
        checked += 1
    assert checked >= 6


async def test_a_signed_out_browser_is_shown_the_sign_in_form(client):
    response = await client.get("/dispatch", headers={"accept": "text/html"})
    assert response.status_code == 401
    assert 'action="/login"' in response.text and 'name="next" value="/dispatch"' in response.text


async def test_htmx_requests_are_sent_to_the_sign_in_page(client):
    response = await client.get("/dispatch", headers={"hx-request": "true"})
    assert response.status_code == 401 and response.headers["hx-redirect"] == "/login?next=/dispatch"
