"""Map endpoints: vector tiles per layer, GeoJSON per layer by box, the base map, the map's settings."""
from __future__ import annotations

import hashlib
import re
import time
from typing import Annotated

from litestar import Controller, Request, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Response

from maps import service
from server.api_docs import errors
from server.db import DbSession
from server.i18n import N_
from server.refusals import Refused
from server.staff.guards import PUBLIC

ATTRIBUTION = "Network and streets: Faultline demo data"
MVT = "application/vnd.mapbox-vector-tile"
# Anyone may see the service area and its streets; the network and live operations are for staff.
PUBLIC_LAYERS = {"zones", "roads", "streets"}
STAFF_ROLES = {"agent", "dispatcher", "lineman", "supervisor", "admin"}
MAX_ZOOM = 22
MAX_BOX_DEGREES = 1.0  # about 110 km a side: a city, not a country
MAX_FEATURES = 5000
EXTENT_SECONDS = 60
OFFLINE_AREA_SECONDS = 3600  # the base layers change only when a utility imports its network
OFFLINE_AREAS_KEPT = 500  # measured areas remembered per process (jobs are many; zones few)
ZONE_MIN_ZOOM = 11  # a zone of a few km fits a phone's screen at 11
AROUND_MIN_ZOOM = 13  # a job's few streets
TILE_NAME = re.compile(r"(\d{1,8})\.mvt")


def _layer(request: Request, name: str) -> service.Layer | str:
    """The layer to serve (a composite's name for several together), once the reader may see it."""
    layer = service.LAYERS.get(name) or (name if name in service.COMPOSITES else None)
    if layer is None:
        names = ", ".join(sorted([*service.LAYERS, *service.COMPOSITES]))
        raise Refused(N_("There is no map layer %(name)s. The layers are: %(names)s."), 404, name=name[:40], names=names)
    if name not in PUBLIC_LAYERS:
        staff = request.scope.get("user")
        if staff is None:
            raise NotAuthorizedException(N_("Please sign in."))
        if staff.role not in STAFF_ROLES:
            raise PermissionDeniedException(N_("Your role cannot open this page."))
    return layer


async def _extent(request: Request, session) -> tuple | None:
    """The service area's box, refreshed each minute (imports can move it)."""
    cached = getattr(request.app.state, "map_extent", None)
    if cached is None or time.monotonic() - cached[0] > EXTENT_SECONDS:
        cached = (time.monotonic(), await service.network_extent(session))
        request.app.state.map_extent = cached
    return cached[1]


def _cache_header(layer: service.Layer | str) -> str:
    name = layer if isinstance(layer, str) else layer.name
    if not isinstance(layer, str) and layer.live:
        return "private, max-age=5"
    return "public, max-age=3600" if name in PUBLIC_LAYERS else "private, max-age=3600"


TILE_ANSWERS = {**errors(400, 401, 403, 404),
                204: ResponseSpec(data_container=None, description="No features here (or outside the service area)."),
                304: ResponseSpec(data_container=None, description="The tile is the one named by If-None-Match.")}


