"""The one place that wires the app: settings, database, templates, security, routes."""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress
from typing import Annotated

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from litestar import Litestar, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.params import FromPath, QueryParameter
from litestar.openapi.spec import Components, SecurityScheme
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.router import Router
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.plugins.htmx import HTMXPlugin, HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig

from maps.routes import MapLayers
from sync.routes import SyncEndpoints
import server.models  # noqa: F401  (every table known before the first query)
from server import housekeeping, i18n
from server.i18n import N_
from server.admin.routes import AdminPages
from server.audit.routes import SupervisorPages
from server.channels.routes import GatewayCallbacks
from server.crews.routes import CrewPages, CrewWorker
from server.db import make_engine, provide_session
from server.crews.models import CREW_STATUS_LABELS
from server.dispatch.routes import CrewShiftButtons, DispatchConsole
from server.incidents.routes import PublicOutages
from server.labels import STATUS_LABELS
from server.notify.push import PushSender
from server.notify.routes import Broadcasts, PlannedOutages, PushSubscriptions, SmsInbox
from server.notify.sms import gateway_from
from server.notify.worker import Courier, run_forever
from server.provision import ensure_database, ensure_server
from server.reports.api import IntakeApi
from server.reports.routes import AgentPages, CustomerPages
from server.headers import security_headers
from server.input_guard import InputGuard
from server.refusals import Refused
from server.secrets import load_or_create_secrets
from server.settings import PROJECT_ROOT, Settings, get_settings
from server.static_files import MAP_LIBRARY, StaticTree
from server.staff.guards import PUBLIC, role_guard
from server.staff.middleware import StaffAndLanguageMiddleware, reader_language
from server.staff.routes import StaffAuth

log = logging.getLogger("faultline")
TEMPLATES = PROJECT_ROOT / "web" / "templates"


def _template_environment(settings: Settings) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_callables(i18n.jinja_gettext, i18n.jinja_ngettext, newstyle=True)
    env.globals["LANGUAGE_NAMES"] = i18n.LANGUAGE_NAMES
    env.globals["STATUS_LABELS"] = STATUS_LABELS
    env.globals["crew_status_labels"] = CREW_STATUS_LABELS
    # Error pages render even where no route matched, so nothing here may assume the middleware ran.
    env.globals["page_lang"] = pass_context(lambda context: i18n._lang(context))
    env.globals["signed_in"] = pass_context(lambda context: context["request"].scope.get("user"))
    # {{ static('js/crew.js') }}: the file's URL at its current content (server/static_files.py).
    env.globals["static"] = pass_context(lambda context, name: context["request"].app.state.static.url(name))
    env.globals["MAP_LIBRARY"] = MAP_LIBRARY

    @pass_context
    def localtime(context, value, form: str = "medium") -> str:
        return i18n.format_time(value, i18n._lang(context), settings.locale.timezone, settings.locale.phone_region, form)

    env.filters["localtime"] = localtime

    @pass_context
    def number(context, value) -> str:
        return i18n.format_number(value, i18n._lang(context), settings.locale.phone_region)

    env.filters["number"] = number

    @pass_context
    def translated(context, labels: dict[str, str]) -> dict[str, str]:
        """{key: label} with each label in the reader's language, for words that JavaScript shows."""
        return {key: i18n.gettext(i18n._lang(context), label) for key, label in labels.items()}

    env.filters["translated"] = translated
    return env


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") or bool(request.headers.get("hx-request"))


# Litestar's own details for these are terse English; people get a sentence they can act on.
GENERIC_DETAILS = {
    404: N_("We could not find this page. Check the address, or start again from the home page."),
    405: N_("This page cannot be used that way. Go back and try again."),
    413: N_("What you sent is too large. Try a smaller photo."),
    403: N_("This page has expired. Reload it and try again."),
}


def _render_error(request: Request, status: int, message: str, extra: dict | None = None) -> Response:
    if not _wants_html(request):
        return Response({"status_code": status, "detail": message, **(extra or {})}, status_code=status)
    _reader(request)
    if status in GENERIC_DETAILS and message in ("Not Found", "Method Not Allowed", "Request Entity Too Large",
                                                 "Payload Too Large", "CSRF token verification failed"):
        message = GENERIC_DETAILS[status]
    return Template("errors/error.html", context={"status": status, "message": message}, status_code=status)


def _not_signed_in(request: Request, exc: NotAuthorizedException) -> Response:
    if request.headers.get("hx-request"):
        # htmx would swap the sign-in form into a fragment; send the whole page there instead.
        return Response(b"", status_code=401, headers={"HX-Redirect": f"/login?next={request.url.path}"})
    if not _wants_html(request):
        return Response({"status_code": 401, "detail": exc.detail}, status_code=401)
    return Template("staff/login.html", context={"next": request.url.path, "error": None}, status_code=401)


def _reader(request: Request) -> str:
    if "lang" not in request.scope.get("state", {}):  # no route matched: the middleware did not run
        request.scope.setdefault("state", {})["lang"] = reader_language(request.scope)
    return request.state.lang


