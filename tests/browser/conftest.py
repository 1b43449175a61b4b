"""Browser fixtures: a live Faultline server in a thread and Debian's Chromium driven by Playwright (async API)."""
from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest
import uvicorn
from playwright.async_api import async_playwright, expect

from server.app import create_app

# A busy two-core CI machine runs service workers, IndexedDB and the server side by side: give each
# expectation room (they return as soon as they hold; only a real failure waits this long).
expect.set_options(timeout=10_000)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_app(database_url, test_settings):
    """The app the live server runs: tests may swap its static files to deploy a new version."""
    return create_app(database_url, test_settings)


@pytest.fixture(scope="session")
def live_server(live_app):
    """The real app under uvicorn, with its own engine (an async pool belongs to one event loop)."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(live_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the live server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
async def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Debian's chromium is not installed (test.sh installs it)"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def phone(browser, live_server):
    """A cheap Android phone's screen: 360×740, touch, location allowed."""
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, has_touch=True, locale="en-KE",
                                        permissions=["geolocation"])
    yield context
    await context.close()


@pytest.fixture
async def desk(browser, live_server):
    context = await browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    yield context
    await context.close()


@pytest.fixture
async def phone_context_factory(browser, live_server):
    """Phones standing at a given place (GPS allowed), closed after the test."""
    contexts = []

    async def make(latitude: float, longitude: float):
        context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                            is_mobile=True, has_touch=True, permissions=["geolocation"],
                                            geolocation={"latitude": latitude, "longitude": longitude,
                                                         "accuracy": 20})
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()
