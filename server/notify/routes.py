"""Push subscriptions from the tracking page, the VAPID public key, and the staff's view of sent SMS."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from server.api_docs import errors
from server.db import DbSession, utcnow
from server.forms import clean_form, local_time, whole_number
from server.i18n import N_
from server.refusals import Refused
from server.notify.announcements import broadcast_texts, cancel_outage, plan_outage, upcoming_planned_work, \
    preview_broadcast, send_broadcast
from server.notify.service import recent_sms, report_id_by_token, subscribe, unsubscribe, zone_choices
from server.settings import LANGUAGES
from server.staff.guards import PUBLIC, roles

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class SubscriptionKeys:
    p256dh: str
    auth: str


@dataclass
class Subscription:
    """What `PushSubscription.toJSON()` gives in the browser."""

    endpoint: str
    keys: SubscriptionKeys | None = None


def _b64url_bytes(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return b""


def check_subscription(subscription: Subscription) -> None:
    """A real push endpoint (https; http only on this machine, for development) and well-formed keys."""
    parts = urlsplit(subscription.endpoint)
    if len(subscription.endpoint) > 1000 or not parts.netloc or not (
            parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)):
        raise Refused(N_("This browser gave an address we cannot send notifications to."), 400, "endpoint")
    keys = subscription.keys
    if keys is None or len(_b64url_bytes(keys.p256dh)) != 65 or len(_b64url_bytes(keys.auth)) != 16:
        raise Refused(N_("This browser gave notification keys we cannot use."), 400, "keys")


async def _report_id(session, token: str) -> int:
    found = await report_id_by_token(session, token) if len(token) == 22 else None
    if found is None:
        raise Refused(N_("We could not find this report. Check the link in your message."), 404)
    return found


class PushSubscriptions(Controller):
    """The tracking page's "notify me": a browser's push subscription for one report (cookie CSRF applies)."""

    opt = PUBLIC  # the tracking token in the path is the customer's key
    include_in_schema = True
    tags = ["notifications"]

    @get("/push/key", summary="The VAPID public key to subscribe with")
    async def public_key(self, request: Request) -> dict[str, str]:
        return {"publicKey": request.app.state.vapid_public_key}

    @post("/t/{token:str}/push", status_code=201, summary="Notify this browser about this report",
          responses=errors(400, 403, 404))
    async def add(self, token: FromPath[str], db_session: DbSession, data: JSONBody[Subscription]) -> dict[str, bool]:
        check_subscription(data)
        await subscribe(db_session, await _report_id(db_session, token), data.endpoint, data.keys.p256dh,
                        data.keys.auth)
        return {"subscribed": True}

    @delete("/t/{token:str}/push", status_code=204, summary="Stop notifying this browser",
            responses=errors(400, 403, 404))
    async def remove(self, token: FromPath[str], db_session: DbSession, data: JSONBody[Subscription]) -> None:
        await unsubscribe(db_session, await _report_id(db_session, token), data.endpoint)


class SmsInbox(Controller):
    """Development inbox: what customers were (or would be) sent by SMS, newest first."""

    opt = roles("admin", "supervisor")

    @get("/admin/sms-inbox")
    async def inbox(self, db_session: DbSession) -> Template:
        return Template("admin/sms_inbox.html", context={"messages": await recent_sms(db_session)})


PLANNED_LONGEST = timedelta(days=3)


def a_year_after(day: date) -> date:
    """The same date next year: the last day planned work may start on. From 29 February, 28 February."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def _local_datetime(raw: str, timezone: str, now: datetime) -> datetime:
    """A `datetime-local` form value, read in the deployment's time zone, as UTC."""
    try:
        return local_time(datetime.fromisoformat(raw), timezone, now)
    except (ValueError, OverflowError):  # not a date, or beyond what a datetime holds once in UTC
        raise Refused(N_("Give the start and end as a date and a time."), 400) from None


