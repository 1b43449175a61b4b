"""What every HTML form handler does first with what a browser sent."""
from __future__ import annotations

FIELD_LIMIT = 5000


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
