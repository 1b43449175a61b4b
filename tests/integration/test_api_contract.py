"""The API contract holds: schemathesis generates requests for every documented operation from /schema's own
OpenAPI description and checks each answer — never a 5xx, never a status, content type or body the schema does
not describe. Bounded and seeded (derandomized), so a run is quick and repeatable; the server is the real app
under uvicorn, signed in the way each kind of caller is (API key, a lineman's session, a visitor's CSRF pair)."""
import re
import socket
import threading
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from sqlmodel.ext.asyncio.session import AsyncSession

from server.app import create_app
from server.db import make_engine
from server.reports.api import create_api_client
from tests.conftest import DEMO_PASSWORD

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30


@pytest.fixture(scope="module")
def api_server(database_url, test_settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import uvicorn
    server = uvicorn.Server(uvicorn.Config(create_app(database_url, test_settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def contract(api_server):
    return schemathesis.openapi.from_url(f"{api_server}/schema/openapi.json")


def _browser(base: str, username: str | None = None) -> requests.Session:
    """A browser's session: its CSRF cookie (sent back as the header), signed in when a username is given."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", headers={"accept": "text/html"}).text
    if username:
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        browser.post(f"{base}/login", data={"username": username, "password": DEMO_PASSWORD, "_csrf_token": token},
                     allow_redirects=False)
    browser.headers["x-csrftoken"] = browser.cookies["fl_csrf"]
    return browser


@pytest.fixture(scope="module")
def callers(api_server, database_url):
    import asyncio

    async def key():
        engine = make_engine(database_url, pool_size=1)
        async with AsyncSession(engine) as session:
            made = await create_api_client(session, "contract-fuzzer")
        await engine.dispose()
        return made

    partner = requests.Session()
    partner.headers["x-api-key"] = asyncio.run(key())
    return {"intake": partner, "maps": _browser(api_server, "lineman"), "notifications": _browser(api_server),
            "gateways": requests.Session(), "outages": requests.Session(), "sync": _browser(api_server, "lineman")}


def _caller(callers, operation):
    return callers[(operation.tags or ["outages"])[0]]


def test_every_documented_operation_keeps_its_contract(contract, callers, api_server):
    """Each operation in turn, EXAMPLES generated requests each (valid and not), every answer checked."""
    broken, tried = [], 0
    for result in contract.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def keeps_its_contract(case):
            case.call_and_validate(base_url=api_server, session=_caller(callers, operation), checks=CHECKS)

        try:
            keeps_its_contract()
        except Exception as failure:  # noqa: BLE001 (each operation's first failure, all of them reported)
            broken.append(f"{operation.label}: {failure}")
        tried += 1
    assert tried >= 13
    assert not broken, "\n\n".join(broken)


def test_every_route_a_partner_phone_or_gateway_calls_is_described(contract):
    """The operations in the schema: the intake API, maps and offline areas, the outages feed, push
    subscriptions, the gateways and the crew phones' sync; each with the refusals it can answer."""
    raw = contract.raw_schema["paths"]
    described = {(method.upper(), path) for path, methods in raw.items() for method in methods}
    wanted = {("POST", "/api/v1/reports"), ("GET", "/api/v1/reports/{token}"), ("GET", "/outages.geojson"),
              ("GET", "/tiles/{name}/{z}/{x}/{tile_name}"), ("GET", "/maps/layers/{file_name}"),
              ("GET", "/maps/offline/zones/{zone_id}"), ("GET", "/maps/offline/around"), ("GET", "/maps/config.json"),
              ("GET", "/push/key"), ("POST", "/t/{token}/push"), ("DELETE", "/t/{token}/push"),
              ("POST", "/ussd"), ("POST", "/sms/inbound")}
    assert wanted <= described, wanted - described
    for path, methods in raw.items():
        for method, operation in methods.items():
            takes_input = operation.get("parameters") or operation.get("requestBody")
            refusals = {code for code in operation["responses"] if code[0] in "45"}
            assert refusals or not takes_input, f"{method.upper()} {path} documents none of its refusals"
