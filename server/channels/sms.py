"""SMS keywords as pure functions: read an inbound text into a command, and word the reply.

    POWER <meter>   report no power at this meter         (UMEME, BIJLI, DIEN, DRITA)
    STATUS <ref>    the status of incident FL-000123       (HALI, STHITI, TINHTRANG, GJENDJA)
    STATUS          the status of my latest report
    HELP            how to use these keywords              (MSAADA, MADAD, TROGIUP, NDIHME)

Anything else is answered with the usage. Keywords are read whatever the case, spacing, accents or
punctuation ("umeme: 1420 0000 007", "Điện 14200000007", "status fl-123").
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from server.channels.messages import (Filed, IncidentView, Refusal, ReplyLocale, filed_text, incident_code,
                                      incident_line, meter_number, my_report_text, refusal_text)
from server.i18n import N_


class CommandKind(StrEnum):
    power = "power"
    status = "status"
    help = "help"
    unknown = "unknown"


# Per language; the first word of each is the one the usage text teaches. English words work for everyone:
# they are the ones printed on bills and posters.
KEYWORDS: dict[str, dict[CommandKind, tuple[str, ...]]] = {
    "en": {CommandKind.power: ("POWER", "NOPOWER"), CommandKind.status: ("STATUS",),
           CommandKind.help: ("HELP",)},
    "sw": {CommandKind.power: ("UMEME",), CommandKind.status: ("HALI",), CommandKind.help: ("MSAADA",)},
    "hi": {CommandKind.power: ("BIJLI", "बिजली"), CommandKind.status: ("STHITI", "स्थिति"),
           CommandKind.help: ("MADAD", "मदद")},
    "vi": {CommandKind.power: ("DIEN", "MATDIEN"), CommandKind.status: ("TINHTRANG",),
           CommandKind.help: ("TROGIUP",)},
    "sq": {CommandKind.power: ("DRITA",), CommandKind.status: ("GJENDJA",), CommandKind.help: ("NDIHME",)},
}
PUNCTUATION = ":.,;#!=-"
LEADING_LETTERS = re.compile(r"([A-Za-z]+)(.+)")


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    language: str | None = None   # the keyword's language, when it is not English: a hint for the reply
    given: str = ""               # what followed the keyword, as typed
    argument: str | None = None   # that, cleaned: a meter number (POWER) or an incident code (STATUS)


def _fold(word: str) -> str:
    """Upper case without accents, so "Điện", "dien" and "DIỆN" are one keyword."""
    decomposed = unicodedata.normalize("NFKD", word.upper().replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_INDEX = {_fold(word): (kind, lang) for lang, kinds in KEYWORDS.items()
          for kind, words in kinds.items() for word in words}


def _keyword(token: str) -> tuple[CommandKind, str] | None:
    return _INDEX.get(_fold(token.rstrip(PUNCTUATION)))


def _command(kind: CommandKind, lang: str, given: str) -> Command:
    given = given.strip().lstrip(PUNCTUATION).strip()
    argument = None
    if given and kind is CommandKind.power:
        argument = meter_number(given)
    elif given and kind is CommandKind.status:
        argument = incident_code(given)
    return Command(kind, None if lang == "en" else lang, given, argument)


def parse(text: str) -> Command:
    words = text.split()
    # One word, or two run together ("TINH TRANG", "NO POWER").
    for taken in (1, 2):
        if len(words) >= taken and (found := _keyword("".join(words[:taken]))):
            return _command(*found, " ".join(words[taken:]))
    # A keyword stuck to its argument: "POWER14200000007", "HALI:FL-000123".
    glued = LEADING_LETTERS.fullmatch(words[0]) if words else None
    if glued and (found := _keyword(glued.group(1))):
        return _command(*found, " ".join([glued.group(2), *words[1:]]))
    return Command(CommandKind.unknown)


def _words(locale: ReplyLocale) -> dict[str, str]:
    own = KEYWORDS.get(locale.lang, KEYWORDS["en"])
    return {"power": own[CommandKind.power][0], "status": own[CommandKind.status][0]}


def usage_text(locale: ReplyLocale) -> str:
    return locale.text(N_("To report no power, send %(power)s and your meter number. To check a report, "
                          "send %(status)s and its reference, e.g. %(status)s FL-000123."), **_words(locale))


def reply_text(command: Command, outcome: Filed | Refusal | IncidentView | None, locale: ReplyLocale) -> str:
    """The answer to a command, given what the service found or did (None: nothing found or needed)."""
    if command.kind is CommandKind.power:
        if command.argument is None:
            return locale.text(N_("Please send %(power)s followed by your meter number, e.g. %(power)s 12345678901."),
                               **_words(locale))
        if isinstance(outcome, Refusal):
            return refusal_text(outcome, locale, command.argument)
        if isinstance(outcome, Filed):
            return filed_text(outcome, locale)
    if command.kind is CommandKind.status:
        if not command.given:
            return my_report_text(outcome if isinstance(outcome, IncidentView) else None, locale)
        if command.argument is None:
            return locale.text(N_("Please send %(status)s followed by the reference of your report, "
                                  "e.g. %(status)s FL-000123."), **_words(locale))
        if isinstance(outcome, IncidentView):
            return incident_line(outcome, locale)
        return locale.text(N_("We found no fault with the reference %(code)s. Check it and send it again."),
                           code=command.argument)
    return usage_text(locale)
