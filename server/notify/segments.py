"""How many SMS a text costs: GSM-7 (160 characters, 153 per part) or UCS-2 (70, 67 per part).

Pure functions. Kiswahili, English and Albanian fit GSM-7 once Albanian's ë is written e, as Albanian SMS
habitually are; Hindi (Devanagari) and Vietnamese (tone marks) need UCS-2.
"""
from __future__ import annotations

import unicodedata

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")  # two septets each (escape + character)
# Languages whose SMS are sent in GSM-7, folding any other letter to its base letter.
GSM7_LANGUAGES = {"en", "sw", "sq"}


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def fold_to_gsm7(text: str) -> str:
    """ë → e, ç → Ç-less c, curly quotes → straight: what a GSM-7 phone can show."""
    replacements = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "ç": "c"}
    out = []
    for ch in text:
        ch = replacements.get(ch, ch)
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION or len(ch) > 1:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else "?")
    return "".join(out)


def sms_text(text: str, language: str) -> str:
    """The text as it will be sent: folded to GSM-7 for GSM-7 languages, untouched otherwise."""
    return fold_to_gsm7(text) if language in GSM7_LANGUAGES and not is_gsm7(text) else text


def sms_cost(text: str) -> tuple[str, int, int]:
    """(encoding, length in units, number of segments) of a text as sent."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // part)
    return encoding, units, segments
