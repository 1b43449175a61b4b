"""Every catalog has every message, with the same placeholders and the right plural rule."""
import re

import pytest
from babel.messages.pofile import read_po

from server.i18n import LOCALE_DIR, gettext, ngettext
from server.settings import LANGUAGES

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
PLURAL_RULES = {"en": "(n != 1)", "sw": "(n != 1)", "sq": "(n != 1)", "hi": "(n > 1)", "vi": "0"}


def _catalog(lang):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def _template_ids():
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_has_every_message_translated(lang):
    catalog = _catalog(lang)
    ids = {m.id for m in catalog if m.id}
    assert _template_ids() <= ids, f"{lang} lacks {_template_ids() - ids}; run scripts/update-translations.sh"
    untranslated = [m.id for m in catalog if m.id and not (all(m.string) if isinstance(m.string, tuple)
                                                           else m.string)]
    assert not untranslated, f"{lang} has untranslated messages: {untranslated[:5]}"
    assert not [m.id for m in catalog if m.id and m.fuzzy], f"{lang} has fuzzy messages"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_survive_translation(lang):
    for message in _catalog(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[0])) | set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, f"{lang}: {ids[0]!r} → {text!r}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plural_rule_is_right_for_the_language(lang):
    assert _catalog(lang).plural_expr == PLURAL_RULES[lang]


def test_the_code_finds_the_translations():
    assert gettext("sw", "No power") != "No power"
    assert ngettext("hi", "%(n)s report so far.", "%(n)s reports so far.", 1) != \
        ngettext("hi", "%(n)s report so far.", "%(n)s reports so far.", 2)
    assert gettext("xx", "No power") == "No power"  # an unknown language falls back to English


def test_times_follow_the_deployments_zone_and_the_readers_locale():
    from datetime import UTC, datetime

    from server.i18n import format_number, format_time
    moment = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    assert "12:30" in format_time(moment, "en", "Africa/Nairobi", "KE", "short")      # EAT, UTC+3
    assert "3:00" in format_time(moment, "hi", "Asia/Kolkata", "IN", "short")         # IST, UTC+5:30
    assert "16:30" in format_time(moment, "vi", "Asia/Ho_Chi_Minh", "VN", "short")    # ICT, UTC+7
    assert "10:30" in format_time(moment, "sq", "Europe/Tirane", "AL", "short")       # CET, UTC+1
    assert format_time(moment, "vi", "Asia/Ho_Chi_Minh", "VN", "short") != \
        format_time(moment, "en", "Asia/Ho_Chi_Minh", "VN", "short")
    assert format_number(123456, "en", "KE") == "123,456"
    assert format_number(123456, "hi", "IN") == "1,23,456"
    assert format_number(123456, "vi", "VN") == "123.456"
    assert format_number(123456, "sq", "AL") in ("123 456", "123\xa0456", "123.456")
