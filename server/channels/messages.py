"""What a customer on a feature phone is told, in their language: pure wording shared by USSD and SMS.

Only an incident's code, status and ETR ever reach these texts (`IncidentView`), so nothing personal
about another customer can slip into a reply. Keep texts short: a USSD screen holds about 160 characters
and an SMS segment 160 GSM-7 characters (70 when the language needs Unicode).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from server.i18n import N_, format_time, gettext
from server.incidents.models import OPEN_STATUSES
from server.labels import STATUS_LABELS


METER_NO = re.compile(r"[A-Z0-9][A-Z0-9-]{0,39}")
INCIDENT_CODE = re.compile(r"(?:FL)?-?0*(\d{1,9})")


@dataclass(frozen=True)
class IncidentView:
    """All a customer may learn about an incident: it is about an area, never about a person."""

    code: str
    status: str
    etr: datetime | None


@dataclass(frozen=True)
class Filed:
    incident: IncidentView
    joined: bool    # the utility already knew: the report was added to an open incident
    already: bool   # this phone or meter had reported this incident already: nothing new filed


class Refusal(StrEnum):
    unknown_meter = "unknown_meter"
    outside_area = "outside_area"
    too_many = "too_many"


@dataclass(frozen=True)
class ReplyLocale:
    """The reader's language and the deployment's clock and region, for words and times."""

    lang: str
    timezone: str
    region: str

    def text(self, msgid: str, **values: object) -> str:
        return gettext(self.lang, msgid, **values)

    def time(self, value: datetime) -> str:
        return format_time(value, self.lang, self.timezone, self.region, "short")


def meter_number(raw: str) -> str | None:
    """A meter number as stored (upper case, no spaces), or None when it cannot be one."""
    cleaned = "".join(raw.split()).upper()
    return cleaned if METER_NO.fullmatch(cleaned) else None


def incident_code(raw: str) -> str | None:
    """FL-000123 from "FL-000123", "fl-123", "FL 123" or "123"; None when it cannot be a reference."""
    match = INCIDENT_CODE.fullmatch("".join(raw.split()).upper())
    return f"FL-{int(match.group(1)):06d}" if match else None


def incident_line(incident: IncidentView, locale: ReplyLocale) -> str:
    """FL-000123: The crew is on the way. Expected back: 22/11/2026, 14:30"""
    label = STATUS_LABELS.get(incident.status)
    line = locale.text(N_("%(code)s: %(status)s."), code=incident.code,
                       status=locale.text(label) if label else incident.status)
    if incident.etr is not None and incident.status in OPEN_STATUSES:
        line += " " + locale.text(N_("Expected back: %(time)s"), time=locale.time(incident.etr))
    return line


def filed_text(filed: Filed, locale: ReplyLocale) -> str:
    if filed.already:
        return locale.text(N_("You have already reported this fault.")) + " " + incident_line(filed.incident, locale)
    if filed.joined:
        return locale.text(N_("We already know about this fault and added your report.")) + " " + \
            incident_line(filed.incident, locale)
    return locale.text(N_("Thank you, we have your report. Your reference is %(code)s."), code=filed.incident.code)


def refusal_text(refusal: Refusal, locale: ReplyLocale, meter: str | None = None) -> str:
    if refusal is Refusal.unknown_meter:
        return locale.text(N_("We do not know the meter number %(meter)s. Check it and try again."), meter=meter)
    if refusal is Refusal.outside_area:
        return locale.text(N_("We cannot place this meter on our network. Please call our customer line."))
    # The same words as the web form's limit (server.ratelimit).
    return locale.text(N_("Too many reports from here in a short time. Please wait a little and try again; "
                          "if it is dangerous, call the emergency line."))


def my_report_text(incident: IncidentView | None, locale: ReplyLocale) -> str:
    if incident is None:
        return locale.text(N_("We have no report from this phone number."))
    return incident_line(incident, locale)


def area_text(incident: IncidentView | None, locale: ReplyLocale) -> str:
    if incident is None:
        return locale.text(N_("No fault is known in your area. If your power is off, please report it."))
    return locale.text(N_("There is a known fault in your area.")) + " " + incident_line(incident, locale)
