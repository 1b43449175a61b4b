"""Crew photo files: proven to be images, cleaned of personal EXIF, stored once by the phone's photo id.

A lineman's photo travels in two parts: the `photo` mutation (caption, job) through push, and the file itself
through `PUT /sync/photos/<id>` — in either order, each retried until it gets through. The file is accepted
once: a retry of an upload whose answer was lost finds it stored and changes nothing.

What stays in the file is what a dispatcher or an insurer needs — when it was taken (DateTimeOriginal) and
where (the GPS position) — and nothing that names the phone or its owner (make, model, serial, owner, maker
notes, comments, XMP).
"""
from __future__ import annotations

import math
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from PIL import ExifTags, Image
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server import media
from server.db import utcnow
from server.i18n import N_
from server.refusals import Refused
from server.incidents.records import Photo, PhotoFile
from server.media import TOO_MANY_PIXELS  # noqa: F401  (the one pixel limit, and its message, for both paths)
from server.staff.models import Staff
from sync import messages

MAX_PHOTO_BYTES = 8 * 1024 * 1024  # the phone sends about 300 KB (1600 px JPEG); 8 MB leaves room for a PNG
CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}  # MPO: what many Android cameras write for a JPEG
THUMB_SIDE = 320
# Who sees every crew photo; a lineman sees only their own crew's.
VIEWERS = frozenset({"dispatcher", "supervisor", "admin"})

NOT_A_PHOTO = N_("This file is not a photo. Send a JPEG, PNG or WebP picture.")

# EXIF kept: the capture time (Exif IFD) and the GPS position (GPS IFD). Everything else goes.
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
_GPS_KEPT = {
    0x00: "GPSVersionID", 0x01: "GPSLatitudeRef", 0x02: "GPSLatitude", 0x03: "GPSLongitudeRef",
    0x04: "GPSLongitude", 0x05: "GPSAltitudeRef", 0x06: "GPSAltitude", 0x07: "GPSTimeStamp",
    0x1D: "GPSDateStamp", 0x1F: "GPSHPositioningError",
}
_OFFSET = re.compile(r"^([+-])(\d\d):(\d\d)$")
_DATE_STAMP = re.compile(r"^\d{4}:\d\d:\d\d$")


@dataclass(frozen=True)
class CleanPhoto:
    jpeg: bytes
    thumb: bytes
    width: int
    height: int
    taken_at: datetime | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class Received:
    photo: PhotoFile
    new: bool  # False: it was stored before (a retry), nothing changed


# ---------------------------------------------------------------- the image (pure; runs in a worker thread)


