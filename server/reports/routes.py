"""Customer pages (report a fault, follow it) and the call-centre agent's page."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType

from litestar.params import Body, FromPath
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.plugins.htmx import HTMXRequest
from litestar.response import File, Redirect, Response, Template

from server.db import DbSession
from server.static_files import STATIC
from server.forms import clean_form, safe_next_path
from server.media import ReportPhoto, report_photo
from server.i18n import N_
from server.incidents.service import open_queue
from server.reports.rules import FormErrors, ReportInput, check_place, check_report_form
from server.phones import normalise_phone
from server.labels import CATEGORY_LABELS
from server import ratelimit
from server.crews.models import Crew
from server.incidents.rules import timeline_steps
from server.refusals import Refused
from server.reports.service import (answer_power_back, find_callers, grouping_from,
                                    known_incident_at, report_by_token, take_report)
from server.settings import LANGUAGES
from server.staff.guards import PUBLIC, roles
from server.staff.middleware import LANGUAGE_COOKIE

Form = Body(media_type=RequestEncodingType.URL_ENCODED)
TRACKING_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")  # see new_tracking_token()


async def _attached_photo(upload, settings) -> ReportPhoto | None:
    """The optional photo, checked and normalised but not stored (take_report writes it with the report);
    None when the customer attached none."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    raw = await upload.read(settings.intake.photo_max_bytes + 1)
    if len(raw) > settings.intake.photo_max_bytes:
        raise Refused(N_("The photo is too large. Please attach a smaller picture."), 413, "photo")
    if not raw:
        return None
    return await report_photo(raw, settings.server.data_dir)


async def _tracked(session, token: str):
    found = await report_by_token(session, token) if TRACKING_TOKEN.fullmatch(token) else None
    if found is None:
        raise Refused(N_("We could not find this report. Check the link in your message."), 404)
    return found


def _form_page(request: HTMXRequest, values: dict, errors: dict, status: int) -> Template:
    # htmx swaps only the form; a browser without JavaScript gets the whole page.
    name = "customer/_report_form.html" if request.htmx else "customer/report.html"
    return Template(name, status_code=status, context={
        "categories": CATEGORY_LABELS, "values": values, "errors": errors})


