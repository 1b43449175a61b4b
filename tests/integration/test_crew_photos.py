"""Crew photo files through HTTP: uploaded once by the phone's id, cleaned of personal EXIF (time and GPS kept),
downscaled, with a thumbnail; shown to the desk and to the lineman's own crew only."""
from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from litestar.testing import AsyncTestClient
from PIL import ExifTags, Image, ImageFile
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import text

from server import media
from server.i18n import gettext
from server.incidents import actions
from sync import photos
from tests.conftest import csrf_token, sign_in
from tests.support.photos import (PERSONAL_COMMENT, PIXEL_MARKERS, SCRIPT, flat_png, jpeg_full_of_metadata,
                                  jpeg_markers, polyglot_jpeg)
from tests.integration.test_sync_push import signed_in, statuses
from tests.integration.test_sync_support import PASSWORD, make_crew, make_incident, make_staff, new_id

MAKE, MODEL, ARTIST, SOFTWARE = 0x010F, 0x0110, 0x013B, 0x0131
BODY_SERIAL, OWNER_NAME, MAKER_NOTE = 0xA431, 0xA430, 0x927C


@pytest.fixture
async def world(session):
    crew_a, crew_b = await make_crew(session, "Photo A"), await make_crew(session, "Photo B")
    return {
        "crew_a": crew_a, "crew_b": crew_b,
        "lineman_a": await make_staff(session, "lineman", crew_a.id),
        "lineman_a2": await make_staff(session, "lineman", crew_a.id),
        "lineman_b": await make_staff(session, "lineman", crew_b.id),
        "dispatcher": await make_staff(session, "dispatcher"),
        "supervisor": await make_staff(session, "supervisor"),
        "admin": await make_staff(session, "admin"),
        "agent": await make_staff(session, "agent"),
    }


def phone_jpeg(size=(3000, 2000), orientation: int | None = None, gps: bool = True) -> bytes:
    """What a phone camera writes: its make and model, an owner, a serial, the time and the GPS fix."""
    image = Image.new("RGB", size, (200, 120, 40))
    image.paste((20, 60, 180), (0, 0, size[0] // 2, size[1] // 4))  # something to see which way is up
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[ARTIST], exif[SOFTWARE] = "Samsung", "SM-A515F", "Asha Wanjiru", "A515FXXU5"
    if orientation:
        exif[0x0112] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[0x9003] = "2026:11:22 09:14:03"  # DateTimeOriginal
    details[0x9011] = "+03:00"  # OffsetTimeOriginal
    details[BODY_SERIAL], details[OWNER_NAME] = "R58M123ABC", "Asha Wanjiru"
    if gps:
        position = exif.get_ifd(ExifTags.IFD.GPSInfo)
        position[1], position[2] = "S", (IFDRational(1), IFDRational(16), IFDRational(30))
        position[3], position[4] = "E", (IFDRational(36), IFDRational(48), IFDRational(36))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes(), comment=b"Asha's phone")
    return out.getvalue()


async def upload(phone, photo_id: str, body: bytes, content_type: str = "image/jpeg", expect: int | None = None):
    response = await phone.http.put(f"/sync/photos/{photo_id}", content=body,
                                    headers={"x-csrftoken": phone.token, "content-type": content_type})
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


def folder(app):
    return photos.photo_folder(app.state.settings.server.data_dir)


async def photo_row(session, photo_id: str):
    return (await session.exec(text("SELECT * FROM photo_file WHERE id = :id"),
                               params={"id": uuid.UUID(photo_id)})).first()


async def test_a_photo_is_stored_downscaled_with_only_its_time_and_place(app, session, world):
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        answer = (await upload(phone, photo_id, phone_jpeg(), expect=201)).json()
    assert answer["new"] is True and answer["photo_id"] == photo_id
    assert (answer["width"], answer["height"]) == (1600, 1067)
    assert answer["url"] == f"/photos/{photo_id}.jpg" and answer["thumb_url"] == f"/photos/{photo_id}/thumb.jpg"
    assert answer["taken_at"] == "2026-11-22T06:14:03+00:00"
    assert answer["latitude"] == pytest.approx(-(1 + 16 / 60 + 30 / 3600))
    assert answer["longitude"] == pytest.approx(36 + 48 / 60 + 36 / 3600)

    stored = (folder(app) / f"{photo_id}.jpg").read_bytes()
    for personal in (b"Samsung", b"SM-A515F", b"Asha", b"R58M123ABC", b"A515FXXU5"):
        assert personal not in stored, personal
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (1600, 1067) and "comment" not in image.info
    exif = image.getexif()
    assert not {MAKE, MODEL, ARTIST, SOFTWARE} & set(exif)
    assert image.getexif().get_ifd(ExifTags.IFD.Exif) == {0x9003: "2026:11:22 09:14:03", 0x9011: "+03:00"}
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert (gps[1], gps[3]) == ("S", "E") and [float(v) for v in gps[2]] == [1, 16, 30]
    assert [float(v) for v in gps[4]] == [36, 48, 36]

    thumb = Image.open(folder(app) / f"{photo_id}-thumb.jpg")
    assert thumb.format == "JPEG" and max(thumb.size) == 320 and not thumb.getexif()

    row = await photo_row(session, photo_id)
    assert (row.crew_id, row.staff_id) == (world["crew_a"].id, world["lineman_a"].id)
    assert (row.bytes, row.width, row.height) == (len(stored), 1600, 1067)
    assert row.taken_at == datetime(2026, 11, 22, 6, 14, 3, tzinfo=timezone.utc)
    assert row.latitude == pytest.approx(-1.275) and row.longitude == pytest.approx(36.81)
    assert row.received_at is not None


async def test_a_turned_photo_is_stored_upright_and_without_a_time_zone_is_local(app, session, world):
    photo_id = new_id()
    raw = phone_jpeg((2000, 1000), orientation=6, gps=False)  # held upright: the camera stored it on its side
    raw = raw.replace(b"+03:00", b"   :  ")  # no offset written: the utility's own zone (Africa/Nairobi)
    async with signed_in(app, world["lineman_a"]) as phone:
        answer = (await upload(phone, photo_id, raw, expect=201)).json()
    assert (answer["width"], answer["height"]) == (800, 1600)
    assert answer["latitude"] is None and answer["longitude"] is None
    assert answer["taken_at"] == "2026-11-22T06:14:03+00:00"
    stored = Image.open(folder(app) / f"{photo_id}.jpg")
    assert 0x0112 not in stored.getexif() and not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)


