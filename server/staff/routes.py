"""Staff sign-in and sign-out."""
from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from litestar.middleware.csrf import generate_csrf_token

from server.db import DbSession
from server.forms import clean_form, safe_next_path
from server.i18n import N_, format_time, gettext
from server.refusals import Refused
from server.staff.guards import PUBLIC, roles
from server.staff.middleware import CSRF_COOKIE, LANGUAGE_COOKIE, SESSION_COOKIE
from server.settings import LANGUAGES
from server.staff.models import Role
from server.staff.rules import SignInLimits
from server.staff.service import SignedIn, landing_path, set_language, sign_in, sign_out

WRONG = N_("Wrong username or password, or the account is switched off.")
LOCKED = N_("Too many failed sign-ins for this account or from this place. Try again at %(time)s.")

Form = Body(media_type=RequestEncodingType.URL_ENCODED)
ALL_STAFF = roles(*Role)


class StaffAuth(Controller):
    @get("/login", opt=PUBLIC)
    async def login_page(self, request: Request) -> Template:
        return Template("staff/login.html", context={"next": safe_next_path(request.query_params.get("next")),
                                                     "error": None})

    @post("/login", opt=PUBLIC)
    async def login(self, request: Request, db_session: DbSession,
                    data: Annotated[dict[str, str], Form]) -> Template | Redirect:
        settings = request.app.state.settings
        data = clean_form(data)
        username, password = data.get("username", "").strip(), data.get("password", "")
        next_path = safe_next_path(data.get("next"))
        csrf_token = generate_csrf_token(request.app.csrf_config.secret)  # a new one, bound to this session
        limits = SignInLimits(per_account=settings.server.signin_per_account,
                              per_address=settings.server.signin_per_address)
        result = await sign_in(db_session, username, password, settings.server.session_hours,
                               request.client.host if request.client else "?", csrf_token, limits) \
            if username else None
        if not isinstance(result, SignedIn):
            if result is not None and result.locked_until is not None:
                lang = request.state.lang
                when = format_time(result.locked_until, lang, settings.locale.timezone, settings.locale.phone_region,
                                   "short")
                return Template("staff/login.html", status_code=429, context={
                    "next": next_path, "username": username, "error": gettext(lang, LOCKED, time=when)})
            return Template("staff/login.html", status_code=401, context={
                "next": next_path, "username": username, "error": WRONG})
        response = Redirect(next_path or landing_path(result.staff.role), status_code=303)
        max_age = settings.server.session_hours * 3600
        response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="lax",
                            secure=settings.server.secure_cookies, max_age=max_age)
        # Read by the pages (and the crew app) into each form and request; it lives as long as the session.
        response.set_cookie(CSRF_COOKIE, csrf_token, httponly=False, samesite="lax",
                            secure=settings.server.secure_cookies, max_age=max_age)
        return response

    @post("/logout", opt=ALL_STAFF)
    async def logout(self, request: Request, db_session: DbSession) -> Redirect:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await sign_out(db_session, token)
        response = Redirect("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        response.delete_cookie(CSRF_COOKIE)  # the next person here gets a token of their own
        return response

    @get("/profile", opt=ALL_STAFF)
    async def profile(self) -> Template:
        return Template("staff/profile.html", context={"saved": False})

    @post("/profile", opt=ALL_STAFF, status_code=200)
    async def save_profile(self, request: Request, db_session: DbSession,
                           data: Annotated[dict[str, str], Form]) -> Template:
        language = clean_form(data).get("language")
        if language not in LANGUAGES:
            raise Refused(N_("Choose one of the languages in the list."), 400, "language")
        await set_language(db_session, request.user.id, language)
        request.user.language = language
        request.state.lang = language  # this answer already in the new language
        response = Template("staff/profile.html", context={"saved": True})
        # A language picked earlier with a page's switcher (a cookie, which outranks the profile) must not
        # outvote what was just saved.
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax")
        return response

    @get("/home", opt=ALL_STAFF)
    async def home(self, request: Request) -> Redirect:
        return Redirect(landing_path(request.user.role), status_code=303)