def _http_error(request: Request, exc: HTTPException) -> Response:
    extra = exc.extra if isinstance(exc.extra, dict) else None
    # A detail may be a msgid (NotFoundException(N_("…"))): said in the reader's language, in JSON too.
    return _render_error(request, exc.status_code, i18n.gettext(_reader(request), exc.detail), extra)


def _refused(request: Request, refused: Refused) -> Response:
    """The one place a refusal becomes an answer (server/refusals.py)."""
    extra = {**refused.extra, **({"field": refused.field} if refused.field else {})}
    return _render_error(request, refused.status, refused.text(_reader(request)), extra or None)


def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _render_error(request, HTTP_500_INTERNAL_SERVER_ERROR,
                         N_("Something went wrong on our side. Please try again in a minute."))


@get("/static/{name:path}", opt=PUBLIC, include_in_schema=False)
async def static_file(request: Request, name: FromPath[str],
                      v: Annotated[str | None, QueryParameter(max_length=40)] = None) -> Response:
    """A static file: kept for good when its URL names this very content, else revalidated each time."""
    found = request.app.state.static.answer(name.lstrip("/"), v)
    if found is None:
        raise NotFoundException()
    file, cache_control = found
    headers = {"cache-control": cache_control, "etag": f'"{file.digest}"'}
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(b"", status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


def make_courier(settings: Settings, secrets: dict[str, str]) -> Courier:
    push = PushSender(secrets["vapid_private_key"], settings.notify.vapid_subject, settings.notify.push_ttl_seconds)
    return Courier(push, gateway_from(settings))


def resolve_database_url(settings: Settings, may_install: bool = False) -> str:
    return ensure_database(ensure_server(settings, may_install=may_install), "faultline")


def create_app(database_url: str | None = None, settings: Settings | None = None,
               static: StaticTree | None = None) -> Litestar:
    settings = settings or get_settings()
    database_url = database_url or resolve_database_url(settings)
    secrets = load_or_create_secrets(settings.server.data_dir)
    engine = make_engine(database_url, settings.db.pool_size)

    @asynccontextmanager
    async def lifespan(app: Litestar):
        # One process runs everything by default; `FAULTLINE_WORKER=off` leaves sending (and housekeeping) to
        # `faultline worker`.
        tasks = []
        if settings.notify.worker == "in-process":
            courier = make_courier(settings, secrets)
            tasks = [asyncio.create_task(run_forever(engine, courier)),
                     asyncio.create_task(housekeeping.run_forever(engine, housekeeping.sync_keep(settings)))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            if tasks:
                courier.push.close()
            await engine.dispose()

    async def db_session():
        async for session in provide_session(engine):
            yield session

    app = Litestar(
        route_handlers=[
            CustomerPages, StaffAuth, DispatchConsole, CrewShiftButtons, AgentPages, CrewPages, CrewWorker, SupervisorPages, AdminPages, MapLayers,
            GatewayCallbacks, PublicOutages, IntakeApi, SyncEndpoints, PushSubscriptions, SmsInbox,
            PlannedOutages, Broadcasts, static_file,
        ],
        dependencies={"db_session": Provide(db_session)},
        guards=[role_guard],
        include_in_schema=False,  # HTML pages are not an API; the API and data feeds opt back in
        middleware=[StaffAndLanguageMiddleware(), InputGuard()],
        csrf_config=CSRFConfig(secret=secrets["csrf_secret"], cookie_name="fl_csrf",
                               cookie_secure=settings.server.secure_cookies, cookie_httponly=False),
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(
            _template_environment(settings))),
        # Phones on 2G: gzip everything worth it (htmx goes from 51 KB to 17 KB).
        compression_config=CompressionConfig(backend="gzip", minimum_size=500, gzip_compress_level=6),
        plugins=[HTMXPlugin()],
        request_class=HTMXRequest,
        exception_handlers={
            NotAuthorizedException: _not_signed_in,
            HTTPException: _http_error,
            Refused: _refused,
            Exception: _unexpected_error,
        },
        # The API description is public: partner systems and chatbots read it before they have a key.
        openapi_config=OpenAPIConfig(title="Faultline", version="0.1.0", path="/schema",
                                     render_plugins=[ScalarRenderPlugin()],
                                     components=Components(security_schemes={"ApiKey": SecurityScheme(
                                         type="apiKey", name="X-Api-Key", security_scheme_in="header",
                                         description="One key per partner system: `faultline apikey NAME`")}),
                                     openapi_router=Router(path="/schema", route_handlers=[], opt=PUBLIC)),
        lifespan=[lifespan],
        before_send=[security_headers(settings)],
        debug=False,
    )
    app.state.engine = engine
    app.state.static = static or StaticTree()  # replaced by tests to deploy changed files
    app.state.vapid_public_key = secrets["vapid_public_key"]
    app.state.settings = settings
    return app
