"""Photos from customers and crews: proven to be images, downscaled, stripped of personal EXIF."""
from __future__ import annotations

import io
import uuid
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from server.i18n import N_

LONG_SIDE = 1600
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "MPO"}  # MPO: what many Android cameras write
# Refuse "decompression bombs": a small file that unpacks into a huge bitmap.
Image.MAX_IMAGE_PIXELS = 60_000_000


class PhotoRefused(ValueError):
    """The upload is not a usable photo; the message is a msgid for the person."""


def normalised_jpeg(raw: bytes) -> bytes:
    """The photo as a JPEG of at most LONG_SIDE pixels, without EXIF (no phone model, no owner)."""
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            probe.verify()
            if probe.format not in ACCEPTED_FORMATS:
                raise PhotoRefused(N_("This file is not a photo. Please attach a JPEG or PNG picture."))
        with Image.open(io.BytesIO(raw)) as image:
            image = ImageOps.exif_transpose(image)  # keep it upright once the orientation tag is gone
            image.thumbnail((LONG_SIDE, LONG_SIDE))
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=80, optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, PhotoRefused):
            raise
        raise PhotoRefused(N_("This file is not a photo. Please attach a JPEG or PNG picture.")) from exc


def store_report_photo(raw: bytes, media_dir: Path) -> str:
    folder = media_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.jpg"
    (folder / name).write_bytes(normalised_jpeg(raw))
    return name
