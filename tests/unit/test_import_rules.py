"""Import rules that one row or one feature can answer, as table tests; the GeoJSON reader's line numbers."""
import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from server.imports import rules
from server.imports.geojson import GeoJsonUnreadable, read_feature_collection
from server.phones import normalise_phone

HEADER = ["meter_no", "phone", "name", "language", "transformer", "latitude", "longitude"]


def _rule(header=HEADER, region="KE"):
    columns = rules.read_header(header)
    assert isinstance(columns, rules.CsvColumns)
    return rules.CustomerRowRule(columns, region)


@pytest.mark.parametrize("header, expected", [
    (["Meter Number", "Phone", "Transformer_Code"], {"meter_no": 0, "phone": 1, "transformer": 2, "latitude": None}),
    (["\ufeffmeter_no", "DT", "lat", "lng"], {"meter_no": 0, "transformer": 1, "latitude": 2, "longitude": 3}),
    ([" METER ", "transformer", "notes"], {"meter_no": 0, "transformer": 1}),
])
def test_columns_are_found_by_their_usual_names(header, expected):
    columns = rules.read_header([h.lstrip("\ufeff") for h in header])
    assert all(columns.index[k] == v for k, v in expected.items())


@pytest.mark.parametrize("header, message", [
    (["phone", "transformer"], "The column meter_no is missing"),
    (["meter_no", "phone"], "The column transformer is missing"),
    (["meter_no", "transformer", "longitude"], "latitude column without a longitude"),
])
def test_a_header_without_what_is_needed_is_refused(header, message):
    problem = rules.read_header(header)
    assert isinstance(problem, rules.Problem) and message in problem.english()


def test_unused_columns_are_named():
    assert rules.read_header(["meter_no", "transformer", "tariff", "notes"]).unused == ("tariff", "notes")


@pytest.mark.parametrize("line, expected", [
    ("meter_no,transformer", ","), ("meter_no;transformer;name", ";"), ("meter_no\ttransformer", "\t"),
    ("meter_no", ","),
])
def test_the_delimiter_is_sniffed_from_the_header(line, expected):
    assert rules.sniff_delimiter(line) == expected


GOOD = ["14200000001", "+254712345678", "Amina Otieno", "sw", "T-F101-001", "-1.28", "36.82"]


@pytest.mark.parametrize("change, expected", [
    ({}, None),
    ({0: " 142-000 "}, None),
    ({0: ""}, "meter number is missing"),
    ({0: "14 2000"}, "letters, digits and dashes"),
    ({0: "9" * 41}, "letters, digits and dashes"),
    ({1: "0712 345 678"}, None),
    ({1: ""}, None),
    ({1: "12345"}, "not a valid phone number"),
    ({1: "+25471234567899"}, "not a valid phone number"),
    ({1: "call me"}, "not a valid phone number"),
    ({2: "x" * 201}, "longer than 200"),
    ({3: "Kiswahili"}, None), ({3: "sq-AL"}, None), ({3: ""}, None),
    ({3: "fr"}, "Unknown language fr"),
    ({4: ""}, "transformer code is missing"),
    ({4: "T" * 41}, "longer than 40"),
    ({5: "", 6: ""}, None),
    ({5: "-1.28", 6: ""}, "both latitude and longitude"),
    ({5: "abc", 6: "36.8"}, "not a pair of numbers"),
    ({5: "nan", 6: "36.8"}, "not a pair of numbers"),
    ({5: "-1.28", 6: "inf"}, "not a pair of numbers"),
    ({5: "9858000", 6: "256000"}, "not a place in degrees"),
    ({5: "36.82", 6: "-1.28"}, "look swapped"),
    ({5: "48.85", 6: "2.35"}, "outside KE"),
])
def test_customer_rows(change, expected):
    fields = [change.get(i, value) for i, value in enumerate(GOOD)]
    checked = _rule().check(fields, 7)
    if expected is None:
        assert isinstance(checked, rules.CustomerRow), [p.english() for p in checked]
    else:
        assert isinstance(checked, list) and all(p.line == 7 for p in checked)
        assert any(expected in p.english() for p in checked), [p.english() for p in checked]


def test_a_clean_row_is_normalised():
    row = _rule().check([" ab-12 ", "0712 345 678", "  Amina   Otieno ", "Kiswahili", " T-1 ", "", ""], 2)
    assert row == rules.CustomerRow("AB-12", "Amina Otieno", "+254712345678", "sw", "T-1", None, None)


def test_rows_of_the_wrong_width_and_not_utf8_are_refused():
    rule = _rule()
    assert "has 3 columns" in rule.check(["1", "2", "3"], 4)[0].english()
    assert "not UTF-8" in rule.check(["1", "", "Ndr\udcebit", "", "T", "", ""], 5)[0].english()
    assert "never closed" in rule.check(["1\nsecond line"], 6)[0].english()


def test_a_row_with_problems_still_gives_its_keys_for_the_file_wide_checks():
    rule = _rule()
    assert rule.keys([" 14 2 ", "12", "", "", " T-9 ", "", ""]) == ("14 2", "T-9")
    assert rule.keys(["", "12", "", "", "T-9", "", ""]) is None
    assert rule.keys(["1", "2"]) is None


def test_a_region_without_known_bounds_only_checks_degrees():
    rule = _rule(region="ZZ")
    assert isinstance(rule.check([*GOOD[:5], "48.85", "2.35"], 2), rules.CustomerRow)


