"""What makes a row or a feature importable, as pure functions: no database, no files.

Set-wide rules (duplicates, unknown codes, places outside every zone, too far from the transformer) need the
whole file or the network and run in SQL in server.imports.service; these are the rules one row can answer.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from server.i18n import N_
from server.phones import normalise_phone
from server.settings import LANGUAGES

KINDS = ("zones", "feeders", "transformers", "customers")
# The order a new deployment loads them in: each refers to the one before.
FORMATS = {"zones": "geojson", "feeders": "geojson", "transformers": "geojson", "customers": "csv"}
KIND_LABELS = {
    "zones": N_("Zones (GeoJSON polygons)"),
    "feeders": N_("Feeders (GeoJSON lines)"),
    "transformers": N_("Transformers (GeoJSON points)"),
    "customers": N_("Customers (CSV)"),
}
MAX_PROBLEMS = 1000  # listed in a report; every problem is still counted
METER_MAX, CODE_MAX, NAME_MAX, ZONE_NAME_MAX = 40, 40, 200, 120
# A customer's point this far from their transformer is a wrong coordinate, not a long service line.
CUSTOMER_MAX_METRES = 5000

# Where a deployment's network can be (west, south, east, north), with half a degree to spare, for the
# countries Faultline serves: a point outside is in another coordinate system or has its axes swapped.
# A region not listed here skips this check (zones, feeders and points are still held to the zones).
COUNTRY_BOUNDS = {
    "KE": (33.4, -5.2, 42.4, 5.5),
    "TZ": (28.8, -12.3, 40.9, -0.5),
    "UG": (29.0, -2.0, 35.5, 4.7),
    "RW": (28.4, -3.3, 31.4, -0.6),
    "AL": (18.8, 39.1, 21.6, 43.2),
    "VN": (101.6, 7.7, 110.0, 23.9),
    "IN": (67.6, 6.2, 97.9, 36.1),
}


@dataclass(frozen=True)
class Problem:
    """Why a line cannot be imported. `message` is a msgid, filled with `values` when shown."""

    line: int | None
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def english(self) -> str:
        text = self.message % self.values if self.values else self.message
        return f"line {self.line}: {text}" if self.line else text


def shown(value: Any, limit: int = 60) -> str:
    """A value from the file, cut short enough to quote in a message."""
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- CSV customers

COLUMN_ALIASES = {
    "meter_no": ("meter_no", "meter", "meter_number", "meterno", "meter_num"),
    "phone": ("phone", "phone_number", "mobile", "msisdn", "telephone", "tel"),
    "name": ("name", "customer_name", "full_name", "customer"),
    "language": ("language", "lang"),
    "transformer": ("transformer", "transformer_code", "dt", "dt_code"),
    "latitude": ("latitude", "lat", "y"),
    "longitude": ("longitude", "lon", "lng", "long", "x"),
}
REQUIRED_COLUMNS = ("meter_no", "transformer")


def _column_key(header: str) -> str:
    return re.sub(r"[\s\-.]+", "_", header.strip().strip('"').lower()).strip("_")


@dataclass(frozen=True)
class CsvColumns:
    """Where each known column is in the file's rows (None when the file lacks it)."""

    index: dict[str, int | None]
    width: int
    unused: tuple[str, ...]

    def has(self, column: str) -> bool:
        return self.index.get(column) is not None


def read_header(header: Sequence[str]) -> CsvColumns | Problem:
    by_key = {_column_key(h): i for i, h in reversed(list(enumerate(header)))}
    index: dict[str, int | None] = {}
    used: set[int] = set()
    for column, aliases in COLUMN_ALIASES.items():
        index[column] = next((by_key[a] for a in aliases if a in by_key), None)
        if index[column] is not None:
            used.add(index[column])
    missing = [c for c in REQUIRED_COLUMNS if index[c] is None]
    if missing:
        return Problem(1, N_("The column %(column)s is missing. The first line must name the columns; "
                             "these are needed: %(required)s."),
                       {"column": missing[0], "required": ", ".join(REQUIRED_COLUMNS)})
    if (index["latitude"] is None) != (index["longitude"] is None):
        return Problem(1, N_("The file has a latitude column without a longitude column, or the other way round."))
    unused = tuple(h for i, h in enumerate(header) if i not in used and h.strip())
    return CsvColumns(index, len(header), unused)


