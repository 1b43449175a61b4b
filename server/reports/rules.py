"""Rules for a customer's report, as pure functions: checking what a person typed."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from server.i18n import N_
from server.phones import normalise_phone
from server.labels import Category

@dataclass
class ReportInput:
    category: str
    phone: str | None
    latitude: float | None
    longitude: float | None
    meter_no: str | None
    text: str
    language: str


@dataclass
class FormErrors:
    """Field name → message id (translated when shown)."""

    fields: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)


def _coordinate(raw: str, low: float, high: float) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and low <= value <= high else None


def check_place(form: dict[str, str], errors: FormErrors) -> tuple[float | None, float | None, str | None]:
    """Where the report is: a point, or a meter number. Problems go into `errors`."""
    lat_raw, lon_raw = form.get("latitude", "").strip(), form.get("longitude", "").strip()
    meter_no = form.get("meter_no", "").strip().upper() or None
    latitude = longitude = None
    if lat_raw or lon_raw:
        latitude, longitude = _coordinate(lat_raw, -90, 90), _coordinate(lon_raw, -180, 180)
        if latitude is None or longitude is None:
            errors.fields["location"] = N_("The location is not valid. Use your phone's location or tap the map.")
    elif meter_no is None:
        errors.fields["location"] = N_("Tell us where: use your phone's location, tap the map, "
                                       "or enter your meter number.")
    if meter_no is not None and (len(meter_no) > 40 or not meter_no.replace("-", "").isalnum()):
        errors.fields["meter_no"] = N_("A meter number has only letters and digits.")
    return latitude, longitude, meter_no


def check_report_form(form: dict[str, str], *, region: str, language: str) -> ReportInput | FormErrors:
    """Turn a submitted form into a ReportInput, or say what to fix, field by field."""
    errors = FormErrors()
    category = form.get("category", "").strip()
    if category not in Category.__members__:
        errors.fields["category"] = N_("Choose what is wrong.")

    phone_raw = form.get("phone", "").strip()
    phone = None
    if not phone_raw:
        errors.fields["phone"] = N_("Enter your phone number so we can tell you when power is back.")
    else:
        phone = normalise_phone(phone_raw, region)
        if phone is None:
            errors.fields["phone"] = N_("This phone number does not look right. Write it as you would dial it, "
                                        "for example 0712 345678 or +254 712 345678.")

    latitude, longitude, meter_no = check_place(form, errors)

    text = form.get("text", "").strip()
    if len(text) > 1000:
        errors.fields["text"] = N_("Please keep the description under 1000 characters.")

    if errors:
        return errors
    return ReportInput(category=category, phone=phone, latitude=latitude, longitude=longitude,
                       meter_no=meter_no, text=text, language=language)
