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
        SELECT z.id, count(DISTINCT c.phone) FROM zone z JOIN customer c ON ST_Covers(z.area, c.location::geometry)
        WHERE z.name = 'Embakasi' GROUP BY z.id""")
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