def sniff_delimiter(header_line: str) -> str:
    """Comma, or what spreadsheets in comma-decimal countries write (semicolon), or tab."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass(frozen=True)
class _Desc:
    lengths: frozenset[int]
    pattern: re.Pattern

    def matches(self, national: str) -> bool:
        return (not self.lengths or len(national) in self.lengths) and self.pattern.fullmatch(national) is not None


@dataclass(frozen=True)
class _NumberingPlan:
    """One country code's validity rules, read from phonenumbers' own metadata and compiled once."""

    prefix: re.Pattern | None   # a national prefix the parser would strip: such numbers take the slow path
    general: _Desc
    types_by_length: dict[int, re.Pattern]  # every number type that allows this length, as one pattern

    def valid(self, national: str) -> bool:
        types = self.types_by_length.get(len(national))
        return types is not None and self.general.matches(national) and types.fullmatch(national) is not None


def _desc(desc: Any) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return _Desc(frozenset(desc.possible_length), re.compile(desc.national_number_pattern))


@lru_cache(maxsize=None)
def _plan(country: int) -> _NumberingPlan | None:
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country)
    if not regions or len(regions) != 1:  # +1, +7, +44…: several regions share the code; the parser decides
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country, regions[0])
    general = _desc(metadata.general_desc) if metadata else None
    if general is None:
        return None
    # The same descriptions, in the same sense, as phonenumbers' _number_type_helper: valid means the general
    # pattern and at least one type's pattern match, each within its possible lengths.
    kinds = [d for d in map(_desc, (metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
                                    metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail,
                                    metadata.fixed_line, metadata.mobile)) if d is not None]
    by_length = {}
    for length in range(1, 18):
        patterns = [d.pattern.pattern for d in kinds if not d.lengths or length in d.lengths]
        if patterns:
            by_length[length] = re.compile("|".join(f"(?:{p})" for p in patterns))
    prefix = re.compile(metadata.national_prefix_for_parsing) if metadata.national_prefix_for_parsing else None
    return _NumberingPlan(prefix, general, by_length)


def phone_e164(raw: str, region: str) -> str | None:
    """normalise_phone with a fast path for numbers already in E.164, as exports usually hold them.

    Parsing costs about 30 µs a number; matching an E.164 number against its country's compiled numbering
    plan about 1. A million customers feel the difference. The answers are normalise_phone's: anything the
    fast path cannot decide exactly (shared country codes, leading zeros, national prefixes) takes the slow
    path, and a unit test holds the two equal on numbers from every country code.
    """
    if _E164.fullmatch(raw):
        digits = raw[1:]
        for size in (1, 2, 3):  # country codes are prefix-free: the first one that exists is the one
            country = int(digits[:size])
            if country in COUNTRY_CODE_TO_REGION_CODE:
                national = digits[size:]
                plan = _plan(country)
                exact = plan is not None and national[:1] != "0" and not (plan.prefix and plan.prefix.match(national))
                if exact:
                    return raw if plan.valid(national) else None
                break
    return normalise_phone(raw, region)


_LANGUAGE_NAMES = {"english": "en", "kiswahili": "sw", "swahili": "sw", "hindi": "hi", "हिन्दी": "hi",
                   "vietnamese": "vi", "tiếng việt": "vi", "albanian": "sq", "shqip": "sq"}


def language_code(raw: str) -> str | None:
    """'sw', 'sw-KE', 'Kiswahili' → 'sw'; None when it is none of Faultline's languages."""
    value = raw.strip().lower()
    if value in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[value]
    code = value.replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None


def meter_ok(meter_no: str) -> bool:
    """The same rule as the report form's: letters, digits and dashes."""
    return len(meter_no) <= METER_MAX and meter_no.replace("-", "").isalnum()


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_point(longitude: float, latitude: float, region: str) -> Problem | None:
    """Degrees in range, and inside the deployment's country when we know its bounds."""
    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        return Problem(None, N_("%(latitude)s, %(longitude)s is not a place in degrees: latitude goes from -90 to "
                                "90 and longitude from -180 to 180. Export the coordinates in WGS 84 (EPSG:4326)."),
                       {"latitude": shown(latitude), "longitude": shown(longitude)})
    bounds = COUNTRY_BOUNDS.get(region)
    if bounds is None or _inside(bounds, longitude, latitude):
        return None
    if _inside(bounds, latitude, longitude):
        return Problem(None, N_("This point lies outside %(region)s, but would be inside with latitude and "
                                "longitude the other way round: the two columns look swapped."),
                       {"region": region})
    return Problem(None, N_("This point lies outside %(region)s: check the coordinate system (WGS 84 degrees) "
                            "and which column is latitude and which longitude."), {"region": region})


def _inside(bounds: tuple[float, float, float, float], longitude: float, latitude: float) -> bool:
    west, south, east, north = bounds
    return west <= longitude <= east and south <= latitude <= north


@dataclass(frozen=True)
class CustomerRow:
    meter_no: str
    name: str | None
    phone: str | None
    language: str | None
    transformer: str
    longitude: float | None
    latitude: float | None


