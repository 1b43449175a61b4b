"""Sign-in limits as a table (server/staff/rules.py)."""
from datetime import UTC, datetime, timedelta

import pytest

from server.staff import rules

LIMITS = rules.SignInLimits(per_account=5, per_address=20, window=timedelta(minutes=15))


@pytest.mark.parametrize(("account_failures", "address_failures", "expected"), [
    (0, 0, rules.OPEN),
    (4, 19, rules.OPEN),                  # the fifth try of the account, the twentieth of the address: allowed
    (5, 0, rules.ACCOUNT_LOCKED),         # five failures: the account waits, whoever tries
    (5, 20, rules.ACCOUNT_LOCKED),        # both: the account is named (it is what someone guesses)
    (0, 20, rules.ADDRESS_LOCKED),        # twenty from one place, over any accounts: that place waits
    (100, 100, rules.ACCOUNT_LOCKED),
])
def test_verdict(account_failures, address_failures, expected):
    assert rules.verdict(account_failures, address_failures, LIMITS) == expected


def test_a_refused_person_is_told_the_end_of_the_window():
    start = datetime(2027, 12, 31, 20, 45, tzinfo=UTC)
    assert rules.window_end(start, LIMITS) == datetime(2027, 12, 31, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(("typed", "kept"), [
    ("dispatcher", "dispatcher"),
    ("  Night-Dispatcher ", "night-dispatcher"),
    ("j.otieno_2", "j.otieno_2"),
    ("My Secret Passw0rd!", "?"),         # a password typed in the wrong box is never stored
    ("x", "?"),
    ("a" * 61, "?"),
    ("admin\x00", "?"),
])
def test_only_what_could_be_a_username_is_recorded(typed, kept):
    assert rules.recorded_username(typed) == kept
