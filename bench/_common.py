"""Shared by the benchmarks: a fresh database with the demo city, and the app served on a free port."""
from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager

import httpx
import psycopg
from sqlalchemy.dialects import postgresql

from server import migrate
from server.demo.city import DEMO_PASSWORD
from server.demo.load import load_demo
from server.provision import drop_database, ensure_server
from server.db_url import libpq_url
from server.settings import get_settings

logging.getLogger("httpx").setLevel(logging.WARNING)


@contextmanager
def bench_database(customers: int = 10_000):
    server = ensure_server(get_settings(), may_install=True)
    name = f"faultline_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.url_for(name)
    try:
        migrate.upgrade(url)
        load_demo(url, customers=customers)
        yield url
    finally:
        drop_database(server, name)


@contextmanager
def served(database_url: str):
    """`faultline serve` in its own process (as deployed), rate limits lifted for the load."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, DATABASE_URL=database_url, FAULTLINE_PORT=str(port),
               FAULTLINE_DATA_DIR=tempfile.mkdtemp(), FAULTLINE_RATE_PER_PHONE="1000000000",
               FAULTLINE_RATE_PER_IP="1000000000", FAULTLINE_RATE_PER_API_CLIENT="1000000000")
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base_url + "/outages.geojson", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


def psycopg_sql(statement) -> str:
    """A SQLAlchemy statement (a `text()` or a `select()`) as the SQL the app sends, in psycopg's `%(name)s`
    style, so a benchmark can run the very same query directly."""
    return str(statement.compile(dialect=postgresql.psycopg.dialect()))


CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def signed_in(base_url: str, username: str, password: str = DEMO_PASSWORD, timeout: float = 60) -> httpx.Client:
    """An HTTP client signed in as a staff member, as a browser would be: the session cookie, and the CSRF token
    issued with it (bound to the session) sent back in the header."""
    http = httpx.Client(base_url=base_url, timeout=timeout)
    token = CSRF_INPUT.search(http.get("/login").text).group(1)
    response = http.post("/login", data={"username": username, "password": password, "_csrf_token": token})
    assert response.status_code in (200, 303), (response.status_code, response.text[:500])
    http.headers["x-csrftoken"] = http.cookies["fl_csrf"]
    return http


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p between 0 and 1) of a run's timings."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]
