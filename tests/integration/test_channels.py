"""Feature-phone intake on real PostGIS: USSD sessions step by step, SMS keywords, languages, signatures, limits."""
import hashlib
import hmac
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.app import create_app
from server.db import make_engine
from server.demo.city import customers
from server.i18n import format_time, gettext

NOBODYS_PHONE = "+255754000001"  # a valid Tanzanian mobile: no demo customer has it (they are all +254)


@pytest.fixture(scope="module")
async def db(database_url):
    engine = make_engine(database_url, pool_size=2)

    async def run(sql: str, **params):
        async with AsyncSession(engine) as session:
            result = await session.exec(text(sql), params=params)
            rows = result.all() if result.returns_rows else None
            await session.commit()
            return rows

    yield run
    await engine.dispose()


async def fresh_customer(db, language: str | None = None):
    """A customer whose transformer has no open incident and whose phone and meter have filed nothing."""
    return (await db("""
        SELECT c.meter_no, c.phone, c.language, c.transformer_id FROM customer c
        WHERE c.phone IS NOT NULL AND c.transformer_id IS NOT NULL
          AND (CAST(:lang AS text) IS NULL OR c.language = :lang)
          AND NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = c.transformer_id
                          AND i.status IN ('reported', 'assigned', 'en_route', 'on_site'))
          AND NOT EXISTS (SELECT 1 FROM report r WHERE r.phone = c.phone OR r.meter_no = c.meter_no)
        ORDER BY c.id DESC LIMIT 1""", lang=language))[0]


async def neighbour_of(db, customer, language: str | None = None):
    """Another customer on the same transformer."""
    return (await db("""
        SELECT meter_no, phone, language FROM customer
        WHERE transformer_id = :t AND meter_no <> :meter AND (CAST(:lang AS text) IS NULL OR language = :lang)
        ORDER BY id LIMIT 1""", t=customer.transformer_id, meter=customer.meter_no, lang=language))[0]


async def ussd(client, phone: str, answers: str):
    form = {"sessionId": "ATUid_test", "serviceCode": "*384*1#", "phoneNumber": phone, "text": answers}
    return await client.post("/ussd", data=form)


async def sms(client, phone: str, message: str):
    return await client.post("/sms/inbound", data={"from": phone, "to": "40404", "text": message,
                                                   "id": "m-1", "date": "2026-11-22 10:00:00"})


def code_in(reply: str) -> str:
    return "FL-" + reply.split("FL-")[1][:6]


# --- USSD, step by step -------------------------------------------------------------------------------------

async def test_the_first_screen_is_the_main_menu_in_plain_text(client, db):
    customer = await fresh_customer(db, "en")
    response = await ussd(client, customer.phone, "")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("CON ") and len(response.text) <= 182
    for line in ("1. Report no power", "2. Status of my report", "3. Power in my area", "4. Language"):
        assert line in response.text


async def test_a_ussd_session_reports_no_power_then_follows_it(client, db):
    customer = await fresh_customer(db, "en")
    assert (await ussd(client, customer.phone, "")).text.startswith("CON ")
    asked = await ussd(client, customer.phone, "1")
    assert asked.text.startswith("CON Enter your meter number:")
    done = await ussd(client, customer.phone, f"1*{customer.meter_no}")
    assert done.status_code == 200 and done.text.startswith("END Thank you, we have your report.")
    code = code_in(done.text)
    row = (await db("""
        SELECT r.channel, r.phone, r.meter_no, r.category, r.language, i.status, i.transformer_id
        FROM report r JOIN incident i ON i.id = r.incident_id WHERE i.code = :code""", code=code))[0]
    assert tuple(row) == ("ussd", customer.phone, customer.meter_no, "no_power", "en", "reported",
                          customer.transformer_id)

    status = await ussd(client, customer.phone, "2")
    assert status.text == f"END {code}: Reported, waiting for a crew."

    again = await ussd(client, customer.phone, f"1*{customer.meter_no}")
    assert again.text == f"END You have already reported this fault. {code}: Reported, waiting for a crew."
    counts = (await db("SELECT report_count, repeat_calls FROM incident WHERE code = :code", code=code))[0]
    assert tuple(counts) == (1, 1)


