"""Notifications: queued with the change, sent through a real (local) push service that checks VAPID and
decrypts each message, SMS through the log gateway, each exactly once, in each customer's language."""
import json
from datetime import timedelta

import psycopg
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from server.app import make_courier
from server.db import make_engine, utcnow
from server.i18n import gettext
from server.incidents.models import Incident
from server.notify.messages import ANTI_FRAUD, TEMPLATES
from server.notify.segments import sms_text
from server.notify.service import queue_incident_notice, subscribe
from server.notify.worker import deliver_due
from server.db_url import libpq_url
from server.reports.rules import ReportInput
from server.reports.service import take_report
from server.secrets import load_or_create_secrets
from tests.support.push_service import PushService


@pytest.fixture
async def engine(database_url):
    engine = make_engine(database_url, pool_size=8)
    yield engine
    await engine.dispose()


@pytest.fixture
def push_service(test_settings):
    service = PushService(load_or_create_secrets(test_settings.server.data_dir)["vapid_public_key"])
    yield service
    service.close()


@pytest.fixture
def courier(test_settings):
    return make_courier(test_settings, load_or_create_secrets(test_settings.server.data_dir))


async def _incident_with_reports(engine, database_url, offset, people):
    """An incident on a free transformer with one report per (phone, language)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        lat, lon = conn.execute("""
            SELECT ST_Y(t.location::geometry), ST_X(t.location::geometry) FROM transformer t
            WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id)
            ORDER BY t.code OFFSET %s LIMIT 1""", (offset,)).fetchone()
    receipts = []
    async with AsyncSession(engine, expire_on_commit=False) as session:
        for phone, language in people:
            entry = ReportInput("no_power", phone, lat, lon, None, "", language)
            receipts.append(await take_report(session, entry, channel="web"))
    return receipts


def _only_this_incident_due(database_url, incident_id):
    """Other tests leave messages queued (broadcasts, planned work): postpone them so counts are ours (by the
    worker's clock, which a test may have frozen)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("UPDATE outbox SET next_try_at = %s "
                     "WHERE status = 'pending' AND incident_id IS DISTINCT FROM %s",
                     (utcnow() + timedelta(days=1), incident_id))


