"""Languages: gettext catalogs (Babel), choosing a person's language, locale-aware formatting.

Catalogs live in web/locale/<lang>/LC_MESSAGES/messages.po and are compiled in memory at
start-up, so a deployment never depends on stale .mo files.
"""
from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_decimal
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import pass_context

from server.settings import LANGUAGES, PROJECT_ROOT

LOCALE_DIR = PROJECT_ROOT / "web" / "locale"
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili", "hi": "हिन्दी", "vi": "Tiếng Việt", "sq": "Shqip"}


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where the reader's language is known."""
    return message


@lru_cache
def translations(lang: str) -> Translations:
    po_path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return Translations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext(lang: str, message: str, **values: object) -> str:
    text = translations(lang).ugettext(message)
    return text % values if values else text


def ngettext(lang: str, singular: str, plural: str, n: int, **values: object) -> str:
    """Plural-aware; the count is available to the message as %(n)s."""
    text = translations(lang).ungettext(singular, plural, n)
    return text % dict(values, n=n)


def pick_language(*, explicit: str | None, personal: str | None, accept_language: str | None,
                  default: str) -> str:
    """The reader's language: an explicit choice, else their stored one, else the browser's, else the default."""
    for candidate in (explicit, personal):
        if candidate in LANGUAGES:
            return candidate
    if accept_language:
        wanted = [part.split(";")[0].strip().replace("-", "_") for part in accept_language.split(",")]
        chosen = Locale.negotiate([w for w in wanted if w and w != "*"], list(LANGUAGES), sep="_")
        if chosen is not None:
            return chosen.language
    return default if default in LANGUAGES else "en"


@lru_cache
def formatting_locale(lang: str, region: str) -> Locale:
    """Kenyan English writes dates unlike American English: use the deployment's region when Babel knows it."""
    try:
        return Locale.parse(f"{lang}_{region}")
    except (ValueError, LookupError, UnknownLocaleError):
        return Locale.parse(lang)


def format_time(value: datetime | None, lang: str, timezone: str, region: str, form: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, format=form, tzinfo=ZoneInfo(timezone), locale=formatting_locale(lang, region))


# Jinja callables: they read the language the request chose (request.state.lang).
def _lang(context) -> str:
    request = context.get("request")
    return getattr(request.state, "lang", "en") if request is not None else "en"


# Jinja's i18n extension (newstyle) fills the %(placeholders)s itself after calling these.
@pass_context
def jinja_gettext(context, message: str) -> str:
    return translations(_lang(context)).ugettext(message)


@pass_context
def jinja_ngettext(context, singular: str, plural: str, n: int) -> str:
    return translations(_lang(context)).ungettext(singular, plural, n)


def format_number(value: float | int | None, lang: str, region: str) -> str:
    """12,345 in Kenya, 12,345 or 1,23,456 in India, 12.345 in Vietnam and Albania."""
    return "" if value is None else format_decimal(value, locale=formatting_locale(lang, region))