def _phone_samples() -> list[str]:
    """Example numbers of every type in every region, and near misses of each."""
    rng = random.Random(11)
    samples = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            samples |= {e164, e164[:-1], e164 + "5"}
            for _ in range(4):
                digits = list(e164[1:])
                digits[rng.randrange(1, len(digits))] = rng.choice("0123456789")
                samples.add("+" + "".join(digits))
    return sorted(samples)


def test_the_fast_phone_check_agrees_with_the_parser_everywhere():
    samples = _phone_samples()
    disagree = [s for s in samples if rules.phone_e164(s, "KE") != normalise_phone(s, "KE")]
    assert len(samples) > 5000 and not disagree, disagree[:10]
    assert sum(normalise_phone(s, "KE") is not None for s in samples) > 2000  # valid ones were tried too


@pytest.mark.parametrize("raw, expected", [
    ("sw", "sw"), ("SW", "sw"), ("sw_KE", "sw"), ("hi-IN", "hi"), ("English", "en"), ("Shqip", "sq"),
    ("tiếng việt", "vi"), ("fr", None), ("", None),
])
def test_language_codes(raw, expected):
    assert rules.language_code(raw) == expected


@pytest.mark.parametrize("crs, srid", [
    (None, 4326),
    ({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, 4326),
    ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32737"}}, 32737),
    ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG:6.6:4326"}}, 4326),
    ({"type": "name", "properties": {"name": "EPSG:21037"}}, 21037),
    ({"type": "name", "properties": {"name": "http://www.opengis.net/def/crs/EPSG/0/32643"}}, 32643),
    ({"type": "name", "properties": {"name": "my own system"}}, None),
    ("EPSG:4326", None),
])
def test_the_coordinate_system_a_file_names(crs, srid):
    assert rules.crs_srid(crs) == srid


def _feature(properties, geometry):
    return {"type": "Feature", "properties": properties, "geometry": geometry}


@pytest.mark.parametrize("kind, feature, expected", [
    ("transformers", _feature({"code": "T1", "feeder": "F1"}, {"type": "Point", "coordinates": [36.8, -1.2]}), None),
    ("transformers", _feature({"CODE": 17}, {"type": "Point", "coordinates": [36.8, -1.2, 1650]}), None),
    ("transformers", _feature({}, {"type": "Point", "coordinates": [36.8, -1.2]}), "no code property"),
    ("transformers", _feature({"code": "T1"}, None), "needs a point geometry; this one has none"),
    ("transformers", _feature({"code": "T1"}, {"type": "Point", "coordinates": [36.8]}), "not numbers"),
    ("transformers", _feature({"code": "T1"}, {"type": "Point", "coordinates": [True, 1]}), "not numbers"),
    ("feeders", _feature({"code": "F1"}, {"type": "LineString", "coordinates": [[36.8, -1.2]]}), "two points"),
    ("zones", _feature({"name": "Z"}, {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
     "ring must close"),
    ("zones", _feature({"name": "Z" * 121}, {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1],
                                                                                       [0, 0]]]]}), "longer than"),
    ("zones", {"type": "Feature"}, "no name property"),
    ("zones", ["not", "a", "feature"], "not a GeoJSON Feature"),
])
def test_network_features(kind, feature, expected):
    checked = rules.check_feature(kind, feature, 3)
    if expected is None:
        assert isinstance(checked, rules.NetworkFeature), [p.english() for p in checked]
    else:
        assert isinstance(checked, list) and any(expected in p.english() for p in checked), \
            [p.english() for p in checked]


def test_a_property_left_out_differs_from_an_empty_one():
    point = {"type": "Point", "coordinates": [36.8, -1.2]}
    absent = rules.check_feature("transformers", _feature({"code": "T1"}, point), 2)
    empty = rules.check_feature("transformers", _feature({"code": "T1", "feeder": ""}, point), 2)
    assert (absent.ref_given, absent.ref) == (False, None) and (empty.ref_given, empty.ref) == (True, None)


def test_each_feature_knows_its_line():
    text = (b'{"type": "FeatureCollection",\n "crs": {"type": "name", "properties": {"name": "EPSG:4326"}},\n'
            b' "features": [\n  {"type": "Feature", "properties": {"code": "A"},\n   "geometry": null},\n'
            b'  {"type": "Feature", "properties": {"code": "B"}, "geometry": null}\n ]\n}\n')
    collection = read_feature_collection(text)
    assert [line for line, _ in collection.features()] == [4, 6]
    assert collection.members["crs"]["properties"]["name"] == "EPSG:4326" and len(collection) == 2


@pytest.mark.parametrize("text, line, message", [
    (b'{"type": "FeatureCollection", "features": [\n{"type": "Feature"},\n{"type": }\n]}', 3, "not valid GeoJSON"),
    (b'{"type": "FeatureCollection", "features": [{}]} trailing', 1, "not valid GeoJSON"),
    (b'{"type": "FeatureCollection"}', 1, "not a FeatureCollection"),
    (b'', 1, "should start with {"),
    (b'{"features": [1]\n\xe9}', 2, "not UTF-8"),
])
def test_unreadable_geojson_says_where(text, line, message):
    with pytest.raises(GeoJsonUnreadable) as refused:
        read_feature_collection(text)
    assert refused.value.line == line and message in refused.value.message
