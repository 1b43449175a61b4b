"""Offline map areas: the box around a job, the tile count limit, the basemap's kind."""
import math

import pytest

from maps.service import box_around, tiles_at_most, tiles_covering
from server.settings import MapSettings


def test_the_box_around_a_point_reaches_the_radius_on_every_side():
    west, south, east, north = box_around(36.82, -1.28, 1000)
    assert north - (-1.28) == pytest.approx(1000 / 111_320)
    # a degree of longitude is shorter away from the equator, so the box is wider in degrees there
    assert (east - west) / 2 == pytest.approx(1000 / 111_320 / math.cos(math.radians(-1.28)))
    assert box_around(19.82, 60.0, 1000)[2] - 19.82 == pytest.approx(2 * 1000 / 111_320, rel=1e-3)


def test_the_box_stays_on_the_map_at_its_edges():
    west, south, east, north = box_around(179.999, 85.03, 5000)
    assert east == 180.0 and north == 85.0511 and west < 179.999


def test_a_huge_area_is_refused_high_zooms_before_any_tile_is_made():
    city = (36.65, -1.45, 37.10, -1.10)
    assert tiles_at_most(6, 20_000, city, 11) == 16
    continent = (-20.0, -35.0, 52.0, 37.0)
    top = tiles_at_most(6, 20_000, continent, 11)
    assert top < 11 + 5 and sum(len(tiles_covering(continent, z)) for z in range(11, top + 1)) <= 20_000


@pytest.mark.parametrize("url, kind", [
    ("", "raster"), ("https://tiles.example/{z}/{x}/{y}.png", "raster"),
    ("https://tiles.example/kenya.pmtiles", "vector"), ("/basemap/{z}/{x}/{y}.mvt?key=1", "vector"),
    ("https://tiles.example/{z}/{x}/{y}.PBF", "vector"),
])
def test_the_basemap_kind_follows_its_address(url, kind):
    assert MapSettings(basemap_url=url).basemap_kind == kind
