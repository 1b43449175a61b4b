"""One way to refuse: any layer raises `Refused` with a msgid (N_) and the values it names; the app answers it
once, translated into the reader's language, with its status (server/app.py registers the handler). Handlers
that show the refusal inside a page they re-render (a form, the dispatcher's panel) catch it and call
`text(lang)` themselves."""
from __future__ import annotations

from server.i18n import gettext


class Refused(Exception):
    """What was asked is not done, and why, in a sentence a person can act on.

    `field`: the form field it is about (re-rendered forms mark it; JSON answers carry it). `also`: a second
    sentence (a msgid) said after the first. `extra`: more keys for a JSON answer (the limits a client must keep).
    """

    # Positional only: a message may name %(status)s or %(field)s among its values.
    def __init__(self, message: str, status: int = 422, field: str | None = None, /, *, also: str | None = None,
                 extra: dict | None = None, **values: object) -> None:
        super().__init__(message % values if values else message)
        self.message, self.status, self.field, self.also, self.extra, self.values = \
            message, status, field, also, extra or {}, values

    def text(self, lang: str) -> str:
        said = gettext(lang, self.message, **self.values)
        return f"{said} {gettext(lang, self.also)}" if self.also else said
