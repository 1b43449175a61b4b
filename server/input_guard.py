"""What no request may carry, refused once for every route before any handler sees it.

PostgreSQL's `text` cannot hold a NUL character, and its JSON refuses a lone UTF-16 surrogate ("\\ud83d", half of
a broken emoji), NaN and Infinity; Python's JSON parser accepts all of them (`1e999` becomes inf) and recurses
once per level of nesting. So a NUL in an address (`?q=a%00b`, `/admin/staff/%00`), or a JSON body with any of
those or nested deeper than any real message, or a form field with a NUL, is answered 400 with a sentence saying
what to change, instead of a 500 from deep inside. (No browser puts a NUL in a form; the handlers' `clean_form`
stays as a second line.)

Two kinds of route read their bodies themselves and are left to it: the sync service's push takes a batch of
mutations and refuses a bad one alone (sync/service.py), and the SMS/USSD gateways answer in plain text that
the customer's phone shows, after checking a signature over the raw body (server/channels/gateway.py).
"""
from __future__ import annotations

import json
import math
from urllib.parse import unquote_to_bytes

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.i18n import N_
from server.refusals import Refused

MAX_DEPTH = 32          # a report or a push subscription is 2 or 3 levels deep
MAX_JSON_BYTES = 1024 * 1024
MAX_FORM_BYTES = 1024 * 1024  # the largest form here is a few KB; files come as multipart, not checked here
OWN_BODY = {"/sync/push", "/ussd", "/sms/inbound"}  # see the module docstring

NUL_IN_ADDRESS = N_("The address contains a character that is not allowed (a NUL byte). Check the link and try "
                    "again.")
NOT_JSON = N_("The body is not valid JSON. Send a JSON object.")
TOO_DEEP = N_("The JSON is nested too deeply: at most %(depth)s levels.")
TOO_LARGE = N_("The JSON body is too large: at most %(limit)s bytes.")
BAD_TEXT = N_("A text in the JSON contains a character that cannot be stored (a NUL or half of an emoji). "
              "Send valid UTF-8 text.")
BAD_NUMBER = N_("A number in the JSON is not finite or too large.")
NUL_IN_FORM = N_("A field of the form contains a character that is not allowed (a NUL byte). Type it again.")
FORM_TOO_LARGE = N_("The form is too large: at most %(limit)s bytes.")


def _body_kind(scope: Scope) -> str | None:
    """"json" or "form" (url-encoded), from the content type; None for anything else (uploads, none)."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            if kind == b"application/json" or kind.endswith(b"+json"):
                return "json"
            return "form" if kind == b"application/x-www-form-urlencoded" else None
    return None


def check_value(value: object, depth: int = 0) -> None:
    """Refused if anything in a decoded JSON value could not be stored or is nested too deeply."""
    if depth > MAX_DEPTH:
        raise Refused(TOO_DEEP, 400, depth=MAX_DEPTH)
    if isinstance(value, str):
        if "\x00" in value:
            raise Refused(BAD_TEXT, 400)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            raise Refused(BAD_TEXT, 400) from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Refused(BAD_NUMBER, 400)
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= 2**63:
            raise Refused(BAD_NUMBER, 400)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_value(key, depth + 1)
            check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_value(item, depth + 1)


def check_json(raw: bytes) -> None:
    if len(raw) > MAX_JSON_BYTES:
        raise Refused(TOO_LARGE, 400, limit=MAX_JSON_BYTES)
    if not raw.strip():
        return  # an empty body: the handler says what it needs
    try:
        value = json.loads(raw, parse_constant=lambda name: math.inf)  # NaN, Infinity: refused just below
    except RecursionError:
        raise Refused(TOO_DEEP, 400, depth=MAX_DEPTH) from None
    except ValueError:  # not JSON, not UTF-8, or an integer of thousands of digits
        raise Refused(NOT_JSON, 400) from None
    check_value(value)


def check_address(scope: Scope) -> None:
    if "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        raise Refused(NUL_IN_ADDRESS, 400)


class InputGuard(ASGIMiddleware):
    """Refuses what no route can take (see the module docstring); lets everything else through untouched."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        check_address(scope)
        writes = scope.get("method") in ("POST", "PUT", "PATCH", "DELETE") and scope.get("path") not in OWN_BODY
        kind = _body_kind(scope) if writes else None
        if kind == "json":
            body = await _read_body(receive, MAX_JSON_BYTES + 1, TOO_LARGE)
            check_json(body)
            receive = _replay(body, receive)
        elif kind == "form":
            body = await _read_body(receive, MAX_FORM_BYTES + 1, FORM_TOO_LARGE)
            if b"\x00" in unquote_to_bytes(body):
                raise Refused(NUL_IN_FORM, 400)
            receive = _replay(body, receive)
        await next_app(scope, receive, send)


async def _read_body(receive: Receive, limit: int, too_large: str) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if len(body) > limit:
            raise Refused(too_large, 400, limit=limit - 1)
        if not message.get("more_body", False):
            break
    return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then whatever the connection says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
