"""What every HTML form handler does first with what a browser sent."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

FIELD_LIMIT = 5000
ID_LIMIT = 2_000_000_000  # below PostgreSQL's integer maximum


def whole_number(raw: str | None, limit: int = ID_LIMIT) -> int | None:
    """A non-negative whole number written in ASCII digits, at most `limit`; None for anything else.

    str.isdigit alone is not enough: it accepts "²", which int() refuses, and a number of 5,000 digits,
    which int() refuses too.
    """
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(limit)):
        return None
    number = int(raw)
    return number if number <= limit else None


def clean_form(data: dict[str, str]) -> dict[str, str]:
    """Drop NUL bytes (PostgreSQL text cannot hold them) and cut absurdly long fields.

    The rules then judge what is left; nothing here decides whether a value is valid.
    """
    return {key: str(value).replace("\x00", "")[:FIELD_LIMIT] for key, value in data.items()}


def safe_next_path(target: str | None) -> str | None:
    """Only paths on this site: a link must not bounce people to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def local_time(wall: datetime, timezone: str, now: datetime) -> datetime:
    """A browser's `datetime-local` value (a wall-clock time, no zone) in the deployment's zone, as UTC.

    In the hour a fall-back repeats, each wall time comes twice: the first, unless it has passed already (an ETR
    or planned work is typed for what is still to come). A time the spring-forward skips (02:30 in Tirane that
    night) is read with the offset before the change, as the 03:30 it becomes."""
    first = wall.replace(tzinfo=ZoneInfo(timezone), fold=0)
    second = first.replace(fold=1)
    repeated = first.utcoffset() > second.utcoffset()  # in a skipped hour fold=1 has the *larger* offset
    return (second if repeated and first < now else first).astimezone(UTC)
