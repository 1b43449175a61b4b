"""Phone numbers as every channel, import and rule needs them: E.164, with the country's real numbering plan
(phonenumbers), below every domain that takes one (reports, channels, imports)."""
from __future__ import annotations

import phonenumbers


def normalise_phone(raw: str, region: str) -> str | None:
    """A phone number in E.164 (+254712345678), or None when it is not a real number."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