async def test_the_same_photo_twice_is_stored_once_and_answered_200(app, session, world):
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        first = (await upload(phone, photo_id, phone_jpeg(), expect=201)).json()
        path = folder(app) / f"{photo_id}.jpg"
        before = (path.read_bytes(), path.stat().st_mtime_ns)
        again = (await upload(phone, photo_id, phone_jpeg(), expect=200)).json()
        assert again == {**first, "new": False}
        # Even different bytes under the same id change nothing: a photo is accepted once.
        other = (await upload(phone, photo_id, phone_jpeg((640, 480)), expect=200)).json()
        assert (other["width"], other["new"]) == (1600, False)
    async with signed_in(app, world["lineman_a2"]) as colleague:  # the same crew's other phone
        assert (await upload(colleague, photo_id, phone_jpeg(), expect=200)).json()["new"] is False
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    count = (await session.exec(text("SELECT count(*) FROM photo_file WHERE id = :id"),
                                params={"id": uuid.UUID(photo_id)})).scalar_one()
    assert count == 1


async def test_another_crews_photo_id_is_refused(app, session, world):
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        await upload(phone, photo_id, phone_jpeg(), expect=201)
    async with signed_in(app, world["lineman_b"]) as phone:
        response = await upload(phone, photo_id, phone_jpeg(), expect=409)
        assert "another crew" in response.json()["detail"]


async def test_a_png_and_a_webp_are_stored_as_jpeg(app, session, world):
    async with signed_in(app, world["lineman_a"]) as phone:
        for kind, content_type in (("PNG", "image/png"), ("WEBP", "image/webp")):
            out = io.BytesIO()
            Image.new("RGBA", (400, 300), (10, 200, 10, 128)).save(out, kind)
            photo_id = new_id()
            answer = (await upload(phone, photo_id, out.getvalue(), content_type, expect=201)).json()
            assert (answer["width"], answer["height"], answer["taken_at"]) == (400, 300, None)
            assert Image.open(folder(app) / f"{photo_id}.jpg").format == "JPEG"


@pytest.mark.parametrize("body, content_type, status, words", [
    (b"this is not a picture", "image/jpeg", 422, "not a photo"),
    (b"", "image/jpeg", 422, "not a photo"),
    (phone_jpeg((64, 48))[:300], "image/jpeg", 422, "not a photo"),  # cut off on the way
    (b"GIF89a" + b"\x00" * 40, "image/jpeg", 422, "not a photo"),
    (phone_jpeg((64, 48)), "text/plain", 415, "Content-Type"),
    (phone_jpeg((64, 48)), "", 415, "Content-Type"),
    (phone_jpeg((64, 48)), "multipart/form-data; boundary=x", 415, "Content-Type"),
])
async def test_what_is_not_a_picture_is_refused_with_a_message(app, session, world, body, content_type, status,
                                                               words):
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        response = await upload(phone, photo_id, body, content_type, expect=status)
    assert words in response.json()["detail"]
    assert await photo_row(session, photo_id) is None
    assert not (folder(app) / f"{photo_id}.jpg").exists()