class MapLayers(Controller):
    opt = PUBLIC  # each layer checks its own audience (see PUBLIC_LAYERS)
    tags = ["maps"]
    include_in_schema = True

    @get("/tiles/{name:str}/{z:int}/{x:int}/{tile_name:str}", summary="A vector tile (Mapbox Vector Tile)",
         media_type=MVT, responses=TILE_ANSWERS)
    async def vector_tile(self, request: Request, db_session: DbSession, name: FromPath[str], z: FromPath[int],
                          x: FromPath[int], tile_name: FromPath[str]) -> Response:
        """`/tiles/{layer}/{z}/{x}/{y}.mvt`: layers incidents, crews, transformers, zones, feeders, roads;
        `base` is zones, roads, feeders and transformers in one tile (the staff's base map, kept offline by
        crews); `streets` is zones and roads, for anyone."""
        layer = _layer(request, name)
        match = TILE_NAME.fullmatch(tile_name)
        if not match:
            raise Refused(N_("A tile is named {y}.mvt, for example /tiles/roads/14/9824/8196.mvt."), 400)
        y = int(match.group(1))
        if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
            raise Refused(N_("No such tile: the zoom is 0 to %(max)s, and x and y are between 0 and 2^zoom − 1."), 400,
                          max=MAX_ZOOM)
        headers = {"cache-control": _cache_header(layer)}
        extent = await _extent(request, db_session)
        if extent is None or not service.boxes_overlap(service.tile_box(z, x, y), extent):
            return Response(b"", status_code=204, media_type=MVT, headers=headers)  # outside the area: no query
        data = await service.tile(db_session, layer, z, x, y)
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        headers["etag"] = etag
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers=headers)
        return Response(data, status_code=200 if data else 204, media_type=MVT, headers=headers)

    @get("/maps/layers/{file_name:str}", summary="A layer as GeoJSON, within a box",
         media_type="application/geo+json", responses=errors(400, 401, 403, 404))
    async def layer_by_box(self, request: Request, db_session: DbSession, file_name: FromPath[str],
                           bbox: Annotated[str, QueryParameter(max_length=100)]) -> Response:
        """`/maps/layers/{layer}.geojson?bbox=west,south,east,north` (degrees), for small clients."""
        if not file_name.endswith(".geojson"):
            raise Refused(N_("Layers are served as /maps/layers/{layer}.geojson."), 404)
        layer = _layer(request, file_name.removesuffix(".geojson"))
        if isinstance(layer, str):
            raise Refused(N_("The %(layer)s map comes as tiles: /tiles/%(layer)s/{z}/{x}/{y}.mvt."), 404, layer=layer)
        west, south, east, north = _bbox(bbox)
        extent = await _extent(request, db_session)
        if extent and not service.boxes_overlap((west, south, east, north), extent) \
                and -90 <= west and east <= 90 and service.boxes_overlap((south, west, north, east), extent):
            raise Refused(N_("bbox looks like latitude,longitude: send west,south,east,north (longitude first)."),
                          400, "bbox")
        collection = await service.layer_geojson(db_session, layer, west, south, east, north, MAX_FEATURES)
        return Response(collection, media_type="application/geo+json",
                        headers={"cache-control": _cache_header(layer)})

    @get("/maps/offline/zones/{zone_id:int}", summary="The tiles a crew keeps for a zone",
         responses=errors(400, 401, 403, 404))
    async def offline_zone(self, request: Request, db_session: DbSession, zone_id: FromPath[int],
                           max_zoom: Annotated[int, QueryParameter(ge=ZONE_MIN_ZOOM, le=18)] = 16) -> dict:
        """Base-map tiles of a zone from zoom 11 up to `max_zoom`: their URLs, count and total bytes,
        under the size cap (FAULTLINE_OFFLINE_MAP_MAX_BYTES; higher zooms are dropped first)."""
        _layer(request, "base")
        cap = request.app.state.settings.maps.offline_max_bytes

        async def measure():
            found = await service.zone_box(db_session, zone_id)
            if found is None:
                raise Refused(N_("There is no zone with this number."), 404)
            return await service.offline_area(db_session, found[0], found[1], ZONE_MIN_ZOOM, max_zoom, cap)

        return _area_json(await _remembered(request, ("zone", zone_id, max_zoom, cap), measure), cap)

    @get("/maps/offline/around", summary="The tiles a crew keeps around a job", responses=errors(400, 401, 403))
    async def offline_around(self, request: Request, db_session: DbSession,
                             lat: Annotated[float, QueryParameter(ge=-85, le=85)],
                             lon: Annotated[float, QueryParameter(ge=-180, le=180)],
                             radius: Annotated[int, QueryParameter(ge=100, le=5000)] = 1000,
                             max_zoom: Annotated[int, QueryParameter(ge=AROUND_MIN_ZOOM, le=18)] = 16) -> dict:
        """Base-map tiles within `radius` metres of a point (a job), zoom 13 up to `max_zoom`, under the cap.
        The phone keeps them while the job is on it, so the job's map works with no signal outside its zone."""
        _layer(request, "base")
        cap = request.app.state.settings.maps.offline_max_bytes
        lat, lon = round(lat, 4), round(lon, 4)  # about 10 m: nearby jobs share one measured area

        async def measure():
            return await service.offline_area(db_session, "", service.box_around(lon, lat, radius),
                                              AROUND_MIN_ZOOM, max_zoom, cap)

        return _area_json(await _remembered(request, ("around", lat, lon, radius, max_zoom, cap), measure), cap)

    @get("/maps/config.json", cache_control=CacheControlHeader(max_age=300, public=True),
         summary="What a map needs: base map, credit line, service area, layers")
    async def config(self, request: Request, db_session: DbSession) -> dict:
        """What a map page needs: the base map to draw, its credit line, the service area, the layers."""
        settings = request.app.state.settings.maps
        return {
            "basemap": {"url": settings.basemap_url or None, "kind": settings.basemap_kind,
                        "attribution": settings.basemap_attribution if settings.basemap_url else ATTRIBUTION},
            "attribution": ATTRIBUTION,
            "extent": await _extent(request, db_session),
            "layers": {name: {"tiles": f"/tiles/{name}/{{z}}/{{x}}/{{y}}.mvt", "live": layer.live,
                              "public": name in PUBLIC_LAYERS} for name, layer in service.LAYERS.items()},
        }


async def _remembered(request: Request, key: tuple, measure) -> service.OfflineArea:
    """Measuring an area makes each of its tiles once: keep the answer for an hour (the base layers change
    only when a utility imports its network)."""
    cache = request.app.state.offline_areas if hasattr(request.app.state, "offline_areas") else {}
    request.app.state.offline_areas = cache
    kept = cache.get(key)
    if kept is None or time.monotonic() - kept[0] > OFFLINE_AREA_SECONDS:
        if len(cache) >= OFFLINE_AREAS_KEPT:
            cache.clear()
        kept = cache[key] = (time.monotonic(), await measure())
    return kept[1]


def _area_json(area: service.OfflineArea, cap: int) -> dict:
    return {"name": area.name, "bbox": area.bbox, "min_zoom": area.min_zoom, "max_zoom": area.max_zoom,
            "count": area.count, "bytes": area.bytes, "capped": area.capped, "max_bytes": cap,
            "tiles": area.tiles}


def _bbox(raw: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(part) for part in raw.split(","))
    except ValueError:
        raise Refused(N_("bbox is west,south,east,north in degrees, for example 36.80,-1.30,36.84,-1.27."), 400,
                      "bbox") from None
    if not all(map(lambda v: v == v and abs(v) != float("inf"), (west, south, east, north))):
        raise Refused(N_("The four values of bbox must be numbers."), 400, "bbox")
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise Refused(N_("bbox must have west < east and south < north, longitude first."), 400, "bbox")
    if (east - west) * (north - south) > MAX_BOX_DEGREES:
        raise Refused(N_("bbox is too large: at most %(limit)s square degree; use the tiles instead."), 400, "bbox",
                      limit=MAX_BOX_DEGREES)
    return west, south, east, north