async def test_a_neighbour_hears_the_fault_is_known_with_its_etr(client, db):
    customer = await fresh_customer(db, "en")
    code = code_in((await ussd(client, customer.phone, f"1*{customer.meter_no}")).text)
    await db("""UPDATE incident SET status = 'assigned', assigned_at = now(), etr = now() + interval '2 hours'
                WHERE code = :code""", code=code)
    etr = (await db("SELECT etr FROM incident WHERE code = :code", code=code))[0].etr
    neighbour = await neighbour_of(db, customer, "en")
    when = format_time(etr, "en", "Africa/Nairobi", "KE", "short")

    joined = await ussd(client, neighbour.phone, f"1*{neighbour.meter_no}")
    assert joined.text == (f"END We already know about this fault and added your report. "
                           f"{code}: A crew has been assigned. Expected back: {when}")
    area = await ussd(client, neighbour.phone, "3")
    assert area.text == f"END There is a known fault in your area. {code}: A crew has been assigned. " \
                        f"Expected back: {when}"
    assert neighbour.phone not in area.text and customer.phone not in area.text


async def test_a_phone_no_customer_has_is_asked_for_a_meter_to_check_the_area(client, db):
    customer = await fresh_customer(db, "en")
    asked = await ussd(client, NOBODYS_PHONE, "3")
    assert asked.text.startswith("CON Enter your meter number:")
    quiet = await ussd(client, NOBODYS_PHONE, f"3*{customer.meter_no}")
    assert quiet.text == "END No fault is known in your area. If your power is off, please report it."

    code = code_in((await ussd(client, customer.phone, f"1*{customer.meter_no}")).text)
    known = await ussd(client, NOBODYS_PHONE, f"3*{customer.meter_no}")
    assert known.text.startswith("END There is a known fault in your area.") and code in known.text
    unknown = await ussd(client, NOBODYS_PHONE, "3*99999999999")
    assert unknown.text == "END We do not know the meter number 99999999999. Check it and try again."


@pytest.mark.parametrize("answers, starts", [
    ("9", "CON Please choose one of the numbers.\nPower cuts: choose a number"),
    ("1*12.5", "CON A meter number has only letters and digits.\nEnter your meter number:"),
    ("1*", "CON A meter number has only letters and digits.\nEnter your meter number:"),
    ("1*0", "CON Power cuts: choose a number"),
    ("9*1", "CON Enter your meter number:"),  # after a wrong answer the menu is asked again, and works
    ("4*7", "CON Please choose one of the numbers.\nChoose your language:"),
    ("1*99999999999", "END We do not know the meter number 99999999999."),
])
async def test_wrong_answers_are_asked_again_or_explained(client, answers, starts):
    response = await ussd(client, NOBODYS_PHONE, answers)
    assert response.status_code == 200 and response.text.startswith(starts), response.text


async def test_no_report_from_this_phone_yet(client):
    response = await ussd(client, NOBODYS_PHONE, "2")
    assert response.text == "END We have no report from this phone number."


# --- Languages ----------------------------------------------------------------------------------------------

async def test_a_kiswahili_customer_is_answered_in_kiswahili(client, db):
    customer = await fresh_customer(db, "sw")
    menu = await ussd(client, customer.phone, "")
    assert f"4. {gettext('sw', 'Language')}/Language" in menu.text and gettext("sw", "Language") != "Language"
    done = await ussd(client, customer.phone, f"1*{customer.meter_no}")
    code = code_in(done.text)
    assert done.text == "END " + gettext("sw", "Thank you, we have your report. Your reference is %(code)s.",
                                         code=code)
    status = await ussd(client, customer.phone, "2")
    assert status.text == "END " + gettext("sw", "%(code)s: %(status)s.", code=code,
                                           status=gettext("sw", "Reported, waiting for a crew"))
    assert "Imeripotiwa, inasubiri mafundi" in status.text
    assert (await db("SELECT language FROM report WHERE meter_no = :m", m=customer.meter_no))[0].language == "sw"


