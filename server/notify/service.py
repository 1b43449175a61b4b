"""Queueing notifications in the same transaction as the change that causes them, and push subscriptions."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Protocol

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.i18n import N_, format_time, gettext
from server.notify.messages import TEMPLATES, sms_body
from server.settings import Settings

SOON = N_("soon")
PUSH_TITLE = N_("Power: %(code)s")

class Notified(Protocol):
    """What a notice says of an incident (server/incidents passes its Incident; notify sits below it)."""

    id: int
    code: str
    etr: datetime | None


# Customers are told at these moments (ARCHITECTURE.md, "Incident state machine").
URGENCY = {"assigned": "normal", "en_route": "high", "etr_changed": "normal", "restored": "high"}

_RECIPIENTS = text("""
    SELECT r.id AS report_id, r.phone, r.language, r.tracking_token,
           s.id AS subscription_id, s.endpoint
    FROM report r
    LEFT JOIN push_subscription s ON s.report_id = r.id
    WHERE r.incident_id = :incident_id
    ORDER BY r.id, s.id
""")

_QUEUE = text("""
    INSERT INTO outbox (channel, kind, incident_id, subscription_id, recipient, language, payload, dedupe_key)
    VALUES (:channel, :kind, :incident_id, :subscription_id, :recipient, :language, CAST(:payload AS jsonb),
            :dedupe_key)
    ON CONFLICT (dedupe_key) DO NOTHING
""")


def _values(incident: Notified, kind: str, language: str, link: str, settings: Settings,
            crew_code: str | None) -> dict[str, str]:
    etr = format_time(incident.etr, language, settings.locale.timezone, settings.locale.phone_region, "short") \
        if incident.etr else gettext(language, SOON)
    return {"code": incident.code, "etr": etr, "link": link, "crew_code": crew_code or "—"}


async def queue_incident_notice(session: AsyncSession, incident: Notified, kind: str, settings: Settings,
                                crew_code: str | None = None) -> int:
    """Queue the notice `kind` for every report on the incident: push where the customer subscribed,
    else SMS to their phone. Call inside the transaction that makes the change; it does not commit.

    One message per (incident, kind, recipient) ever — an ETR change is keyed by the new ETR too.
    Returns how many messages were newly queued.
    """
    if kind not in URGENCY:
        raise ValueError(f"no customer notice for {kind!r}")
    stamp = f":{incident.etr.isoformat()}" if kind == "etr_changed" and incident.etr else ""
    rows = (await session.exec(_RECIPIENTS, params={"incident_id": incident.id})).all()
    queued, texted = 0, set()
    for row in rows:
        link = f"{settings.public_url}/t/{row.tracking_token}"
        values = _values(incident, kind, row.language, link, settings, crew_code)
        if row.subscription_id is not None:
            channel, recipient = "push", row.endpoint
            payload = {"title": gettext(row.language, PUSH_TITLE, code=incident.code),
                       "body": gettext(row.language, TEMPLATES[kind], **values),
                       # One tag and one Topic per incident: "power is back" replaces "crew on the way",
                       # on the phone and in the push service's queue alike.
                       "url": f"/t/{row.tracking_token}", "tag": incident.code,
                       "topic": incident.code.replace("-", "")[:32], "urgency": URGENCY[kind]}
        elif row.phone and row.phone not in texted:  # no subscription on this report: SMS instead
            texted.add(row.phone)  # several reports from one phone: one SMS
            channel, recipient = "sms", row.phone
            payload = {"text": sms_body(kind, row.language, **values)}
        else:
            continue
        result = await session.exec(_QUEUE, params={
            "channel": channel, "kind": kind, "incident_id": incident.id, "subscription_id": row.subscription_id,
            "recipient": recipient, "language": row.language, "payload": json.dumps(payload, ensure_ascii=False),
            "dedupe_key": f"{incident.id}:{kind}{stamp}:{recipient}"})
        queued += result.rowcount
    return queued


_REPORT_BY_TOKEN = text("SELECT id FROM report WHERE tracking_token = :token")


async def report_id_by_token(session: AsyncSession, token: str) -> int | None:
    """The report a tracking link names (the customer's key to "notify me")."""
    return (await session.exec(_REPORT_BY_TOKEN, params={"token": token})).scalar_one_or_none()


async def subscribe(session: AsyncSession, report_id: int, endpoint: str, p256dh: str, auth: str) -> None:
    """Store (or move to this report) a browser's push subscription; endpoints are unique."""
    await session.exec(text("""
        INSERT INTO push_subscription (report_id, endpoint, p256dh, auth) VALUES (:r, :e, :p, :a)
        ON CONFLICT (endpoint) DO UPDATE SET report_id = :r, p256dh = :p, auth = :a
    """), params={"r": report_id, "e": endpoint, "p": p256dh, "a": auth})
    await session.commit()


async def unsubscribe(session: AsyncSession, report_id: int, endpoint: str) -> bool:
    result = await session.exec(text("DELETE FROM push_subscription WHERE report_id = :r AND endpoint = :e"),
                                params={"r": report_id, "e": endpoint})
    await session.commit()
    return result.rowcount > 0


_RECENT_SMS = text("""
    SELECT o.id, o.kind, o.recipient, o.language, o.payload->>'text' AS text, o.status, o.attempts,
           o.created_at, o.sent_at, i.code
    FROM outbox o LEFT JOIN incident i ON i.id = o.incident_id
    WHERE o.channel = 'sms' ORDER BY o.id DESC LIMIT 200
""")


async def recent_sms(session: AsyncSession) -> list:
    """The development inbox: the latest SMS customers were (or would be) sent."""
    return list(await session.exec(_RECENT_SMS))


async def zone_choices(session: AsyncSession) -> list:
    """(id, name) of every zone, for the forms that send to one."""
    return list(await session.exec(text("SELECT id, name FROM zone ORDER BY name")))