class CustomerRowRule:
    """Checks one CSV row (already split into fields) of the customer file."""

    def __init__(self, columns: CsvColumns, region: str) -> None:
        self.columns, self.region = columns, region
        i = columns.index
        self._meter, self._transformer = i["meter_no"], i["transformer"]
        self._name, self._phone, self._language = i["name"], i["phone"], i["language"]
        self._lat, self._lon = i["latitude"], i["longitude"]

    def keys(self, fields: list[str]) -> tuple[str, str] | None:
        """Meter number and transformer code of a row with problems, so the file-wide checks (duplicates,
        unknown transformers) still report on it: one report lists everything wrong with a line."""
        if len(fields) != self.columns.width:
            return None
        meter_no = fields[self._meter].strip().upper().replace("\x00", "")
        transformer = fields[self._transformer].strip().replace("\x00", "")
        if not meter_no or not transformer or not (meter_no + transformer).isascii() and \
                not _encodes(meter_no + transformer):
            return None
        return meter_no[:METER_MAX * 2], transformer[:CODE_MAX * 2]

    def check(self, fields: list[str], line: int) -> CustomerRow | list[Problem]:
        if len(fields) != self.columns.width:
            if any("\n" in value for value in fields):  # a quote swallowed the lines after it
                return [Problem(line, N_("This line cannot be read as CSV: look for a quote that is opened and "
                                         "never closed."))]
            return [Problem(line, N_("This line has %(found)s columns; the first line names %(expected)s."),
                            {"found": len(fields), "expected": self.columns.width})]
        problems: list[Problem] = []
        for value in fields:
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    return [Problem(line, N_("This line is not UTF-8 text. Save the file as “CSV UTF-8” and "
                                             "import it again."))]
        meter_no = fields[self._meter].strip().upper().replace("\x00", "")
        if not meter_no:
            problems.append(Problem(line, N_("The meter number is missing.")))
        elif not meter_ok(meter_no):
            problems.append(Problem(line, N_("The meter number %(value)s may hold only letters, digits and dashes "
                                             "(at most 40)."), {"value": shown(meter_no)}))
        transformer = fields[self._transformer].strip().replace("\x00", "")
        if not transformer:
            problems.append(Problem(line, N_("The transformer code is missing.")))
        elif len(transformer) > CODE_MAX:
            problems.append(Problem(line, N_("The transformer code %(value)s is longer than %(limit)s characters."),
                                    {"value": shown(transformer), "limit": CODE_MAX}))
        name = None
        if self._name is not None:
            name = " ".join(fields[self._name].replace("\x00", "").split())
            if len(name) > NAME_MAX:
                problems.append(Problem(line, N_("The name is longer than %(limit)s characters."),
                                        {"limit": NAME_MAX}))
        phone = None
        if self._phone is not None:
            raw = fields[self._phone].strip()
            if raw:
                phone = phone_e164(raw, self.region)
                if phone is None:
                    problems.append(Problem(line, N_("The phone number %(value)s is not a valid phone number."),
                                            {"value": shown(raw)}))
        language = None
        if self._language is not None:
            raw = fields[self._language].strip()
            if raw:
                language = language_code(raw)
                if language is None:
                    problems.append(Problem(line, N_("Unknown language %(value)s. Use one of: %(languages)s."),
                                            {"value": shown(raw), "languages": ", ".join(LANGUAGES)}))
        longitude = latitude = None
        if self._lat is not None:
            lat_raw, lon_raw = fields[self._lat].strip(), fields[self._lon].strip()
            if lat_raw or lon_raw:
                latitude, longitude = _number(lat_raw), _number(lon_raw)
                if not lat_raw or not lon_raw:
                    problems.append(Problem(line, N_("Give both latitude and longitude, or leave both empty "
                                                     "to place the customer at their transformer.")))
                elif latitude is None or longitude is None:
                    problems.append(Problem(line, N_("%(latitude)s, %(longitude)s is not a pair of numbers."),
                                            {"latitude": shown(lat_raw), "longitude": shown(lon_raw)}))
                else:
                    off = check_point(longitude, latitude, self.region)
                    if off is not None:
                        problems.append(Problem(line, off.message, off.values))
        if problems:
            return problems
        return CustomerRow(meter_no, name, phone, language, transformer, longitude, latitude)


# ---------------------------------------------------------------- GeoJSON network

@dataclass(frozen=True)
class FeatureRule:
    """What one kind of network feature looks like in GeoJSON."""

    geometry_types: tuple[str, ...]
    geometry_label: str
    key: str                      # the natural key's property: zone name, feeder code, transformer code
    key_aliases: tuple[str, ...]
    key_max: int
    name_aliases: tuple[str, ...] = ()   # a feeder's display name
    ref: str | None = None        # what the feature points at: a zone's responsible person, a feeder's zone…
    ref_aliases: tuple[str, ...] = ()


