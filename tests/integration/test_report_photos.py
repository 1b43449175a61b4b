"""A customer's photo through the web form: one pixel limit read from the header, decoded off the event loop in a
small pool shared with crew photos, re-encoded from its pixels alone, and stored only with an accepted report."""
from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from markupsafe import escape
from PIL import Image, ImageFile
from sqlalchemy.exc import OperationalError

from server import media
from server.i18n import gettext
from server.db_url import libpq_url
from server.reports.rules import ReportInput
from server.reports.service import take_report
from sync import photos
from tests.conftest import csrf_token, sign_in
from tests.integration.test_crew_photos import phone_jpeg, upload, world  # noqa: F401  (world: a fixture)
from tests.integration.test_sync_push import signed_in
from tests.integration.test_sync_support import new_id
from tests.support.photos import (PERSONAL_COMMENT, PIXEL_MARKERS, SAFETY_SECONDS, SCRIPT, DecodeGate, flat_png,
                                  jpeg_full_of_metadata, jpeg_markers, png_with_text, polyglot_jpeg)


def _sql(database_url, query, *params):
    with psycopg.connect(libpq_url(database_url)) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _free_transformers(database_url, count, offset):
    """Demo transformers with no incident yet, so each report opens its own."""
    return _sql(database_url, """
        SELECT t.id, ST_Y(t.location::geometry) AS lat, ST_X(t.location::geometry) AS lon FROM transformer t
        WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id)
        ORDER BY t.code OFFSET %s LIMIT %s""", offset, count)


@pytest.fixture
def place(database_url):
    place, = _free_transformers(database_url, 1, offset=50)
    return place


@pytest.fixture
def reports_folder(test_settings):
    return test_settings.server.data_dir / "media" / "reports"


def _files(folder):
    return set(folder.iterdir()) if folder.exists() else set()


def _report_count(database_url) -> int:
    return _sql(database_url, "SELECT count(*) FROM report")[0][0]


async def _report(client, place, photo: bytes, kind: str = "image/jpeg", **fields):
    token = await csrf_token(client, "/")
    form = {"category": "no_power", "phone": "0712 345679", "latitude": str(place[1]), "longitude": str(place[2]),
            **fields, "_csrf_token": token}
    return await client.post("/report", data=form, files={"photo": ("photo", photo, kind)},
                             headers={"accept": "text/html"})


def _stored(database_url, folder) -> bytes:
    return (folder / _last_photo(database_url)).read_bytes()


def _last_photo(database_url) -> str:
    (name,), = _sql(database_url, "SELECT photo FROM report WHERE photo IS NOT NULL ORDER BY id DESC LIMIT 1")
    return name


def _no_pixels_decoded(monkeypatch) -> list:
    """Every image whose pixels are decoded, from here on."""
    decoded, load = [], ImageFile.ImageFile.load

    def counted_load(image):
        decoded.append(image.size)
        return load(image)
    monkeypatch.setattr(ImageFile.ImageFile, "load", counted_load)
    return decoded


def test_one_pixel_limit_for_every_path():
    assert Image.MAX_IMAGE_PIXELS == media.MAX_PIXELS == 60_000_000
    assert 8160 * 6144 <= media.MAX_PIXELS < 10_000 * 10_000  # a 50 MP phone photo passes, a 100 MP bomb not
    assert photos.TOO_MANY_PIXELS == media.TOO_MANY_PIXELS


