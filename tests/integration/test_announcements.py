"""Planned outages and broadcasts: the right customers, each once, in their language, after a preview.

Planned work is typed in the deployment's local time and judged by the code's clock: the time-sensitive tests
also run frozen at the instants of tests/support/clock.py (the `clock` fixture)."""
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import time_machine

from server.db import utcnow
from server.notify.routes import a_year_after
from server.db_url import libpq_url
from tests.conftest import csrf_token, sign_in


def soon(zone: str = "Africa/Nairobi") -> date:
    """A day two months ahead by the code's clock, where the work is: well inside "at most a year ahead"."""
    return (utcnow().astimezone(ZoneInfo(zone)) + timedelta(days=60)).date()


def _sql(database_url, query, *params):
    with psycopg.connect(libpq_url(database_url)) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _outage_id(database_url, title: str) -> int:
    (outage_id,), = _sql(database_url, "SELECT id FROM planned_outage WHERE title = %s", title)
    return outage_id


async def test_a_planned_outage_tells_the_zone_ahead_and_shows_publicly(clock, client, database_url, test_settings):
    await sign_in(client, "dispatcher")
    token = await csrf_token(client, "/planned")
    (zone_id, customers), = _sql(database_url, """
        SELECT z.id, count(DISTINCT c.phone) FROM zone z, customer c LEFT JOIN transformer t ON t.id = c.transformer_id
        WHERE ST_Covers(z.area, coalesce(t.location, c.location)::geometry) AND c.phone IS NOT NULL
          AND z.name = 'Embakasi' GROUP BY z.id""")
    day, title = soon(clock.timezone), f"New transformer at Street 7 ({clock.name})"
    response = await client.post("/planned", data={
        "title": title, "zone_id": str(zone_id), "starts_at": f"{day}T09:00",
        "ends_at": f"{day}T15:00", "reason": "Upgrade", "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    notices = f"planned:{_outage_id(database_url, title)}:%"
    rows = _sql(database_url, """SELECT count(*), count(DISTINCT recipient), min(next_try_at), max(next_try_at)
                                 FROM outbox WHERE kind = 'planned' AND dedupe_key LIKE %s""", notices)
    count, distinct, first, last = rows[0]
    assert count == distinct == customers > 0
    notice_hours = test_settings.notify.planned_notice_hours
    starts_at = datetime.fromisoformat(f"{day}T09:00").replace(tzinfo=clock.zone).astimezone(UTC)
    assert first == last == starts_at - timedelta(hours=notice_hours)  # ahead of the work, not now
    sample, = _sql(database_url, "SELECT language, payload->>'text' FROM outbox WHERE kind = 'planned' "
                                 "AND language = 'sw' AND dedupe_key LIKE %s LIMIT 1", notices)
    assert "New transformer at Street 7" in sample[1] and "Matengenezo" in sample[1]
    page = await client.get("/outages")
    assert title in page.text
    assert notice_hours == 24
    await client.post(f"/planned/{_outage_id(database_url, title)}/cancel", data={"_csrf_token": token})
    assert title not in (await client.get("/outages")).text


async def test_the_notice_goes_out_a_full_day_ahead_across_a_daylight_saving_change(client, app, database_url,
                                                                                     test_settings, monkeypatch):
    """Work at 09:00 on the morning Tirane springs forward: customers hear 24 hours before (08:00 the day before,
    local), not at 09:00 the day before, which is 23 hours."""
    monkeypatch.setattr(app.state, "settings", replace(test_settings, locale=replace(
        test_settings.locale, timezone="Europe/Tirane")))
    with time_machine.travel(datetime(2027, 3, 20, 12, 0, tzinfo=ZoneInfo("Europe/Tirane")), tick=True):
        await sign_in(client, "dispatcher")
        token = await csrf_token(client, "/planned")
        (zone_id,), = _sql(database_url, "SELECT id FROM zone WHERE name = 'Embakasi'")
        title = "Switchgear replacement on the night the clocks change"
        response = await client.post("/planned", data={
            "title": title, "zone_id": str(zone_id), "starts_at": "2027-03-28T09:00", "ends_at": "2027-03-28T12:00",
            "_csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303
        outage_id = _outage_id(database_url, title)
        (starts_at, first, last), = _sql(database_url, """
            SELECT p.starts_at, min(o.next_try_at), max(o.next_try_at) FROM planned_outage p
            JOIN outbox o ON o.dedupe_key LIKE 'planned:' || p.id || ':%%' WHERE p.id = %s GROUP BY p.id""",
                                         outage_id)
        assert starts_at == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # 09:00 summer time
        assert first == last == datetime(2027, 3, 27, 7, 0, tzinfo=UTC)  # 08:00 winter time, the day before
        await client.post(f"/planned/{outage_id}/cancel", data={"_csrf_token": token})


@pytest.mark.parametrize("fields, message", [
    ({"title": ""}, "short title"),
    ({"zone_id": "9999"}, "Choose the zone"),
    ({"ends_at": "{soon}T08:00"}, "end must come after"),
    ({"starts_at": "9999-12-31T23:00", "ends_at": "9999-12-31T23:30"}, "at most a year ahead"),
    ({"starts_at": "{next_year_and_a_day}T00:30", "ends_at": "{next_year_and_a_day}T01:30"}, "at most a year ahead"),
    ({"starts_at": "soon"}, "date and a time"),
    ({"starts_at": "2000-01-01T09:00", "ends_at": "2000-01-01T10:00"}, "already be over"),
    ({"starts_at": "{three_hours_ago}", "ends_at": "{two_hours_ago}"}, "already be over"),
])
async def test_a_planned_outage_with_bad_input_says_why(clock, client, database_url, fields, message):
    await sign_in(client, "supervisor")
    token = await csrf_token(client, "/planned")
    def hours_ago(hours: int) -> str:
        return (clock.now() - timedelta(hours=hours)).astimezone(clock.zone).strftime("%Y-%m-%dT%H:%M")
    wall = {"soon": soon(clock.timezone), "next_year_and_a_day": a_year_after(clock.today()) + timedelta(days=1),
            "three_hours_ago": hours_ago(3), "two_hours_ago": hours_ago(2)}
    form = {"title": "Line works", "zone_id": "1", "starts_at": "{soon}T09:00", "ends_at": "{soon}T12:00",
            "_csrf_token": token, **fields}
    response = await client.post("/planned", data={k: v.format(**wall) for k, v in form.items()})
    assert response.status_code == 422 and message in response.text


async def test_planned_work_may_start_as_late_as_the_same_date_next_year(clock, client, database_url):
    """"At most a year ahead" on any day: on New Year's Eve, 29 February, the day the clocks change."""
    await sign_in(client, "dispatcher")
    token = await csrf_token(client, "/planned")
    last_day = a_year_after(clock.today())
    title = f"Annual inspection {last_day} ({clock.name})"
    response = await client.post("/planned", data={
        "title": title, "zone_id": "1", "starts_at": f"{last_day}T22:00", "ends_at": f"{last_day}T23:30",
        "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    cancelled = await client.post(f"/planned/{_outage_id(database_url, title)}/cancel", data={"_csrf_token": token},
                                  follow_redirects=False)
    assert cancelled.status_code == 303


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
                                            "starts_at": f"{soon()}T09:00", "ends_at": f"{soon()}T11:00",
                                            "_csrf_token": token}, follow_redirects=False)
        told = _sql(database_url, "SELECT count(*) FROM outbox WHERE kind = 'planned' "
                                  "AND recipient = '+254799000001'")
    finally:  # the demo city's customers all sit inside a zone; other tests count on it
        _sql(database_url, "DELETE FROM outbox WHERE recipient = '+254799000001'")
        _sql(database_url, "DELETE FROM customer WHERE meter_no = 'EDGE-0001'")
    assert told == [(1,)]


async def test_cancelled_planned_work_leaves_the_page_and_tells_only_those_already_told(clock, client, database_url):
    await sign_in(client, "dispatcher")
    token = await csrf_token(client, "/planned")
    (zone_id,), = _sql(database_url, "SELECT id FROM zone WHERE name = 'Westlands'")
    title, day = f"Pole replacement, Waiyaki Way ({clock.name})", soon(clock.timezone)
    await client.post("/planned", data={"title": title, "zone_id": str(zone_id),
                                        "starts_at": f"{day}T09:00", "ends_at": f"{day}T11:00",
                                        "_csrf_token": token}, follow_redirects=False)
    outage_id = _outage_id(database_url, title)
    prefix = f"planned:{outage_id}:"
    notices = _sql(database_url, "SELECT id, recipient FROM outbox WHERE dedupe_key LIKE %s ORDER BY id", prefix + "%")
    assert len(notices) > 2
    told = notices[:2]  # these two were sent before the work was called off; the rest wait for their hour
    _sql(database_url, "UPDATE outbox SET status = 'sent', sent_at = %s WHERE id = ANY(%s)", clock.now(),
         [n[0] for n in told])

    page = await client.get("/planned")
    assert title in page.text and f"/planned/{outage_id}/cancel" in page.text
    done = await client.post(f"/planned/{outage_id}/cancel", data={"_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert title not in (await client.get("/outages")).text
    assert title not in (await client.get("/planned")).text
    left = _sql(database_url, "SELECT status FROM outbox WHERE dedupe_key LIKE %s", prefix + "%")
    assert sorted(left) == [("sent",), ("sent",)]  # unsent notices withdrawn
    cancelled = _sql(database_url, "SELECT recipient, payload->>'text' FROM outbox WHERE kind = 'planned_cancelled' "
                                   "AND dedupe_key LIKE %s", f"planned-cancelled:{outage_id}:%")
    assert sorted(r for r, _ in cancelled) == sorted(r for _, r in told)
    assert all(title in text for _, text in cancelled)

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