def _sms_log(test_settings):
    path = test_settings.server.data_dir / "sms.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_restore_notifies_every_report_once_in_its_language(engine, database_url, push_service, courier,
                                                                  test_settings):
    receipts = await _incident_with_reports(engine, database_url, 70, [
        ("+254711100001", "sw"), ("+254711100002", "hi"), ("+254711100003", "vi"), ("+254711100003", "vi")])
    incident_id = receipts[0].incident.id
    async with AsyncSession(engine, expire_on_commit=False) as session:
        for receipt, name in zip(receipts[:2], ("sw-phone", "hi-phone"), strict=True):
            sub = push_service.subscribe(name)
            await subscribe(session, receipt.report.id, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"])
        incident = await session.get(Incident, incident_id)
        incident.status = "restored"
        assert await queue_incident_notice(session, incident, "restored", test_settings) == 3  # 2 push, 1 SMS
        await session.commit()
        assert await queue_incident_notice(session, incident, "restored", test_settings) == 0  # never twice
        await session.commit()
    sms_before = len(_sms_log(test_settings))
    _only_this_incident_due(database_url, incident_id)
    assert await deliver_due(engine, courier) == 3
    assert await deliver_due(engine, courier) == 0

    assert push_service.refused == []
    by_phone = {d.subscriber: d for d in push_service.deliveries}
    assert set(by_phone) == {"sw-phone", "hi-phone"}
    for name, lang in (("sw-phone", "sw"), ("hi-phone", "hi")):
        delivery = by_phone[name]
        expected_start = gettext(lang, TEMPLATES["restored"]).split("%(code)s")[-1][:12]
        assert expected_start in delivery.message["body"] and receipts[0].incident.code in delivery.message["body"]
        code = receipts[0].incident.code  # one tag and one Topic per incident, whatever the message
        assert delivery.message["tag"] == code and delivery.message["url"].startswith("/t/")
        assert int(delivery.headers["ttl"]) == test_settings.notify.push_ttl_seconds
        assert delivery.headers["urgency"] == "high" and delivery.headers["topic"] == code.replace("-", "")
        assert len(json.dumps(delivery.message).encode()) < 1024  # small payloads
    texts = _sms_log(test_settings)[sms_before:]
    assert [t["to"] for t in texts] == ["+254711100003"]  # two reports from one phone: one SMS
    assert texts[0]["text"].endswith(sms_text(gettext("vi", ANTI_FRAUD), "vi"))


async def test_a_message_waits_for_its_time_by_the_workers_clock(clock, engine, database_url, courier,
                                                                  test_settings):
    """On any day: not sent while its time is ahead, sent once it has come, and stamped with when it went."""
    receipt, = await _incident_with_reports(engine, database_url, 76, [("+254711100076", "en")])
    async with AsyncSession(engine, expire_on_commit=False) as session:
        incident = await session.get(Incident, receipt.incident.id)
        assert await queue_incident_notice(session, incident, "assigned", test_settings) == 1
        await session.commit()
    _only_this_incident_due(database_url, receipt.incident.id)
    with psycopg.connect(libpq_url(database_url)) as conn:
        for due_in, handled, status in ((timedelta(minutes=10), 0, "pending"), (timedelta(minutes=-1), 1, "sent")):
            conn.execute("UPDATE outbox SET next_try_at = %s WHERE incident_id = %s",
                         (clock.now() + due_in, receipt.incident.id))
            conn.commit()
            assert await deliver_due(engine, courier) == handled, due_in
            found, sent_at = conn.execute("SELECT status, sent_at FROM outbox WHERE incident_id = %s",
                                          (receipt.incident.id,)).fetchone()
            assert found == status, due_in
    assert timedelta(0) <= clock.now() - sent_at < timedelta(minutes=1)


async def test_a_gone_subscription_is_pruned_and_the_notice_goes_by_sms(engine, database_url, push_service, courier, test_settings):
    receipt, = await _incident_with_reports(engine, database_url, 71, [("+254711100011", "en")])
    sub = push_service.subscribe("gone-phone")
    push_service.answers["gone-phone"] = [410]
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await subscribe(session, receipt.report.id, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"])
        incident = await session.get(Incident, receipt.incident.id)
        await queue_incident_notice(session, incident, "en_route", test_settings, crew_code="4821")
        await session.commit()
    _only_this_incident_due(database_url, receipt.incident.id)
    await deliver_due(engine, courier)
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("SELECT count(*) FROM push_subscription WHERE endpoint = %s",
                            (sub["endpoint"],)).fetchone()[0] == 0
        assert conn.execute("SELECT status FROM outbox WHERE recipient = %s", (sub["endpoint"],)).fetchone()[0] == "gone"
        # The customer is told all the same: by SMS to the report's phone, the same words, in their language.
        sms = conn.execute("SELECT kind, language, payload->>'text', status FROM outbox "
                           "WHERE incident_id = %s AND channel = 'sms' AND recipient = '+254711100011'",
                           (receipt.incident.id,)).fetchall()
    assert [(kind, language, status) for kind, language, _, status in sms] == [("en_route", "en", "sent")]
    assert "4821" in sms[0][2] and sms[0][2].endswith(gettext("en", ANTI_FRAUD))
    assert _sms_log(test_settings)[-1]["to"] == "+254711100011"


@pytest.mark.parametrize("answer, retry_after, status, wait_at_least", [
    (429, "120", "pending", 110), (500, None, "pending", 20), (503, None, "pending", 20), (401, None, "pending", 20),
])
async def test_busy_or_failing_push_services_are_tried_again_later(engine, database_url, push_service, courier,
                                                                   test_settings, answer, retry_after, status,
                                                                   wait_at_least):
    offset = {429: 72, 500: 73, 503: 74, 401: 75}[answer]
    receipt, = await _incident_with_reports(engine, database_url, offset, [(f"+2547111002{offset}", "en")])
    name = f"busy-{answer}"
    sub = push_service.subscribe(name)
    push_service.answers[name] = [answer]
    push_service.retry_after = retry_after
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await subscribe(session, receipt.report.id, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"])
        await queue_incident_notice(session, await session.get(Incident, receipt.incident.id), "assigned",
                                    test_settings)
        await session.commit()
    await deliver_due(engine, courier)
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT status, attempts, next_try_at FROM outbox WHERE recipient = %s",
                           (sub["endpoint"],)).fetchone()
    assert row[0] == status and row[1] == 1 and (row[2] - utcnow()).total_seconds() >= wait_at_least
    assert push_service.deliveries == [] or all(d.subscriber != name for d in push_service.deliveries)


async def test_the_subscription_endpoint_checks_what_the_browser_sends(client, database_url, push_service):
    from tests.conftest import csrf_token
    with psycopg.connect(libpq_url(database_url)) as conn:
        token, = conn.execute("SELECT tracking_token FROM report ORDER BY id LIMIT 1").fetchone()
    csrf = await csrf_token(client, f"/t/{token}")
    good = push_service.subscribe("form-phone")
    headers = {"x-csrftoken": csrf}
    assert (await client.post(f"/t/{token}/push", json=good, headers=headers)).status_code == 201
    assert (await client.post(f"/t/{token}/push", json=good, headers=headers)).status_code == 201  # idempotent
    for bad in ({**good, "endpoint": "ftp://push.example/x"}, {**good, "endpoint": "http://push.example/x"},
                {**good, "keys": {"p256dh": "short", "auth": good["keys"]["auth"]}}, {"endpoint": good["endpoint"]}):
        response = await client.post(f"/t/{token}/push", json=bad, headers=headers)
        assert response.status_code == 400 and response.json()["detail"]
    assert (await client.post("/t/" + "A" * 22 + "/push", json=good, headers=headers)).status_code == 404
    assert (await client.post(f"/t/{token}/push", json=good)).status_code == 403  # no CSRF token
    key = (await client.get("/push/key")).json()["publicKey"]
    assert key == push_service.vapid_public_key


def test_the_local_push_service_refuses_bad_vapid(push_service, test_settings):
    import time

    from py_vapid import Vapid02

    from server.secrets import new_vapid_keys
    claims = {"sub": "mailto:ops@example.org", "aud": push_service.origin, "exp": int(time.time()) + 3600}
    stranger = Vapid02.from_raw(new_vapid_keys()["vapid_private_key"].encode())
    assert push_service.check_vapid(stranger.sign(dict(claims))["Authorization"]) == "unexpected VAPID key"
    ours = Vapid02.from_raw(load_or_create_secrets(test_settings.server.data_dir)["vapid_private_key"].encode())
    assert push_service.check_vapid(ours.sign(dict(claims))["Authorization"]) is None
    assert "aud" in push_service.check_vapid(ours.sign({**claims, "aud": "https://elsewhere.example"})["Authorization"])
    assert "exp" in push_service.check_vapid(ours.sign({**claims, "exp": int(time.time()) + 48 * 3600})["Authorization"])


async def test_the_sms_sender_an_administrator_sets_is_used_at_once(engine, database_url, courier, test_settings):
    from server.operator import save_overrides
    receipts = await _incident_with_reports(engine, database_url, 75, [("+254711100075", "en")])
    incident_id = receipts[0].incident.id
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await save_overrides(session, {"sms_sender": "KPLC"}, None)
        incident = await session.get(Incident, incident_id)
        assert await queue_incident_notice(session, incident, "assigned", test_settings) == 1
        await session.commit()
    sms_before = len(_sms_log(test_settings))
    _only_this_incident_due(database_url, incident_id)
    try:
        assert await deliver_due(engine, courier) == 1
    finally:
        async with AsyncSession(engine) as session:
            await save_overrides(session, {"sms_sender": None}, None)  # back to FAULTLINE_SMS_SENDER
    texts = _sms_log(test_settings)[sms_before:]
    assert [(t["to"], t["from"]) for t in texts] == [("+254711100075", "KPLC")]


async def test_sms_links_follow_the_port_served_when_no_public_url_is_set(engine, database_url, test_settings):
    """FAULTLINE_PORT=8101 without FAULTLINE_PUBLIC_URL: the link in the SMS is on 8101, not 8000."""
    from dataclasses import replace
    settings = replace(test_settings, server=replace(test_settings.server, host="127.0.0.1", port=8101),
                       notify=replace(test_settings.notify, public_url=""))
    receipt, = await _incident_with_reports(engine, database_url, 72, [("+254711100021", "sw")])
    async with AsyncSession(engine, expire_on_commit=False) as session:
        incident = await session.get(Incident, receipt.incident.id)
        incident.status = "restored"
        assert await queue_incident_notice(session, incident, "restored", settings) == 1
        await session.commit()
    with psycopg.connect(libpq_url(database_url)) as conn:
        text, = conn.execute("SELECT payload->>'text' FROM outbox WHERE incident_id = %s AND recipient = %s "
                             "AND kind = 'restored'", (receipt.incident.id, "+254711100021")).fetchone()
    assert f"http://127.0.0.1:8101/t/{receipt.report.tracking_token}" in text
