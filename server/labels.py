"""The words for the codes stored in the database and shown on several surfaces: incident statuses, report
categories and channels, the crew phones' actions, the timeline's events. Each is a msgid (N_), translated where
it is shown. Below every domain that shows them (tests/unit/test_layers.py)."""
from __future__ import annotations

from enum import StrEnum

from server.i18n import N_


class Category(StrEnum):
    no_power = "no_power"
    low_voltage = "low_voltage"       # low voltage or partial supply
    danger = "danger"                 # sparking, wire down
    damage = "damage"                 # pole or transformer damaged


class Channel(StrEnum):
    web = "web"
    ussd = "ussd"
    sms = "sms"
    agent = "agent"
    api = "api"


CATEGORY_LABELS = {
    Category.no_power: N_("No power"),
    Category.low_voltage: N_("Low voltage or partial supply"),
    Category.danger: N_("Sparking or wire down (danger)"),
    Category.damage: N_("Pole or transformer damaged"),
}

STATUS_LABELS = {
    "reported": N_("Reported, waiting for a crew"),
    "assigned": N_("A crew has been assigned"),
    "en_route": N_("The crew is on the way"),
    "on_site": N_("The crew is working on it"),
    "restored": N_("Power restored"),
    "closed": N_("Closed"),
    "cancelled": N_("Cancelled"),
}

MUTATION_LABELS = {
    "accept_job": N_("Accepted the job"),
    "en_route": N_("On the way"),
    "arrived": N_("Arrived (GPS check-in)"),
    "note": N_("Note"),
    "photo": N_("Photo"),
    "materials": N_("Materials used"),
    "restored": N_("Restored"),
    "propose_etr": N_("Proposed an ETR"),
    "position": N_("Position"),
    "unable_to_fix": N_("Unable to fix"),
}

# What each incident event is called on the timeline (the crew's own steps are named by the sync service).
EVENT_LABELS = {
    "reported": N_("Fault reported"),
    "report_added": N_("Another report"),
    "repeat_call": N_("Repeat call"),
    "not_restored": N_("Customer says power is not back"),
    "customer_confirmed": N_("Customer confirmed power is back"),
    "assigned": N_("Crew assigned"),
    "reassigned": N_("Crew changed"),
    "etr_set": N_("ETR set"),
    "cancelled": N_("Cancelled"),
    "closed": N_("Closed"),
    "merged": N_("Merged into another incident"),
    "merged_in": N_("Duplicate merged in"),
    "conflict_resolved": N_("Conflict resolved"),
    **MUTATION_LABELS,
    # The crew's steps are logged by the status they reach (sync/service.py), not by the mutation's name.
    "accepted": MUTATION_LABELS["accept_job"],
    "on_site": MUTATION_LABELS["arrived"],
    "etr_proposal_set": MUTATION_LABELS["propose_etr"],
    "cause_set": N_("Cause recorded"),
}
