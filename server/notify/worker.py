"""The outbox worker: sends what is due, one row at a time under a row lock (FOR UPDATE SKIP LOCKED),
so any number of workers can run side by side.

Delivery is at least once: a worker killed after the push service accepted a message but before our
commit sends it again on restart. The phone still shows it once — every push carries a `tag` (the
service worker replaces a notification with the same tag) and a `Topic` — and the SMS gateway gets the
outbox id as an Idempotency-Key. Nothing is ever dropped: a row leaves `pending` only when sent, gone
(404/410), or failed after MAX_ATTEMPTS. A push whose subscription is gone (the customer cleared the
browser, or changed phones) becomes an SMS to the report's phone, when there is one.
"""
from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.i18n import gettext
from server.notify.messages import ANTI_FRAUD
from server.notify.push import PushSender
from server.notify.rules import after_attempt, parse_retry_after
from server.notify.segments import sms_text
from server.notify.sms import SmsGateway

log = logging.getLogger("faultline.notify")

_NEXT_DUE = text("""
    SELECT o.id, o.channel, o.kind, o.incident_id, o.recipient, o.language, o.payload, o.dedupe_key, o.attempts,
           s.p256dh, s.auth
    FROM outbox o LEFT JOIN push_subscription s ON s.id = o.subscription_id
    WHERE o.status = 'pending' AND o.next_try_at <= CAST(:now AS timestamptz)
    ORDER BY o.next_try_at, o.id
    FOR UPDATE OF o SKIP LOCKED
    LIMIT 1
""")
_RECORD = text("""
    UPDATE outbox SET status = :status, attempts = :attempts, next_try_at = coalesce(:next_try_at, next_try_at),
                      last_error = :error,
                      sent_at = CASE WHEN CAST(:sent AS boolean) THEN CAST(:now AS timestamptz) ELSE sent_at END
    WHERE id = :id
""")


_SMS_SENDER = text("SELECT sms_sender FROM operator_settings WHERE id = 1")
# Keyed as queue_incident_notice keys an SMS (incident:kind[:etr]:phone): a phone already texted this
# notice, by its own report or another's fallback, is not texted again. Runs only when a subscription is gone,
# before it is deleted: the report's phone is looked up then, not for every message sent.
_SMS_INSTEAD = text("""
    INSERT INTO outbox (channel, kind, incident_id, recipient, language, payload, dedupe_key)
    SELECT 'sms', :kind, :incident_id, r.phone, :language, CAST(:payload AS jsonb), :key_prefix || r.phone
    FROM push_subscription s JOIN report r ON r.id = s.report_id
    WHERE s.endpoint = :endpoint AND r.phone IS NOT NULL
    ON CONFLICT (dedupe_key) DO NOTHING
""")


def sms_instead(row) -> dict | None:
    """The SMS that replaces a push to a subscription that is gone: the same words, with the anti-fraud line,
    for the report's phone (none is queued when the report left no phone)."""
    if row.channel != "push" or not row.dedupe_key.endswith(row.recipient):
        return None
    payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
    words = f"{payload['body']} {gettext(row.language, ANTI_FRAUD)}"
    return {"kind": row.kind, "incident_id": row.incident_id, "language": row.language, "endpoint": row.recipient,
            "payload": json.dumps({"text": sms_text(words, row.language)}, ensure_ascii=False),
            "key_prefix": row.dedupe_key[:-len(row.recipient)]}


class Courier:
    """Sends one outbox row by its channel."""

    def __init__(self, push: PushSender, sms: SmsGateway):
        self.push, self.sms = push, sms

    def send(self, row, sender: str | None = None):
        payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
        if row.channel == "push":
            if row.p256dh is None:  # the subscription was removed after this was queued
                return None
            body = json.dumps({"id": row.id, **{k: payload[k] for k in ("title", "body", "url", "tag")}},
                              ensure_ascii=False)
            return self.push.send(row.recipient, row.p256dh, row.auth, body, payload.get("topic"),
                                  payload.get("urgency", "normal"))
        return self.sms.send(row.recipient, payload["text"], row.id, sender)


async def deliver_one(engine: AsyncEngine, courier: Courier) -> bool:
    """Send the next due message, if any; True when one was handled."""
    async with AsyncSession(engine) as session:
        row = (await session.exec(_NEXT_DUE, params={"now": utcnow()})).first()
        if row is None:
            return False
        # The sender name an administrator set (/admin/settings) wins over FAULTLINE_SMS_SENDER, at once.
        sender = (await session.exec(_SMS_SENDER)).scalar() if row.channel == "sms" else None
        result = await asyncio.to_thread(courier.send, row, sender)
        attempts = row.attempts + 1
        now = utcnow()
        if result is None:
            status, next_try, error, drop = "gone", None, "subscription removed", False
        else:
            outcome = after_attempt(result.status_code, attempts, now, parse_retry_after(result.retry_after, now))
            status, next_try, error, drop = outcome.status, outcome.next_try_at, result.error, outcome.drop_subscription
            if outcome.alarm:
                log.error("outbox %s: %s (HTTP %s)", row.id, outcome.alarm, result.status_code)
        await session.exec(_RECORD, params={"id": row.id, "status": status, "sent": status == "sent", "now": now,
                                            "attempts": attempts, "next_try_at": next_try,
                                            "error": (error or None) and error[:500]})
        if drop:
            instead = sms_instead(row)
            if instead:
                await session.exec(_SMS_INSTEAD, params=instead)
            await session.exec(text("DELETE FROM push_subscription WHERE endpoint = :e"), params={"e": row.recipient})
        await session.commit()
        return True


async def deliver_due(engine: AsyncEngine, courier: Courier, concurrency: int = 8) -> int:
    """Send everything due now, `concurrency` messages at a time; returns how many were handled."""
    handled = 0

    async def lane():
        nonlocal handled
        while await deliver_one(engine, courier):
            handled += 1

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return handled


async def run_forever(engine: AsyncEngine, courier: Courier, idle_seconds: float = 1.0) -> None:
    """The worker loop: drain what is due, then look again a moment later."""
    while True:
        try:
            if not await deliver_due(engine, courier):
                await asyncio.sleep(idle_seconds)
        except asyncio.CancelledError:
            raise
        except Exception:  # a database hiccup must not stop notifications for good
            log.exception("outbox worker failed; retrying shortly")
            await asyncio.sleep(5)
