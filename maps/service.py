"""PostGIS queries that turn the network into map layers: vector tiles (ST_AsMVT) and GeoJSON by box.

All layer SQL lives here. Points are geography (GiST on geography), so their filters use the geography
`&&` operator; zones, feeders and roads are geometry in 4326.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class Layer:
    name: str
    live: bool          # changes by the minute (short cache) or only on import (long cache)
    tile_sql: str       # selects geom (3857, clipped by ST_AsMVTGeom) and properties, given `bounds`
    geojson_sql: str    # selects geojson geometry and properties within :w :s :e :n


_TILE_BOUNDS = "ST_TileEnvelope(:z, :x, :y)"
_BOX_4326 = "ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)"
_BBOX = "ST_MakeEnvelope(:w, :s, :e, :n, 4326)"


def _point_layer(name: str, table: str, column: str, columns: str, where: str = "true", live: bool = False) -> Layer:
    tile = f"""
        SELECT ST_AsMVTGeom(ST_Transform({column}::geometry, 3857), {_TILE_BOUNDS}, 4096, 64, true) AS geom,
               {columns}
        FROM {table}
        WHERE {column} && {_BOX_4326}::geography AND {where}"""
    box = f"""
        SELECT ST_AsGeoJSON({column}::geometry, 6)::json AS geometry, {columns}
        FROM {table}
        WHERE {column} && {_BBOX}::geography AND {where}"""
    return Layer(name, live, tile, box)


def _shape_layer(name: str, table: str, column: str, columns: str) -> Layer:
    tile = f"""
        SELECT ST_AsMVTGeom(ST_Transform({column}, 3857), {_TILE_BOUNDS}, 4096, 64, true) AS geom, {columns}
        FROM {table}
        WHERE {column} && {_BOX_4326}"""
    box = f"""
        SELECT ST_AsGeoJSON({column}, 6)::json AS geometry, {columns}
        FROM {table}
        WHERE {column} && {_BBOX}"""
    return Layer(name, False, tile, box)


LAYERS = {layer.name: layer for layer in (
    _point_layer("incidents", "incident i", "i.location",
                 "i.code, i.status, i.priority, i.category, i.customers_affected, i.report_count, "
                 "extract(epoch FROM i.reported_at)::bigint AS reported_at",
                 where="i.status IN ('reported', 'assigned', 'en_route', 'on_site')", live=True),
    _point_layer("crews", "crew c", "c.position",
                 "c.code, c.name, c.status, extract(epoch FROM c.position_at)::bigint AS last_seen", live=True),
    _point_layer("transformers", "transformer t", "t.location", "t.code, t.feeder_id AS feeder"),
    _shape_layer("zones", "zone z", "z.area", "z.name"),
    _shape_layer("feeders", "feeder f", "f.route", "f.code, f.name"),
    _shape_layer("roads", "road r", "r.route", "r.name, r.kind"),
)}


def _mvt_sql(layer: Layer) -> str:
    return f"SELECT ST_AsMVT(t, '{layer.name}', 4096, 'geom') FROM ({layer.tile_sql}) t WHERE t.geom IS NOT NULL"


# Several layers in one tile: an MVT is a list of layers, so the layers' tiles concatenate into one.
# `base` is the crews' and dispatchers' base map; `streets` is what anyone (a customer) may see.
COMPOSITES = {"base": ("zones", "roads", "feeders", "transformers"), "streets": ("zones", "roads")}
_ENVELOPE = "ST_TileEnvelope(:z, :x, :y)"


def _composite_sql(name: str, x: str = ":x", y: str = ":y") -> str:
    """The composite tile as one bytea expression, for the tile at (x, y): literals or column names."""
    parts = (f"coalesce(({_mvt_sql(LAYERS[layer])}), ''::bytea)" for layer in COMPOSITES[name])
    return " || ".join(parts).replace(_ENVELOPE, f"ST_TileEnvelope(:z, {x}, {y})")


_COMPOSITE_TILES = {name: text("SELECT " + _composite_sql(name)) for name in COMPOSITES}


async def tile(session: AsyncSession, layer: Layer | str, z: int, x: int, y: int) -> bytes:
    """One layer's tile, or a composite's (named by a string) with its layers together."""
    query = _COMPOSITE_TILES[layer] if isinstance(layer, str) else text(_mvt_sql(layer))
    data = (await session.exec(query, params={"z": z, "x": x, "y": y})).scalar_one()
    return bytes(data or b"")


async def layer_geojson(session: AsyncSession, layer: Layer, west: float, south: float, east: float,
                        north: float, limit: int) -> dict:
    query = text(f"""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
            json_build_object('type', 'Feature', 'geometry', f.geometry, 'properties', to_jsonb(f) - 'geometry')
        ), '[]'::json))
        FROM ({layer.geojson_sql} LIMIT :limit) f""")
    return (await session.exec(query, params={"w": west, "s": south, "e": east, "n": north,
                                              "limit": limit})).scalar_one()


_EXTENT = text("""
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
    FROM (SELECT ST_Extent(area) AS e FROM zone) zones
