"""Planned outages and broadcasts: SMS to every customer of an area, queued in one statement per language."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import utcnow
from server.refusals import Refused
from server.i18n import N_, format_time, gettext
from server.notify.models import Broadcast, PlannedOutage
from server.notify.messages import ANTI_FRAUD, sms_body
from server.notify.segments import sms_cost, sms_text
from server.settings import LANGUAGES, Settings

# Customers of an area: inside the area, or on a transformer inside it (a customer's own point may be missing).
_IN_AREA = """
    FROM customer c LEFT JOIN transformer t ON t.id = c.transformer_id
    WHERE c.phone IS NOT NULL AND (CAST(:zone_id AS integer) IS NULL OR EXISTS (
        SELECT 1 FROM zone z WHERE z.id = :zone_id
          AND ST_Covers(z.area, coalesce(c.location, t.location)::geometry)))
"""
# Planned work cuts the supply of a zone's transformers: a customer fed from one of them loses power wherever
# their house stands (near a zone's edge it may lie outside); without a known transformer, their own place.
_IN_OUTAGE = """
    FROM customer c LEFT JOIN transformer t ON t.id = c.transformer_id, planned_outage p
    WHERE p.id = :outage_id AND c.phone IS NOT NULL
      AND ST_Covers(p.area, coalesce(t.location, c.location)::geometry)
"""
_QUEUE_SMS = """
    INSERT INTO outbox (channel, kind, recipient, language, payload, dedupe_key, next_try_at)
    SELECT DISTINCT ON (c.phone) 'sms', :kind, c.phone, c.language, CAST(:payload AS jsonb),
           :key_prefix || c.phone, :send_at
    {area} AND c.language = :language
    ORDER BY c.phone
    ON CONFLICT (dedupe_key) DO NOTHING
"""


async def _queue_by_language(session: AsyncSession, area_sql: str, params: dict, kind: str, key_prefix: str,
                             texts: dict[str, str], send_at: datetime) -> int:
    queued = 0
    statement = text(_QUEUE_SMS.format(area=area_sql))
    for language, body in texts.items():
        result = await session.exec(statement, params={
            **params, "kind": kind, "language": language, "payload": json.dumps({"text": body}, ensure_ascii=False),
            "key_prefix": key_prefix, "send_at": send_at})
        queued += result.rowcount
    return queued


async def plan_outage(session: AsyncSession, settings: Settings, *, title: str, reason: str, zone_id: int,
                      starts_at: datetime, ends_at: datetime) -> tuple[PlannedOutage, int]:
    """Announce maintenance on a zone: shown on the public outages page at once; each customer in the area
    gets an SMS `planned_notice_hours` before it starts (at once if that is already past)."""
    area = (await session.exec(text("SELECT ST_AsEWKT(area) FROM zone WHERE id = :id"), params={"id": zone_id})
            ).scalar_one()
    outage = PlannedOutage(title=title, reason=reason, area=area, zone_id=zone_id, starts_at=starts_at,
                           ends_at=ends_at)
    session.add(outage)
    await session.flush()
    # In UTC: hours before a local time across a daylight-saving change are not its wall clock's hours.
    send_at = max(starts_at.astimezone(UTC) - timedelta(hours=settings.notify.planned_notice_hours), utcnow())
    loc = settings.locale
    texts = {lang: sms_body("planned", lang, area=title,
                            start=format_time(starts_at, lang, loc.timezone, loc.phone_region, "short"),
                            end=format_time(ends_at, lang, loc.timezone, loc.phone_region, "short"))
             for lang in LANGUAGES}
    queued = await _queue_by_language(session, _IN_OUTAGE, {"outage_id": outage.id}, "planned",
                                      f"planned:{outage.id}:", texts, send_at)
    await session.commit()
    return outage, queued


# Only customers already told hear of the cancellation; notices not yet sent are withdrawn.
_WITHDRAW = text("DELETE FROM outbox WHERE dedupe_key LIKE :prefix || '%' AND status = 'pending'")
_TOLD = """
    FROM outbox o JOIN customer c ON c.phone = o.recipient
    WHERE o.dedupe_key LIKE :told_prefix || '%' AND o.status = 'sent'
