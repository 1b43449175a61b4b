"""The public outages page and feed (the dispatcher's console is server/dispatch/)."""
from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import CacheControlHeader
from litestar.params import QueryParameter
from litestar.response import Template

from server.api_docs import errors
from server.db import DbSession
from server.incidents.service import outages_by_zone, outages_geojson
from server.labels import CATEGORY_LABELS
from server.staff.guards import PUBLIC


class PublicOutages(Controller):
    """What anyone may see before calling: open faults and planned work, by area. Nothing personal."""

    opt = PUBLIC

    @get("/outages", cache_control=CacheControlHeader(max_age=30, public=True))
    async def outages_page(self, db_session: DbSession) -> Template:
        return Template("outages/index.html", context={"areas": await outages_by_zone(db_session),
                                                       "categories": CATEGORY_LABELS})

    @get("/outages.geojson", media_type="application/geo+json", include_in_schema=True, tags=["outages"],
         cache_control=CacheControlHeader(max_age=30, public=True), responses=errors(400),
         summary="Current and planned outages as GeoJSON (at transformers, never a customer's point)")
    async def outages_feed(self, db_session: DbSession,
                           zone: Annotated[str | None, QueryParameter(max_length=120)] = None) -> dict:
        # A NUL byte cannot be in a zone's name, and PostgreSQL refuses it in text: no such zone.
        return await outages_geojson(db_session, zone.replace("\x00", "") if zone else zone)