""")


async def network_extent(session: AsyncSession) -> tuple[float, float, float, float] | None:
    """The service area's box (lon/lat): tiles outside it are empty without asking the database."""
    row = (await session.exec(_EXTENT)).one()
    return None if row[0] is None else tuple(row)


def tile_box(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of a web-mercator tile."""
    n = 2 ** z

    def lon(col: int) -> float:
        return col / n * 360.0 - 180.0

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return lon(x), lat(y + 1), lon(x + 1), lat(y)


def boxes_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float],
                  margin: float = 0.01) -> bool:
    return not (a[2] < b[0] - margin or a[0] > b[2] + margin or a[3] < b[1] - margin or a[1] > b[3] + margin)


@dataclass(frozen=True)
class OfflineArea:
    """The base-map tiles a crew keeps for a zone or a job's surroundings, so their map works with no signal."""

    name: str
    bbox: tuple[float, float, float, float]
    min_zoom: int
    max_zoom: int   # the highest zoom kept: the map draws closer views from it
    tiles: list[str]
    count: int
    bytes: int
    capped: bool  # higher zooms were left out to stay under the size cap


def tiles_covering(bbox: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    west, south, east, north = bbox
    n = 2 ** z

    def column(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180) / 360 * n)))

    def row(lat: float) -> int:
        lat = max(min(lat, 85.0511), -85.0511)
        return min(n - 1, max(0, int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)))

    return [(x, y) for x in range(column(west), column(east) + 1) for y in range(row(north), row(south) + 1)]


def box_around(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A box reaching radius_m from the point on every side (degrees; longitude shrinks toward the poles)."""
    dlat = radius_m / 111_320
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    return max(lon - dlon, -180.0), max(lat - dlat, -85.0511), min(lon + dlon, 180.0), min(lat + dlat, 85.0511)


def tiles_at_most(levels: int, max_tiles: int, bbox: tuple[float, float, float, float], min_zoom: int) -> int:
    """The highest zoom (from min_zoom, at most min_zoom + levels - 1) whose tiles, counted from min_zoom,
    stay within max_tiles: a huge zone is refused high zooms before any tile is made."""
    total, top = 0, min_zoom - 1
    for z in range(min_zoom, min_zoom + levels):
        total += len(tiles_covering(bbox, z))
        if total > max_tiles:
            break
        top = z
    return top


# Every composite tile of one zoom level, measured in one query; empty ones (answered 204) are left out.
_LEVEL_SIZES = text(f"""
    SELECT wanted.tx, wanted.ty, length(tile) FROM unnest(CAST(:xs AS int[]), CAST(:ys AS int[])) AS wanted(tx, ty),
    LATERAL (SELECT {_composite_sql("base", "wanted.tx", "wanted.ty")} AS tile) made
    WHERE length(tile) > 0
    ORDER BY wanted.tx, wanted.ty
""")
MAX_AREA_TILES = 20_000  # far beyond any cap in bytes; only stops a continent-sized zone before the database


async def offline_area(session: AsyncSession, name: str, bbox: tuple[float, float, float, float],
                       min_zoom: int, max_zoom: int, max_bytes: int) -> OfflineArea:
    """The base tiles of the box from min_zoom up, a level at a time, stopping at the first level that
    would pass the cap: no tile of a level beyond it is made."""
    top = min(max_zoom, tiles_at_most(max_zoom - min_zoom + 1, MAX_AREA_TILES, bbox, min_zoom))
    tiles, total, kept = [], 0, min_zoom - 1
    for z in range(min_zoom, top + 1):
        coords = tiles_covering(bbox, z)
        rows = (await session.exec(_LEVEL_SIZES, params={
            "z": z, "xs": [x for x, _ in coords], "ys": [y for _, y in coords]})).all()
        size = sum(row[2] for row in rows)
        if total + size > max_bytes:
            break
        tiles += [f"/tiles/base/{z}/{x}/{y}.mvt" for x, y, _ in rows]
        total, kept = total + size, z
    return OfflineArea(name, bbox, min_zoom, kept, tiles, len(tiles), total, capped=kept < max_zoom)


_ZONE_BOX = text("SELECT name, ST_XMin(area), ST_YMin(area), ST_XMax(area), ST_YMax(area) FROM zone WHERE id = :id")


async def zone_box(session: AsyncSession, zone_id: int) -> tuple[str, tuple[float, float, float, float]] | None:
    row = (await session.exec(_ZONE_BOX, params={"id": zone_id})).first()
    return None if row is None else (row[0], tuple(row[1:]))