"""


async def cancel_outage(session: AsyncSession, settings: Settings, outage_id: int) -> int:
    """Call off planned work: off the public page at once; unsent notices withdrawn; every customer
    already told gets an SMS that the power stays on. Returns how many were queued."""
    outage = (await session.exec(select(PlannedOutage).where(PlannedOutage.id == outage_id).with_for_update())
              ).first()
    if outage is None:
        raise Refused(N_("There is no such planned work."), 404)
    if outage.cancelled or outage.ends_at <= utcnow():
        raise Refused(N_("This planned work is already cancelled or over."), 409)
    outage.cancelled = True
    session.add(outage)
    prefix = f"planned:{outage.id}:"
    await session.exec(_WITHDRAW, params={"prefix": prefix})
    loc = settings.locale
    texts = {lang: sms_body("planned_cancelled", lang, area=outage.title,
                            start=format_time(outage.starts_at, lang, loc.timezone, loc.phone_region, "short"))
             for lang in LANGUAGES}
    queued = await _queue_by_language(session, _TOLD, {"told_prefix": prefix}, "planned_cancelled",
                                      f"planned-cancelled:{outage.id}:", texts, utcnow())
    await session.commit()
    return queued


def broadcast_texts(written: dict[str, str]) -> dict[str, str]:
    """Each language's text (English where none was written), ending with the anti-fraud line, as sent."""
    return {lang: sms_text(f"{(written.get(lang) or written['en']).strip()} {gettext(lang, ANTI_FRAUD)}", lang)
            for lang in LANGUAGES}


@dataclass(frozen=True)
class BroadcastPreview:
    recipients: dict[str, int]            # language → customers
    costs: dict[str, tuple[str, int, int]]  # language → (encoding, characters, SMS)

    @property
    def total(self) -> int:
        return sum(self.recipients.values())


_COUNT_BY_LANGUAGE = text("SELECT c.language, count(DISTINCT c.phone) " + _IN_AREA + " GROUP BY c.language")


async def preview_broadcast(session: AsyncSession, zone_id: int | None, texts: dict[str, str]) -> BroadcastPreview:
    counts = dict((await session.exec(_COUNT_BY_LANGUAGE, params={"zone_id": zone_id})).all())
    return BroadcastPreview({lang: counts.get(lang, 0) for lang in LANGUAGES},
                            {lang: sms_cost(texts[lang]) for lang in LANGUAGES})


async def send_broadcast(session: AsyncSession, zone_id: int | None, texts: dict[str, str],
                         staff_id: int, confirmation: str | None = None) -> tuple[Broadcast, bool]:
    """Queue the texts for every customer of the zone: the broadcast (`recipients` counts them) and True.
    A confirmation already used returns that earlier broadcast and False: nothing is queued twice."""
    # The unique key makes a second send of the same confirmation wait for the first, then find it.
    claimed = (await session.exec(text(
        "INSERT INTO broadcast (zone_id, texts, recipients, confirmation, created_by_staff_id) "
        "VALUES (:zone_id, CAST(:texts AS jsonb), 0, :confirmation, :staff_id) "
        "ON CONFLICT (confirmation) DO NOTHING RETURNING id"), params={
        "zone_id": zone_id, "texts": json.dumps(texts, ensure_ascii=False), "confirmation": confirmation,
        "staff_id": staff_id})).scalar_one_or_none()
    if claimed is None:
        await session.rollback()
        return (await session.exec(select(Broadcast).where(Broadcast.confirmation == confirmation))).one(), False
    broadcast = await session.get(Broadcast, claimed)
    broadcast.recipients = await _queue_by_language(session, _IN_AREA, {"zone_id": zone_id}, "broadcast",
                                                    f"broadcast:{broadcast.id}:", texts, utcnow())
    await session.commit()
    return broadcast, True


_UPCOMING = text("""
    SELECT p.id, p.title, p.reason, p.starts_at, p.ends_at, z.name AS zone,
           (SELECT count(*) FROM outbox o WHERE o.dedupe_key LIKE 'planned:' || p.id || ':%') AS notices
    FROM planned_outage p LEFT JOIN zone z ON z.id = p.zone_id
    WHERE NOT p.cancelled AND p.ends_at > CAST(:now AS timestamptz) ORDER BY p.starts_at
""")


async def upcoming_planned_work(session: AsyncSession, now: datetime) -> list:
    """Planned work still to come or under way, with how many notices each has queued or sent."""
    return list(await session.exec(_UPCOMING, params={"now": now}))
