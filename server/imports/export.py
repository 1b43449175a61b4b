"""Export the network and customers in the formats the importer reads, so a utility can always leave.

An export imported again changes nothing: same columns and properties, coordinates printed exactly (points as
PostgreSQL's shortest exact float text; lines and polygons with 15 decimals). GeoJSON is written one feature per
line, as GIS tools do, so an import's line numbers point at the feature. Rows stream from the database
(COPY for the CSV, a server-side cursor for GeoJSON): a million customers never sit in memory.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

import psycopg

from server.db_url import libpq_url

FILENAMES = {"zones": "zones.geojson", "feeders": "feeders.geojson", "transformers": "transformers.geojson",
             "customers": "customers.csv"}
MEDIA_TYPES = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8"}

# A customer who sits exactly on their transformer came without coordinates: give them back without, so they
# keep following the transformer when the file is imported again.
_CUSTOMERS = """
    COPY (
        SELECT c.meter_no, c.phone, c.name, c.language, t.code AS transformer,
               CASE WHEN NOT on_transformer THEN ST_Y(c.location::geometry) END AS latitude,
               CASE WHEN NOT on_transformer THEN ST_X(c.location::geometry) END AS longitude
        FROM customer c
        LEFT JOIN transformer t ON t.id = c.transformer_id
        CROSS JOIN LATERAL (SELECT coalesce(ST_AsBinary(c.location) = ST_AsBinary(t.location), false)
                            AS on_transformer) p
        ORDER BY c.id
    ) TO STDOUT WITH (FORMAT csv, HEADER)"""

_FEATURES = {
    "zones": """
        SELECT json_build_object('type', 'Feature',
                                 'properties', json_build_object('name', z.name, 'responsible', s.username),
                                 'geometry', ST_AsGeoJSON(z.area, 15)::json)::text
        FROM zone z LEFT JOIN staff s ON s.id = z.responsible_staff_id ORDER BY z.name""",
    "feeders": """
        SELECT json_build_object('type', 'Feature',
                                 'properties', json_build_object('code', f.code, 'name', f.name, 'zone', z.name),
                                 'geometry', ST_AsGeoJSON(f.route, 15)::json)::text
        FROM feeder f LEFT JOIN zone z ON z.id = f.zone_id ORDER BY f.code""",
    "transformers": """
        SELECT json_build_object('type', 'Feature',
                                 'properties', json_build_object('code', t.code, 'feeder', f.code),
                                 'geometry', json_build_object('type', 'Point', 'coordinates',
                                     json_build_array(ST_X(t.location::geometry), ST_Y(t.location::geometry))))::text
        FROM transformer t LEFT JOIN feeder f ON f.id = t.feeder_id ORDER BY t.code""",
}
_OPENING = b'{"type": "FeatureCollection", "features": [\n'
_CLOSING = b'\n]}\n'


def media_type(kind: str) -> str:
    return MEDIA_TYPES["csv" if kind == "customers" else "geojson"]


def _framed(features: Iterator[str]) -> Iterator[bytes]:
    yield _OPENING
    for i, feature in enumerate(features):
        yield (b",\n" if i else b"") + feature.encode()
    yield _CLOSING


def export_to(database_url: str, kind: str, out: BinaryIO) -> None:
    """Write one kind to a binary stream (the CLI)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        if kind == "customers":
            with conn.cursor().copy(_CUSTOMERS) as copy:
                for block in copy:
                    out.write(block)
            return
        with conn.cursor(name="export") as cursor:
            cursor.itersize = 2000
            cursor.execute(_FEATURES[kind])
            for chunk in _framed(row[0] for row in cursor):
                out.write(chunk)


async def export_chunks(database_url: str, kind: str) -> AsyncIterator[bytes]:
    """The same bytes as export_to, as they come (the web download)."""
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as conn:
        if kind == "customers":
            async with conn.cursor().copy(_CUSTOMERS) as copy:
                async for block in copy:
                    yield bytes(block)
            return
        async with conn.cursor(name="export") as cursor:
            cursor.itersize = 2000
            await cursor.execute(_FEATURES[kind])
            yield _OPENING
            first = True
            async for (feature,) in cursor:
                yield (b"" if first else b",\n") + feature.encode()
                first = False
            yield _CLOSING
