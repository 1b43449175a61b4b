"""Planned outages and broadcasts: the right customers, each once, in their language, after a preview."""
import re
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest

from server.provision import libpq_url
from tests.conftest import csrf_token, sign_in


SOON = date.today() + timedelta(days=60)  # planned work is announced at most a year ahead


def _sql(database_url, query, *params):
    with psycopg.connect(libpq_url(database_url)) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


async def test_a_planned_outage_tells_the_zone_ahead_and_shows_publicly(client, database_url, test_settings):
    await sign_in(client, "dispatcher")
    token = await csrf_token(client, "/planned")
    (zone_id, customers), = _sql(database_url, """
        SELECT z.id, count(DISTINCT c.phone) FROM zone z, customer c LEFT JOIN transformer t ON t.id = c.transformer_id
        WHERE ST_Covers(z.area, coalesce(t.location, c.location)::geometry) AND c.phone IS NOT NULL
          AND z.name = 'Embakasi' GROUP BY z.id""")
    response = await client.post("/planned", data={
        "title": "New transformer at Street 7", "zone_id": str(zone_id), "starts_at": f"{SOON}T09:00",
        "ends_at": f"{SOON}T15:00", "reason": "Upgrade", "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    rows = _sql(database_url, """SELECT count(*), count(DISTINCT recipient), min(next_try_at), max(next_try_at)
                                 FROM outbox WHERE kind = 'planned'""")
    count, distinct, first, last = rows[0]
    assert count == distinct == customers > 0
    notice_hours = test_settings.notify.planned_notice_hours
    assert first == last and first > datetime.now(timezone.utc) + timedelta(days=50)  # ahead of the work, not now
    sample, = _sql(database_url, "SELECT language, payload->>'text' FROM outbox WHERE kind = 'planned' "
                                 "AND language = 'sw' LIMIT 1")
    assert "New transformer at Street 7" in sample[1] and "Matengenezo" in sample[1]
    page = await client.get("/outages")
    assert "New transformer at Street 7" in page.text
    assert notice_hours == 24


@pytest.mark.parametrize("fields, message", [
    ({"title": ""}, "short title"),
    ({"zone_id": "9999"}, "Choose the zone"),
    ({"ends_at": f"{SOON}T08:00"}, "end must come after"),
    ({"starts_at": "9999-12-31T23:00", "ends_at": "9999-12-31T23:30"}, "at most a year ahead"),
    ({"starts_at": "soon"}, "date and a time"),
    ({"starts_at": "2000-01-01T09:00", "ends_at": "2000-01-01T10:00"}, "already be over"),
])
async def test_a_planned_outage_with_bad_input_says_why(client, database_url, fields, message):
    await sign_in(client, "supervisor")
    token = await csrf_token(client, "/planned")
    form = {"title": "Line works", "zone_id": "1", "starts_at": f"{SOON}T09:00", "ends_at": f"{SOON}T12:00",
            "_csrf_token": token, **fields}
    response = await client.post("/planned", data=form)
    assert response.status_code == 422 and message in response.text


async def test_a_broadcast_is_previewed_then_sent_once_per_phone(client, database_url):
    await sign_in(client, "supervisor")
    token = await csrf_token(client, "/broadcasts")
    (zone_id, by_language), = _sql(database_url, """
        SELECT z.id, count(DISTINCT c.phone) FILTER (WHERE c.language = 'sw') FROM zone z
        JOIN customer c ON ST_Covers(z.area, c.location::geometry) WHERE z.name = 'Westlands' GROUP BY z.id""")
    form = {"zone_id": str(zone_id), "text_en": "Beware: we never ask for M-Pesa to a personal number.",
            "text_sw": "Tahadhari: hatuombi malipo ya M-Pesa kwa namba binafsi.", "_csrf_token": token}
    preview = await client.post("/broadcasts", data=form)
    assert preview.status_code == 200 and "customers will receive it" in preview.text
    assert _sql(database_url, "SELECT count(*) FROM outbox WHERE kind = 'broadcast'")[0][0] == 0  # nothing yet
    confirm = re.search(r'name="confirm" value="([0-9a-f.]+)"', preview.text).group(1)

    edited = await client.post("/broadcasts", data={**form, "text_en": "Changed after the preview.",
                                                    "confirm": confirm})
    assert "customers will receive it" in edited.text  # a changed text is previewed again, not sent
    assert _sql(database_url, "SELECT count(*) FROM outbox WHERE kind = 'broadcast'")[0][0] == 0

    sent = await client.post("/broadcasts", data={**form, "confirm": confirm})
    assert "Sent to" in sent.text
    rows = _sql(database_url, "SELECT language, payload->>'text' FROM outbox WHERE kind = 'broadcast'")
    assert len(rows) == len({r for r in _sql(database_url, "SELECT recipient FROM outbox WHERE kind = 'broadcast'")})
    assert sum(1 for lang, _ in rows if lang == "sw") == by_language
    assert all(text.startswith("Tahadhari") for lang, text in rows if lang == "sw")
    assert all(text.startswith("Beware") for lang, text in rows if lang == "hi")  # no Hindi written: English

    # The same confirmed form again (a double tap, a resend after a timeout): nothing more is queued.
    again = await client.post("/broadcasts", data={**form, "confirm": confirm})
    assert again.status_code == 200 and "already sent" in again.text
    assert _sql(database_url, "SELECT count(*) FROM outbox WHERE kind = 'broadcast'")[0][0] == len(rows)
    assert _sql(database_url, "SELECT count(*) FROM broadcast WHERE confirmation = %s", confirm)[0][0] == 1
    forged = await client.post("/broadcasts", data={**form, "confirm": "x" + confirm[1:]})
    assert "customers will receive it" in forged.text  # not a confirmation this page gave: previewed again


async def test_a_broadcast_needs_english_text(client):
    await sign_in(client, "supervisor")
    token = await csrf_token(client, "/broadcasts")
    response = await client.post("/broadcasts", data={"text_sw": "Tahadhari", "_csrf_token": token})
    assert response.status_code == 422 and "in English at least" in response.text


async def test_planned_work_reaches_the_customers_its_transformers_feed(client, database_url):
    """A house just outside the zone, fed from a transformer inside it, loses power too: it is told."""
    (zone_id,), = _sql(database_url, "SELECT id FROM zone WHERE name = 'Kasarani'")
    (transformer_id,), = _sql(database_url, """SELECT t.id FROM transformer t JOIN zone z ON ST_Covers(z.area,
        t.location::geometry) WHERE z.id = %s ORDER BY t.id LIMIT 1""", zone_id)
    _sql(database_url, """INSERT INTO customer (meter_no, phone, language, transformer_id, location)
        SELECT 'EDGE-0001', '+254799000001', 'en', %s,
               ST_Project(ST_PointOnSurface(z.area)::geography, 200000, 0)  -- far outside, on purpose
        FROM zone z WHERE z.id = %s""", transformer_id, zone_id)
    try:
        await sign_in(client, "dispatcher")
        token = await csrf_token(client, "/planned")
        await client.post("/planned", data={"title": "Feeder K2 works", "zone_id": str(zone_id),
                                            "starts_at": f"{SOON}T09:00", "ends_at": f"{SOON}T11:00",
                                            "_csrf_token": token}, follow_redirects=False)
        told = _sql(database_url, "SELECT count(*) FROM outbox WHERE kind = 'planned' "
                                  "AND recipient = '+254799000001'")
    finally:  # the demo city's customers all sit inside a zone; other tests count on it
        _sql(database_url, "DELETE FROM outbox WHERE recipient = '+254799000001'")
        _sql(database_url, "DELETE FROM customer WHERE meter_no = 'EDGE-0001'")
    assert told == [(1,)]


async def test_cancelled_planned_work_leaves_the_page_and_tells_only_those_already_told(client, database_url):
    await sign_in(client, "dispatcher")
    token = await csrf_token(client, "/planned")
    (zone_id,), = _sql(database_url, "SELECT id FROM zone WHERE name = 'Westlands'")
    await client.post("/planned", data={"title": "Pole replacement, Waiyaki Way", "zone_id": str(zone_id),
                                        "starts_at": f"{SOON}T09:00", "ends_at": f"{SOON}T11:00",
                                        "_csrf_token": token}, follow_redirects=False)
    (outage_id,), = _sql(database_url, "SELECT id FROM planned_outage WHERE title = 'Pole replacement, Waiyaki Way'")
    prefix = f"planned:{outage_id}:"
    notices = _sql(database_url, "SELECT id, recipient FROM outbox WHERE dedupe_key LIKE %s ORDER BY id", prefix + "%")
    assert len(notices) > 2
    told = notices[:2]  # these two were sent before the work was called off; the rest wait for their hour
    _sql(database_url, "UPDATE outbox SET status = 'sent', sent_at = now() WHERE id = ANY(%s)", [n[0] for n in told])

    page = await client.get("/planned")
    assert "Pole replacement, Waiyaki Way" in page.text and f"/planned/{outage_id}/cancel" in page.text
    done = await client.post(f"/planned/{outage_id}/cancel", data={"_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert "Pole replacement, Waiyaki Way" not in (await client.get("/outages")).text
    assert "Pole replacement, Waiyaki Way" not in (await client.get("/planned")).text
    left = _sql(database_url, "SELECT status FROM outbox WHERE dedupe_key LIKE %s", prefix + "%")
    assert sorted(left) == [("sent",), ("sent",)]  # unsent notices withdrawn
    cancelled = _sql(database_url, "SELECT recipient, payload->>'text' FROM outbox WHERE kind = 'planned_cancelled' "
                                   "AND dedupe_key LIKE %s", f"planned-cancelled:{outage_id}:%")
    assert sorted(r for r, _ in cancelled) == sorted(r for _, r in told)
    assert all("Pole replacement, Waiyaki Way" in text for _, text in cancelled)

    again = await client.post(f"/planned/{outage_id}/cancel", data={"_csrf_token": token},
                              headers={"accept": "text/html"})
    assert again.status_code == 409 and "already cancelled" in again.text
    missing = await client.post("/planned/99999999/cancel", data={"_csrf_token": token})
    assert missing.status_code == 404
    assert (await client.post("/planned/%C2%B2/cancel", data={"_csrf_token": token})).status_code == 404


async def test_only_dispatchers_and_supervisors_cancel_planned_work(client):
    await sign_in(client, "agent")
    token = await csrf_token(client, "/agent")
    assert (await client.post("/planned/1/cancel", data={"_csrf_token": token})).status_code == 403
