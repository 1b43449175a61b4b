"""Customer intake through the web form: grouping, repeats, danger, photos, "is your power back?", rate limits."""
import io
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest
import time_machine
from litestar.testing import AsyncTestClient
from PIL import Image

from server.app import create_app
from server.db import utcnow
from server.db_url import libpq_url
from tests.conftest import csrf_token


def _transformers(database_url, count, offset=0):
    """Demo transformers with no incident yet, far from each other."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute("""
            SELECT t.id, ST_Y(t.location::geometry) AS lat, ST_X(t.location::geometry) AS lon FROM transformer t
            WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id)
            ORDER BY t.code OFFSET %s LIMIT %s""", (offset, count)).fetchall()


def _sql(database_url, query, *params):
    with psycopg.connect(libpq_url(database_url)) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


async def _report(client, place, files=None, **fields):
    token = await csrf_token(client, "/")
    form = {"category": "no_power", "phone": "0712 345678", "latitude": str(place[1]), "longitude": str(place[2]),
            **fields, "_csrf_token": token}
    return await client.post("/report", data=form, files=files, headers={"accept": "text/html"})


def _code(response):
    return response.text.split('class="code">')[1].split("<")[0]


async def test_the_same_caller_twice_is_counted_not_filed_twice(client, database_url):
    place, = _transformers(database_url, 1, offset=20)
    first = await _report(client, place, phone="0711 000001")
    again = await _report(client, place, phone="+254711000001")
    assert _code(first) == _code(again)
    assert "already reported this fault" in again.text
    (reports, repeats), = _sql(database_url, "SELECT report_count, repeat_calls FROM incident WHERE code = %s",
                               _code(first))
    assert (reports, repeats) == (1, 1)
    # The repeat caller gets the tracking link of their first report.
    assert first.text.split('href="/t/')[1].split('"')[0] == again.text.split('href="/t/')[1].split('"')[0]


async def test_danger_lifts_the_incident_to_high_priority_and_warns(client, database_url):
    place, = _transformers(database_url, 1, offset=25)
    first = await _report(client, place, phone="0711 000002")
    danger = await _report(client, place, phone="0711 000003", category="danger")
    assert _code(first) == _code(danger)
    assert "Keep away from fallen wires" in danger.text
    (priority, category), = _sql(database_url, "SELECT priority, category FROM incident WHERE code = %s",
                                 _code(first))
    assert (priority, category) == ("high", "danger")  # the queue, the map and the crew's phone go by category


async def test_the_same_caller_calling_back_about_sparking_is_heard(client, database_url):
    place, = _transformers(database_url, 1, offset=26)
    first = await _report(client, place, phone="0711 000004")
    again = await _report(client, place, phone="0711 000004", category="danger")
    assert _code(first) == _code(again) and "already reported this fault" in again.text
    assert "Keep away from fallen wires" in again.text
    (priority, category, repeats), = _sql(database_url, "SELECT priority, category, repeat_calls FROM incident "
                                          "WHERE code = %s", _code(first))
    assert (priority, category, repeats) == ("high", "danger", 1)


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (4000, 3000), (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"          # Make: personal, must go
    exif[0x9003] = "2026:11:22 10:00:00"  # DateTimeOriginal
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_a_photo_is_checked_downscaled_and_stripped(client, database_url, test_settings):
    place, = _transformers(database_url, 1, offset=30)
    response = await _report(client, place, phone="0711 000004",
                             files={"photo": ("pole.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert response.status_code == 201
    (name,), = _sql(database_url, "SELECT photo FROM report WHERE photo IS NOT NULL ORDER BY id DESC LIMIT 1")
    stored = test_settings.server.data_dir / "media" / "reports" / name
    with Image.open(stored) as image:
        assert max(image.size) == 1600 and image.format == "JPEG"
        assert not image.getexif()


@pytest.mark.parametrize("payload", [b"not an image at all", b"%PDF-1.4 fake", b"\x89PNG\r\n\x1a\n broken"])
async def test_a_file_that_is_not_a_photo_is_refused_clearly(client, database_url, payload):
    place, = _transformers(database_url, 1, offset=35)
    response = await _report(client, place, files={"photo": ("x.jpg", payload, "image/jpeg")})
    assert response.status_code == 422 and "This file is not a photo" in response.text


async def test_power_back_no_reopens_a_linked_flagged_incident(client, database_url):
    place, = _transformers(database_url, 1, offset=40)
    first = await _report(client, place, phone="0711 000005")
    link = first.text.split('href="/t/')[1].split('"')[0]
    page = await client.get(f"/t/{link}")
    assert "Is your power back?" not in page.text  # not before the restore
    _sql(database_url, "UPDATE incident SET status = 'restored', restored_at = now() WHERE code = %s", _code(first))
    page = await client.get(f"/t/{link}")
    assert "Is your power back?" in page.text and "Power restored" in page.text

    token = await csrf_token(client, f"/t/{link}")
    answer = await client.post(f"/t/{link}/power-back", data={"answer": "no", "_csrf_token": token},
                               follow_redirects=False)
    assert answer.status_code == 303
    new_link = answer.headers["location"]
    assert new_link != f"/t/{link}"
    (old_id, new_code, flag, reopened_from), = _sql(database_url, """
        SELECT o.id, n.code, n.flag, n.reopened_from_id FROM incident o
        JOIN incident n ON n.reopened_from_id = o.id WHERE o.code = %s""", _code(first))
    assert flag == "reopened" and reopened_from == old_id
    assert new_code in (await client.get(new_link)).text

    again = await client.post(f"/t/{link}/power-back", data={"answer": "no", "_csrf_token": token},
                              follow_redirects=False)
    assert again.headers["location"] == new_link  # answering twice does not open a third incident


async def test_power_back_cannot_be_answered_before_the_restore(client, database_url):
    place, = _transformers(database_url, 1, offset=45)
    link = (await _report(client, place, phone="0711 000006")).text.split('href="/t/')[1].split('"')[0]
    token = await csrf_token(client, f"/t/{link}")
    response = await client.post(f"/t/{link}/power-back", data={"answer": "no", "_csrf_token": token},
                                 headers={"accept": "text/html"})
    assert response.status_code == 409 and "once the crew has restored" in response.text
    response = await client.post(f"/t/{link}/power-back", data={"answer": "maybe", "_csrf_token": token},
                                 headers={"accept": "text/html"})
    assert response.status_code == 400


async def test_rate_limits_per_phone_and_per_address(database_url, test_settings):
    strict = replace(test_settings, intake=replace(test_settings.intake, rate_per_phone=2, rate_per_ip=5))
    place, = _transformers(database_url, 1, offset=50)
    _sql(database_url, "DELETE FROM rate_hit")  # other tests' hits from this address (they ran unlimited)
    # Limits count per clock minute (and hour): start the test at the top of a minute, so it never straddles two.
    next_minute = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(next_minute, tick=True):
        async with AsyncTestClient(app=create_app(database_url, strict)) as client:
            statuses = [(await _report(client, place, phone="0711 000777")).status_code for _ in range(3)]
            assert statuses == [201, 201, 429]
            statuses = [(await _report(client, place, phone=f"0711 00080{i}")).status_code for i in range(3)]
            assert statuses[-1] == 429  # the address made 6 attempts in a minute
            limited = await _report(client, place, phone="0711 000901")
            assert "Too many reports" in limited.text