@pytest.mark.parametrize("size", [(10_000, 10_000), (20_000, 20_000)])  # above Pillow's own 2× guard too
async def test_a_picture_of_too_many_pixels_is_refused_before_a_pixel_is_decoded(client, database_url, place,
                                                                                  reports_folder, monkeypatch,
                                                                                  size):
    bomb = flat_png(*size)
    assert len(bomb) < 300_000  # what the outside check sent: a small file that unpacks into gigabytes
    files_before, reports_before = _files(reports_folder), _report_count(database_url)
    decoded = _no_pixels_decoded(monkeypatch)
    client.cookies.set("fl_lang", "sw")
    response = await _report(client, place, bomb, "image/png")
    assert response.status_code == 422
    translated = gettext("sw", photos.TOO_MANY_PIXELS)  # the crew's message: one limit, one message
    assert translated != photos.TOO_MANY_PIXELS and str(escape(translated)) in response.text
    assert decoded == []  # refused from the header: quick, and no memory taken
    assert _files(reports_folder) == files_before and _report_count(database_url) == reports_before
    assert (await _report(client, place, flat_png(640, 480), "image/png")).status_code == 201
    assert set(decoded) == {(640, 480)}  # what is decoded is seen


async def test_a_fifty_megapixel_phone_photo_is_taken(client, database_url, place, reports_folder):
    out = io.BytesIO()
    Image.new("RGB", (8160, 6144), (200, 120, 40)).save(out, "JPEG", quality=70)  # a 50 MP camera's full size
    response = await _report(client, place, out.getvalue())
    assert response.status_code == 201
    with Image.open(io.BytesIO(_stored(database_url, reports_folder))) as stored:
        assert stored.size == (1600, 1205)


@pytest.mark.parametrize("picture", [
    pytest.param(lambda: jpeg_full_of_metadata(orientation=6), id="camera-jpeg"),
    pytest.param(polyglot_jpeg, id="jpeg-html-polyglot"),
    pytest.param(png_with_text, id="png-with-text"),
])
async def test_the_stored_photo_holds_its_pixels_and_nothing_else(client, database_url, place, reports_folder,
                                                                  picture):
    raw = picture()
    response = await _report(client, place, raw, "image/png" if raw.startswith(b"\x89PNG") else "image/jpeg")
    assert response.status_code == 201
    stored = _stored(database_url, reports_folder)
    for leak in (PERSONAL_COMMENT, b"JaneDoe", b"254700000000", SCRIPT, b"<script", b"Probe", b"Phone",
                 b"Jane Doe", b"Exif", b"ICC_PROFILE", b"xmpmeta", b"http://ns.adobe.com"):
        assert leak not in stored, leak
    markers = {marker for marker, _ in jpeg_markers(stored)}
    assert markers <= PIXEL_MARKERS, [hex(m) for m in markers - PIXEL_MARKERS]  # no COM, APP1 (EXIF, XMP), APP2
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif() and "comment" not in image.info and "icc_profile" not in image.info
        if raw.startswith(b"\xff\xd8") and b"PhoneMaker" in raw:  # orientation 6: stored turned, upright
            assert image.size == (900, 1200) and image.getpixel((850, 10)) == pytest.approx((20, 60, 180), abs=8)
    async with AsyncTestClient(app=client.app) as desk:  # and that file is what the dispatcher is shown
        assert (await sign_in(desk, "dispatcher")).status_code == 303
        shown = await desk.get(f"/dispatch/photos/{_last_photo(database_url)}")
        assert shown.status_code == 200 and shown.content == stored


@pytest.mark.parametrize("fields", [
    pytest.param({"latitude": "51.5", "longitude": "-0.12"}, id="outside-the-area"),
    pytest.param({"latitude": "", "longitude": "", "meter_no": "ZZ-000-404"}, id="unknown-meter"),
    pytest.param({"phone": "12"}, id="bad-phone"),
])
async def test_a_refused_report_leaves_no_photo_behind(client, database_url, place, reports_folder, fields):
    files_before, reports_before = _files(reports_folder), _report_count(database_url)
    response = await _report(client, place, jpeg_full_of_metadata(), **fields)
    assert response.status_code == 422
    assert _files(reports_folder) == files_before and _report_count(database_url) == reports_before


