"""Photos from customers and crews: proven to be images, held to one pixel limit read from the file's header,
decoded in a small pool of threads off the event loop, and re-encoded from their pixels alone."""
from __future__ import annotations

import asyncio
import functools
import io
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from server.i18n import N_
from server.refusals import Refused

LONG_SIDE = 1600
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "MPO"})  # MPO: what many Android cameras write

# One pixel limit for every upload, customer or crew, read from the header before a pixel is decoded. Phone
# cameras save 12 to 50 megapixels (a 50 MP sensor's full size is 8160×6144 = 50.1 MP); 60 MP lets them all
# through with room to spare, and still refuses a 10,000×10,000 "bomb" (a few hundred KB of PNG that unpacks
# into 300 MB, and took the server to 1 GB). A JPEG is decoded at a fraction of its size (draft); a PNG at the
# limit is not, and costs about 320 MB while it is decoded (Pillow keeps 4 bytes a pixel, and the halved copy
# it resizes from).
MAX_PIXELS = 60_000_000
# Pillow's own guard says the same (it only warns up to twice its limit: the check in opened() refuses).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Every decode and encode runs in this pool, never on the event loop, so one upload cannot stall the server.
# Two threads for a two-core machine: Pillow releases the GIL while it decodes, so both cores work on photos
# while the event loop still answers (measured: four 60 MP PNGs at once, /push/key never waited more than
# 0.14 s); more threads would not be faster, only hold more bitmaps at once (two at the limit: about 650 MB).
# Photos beyond that wait their turn, without holding up anything else.
IMAGE_WORKERS = 2
_IMAGE_POOL = ThreadPoolExecutor(max_workers=IMAGE_WORKERS, thread_name_prefix="faultline-image")

NOT_A_PHOTO = N_("This file is not a photo. Please attach a JPEG or PNG picture.")
TOO_MANY_PIXELS = N_("This picture has too many pixels. Send it at most 1600 pixels on its long side.")

T = TypeVar("T")


async def in_image_pool(work: Callable[..., T], *args) -> T:
    """Run an image job in the shared pool and wait for it without holding the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_IMAGE_POOL, functools.partial(work, *args))


@contextmanager
def opened(raw: bytes, formats: frozenset[str] | set[str], not_a_photo: str) -> Iterator[Image.Image]:
    """The upload opened as an image, its pixels not decoded yet: refused (Refused) when it is not one of
    `formats`, has more than MAX_PIXELS (from the header alone) or cannot be read."""
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.format not in formats:
                raise Refused(not_a_photo, 422, "photo")
            if probe.width * probe.height > MAX_PIXELS:
                raise Refused(TOO_MANY_PIXELS, 422, "photo")
            probe.verify()
        with Image.open(io.BytesIO(raw)) as image:
            yield image
    except Refused:
        raise
    except Image.DecompressionBombError as exc:  # above twice the limit Pillow refuses on open
        raise Refused(TOO_MANY_PIXELS, 422, "photo") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError) as exc:
        raise Refused(not_a_photo, 422, "photo") from exc


def pixels_only(image: Image.Image, long_side: int = LONG_SIDE) -> Image.Image:
    """Its pixels, at most `long_side`, turned upright, and nothing else of the file: no EXIF, comment (a JPEG's
    COM segment, or the markup of a JPEG/HTML polyglot), ICC profile, XMP or PNG text comes along."""
    image.draft("RGB", (long_side, long_side))  # JPEG: decode at a fraction of the size, much faster
    # Downscaled before it is turned: the box is square, so the size is the same, and a small image turns cheaply.
    image.thumbnail((long_side, long_side))
    upright = ImageOps.exif_transpose(image)  # the orientation tag goes with the EXIF, so turn the pixels instead
    pixels = upright.convert("RGB")
    pixels.info = {}  # Pillow writes a "comment" found here into the JPEG it saves
    return pixels


def jpeg(image: Image.Image, quality: int, exif: bytes = b"") -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True, exif=exif)
    return out.getvalue()


def normalised_jpeg(raw: bytes) -> bytes:
    """A customer's photo as a JPEG of at most LONG_SIDE pixels holding its pixels alone. Runs in the pool."""
    with opened(raw, ACCEPTED_FORMATS, NOT_A_PHOTO) as image:
        return jpeg(pixels_only(image), 80)


def report_photo_folder(data_dir: Path | str) -> Path:
    return Path(data_dir) / "media" / "reports"


@dataclass(frozen=True)
class ReportPhoto:
    """A customer's photo, checked and normalised but not on disk: its file is written only in the step that
    accepts its report (a refused report leaves nothing behind)."""

    jpeg: bytes
    folder: Path
    name: str = field(default_factory=lambda: f"{uuid.uuid4().hex}.jpg")

    @property
    def path(self) -> Path:
        return self.folder / self.name

    def write(self) -> None:
        """The file appears whole or not at all (the dispatcher never sees half a JPEG)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{self.name}.{uuid.uuid4().hex}.part"
        partial.write_bytes(self.jpeg)
        os.replace(partial, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


async def report_photo(raw: bytes, data_dir: Path | str) -> ReportPhoto:
    """Check and normalise a customer's photo in the image pool. Raises Refused."""
    return ReportPhoto(await in_image_pool(normalised_jpeg, raw), report_photo_folder(data_dir))