class CustomerPages(Controller):
    opt = PUBLIC

    @get("/sw.js", media_type="text/javascript", cache_control=CacheControlHeader(no_cache=True))
    async def service_worker(self, request: Request) -> Response:
        # Served from the root so it may look after "/" and "/t/…", not only /static/.
        return Response(request.app.state.static.worker_source("customer-sw.js", "customer"),
                        media_type="text/javascript",
                        headers={"Service-Worker-Allowed": "/"})

    @get("/favicon.ico", cache_control=CacheControlHeader(max_age=86400, public=True))
    async def favicon(self) -> File:
        return File(STATIC / "icons" / "faultline-192.png", media_type="image/png", content_disposition_type="inline")

    @get("/")
    async def report_page(self, request: HTMXRequest) -> Template:
        return _form_page(request, {"category": "no_power"}, {}, 200)

    @post("/report")
    async def submit_report(self, request: HTMXRequest, db_session: DbSession) -> Template:
        settings = request.app.state.settings
        form = await request.form()  # multipart when a photo is attached, urlencoded otherwise
        data = clean_form({key: value for key, value in form.items() if isinstance(value, str)})
        await ratelimit.enforce(db_session, f"ip:{request.client.host if request.client else '?'}",
                                settings.intake.rate_per_ip, timedelta(minutes=1))
        checked = check_report_form(data, region=settings.locale.phone_region, language=request.state.lang)
        if isinstance(checked, FormErrors):
            return _form_page(request, data, checked.fields, 422)
        await ratelimit.enforce(db_session, f"phone:{checked.phone}", settings.intake.rate_per_phone,
                                timedelta(hours=1))
        try:
            photo = await _attached_photo(form.get("photo"), settings)
        except Refused as refused:  # the form comes back with what was typed, the photo's problem beside it
            return _form_page(request, data, {"photo": refused.message}, 422)
        try:
            receipt = await take_report(db_session, checked, channel="web",
                                        grouping=await grouping_from(db_session, settings), photo=photo)
        except Refused as refused:
            return _form_page(request, data, {refused.field: refused.message}, 422)
        name = "customer/_report_done.html" if request.htmx else "customer/report_done.html"
        return Template(name, status_code=201, context={"receipt": receipt})

    @get("/report/known")
    async def known_fault(self, request: HTMXRequest, db_session: DbSession) -> Template:
        """While the customer fills the form: is a fault already known where they are?"""
        settings = request.app.state.settings
        errors = FormErrors()
        latitude, longitude, meter_no = check_place(clean_form(dict(request.query_params)), errors)
        incident = None
        if not errors:
            probe = ReportInput(category="no_power", phone=None, latitude=latitude, longitude=longitude,
                                meter_no=meter_no, text="", language=request.state.lang)
            incident = await known_incident_at(db_session, probe, await grouping_from(db_session, settings))
        return Template("customer/_known_fault.html", context={"incident": incident})

    @get("/t/{token:str}")
    async def track(self, request: HTMXRequest, token: FromPath[str], db_session: DbSession) -> Template:
        report, incident = await _tracked(db_session, token)
        if LANGUAGE_COOKIE not in request.cookies and report.language in LANGUAGES:
            # The customer's stored language (the one their SMS came in), unless they chose one on the page.
            request.state.lang = report.language
        crew = await db_session.get(Crew, incident.crew_id) if incident.crew_id else None
        name = "customer/_track_status.html" if request.htmx else "customer/track.html"
        return Template(name, context={"report": report, "incident": incident, "crew": crew,
                                       "steps": timeline_steps(incident), "categories": CATEGORY_LABELS})

    @post("/t/{token:str}/power-back")
    async def power_back(self, request: HTMXRequest, token: FromPath[str], db_session: DbSession,
                         data: Annotated[dict[str, str], Form]) -> Redirect:
        answer = clean_form(data).get("answer")
        if answer not in ("yes", "no"):
            raise Refused(N_("Answer yes or no."), 400, "answer")
        report, incident = await _tracked(db_session, token)
        follow = await answer_power_back(db_session, report, incident, answer == "yes",
                                         await grouping_from(db_session, request.app.state.settings))
        return Redirect(f"/t/{follow.tracking_token}", status_code=303)

    @post("/language")
    async def choose_language(self, data: Annotated[dict[str, str], Form]) -> Redirect:
        data = clean_form(data)
        response = Redirect(safe_next_path(data.get("next")) or "/", status_code=303)
        if data.get("lang") in LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, data["lang"], max_age=365 * 24 * 3600, samesite="lax")
        return response


class AgentPages(Controller):
    """The call-centre screen: find the caller, see the known fault at their place, log the call."""

    opt = roles("agent", "supervisor")

    @get("/agent")
    async def agent_home(self, request: HTMXRequest, db_session: DbSession) -> Template:
        query = request.query_params.get("q", "").replace("\x00", "")[:60].strip()
        region = request.app.state.settings.locale.phone_region
        grouping = await grouping_from(db_session, request.app.state.settings)
        callers = await find_callers(db_session, query, region, grouping) if query else []
        # Calling from their own phone is the usual case; else the number on file.
        context = {"query": query, "callers": callers, "caller_phone": normalise_phone(query, region),
                   "categories": CATEGORY_LABELS}
        if request.htmx:
            return Template("agent/_callers.html", context=context)
        return Template("agent/index.html", context={**context, "queue": await open_queue(db_session)})

    @post("/agent/calls")
    async def log_call(self, request: HTMXRequest, db_session: DbSession,
                       data: Annotated[dict[str, str], Form]) -> Template:
        settings = request.app.state.settings
        data = clean_form(data)
        language = data.get("language") if data.get("language") in LANGUAGES else settings.locale.default_language
        checked = check_report_form(data, region=settings.locale.phone_region, language=language)
        if isinstance(checked, FormErrors):
            return Template("agent/_call_logged.html", status_code=422, context={"errors": checked.fields})
        try:
            receipt = await take_report(db_session, checked, channel="agent", actor=f"staff:{request.user.id}",
                                        grouping=await grouping_from(db_session, settings))
        except Refused as refused:
            return Template("agent/_call_logged.html", status_code=422,
                            context={"errors": {refused.field: refused.message}})
        return Template("agent/_call_logged.html", status_code=201, context={"receipt": receipt, "errors": {}})
