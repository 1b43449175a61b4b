"""SMS keywords as pure functions: reading an inbound text, and the replies, within one segment."""
from datetime import UTC, datetime

import pytest

from server.channels.messages import Filed, IncidentView, Refusal, ReplyLocale, incident_code
from server.channels.sms import Command, CommandKind, parse, reply_text, usage_text
from server.settings import LANGUAGES

EN = ReplyLocale("en", "Africa/Nairobi", "KE")
POWER, STATUS, HELP, UNKNOWN = CommandKind.power, CommandKind.status, CommandKind.help, CommandKind.unknown


@pytest.mark.parametrize("message, command", [
    ("POWER 14200000007", Command(POWER, None, "14200000007", "14200000007")),
    ("power 14200000007", Command(POWER, None, "14200000007", "14200000007")),
    ("  Power    14200000007  ", Command(POWER, None, "14200000007", "14200000007")),
    ("POWER\t1420 0000 007\n", Command(POWER, None, "1420 0000 007", "14200000007")),
    ("POWER: 14200000007", Command(POWER, None, "14200000007", "14200000007")),
    ("POWER14200000007", Command(POWER, None, "14200000007", "14200000007")),
    ("No power 14200000007", Command(POWER, None, "14200000007", "14200000007")),
    ("POWER", Command(POWER)),
    ("POWER ???", Command(POWER, None, "???", None)),
    ("UMEME 14200000007", Command(POWER, "sw", "14200000007", "14200000007")),
    ("umeme,14200000007", Command(POWER, "sw", "14200000007", "14200000007")),
    ("बिजली 14200000007", Command(POWER, "hi", "14200000007", "14200000007")),
    ("Điện 14200000007", Command(POWER, "vi", "14200000007", "14200000007")),
    ("mất điện 14200000007", Command(POWER, "vi", "14200000007", "14200000007")),
    ("drita 14200000007", Command(POWER, "sq", "14200000007", "14200000007")),
    ("STATUS FL-000123", Command(STATUS, None, "FL-000123", "FL-000123")),
    ("status fl-123", Command(STATUS, None, "fl-123", "FL-000123")),
    ("Status 123", Command(STATUS, None, "123", "FL-000123")),
    ("STATUS FL 000123", Command(STATUS, None, "FL 000123", "FL-000123")),
    ("STATUS", Command(STATUS)),
    ("STATUS please", Command(STATUS, None, "please", None)),
    ("HALI FL-000123", Command(STATUS, "sw", "FL-000123", "FL-000123")),
    ("hali:fl-7", Command(STATUS, "sw", "fl-7", "FL-000007")),
    ("Tình trạng 7", Command(STATUS, "vi", "7", "FL-000007")),
    ("gjendja 7", Command(STATUS, "sq", "7", "FL-000007")),
    ("HELP", Command(HELP)),
    ("help me", Command(HELP, None, "me", None)),
    ("msaada", Command(HELP, "sw")),
    ("", Command(UNKNOWN)),
    ("   ", Command(UNKNOWN)),
    ("Hello, is the power back?", Command(UNKNOWN)),
    ("14200000007", Command(UNKNOWN)),
    ("STATUSFL-000123", Command(UNKNOWN)),
])
def test_an_inbound_text_reads_as_a_command(message, command):
    assert parse(message) == command


@pytest.mark.parametrize("raw, code", [
    ("FL-000123", "FL-000123"), ("fl-000123", "FL-000123"), ("FL-123", "FL-000123"), ("fl123", "FL-000123"),
    ("123", "FL-000123"), ("000123", "FL-000123"), ("FL 123", "FL-000123"), ("FL-1234567", "FL-1234567"),
    ("", None), ("FL-", None), ("FL-12a", None), ("XY-123", None), ("1" * 10, None), ("FL--1", None),
])
def test_incident_references(raw, code):
    assert incident_code(raw) == code


ETR = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)
LONGEST = IncidentView("FL-000123", "reported", ETR)  # the longest status words, and an ETR


@pytest.mark.parametrize("message, outcome, reply", [
    ("POWER 1", Filed(IncidentView("FL-000123", "reported", None), False, False),
     "Thank you, we have your report. Your reference is FL-000123."),
    ("POWER 1", Filed(IncidentView("FL-000123", "en_route", ETR), True, False),
     "We already know about this fault and added your report. FL-000123: The crew is on the way. "
     "Expected back: 22/11/2026, 14:30"),
    ("POWER 1", Filed(IncidentView("FL-000123", "reported", None), True, True),
     "You have already reported this fault. FL-000123: Reported, waiting for a crew."),
    ("POWER 777", Refusal.unknown_meter, "We do not know the meter number 777. Check it and try again."),
    ("POWER", None, "Please send POWER followed by your meter number, e.g. POWER 12345678901."),
    ("STATUS FL-9", None, "We found no fault with the reference FL-000009. Check it and send it again."),
    ("STATUS 9", IncidentView("FL-000009", "closed", None), "FL-000009: Closed."),
    ("STATUS x", None, "Please send STATUS followed by the reference of your report, e.g. STATUS FL-000123."),
    ("STATUS", None, "We have no report from this phone number."),
    ("STATUS", IncidentView("FL-000009", "cancelled", None), "FL-000009: Cancelled."),
    ("HELP", None, "To report no power, send POWER and your meter number. To check a report, send STATUS and "
                   "its reference, e.g. STATUS FL-000123."),
    ("what?", None, "To report no power, send POWER and your meter number. To check a report, send STATUS and "
                    "its reference, e.g. STATUS FL-000123."),
])
def test_replies(message, outcome, reply):
    assert reply_text(parse(message), outcome, EN) == reply


GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")


@pytest.mark.parametrize("message, outcome", [
    ("POWER " + "9" * 40, Refusal.unknown_meter),
    ("POWER 1", Refusal.too_many),
    ("POWER 1", Refusal.outside_area),
    ("POWER 1", Filed(LONGEST, True, False)),
    ("POWER 1", Filed(LONGEST, True, True)),
    ("STATUS 1", LONGEST),
    ("STATUS 1", None),
    ("STATUS x", None),
    ("POWER", None),
    ("HELP", None),
])
def test_english_replies_fit_one_gsm7_segment(message, outcome):
    reply = reply_text(parse(message), outcome, EN)
    assert set(reply) <= GSM7, set(reply) - GSM7
    assert len(reply) <= 160, (len(reply), reply)


@pytest.mark.parametrize("lang, power, status", [
    ("en", "POWER", "STATUS"), ("sw", "UMEME", "HALI"), ("hi", "BIJLI", "STHITI"), ("vi", "DIEN", "TINHTRANG"),
    ("sq", "DRITA", "GJENDJA"),
])
def test_the_usage_teaches_the_readers_own_keywords_and_they_work(lang, power, status):
    usage = usage_text(ReplyLocale(lang, "Africa/Nairobi", "KE"))
    assert power in usage and status in usage
    assert parse(f"{power} 1").kind is POWER and parse(f"{status} 1").kind is STATUS


def test_every_language_has_all_three_keywords():
    from server.channels.sms import KEYWORDS
    assert set(KEYWORDS) == set(LANGUAGES)
    assert all(set(kinds) == {POWER, STATUS, HELP} for kinds in KEYWORDS.values())
