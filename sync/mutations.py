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
the ones behind it. That starts with reading the body (read_body) and cleaning each mutation (clean_mutation):
what PostgreSQL cannot keep, nesting too deep and a mutation too large are refused in their mutation alone,
never as a 400 or a 5xx for the batch.
"""
from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints,
                      ValidationError)
from pydantic_core import PydanticCustomError

from server.i18n import N_
from server.refusals import Refused
from sync.messages import KEPT

MAX_BATCH = 1000
MAX_NAME = 40
# One action is a few hundred bytes (a 2,000-character note of emoji is under 25 KB); the app splits its
# batches by size and never sends one action above this (it sends a stub that says so, see parse_batch).
MAX_MUTATION_BYTES = 64 * 1024
# A whole push: the app sends batches of at most 256 KB (1,000 mutations with notes fit in well under 1 MB).
MAX_PUSH_BYTES = 4 * 1024 * 1024
PUSH_LIMITS = {"max_bytes": MAX_PUSH_BYTES, "max_mutation_bytes": MAX_MUTATION_BYTES}
MAX_DEPTH = 16  # containers inside one mutation (its args are flat: depth 2)
MAX_PROBLEMS = 5
_BIGINT = 2**63  # PostgreSQL's bigint, and the most any number in a mutation may be

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
# What the server cannot keep at all (answered `unstorable` before the arguments are judged).
BROKEN_CHARACTER = N_("has a broken character (part of an emoji)")
NUL_CHARACTER = PROBLEMS["nul_character"]
NOT_FINITE = N_("is not a finite number")
TOO_BIG_NUMBER = N_("is a number too large to keep")
TOO_DEEP = N_("is nested too deeply")
OTHER_PROBLEM = N_("is not valid")


def field_problems(error: ValidationError) -> list[dict[str, str]]:
    """[{field, problem}] with the problem as a msgid, translated when the answer is written."""
    found = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "args"
        found.append({"field": field, "problem": PROBLEMS.get(item["type"], OTHER_PROBLEM)})
    return found


def push_refused(message: str, status: int = 400, **values: Any) -> Refused:
    """A push refused as a whole: what is wrong, that the work stays on the phone, and the limits the app must keep
    to (sent with every such answer, so an app sized for other limits can adapt)."""
    return Refused(message, status, also=KEPT, extra=PUSH_LIMITS, **values)


@dataclass(frozen=True)
class Sent:
    """One mutation as it came, numbered; everything else is checked when it is applied."""

    id: int
    name: str
    args: Any
    client_time: Any
    base_rev: Any
    raw: dict  # what is stored of it: always storable (see clean_mutation)
    refusal: tuple[str, dict] | None = None  # (reason, details) when it is refused before it is read


@dataclass(frozen=True)
class Batch:
    client_id: uuid.UUID
    mutations: tuple[Sent, ...]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_batch(body: Any) -> Batch:
    """The envelope: a client id and mutations numbered in increasing order. Nothing else is judged here."""
    if not isinstance(body, dict):
        raise push_refused(N_("Send a JSON object: {\"client_id\": …, \"mutations\": […]}."))
    try:
        client_id = uuid.UUID(str(body.get("client_id")))
    except ValueError:
        raise push_refused(N_("client_id must be the UUID this app install made for itself.")) from None
    mutations = body.get("mutations")
    if not isinstance(mutations, list):
        raise push_refused(N_("mutations must be a list (it may be empty)."))
    if len(mutations) > MAX_BATCH:
        raise push_refused(N_("Send at most %(limit)s mutations at a time, oldest first."), limit=MAX_BATCH)
    parsed, previous = [], 0
    for position, item in enumerate(mutations, start=1):
        if not isinstance(item, dict) or not _is_int(item.get("id")) or not 1 <= item["id"] <= 2**62:
            raise push_refused(N_("Mutation number %(position)s has no id: each needs an id counting 1, 2, 3… "
                                  "on this app install."), position=position)
        if item["id"] <= previous:
            raise push_refused(N_("Mutation ids must increase within a batch (%(id)s came after %(previous)s)."),
                               id=item["id"], previous=previous)
        previous = item["id"]
        parsed.append(_sent(item))
    return Batch(client_id=client_id, mutations=tuple(parsed))


# ---------------------------------------------------------------- what PostgreSQL can keep
#
# PostgreSQL's jsonb refuses a lone UTF-16 surrogate ("\ud83d", half an emoji from a phone keyboard), NaN and
# Infinity, and its text refuses NUL; Python's json reads all of them (1e999 becomes inf). Every value of a
# mutation is cleaned here, before any statement sees it: the mutation is refused alone when it held any of
# them (or was too deep, or too large), and the cleaned copy is what is stored, so its refusal is on record
# and a retry is answered the same.

_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


class _HugeInteger:
    """A JSON integer with more digits than any column here holds (read as this, never as a number)."""

    __slots__ = ()


HUGE_INTEGER = _HugeInteger()


def _scrubbed(value: str) -> str:
    return _SURROGATE.sub(_REPLACEMENT, value).replace("\x00", _REPLACEMENT)


def _field(parent: str, key: str) -> str:
    """A field's name for the answer, made of cleaned keys only (the answer is stored too)."""
    return f"{parent}.{_scrubbed(key)}" if parent else _scrubbed(key)


