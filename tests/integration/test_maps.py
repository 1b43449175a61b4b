"""Map layers from PostGIS: vector tiles decoded, GeoJSON by box, caching, who may see what, bad input."""
import math

import mapbox_vector_tile
import psycopg
import pytest
import shapely.geometry

from server.db_url import libpq_url
from tests.conftest import sign_in

CBD = (36.8219, -1.2864)


def tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture
async def dispatcher(client):
    await sign_in(client, "dispatcher")
    return client


async def test_a_transformer_tile_holds_the_transformers_there(dispatcher, database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        code, lon, lat = conn.execute("SELECT code, ST_X(location::geometry), ST_Y(location::geometry) "
                                      "FROM transformer ORDER BY code LIMIT 1").fetchone()
    x, y = tile_of(lon, lat, 15)
    response = await dispatcher.get(f"/tiles/transformers/15/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    codes = {f["properties"]["code"] for f in decoded["transformers"]["features"]}
    assert code in codes
    assert all(f["geometry"]["type"] == "Point" for f in decoded["transformers"]["features"])


async def test_incident_tiles_carry_status_priority_and_customers(dispatcher):
    x, y = tile_of(*CBD, 10)
    decoded = mapbox_vector_tile.decode((await dispatcher.get(f"/tiles/incidents/10/{x}/{y}.mvt")).content)
    properties = decoded["incidents"]["features"][0]["properties"]
    assert {"code", "status", "priority", "customers_affected", "report_count"} <= set(properties)
    assert properties["status"] in ("reported", "assigned", "en_route", "on_site")


async def test_the_base_layers_are_public_and_long_cached(client):
    x, y = tile_of(*CBD, 13)
    response = await client.get(f"/tiles/roads/13/{x}/{y}.mvt")
    assert response.status_code == 200 and "public, max-age=3600" in response.headers["cache-control"]
    decoded = mapbox_vector_tile.decode(response.content)
    assert {"Uhuru Highway", "Mombasa Road"} & {f["properties"]["name"] for f in decoded["roads"]["features"]}
    zones = mapbox_vector_tile.decode((await client.get(f"/tiles/zones/13/{x}/{y}.mvt")).content)
    assert zones["zones"]["features"]


async def test_live_layers_are_for_staff_only(client):
    x, y = tile_of(*CBD, 12)
    assert (await client.get(f"/tiles/crews/12/{x}/{y}.mvt")).status_code == 401
    assert (await client.get(f"/tiles/incidents/12/{x}/{y}.mvt")).status_code == 401
    assert (await client.get("/maps/layers/crews.geojson", params={"bbox": "36.8,-1.3,36.85,-1.25"})
            ).status_code == 401


async def test_live_tiles_are_short_cached_and_revalidate_by_etag(dispatcher):
    x, y = tile_of(*CBD, 12)
    first = await dispatcher.get(f"/tiles/crews/12/{x}/{y}.mvt")
    assert first.status_code == 200 and "max-age=5" in first.headers["cache-control"]
    again = await dispatcher.get(f"/tiles/crews/12/{x}/{y}.mvt", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_a_tile_far_from_the_city_is_empty_and_cheap(client):
    x, y = tile_of(2.35, 48.85, 14)  # Paris
    response = await client.get(f"/tiles/roads/14/{x}/{y}.mvt")
    assert response.status_code == 204 and response.content == b""


async def test_layers_as_geojson_within_a_box(dispatcher):
    response = await dispatcher.get("/maps/layers/transformers.geojson", params={"bbox": "36.70,-1.36,36.95,-1.20"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 200
    for feature in collection["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert 36.70 <= lon <= 36.95 and -1.36 <= lat <= -1.20 and feature["properties"]["code"]
    feeders = (await dispatcher.get("/maps/layers/feeders.geojson", params={"bbox": "36.70,-1.36,36.95,-1.20"})).json()
    assert {f["geometry"]["type"] for f in feeders["features"]} == {"LineString"}


@pytest.mark.parametrize("layer", ["incidents", "crews", "transformers", "zones", "feeders", "roads"])
async def test_every_layers_geojson_is_valid(dispatcher, layer):
    """RFC 7946: a FeatureCollection of Features with valid geometries in longitude, latitude order."""
    collection = (await dispatcher.get(f"/maps/layers/{layer}.geojson",
                                       params={"bbox": "36.60,-1.50,37.15,-1.05"})).json()
    assert set(collection) == {"type", "features"} and collection["type"] == "FeatureCollection"
    assert collection["features"], f"no {layer} in the demo city"
    for feature in collection["features"]:
        assert feature["type"] == "Feature" and isinstance(feature["properties"], dict)
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid and not geometry.is_empty, feature
        west, south, east, north = geometry.bounds
        assert 36.5 < west <= east < 37.3 and -1.6 < south <= north < -0.9  # the city, longitude first


@pytest.mark.parametrize("path, status", [
    ("/tiles/rivers/10/0/0.mvt", 404),
    ("/tiles/roads/23/0/0.mvt", 400),
    ("/tiles/roads/3/8/0.mvt", 400),
    ("/tiles/roads/3/0/8.mvt", 400),
    ("/tiles/roads/3/-1/0.mvt", 400),
    ("/tiles/roads/3/0/abc.mvt", 400),
    ("/tiles/roads/3/0/1.png", 400),
    ("/maps/layers/roads.geojson?bbox=0,0,170,80", 400),
    ("/maps/layers/roads.geojson?bbox=36.9,-1.3,36.8,-1.2", 400),
    ("/maps/layers/roads.geojson?bbox=-1.3,36.8,-1.2,36.9", 400),
    ("/maps/layers/roads.geojson?bbox=nan,1,2,3", 400),
    ("/maps/layers/roads.geojson?bbox=1,2,3", 400),
    ("/maps/layers/roads.geojson", 400),
    ("/maps/layers/roads.kml?bbox=36.8,-1.3,36.85,-1.25", 404),
])
async def test_bad_requests_get_a_message(client, path, status):
    response = await client.get(path)
    assert response.status_code == status and response.json()["detail"]


async def test_the_map_config_names_the_base_map_and_layers(client):
    config = (await client.get("/maps/config.json")).json()
    assert config["basemap"]["url"] is None and "Faultline" in config["basemap"]["attribution"]
    assert "Faultline" in config["attribution"]
    assert set(config["layers"]) == {"incidents", "crews", "transformers", "zones", "feeders", "roads"}
    west, south, east, north = config["extent"]
    assert west < 36.82 < east and south < -1.28 < north


async def test_the_base_tile_carries_the_whole_base_map(dispatcher):
    x, y = tile_of(*CBD, 14)
    decoded = mapbox_vector_tile.decode((await dispatcher.get(f"/tiles/base/14/{x}/{y}.mvt")).content)
    assert {"zones", "roads", "feeders", "transformers"} <= set(decoded)


async def test_anyone_gets_the_streets_but_only_staff_the_network(client):
    x, y = tile_of(*CBD, 14)
    streets = await client.get(f"/tiles/streets/14/{x}/{y}.mvt")
    assert streets.status_code == 200 and "public" in streets.headers["cache-control"]
    assert set(mapbox_vector_tile.decode(streets.content)) == {"zones", "roads"}
    assert (await client.get(f"/tiles/base/14/{x}/{y}.mvt")).status_code == 401
    assert (await client.get("/maps/layers/streets.geojson?bbox=36.8,-1.3,36.85,-1.25")).status_code == 404


async def test_an_offline_area_lists_its_tiles_with_their_size(dispatcher):
    area = (await dispatcher.get("/maps/offline/zones/1", params={"max_zoom": 14})).json()
    assert area["name"] == "Westlands" and area["min_zoom"] == 11 and area["max_zoom"] == 14
    assert area["count"] == len(area["tiles"]) > 10 and not area["capped"]
    sizes = [len((await dispatcher.get(url)).content) for url in area["tiles"]]
    assert sum(sizes) == area["bytes"] and all(sizes)


async def test_an_offline_area_stays_under_the_cap(database_url, test_settings):
    from dataclasses import replace

    from litestar.testing import AsyncTestClient

    from server.app import create_app
    small = replace(test_settings, maps=replace(test_settings.maps, offline_max_bytes=40_000))
    async with AsyncTestClient(app=create_app(database_url, small)) as client:
        await sign_in(client, "lineman")
        area = (await client.get("/maps/offline/zones/1", params={"max_zoom": 17})).json()
    assert area["capped"] and area["max_zoom"] < 17 and area["bytes"] <= 40_000


@pytest.mark.parametrize("path, status", [("/maps/offline/zones/999", 404), ("/maps/offline/zones/1?max_zoom=25", 400),
                                          ("/maps/offline/zones/1?max_zoom=x", 400)])
async def test_offline_areas_refuse_bad_requests(dispatcher, path, status):
    assert (await dispatcher.get(path)).status_code == status


async def test_offline_areas_are_for_staff(client):
    assert (await client.get("/maps/offline/zones/1")).status_code == 401
    assert (await client.get("/maps/offline/around", params={"lat": CBD[1], "lon": CBD[0]})).status_code == 401


async def test_a_jobs_surroundings_list_the_tiles_within_reach(dispatcher):
    area = (await dispatcher.get("/maps/offline/around", params={"lat": CBD[1], "lon": CBD[0],
                                                                 "radius": 800})).json()
    assert area["min_zoom"] == 13 and area["max_zoom"] == 16 and not area["capped"]
    assert f"/tiles/base/16/{'/'.join(map(str, tile_of(*CBD, 16)))}.mvt" in area["tiles"]
    assert 10 < area["count"] < 60  # a few streets, not the zone
    sizes = [len((await dispatcher.get(url)).content) for url in area["tiles"]]
    assert sum(sizes) == area["bytes"] and all(sizes)
    nowhere = (await dispatcher.get("/maps/offline/around", params={"lat": 10, "lon": 10})).json()
    assert nowhere["count"] == 0 and nowhere["bytes"] == 0


@pytest.mark.parametrize("query", ["lat=95&lon=36.8", "lat=-1.28&lon=200", "lat=x&lon=36.8", "lon=36.8",
                                   "lat=-1.28&lon=36.8&radius=50000", "lat=-1.28&lon=36.8&max_zoom=12",
                                   "lat=nan&lon=36.8"])
async def test_a_jobs_surroundings_refuse_bad_requests(dispatcher, query):
    response = await dispatcher.get(f"/maps/offline/around?{query}")
    assert response.status_code == 400 and response.json()["detail"]


async def test_measuring_an_area_stops_at_the_first_level_past_the_cap(session):
    """No tile of a zoom level beyond the cap is made: one query per level kept, and one for the level
    that did not fit."""
    from maps import service
    found = await service.zone_box(session, 1)
    asked = []
    real_exec = session.exec

    async def counting(query, *args, **kwargs):
        if query is service._LEVEL_SIZES:
            asked.append(kwargs["params"]["z"])
        return await real_exec(query, *args, **kwargs)

    session.exec = counting
    area = await service.offline_area(session, *found, 11, 18, 40_000)
    assert area.capped and area.bytes <= 40_000
    assert asked == list(range(11, area.max_zoom + 2))


async def test_a_utilitys_basemap_is_named_in_the_map_config(database_url, test_settings):
    from dataclasses import replace

    from litestar.testing import AsyncTestClient

    from server.app import create_app
    maps = replace(test_settings.maps, basemap_url="https://tiles.example/kenya.pmtiles",
                   basemap_attribution="© Protomaps © OpenStreetMap")
    async with AsyncTestClient(app=create_app(database_url, replace(test_settings, maps=maps))) as client:
        config = (await client.get("/maps/config.json")).json()
    assert config["basemap"] == {"url": "https://tiles.example/kenya.pmtiles", "kind": "vector",
                                 "attribution": "© Protomaps © OpenStreetMap"}
    assert "Faultline" in config["attribution"]  # the network drawn over it keeps its own credit line