def _taken_at(value: Any, offset: Any, zone: str) -> datetime | None:
    """DateTimeOriginal is the phone's wall clock; OffsetTimeOriginal says its zone when the phone wrote it,
    else it is the utility's own zone (the phone was here)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.strptime(value.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    found = _OFFSET.match(offset.strip()) if isinstance(offset, str) else None
    if found:
        sign = -1 if found[1] == "-" else 1
        shift = timedelta(hours=int(found[2]), minutes=int(found[3]))
        if shift <= timedelta(hours=14):
            return moment.replace(tzinfo=timezone(sign * shift))
    return moment.replace(tzinfo=ZoneInfo(zone))


def _degrees(value: Any, ref: Any, positive: str, negative: str, limit: float) -> float | None:
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = ref.strip("\x00 ").upper() if isinstance(ref, str) else None
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    if not math.isfinite(degrees) or abs(degrees) > limit or ref not in (positive, negative):
        return None
    return -degrees if ref == negative else degrees


def _kept_exif(image: Image.Image, zone: str) -> tuple[dict, dict, datetime | None, float | None, float | None]:
    """(Exif IFD to keep, GPS IFD to keep, taken at, latitude, longitude)."""
    try:
        exif = image.getexif()
        exif_ifd = dict(exif.get_ifd(ExifTags.IFD.Exif))
        gps_ifd = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
    except Exception:  # a broken EXIF block must not refuse a good photo: it only loses its time and place
        return {}, {}, None, None, None
    taken = _taken_at(exif_ifd.get(_DATETIME_ORIGINAL), exif_ifd.get(_OFFSET_TIME_ORIGINAL), zone)
    kept_exif = {}
    if taken is not None:  # written back in its normal form, never as the phone's raw string
        kept_exif[_DATETIME_ORIGINAL] = exif_ifd[_DATETIME_ORIGINAL].strip()[:19]
        offset = exif_ifd.get(_OFFSET_TIME_ORIGINAL)
        if isinstance(offset, str) and _OFFSET.match(offset.strip()):
            kept_exif[_OFFSET_TIME_ORIGINAL] = offset.strip()
    latitude = _degrees(gps_ifd.get(2), gps_ifd.get(1), "N", "S", 90)
    longitude = _degrees(gps_ifd.get(4), gps_ifd.get(3), "E", "W", 180)
    if latitude is None or longitude is None:
        latitude = longitude = None
    kept_gps = {}
    if latitude is not None:
        kept_gps = {tag: value for tag, value in gps_ifd.items() if tag in _GPS_KEPT and not isinstance(value, str)}
        kept_gps |= {1: "S" if latitude < 0 else "N", 3: "W" if longitude < 0 else "E"}
        stamp = gps_ifd.get(0x1D)
        if isinstance(stamp, str) and _DATE_STAMP.match(stamp.strip()):
            kept_gps[0x1D] = stamp.strip()
    return kept_exif, kept_gps, taken, latitude, longitude


def _exif_bytes(kept_exif: dict, kept_gps: dict) -> bytes:
    for exif_part, gps_part in ((kept_exif, kept_gps), (kept_exif, {}), ({}, {})):
        if not exif_part and not gps_part:
            return b""
        exif = Image.Exif()
        if exif_part:
            exif.get_ifd(ExifTags.IFD.Exif).update(exif_part)
        if gps_part:
            exif.get_ifd(ExifTags.IFD.GPSInfo).update(gps_part)
        try:
            return exif.tobytes()
        except Exception:  # an odd GPS value Pillow cannot write back: keep less rather than refuse the photo
            continue
    return b""


def clean_photo(raw: bytes, zone: str) -> CleanPhoto:
    """The photo as a JPEG of at most media.LONG_SIDE pixels and its thumbnail, with only time and GPS in EXIF.
    Raises PhotoRefused (its message a msgid) when it is not a usable picture. Runs in the image pool."""
    with media.opened(raw, FORMATS, NOT_A_PHOTO) as image:
        kept_exif, kept_gps, taken, latitude, longitude = _kept_exif(image, zone)
        photo = media.pixels_only(image)
        jpeg = media.jpeg(photo, 82, _exif_bytes(kept_exif, kept_gps))
        thumb = photo.copy()
        thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
        return CleanPhoto(jpeg=jpeg, thumb=media.jpeg(thumb, 75), width=photo.width, height=photo.height,
                          taken_at=taken, latitude=latitude, longitude=longitude)


# ---------------------------------------------------------------- files


def photo_folder(data_dir: Path | str) -> Path:
    return Path(data_dir) / "media" / "photos"


def photo_path(folder: Path, photo_id: uuid.UUID, thumb: bool = False) -> Path:
    return folder / f"{photo_id}{'-thumb' if thumb else ''}.jpg"


def _write(folder: Path, photo_id: uuid.UUID, clean: CleanPhoto) -> None:
    """Each file appears whole or not at all (a reader never sees half a JPEG)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in ((photo_path(folder, photo_id), clean.jpeg),
                          (photo_path(folder, photo_id, thumb=True), clean.thumb)):
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        partial.write_bytes(content)
        os.replace(partial, path)


# ---------------------------------------------------------------- the record


def _sent_by_crew_of(photo: Photo | PhotoFile, staff: Staff) -> bool:
    """The lineman's own crew sent it (or they did, when they are in no crew)."""
    return (staff.crew_id is not None and photo.crew_id == staff.crew_id) or photo.staff_id == staff.id