FEATURE_RULES = {
    "zones": FeatureRule(("Polygon", "MultiPolygon"), N_("polygon"), "name", ("name", "zone", "zone_name"),
                         ZONE_NAME_MAX, ref="responsible", ref_aliases=("responsible", "responsible_username")),
    "feeders": FeatureRule(("LineString", "MultiLineString"), N_("line"), "code", ("code", "feeder_code", "feeder"),
                           CODE_MAX, name_aliases=("name", "feeder_name"), ref="zone",
                           ref_aliases=("zone", "zone_name")),
    "transformers": FeatureRule(("Point",), N_("point"), "code", ("code", "transformer_code", "transformer"),
                                CODE_MAX, ref="feeder", ref_aliases=("feeder", "feeder_code")),
}


@dataclass(frozen=True)
class NetworkFeature:
    key: str
    name: str | None
    ref: str | None
    ref_given: bool  # the property is in the file (empty clears it; absent keeps what the database has)
    geometry: dict


def _property(properties: dict, aliases: tuple[str, ...]) -> tuple[bool, str | None]:
    lowered = {str(k).strip().lower(): v for k, v in properties.items()}
    for alias in aliases:
        if alias in lowered:
            value = lowered[alias]
            if value is None:
                return True, None
            text = " ".join(str(value).replace("\x00", "").split())
            return True, text or None
    return False, None


def _position_ok(position: Any) -> bool:
    return (isinstance(position, list) and len(position) in (2, 3)
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in position))


def _line_ok(positions: Any) -> bool:
    return isinstance(positions, list) and len(positions) >= 2 and all(_position_ok(p) for p in positions)


def _polygon_ok(rings: Any) -> bool:
    return (isinstance(rings, list) and len(rings) >= 1
            and all(_line_ok(ring) and len(ring) >= 4 and ring[0][:2] == ring[-1][:2] for ring in rings))


def geometry_shape_ok(geometry: dict) -> bool:
    """Enough structure for PostGIS to read it: numbers, closed rings, lines of two points or more."""
    coordinates = geometry.get("coordinates")
    return {
        "Point": _position_ok,
        "LineString": _line_ok,
        "MultiLineString": lambda c: isinstance(c, list) and len(c) >= 1 and all(_line_ok(x) for x in c),
        "Polygon": _polygon_ok,
        "MultiPolygon": lambda c: isinstance(c, list) and len(c) >= 1 and all(_polygon_ok(x) for x in c),
    }.get(geometry.get("type"), lambda c: False)(coordinates)


def check_feature(kind: str, feature: Any, line: int) -> NetworkFeature | list[Problem]:
    rule = FEATURE_RULES[kind]
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return [Problem(line, N_("This is not a GeoJSON Feature."))]
    problems: list[Problem] = []
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        properties = {}
    _given, key = _property(properties, rule.key_aliases)
    if key is None:
        problems.append(Problem(line, N_("The feature has no %(property)s property."), {"property": rule.key}))
    elif len(key) > rule.key_max:
        problems.append(Problem(line, N_("%(value)s is longer than %(limit)s characters."),
                                {"value": shown(key), "limit": rule.key_max}))
    name = None
    if rule.name_aliases:
        _given, name = _property(properties, rule.name_aliases)
        if name is not None and len(name) > 120:
            problems.append(Problem(line, N_("The name is longer than %(limit)s characters."), {"limit": 120}))
    ref_given, ref = _property(properties, rule.ref_aliases) if rule.ref else (False, None)
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in rule.geometry_types:
        found = geometry.get("type") if isinstance(geometry, dict) else None
        problems.append(Problem(line, N_("Each feature needs a %(wanted)s geometry; this one has %(found)s."),
                                {"wanted": rule.geometry_label, "found": shown(found or "none")}))
    elif not geometry_shape_ok(geometry):
        problems.append(Problem(line, N_("The geometry's coordinates are incomplete or not numbers (a ring must "
                                         "close on its first point, a line needs two points).")))
    if problems:
        return problems
    return NetworkFeature(key, name, ref, ref_given, {"type": geometry["type"], "coordinates": geometry["coordinates"]})


def crs_srid(crs: Any) -> int | None:
    """The EPSG code a (2008-style) GeoJSON `crs` member names; 4326 when absent; None when unreadable."""
    if crs is None:
        return 4326
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if not isinstance(name, str):
        return None
    if "CRS84" in name.upper():
        return 4326
    match = re.search(r"EPSG\D*?(?:[\d.]+:)?:?(\d+)$", name, re.IGNORECASE) or \
        re.search(r"/EPSG/\d+/(\d+)$", name, re.IGNORECASE)
    return int(match.group(1)) if match else None
