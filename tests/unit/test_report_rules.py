"""Checking what a customer typed: table-driven, no database."""
import pytest

from server.reports.rules import FormErrors, ReportInput, check_report_form
from server.phones import normalise_phone

GOOD = {"category": "no_power", "phone": "0712 345678", "latitude": "-1.2864", "longitude": "36.8219"}


@pytest.mark.parametrize("raw, region, expected", [
    ("0712345678", "KE", "+254712345678"),
    ("0712 345 678", "KE", "+254712345678"),
    ("+254 712 345678", "KE", "+254712345678"),
    ("254712345678", "KE", "+254712345678"),  # country code typed without the +
    ("0754 123456", "TZ", "+255754123456"),
    ("98765 43210", "IN", "+919876543210"),
    ("069 123 4567", "AL", "+355691234567"),
    ("0912 345 678", "VN", "+84912345678"),
    ("12", "KE", None),
    ("hello", "KE", None),
    ("", "KE", None),
])
def test_phone_numbers_are_normalised_to_e164(raw, region, expected):
    assert normalise_phone(raw, region) == expected


def test_a_good_form_becomes_a_report_input():
    checked = check_report_form(GOOD, region="KE", language="sw")
    assert checked == ReportInput(category="no_power", phone="+254712345678", latitude=-1.2864, longitude=36.8219,
                                  meter_no=None, text="", language="sw")


@pytest.mark.parametrize("changes, field", [
    ({"category": ""}, "category"),
    ({"category": "aliens"}, "category"),
    ({"phone": ""}, "phone"),
    ({"phone": "0000"}, "phone"),
    ({"latitude": "91"}, "location"),
    ({"longitude": "-181"}, "location"),
    ({"latitude": "nan"}, "location"),
    ({"latitude": "inf"}, "location"),
    ({"latitude": "abc"}, "location"),
    ({"latitude": "", "longitude": ""}, "location"),
    ({"latitude": "-1.28", "longitude": ""}, "location"),
    ({"meter_no": "12 34; DROP"}, "meter_no"),
    ({"text": "x" * 1001}, "text"),
])
def test_each_bad_field_gets_its_own_message(changes, field):
    checked = check_report_form({**GOOD, **changes}, region="KE", language="en")
    assert isinstance(checked, FormErrors)
    assert field in checked.fields and checked.fields[field]


def test_a_meter_number_alone_is_enough_to_place_a_report():
    checked = check_report_form({**GOOD, "latitude": "", "longitude": "", "meter_no": "14200000005"},
                                region="KE", language="en")
    assert isinstance(checked, ReportInput) and checked.meter_no == "14200000005"


def test_an_empty_form_lists_everything_to_fix():
    checked = check_report_form({}, region="KE", language="en")
    assert set(checked.fields) == {"category", "phone", "location"}