async def receive(session: AsyncSession, staff: Staff, photo_id: uuid.UUID, raw: bytes, folder: Path,
                  zone: str, now: datetime | None = None) -> Received:
    """Store a crew photo once by its id. Commits. Raises Refused (not a photo, an id taken, a job not the crew's)."""
    existing = await session.get(PhotoFile, photo_id)
    reference = await session.get(Photo, photo_id)  # the `photo` mutation, when it came first
    if reference is None and await _refused_as_not_crews(session, staff, photo_id):
        # Its mutation was refused, before or after its file came (sync/rules.py may_work_on): not kept.
        raise Refused(messages.PHOTO_NOT_CREWS_JOB, 409)
    if existing is not None:  # a retry: the answer to the first upload was lost
        if not _sent_by_crew_of(existing, staff):
            raise Refused(messages.PHOTO_ID_TAKEN, 409)  # the app must make a new id
        return Received(existing, new=False)
    if reference is not None and not _sent_by_crew_of(reference, staff):
        raise Refused(messages.PHOTO_ID_TAKEN, 409)  # the app must make a new id
    # Nothing is written yet: the connection goes back to the pool while the photo waits its turn in the image
    # pool and is decoded, so a queue of uploads after a storm cannot hold every connection of the app.
    await session.rollback()
    clean = await media.in_image_pool(clean_photo, raw, zone)
    values = {"id": photo_id, "crew_id": staff.crew_id, "staff_id": staff.id, "bytes": len(clean.jpeg),
              "width": clean.width, "height": clean.height, "taken_at": clean.taken_at,
              "latitude": clean.latitude, "longitude": clean.longitude, "received_at": now or utcnow()}
    # Two uploads of one photo at once (a retry while the first is still working): the second waits on the
    # first's row here, then finds it stored.
    inserted = (await session.exec(pg_insert(PhotoFile.__table__).values(**values)
                                   .on_conflict_do_nothing(index_elements=["id"])
                                   .returning(PhotoFile.__table__.c.id))).first()
    if inserted is None:
        await session.rollback()
        existing = (await session.exec(select(PhotoFile).where(PhotoFile.id == photo_id)
                                       .execution_options(populate_existing=True))).one()
        if not _sent_by_crew_of(existing, staff):
            raise Refused(messages.PHOTO_ID_TAKEN, 409)  # the app must make a new id
        return Received(existing, new=False)
    # The files before the commit: a stored row always has its files (a crash in between leaves files
    # without a row, which the phone's retry writes again).
    await anyio.to_thread.run_sync(_write, folder, photo_id, clean)
    await session.commit()
    return Received(PhotoFile(**values), new=True)


# The lineman's own `photo` mutation for this id, refused because its job was never their crew's. Read through
# their app installs (sync_client.staff_id, then the mutations' primary key): it runs only for a file that
# came with no stored mutation.
_REFUSED_AS_NOT_CREWS = text("""
    SELECT EXISTS (SELECT 1 FROM sync_mutation m
                   WHERE m.client_id IN (SELECT client_id FROM sync_client WHERE staff_id = :staff_id)
                     AND m.staff_id = :staff_id AND m.name = 'photo' AND m.reason = 'not_crews_job'
                     AND m.details->>'photo_id' = :photo_id)
""")


async def _refused_as_not_crews(session: AsyncSession, staff: Staff, photo_id: uuid.UUID) -> bool:
    return (await session.exec(_REFUSED_AS_NOT_CREWS, params={"staff_id": staff.id,
                                                              "photo_id": str(photo_id)})).scalar_one()


async def files_of_refused(session: AsyncSession, staff: Staff, photo_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Of these photos, whose mutations were refused, the ones whose files this lineman (or their crew) had
    already uploaded: their files are removed once the refusal is committed. The upload's row stays, as every
    record here does (photo_file is append-only); with no mutation and no file, no one sees a photo."""
    rows = await session.exec(text("""
        SELECT f.id FROM photo_file f
        WHERE f.id = ANY(:ids) AND (f.staff_id = :staff_id OR f.crew_id = :crew_id)
          AND NOT EXISTS (SELECT 1 FROM photo p WHERE p.id = f.id)
    """), params={"ids": photo_ids, "staff_id": staff.id, "crew_id": staff.crew_id})
    return [row.id for row in rows]


def remove_files(folder: Path, photo_ids: list[uuid.UUID]) -> None:
    for photo_id in photo_ids:
        for path in (photo_path(folder, photo_id), photo_path(folder, photo_id, thumb=True)):
            path.unlink(missing_ok=True)


async def viewable(session: AsyncSession, staff: Staff, photo_id: uuid.UUID) -> PhotoFile | None:
    """The photo's record when this person may see it: the desk sees all, a lineman their crew's."""
    found = await session.get(PhotoFile, photo_id)
    if found is None:
        return None
    if staff.role in VIEWERS or (staff.role == "lineman" and _sent_by_crew_of(found, staff)):
        return found
    return None


def as_json(received: Received) -> dict:
    photo = received.photo
    return {"photo_id": str(photo.id), "new": received.new, "bytes": photo.bytes, "width": photo.width,
            "height": photo.height,
            "taken_at": photo.taken_at.astimezone(timezone.utc).isoformat() if photo.taken_at else None,
            "latitude": photo.latitude, "longitude": photo.longitude,
            "url": f"/photos/{photo.id}.jpg", "thumb_url": f"/photos/{photo.id}/thumb.jpg"}
