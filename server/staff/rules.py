"""Sign-in limits as pure functions (table tests: tests/unit/test_sign_in_rules.py).

Wrong passwords are counted per account and per address in fixed windows kept in PostgreSQL (`rate_hit`), so
every app process counts the same tries. Once either count reaches its limit, sign-in is refused for the rest of
the window — even with the right password, or guessing would go on at full speed. The account's limit is low
enough that guessing a password is hopeless (5 an account every 15 minutes is 480 a day), and short enough that
someone locking a dispatcher out on purpose keeps them out only minutes at a time, and is seen: every failure is
recorded for the administrator (/admin/sign-ins) with the address it came from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.i18n import N_

OPEN, ACCOUNT_LOCKED, ADDRESS_LOCKED = "open", "account", "address"
# What the administrator's list says about each failure.
FAILURE_LABELS = {
    "wrong_password": N_("Wrong password"),
    "unknown_account": N_("No such account"),
    "switched_off": N_("Account switched off"),
    "locked": N_("Refused: too many failures"),
}
USERNAME = re.compile(r"[a-z0-9._-]{2,60}")


@dataclass(frozen=True)
class SignInLimits:
    per_account: int = 5      # failures for one username, from anywhere, per window
    per_address: int = 20     # failures from one address, for any usernames (an office NAT shares one)
    window: timedelta = timedelta(minutes=15)


def verdict(account_failures: int, address_failures: int, limits: SignInLimits = SignInLimits()) -> str:
    """May this sign-in be tried? The counts are of failures in the current window, before this attempt."""
    if account_failures >= limits.per_account:
        return ACCOUNT_LOCKED
    if address_failures >= limits.per_address:
        return ADDRESS_LOCKED
    return OPEN


def window_end(window_start: datetime, limits: SignInLimits = SignInLimits()) -> datetime:
    """When a refused person may try again: the end of the window that counted their failures."""
    return window_start + limits.window


def recorded_username(typed: str) -> str:
    """The username as kept in the failure log: only something that could be a username. People type their
    password into the wrong box; that must never be stored."""
    name = typed.strip().lower()
    return name if USERNAME.fullmatch(name) else "?"