async def test_a_gif_is_not_a_phone_photo(app, session, world):
    out = io.BytesIO()
    Image.new("RGB", (40, 30)).save(out, "GIF")
    async with signed_in(app, world["lineman_a"]) as phone:
        assert "not a photo" in (await upload(phone, new_id(), out.getvalue(), expect=422)).json()["detail"]


async def test_a_photo_too_large_is_refused_with_413(app, session, world):
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        response = await upload(phone, photo_id, b"\xff" * (photos.MAX_PHOTO_BYTES + 1), expect=413)
        assert "8 MB" in response.json()["detail"]
        # Exactly at the limit is read (and then judged on what it is).
        assert (await upload(phone, photo_id, b"\xff" * photos.MAX_PHOTO_BYTES)).status_code == 422
    assert await photo_row(session, photo_id) is None


@pytest.mark.parametrize("size", [(10_000, 10_000), (20_000, 20_000)])  # above Pillow's own 2× guard too
async def test_a_picture_of_too_many_pixels_is_refused_before_a_pixel_is_decoded(app, session, world, monkeypatch,
                                                                                  size):
    decoded, load = [], ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda image: decoded.append(image.size) or load(image))
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        phone.http.cookies.set("fl_lang", "sw")
        response = await upload(phone, photo_id, flat_png(*size), "image/png", expect=422)
        assert response.json()["detail"] == gettext("sw", media.TOO_MANY_PIXELS) != media.TOO_MANY_PIXELS
        assert decoded == []  # refused from the header, the same limit as a customer's photo
        assert await photo_row(session, photo_id) is None and not (folder(app) / f"{photo_id}.jpg").exists()
        await upload(phone, new_id(), flat_png(640, 480), "image/png", expect=201)
    assert set(decoded) == {(640, 480)}  # what is decoded is seen


@pytest.mark.parametrize("picture", [jpeg_full_of_metadata, polyglot_jpeg], ids=["camera-jpeg", "polyglot"])
async def test_a_stored_photo_keeps_its_pixels_time_and_place_and_nothing_else(app, session, world, picture):
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        await upload(phone, photo_id, picture(), expect=201)
    for path in (folder(app) / f"{photo_id}.jpg", folder(app) / f"{photo_id}-thumb.jpg"):
        stored = path.read_bytes()
        for leak in (PERSONAL_COMMENT, b"JaneDoe", b"254700000000", SCRIPT, b"<script", b"Probe", b"Phone",
                     b"Jane Doe", b"ICC_PROFILE", b"xmpmeta", b"http://ns.adobe.com"):
            assert leak not in stored, (path.name, leak)
        segments = jpeg_markers(stored)
        assert {marker for marker, _ in segments} - PIXEL_MARKERS <= {0xE1}  # no COM, no APP2 (ICC)
        assert all(start.startswith(b"Exif\x00\x00") for marker, start in segments if marker == 0xE1)  # no XMP
    exif = Image.open(folder(app) / f"{photo_id}.jpg").getexif()
    if picture is polyglot_jpeg:
        assert not exif
        return
    assert set(exif) <= {ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo}  # only the pointers to the two kept blocks
    assert exif.get_ifd(ExifTags.IFD.Exif) == {0x9003: "2026:11:22 09:14:03"}
    assert set(exif.get_ifd(ExifTags.IFD.GPSInfo)) == {1, 2, 3, 4}
    assert Image.open(folder(app) / f"{photo_id}-thumb.jpg").getexif() == {}


async def test_a_malformed_photo_id_is_refused(app, world):
    async with signed_in(app, world["lineman_a"]) as phone:
        response = await upload(phone, "not-a-uuid", phone_jpeg((64, 48)), expect=400)
        assert "UUID" in response.json()["detail"]


async def test_only_linemen_upload_and_only_with_the_csrf_header(app, world):
    photo_id = new_id()
    async with AsyncTestClient(app=app) as http:
        token = await csrf_token(http)
        assert (await http.put(f"/sync/photos/{photo_id}", content=phone_jpeg((64, 48)),
                               headers={"content-type": "image/jpeg", "x-csrftoken": token})).status_code == 401
    for role in ("dispatcher", "supervisor", "admin", "agent"):
        async with signed_in(app, world[role]) as desk:
            assert (await upload(desk, photo_id, phone_jpeg((64, 48)))).status_code == 403, role
    async with AsyncTestClient(app=app) as http:
        assert (await sign_in(http, world["lineman_a"].username, PASSWORD)).status_code == 303
        await csrf_token(http)
        response = await http.put(f"/sync/photos/{photo_id}", content=phone_jpeg((64, 48)),
                                  headers={"content-type": "image/jpeg"})  # no x-csrftoken
        assert response.status_code == 403


