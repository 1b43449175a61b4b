"""Gateway callbacks: USSD sessions and inbound SMS, answered in plain text.

Both follow the common gateway convention (Africa's Talking and its peers): a form POST per USSD step
(sessionId, serviceCode, phoneNumber, text) answered "CON …" to continue or "END …" to finish; and a form
POST per inbound SMS (from, to, text, id, date) answered with the reply's text. Gateways carry no CSRF
cookie; when FAULTLINE_GATEWAY_SECRET is set they sign the body instead (see gateway.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from litestar import Controller, Request, Response, post
from litestar.enums import MediaType, RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from server.channels import gateway, service, ussd
from server.channels.messages import Refusal, refusal_text
from server.db import DbSession
from server.refusals import Refused
from server.notify.segments import sms_text
from server.staff.guards import PUBLIC

USSD_FIELDS = ("sessionId", "serviceCode", "phoneNumber", "text")
SMS_FIELDS = ("from", "text")  # "to", "id" and "date" are not needed to answer


def _plain(text: str, status: int = 200) -> Response[str]:
    return Response(text, status_code=status, media_type=MediaType.TEXT)


def _form_operation(fields: dict[str, str], required: tuple[str, ...]) -> type[Operation]:
    """An OpenAPI operation whose body is the gateway's form. The handler reads the raw body itself (a signature
    covers it), so the form is described here rather than declared as a parameter."""
    schema = Schema(type=OpenAPIType.OBJECT, required=list(required),
                    properties={name: Schema(type=OpenAPIType.STRING, description=why) for name, why in fields.items()})

    @dataclass
    class GatewayOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(required=True, content={
                RequestEncodingType.URL_ENCODED.value: OpenAPIMediaType(schema=schema),
                RequestEncodingType.MULTI_PART.value: OpenAPIMediaType(schema=schema)})

    return GatewayOperation


USSD_FORM = _form_operation({
    "sessionId": "The gateway's id of this USSD session.",
    "serviceCode": "The code dialled, such as *384*123#.",
    "phoneNumber": "The caller, in any common format (+254712345678, 0712 345 678).",
    "text": "The caller's answers so far, joined by *; empty on the first screen.",
}, USSD_FIELDS)
SMS_FORM = _form_operation({
    "from": "The sender's phone number.",
    "text": "The message: POWER <meter>, STATUS <reference>, HELP, in any of the five languages' keywords.",
    "to": "The short code it was sent to (not needed).",
    "id": "The gateway's id of the message (not needed).",
    "date": "When the gateway received it (not needed).",
}, SMS_FIELDS)
PLAIN_ANSWERS = {status: ResponseSpec(data_container=str, media_type=MediaType.TEXT, description=why) for status, why in {
    400: "A field is missing or the phone number is not one (plain text, for the gateway's operator).",
    401: "FAULTLINE_GATEWAY_SECRET is set and X-Faultline-Signature is missing or wrong.",
    429: "Too many callbacks from this address (unsigned gateways only); the reply says so to the customer.",
}.items()}


class GatewayCallbacks(Controller):
    opt = {**PUBLIC, "exclude_from_csrf": True}
    include_in_schema = True
    tags = ["gateways"]

    @post("/ussd", status_code=200, media_type=MediaType.TEXT, responses=PLAIN_ANSWERS, operation_class=USSD_FORM,
          summary="A USSD step: answered CON … (continue) or END … (finish)")
    async def ussd_step(self, request: Request, db_session: DbSession) -> Response[str]:
        settings = request.app.state.settings
        try:
            call = await gateway.accept(request, db_session, settings, USSD_FIELDS, "phoneNumber")
        except Refused as refused:
            return _plain(refused.message, refused.status)
        if not call.within_ip_limit:
            # An HTTP error would show the customer the network's "connection problem"; END says why.
            lang = ussd.read(ussd.answers(call.fields["text"])).language or settings.locale.default_language
            return _plain("END " + refusal_text(Refusal.too_many, service.reply_locale(lang, settings)))
        screen = await service.answer_ussd(db_session, call.phone, call.fields["text"], settings)
        return _plain(screen.reply())

    @post("/sms/inbound", status_code=200, media_type=MediaType.TEXT, responses=PLAIN_ANSWERS, operation_class=SMS_FORM,
          summary="An SMS from a customer: answered with the reply, the text to send back")
    async def sms_inbound(self, request: Request, db_session: DbSession) -> Response[str]:
        settings = request.app.state.settings
        try:
            call = await gateway.accept(request, db_session, settings, SMS_FIELDS, "from")
        except Refused as refused:
            return _plain(refused.message, refused.status)
        if not call.within_ip_limit:
            locale = service.reply_locale(settings.locale.default_language, settings)
            return _plain(sms_text(refusal_text(Refusal.too_many, locale), locale.lang), 429)
        return _plain(await service.answer_sms(db_session, call.phone, call.fields["text"], settings))
