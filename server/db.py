"""Database engine and per-request sessions (async SQLModel over psycopg 3)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from geoalchemy2 import Geography, Geometry
from sqlalchemy import Column
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db_url import sqlalchemy_url

# PostgreSQL's own default names, spelled out so Alembic can name (and later drop) every constraint.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


def utcnow() -> datetime:
    """The one clock every rule reads. SQL gets it as a parameter (`CAST(:now AS timestamptz)`), never the
    database's now(): one clock for both, which the tests can freeze (tests/support/clock.py)."""
    return datetime.now(UTC)


def point_column(nullable: bool = True, index: bool = True) -> Any:
    """A geography point: distances in metres, and `<->` KNN uses the GiST index."""
    return Column(Geography("POINT", srid=4326, spatial_index=index), nullable=nullable)


def geometry_column(kind: str, nullable: bool = False) -> Any:
    """Polygons and lines stay geometry: containment tests are cheaper and exact enough."""
    return Column(Geometry(kind, srid=4326, spatial_index=True), nullable=nullable)


# psycopg returns timestamptz in the session's time zone, as datetimes sharing one tzinfo object; Python
# subtracts and compares those by wall clock, ignoring the offset (restored 03:30 minus reported 01:30 across
# a spring-forward is 2 h, not 1 h). A server set to a zone with daylight saving (Debian takes the system's)
# would skew every duration across a change: the app's sessions read UTC, and local time is made only for
# people (i18n.format_time) and in SQL that names the zone (AT TIME ZONE :timezone).
SESSION_OPTIONS = "-c TimeZone=UTC"


def make_engine(database_url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(sqlalchemy_url(database_url), pool_size=pool_size, max_overflow=pool_size,
                               pool_pre_ping=True, connect_args={"options": SESSION_OPTIONS})


async def provide_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """One session per request; the handler's service commits what it changes."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session


# Handlers declare `db_session: DbSession` (Litestar 3 needs dependencies marked, not inferred).
DbSession = NamedDependency[AsyncSession]