async def test_a_report_whose_commit_fails_leaves_no_photo_behind(session, database_url, reports_folder,
                                                                  monkeypatch):
    (_, lat, lon), = _free_transformers(database_url, 1, offset=55)
    photo = media.ReportPhoto(jpeg=media.normalised_jpeg(jpeg_full_of_metadata()), folder=reports_folder)
    files_before = _files(reports_folder)

    async def commit_fails():  # the database goes away at the last moment
        await session.rollback()
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
    monkeypatch.setattr(session, "commit", commit_fails)
    entry = ReportInput(category="no_power", phone="+254712345670", latitude=lat, longitude=lon, meter_no=None,
                        text="", language="en")
    with pytest.raises(OperationalError):
        await take_report(session, entry, channel="web", photo=photo)
    assert _files(reports_folder) == files_before


def _in_another_thread(work):
    """The test client hands each request to the app's event loop and blocks its caller until the answer: a
    request sent from another thread is one in flight while this thread sends the next."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(asyncio.run, work)
    pool.shutdown(wait=False)
    return future


@pytest.mark.parametrize("other", ["/push/key", "/outages"])
async def test_other_requests_are_answered_while_a_photo_is_decoded(app, database_url, monkeypatch, other):
    place, = _free_transformers(database_url, 1, offset=60)
    gate = DecodeGate().install(monkeypatch)
    async with AsyncTestClient(app=app) as client:
        sent = _in_another_thread(_report(client, place, jpeg_full_of_metadata((4000, 3000))))
        assert gate.wait_inside(1), "the photo never reached its decode"
        answer = await client.get(other)
        gate.note(f"answered {other}")
        gate.open()
        assert sent.result(timeout=SAFETY_SECONDS).status_code == 201
    assert answer.status_code == 200
    # The other request was answered while the decode still held: it did not wait behind it.
    assert gate.events == [f"answered {other}", "decoded"]


async def test_customer_and_crew_photos_share_one_small_pool(app, database_url, world):  # noqa: F811
    """However many photos arrive at once, at most IMAGE_WORKERS are decoded at a time, on the same few threads."""
    first, second = _free_transformers(database_url, 2, offset=62)
    async with signed_in(app, world["lineman_a"]) as phone:
        client = phone.http  # one client, so one event loop: the app's, as in production
        with pytest.MonkeyPatch.context() as monkeypatch:
            gate = DecodeGate().install(monkeypatch)
            sent = [_in_another_thread(_report(client, first, jpeg_full_of_metadata(), phone="0712 000101")),
                    _in_another_thread(_report(client, second, jpeg_full_of_metadata(), phone="0712 000102")),
                    _in_another_thread(upload(phone, new_id(), phone_jpeg())),
                    _in_another_thread(upload(phone, new_id(), phone_jpeg()))]
            assert gate.wait_inside(media.IMAGE_WORKERS)
            assert (await client.get("/push/key")).status_code == 200  # the event loop is free meanwhile
            gate.open()
            assert sorted(s.result(timeout=SAFETY_SECONDS).status_code for s in sent) == [201] * 4
    assert gate.most == media.IMAGE_WORKERS and len(gate.threads) <= media.IMAGE_WORKERS


@pytest.mark.parametrize("path", ["customer", "crew"])
async def test_a_photo_waiting_for_its_decode_holds_no_database_connection(app, database_url, world,  # noqa: F811
                                                                           monkeypatch, path):
    """Uploads queued behind the image pool after a storm must not take every connection of the app."""
    place, = _free_transformers(database_url, 1, offset=64)
    gate = DecodeGate().install(monkeypatch)
    async with signed_in(app, world["lineman_a"]) as phone:
        sent = _in_another_thread(_report(phone.http, place, jpeg_full_of_metadata()) if path == "customer"
                                  else upload(phone, new_id(), phone_jpeg()))
        assert gate.wait_inside(1)
        held = app.state.engine.pool.checkedout()
        gate.open()
        assert sent.result(timeout=SAFETY_SECONDS).status_code == 201
    assert held == 0
