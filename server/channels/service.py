"""Feature-phone intake: the database look-ups behind USSD and SMS, and one answer per gateway callback.

The pure modules decide (`ussd.read`, `sms.parse`) and word (`ussd.outcome_screen`, `sms.reply_text`);
this module finds the customer's language, files reports through the one intake path
(`server.reports.service.take_report`) and reads incidents as `IncidentView`s — code, status and ETR only.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server import ratelimit
from server.assets.models import Customer
from server.channels import sms, ussd
from server.channels.messages import Filed, IncidentView, Refusal, ReplyLocale
from server.incidents.models import OPEN_STATUSES, Incident
from server.notify.segments import sms_text
from server.reports.models import Report
from server.labels import Category, Channel
from server.reports.rules import ReportInput
from server.refusals import Refused
from server.reports.service import grouping_from, take_report
from server.settings import LANGUAGES, Settings

_INCIDENT_VIEW = (Incident.code, Incident.status, Incident.etr)


def reply_locale(lang: str, settings: Settings) -> ReplyLocale:
    return ReplyLocale(lang, settings.locale.timezone, settings.locale.phone_region)


async def language_by_meter(session: AsyncSession, meter_no: str) -> str | None:
    query = select(Customer.language).where(Customer.meter_no == meter_no).limit(1)
    return _known_language((await session.exec(query)).first())


async def language_by_phone(session: AsyncSession, phone: str) -> str | None:
    query = select(Customer.language).where(Customer.phone == phone).order_by(Customer.id).limit(1)
    return _known_language((await session.exec(query)).first())


def _known_language(lang: str | None) -> str | None:
    return lang if lang in LANGUAGES else None


async def remember_language(session: AsyncSession, phone: str, lang: str) -> int:
    """Store a language chosen on the phone for every customer with that number; how many were changed."""
    result = await session.exec(update(Customer).where(col(Customer.phone) == phone).values(language=lang))
    await session.commit()
    return result.rowcount


def _view(row) -> IncidentView | None:
    return IncidentView(row.code, row.status, row.etr) if row is not None else None


async def latest_report_incident(session: AsyncSession, phone: str) -> IncidentView | None:
    """The incident of the latest report filed from (or for) this phone number."""
    query = (select(*_INCIDENT_VIEW).join(Report, col(Report.incident_id) == Incident.id)
             .where(Report.phone == phone).order_by(col(Report.created_at).desc(), col(Report.id).desc()).limit(1))
    return _view((await session.exec(query)).first())


async def _open_incident_on(session: AsyncSession, transformer_ids: list[int]) -> IncidentView | None:
    # The oldest open incident: the one new reports on that transformer join.
    query = (select(*_INCIDENT_VIEW).where(col(Incident.transformer_id).in_(transformer_ids),
                                           col(Incident.status).in_(OPEN_STATUSES))
             .order_by(Incident.id).limit(1))
    return _view((await session.exec(query)).first())


async def area_incident_by_meter(session: AsyncSession, meter_no: str) -> IncidentView | Refusal | None:
    """The open incident on this meter's transformer; Refusal.unknown_meter when no customer has it."""
    found = (await session.exec(select(Customer.id, Customer.transformer_id)
                                .where(Customer.meter_no == meter_no).limit(1))).first()
    if found is None:
        return Refusal.unknown_meter
    return await _open_incident_on(session, [found.transformer_id] if found.transformer_id else [])


async def area_incident_by_phone(session: AsyncSession, phone: str) -> IncidentView | ussd.AskMeter | None:
    """The open incident on the transformer of any customer with this phone number; ASK_METER when none has it."""
    transformers = (await session.exec(select(Customer.transformer_id).where(Customer.phone == phone))).all()
    if not transformers:
        return ussd.ASK_METER
    return await _open_incident_on(session, [t for t in transformers if t is not None])


async def incident_by_code(session: AsyncSession, code: str) -> IncidentView | None:
    return _view((await session.exec(select(*_INCIDENT_VIEW).where(Incident.code == code))).first())


async def report_no_power(session: AsyncSession, *, meter_no: str, phone: str, language: str, channel: Channel,
                          settings: Settings) -> Filed | Refusal:
    """File "no power" at a meter; a phone counts against the same hourly limit on every channel."""
    if not await ratelimit.hit(session, f"phone:{phone}", settings.intake.rate_per_phone, timedelta(hours=1)):
        return Refusal.too_many
    entry = ReportInput(category=Category.no_power, phone=phone, latitude=None, longitude=None, meter_no=meter_no,
                        text="", language=language)
    try:
        receipt = await take_report(session, entry, channel=channel, grouping=await grouping_from(session, settings))
    except Refused as refused:
        await session.rollback()
        return Refusal.unknown_meter if refused.field == "meter_no" else Refusal.outside_area
    return Filed(_view(receipt.incident), joined=receipt.joined_existing, already=receipt.already_reported)


async def answer_ussd(session: AsyncSession, phone: str, text: str, settings: Settings) -> ussd.Screen:
    """One step of a USSD session: replay the answers, do what the last one asks, give the next screen."""
    step = ussd.read(ussd.answers(text))
    # A language chosen in this session wins, then the phone's customer's, so every screen speaks alike. The
    # meter's customer speaks only for a phone no customer has (a borrowed phone), once the meter is typed.
    lang = step.language or await language_by_phone(session, phone)
    if lang is None and isinstance(step, ussd.Action) and step.meter is not None:
        lang = await language_by_meter(session, step.meter)
    locale = reply_locale(lang or settings.locale.default_language, settings)
    if isinstance(step, ussd.Prompt):
        if step.language_chosen_now:
            await remember_language(session, phone, step.language)
        return ussd.prompt_screen(step, locale)
    if step.kind is ussd.ActionKind.report:
        outcome = await report_no_power(session, meter_no=step.meter, phone=phone, language=locale.lang,
                                        channel=Channel.ussd, settings=settings)
    elif step.kind is ussd.ActionKind.my_report:
        outcome = await latest_report_incident(session, phone)
    elif step.meter is None:
        outcome = await area_incident_by_phone(session, phone)
    else:
        outcome = await area_incident_by_meter(session, step.meter)
    return ussd.outcome_screen(step, outcome, locale)


async def answer_sms(session: AsyncSession, phone: str, text: str, settings: Settings) -> str:
    """The reply to one inbound SMS."""
    command = sms.parse(text)
    # The customer's stored language (by the meter they name, else by the phone), else the keyword's own.
    lang = None
    if command.kind is sms.CommandKind.power and command.argument is not None:
        lang = await language_by_meter(session, command.argument)
    lang = lang or await language_by_phone(session, phone) or command.language or settings.locale.default_language
    locale = reply_locale(lang, settings)
    outcome = None
    if command.kind is sms.CommandKind.power and command.argument is not None:
        outcome = await report_no_power(session, meter_no=command.argument, phone=phone, language=lang,
                                        channel=Channel.sms, settings=settings)
    elif command.kind is sms.CommandKind.status and command.argument is not None:
        outcome = await incident_by_code(session, command.argument)
    elif command.kind is sms.CommandKind.status and not command.given:
        outcome = await latest_report_incident(session, phone)
    return sms_text(sms.reply_text(command, outcome, locale), lang)  # one SMS, not two, in Albanian
