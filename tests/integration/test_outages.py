"""The public outages page and GeoJSON feed: open faults and planned work by area, nothing personal."""

import psycopg
import pytest

from server.provision import libpq_url


@pytest.fixture(scope="module")
def planned(database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("""
            INSERT INTO planned_outage (title, reason, area, zone_id, starts_at, ends_at)
            SELECT 'Line upgrade on Street 3', 'New conductors', ST_Multi(ST_Buffer(ST_Centroid(area), 0.005)), id,
                   now() + interval '1 day', now() + interval '1 day 6 hours'
            FROM zone WHERE name = 'Kasarani'""")
        conn.execute("""
            INSERT INTO planned_outage (title, area, zone_id, starts_at, ends_at)
            SELECT 'Finished yesterday', area, id, now() - interval '2 days', now() - interval '1 day'
            FROM zone WHERE name = 'Kasarani'""")


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
