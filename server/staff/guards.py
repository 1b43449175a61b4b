"""Who may call a route. Every route says so: `opt={"public": True}` or `opt={"roles": {...}}`.

A route that says neither is closed to everyone (deny by default).
"""
from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from server.i18n import N_


def role_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    if handler.opt.get("public"):
        return
    staff = connection.scope.get("user")
    if staff is None:
        raise NotAuthorizedException(N_("Please sign in."))
    if staff.role not in handler.opt.get("roles", ()):
        raise PermissionDeniedException(N_("Your role cannot open this page."))


def roles(*names: str) -> dict:
    return {"roles": frozenset(names)}


PUBLIC = {"public": True}
