"""The public outages page and GeoJSON feed: open faults and planned work by area, nothing personal."""
from datetime import timedelta

import psycopg
import pytest

from server.db import utcnow
from server.db_url import libpq_url


@pytest.fixture(scope="module")
def planned(database_url):
    """Work tomorrow and work finished yesterday, by the code's clock (not the database's now())."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("""
            INSERT INTO planned_outage (title, reason, area, zone_id, starts_at, ends_at)
            SELECT 'Line upgrade on Street 3', 'New conductors', ST_Multi(ST_Buffer(ST_Centroid(area), 0.005)), id,
                   %(now)s + interval '1 day', %(now)s + interval '1 day 6 hours'
            FROM zone WHERE name = 'Kasarani'""", {"now": utcnow()})
        conn.execute("""
            INSERT INTO planned_outage (title, area, zone_id, starts_at, ends_at)
            SELECT 'Finished yesterday', area, id, %(now)s - interval '2 days', %(now)s - interval '1 day'
            FROM zone WHERE name = 'Kasarani'""", {"now": utcnow()})


async def test_the_feed_is_valid_geojson_with_faults_and_planned_work(client, planned):
    response = await client.get("/outages.geojson")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    feed = response.json()
    assert feed["type"] == "FeatureCollection"
    kinds = {f["properties"]["kind"] for f in feed["features"]}
    assert kinds == {"fault", "planned"}
    for feature in feed["features"]:
        geometry = feature["geometry"]
        assert geometry["type"] in ("Point", "Polygon", "MultiPolygon")
        if geometry["type"] == "Point" and feature["properties"]["zone"]:  # other tests' faults lie outside
            lon, lat = geometry["coordinates"]
            assert 36.6 < lon < 37.1 and -1.5 < lat < -1.1
    titles = [f["properties"].get("title") for f in feed["features"]]
    assert "Line upgrade on Street 3" in titles and "Finished yesterday" not in titles


async def test_the_feed_reveals_nobody(client, planned):
    text = (await client.get("/outages.geojson")).text
    assert "+254" not in text and "phone" not in text and "meter" not in text and "tracking" not in text


async def test_the_feed_can_be_narrowed_to_one_area(client, planned):
    feed = (await client.get("/outages.geojson", params={"zone": "Kasarani"})).json()
    assert feed["features"] and all(f["properties"]["zone"] == "Kasarani" for f in feed["features"])
    assert (await client.get("/outages.geojson", params={"zone": "Atlantis"})).json()["features"] == []
    assert (await client.get("/outages.geojson", params={"zone": "x" * 500})).status_code == 400


async def test_the_page_lists_faults_and_planned_work_by_area(client, planned):
    page = await client.get("/outages", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Kasarani" in page.text and "Line upgrade on Street 3" in page.text and "FL-" in page.text


async def test_planned_work_is_shown_until_it_ends_by_the_codes_clock(clock, client, database_url):
    """On any day (the instants of tests/support/clock.py): work under way and work to come are shown, work that
    ended an hour ago is not — judged by the clock the code reads, which the database's now() is not."""
    now, tag = clock.now(), clock.name
    works = {f"Under way ({tag})": (now - timedelta(hours=2), now + timedelta(hours=1)),
             f"Tomorrow ({tag})": (now + timedelta(days=1), now + timedelta(days=1, hours=6)),
             f"Ended an hour ago ({tag})": (now - timedelta(hours=5), now - timedelta(hours=1))}
    with psycopg.connect(libpq_url(database_url)) as conn:
        for title, (starts_at, ends_at) in works.items():
            conn.execute("""INSERT INTO planned_outage (title, area, zone_id, starts_at, ends_at)
                            SELECT %s, area, id, %s, %s FROM zone WHERE name = 'Kasarani'""",
                         (title, starts_at, ends_at))
    try:
        feed = (await client.get("/outages.geojson", params={"zone": "Kasarani"})).json()
        titles = {f["properties"].get("title") for f in feed["features"]}
        page = (await client.get("/outages", headers={"accept-language": "en"})).text
        for title in works:
            shown = not title.startswith("Ended")
            assert (title in titles, title in page) == (shown, shown), title
    finally:
        with psycopg.connect(libpq_url(database_url)) as conn:
            conn.execute("DELETE FROM planned_outage WHERE title = ANY(%s)", (list(works),))