async def test_the_desk_and_the_crew_see_the_photo_and_no_one_else(app, session, world):
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        await upload(phone, photo_id, phone_jpeg(), expect=201)
        own = await phone.http.get(f"/photos/{photo_id}.jpg")
        assert own.status_code == 200 and own.headers["content-type"] == "image/jpeg"
        assert own.content == (folder(app) / f"{photo_id}.jpg").read_bytes()
    for who in ("dispatcher", "supervisor", "admin", "lineman_a2"):
        async with signed_in(app, world[who]) as viewer:
            full = await viewer.http.get(f"/photos/{photo_id}.jpg")
            thumb = await viewer.http.get(f"/photos/{photo_id}/thumb.jpg")
            assert (full.status_code, thumb.status_code) == (200, 200), who
            assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
            assert "private" in full.headers["cache-control"]
    async with signed_in(app, world["lineman_b"]) as stranger:
        for path in (f"/photos/{photo_id}.jpg", f"/photos/{photo_id}/thumb.jpg"):
            response = await stranger.http.get(path)
            assert response.status_code == 404 and "no such photo" in response.json()["detail"]
    async with signed_in(app, world["agent"]) as agent:
        assert (await agent.http.get(f"/photos/{photo_id}.jpg")).status_code == 403
    async with AsyncTestClient(app=app) as http:
        assert (await http.get(f"/photos/{photo_id}.jpg")).status_code == 401
    async with signed_in(app, world["dispatcher"]) as desk:
        for path in (f"/photos/{new_id()}.jpg", f"/photos/{new_id()}/thumb.jpg", "/photos/x.jpg",
                     f"/photos/{photo_id}", f"/photos/{photo_id}.png", "/photos/x/thumb.jpg"):
            response = await desk.http.get(path)
            assert response.status_code == 404 and "no such photo" in response.json()["detail"], path


@pytest.mark.parametrize("file_first", [True, False])
async def test_the_dispatcher_sees_the_thumbnail_whichever_part_arrived_first(app, session, world, file_first):
    incident = await make_incident(session, offset=7)
    await actions.assign_crew(session, incident.id, world["crew_a"].id, world["dispatcher"])
    photo_id = new_id()
    async with signed_in(app, world["lineman_a"]) as phone:
        if file_first:
            await upload(phone, photo_id, phone_jpeg(), expect=201)
        answer = await phone.push(phone.make("photo", incident_id=incident.id, photo_id=photo_id,
                                             caption="Burnt jumper"))
        assert statuses(answer) == ["applied"]
        if not file_first:
            async with signed_in(app, world["dispatcher"]) as desk:
                panel = (await desk.http.get(f"/dispatch/incidents/{incident.id}",
                                             headers={"accept": "text/html"})).text
                assert "Burnt jumper" in panel and f"/photos/{photo_id}/thumb.jpg" not in panel
            await upload(phone, photo_id, phone_jpeg(), expect=201)
    async with signed_in(app, world["dispatcher"]) as desk:
        panel = await desk.http.get(f"/dispatch/incidents/{incident.id}", headers={"accept": "text/html"})
        assert panel.status_code == 200
        assert f'href="/photos/{photo_id}.jpg"' in panel.text and f'src="/photos/{photo_id}/thumb.jpg"' in panel.text


def test_cleaning_keeps_a_photo_whose_exif_is_odd():
    """A time with no offset or a broken GPS block loses only what cannot be read."""
    image = Image.new("RGB", (100, 80))
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[0x9003] = "0000:00:00 00:00:00"
    position = exif.get_ifd(ExifTags.IFD.GPSInfo)
    position[1], position[2] = "Q", (IFDRational(1), IFDRational(0), IFDRational(0))
    position[3], position[4] = "E", (IFDRational(1, 0), IFDRational(0), IFDRational(0))
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    clean = photos.clean_photo(out.getvalue(), "Africa/Nairobi")
    assert (clean.taken_at, clean.latitude, clean.longitude) == (None, None, None)
    assert not Image.open(io.BytesIO(clean.jpeg)).getexif()
    local = photos._taken_at("2026:11:22 09:14:03", None, "Africa/Nairobi")
    assert local.utcoffset() == timedelta(hours=3)
