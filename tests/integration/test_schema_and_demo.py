"""The schema comes from the migrations; the demo city is what the issue promises, and loads once."""
from alembic import command
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

import psycopg
import pytest

from server.db import make_engine
from server.demo.load import load_demo
from server.migrate import alembic_config
from server.db_url import libpq_url


def test_models_and_migrations_agree(database_url):
    command.check(alembic_config(database_url))  # raises if a model changed without a migration


async def _scalar(database_url, sql):
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        value = (await session.exec(text(sql))).scalar_one()
    await engine.dispose()
    return value


@pytest.mark.parametrize("sql, at_least", [
    ("SELECT count(*) FROM zone", 3),
    ("SELECT count(*) FROM feeder", 4),
    ("SELECT count(*) FROM transformer", 200),
    ("SELECT count(*) FROM customer", 10_000),
    ("SELECT count(*) FROM crew", 10),
    ("SELECT count(*) FROM road", 20),
    ("SELECT count(DISTINCT role) FROM staff", 5),
])
async def test_the_demo_city_has_what_was_promised(database_url, sql, at_least):
    assert await _scalar(database_url, sql) >= at_least


async def test_the_demo_city_sits_on_nairobi(database_url):
    inside = await _scalar(database_url, """
        SELECT bool_and(ST_Covers(ST_MakeEnvelope(36.6, -1.45, 37.1, -1.15, 4326), location::geometry))
        FROM customer""")
    assert inside


async def test_every_customer_is_inside_a_zone(database_url):
    outside = await _scalar(database_url, """
        SELECT count(*) FROM customer c
        WHERE NOT EXISTS (SELECT 1 FROM zone z WHERE ST_Covers(z.area, c.location::geometry))""")
    assert outside == 0


def test_loading_the_demo_again_changes_nothing(database_url):
    summary = load_demo(database_url)
    assert not summary.created_city and summary.customers_added == 0


def test_spatial_columns_have_gist_indexes(database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        indexed = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")}
    assert {"zone", "feeder", "transformer", "customer", "crew", "incident", "report", "road"} <= indexed


def test_the_timeline_is_append_only(database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE incident_event SET kind = 'edited'")
        conn.rollback()
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM incident_event")


def test_incident_codes_stay_unique_past_a_million(database_url):
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        before = conn.execute("SELECT last_value FROM incident_code_seq").fetchone()[0]
        conn.execute("SELECT setval('incident_code_seq', 999998)")
        codes = [conn.execute("SELECT next_incident_code()").fetchone()[0] for _ in range(3)]
        conn.execute("SELECT setval('incident_code_seq', %s)", (before,))  # other tests expect six digits
    assert codes == ["FL-999999", "FL-1000000", "FL-1000001"]