class _Cleaning:
    def __init__(self) -> None:
        self.problems: list[dict[str, str]] = []
        self.size = 0

    def problem(self, field: str, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS and all(p["field"] != field for p in self.problems):
            self.problems.append({"field": field[:60] or "args", "problem": problem})

    def text(self, value: str, field: str) -> str:
        if value.isascii():
            self.size += len(value) + 2
        else:
            self.size += len(value.encode("utf-8", "surrogatepass")) + 2
            if _SURROGATE.search(value):
                self.problem(field, BROKEN_CHARACTER)
                value = _SURROGATE.sub(_REPLACEMENT, value)
        if "\x00" in value:
            self.problem(field, NUL_CHARACTER)
            value = value.replace("\x00", _REPLACEMENT)
        return value

    def value(self, value: Any, field: str, depth: int) -> Any:
        if isinstance(value, str):
            return self.text(value, field)
        if value is None or isinstance(value, bool):
            self.size += 5
            return value
        if isinstance(value, int):
            self.size += 8
            if -_BIGINT <= value < _BIGINT:
                return value
            self.problem(field, TOO_BIG_NUMBER)
            return None
        if isinstance(value, float):
            self.size += 8
            if math.isfinite(value):
                return value
            self.problem(field, NOT_FINITE)
            return None
        if value is HUGE_INTEGER:
            self.problem(field, TOO_BIG_NUMBER)
            return None
        if depth >= MAX_DEPTH:
            self.problem(field, TOO_DEEP)
            return None
        if isinstance(value, list):
            self.size += 2
            return [self.value(item, f"{field}.{i}", depth + 1) for i, item in enumerate(value)]
        cleaned = {}
        self.size += 2
        for key, item in value.items():  # JSON objects only: every key is text
            name = _field(field, key)
            key = self.text(key, name)
            cleaned[key] = self.value(item, name, depth + 1)
        return cleaned


def _clean_size(value: Any, depth: int = 0) -> int:
    """The size of a value in bytes (about), or -1 when anything in it needs cleaning: the quick look every
    mutation gets, which copies nothing (nearly all are clean)."""
    if isinstance(value, str):
        if "\x00" in value:
            return -1
        if value.isascii():
            return len(value) + 2
        try:
            return len(value.encode("utf-8")) + 2
        except UnicodeEncodeError:  # a lone surrogate
            return -1
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 8 if -_BIGINT <= value < _BIGINT else -1
    if isinstance(value, float):
        return 8 if math.isfinite(value) else -1
    if depth >= MAX_DEPTH or not isinstance(value, (list, dict)):
        return -1
    size = 2
    for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
        key_size = _clean_size(key) if isinstance(key, str) else 0
        item_size = _clean_size(item, depth + 1)
        if key_size < 0 or item_size < 0:
            return -1
        size += key_size + item_size
    return size


def clean_mutation(item: dict) -> tuple[dict, list[dict[str, str]], int]:
    """(the mutation with every value storable, the problems found, its size in bytes, about).

    Problems name the field as the lineman knows it: an argument by its own name ("text"), anything else by
    the mutation's key ("name", "client_time")."""
    size = _clean_size(item)
    if size >= 0:
        return item, [], size
    cleaning = _Cleaning()
    cleaned = {}
    for key, value in item.items():
        name = _field("", key)
        key = cleaning.text(key, name)
        # args' own keys are the fields; the args object itself is "args"
        cleaned[key] = (cleaning.value(value, "", 1) if key == "args" and isinstance(value, dict)
                        else cleaning.value(value, name, 1))
    return cleaned, cleaning.problems, cleaning.size


def _sent(item: dict) -> Sent:
    cleaned, problems, size = clean_mutation(item)
    name = cleaned.get("name")
    name = name if isinstance(name, str) and len(name) <= MAX_NAME else ""
    client_time = cleaned.get("client_time")
    stub = cleaned.get("too_large")  # an app that could not send the action whole says how large it was
    if stub is not None or size > MAX_MUTATION_BYTES:
        size = stub if _is_int(stub) and MAX_MUTATION_BYTES < stub < _BIGINT else size
        details = {"size_kb": math.ceil(size / 1024), "limit_kb": MAX_MUTATION_BYTES // 1024}
        # Only its envelope is kept: the record says what came, not a copy of the megabytes.
        raw = {"id": item["id"], "name": name, "too_large": size,
               "client_time": client_time if isinstance(client_time, str) and len(client_time) <= 40 else None}
        return Sent(id=item["id"], name=name, args={}, client_time=None, base_rev=None, raw=raw,
                    refusal=("too_large", details))
    refusal = ("unstorable", {"problems": problems}) if problems else None
    return Sent(id=item["id"], name=name, args=cleaned.get("args", {}), client_time=client_time,
                base_rev=cleaned.get("base_rev"), raw=cleaned, refusal=refusal)


# Nesting deeper than this anywhere in a body is cut before it is read (a mutation is judged at MAX_DEPTH).
_READ_DEPTH = 64
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.S)


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def _integer(digits: str) -> int | _HugeInteger:
    # Python refuses to read more than 4,300 digits at all, which would refuse the whole batch.
    return int(digits) if len(digits) <= 20 else HUGE_INTEGER


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constants, parse_int=_integer)


def _cut_deep(text: str, limit: int) -> str:
    """The same JSON text with every container nested deeper than `limit` replaced by null."""
    parts, depth, cut_from, kept_to = [], 0, None, 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == limit + 1:
                cut_from = match.start()
        else:
            if depth == limit + 1 and cut_from is not None:
                parts += [text[kept_to:cut_from], "null"]
                kept_to, cut_from = match.end(), None
            depth -= 1
    parts.append(text[kept_to:])
    return "".join(parts)


def read_body(raw: bytes) -> Any:
    """A push body as JSON, whatever one mutation in it holds. Raises ValueError when it is not JSON.

    Bytes that are not UTF-8 become lone surrogates (refused in their mutation, not the batch); nesting too
    deep for Python's reader is cut first, and refused in its mutation (MAX_DEPTH)."""
    text = raw.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    try:
        return _loads(text)
    except RecursionError:
        pass
    try:
        body = _loads(_cut_deep(text, _READ_DEPTH))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(body, dict):
        raise ValueError("nested too deeply")
    return body


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
