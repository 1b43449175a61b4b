"""After a send: sent, gone, try again later (when), or failed for good. Table-driven."""
from datetime import UTC, datetime, timedelta

import pytest

from server.notify.rules import MAX_ATTEMPTS, after_attempt, backoff, parse_retry_after

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("status_code, attempts, retry_after, expected_status, wait, drop, alarm", [
    (201, 1, None, "sent", None, False, False),
    (202, 1, None, "sent", None, False, False),
    (404, 1, None, "gone", None, True, False),
    (410, 3, None, "gone", None, True, False),
    (429, 1, 120, "pending", timedelta(seconds=120), False, False),
    (429, 1, None, "pending", timedelta(seconds=30), False, False),
    (429, 1, 99999, "pending", timedelta(hours=2), False, False),      # capped
    (500, 1, None, "pending", timedelta(seconds=30), False, False),
    (503, 3, None, "pending", timedelta(minutes=2), False, False),
    (None, 2, None, "pending", timedelta(minutes=1), False, False),     # no answer at all
    (401, 1, None, "pending", timedelta(seconds=30), False, True),     # VAPID broken: loud
    (403, 1, None, "pending", timedelta(seconds=30), False, True),
    (400, 1, None, "failed", None, False, False),                     # our message is wrong
    (500, MAX_ATTEMPTS, None, "failed", None, False, False),
    (410, MAX_ATTEMPTS, None, "gone", None, True, False),
])
def test_after_attempt(status_code, attempts, retry_after, expected_status, wait, drop, alarm):
    outcome = after_attempt(status_code, attempts, NOW, retry_after)
    assert outcome.status == expected_status
    assert (outcome.next_try_at - NOW if outcome.next_try_at else None) == wait
    assert outcome.drop_subscription == drop and bool(outcome.alarm) == alarm


def test_backoff_doubles_and_caps():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30) == timedelta(hours=2)


def test_retry_after_as_seconds_or_date():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Sun, 22 Nov 2026 12:05:00 GMT", NOW) == 300
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None
