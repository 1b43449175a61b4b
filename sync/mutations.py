"""What a crew phone may send: the push envelope and one argument schema per named mutation.

A mutation is a named operation with arguments (Replicache style), not a row diff:

    {"client_id": "<uuid of this app install>",
     "mutations": [{"id": 7, "name": "arrived", "client_time": "2026-11-22T09:14:03+03:00", "base_rev": 12,
                    "args": {"incident_id": 41, "checkin_id": "<uuid>", "latitude": -1.26, "longitude": 36.8}}]}

Mutation ids count 1, 2, 3… per client: the server applies them in that order, each at most once. Records
that the phone creates (notes, check-ins, photos, materials, position pings) carry their own UUID, made on the
phone, so the same record arriving twice is stored once.

The envelope is checked as a whole (a batch the server cannot even number is refused with a 400); everything
inside one mutation is checked on its own, and a bad one is answered `rejected` and used up, never blocking
the ones behind it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints,
                      ValidationError)
from pydantic_core import PydanticCustomError

from server.i18n import N_

MAX_BATCH = 1000
MAX_NAME = 40



def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it here rather than fail the write.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "contains NUL")
    return value


def _words(max_length: int, min_length: int = 1) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     AfterValidator(_no_nul)]


Text = _words(2000)
Caption = _words(200, min_length=0)
Cause = _words(200)
Reason = _words(500)
Label = _words(120)
Unit = _words(20)
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Accuracy = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
IncidentId = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]


class _Args(BaseModel):
    # Unknown keys are refused: an app that sends a field the server ignores would think it was kept.
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnIncident(_Args):
    incident_id: IncidentId


class AcceptJob(OnIncident):
    pass


class EnRoute(OnIncident):
    pass


class Arrived(OnIncident):
    """On site, with the GPS fix that proves it (stored as a check-in)."""

    checkin_id: uuid.UUID
    latitude: Latitude
    longitude: Longitude
    accuracy_m: Accuracy | None = None


class AddNote(OnIncident):
    note_id: uuid.UUID
    text: Text


class AddPhoto(OnIncident):
    photo_id: uuid.UUID
    caption: Caption = ""


class UseMaterial(OnIncident):
    material_id: uuid.UUID
    item: Label
    quantity: Annotated[Decimal, Field(gt=0, le=1_000_000, max_digits=12, decimal_places=3, allow_inf_nan=False)]
    unit: Unit


class Restored(OnIncident):
    cause: Cause


def _iso_text(value: Any) -> Any:
    # Pydantic would read a bare number as seconds since 1970; the phone sends ISO 8601 text, and a conflict
    # keeps the arguments as sent, so only text that reads back as a time may pass.
    if not isinstance(value, str):
        raise PydanticCustomError("iso_time", "not ISO 8601 text")
    return value


class ProposeEtr(OnIncident):
    etr: Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class UnableToFix(OnIncident):
    """The crew hands the job back (no material, needs a bigger crew, not safe): dispatch reassigns it."""

    reason: Reason


class Position(_Args):
    ping_id: uuid.UUID
    latitude: Latitude
    longitude: Longitude
    accuracy_m: Accuracy | None = None


SCHEMAS: dict[str, type[_Args]] = {
    "accept_job": AcceptJob,
    "en_route": EnRoute,
    "arrived": Arrived,
    "note": AddNote,
    "photo": AddPhoto,
    "materials": UseMaterial,
    "restored": Restored,
    "propose_etr": ProposeEtr,
    "position": Position,
    "unable_to_fix": UnableToFix,
}

# Field problems, said so a lineman (or the app's developer) knows what to fix. Pydantic's own texts are
# English-only; its error types map onto these.
PROBLEMS = {
    "missing": N_("is missing"),
    "extra_forbidden": N_("is not expected"),
    "string_too_short": N_("is empty"),
    "string_too_long": N_("is too long"),
    "too_long": N_("is too long"),
    "greater_than": N_("is too small"),
    "greater_than_equal": N_("is too small"),
    "less_than_equal": N_("is too large"),
    "timezone_aware": N_("needs a time zone"),
    "decimal_max_places": N_("has too many decimals"),
    "decimal_max_digits": N_("has too many digits"),
    "nul_character": N_("contains a character that is not allowed"),
    "iso_time": N_("must be a date and time such as 2026-11-22T14:30:00+03:00"),
}
OTHER_PROBLEM = N_("is not valid")


def field_problems(error: ValidationError) -> list[dict[str, str]]:
    """[{field, problem}] with the problem as a msgid, translated when the answer is written."""
    found = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "args"
        found.append({"field": field, "problem": PROBLEMS.get(item["type"], OTHER_PROBLEM)})
    return found


class BatchRefused(Exception):
    """The batch as a whole cannot be taken (answered 400); `message` is a msgid, `values` fill it."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message % values if values else message)
        self.message, self.values = message, values


@dataclass(frozen=True)
class Sent:
    """One mutation as it came, numbered; everything else is checked when it is applied."""

    id: int
    name: str
    args: Any
    client_time: Any
    base_rev: Any
    raw: dict


@dataclass(frozen=True)
class Batch:
    client_id: uuid.UUID
    mutations: tuple[Sent, ...]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_batch(body: Any) -> Batch:
    """The envelope: a client id and mutations numbered in increasing order. Nothing else is judged here."""
    if not isinstance(body, dict):
        raise BatchRefused(N_("Send a JSON object: {\"client_id\": …, \"mutations\": […]}."))
    try:
        client_id = uuid.UUID(str(body.get("client_id")))
    except ValueError:
        raise BatchRefused(N_("client_id must be the UUID this app install made for itself.")) from None
    mutations = body.get("mutations")
    if not isinstance(mutations, list):
        raise BatchRefused(N_("mutations must be a list (it may be empty)."))
    if len(mutations) > MAX_BATCH:
        raise BatchRefused(N_("Send at most %(limit)s mutations at a time, oldest first."), limit=MAX_BATCH)
    parsed, previous = [], 0
    for position, item in enumerate(mutations, start=1):
        if not isinstance(item, dict) or not _is_int(item.get("id")) or not 1 <= item["id"] <= 2**62:
            raise BatchRefused(N_("Mutation number %(position)s has no id: each needs an id counting 1, 2, 3… "
                                  "on this app install."), position=position)
        if item["id"] <= previous:
            raise BatchRefused(N_("Mutation ids must increase within a batch (%(id)s came after %(previous)s)."),
                               id=item["id"], previous=previous)
        previous = item["id"]
        name = item.get("name")
        name = name if isinstance(name, str) and len(name) <= MAX_NAME and "\x00" not in name else ""
        parsed.append(Sent(id=item["id"], name=name, args=item.get("args", {}), client_time=item.get("client_time"),
                           base_rev=item.get("base_rev"), raw=storable(item)))
    return Batch(client_id=client_id, mutations=tuple(parsed))


def storable(value: Any) -> Any:
    """The same JSON with NUL characters taken out of every string (PostgreSQL's jsonb cannot hold them),
    so the record of what was sent can always be written."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(str(key)): storable(item) for key, item in value.items()}
    return value


def parse_client_time(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset, as the phone's clock said; None when absent or unreadable."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def parse_base_rev(value: Any) -> tuple[bool, int | None]:
    """(ok, base_rev): the incident revision the phone had seen; optional."""
    if value is None:
        return True, None
    if _is_int(value) and 0 <= value <= 2**62:
        return True, value
    return False, None
