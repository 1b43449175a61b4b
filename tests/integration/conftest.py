"""Fixtures for tests that talk to the database directly, beside the app."""
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
