"""What every SMS/USSD gateway callback goes through first: its signature, its form, its phone, the IP limit.

Messages here are for the gateway's operator, not for customers: plain English, plain text; a refusal is a
`Refused` that the callback answers as plain text itself (gateways show what they get to the customer).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from litestar import Request
from litestar.exceptions import ClientException
from sqlmodel.ext.asyncio.session import AsyncSession

from server import ratelimit
from server.forms import clean_form
from server.refusals import Refused
from server.phones import normalise_phone
from server.settings import Settings

SIGNATURE_HEADER = "X-Faultline-Signature"


@dataclass(frozen=True)
class Callback:
    fields: dict[str, str]
    phone: str                 # E.164
    within_ip_limit: bool


def signature_ok(secret: str, body: bytes, given: str | None) -> bool:
    """`given` must be the hex HMAC-SHA256 of the raw body with the secret (a "sha256=" prefix is tolerated)."""
    if not given:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    offered = given.strip().lower().removeprefix("sha256=").encode("latin-1", errors="replace")
    return hmac.compare_digest(expected, offered)


async def accept(request: Request, session: AsyncSession, settings: Settings, required: tuple[str, ...],
                 phone_field: str) -> Callback:
    secret = settings.intake.gateway_secret
    body = await request.body()
    if secret and not signature_ok(secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise Refused(f"Missing or wrong {SIGNATURE_HEADER}: send the hex HMAC-SHA256 of the request body, keyed "
                      "with the gateway secret.", 401)
    # A signed callback is the gateway itself, carrying every customer's traffic from one address: limiting
    # it by address would silence a whole storm. Such callbacks are limited per phone, where reports are filed.
    within = True
    if not secret:
        host = request.client.host if request.client else "?"
        within = await ratelimit.hit(session, f"ip:{host}", settings.intake.rate_per_ip, timedelta(minutes=1))
    try:
        form = await request.form()
    except ClientException as error:  # a broken multipart body, a missing boundary
        raise Refused(f"The body is not a readable form: {error.detail}", error.status_code) from error
    # A repeated field counts once (the first); files are not fields.
    fields = clean_form({key: form.get(key) for key in form if isinstance(form.get(key), str)})
    missing = [name for name in required if name not in fields]
    if missing:
        raise Refused("Missing form field: " + ", ".join(missing) + ".", 400)
    phone = normalise_phone(fields[phone_field], settings.locale.phone_region)
    if phone is None:
        raise Refused(f"{phone_field} is not a valid phone number.", 400)
    return Callback(fields, phone, within)
