"""What to do after trying to send a message: pure rules, table-tested."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=2)


@dataclass(frozen=True)
class Outcome:
    status: str                      # sent | pending (try again later) | gone | failed
    next_try_at: datetime | None = None
    drop_subscription: bool = False
    alarm: str | None = None         # something an operator must fix (VAPID keys, gateway credentials)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 2 h."""
    return min(BASE_DELAY * (2 ** max(0, attempts - 1)), MAX_DELAY)


def after_attempt(status_code: int | None, attempts: int, now: datetime,
                  retry_after_seconds: float | None = None) -> Outcome:
    """`status_code` None means no answer (network error, timeout). `attempts` counts this one."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome("sent")
    if status_code in (404, 410):
        # The browser unsubscribed or the subscription expired: never again to this endpoint.
        return Outcome("gone", drop_subscription=True)
    if attempts >= MAX_ATTEMPTS:
        return Outcome("failed")
    if status_code == 429:
        wait = timedelta(seconds=retry_after_seconds) if retry_after_seconds else backoff(attempts)
        return Outcome("pending", now + min(wait, MAX_DELAY))
    if status_code in (401, 403):
        return Outcome("pending", now + backoff(attempts),
                       alarm="The push service refused our VAPID signature: check the keys in the data folder.")
    if status_code is None or status_code >= 500:
        return Outcome("pending", now + backoff(attempts))
    return Outcome("failed")  # any other 4xx: the message itself is wrong; retrying will not help


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After is seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None
