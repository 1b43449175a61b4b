"""Gateway callbacks: USSD sessions and inbound SMS, answered in plain text.

Both follow the common gateway convention (Africa's Talking and its peers): a form POST per USSD step
(sessionId, serviceCode, phoneNumber, text) answered "CON …" to continue or "END …" to finish; and a form
POST per inbound SMS (from, to, text, id, date) answered with the reply's text. Gateways carry no CSRF
cookie; when FAULTLINE_GATEWAY_SECRET is set they sign the body instead (see gateway.py).
"""
from __future__ import annotations

from litestar import Controller, Request, Response, post
from litestar.enums import MediaType

from server.channels import gateway, service, ussd
from server.channels.messages import Refusal, refusal_text
from server.db import DbSession
from server.notify.segments import sms_text
from server.staff.guards import PUBLIC

USSD_FIELDS = ("sessionId", "serviceCode", "phoneNumber", "text")
SMS_FIELDS = ("from", "text")  # "to", "id" and "date" are not needed to answer


def _plain(text: str, status: int = 200) -> Response[str]:
    return Response(text, status_code=status, media_type=MediaType.TEXT)


class GatewayCallbacks(Controller):
    opt = {**PUBLIC, "exclude_from_csrf": True}

    @post("/ussd", status_code=200)
    async def ussd_step(self, request: Request, db_session: DbSession) -> Response[str]:
        settings = request.app.state.settings
        try:
            call = await gateway.accept(request, db_session, settings, USSD_FIELDS, "phoneNumber")
        except gateway.Rejected as rejected:
            return _plain(rejected.message, rejected.status)
        if not call.within_ip_limit:
            # An HTTP error would show the customer the network's "connection problem"; END says why.
            lang = ussd.read(ussd.answers(call.fields["text"])).language or settings.locale.default_language
            return _plain("END " + refusal_text(Refusal.too_many, service.reply_locale(lang, settings)))
        screen = await service.answer_ussd(db_session, call.phone, call.fields["text"], settings)
        return _plain(screen.reply())

    @post("/sms/inbound", status_code=200)
    async def sms_inbound(self, request: Request, db_session: DbSession) -> Response[str]:
        settings = request.app.state.settings
        try:
            call = await gateway.accept(request, db_session, settings, SMS_FIELDS, "from")
        except gateway.Rejected as rejected:
            return _plain(rejected.message, rejected.status)
        if not call.within_ip_limit:
            locale = service.reply_locale(settings.locale.default_language, settings)
            return _plain(sms_text(refusal_text(Refusal.too_many, locale), locale.lang), 429)
        return _plain(await service.answer_sms(db_session, call.phone, call.fields["text"], settings))
