"""Shared fixtures: a fresh PostGIS database per test run, built by the migrations themselves."""
from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from server import migrate
from server.app import create_app
from server.demo.load import load_demo
from server.provision import drop_database, ensure_server
from server.settings import IntakeSettings, NotifySettings, ServerSettings, Settings, get_settings
from tests.support.clock import frozen_clock, ticking_clock  # noqa: F401  (fixtures: the instants of every time test)

DEMO_PASSWORD = "faultline-demo"


@pytest.fixture(scope="session")
def db_server():
    return ensure_server(get_settings(), may_install=True)


@pytest.fixture(scope="session")
def database_url(db_server) -> str:
    name = f"faultline_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    import psycopg

    from server.db_url import libpq_url
    with psycopg.connect(libpq_url(db_server.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = db_server.url_for(name)
    migrate.upgrade(url)
    load_demo(url)
    yield url
    drop_database(db_server, name)


@pytest.fixture(scope="session")
def test_settings(tmp_path_factory) -> Settings:
    data_dir = tmp_path_factory.mktemp("data")
    # Tests file many reports from one phone and one address, and sign in from one address, wrong passwords too;
    # rate limits and sign-in limits get their own tests.
    return replace(get_settings(), server=replace(ServerSettings(), data_dir=Path(data_dir),
                                                  signin_per_account=100_000, signin_per_address=100_000),
                   intake=replace(IntakeSettings(), rate_per_phone=100_000, rate_per_ip=100_000),
                   # Tests send notifications themselves, when they choose (server/notify/worker.py).
                   notify=replace(NotifySettings(), worker="off"))


@pytest.fixture(scope="session")
def app(database_url, test_settings):
    return create_app(database_url, test_settings)


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: AsyncTestClient, path: str = "/login") -> str:
    """Load a page so the CSRF cookie is set; return the token to send back."""
    page = await client.get(path, headers={"accept": "text/html"})
    match = CSRF_INPUT.search(page.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def sign_in(client: AsyncTestClient, username: str, password: str = DEMO_PASSWORD):
    token = await csrf_token(client)
    return await client.post("/login", data={"username": username, "password": password, "_csrf_token": token},
                             follow_redirects=False)
