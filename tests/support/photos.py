"""Pictures the photo tests send (bombs, polyglots, files full of metadata) and ways to look inside a stored JPEG
or to hold a decode where it runs."""
from __future__ import annotations

import io
import struct
import threading
import zlib

from PIL import Image, PngImagePlugin

PERSONAL_COMMENT = b"ProbeCommentJaneDoe+254700000000"
SCRIPT = b"<script>alert(document.cookie)</script>"
# A deadlock guard only (no test asserts on time): long enough for any machine, short enough to end a broken run.
SAFETY_SECONDS = 20

# What a JPEG holding nothing but pixels is made of: SOI, JFIF, tables, frame, scan, EOI.
PIXEL_MARKERS = {0xD8, 0xE0, 0xDB, 0xC4, 0xDD, 0xC0, 0xC1, 0xC2, 0xDA}


def flat_png(width: int, height: int) -> bytes:
    """A one-colour PNG of any size, one bit a pixel: a few KB on disk, however many pixels it claims."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte 0, then the row's bits
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def jpeg_full_of_metadata(size=(1200, 900), orientation: int | None = None, **extra) -> bytes:
    """A camera-like JPEG with a comment, EXIF (maker, owner, time, GPS), an ICC profile and XMP."""
    image = Image.new("RGB", size, (200, 120, 40))
    image.paste((20, 60, 180), (0, 0, size[0] // 2, size[1] // 4))  # something to see which way is up
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x013B] = "PhoneMaker", "PhoneModel", "Jane Doe"
    if orientation:
        exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2026:11:22 09:14:03"
    exif.get_ifd(0x8825).update({1: "S", 2: (1.0, 16.0, 30.0), 3: "E", 4: (36.0, 48.0, 36.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes(), comment=PERSONAL_COMMENT,
               icc_profile=b"ProbeICCProfile" * 8, xmp=b"<x:xmpmeta>ProbeXMPJaneDoe</x:xmpmeta>", **extra)
    return out.getvalue()


def polyglot_jpeg() -> bytes:
    """A JPEG that is also an HTML page: the markup in its comment segment and again after its end."""
    image = Image.new("RGB", (640, 480), (90, 90, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", comment=b"<html><body>" + SCRIPT + b"<!--")
    return out.getvalue() + b"-->" + SCRIPT + b"</body></html>"


def png_with_text() -> bytes:
    """A PNG with text chunks: a comment (which Pillow would copy into a JPEG's COM), XMP and a compressed note."""
    text = PngImagePlugin.PngInfo()
    text.add_text("comment", PERSONAL_COMMENT.decode())
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>ProbeXMPJaneDoe</x:xmpmeta>")
    text.add_text("Author", "ProbeAuthorJaneDoe", zip=True)
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 200, 10)).save(out, "PNG", pnginfo=text)
    return out.getvalue()


def jpeg_markers(data: bytes) -> list[tuple[int, bytes]]:
    """Each segment before the scan, as (marker, the segment's first bytes); then the scan itself. Asserts the
    file ends at its EOI (nothing carried after the picture)."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    found, at = [(0xD8, b"")], 2
    while True:
        assert data[at] == 0xFF, f"not a marker at {at}"
        marker = data[at + 1]
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        found.append((marker, data[at + 4:at + 4 + 16]))
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the EOI
            return found
        at += 2 + length


class DecodeGate:
    """Holds each image decode (a patched Image.thumbnail) until the test opens the gate, and counts who is
    inside at once and on which threads, so a test can see what the server does meanwhile."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = False
        self.inside = self.most = 0
        self.threads: set[int] = set()
        self.events: list[str] = []

    def install(self, monkeypatch) -> DecodeGate:
        original = Image.Image.thumbnail

        def held_thumbnail(image, *args, **kwargs):
            with self._changed:
                self.inside += 1
                self.most = max(self.most, self.inside)
                self.threads.add(threading.get_ident())
                self._changed.notify_all()
                self._changed.wait_for(lambda: self._open, timeout=SAFETY_SECONDS)
                self.inside -= 1
                self.events.append("decoded")
            return original(image, *args, **kwargs)

        monkeypatch.setattr(Image.Image, "thumbnail", held_thumbnail)
        return self

    def wait_inside(self, count: int = 1) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.inside >= count, timeout=SAFETY_SECONDS)

    def note(self, event: str) -> None:
        with self._changed:
            self.events.append(event)

    def open(self) -> None:
        with self._changed:
            self._open = True
            self._changed.notify_all()