async def test_the_demo_city_says_who_speaks_kiswahili(client, db):
    """The same customer, computed from the demo city's seed: meter, phone and language agree with the table."""
    demo = next(c for c in customers(10_000) if c.language == "sw")
    stored = (await db("SELECT phone, language FROM customer WHERE meter_no = :m", m=demo.meter_no))[0]
    assert (stored.phone, stored.language) == (demo.phone, "sw")
    assert "Lugha/Language" in (await ussd(client, demo.phone, "")).text


async def test_a_language_chosen_on_the_menu_is_kept_for_the_session_and_the_phone(client, db):
    customer = await fresh_customer(db, "en")
    choices = await ussd(client, customer.phone, "4")
    assert choices.text.startswith("CON ") and "2. Kiswahili" in choices.text and "5. Shqip" in choices.text
    menu = await ussd(client, customer.phone, "4*2")
    assert menu.text.startswith("CON ") and "4. Lugha/Language" in menu.text
    assert (await db("SELECT language FROM customer WHERE phone = :p", p=customer.phone))[0].language == "sw"
    back = await ussd(client, customer.phone, "4*2*1")
    assert back.text.endswith("0. " + gettext("sw", "Back to the start")) and "Rudi" in back.text
    none_yet = await ussd(client, customer.phone, "4*2*2")
    assert none_yet.text == "END " + gettext("sw", "We have no report from this phone number.")
    # A later session starts in the stored language; choosing English in it wins for that session.
    assert "Lugha/Language" in (await ussd(client, customer.phone, "")).text
    english = await ussd(client, customer.phone, "4*1")
    assert "4. Language" in english.text
    assert (await db("SELECT language FROM customer WHERE phone = :p", p=customer.phone))[0].language == "en"


async def test_a_phone_nobody_has_gets_the_default_language(client):
    response = await ussd(client, NOBODYS_PHONE, "")
    assert "4. Language" in response.text  # FAULTLINE_DEFAULT_LANGUAGE is en in the tests


# --- SMS ----------------------------------------------------------------------------------------------------

async def test_power_by_sms_files_a_report_and_status_follows_it(client, db):
    customer = await fresh_customer(db, "en")
    filed = await sms(client, customer.phone, f"POWER {customer.meter_no}")
    assert filed.status_code == 200 and filed.headers["content-type"].startswith("text/plain")
    assert filed.text.startswith("Thank you, we have your report. Your reference is FL-")
    code = code_in(filed.text)
    row = (await db("SELECT r.channel, r.phone FROM report r JOIN incident i ON i.id = r.incident_id "
                    "WHERE i.code = :code", code=code))[0]
    assert tuple(row) == ("sms", customer.phone)

    number = int(code[3:])
    for asked in (f"STATUS {code}", f"status {code.lower()}", f"  Status   FL-{number}  ", f"STATUS {number}",
                  f"HALI {code}", "STATUS"):
        reply = await sms(client, customer.phone, asked)
        assert reply.text == f"{code}: Reported, waiting for a crew.", asked

    repeat = await sms(client, customer.phone, f"power   {customer.meter_no}")
    assert repeat.text.startswith("You have already reported this fault.") and code in repeat.text
    neighbour = await neighbour_of(db, customer, "en")
    joined = await sms(client, neighbour.phone, f"POWER {neighbour.meter_no}")
    assert joined.text == f"We already know about this fault and added your report. {code}: Reported, " \
                          "waiting for a crew."


@pytest.mark.parametrize("message, reply", [
    ("POWER 99999999999", "We do not know the meter number 99999999999. Check it and try again."),
    ("POWER", "Please send POWER followed by your meter number, e.g. POWER 12345678901."),
    ("POWER ???", "Please send POWER followed by your meter number, e.g. POWER 12345678901."),
    ("STATUS FL-999999", "We found no fault with the reference FL-999999. Check it and send it again."),
    ("STATUS nothing", "Please send STATUS followed by the reference of your report, e.g. STATUS FL-000123."),
    ("STATUS", "We have no report from this phone number."),
    ("HELP", "To report no power, send POWER and your meter number. To check a report, send STATUS and its "
             "reference, e.g. STATUS FL-000123."),
    ("is the power back?", "To report no power, send POWER and your meter number."),
    ("", "To report no power, send POWER and your meter number."),
])
async def test_sms_keywords_answer_clearly(client, message, reply):
    response = await sms(client, NOBODYS_PHONE, message)
    assert response.status_code == 200 and response.text.startswith(reply), response.text
    assert len(response.text) <= 160


