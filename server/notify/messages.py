"""The texts customers receive by SMS or push, one per event, in their language.

Every SMS ends with the utility's standing anti-fraud line. Kept short so that, in the GSM-7
languages, each fits one SMS with the line included (tests/unit/test_sms_cost.py measures them).
"""
from __future__ import annotations

from dataclasses import dataclass

from server.i18n import N_, gettext
from server.notify.segments import sms_cost, sms_text

ANTI_FRAUD = N_("We never ask for payment to a personal number.")

TEMPLATES = {
    "received": N_("%(code)s: we have your report. Follow it: %(link)s"),
    "assigned": N_("%(code)s: a crew is assigned. Power expected back by %(etr)s."),
    "en_route": N_("%(code)s: the crew is on the way. Their code is %(crew_code)s, ask them for it."),
    "etr_changed": N_("%(code)s: new expected time for your power: %(etr)s."),
    "restored": N_("%(code)s: power is restored. Still off? Open %(link)s"),
    "planned": N_("Planned work in %(area)s: no power from %(start)s to %(end)s."),
    "planned_cancelled": N_("Planned work in %(area)s from %(start)s is cancelled: your power stays on."),
}

# Values as long as real ones, to measure what a customer's phone will receive.
SAMPLE_VALUES = {"code": "FL-000123", "link": "https://power.example.co.ke/t/Ab3dEf6hIj7kLm8nOp9qRs", "etr": "22/11 18:30",
                 "crew_code": "4821", "area": "Westlands", "start": "23/11 09:00", "end": "23/11 15:00"}


def sms_body(kind: str, language: str, **values: str) -> str:
    """The SMS for an event, in the customer's language, ending with the anti-fraud line."""
    text = gettext(language, TEMPLATES[kind], **values) + " " + gettext(language, ANTI_FRAUD)
    return sms_text(text, language)


@dataclass(frozen=True)
class TemplateCost:
    kind: str
    language: str
    text: str
    encoding: str
    units: int
    segments: int


def template_costs(languages) -> list[TemplateCost]:
    """Every SMS template in every language, with sample values, and what it costs to send."""
    costs = []
    for kind in TEMPLATES:
        for language in languages:
            text = sms_body(kind, language, **SAMPLE_VALUES)
            costs.append(TemplateCost(kind, language, text, *sms_cost(text)))
    return costs
