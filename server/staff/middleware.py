"""Per request: who is signed in (scope["user"]) and which language to answer in (state.lang)."""
from __future__ import annotations

from litestar.datastructures import State
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlmodel.ext.asyncio.session import AsyncSession

from server.i18n import pick_language
from server.staff.service import csrf_matches, staff_for_token

SESSION_COOKIE = "fl_session"
LANGUAGE_COOKIE = "fl_lang"
CSRF_COOKIE = "fl_csrf"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _cookies(scope: Scope) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                cookies[key] = val
    return cookies


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


class StaffAndLanguageMiddleware(ASGIMiddleware):
    # Static files need neither a user nor a language: skip the database look-up for them.
    should_bypass_for_scope = staticmethod(lambda scope: scope["path"].startswith("/static/"))

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        cookies = _cookies(scope)
        staff = None
        token = cookies.get(SESSION_COOKIE)
        if token:
            app = scope["litestar_app"]
            async with AsyncSession(app.state.engine) as session:
                found = await staff_for_token(session, token)
            # A change made with another CSRF token than the one issued at sign-in (one made before it, or for
            # another browser) is not this session's: the request counts as signed out, and signing in again
            # issues the right token.
            if found and (scope.get("method") not in UNSAFE_METHODS or csrf_matches(found[1], cookies.get(CSRF_COOKIE))):
                staff = found[0]
        scope["user"] = staff
        State(scope.setdefault("state", {})).lang = reader_language(scope, staff)
        await next_app(scope, receive, send)


def reader_language(scope: Scope, staff=None) -> str:
    """The language to answer in: a choice made on the page, the staff member's own, the browser's, the default."""
    return pick_language(
        explicit=_cookies(scope).get(LANGUAGE_COOKIE),
        personal=staff.language if staff else None,
        accept_language=_header(scope, b"accept-language"),
        default=scope["litestar_app"].state.settings.locale.default_language,
    )