async def test_kiswahili_keywords_and_languages_by_sms(client, db):
    customer = await fresh_customer(db, "sw")
    filed = await sms(client, customer.phone, f"umeme {customer.meter_no}")
    code = code_in(filed.text)
    assert filed.text == gettext("sw", "Thank you, we have your report. Your reference is %(code)s.", code=code)
    # A phone nobody has, writing in Kiswahili, is answered in Kiswahili.
    status = await sms(client, NOBODYS_PHONE, f"HALI {code}")
    assert "Imeripotiwa, inasubiri mafundi" in status.text
    assert "UMEME" in (await sms(client, NOBODYS_PHONE, "msaada")).text
    # The meter's customer speaks for the report, before the phone's own customer.
    english = await fresh_customer(db, "en")
    neighbour = await neighbour_of(db, customer, "sw")
    joined = await sms(client, english.phone, f"POWER {neighbour.meter_no}")
    assert "Imeripotiwa, inasubiri mafundi" in joined.text and code in joined.text


# --- Signatures, bad input, limits ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def signed_client(database_url, test_settings):
    settings = replace(test_settings, intake=replace(test_settings.intake, gateway_secret="s3cret", rate_per_ip=1))
    async with AsyncTestClient(app=create_app(database_url, settings)) as test_client:
        yield test_client


def _signed(body: bytes, secret: str = "s3cret") -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("path, fields", [
    ("/ussd", {"sessionId": "s1", "serviceCode": "*384#", "phoneNumber": NOBODYS_PHONE, "text": ""}),
    ("/sms/inbound", {"from": NOBODYS_PHONE, "to": "40404", "text": "HELP"}),
])
async def test_with_a_gateway_secret_only_signed_callbacks_are_served(signed_client, path, fields):
    body = urlencode(fields).encode()
    for signature in (None, "", "00" * 32, _signed(body, "wrong"), _signed(body + b"&x=1"),
                      ("é" * 64).encode("latin-1")):
        headers = FORM if signature is None else {**FORM, "x-faultline-signature": signature}
        refused = await signed_client.post(path, content=body, headers=headers)
        assert refused.status_code == 401 and "X-Faultline-Signature" in refused.text
        assert refused.headers["content-type"].startswith("text/plain")
    # Signed callbacks come from the gateway's one address: the per-address limit (1 a minute here) is not theirs.
    for signature in (_signed(body), _signed(body).upper(), "sha256=" + _signed(body)):
        served = await signed_client.post(path, content=body, headers={**FORM, "x-faultline-signature": signature})
        assert served.status_code == 200 and ("Power cuts" in served.text or "POWER" in served.text)


async def test_without_a_secret_no_signature_is_needed_nor_a_csrf_token(client):
    assert (await ussd(client, NOBODYS_PHONE, "")).status_code == 200


@pytest.mark.parametrize("path, fields, message", [
    ("/ussd", {"serviceCode": "*384#", "phoneNumber": NOBODYS_PHONE, "text": ""}, "Missing form field: sessionId."),
    ("/ussd", {"sessionId": "s", "serviceCode": "*384#", "text": ""}, "Missing form field: phoneNumber."),
    ("/ussd", {}, "Missing form field: sessionId, serviceCode, phoneNumber, text."),
    ("/ussd", {"sessionId": "s", "serviceCode": "*384#", "phoneNumber": "12345", "text": ""},
     "phoneNumber is not a valid phone number."),
    ("/ussd", {"sessionId": "s", "serviceCode": "*384#", "phoneNumber": "", "text": ""},
     "phoneNumber is not a valid phone number."),
    ("/sms/inbound", {"to": "40404", "text": "HELP"}, "Missing form field: from."),
    ("/sms/inbound", {"from": NOBODYS_PHONE}, "Missing form field: text."),
    ("/sms/inbound", {"from": "KPLC", "text": "HELP"}, "from is not a valid phone number."),
])
async def test_bad_callbacks_get_a_plain_400(client, path, fields, message):
    response = await client.post(path, data=fields)
    assert response.status_code == 400 and response.text == message
    assert response.headers["content-type"].startswith("text/plain")