class PlannedOutages(Controller):
    """Dispatchers and supervisors announce maintenance: public at once, SMS to the area ahead of time."""

    opt = roles("dispatcher", "supervisor")

    @get("/planned")
    async def planned_page(self, db_session: DbSession) -> Template:
        upcoming = await upcoming_planned_work(db_session, utcnow())
        return Template("notify/planned.html", context={"zones": await zone_choices(db_session), "upcoming": upcoming,
                                                        "values": {}, "errors": {}})

    @post("/planned")
    async def plan(self, request: Request, db_session: DbSession) -> Template | Redirect:
        settings = request.app.state.settings
        form = clean_form({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
        errors = {}
        title = form.get("title", "").strip()
        if not 3 <= len(title) <= 120:
            errors["title"] = N_("Give the work a short title customers will understand (3 to 120 characters).")
        zone_ids = {row.id for row in await zone_choices(db_session)}
        zone_id = whole_number(form.get("zone_id"))
        if zone_id not in zone_ids:
            errors["zone_id"] = N_("Choose the zone where the power will be off.")
        now, zone = utcnow(), ZoneInfo(settings.locale.timezone)
        try:
            starts_at = _local_datetime(form.get("starts_at", ""), settings.locale.timezone, now)
            ends_at = _local_datetime(form.get("ends_at", ""), settings.locale.timezone, now)
            if starts_at.astimezone(zone).date() > a_year_after(now.astimezone(zone).date()):
                errors["starts_at"] = N_("Announce planned work at most a year ahead.")
            elif not starts_at < ends_at <= starts_at + PLANNED_LONGEST:
                errors["ends_at"] = N_("The end must come after the start, at most three days later.")
            elif ends_at < now:
                errors["ends_at"] = N_("This work would already be over.")
        except Refused as refused:  # shown beside the field, the form drawn again
            errors["starts_at"] = refused.message
        if errors:
            return Template("notify/planned.html", status_code=422, context={
                "zones": await zone_choices(db_session), "upcoming": [], "values": form, "errors": errors})
        await plan_outage(db_session, settings, title=title, reason=form.get("reason", "").strip()[:500],
                          zone_id=zone_id, starts_at=starts_at, ends_at=ends_at)
        return Redirect("/planned", status_code=303)

    @post("/planned/{outage_id:str}/cancel")
    async def cancel(self, request: Request, db_session: DbSession, outage_id: FromPath[str]) -> Redirect:
        """Call the work off: customers already told get an SMS that their power stays on."""
        await cancel_outage(db_session, request.app.state.settings, whole_number(outage_id) or 0)
        return Redirect("/planned", status_code=303)


def _written_texts(form: dict[str, str]) -> dict[str, str]:
    return {lang: form.get(f"text_{lang}", "").strip() for lang in LANGUAGES}


class Broadcasts(Controller):
    """A message to every customer of a zone, with a preview of who receives it and a confirmation step."""

    opt = roles("supervisor", "admin")

    @get("/broadcasts")
    async def broadcast_page(self, db_session: DbSession) -> Template:
        return Template("notify/broadcast.html", context={"zones": await zone_choices(db_session), "values": {},
                                                          "errors": {}, "preview": None})

    @post("/broadcasts", status_code=200)
    async def broadcast(self, request: Request, db_session: DbSession) -> Template:
        form = clean_form({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
        written = _written_texts(form)
        zone_id = whole_number(form.get("zone_id"))
        errors = {}
        if not written["en"]:
            errors["text_en"] = N_("Write the message in English at least; other languages fall back to it.")
        if any(len(body) > 300 for body in written.values()):
            errors["text_en"] = N_("Keep each text under 300 characters: long SMS cost several messages.")
        if form.get("zone_id") and zone_id not in {row.id for row in await zone_choices(db_session)}:
            errors["zone_id"] = N_("Choose a zone from the list.")
        context = {"zones": await zone_choices(db_session), "values": form, "errors": errors, "preview": None}
        if errors:
            return Template("notify/broadcast.html", status_code=422, context=context)
        texts = broadcast_texts(written)
        # Sent only as previewed: a text or zone changed after the preview shows a fresh preview. The
        # confirmation is also the broadcast's one-time key: the same confirmed form sent again sends nothing.
        previewed = hashlib.sha256(json.dumps([zone_id, texts], sort_keys=True).encode()).hexdigest()[:32]
        once, _, shown = (form.get("confirm") or "").partition(".")
        if shown != previewed or not re.fullmatch(r"[0-9a-f]{30}", once):
            context.update(preview=await preview_broadcast(db_session, zone_id, texts), texts=texts,
                           previewed=f"{secrets.token_hex(15)}.{previewed}")
            return Template("notify/broadcast.html", context=context)
        broadcast, new = await send_broadcast(db_session, zone_id, texts, request.user.id, form["confirm"])
        return Template("notify/broadcast.html", context={**context, "values": {}, "sent": broadcast.recipients,
                                                          "repeat": not new})
