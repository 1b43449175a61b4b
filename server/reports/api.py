"""The JSON intake API for chatbots and partner systems: one API key per client, described in OpenAPI."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody, PathParameter
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server import ratelimit
from server.api_docs import errors
from server.db import DbSession
from server.forms import clean_form
from server.i18n import N_, gettext
from server.incidents.models import Incident
from server.labels import STATUS_LABELS
from server.reports.models import ApiClient, Report
from server.reports.rules import FormErrors, check_report_form
from server.refusals import Refused
from server.reports.service import Receipt, grouping_from, report_by_token, take_report
from server.staff.guards import PUBLIC



def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_client(session: AsyncSession, name: str) -> str:
    """Register a client; returns its key, which is stored only as a hash and shown this once."""
    key = "fl_" + secrets.token_urlsafe(32)
    session.add(ApiClient(name=name, key_hash=key_hash(key)))
    await session.commit()
    return key


async def api_key_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    key = connection.headers.get("x-api-key", "")
    client = None
    if key:
        async with AsyncSession(connection.app.state.engine) as session:
            client = (await session.exec(select(ApiClient).where(
                ApiClient.key_hash == key_hash(key), ApiClient.active.is_(True)))).first()
    if client is None:
        raise NotAuthorizedException("Send a valid API key in the X-Api-Key header.")
    connection.scope["api_client"] = client.name


@dataclass
class ReportRequest:
    """A report as a partner system sends it. Give a location (latitude and longitude) or a meter number."""

    category: Literal["no_power", "low_voltage", "danger", "damage"]
    phone: str
    latitude: float | None = None
    longitude: float | None = None
    meter_no: str | None = None
    text: str = ""
    language: Literal["en", "sw", "hi", "vi", "sq"] = "en"


@dataclass
class ReportStatus:
    reference: str
    tracking_url: str
    status: Literal["reported", "assigned", "en_route", "on_site", "restored", "closed", "cancelled"]
    status_text: str
    etr: datetime | None
    joined_existing: bool
    already_reported: bool


def _status(request: Request, report: Report, incident: Incident, joined: bool = False,
            repeat: bool = False) -> ReportStatus:
    # The link the partner hands on to the customer: the public address, never the request's Host header.
    return ReportStatus(reference=incident.code,
                        tracking_url=f"{request.app.state.settings.public_url}/t/{report.tracking_token}",
                        status=incident.status, status_text=gettext(report.language, STATUS_LABELS[incident.status]),
                        etr=incident.etr, joined_existing=joined, already_reported=repeat)


def _as_form(body: ReportRequest) -> dict[str, str]:
    """The API shares the web form's rules: one set of checks for every channel."""
    def text(value) -> str:
        return "" if value is None else str(value)
    return clean_form({"category": body.category, "phone": body.phone, "latitude": text(body.latitude),
                       "longitude": text(body.longitude), "meter_no": text(body.meter_no), "text": body.text})


def _unprocessable(language: str, errors: dict[str, str]) -> ClientException:
    """422 with one message per field, in the report's language, for a chatbot to pass on."""
    messages = {field: gettext(language, message) for field, message in errors.items()}
    return ClientException(" ".join(messages.values()), status_code=422, extra={"errors": messages})


class IntakeApi(Controller):
    path = "/api/v1"
    tags = ["intake"]
    include_in_schema = True
    guards = [api_key_guard]
    security = [{"ApiKey": []}]
    # Authenticated by key, not by cookie: CSRF does not apply.
    opt = {**PUBLIC, "exclude_from_csrf": True}

    @post("/reports", status_code=201, summary="File a report", responses=errors(400, 401, 422, 429))
    async def file_report(self, request: Request, db_session: DbSession, data: JSONBody[ReportRequest]) -> ReportStatus:
        """File a customer's report. It joins the open incident at that place when there is one; the same
        phone or meter reporting the same incident again is counted, not filed twice (`already_reported`)."""
        settings = request.app.state.settings
        client = request.scope["api_client"]
        await ratelimit.enforce(db_session, f"api:{client}", settings.intake.rate_per_api_client,
                                timedelta(minutes=1))
        checked = check_report_form(_as_form(data), region=settings.locale.phone_region, language=data.language)
        if isinstance(checked, FormErrors):
            raise _unprocessable(data.language, checked.fields)
        await ratelimit.enforce(db_session, f"phone:{checked.phone}", settings.intake.rate_per_phone,
                                timedelta(hours=1))
        try:
            receipt: Receipt = await take_report(db_session, checked, channel="api", actor=f"api:{client}",
                                                 grouping=await grouping_from(db_session, settings))
        except Refused as refused:  # said per field, in the report's language
            raise _unprocessable(data.language, {refused.field: refused.message}) from None
        return _status(request, receipt.report, receipt.incident, receipt.joined_existing, receipt.already_reported)

    @get("/reports/{token:str}", summary="Follow a report", responses=errors(400, 401, 404))
    async def report_status(self, request: Request, db_session: DbSession,
                            token: Annotated[str, PathParameter(min_length=22, max_length=22, pattern=r"^[A-Za-z0-9_-]+$")]
                            ) -> ReportStatus:
        """The status of one report, by the token in its tracking URL."""
        found = await report_by_token(db_session, token)
        if found is None:
            raise Refused(N_("No report has this token."), 404)
        return _status(request, *found)
