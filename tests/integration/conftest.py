"""Fixtures for tests that talk to the database directly, beside the app."""
from dataclasses import replace

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine


@pytest.fixture(scope="module")
async def engine(database_url):
    """An engine of the test module's own (an async pool belongs to one event loop)."""
    engine = make_engine(database_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine):
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def clock(ticking_clock, app, test_settings):
    """The real clock, then each instant of tests/support/clock.py (time moving on from it), with the app's
    FAULTLINE_TIMEZONE the instant's own for the test (Europe/Tirane across its daylight-saving changes)."""
    if ticking_clock.timezone != test_settings.locale.timezone:
        app.state.settings = replace(test_settings, locale=replace(test_settings.locale,
                                                                   timezone=ticking_clock.timezone))
    yield ticking_clock
    app.state.settings = test_settings