GARBAGE = [
    (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
    (b'{"phoneNumber": "+254712345678", "text": ""}', "application/json"),
    (b"", "text/plain"),
    (b"--x\r\nContent-Disposition: form-data; name=", "multipart/form-data; boundary=x"),
    (b"a=1", "multipart/form-data"),
    (b"sessionId=s&serviceCode=1&phoneNumber=%2B254712345678&text=" + b"1*" * 3000,
     "application/x-www-form-urlencoded"),
    (b"sessionId=s%00&serviceCode=%00&phoneNumber=%2B2547%0012345678&text=1*1420%000000007",
     "application/x-www-form-urlencoded"),
    (b"from=%2B254712345678&from=0712&text=POWER%20%00%FF%FE&text=x", "application/x-www-form-urlencoded"),
    (b"sessionId=s&serviceCode=1&phoneNumber=%2B254712345678&text=" + "1*\u0967\u0968\u0969".encode(),
     "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize("path", ["/ussd", "/sms/inbound"])
@pytest.mark.parametrize("body, content_type", GARBAGE)
async def test_garbage_never_gets_a_500(client, path, body, content_type):
    response = await client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code < 500, response.text[:300]
    assert response.headers["content-type"].startswith("text/plain")


async def test_a_multipart_callback_is_read_like_a_urlencoded_one(client):
    response = await client.post("/sms/inbound", files={"from": (None, NOBODYS_PHONE), "text": (None, "HELP")})
    assert response.status_code == 200 and response.text.startswith("To report no power")


async def test_the_callbacks_skip_csrf_and_are_public(app):
    handlers = [h for route in app.routes if route.path in {"/ussd", "/sms/inbound"}
                for h in route.route_handlers if "POST" in h.http_methods]
    assert len(handlers) == 2
    assert all(h.opt.get("public") and h.opt.get("exclude_from_csrf") for h in handlers)


async def test_limits_per_address_and_per_phone(database_url, test_settings, db):
    await db("DELETE FROM rate_hit WHERE key = 'ip:testclient'")
    tight = replace(test_settings, intake=replace(test_settings.intake, rate_per_ip=2))
    async with AsyncTestClient(app=create_app(database_url, tight)) as limited:
        # Five calls against a limit of two: whatever minute they straddle, some are refused.
        steps = [await ussd(limited, NOBODYS_PHONE, "") for _ in range(5)]
        refused = [s for s in steps if not s.text.startswith("CON ")]
        assert refused and all(s.status_code == 200 and s.text.startswith("END Too many reports") for s in refused)
        texts = [await sms(limited, NOBODYS_PHONE, "HELP") for _ in range(5)]
        assert any(t.status_code == 429 and t.text.startswith("Too many reports") for t in texts)
    await db("DELETE FROM rate_hit WHERE key = 'ip:testclient'")

    customer = await fresh_customer(db, "en")
    one_an_hour = replace(test_settings, intake=replace(test_settings.intake, rate_per_phone=1))
    async with AsyncTestClient(app=create_app(database_url, one_an_hour)) as limited:
        replies = [(await sms(limited, customer.phone, f"POWER {customer.meter_no}")).text for _ in range(3)]
        replies.append((await ussd(limited, customer.phone, f"1*{customer.meter_no}")).text)
    # Four reports against one an hour, whatever hour they straddle: the phone is stopped on every channel.
    assert replies[0].startswith("Thank you") or replies[1].startswith("Thank you")
    assert any(r.removeprefix("END ").startswith("Too many reports from here") for r in replies)


async def test_sms_replies_in_albanian_fit_one_message(client, db):
    """Albanian's ë and ç are not GSM-7: left as they are, every reply would go as UCS-2 (70 characters a
    message); folded to e and c, a reply is one GSM-7 message, as the notices are."""
    from server.notify.segments import is_gsm7, sms_cost
    customer = await fresh_customer(db, "sq")
    filed = await sms(client, customer.phone, f"POWER {customer.meter_no}")
    code = code_in(filed.text)
    for reply in (filed, await sms(client, customer.phone, f"STATUS {code}"), await sms(client, customer.phone, "HELP")):
        assert is_gsm7(reply.text) and sms_cost(reply.text)[2] == 1, reply.text
